"""Inception Score of generated clips from a classifier's class probabilities.

    IS = exp( E_x [ KL( p(y|x) || p(y) ) ] ),   p(y) = E_x [ p(y|x) ]

(Salimans et al., 2016): high when each clip is classified confidently (sharp ``p(y|x)``) and the
clips together cover many classes (flat ``p(y)``). It lies in [1, C] for C classes: 1 when every
clip gets the same distribution, C when the clips are one-hot and spread evenly over the classes.

With ``splits > 1`` the clips (shuffled with ``shuffle_seed`` if given) are cut into that many
consecutive parts, IS is computed in each with its own ``p(y)``, and the mean and standard deviation
over the parts are reported. audioldm_eval (``audioldm_eval/metrics/isc.py``) uses the softmax of
PANNs CNN14's logits, 10 splits and shuffle seed 2020; :func:`inception_score_from_logits` does the
softmax. Single-label and multi-label classifiers alike must give distributions over classes here
(rows summing to 1); for independent class probabilities, pass their logits to the ``_from_logits``
form.
"""

from __future__ import annotations

import numpy as np
from scipy.special import softmax, xlogy


def _check_probabilities(probabilities: np.ndarray) -> np.ndarray:
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] < 1:
        raise ValueError(f"need class probabilities [N >= 1, C], got shape {list(p.shape)}")
    if not np.isfinite(p).all() or (p < 0).any():
        raise ValueError("class probabilities must be finite and non-negative")
    if not np.allclose(p.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError("each row of class probabilities must sum to 1 (use the _from_logits form)")
    return p


def _split_score(p: np.ndarray) -> float:
    marginal = p.mean(axis=0, keepdims=True)  # p(y), [1, C]
    # KL(p(y|x) || p(y)) per clip; 0 log 0 = 0, and p(y) > 0 wherever p(y|x) > 0.
    kl = (xlogy(p, p) - xlogy(p, marginal)).sum(axis=1)
    return float(np.exp(kl.mean()))


def inception_score(
    probabilities: np.ndarray, splits: int = 1, shuffle_seed: int | None = None
) -> tuple[float, float]:
    """``(mean, std)`` of IS over ``splits`` parts of the clips' class probabilities ``[N, C]``."""
    p = _check_probabilities(probabilities)
    n = p.shape[0]
    if not 1 <= splits <= n:
        raise ValueError(f"splits must be between 1 and the number of clips ({n}), got {splits}")
    if shuffle_seed is not None:
        p = p[np.random.default_rng(shuffle_seed).permutation(n)]
    scores = [_split_score(p[i * n // splits : (i + 1) * n // splits]) for i in range(splits)]
    return float(np.mean(scores)), float(np.std(scores))


def inception_score_from_logits(
    logits: np.ndarray, splits: int = 1, shuffle_seed: int | None = None
) -> tuple[float, float]:
    """:func:`inception_score` of ``softmax(logits)`` (audioldm_eval's ISc)."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2:
        raise ValueError(f"need logits [N, C], got shape {list(logits.shape)}")
    return inception_score(softmax(logits, axis=1), splits, shuffle_seed)
