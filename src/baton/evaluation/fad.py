"""Fréchet Audio Distance: the Fréchet distance between Gaussians fitted to two sets of embeddings.

    FAD = |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^(1/2))

(Kilgour et al., 2019). The trace of the matrix square root is computed from the symmetric form
``tr((S_a^(1/2) S_b S_a^(1/2))^(1/2))``, whose eigenvalues are real and, up to rounding, non-negative:
the result is never imaginary and, once rounding is clipped, never negative. It is cross-checked
against the general ``scipy.linalg.sqrtm`` of ``S_a S_b``, as fadtk checks its result; a disagreement
beyond rounding is reported, not hidden.

FAD-infinity (Gui et al., 2024) removes FAD's bias in the sample size: FAD is computed on subsets of
growing size N, fitted as a line in 1/N, and the line's value at 1/N = 0 is reported.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg


def gaussian_stats(embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean [D] and covariance [D, D] (unbiased) of embeddings [N, D], in float64."""
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"need embeddings [N >= 2, D], got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("embeddings contain NaN or infinity")
    return x.mean(axis=0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def _sqrtm_psd(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix by its eigendecomposition."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def trace_sqrt_product(sigma_a: np.ndarray, sigma_b: np.ndarray) -> float:
    """tr((S_a S_b)^(1/2)) via the symmetric form; real and non-negative by construction."""
    root_a = _sqrtm_psd(sigma_a)
    inner = root_a @ sigma_b @ root_a
    values = np.linalg.eigvalsh((inner + inner.T) / 2)
    return float(np.sqrt(np.clip(values, 0.0, None)).sum())


def trace_sqrt_product_scipy(sigma_a: np.ndarray, sigma_b: np.ndarray) -> float:
    """The same trace by ``scipy.linalg.sqrtm`` of the (non-symmetric) product: the cross-check."""
    root = linalg.sqrtm(sigma_a @ sigma_b)
    return float(np.real(np.trace(root)))


def frechet_distance_from_stats(
    mu_a: np.ndarray, sigma_a: np.ndarray, mu_b: np.ndarray, sigma_b: np.ndarray, *, check: bool = True
) -> float:
    """Fréchet distance between N(mu_a, sigma_a) and N(mu_b, sigma_b)."""
    diff = mu_a - mu_b
    trace_term = trace_sqrt_product(sigma_a, sigma_b)
    if check:
        other = trace_sqrt_product_scipy(sigma_a, sigma_b)
        scale = max(1.0, abs(trace_term))
        if np.isfinite(other) and abs(other - trace_term) > 1e-4 * scale:
            warnings.warn(
                f"FAD: the two matrix square roots disagree ({trace_term:.6g} vs {other:.6g}); "
                "the covariances may be near-singular (too few embeddings for their dimension?)",
                RuntimeWarning,
                stacklevel=2,
            )
    value = float(diff @ diff + np.trace(sigma_a) + np.trace(sigma_b) - 2.0 * trace_term)
    return max(value, 0.0)


class FewEmbeddingsWarning(RuntimeWarning):
    """A set has fewer embeddings than dimensions + 1: its covariance is singular and FAD biased upward."""


def frechet_distance(emb_a: np.ndarray, emb_b: np.ndarray, *, check: bool = True) -> float:
    """FAD between two sets of embeddings [N_a, D] and [N_b, D].

    With fewer than D + 1 embeddings in a set, its covariance is singular (rank at most N - 1 < D):
    the value is still returned, but it is biased upward and comparable only with FADs over the same
    number of embeddings; a :class:`FewEmbeddingsWarning` says so. FAD-infinity
    (:func:`fad_infinity`) or more clips remove the bias.
    """
    mu_a, sigma_a = gaussian_stats(emb_a)
    mu_b, sigma_b = gaussian_stats(emb_b)
    if mu_a.shape != mu_b.shape:
        raise ValueError(f"embedding sizes differ: {mu_a.shape[0]} vs {mu_b.shape[0]}")
    dim = mu_a.shape[0]
    for which, emb in (("first", emb_a), ("second", emb_b)):
        n = len(emb)
        if n < dim + 1:
            warnings.warn(
                f"FAD: the {which} set has {n} embeddings of {dim} dimensions; its covariance is singular "
                f"and the FAD is biased upward (at least {dim + 1} are needed for a full-rank covariance; "
                "compare FADs over the same number of clips only)",
                FewEmbeddingsWarning,
                stacklevel=2,
            )
    return frechet_distance_from_stats(mu_a, sigma_a, mu_b, sigma_b, check=check)


def fad_infinity(
    emb_eval: np.ndarray,
    emb_ref: np.ndarray,
    *,
    min_n: int | None = None,
    steps: int = 10,
    seed: int = 0,
) -> tuple[float, float]:
    """FAD extrapolated to infinitely many evaluation clips: (intercept, slope) of FAD against 1/N.

    Subsets of the evaluation set of ``steps`` sizes from ``min_n`` (default: a quarter of it, at
    least D + 2) to all of it are drawn without replacement; the reference statistics stay fixed.
    """
    emb_eval = np.asarray(emb_eval, dtype=np.float64)
    n = emb_eval.shape[0]
    mu_ref, sigma_ref = gaussian_stats(emb_ref)
    low = min_n if min_n is not None else max(n // 4, emb_eval.shape[1] + 2)
    if low >= n:
        raise ValueError(f"need more than {low} evaluation embeddings for FAD-infinity, got {n}")
    rng = np.random.default_rng(seed)
    sizes = np.unique(np.linspace(low, n, steps).astype(int))
    values = []
    for size in sizes:
        subset = emb_eval[rng.choice(n, size=size, replace=False)]
        mu, sigma = gaussian_stats(subset)
        values.append(frechet_distance_from_stats(mu, sigma, mu_ref, sigma_ref, check=False))
    slope, intercept = np.polyfit(1.0 / sizes, np.asarray(values), 1)
    return float(intercept), float(slope)
