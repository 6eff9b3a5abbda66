"""Bootstrap 95% intervals for a figure, and for the paired difference of two models.

Percentile bootstrap (Efron & Tibshirani, 1993): resample the per-item values with replacement
``n_resamples`` times, recompute the statistic, and take the 2.5th and 97.5th percentiles. For a
paired comparison (base and tuned judged on the same prompts and seeds) the items are resampled
together, so the interval is that of the difference, not of two independent means.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# Figures are printed to 3 decimals: an interval whose ends both round to 0.000 (two identical models
# differ by float noise such as -1e-17) tells nothing from zero.
DIGITS = 3


def excludes_zero(low: float | None, high: float | None, digits: int = DIGITS) -> bool:
    """Whether the interval [low, high] excludes zero strictly once its ends are rounded to ``digits``
    decimals as printed: ``low > 0`` or ``high < 0``. ``[0, 0]``, ``[-1e-17, -1e-18]`` or
    ``[-0.0003, -0.0001]`` do not; an interval without ends does not either.

    The one rule for "a difference that counts": ``baton evaluate`` records it (``excludes_zero``)
    and stars it in its table, the report colours it, the demo's headline carries it.
    """
    if low is None or high is None:
        return False
    return round(float(low), digits) > 0 or round(float(high), digits) < 0


def difference_excludes_zero(figure: dict) -> bool:
    """:func:`excludes_zero` of a recorded difference (``ci_low``, ``ci_high``); a figure without
    them keeps the ``excludes_zero`` it was written with."""
    if figure.get("ci_low") is None or figure.get("ci_high") is None:
        return bool(figure.get("excludes_zero"))
    return excludes_zero(figure["ci_low"], figure["ci_high"])


@dataclass(frozen=True)
class Estimate:
    """A figure with its 95% interval over ``n`` items."""

    value: float
    low: float
    high: float
    n: int

    def excludes_zero(self) -> bool:
        return excludes_zero(self.low, self.high)

    def as_dict(self) -> dict[str, float | int]:
        return {"value": self.value, "ci_low": self.low, "ci_high": self.high, "n": self.n}


def bootstrap(
    values: np.ndarray,
    statistic: Callable[[np.ndarray], float] = np.mean,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """The statistic of ``values`` [N] (or [N, ...], resampled along axis 0) with its interval."""
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[0]
    if n == 0:
        raise ValueError("cannot bootstrap an empty set of values")
    rng = np.random.default_rng(seed)
    index = rng.integers(0, n, size=(n_resamples, n))
    stats = np.array([statistic(values[row]) for row in index])
    alpha = (1.0 - confidence) / 2
    low, high = np.quantile(stats, [alpha, 1.0 - alpha])
    return Estimate(float(statistic(values)), float(low), float(high), n)


def bootstrap_mean(
    values: np.ndarray, *, n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> Estimate:
    """Mean with a percentile-bootstrap interval, vectorised (the common case: accuracies, scores)."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    n = values.shape[0]
    if n == 0:
        raise ValueError("cannot bootstrap an empty set of values")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, n, size=(n_resamples, n))].mean(axis=1)
    alpha = (1.0 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return Estimate(float(values.mean()), float(low), float(high), n)


def paired_difference(
    tuned: np.ndarray, base: np.ndarray, *, n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> Estimate:
    """Mean of ``tuned - base`` over paired items, with its bootstrap interval."""
    tuned = np.asarray(tuned, dtype=np.float64).reshape(-1)
    base = np.asarray(base, dtype=np.float64).reshape(-1)
    if tuned.shape != base.shape:
        raise ValueError(f"paired values differ in length: {tuned.shape[0]} vs {base.shape[0]}")
    return bootstrap_mean(tuned - base, n_resamples=n_resamples, confidence=confidence, seed=seed)
