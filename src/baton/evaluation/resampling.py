"""Intervals when clips come in groups: several clips of one prompt are not independent draws.

``baton evaluate`` makes K clips per prompt. Resampling clips one by one would treat the K clips
of a prompt as K independent prompts and give intervals that are too narrow, so the bootstrap
resamples *prompts* (a cluster bootstrap) and takes all clips of each drawn prompt:

* a per-clip figure (accuracy, CLAP score, reward, KL) is the mean over prompts of each prompt's
  mean over its clips (the clip mean when every prompt has the same number of clips), with
  :func:`baton.evaluation.intervals.bootstrap_mean` over the prompt means, and a paired difference is
  :func:`baton.evaluation.intervals.paired_difference` over the prompts both models have;
* a set-level figure (FAD, IS) is recomputed on the clips of each resample of prompts
  (:func:`bootstrap_groups`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from baton.evaluation.intervals import Estimate


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
