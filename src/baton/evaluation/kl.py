"""KL divergence between a classifier's class probabilities of paired clips, as audioldm_eval defines it.

audioldm_eval (github.com/haoheliu/audioldm_eval, ``audioldm_eval/metrics/kl.py``, ``calculate_kl``;
the formulation AudioGen used) runs PANNs CNN14 on a generated clip and on the reference clip with
the same file name, takes the classifier's clip-level *logits* of both, and reports over the N pairs

    KL_softmax = (1/N) sum_i sum_c p_ic (log p_ic - log(q_ic + eps)),   p_i = softmax(ref logits_i)
                                                                        q_i = softmax(gen logits_i)
    KL_sigmoid = (1/N) sum_i sum_c s_ic (log s_ic - log(r_ic + eps)),   s_i = sigmoid(ref logits_i)
                                                                        r_i = sigmoid(gen logits_i)

that is KL(reference || generated), with ``eps = 1e-6`` added to the generated probabilities only
(its code: ``torch.nn.functional.kl_div((gen.softmax(1) + eps).log(), ref.softmax(1),
reduction="sum") / N``), summed over classes and averaged over pairs. A class with reference
probability 0 adds 0 (``0 log 0 = 0``, as ``kl_div`` defines it).

The sigmoid form treats each class's probability as an unnormalised mass and leaves out the
``(1 - s) log((1 - s) / (1 - r))`` term of a Bernoulli KL, so one pair's value can be negative; it is
kept exactly as defined so that figures compare with the papers that report it. Lower is better for
both; both are 0 when the classifier reads every pair alike (up to ``eps``).

A classifier that outputs probabilities rather than logits (the world's evaluator detector, whose
clip-level probability of a class is its maximum frame probability) passes
:func:`baton.evaluation.scorers.probabilities_to_logits` of them: the sigmoid of those logits gives the probabilities back.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, log_softmax, softmax, xlogy

EPS = 1e-6
KINDS = ("softmax", "sigmoid")


def _check_pairs(generated_logits: np.ndarray, reference_logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gen = np.asarray(generated_logits, dtype=np.float64)
    ref = np.asarray(reference_logits, dtype=np.float64)
    if gen.ndim != 2 or gen.shape != ref.shape:
        raise ValueError(
            f"need paired logits [N, C] of the same shape, got {list(gen.shape)} and {list(ref.shape)}"
        )
    if not (np.isfinite(gen).all() and np.isfinite(ref).all()):
        raise ValueError("logits contain NaN or infinity")
    return gen, ref


def kl_per_pair(
    generated_logits: np.ndarray, reference_logits: np.ndarray, kind: str = "softmax", eps: float = EPS
) -> np.ndarray:
    """Each pair's ``sum_c p_c (log p_c - log(q_c + eps))``, ``[N]`` (see the module docstring)."""
    gen, ref = _check_pairs(generated_logits, reference_logits)
    if kind == "softmax":
        p, q = softmax(ref, axis=1), softmax(gen, axis=1)
        # p log p from the log-softmax, exact even where p underflows.
        p_log_p = p * log_softmax(ref, axis=1)
    elif kind == "sigmoid":
        p, q = expit(ref), expit(gen)
        p_log_p = xlogy(p, p)
    else:
        raise ValueError(f"unknown kind {kind!r}; expected one of: {', '.join(KINDS)}")
    return (p_log_p - p * np.log(q + eps)).sum(axis=1)


def kl_divergence(
    generated_logits: np.ndarray, reference_logits: np.ndarray, kind: str = "softmax", eps: float = EPS
) -> float:
    """The mean over pairs of :func:`kl_per_pair`: audioldm_eval's ``KL`` (softmax) or ``KL_Sigmoid``."""
    return float(kl_per_pair(generated_logits, reference_logits, kind, eps).mean())
