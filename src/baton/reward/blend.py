"""The trained head and the untrained event judge, blended task by task (``--event-judge``).

On the demo's 290 labels of the shipped world the two rank clips in opposite ways: the trained
temporal head ranks integrity clips at ROC AUC 0.83 and temporal ones at 0.63, the event judge
(:mod:`baton.evaluation.event_judge`, over the same frozen CLAP, no training) at 0.71 and 0.80. Neither
is good at both, and a head given the judge's reading as inputs learns too little from 290 labels to
use it (docs/reward.md). A blend of the two scores can:

1. each score is standardised over the labelled clips of a task (the head's logit, and the logit of
   the judge's soft reward: the product of the named events' presence, times the order terms for
   temporal prompts);
2. the blend ``w * head + (1 - w) * judge`` takes the weight ``w`` (of 0, 0.25, 0.5, 0.75, 1) under
   which the task's clips rank best, judged on **out-of-fold** head scores (heads fitted on the other
   folds' prompts), so the head's fit to its own training clips does not favour it;
3. Platt scaling on those out-of-fold blends turns it into a probability.

A task is what the labels name (``integrity``, ``temporal``; ``any`` for labels that name none); a clip
of a task the labels did not hold is refused when scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from baton.errors import InputError
from baton.reward.losses import fit_platt
from baton.stats import ranking_auc

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
BLEND_FOLDS = 5  # folds of prompts whose out-of-fold head scores choose the blend


def task_key(task: str | None) -> str:
    return task or "any"


@dataclass
class TaskBlend:
    """How one task's head and judge scores are blended into a logit."""

    weight: float  # of the head's standardised score; the judge's gets 1 - weight
    head_mean: float
    head_std: float
    judge_mean: float
    judge_std: float
    scale: float = 1.0  # Platt
    shift: float = 0.0
    auc: float | None = None  # of the chosen blend on the out-of-fold scores it was chosen on

    def mixed(self, head: torch.Tensor, judge: torch.Tensor) -> torch.Tensor:
        return (
            self.weight * (head - self.head_mean) / self.head_std
            + (1.0 - self.weight) * (judge - self.judge_mean) / self.judge_std
        )

    def logits(self, head: torch.Tensor, judge: torch.Tensor) -> torch.Tensor:
        return self.scale * self.mixed(head, judge) + self.shift


def _spread(x: torch.Tensor) -> tuple[float, float]:
    std = float(x.std()) if x.numel() > 1 else 0.0
    return float(x.mean()), std if std > 1e-6 else 1.0


def fit_task_blend(head: torch.Tensor, judge: torch.Tensor, targets: torch.Tensor) -> TaskBlend:
    """The blend of one task's clips: out-of-fold head logits, judge logits, mean votes (all ``[N]``)."""
    labels = (targets > 0.5).long().numpy()
    blend = TaskBlend(1.0, *_spread(head), *_spread(judge))
    if 0 < labels.sum() < labels.size:  # with one class only, the head alone, uncalibrated
        scored = []
        for weight in WEIGHTS:
            blend.weight = weight
            scored.append((ranking_auc(blend.mixed(head, judge).numpy(), labels), weight))
        blend.auc, blend.weight = max(scored)  # a tie goes to the head's larger share
        blend.scale, blend.shift = fit_platt(blend.mixed(head, judge), targets)
    return blend


def fit_blend(
    head: torch.Tensor, judge: torch.Tensor, targets: torch.Tensor, tasks: Sequence[str | None]
) -> dict[str, TaskBlend]:
    """A :class:`TaskBlend` per task, from the out-of-fold head logits ``head`` ``[N]`` of labelled
    clips, their judge logits ``judge`` ``[N]`` and mean votes ``targets`` ``[N]``."""
    keys = [task_key(t) for t in tasks]
    blends = {}
    for key in sorted(set(keys)):
        rows = torch.tensor([i for i, k in enumerate(keys) if k == key])
        blends[key] = fit_task_blend(head[rows], judge[rows], targets[rows])
    return blends


def blend_logits(
    blends: dict[str, TaskBlend], head: torch.Tensor, judge: torch.Tensor, tasks: Sequence[str | None]
) -> torch.Tensor:
    """The blended logits ``[N]`` of clips of these ``tasks``."""
    out = torch.empty_like(head)
    for i, task in enumerate(tasks):
        key = task_key(task)
        if key not in blends:
            raise InputError(
                f"the reward model blends its head with the event judge for the tasks of its labels "
                f"({', '.join(blends)}), not for '{key}'",
                field="task",
            )
        out[i] = blends[key].logits(head[i : i + 1], judge[i : i + 1])[0]
    return out


def blends_to_json(blends: dict[str, TaskBlend]) -> dict[str, Any]:
    return {key: asdict(blend) for key, blend in blends.items()}


def blends_from_json(data: dict[str, Any]) -> dict[str, TaskBlend]:
    return {key: TaskBlend(**values) for key, values in data.items()}


def out_of_fold_choice(
    head: torch.Tensor,
    judge: torch.Tensor,
    targets: torch.Tensor,
    tasks: Sequence[str | None],
    folds: Sequence[Sequence[int]],
) -> np.ndarray:
    """Cross-validation's probabilities of blends: each fold's clips blended as the other folds'
    out-of-fold scores choose (so no fold's labels choose its own blend)."""
    probabilities = np.full(head.shape[0], np.nan)
    for held in folds:
        held_set = set(held)
        rest = torch.tensor([i for i in range(head.shape[0]) if i not in held_set])
        blends = fit_blend(head[rest], judge[rest], targets[rest], [tasks[i] for i in rest.tolist()])
        rows = torch.tensor(list(held))
        logits = blend_logits(blends, head[rows], judge[rows], [tasks[i] for i in held])
        probabilities[list(held)] = torch.sigmoid(logits).numpy()
    return probabilities
