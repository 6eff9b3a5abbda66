"""``baton reward cross-validate``: judge the reward model on every labelled clip, out of fold.

A held-out share of a small labelled set holds a handful of clips labelled 1, so its figures say
little (an accuracy at the base rate, a ROC-AUC interval from 0.3 to 0.9). Cross-validation uses every
clip once as test data instead:

1. the labels' prompts are dealt into ``folds`` groups (whole prompts, so that no prompt is on both
   sides; each task's prompts in a seeded order, dealt round-robin, so every fold holds every task);
2. the encoder features of every clip are computed once (through the feature cache);
3. for each fold a head is fitted on the other folds' clips, with the same settings, validation split
   and early stopping as ``baton reward train``, and predicts the fold's clips;
4. the out-of-fold probabilities are judged with the figures of ``baton reward eval``
   (:func:`baton.reward.evaluate.clip_figures`).

What it writes into ``out``: ``eval.json`` (the shape of ``baton reward eval``'s, plus ``method``,
``folds`` and ``per_fold``), its reliability plot ``eval-reliability.png``, and the out-of-fold
predictions ``crossval-predictions.jsonl`` (sample_id, prompt_id, task, fold, probability, label).
It saves no model: train the final one on all the labels with ``baton reward train``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from baton.artifacts import atomic_write_text
from baton.cache import cache_dir
from baton.console import warn
from baton.errors import InputError
from baton.interchange.labels import read_labels
from baton.reward.blend import out_of_fold_choice
from baton.reward.cache import FeatureCache
from baton.reward.config import RewardTrainConfig
from baton.reward.data import labelled_clips, prompt_folds, require_both_labels
from baton.reward.encoders import load_encoder
from baton.reward.evaluate import (
    EVAL_FILE,
    check_figure_settings,
    clip_figures,
    save_figures,
)
from baton.reward.train import encode_clips, event_judge_for, fit_settings, out_of_fold_logits

PREDICTIONS_FILE = "crossval-predictions.jsonl"
METHOD = "cross-validation"


def cross_validate(
    config: RewardTrainConfig,
    folds: int = 5,
    out: str | Path | None = None,
    *,
    threshold: float = 0.5,
    bins: int = 10,
    resamples: int = 2000,
) -> dict[str, Any]:
    """Cross-validate the reward model ``config`` describes over ``config.labels``.

    Writes ``eval.json``, its reliability plot and ``crossval-predictions.jsonl`` into ``out``
    (default ``config.out``) and returns the figures (the contents of ``eval.json``).
    """
    config.check()
    if config.labels is None:
        raise InputError("cross-validation judges labels: give --labels", field="labels")
    check_figure_settings(threshold, bins)
    settings = fit_settings(config)
    started = time.perf_counter()

    # 1. Labels, their audio, and the folds.
    records = read_labels(config.labels, task=config.task)  # type: ignore[arg-type]
    clips = labelled_clips(records, config.labels, config.audio_root)  # type: ignore[arg-type]
    require_both_labels(clips, config.labels)  # type: ignore[arg-type]
    fold_rows = prompt_folds(clips, folds, config.seed)

    # 2. Features of every clip, once.
    encoder = load_encoder(config.encoder, device=config.device)
    cache = FeatureCache(cache_dir(config.cache), encoder.identity["fingerprint"])
    judge = event_judge_for(config, encoder, clips, settings)
    features = encode_clips(
        encoder, clips, cache, sequences=config.head == "temporal", progress=config.progress, judge=judge
    )
    targets = torch.tensor([c.target for c in clips], dtype=torch.float32)
    prompt_ids = [c.prompt_id for c in clips]

    # 3. One head per fold, fitted on the other folds (validation prompts drawn from those alone).
    logits, fits = out_of_fold_logits(
        features, targets, clips, settings, fold_rows, config.val_fraction, progress=config.progress
    )
    if settings.patience > 0 and any(fit["validation_clips"] == 0 for fit in fits):
        warn("no validation prompts (too few prompts or val_fraction 0): early stopping is off")
    per_fold = [
        {"fold": k, "prompts": len({prompt_ids[i] for i in held}), "clips": len(held), **fit}
        for k, (held, fit) in enumerate(zip(fold_rows, fits, strict=True))
    ]

    # With --event-judge, each fold's clips blended with the judge as the other folds' choose.
    if judge is None:
        probabilities = torch.sigmoid(logits).double().numpy()
    else:
        probabilities = out_of_fold_choice(logits, features.judge, targets, features.tasks, fold_rows)

    # 4. Figures of the out-of-fold probabilities, and the predictions themselves.
    fold_of = {i: k for k, held in enumerate(fold_rows) for i in held}
    figures: dict[str, Any] = {
        "method": METHOD,
        "folds": folds,
        "labels": str(Path(config.labels).resolve()),  # from any folder (baton.artifacts)
        "head": settings.head,
        "event_judge": judge is not None,
        "objective": settings.objective,
        "encoder": encoder.identity.get("kind"),
        "seed": config.seed,
        "threshold": threshold,
        "bins": bins,
        "resamples": resamples,
        "predictions": PREDICTIONS_FILE,
        "per_fold": per_fold,
        **clip_figures(
            probabilities, clips, threshold=threshold, bins=bins, resamples=resamples, seed=config.seed
        ),
        "seconds": round(time.perf_counter() - started, 3),
    }
    folder = Path(out) if out is not None else Path(config.out)
    save_figures(figures, folder / EVAL_FILE)
    lines = [
        {
            "sample_id": clip.sample_id,
            "prompt_id": clip.prompt_id,
            "task": clip.task,
            "fold": fold_of[i],
            "probability": round(float(probabilities[i]), 6),
            "label": clip.label,
        }
        for i, clip in enumerate(clips)
    ]
    atomic_write_text(folder / PREDICTIONS_FILE, "".join(json.dumps(line) + "\n" for line in lines))
    return figures


def figure_lines(result: dict[str, Any], note: str = "out-of-fold") -> list[str]:
    """One line per task (then ``all``): accuracy and ROC-AUC with their 95% intervals, and the clips."""

    def cell(name: str, figure: dict[str, Any] | None) -> str:
        if not figure:
            return f"{name} -"
        return f"{name} {figure['value']:.3f} [{figure['ci_low']:.3f}, {figure['ci_high']:.3f}]"

    groups = [*(result.get("tasks") or {}).items(), ("all", result)]
    return [
        f"{task}: {cell('accuracy', figures.get('accuracy'))}, {cell('ROC AUC', figures.get('roc_auc'))} "
        f"over {figures.get('clips', 0)} clips, {figures.get('ones', 0)} labelled 1 ({note})"
        for task, figures in groups
    ]
