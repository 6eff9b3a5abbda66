"""Shared statistics: bootstrap 95% intervals for a figure, for the paired difference of two models,
and for figures over clips that come in groups.

Percentile bootstrap (Efron & Tibshirani, 1993): resample the per-item values with replacement
``n_resamples`` times, recompute the statistic, and take the 2.5th and 97.5th percentiles. For a
paired comparison (base and tuned judged on the same prompts and seeds) the items are resampled
together, so the interval is that of the difference, not of two independent means.

Clips in groups: ``baton evaluate`` makes K clips per prompt. Resampling clips one by one would treat
the K clips of a prompt as K independent prompts and give intervals that are too narrow, so the
bootstrap resamples *prompts* (a cluster bootstrap) and takes all clips of each drawn prompt:

* a per-clip figure (accuracy, CLAP score, reward, KL) is the mean over prompts of each prompt's
  mean over its clips (:func:`group_means`), with :func:`bootstrap_mean` over the prompt means, and a
  paired difference is :func:`paired_difference` over the prompts both models have;
* a set-level figure (FAD, IS) is recomputed on the clips of each resample of prompts
  (:func:`bootstrap_groups`).

On the ground floor (numpy alone): evaluation, reward evaluation, listening tests (MOS) and the
report all use these, and nothing here knows of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

# Figures are printed to 3 decimals: an interval whose ends both round to 0.000 (two identical models
# differ by float noise such as -1e-17) tells nothing from zero.
DIGITS = 3


def ranking_auc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """Area under the ROC curve of any scores against 0/1 labels: the Mann-Whitney U over ``n1 n0``, ties
    counted half; NaN with one class only."""
    # imported when used: scipy is slow to import, and most users of this module never rank
    from scipy.stats import rankdata

    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    positives = int(y.sum())
    negatives = y.size - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = rankdata(s)  # average ranks for ties
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


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


def group_indices(keys: Sequence[str]) -> dict[str, np.ndarray]:
    """The positions of each key, in order of first appearance: ``{prompt_id: [clip indices]}``."""
    out: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        out.setdefault(key, []).append(i)
    return {k: np.asarray(v, dtype=int) for k, v in out.items()}


def group_means(values: np.ndarray, keys: Sequence[str]) -> dict[str, float]:
    """Each group's mean of its finite values; groups with none are left out."""
    values = np.asarray(values, dtype=np.float64)
    out = {}
    for key, index in group_indices(keys).items():
        finite = values[index][np.isfinite(values[index])]
        if finite.size:
            out[key] = float(finite.mean())
    return out


def bootstrap_groups(
    statistic: Callable[[np.ndarray], float],
    groups: Sequence[np.ndarray],
    *,
    n_resamples: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """``statistic(indices)`` on all items, with a percentile interval over resamples of whole groups.

    ``groups`` holds each group's item indices; a resample draws as many groups with replacement and
    passes the concatenation of their indices to ``statistic``. The statistic of all items is
    computed first, then the resamples in order. ``n`` is the number of items.
    """
    groups = [np.asarray(g, dtype=int) for g in groups]
    if not groups:
        raise ValueError("cannot bootstrap an empty set of groups")
    everything = np.concatenate(groups)
    # The point estimate first: a statistic may draw from its own generator on later calls.
    value = float(statistic(everything))
    rng = np.random.default_rng(seed)
    stats = []
    for _ in range(n_resamples):
        drawn = rng.integers(0, len(groups), size=len(groups))
        stats.append(statistic(np.concatenate([groups[g] for g in drawn])))
    alpha = (1.0 - confidence) / 2
    low, high = np.quantile(np.asarray(stats), [alpha, 1.0 - alpha])
    return Estimate(value, float(low), float(high), int(everything.size))
