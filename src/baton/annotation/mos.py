"""Listening tests: mean opinion scores (MOS) with their 95% interval, per model and per question.

BATON judges models by MOS-Q (audio quality) and MOS-F (faithfulness to the text), each a 1-5
score. The interval is Student's t interval of the mean, as ITU-T P.800.2 reports MOS:
``mean +- t_{0.975, n-1} * s / sqrt(n)``, with ``s`` the sample standard deviation (``n - 1`` in
its denominator). One score has no interval; its bounds are the score itself.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from baton.evaluation.intervals import Estimate

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


def mean_opinion_score(scores: Sequence[float], confidence: float = 0.95) -> Estimate:
    """The mean of ``scores`` with its Student's t interval."""
    n = len(scores)
    if n == 0:
        raise ValueError("no scores to average")
    mean = sum(scores) / n
    if n == 1:
        return Estimate(mean, mean, mean, 1)
    from scipy.stats import t

    variance = sum((s - mean) ** 2 for s in scores) / (n - 1)
    half = float(t.ppf(0.5 + confidence / 2, n - 1)) * math.sqrt(variance / n)
    return Estimate(mean, mean - half, mean + half, n)


@dataclass(frozen=True)
class MosRow:
    """One model's MOS for one question (and task, or ``None`` for all tasks together)."""

    model: str
    question: str
    task: str | None
    estimate: Estimate
    raters: int


def summarize(rows: Iterable[tuple[str, str, str | None, str, int]]) -> list[MosRow]:
    """MOS per (model, question), over all tasks and per task, from ``(model, question, task, rater,
    score)`` tuples; sorted by model, question, then task (all tasks first)."""
    groups: dict[tuple[str, str, str | None], list[tuple[str, int]]] = {}
    for model, question, task, rater, score in rows:
        groups.setdefault((model, question, None), []).append((rater, score))
        if task is not None:
            groups.setdefault((model, question, task), []).append((rater, score))
    out = []
    for (model, question, task), scored in groups.items():
        estimate = mean_opinion_score([score for _, score in scored])
        out.append(MosRow(model, question, task, estimate, len({rater for rater, _ in scored})))
    order = list(QUESTIONS)
    out.sort(key=lambda r: (r.model, order.index(r.question), r.task is not None, r.task or ""))
    return out
