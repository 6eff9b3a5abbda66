"""``baton reward train``: fit a reward head on human labels over frozen, cached encoder features.

>>> from baton.reward.train import RewardTrainConfig, train_reward  # doctest: +SKIP
>>> train_reward(RewardTrainConfig(labels="labels.jsonl", out="reward", head="temporal"))  # doctest: +SKIP
PosixPath('reward')

What it writes into ``out``: the model (``config.json``, ``model.safetensors``), ``train_log.jsonl``
(one line per epoch: loss, validation loss, accuracy and pairwise accuracy) and ``training.json``
(split, class balance, pairs, best epoch, timings, cache hits); with ``--report-to``, the trackers' files in
``tracking/`` (:mod:`baton.tracking`).
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator

from baton import tracking
from baton.artifacts import atomic_write_text, write_json
from baton.cache import cache_dir
from baton.config import config_to_dict
from baton.console import console, track, warn
from baton.errors import InputError
from baton.interchange.labels import read_labels
from baton.reward.blend import BLEND_FOLDS, blends_to_json, fit_blend
from baton.reward.cache import FeatureCache, audio_features, text_features
from baton.reward.config import RewardTrainConfig
from baton.reward.data import (
    PairedClips,
    add_pair_clips,
    class_balance,
    labelled_clips,
    prompt_folds,
    read_pairs,
    require_both_labels,
    split_by_prompt,
)
from baton.reward.encoders import load_encoder
from baton.reward.heads import FeatureBatch, build_head, stack_features
from baton.reward.judged import JudgeScores, vocabulary_for
from baton.reward.losses import (
    bradley_terry_loss,
    fit_platt,
    pairwise_accuracy,
    same_prompt_pairs,
    soft_bce_loss,
)
from baton.reward.model import RewardModel, calibrated_logits
from baton.tracking import accelerator_kwargs, start

TRAIN_LOG = "train_log.jsonl"
TRAINING_FILE = "training.json"


@dataclass
class FitSettings:
    """How one head is fitted (the resolved preset plus the head's shape)."""

    head: str = "mlp"
    objective: str = "bce"
    optimizer: str = "adamw"
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 32
    epochs: int = 200
    patience: int = 20
    seed: int = 0
    head_settings: dict[str, Any] = field(default_factory=lambda: {"hidden": 512})
    pair_weight: float = 1.0  # of people's pairs' Bradley-Terry loss beside the labels' objective


@dataclass
class FitResult:
    head: torch.nn.Module
    history: list[dict[str, Any]]
    best_epoch: int
    calibration: tuple[float, float]
    seconds: float
    stopped_early: bool


def _optimizer(settings: FitSettings, params: Any) -> torch.optim.Optimizer:
    if settings.optimizer == "adam":
        # torch's Adam adds weight decay to the gradient (L2), as BATON's script did.
        return torch.optim.Adam(params, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    return torch.optim.AdamW(params, lr=settings.learning_rate, weight_decay=settings.weight_decay)


def objective_loss(
    head: torch.nn.Module,
    features: FeatureBatch,
    targets: torch.Tensor,
    rows: torch.Tensor | None,
    pairs: torch.Tensor | None,
    weights: torch.Tensor | None,
    objective: str,
) -> torch.Tensor:
    """The objective on some clips (``bce``: ``rows``) or some pairs (``bradley-terry``: ``pairs`` [P, 2])."""
    if objective == "bce":
        return soft_bce_loss(head(features.index(rows)), targets[rows])
    # Score every clip of the batch's pairs once, then read winners and losers.
    members, inverse = torch.unique(pairs.reshape(-1), return_inverse=True)
    scores = head(features.index(members))[inverse.reshape(-1, 2)]  # [P, 2]
    return bradley_terry_loss(scores[:, 0], scores[:, 1], weights)


def fit_head(
    features: FeatureBatch,
    targets: torch.Tensor,
    prompt_ids: Sequence[str],
    train_rows: Sequence[int],
    val_rows: Sequence[int],
    settings: FitSettings,
    *,
    human_pairs: torch.Tensor | None = None,
    human_weights: torch.Tensor | None = None,
    progress: bool = False,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> FitResult:
    """Fit a head on ``train_rows`` of precomputed features, with early stopping on ``val_rows``.

    ``targets`` is NaN for a clip without a label (one that only people's pairs name);
    ``human_pairs`` ``[P, 2]`` are people's (chosen, rejected) rows, weighted by ``human_weights``.

    1. Pairs: people's, on the side of the split their prompt is on; for the labels' bradley-terry
       objective, every same-prompt pair of labelled clips with different targets, on each side.
    2. Epochs: shuffled batches (seeded), one optimiser step per batch: the labels' objective, plus
       ``pair_weight`` x Bradley-Terry on a batch of people's pairs (as many steps as the longer of
       the two has batches).
    3. After each epoch: the validation loss (the same sum), the accuracy at 0.5 and the pairwise
       accuracy (people's held-out pairs, else the labelled ones'); the best state is kept, and with
       ``patience`` > 0 training stops when it has not improved for ``patience`` epochs. With
       ``patience`` 0 (BATON) the last epoch's weights are kept. ``on_epoch`` is given each epoch's
       history row as it is made (the trackers of ``--report-to``).
    4. Bradley-Terry scores are put on a probability scale by Platt scaling on the labelled training
       clips (without labels they stay as they are: only their order means something).
    """
    started = time.perf_counter()
    torch.manual_seed(settings.seed)
    audio_dim, text_dim = features.audio.shape[1], features.text.shape[1]
    head = build_head(settings.head, audio_dim, text_dim, settings.head_settings)
    optimizer = _optimizer(settings, head.parameters())
    generator = torch.Generator().manual_seed(settings.seed)
    labelled = torch.isfinite(targets)
    train = torch.tensor([r for r in train_rows if labelled[r]], dtype=torch.long)
    val = torch.tensor([r for r in val_rows if labelled[r]], dtype=torch.long)

    # 1. Pairs.
    people = people_weights = people_val = people_val_weights = None
    if human_pairs is not None and human_pairs.shape[0]:
        weights_all = torch.ones(human_pairs.shape[0]) if human_weights is None else human_weights
        training = set(train_rows)
        on_train = torch.tensor([int(r) in training for r in human_pairs[:, 0]], dtype=torch.bool)
        people, people_weights = human_pairs[on_train], weights_all[on_train]
        people_val, people_val_weights = human_pairs[~on_train], weights_all[~on_train]
    if train.numel() == 0 and people is None:
        raise InputError("no training clips are left after the validation split", field="val_fraction")
    pairs = weights = None
    val_pairs, val_weights = same_prompt_pairs(prompt_ids, targets.tolist(), val.tolist())
    if settings.objective == "bradley-terry" and train.numel():
        pairs, weights = same_prompt_pairs(prompt_ids, targets.tolist(), train.tolist())
        if pairs.shape[0] == 0 and people is None:
            raise InputError(
                "no prompt has clips with different labels, so there are no pairs for bradley-terry",
                field="objective",
            )

    def validation() -> tuple[float | None, float | None, float | None]:
        head.eval()
        loss = accuracy = None
        with torch.no_grad():
            if val.numel():
                logits = head(features.index(val))
                accuracy = float(((logits > 0).float() == (targets[val] > 0.5).float()).float().mean())
                if settings.objective == "bce":
                    loss = float(soft_bce_loss(logits, targets[val]))
                elif val_pairs.shape[0]:
                    loss = float(
                        objective_loss(head, features, targets, None, val_pairs, val_weights, "bradley-terry")
                    )
            held_out = people_val if people_val is not None and people_val.shape[0] else val_pairs
            pair_accuracy = None
            if held_out.shape[0]:
                scores = head(features.index(held_out.reshape(-1))).reshape(-1, 2)
                pair_accuracy = pairwise_accuracy(scores[:, 0], scores[:, 1])
            if people_val is not None and people_val.shape[0]:
                people_loss = float(
                    objective_loss(
                        head, features, targets, None, people_val, people_val_weights, "bradley-terry"
                    )
                )
                loss = (loss or 0.0) + settings.pair_weight * people_loss
        return loss, accuracy, pair_accuracy

    # 2-3. Epochs with early stopping.
    history: list[dict[str, Any]] = []
    best_loss, best_epoch, best_state, stale = float("inf"), 0, None, 0
    stopped_early = False
    size = settings.batch_size
    for epoch in track(
        range(1, settings.epochs + 1), f"training ({settings.head}, {settings.objective})", enabled=progress
    ):
        head.train()
        losses = []
        batches: list[tuple[Any, Any, Any]] = []
        if settings.objective == "bce" and train.numel():
            order = train[torch.randperm(train.numel(), generator=generator)]
            batches = [(order[i : i + size], None, None) for i in range(0, order.numel(), size)]
        elif pairs is not None and pairs.shape[0]:
            order = torch.randperm(pairs.shape[0], generator=generator)
            batches = [
                (None, pairs[order[i : i + size]], weights[order[i : i + size]])
                for i in range(0, order.numel(), size)
            ]
        people_batches = []
        if people is not None and people.shape[0]:
            order = torch.randperm(people.shape[0], generator=generator)
            people_batches = [
                (people[order[i : i + size]], people_weights[order[i : i + size]])
                for i in range(0, order.numel(), size)
            ]
        for step in range(max(len(batches), len(people_batches))):
            loss = torch.zeros(())
            if step < len(batches):
                rows, batch_pairs, batch_weights = batches[step]
                loss = objective_loss(
                    head, features, targets, rows, batch_pairs, batch_weights, settings.objective
                )
            if step < len(people_batches):
                batch_pairs, batch_weights = people_batches[step]
                people_loss = objective_loss(
                    head, features, targets, None, batch_pairs, batch_weights, "bradley-terry"
                )
                loss = loss + settings.pair_weight * people_loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        val_loss, val_accuracy, val_pair_accuracy = validation()
        history.append(
            {
                "epoch": epoch,
                "loss": round(sum(losses) / len(losses), 6),
                "val_loss": None if val_loss is None else round(val_loss, 6),
                "val_accuracy": None if val_accuracy is None else round(val_accuracy, 4),
                "val_pair_accuracy": None if val_pair_accuracy is None else round(val_pair_accuracy, 4),
            }
        )
        if on_epoch is not None:
            on_epoch(history[-1])
        if settings.patience > 0 and val_loss is not None:
            if val_loss < best_loss - 1e-6:
                best_loss, best_epoch, stale = val_loss, epoch, 0
                best_state = copy.deepcopy(head.state_dict())
            else:
                stale += 1
                if stale >= settings.patience:
                    stopped_early = True
                    break
    if best_state is not None:
        head.load_state_dict(best_state)
    else:
        best_epoch = len(history)
    head.eval()

    # 4. Calibration of pairwise scores.
    calibration = (1.0, 0.0)
    if settings.objective == "bradley-terry" and train.numel():
        with torch.no_grad():
            train_logits = head(features.index(train))
        calibration = fit_platt(train_logits, targets[train])
    return FitResult(head, history, best_epoch, calibration, time.perf_counter() - started, stopped_early)


def fit_settings(config: RewardTrainConfig) -> FitSettings:
    resolved = config.resolved()
    return FitSettings(
        head=config.head,
        objective=config.objective,
        pair_weight=config.pair_weight,
        optimizer=str(resolved["optimizer"]),
        learning_rate=float(resolved["learning_rate"]),  # type: ignore[arg-type]
        weight_decay=float(resolved["weight_decay"]),  # type: ignore[arg-type]
        batch_size=int(resolved["batch_size"]),  # type: ignore[call-overload]
        epochs=int(resolved["epochs"]),  # type: ignore[call-overload]
        patience=int(resolved["patience"]),  # type: ignore[call-overload]
        seed=config.seed,
        head_settings={
            "hidden": config.hidden,
            **({} if config.head == "mlp" else {"segments": list(config.segments)}),
            **({"prior": True} if config.prior else {}),
        },
    )


def encode_clips(
    encoder: Any,
    clips: Sequence[Any],
    cache: Any,
    *,
    sequences: bool,
    progress: bool = False,
    judge: JudgeScores | None = None,
) -> FeatureBatch:
    """Features of labelled clips (audio and their texts, and each clip's task; with ``judge``, the event
    judge's score of each clip's named events too), through the cache."""
    audio = audio_features(encoder, [c.audio for c in clips], cache, progress=progress)
    text = text_features(encoder, [c.text for c in clips], cache)
    tasks = [c.task for c in clips]
    scores = None
    if judge is not None:
        scores = judge.scores([c.audio for c in clips], [c.events for c in clips], tasks, cache)
    return stack_features(audio, text, sequences=sequences, judge=scores, tasks=tasks)


def event_judge_for(
    config: RewardTrainConfig, encoder: Any, clips: Sequence[Any], settings: FitSettings
) -> JudgeScores | None:
    """With ``--event-judge``: the judge over ``encoder`` whose vocabulary holds every event ``clips``
    name, its settings recorded in ``settings.head_settings`` (so the saved model rebuilds it)."""
    if not config.event_judge:
        return None
    judge = JudgeScores(encoder, vocabulary_for([c.events for c in clips]))
    settings.head_settings["event_judge"] = judge.settings()
    return judge


def out_of_fold_logits(
    features: FeatureBatch,
    targets: torch.Tensor,
    clips: Sequence[Any],
    settings: FitSettings,
    fold_rows: Sequence[Sequence[int]],
    val_fraction: float,
    *,
    progress: bool = False,
) -> tuple[torch.Tensor, list[dict[str, Any]]]:
    """Each clip's head logit ``[N]`` from a head fitted on the other folds' prompts (validation
    prompts drawn from those alone, early stopping as the model's own), and a summary of each fold's fit."""
    logits = torch.full((len(clips),), float("nan"))
    prompt_ids = [c.prompt_id for c in clips]
    fits = []
    for held in track(fold_rows, f"out-of-fold heads ({len(fold_rows)} folds)", enabled=progress):
        held_set = set(held)
        rest = [i for i in range(len(clips)) if i not in held_set]
        inner_train, inner_val = split_by_prompt([clips[i] for i in rest], val_fraction, settings.seed)
        train_rows, val_rows = [rest[i] for i in inner_train], [rest[i] for i in inner_val]
        result = fit_head(features, targets, prompt_ids, train_rows, val_rows, settings)
        rows = torch.tensor(list(held), dtype=torch.long)
        logits[rows] = calibrated_logits(result.head, result.calibration, features.index(rows))
        fits.append(
            {
                "train_clips": len(train_rows),
                "validation_clips": len(val_rows),
                "epochs_run": len(result.history),
                "best_epoch": result.best_epoch,
                "fit_seconds": round(result.seconds, 3),
            }
        )
    return logits, fits


def fit_judge_blend(
    features: FeatureBatch,
    targets: torch.Tensor,
    clips: Sequence[Any],
    settings: FitSettings,
    val_fraction: float,
) -> dict[str, Any]:
    """The blend of head and event judge per task (:mod:`baton.reward.blend`), chosen on out-of-fold
    head logits of the labelled clips (``BLEND_FOLDS`` folds of prompts)."""
    labelled = [i for i in range(len(clips)) if torch.isfinite(targets[i])]
    prompts = len({clips[i].prompt_id for i in labelled})
    if prompts < 2:
        raise InputError(
            "--event-judge chooses its blend out of fold, over 2 or more labelled prompts",
            field="event_judge",
        )
    subset = [clips[i] for i in labelled]
    rows = torch.tensor(labelled, dtype=torch.long)
    features, targets = features.index(rows), targets[rows]
    folds = prompt_folds(subset, min(BLEND_FOLDS, prompts), settings.seed)
    head, _ = out_of_fold_logits(features, targets, subset, settings, folds, val_fraction)
    return blends_to_json(fit_blend(head, features.judge, targets, features.tasks))


def _start_tracking(report_to: list[str], out: Path, config: RewardTrainConfig, settings: FitSettings) -> Any:
    """An Accelerator that only logs, with ``report_to``'s trackers started; ``None`` for none.

    Reward training is plain torch (one small head on cached features), not run under accelerate;
    its trackers are still accelerate's, built the way fine-tuning builds them (:mod:`baton.tracking`)
    rather than by hand. An Accelerator is the lightest way to that: nothing is prepared with it,
    ``cpu=True`` keeps it off any GPU (the head trains on the CPU, by itself), and it is
    released afterwards so that a later Accelerator in this process (a fine-tuning run) starts clean.
    """
    if not report_to:
        return None

    accelerator = Accelerator(cpu=True, **accelerator_kwargs(report_to, out))
    # The settings as given, and the optimiser's as the preset and overrides resolved them.
    hyperparameters = {**config_to_dict(config, absolute_paths=True), "resolved": {**settings.__dict__}}
    start(accelerator, report_to, "baton-reward", out, hyperparameters)
    return accelerator


def train_reward(config: RewardTrainConfig) -> Path:
    """Train a reward model on ``config.labels``; return its folder ``config.out``."""
    config.check()
    report_to = tracking.parse_report_to(config.report_to)
    tracking.check_installed(report_to)
    settings = fit_settings(config)
    started = time.perf_counter()

    # 1. Labels, people's pairs, and their audio.
    clips = []
    if config.labels is not None:
        records = read_labels(config.labels, task=config.task)
        clips = labelled_clips(records, config.labels, config.audio_root)
        require_both_labels(clips, config.labels)
    paired = PairedClips(clips, [])
    if config.pairs is not None:
        paired = add_pair_clips(
            clips, read_pairs(config.pairs, task=config.task), config.pairs, config.audio_root
        )
        clips = paired.clips
        if not paired.pairs:
            raise InputError("the pairs file holds no decided pair (each has as many votes for both clips)",
                             path=config.pairs)  # fmt: skip

    # 2. Split by prompt.
    train_rows, val_rows = split_by_prompt(clips, config.val_fraction, config.seed)
    labelled_train = [row for row in train_rows if clips[row].target == clips[row].target]  # not NaN
    try:  # the file has both labels; a split that leaves training one of them is a loud warning
        if config.labels is not None:
            require_both_labels(clips, config.labels, labelled_train, what="the training prompts'")
    except InputError as exc:
        warn(f"{exc.reason}; another --seed or --val-fraction splits the prompts otherwise")
    balance = {"train": class_balance(clips, train_rows), "validation": class_balance(clips, val_rows)}
    for side, groups in balance.items():
        for task, counts in groups.items():
            if task != "all" and counts["clips"]:
                console.print(
                    f"{side} {task}: {counts['clips']} clips over {counts['prompts']} prompts, "
                    f"{counts['ones']} ones / {counts['zeros']} zeros"
                    + (f" / {counts['ties']} ties" if counts["ties"] else "")
                )
    if not val_rows and settings.patience > 0:
        warn("no validation prompts (too few prompts or val_fraction 0): early stopping is off")

    # 3. Features, through the cache (the model's folder first: one that cannot be made stops the run
    # before the work, not after it).
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    encoder = load_encoder(config.encoder, device=config.device)
    cache = FeatureCache(cache_dir(config.cache), encoder.identity["fingerprint"])
    encode_started = time.perf_counter()
    judge = event_judge_for(config, encoder, clips, settings)
    features = encode_clips(
        encoder, clips, cache, sequences=config.head == "temporal", progress=config.progress, judge=judge
    )
    encode_seconds = time.perf_counter() - encode_started
    targets = torch.tensor([c.target for c in clips], dtype=torch.float32)  # NaN: no label
    human_pairs = torch.tensor([(w, lose) for w, lose, _ in paired.pairs], dtype=torch.long).reshape(-1, 2)
    human_weights = torch.tensor([weight for _, _, weight in paired.pairs], dtype=torch.float32)

    # 4. Fit, each epoch's row also to the trackers.
    logger = _start_tracking(report_to, out, config, settings)
    try:
        result = fit_head(
            features,
            targets,
            [c.prompt_id for c in clips],
            train_rows,
            val_rows,
            settings,
            human_pairs=human_pairs,
            human_weights=human_weights,
            progress=config.progress,
            on_epoch=None if logger is None else lambda row: tracking.log(logger, row, row["epoch"]),
        )
    finally:
        if logger is not None:
            tracking.finish(logger)
            tracking.release_accelerator(logger)

    # 5. With --event-judge, the blend of head and judge per task, chosen out of fold.
    if judge is not None:
        blend = fit_judge_blend(features, targets, clips, settings, config.val_fraction)
        settings.head_settings["event_judge"]["blend"] = blend
        for task, chosen in blend.items():
            console.print(
                f"{task}: the head's share of the blend with the event judge {chosen['weight']} "
                f"(out-of-fold ROC AUC {chosen['auc'] if chosen['auc'] is None else round(chosen['auc'], 3)})"
            )

    # 6. Save.
    training_side = set(train_rows)
    summary = {
        # From any folder (baton.artifacts).
        "labels": None if config.labels is None else str(Path(config.labels).resolve()),
        "pairs": None if config.pairs is None else str(Path(config.pairs).resolve()),
        "human_pairs": {
            "train": sum(w in training_side for w, _, _ in paired.pairs),
            "validation": sum(w not in training_side for w, _, _ in paired.pairs),
            "undecided_left_out": paired.undecided,
        },
        "clips": len(clips),
        "train_clips": len(train_rows),
        "validation_clips": len(val_rows),
        "validation_prompts": sorted({clips[i].prompt_id for i in val_rows}),
        "class_balance": balance,
        "settings": {**settings.__dict__},
        "epochs_run": len(result.history),
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "final": result.history[-1] if result.history else None,
        "best": result.history[result.best_epoch - 1] if result.history else None,
        "encode_seconds": round(encode_seconds, 3),
        "fit_seconds": round(result.seconds, 3),
        "total_seconds": round(time.perf_counter() - started, 3),
        "cache": {"hits": cache.hits, "misses": cache.misses, "folder": str(cache.folder)},
        "config": config_to_dict(config, absolute_paths=True),
    }
    model = RewardModel(
        result.head,
        settings.head,
        settings.head_settings,
        encoder.identity,
        calibration=result.calibration,
        objective=settings.objective,
        encoder=encoder,
        training={
            k: summary[k] for k in ("labels", "pairs", "clips", "best_epoch", "epochs_run", "settings")
        },
    )
    model.save(out)
    atomic_write_text(out / TRAIN_LOG, "".join(json.dumps(row) + "\n" for row in result.history))
    write_json(out / TRAINING_FILE, summary)
    best = summary["best"] or {}
    if best.get("val_loss") is None:
        judged = f"training loss {best.get('loss')}; no validation prompts"
    else:
        judged = f"validation accuracy {best.get('val_accuracy')}, loss {best.get('val_loss')}"
    if best.get("val_pair_accuracy") is not None:
        whose = "people's" if config.pairs is not None else "labelled"
        judged += f", pairwise accuracy {best['val_pair_accuracy']} on held-out {whose} pairs"
    ran = (
        f"{len(result.history)} of {settings.epochs}, stopped early"
        if result.stopped_early
        else len(result.history)
    )
    console.print(f"reward model -> {out} (best epoch {result.best_epoch} of {ran}; {judged})")
    return out
