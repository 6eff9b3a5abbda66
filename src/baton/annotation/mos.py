"""Listening tests: mean opinion scores (MOS) with their 95% interval, per model and per question,
and every model's paired difference from a base model.

BATON judges models by MOS-Q (audio quality) and MOS-F (faithfulness to the text), each a 1-5
score. A listening-test item is one prompt's clip heard from every model; each rater rates all of an
item's clips. Ratings of one item (and of one rater) are not independent, so the interval is a
percentile bootstrap over items: items are drawn with replacement, each with all of its ratings, and
the MOS of each resample is the mean of the ratings it holds. Every resample is a mean of 1-5 scores,
so the bounds lie on the scale. One item has no interval; its bounds are the MOS itself.

Since every model is rated on the same items, models are compared item by item: the paired
difference of a model from the base is the mean, over the items both were rated on, of the model's
item mean minus the base's, with its bootstrap interval over those items.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from baton.errors import InputError
from baton.stats import Estimate, paired_difference

QUESTIONS: dict[str, str] = {
    "quality": "How good is the audio quality?",
    "faithfulness": "How well does the audio match the text?",
}
METRIC_NAMES = {"quality": "mos_q", "faithfulness": "mos_f"}
SCALE = {
    1: "Bad",
    2: "Poor",
    3: "Fair",
    4: "Good",
    5: "Excellent",
}
BASE_NAME = "base"
RESAMPLES = 2000
INTERVAL = "bootstrap over items 95%"


def mean_opinion_score(
    scores: Sequence[float],
    items: Sequence[Hashable] | None = None,
    *,
    confidence: float = 0.95,
    n_resamples: int = RESAMPLES,
    seed: int = 0,
) -> Estimate:
    """The mean of ``scores`` with its bootstrap interval over ``items`` (the item of each score;
    ``None``: every score its own item). ``n`` of the result is the number of scores.

    This is :func:`baton.stats.bootstrap_groups` with the mean as the statistic,
    vectorised: a resample's mean is the sum of its items' score sums over the sum of their counts."""
    n = len(scores)
    if n == 0:
        raise ValueError("no scores to average")
    if items is None:
        items = range(n)
    if len(items) != n:
        raise ValueError(f"{n} scores but {len(items)} items")
    groups: dict[Hashable, list[float]] = {}
    for item, score in zip(items, scores, strict=True):
        groups.setdefault(item, []).append(float(score))
    mean = sum(scores) / n
    if len(groups) == 1:
        return Estimate(mean, mean, mean, n)
    sums = np.array([sum(g) for g in groups.values()])
    counts = np.array([len(g) for g in groups.values()], dtype=np.float64)
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, len(groups), size=(n_resamples, len(groups)))
    alpha = (1.0 - confidence) / 2
    low, high = np.quantile(sums[drawn].sum(axis=1) / counts[drawn].sum(axis=1), [alpha, 1.0 - alpha])
    # Rounding may put a bound a hair outside the mean when every resample has the same mean.
    return Estimate(mean, min(low, mean), max(high, mean), n)


def paired_mos_difference(
    model: dict[Hashable, Sequence[float]],
    base: dict[Hashable, Sequence[float]],
    *,
    confidence: float = 0.95,
    n_resamples: int = RESAMPLES,
    seed: int = 0,
) -> Estimate | None:
    """Mean over shared items of (model's item mean - base's item mean), with its bootstrap interval
    over those items; ``n`` is their number. ``None`` if the two share no item."""
    shared = [item for item in model if item in base and model[item] and base[item]]
    if not shared:
        return None
    estimate = paired_difference(
        [np.mean(model[i]) for i in shared],
        [np.mean(base[i]) for i in shared],
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
    )
    # Rounding may put a bound a hair outside the value when every resample has the same mean.
    value = estimate.value
    return Estimate(value, min(estimate.low, value), max(estimate.high, value), estimate.n)


@dataclass(frozen=True)
class MosRow:
    """One model's MOS for one question (and task, or ``None`` for all tasks together)."""

    model: str
    question: str
    task: str | None
    estimate: Estimate
    raters: int
    items: int = 0


@dataclass(frozen=True)
class MosDifference:
    """One model's paired MOS difference from ``base`` for one question (and task, or ``None``)."""

    model: str
    base: str
    question: str
    task: str | None
    estimate: Estimate  # n: the items both models were rated on


Rating = tuple  # (model, question, task, rater, score[, item])


def _groups(rows: Iterable[Rating]) -> dict[tuple[str, str, str | None], list[tuple[str, int, Hashable]]]:
    """Ratings by (model, question, task) and (model, question, None): (rater, score, item) each.
    A row without an item is its own item."""
    groups: dict[tuple[str, str, str | None], list[tuple[str, int, Hashable]]] = {}
    for k, row in enumerate(rows):
        model, question, task, rater, score = row[:5]
        item = row[5] if len(row) > 5 else ("rating", k)
        groups.setdefault((model, question, None), []).append((rater, score, item))
        if task is not None:
            groups.setdefault((model, question, task), []).append((rater, score, item))
    return groups


def _order(question: str, task: str | None) -> tuple[int, bool, str]:
    return (list(QUESTIONS).index(question), task is not None, task or "")


def summarize(rows: Iterable[Rating]) -> list[MosRow]:
    """MOS per (model, question), over all tasks and per task, from ``(model, question, task, rater,
    score, item)`` tuples (a tuple without ``item`` is its own item); sorted by model, question, then
    task (all tasks first)."""
    out = []
    for (model, question, task), scored in _groups(rows).items():
        estimate = mean_opinion_score([s for _, s, _ in scored], [i for _, _, i in scored])
        raters = len({rater for rater, _, _ in scored})
        out.append(MosRow(model, question, task, estimate, raters, len({i for _, _, i in scored})))
    out.sort(key=lambda r: (r.model, *_order(r.question, r.task)))
    return out


def choose_base(models: Iterable[str], base: str | None = None) -> str:
    """The model the others are compared with: ``base`` if given, else one named 'base', else the
    first by name."""
    names = sorted(set(models))
    if base is not None:
        if base not in names:
            known = ", ".join(names) or "none yet"
            raise InputError(f"no ratings of a model named '{base}' (rated: {known})", field="base")
        return base
    if not names:
        raise ValueError("no models")
    return BASE_NAME if BASE_NAME in names else names[0]


def differences(rows: Iterable[Rating], base: str | None = None) -> list[MosDifference]:
    """Every other model's paired difference from the base (see :func:`choose_base`) per question,
    over all tasks and per task; sorted like :func:`summarize`. Empty with fewer than two models."""
    groups = _groups(rows)
    models = {model for model, _, _ in groups}
    if len(models) < 2:
        return []
    base = choose_base(models, base)
    out = []
    for (model, question, task), scored in groups.items():
        if model == base or (base, question, task) not in groups:
            continue
        estimate = paired_mos_difference(_by_item(scored), _by_item(groups[(base, question, task)]))
        if estimate is not None:
            out.append(MosDifference(model, base, question, task, estimate))
    out.sort(key=lambda d: (d.model, *_order(d.question, d.task)))
    return out


def _by_item(scored: Iterable[tuple[str, int, Hashable]]) -> dict[Hashable, list[float]]:
    """(rater, score, item) ratings as each item's scores."""
    out: dict[Hashable, list[float]] = {}
    for _, score, item in scored:
        out.setdefault(item, []).append(score)
    return out
