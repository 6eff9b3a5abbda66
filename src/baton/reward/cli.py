"""``baton reward train | cross-validate | eval | score``: thin commands over :mod:`baton.reward` (torch is imported inside)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from baton.config import field_help
from baton.reward.config import RewardEvalConfig, RewardScoreConfig, RewardTrainConfig

reward_app = typer.Typer(
    help=(
        "Train a reward model on human labels (BATON's MLP, a Bradley-Terry objective, a temporal-aware "
        "head), judge it on held-out labels, and score new clips."
    ),
    no_args_is_help=True,
)

CONFIG_HELP = "YAML file of settings; flags override it."
T, E, S = RewardTrainConfig, RewardEvalConfig, RewardScoreConfig
# The options `reward train` and `reward cross-validate` share, by their RewardTrainConfig field names.
TRAIN_OPTIONS = (
    "labels", "out", "encoder", "head", "objective", "preset", "optimizer", "learning_rate",
    "weight_decay", "batch_size", "epochs", "patience", "hidden", "val_fraction", "seed", "task",
    "audio_root", "cache", "device",
)  # fmt: skip


def _train_settings(options: dict[str, Any]) -> RewardTrainConfig:
    """RewardTrainConfig from a command's ``--config`` file and its flags (``options``: its arguments)."""
    from baton.config import load_config

    overrides = {name: options[name] for name in TRAIN_OPTIONS}
    overrides["segments"] = list(options["segments"]) if options["segments"] else None
    overrides["progress"] = False if options["no_progress"] else None
    return load_config(RewardTrainConfig, options["config"], overrides)


@reward_app.command("train")
def train_command(
    labels: Path = typer.Option(None, "--labels", help=field_help(T, "labels")),
    out: Path = typer.Option(None, "--out", help=field_help(T, "out")),
    encoder: str = typer.Option(None, "--encoder", help=field_help(T, "encoder")),
    head: str = typer.Option(None, "--head", help=field_help(T, "head")),
    objective: str = typer.Option(None, "--objective", help=field_help(T, "objective")),
    preset: str = typer.Option(None, "--preset", help=field_help(T, "preset")),
    optimizer: str = typer.Option(None, "--optimizer", help=field_help(T, "optimizer")),
    learning_rate: float = typer.Option(None, "--lr", "--learning-rate", help=field_help(T, "learning_rate")),
    weight_decay: float = typer.Option(None, "--weight-decay", help=field_help(T, "weight_decay")),
    batch_size: int = typer.Option(None, "--batch-size", help=field_help(T, "batch_size")),
    epochs: int = typer.Option(None, "--epochs", help=field_help(T, "epochs")),
    patience: int = typer.Option(None, "--patience", help=field_help(T, "patience")),
    hidden: int = typer.Option(None, "--hidden", help=field_help(T, "hidden")),
    segments: list[int] = typer.Option(
        None, "--segments", help=field_help(T, "segments") + " Repeat for several."
    ),
    val_fraction: float = typer.Option(None, "--val-fraction", help=field_help(T, "val_fraction")),
    seed: int = typer.Option(None, "--seed", help=field_help(T, "seed")),
    task: str = typer.Option(None, "--task", help=field_help(T, "task")),
    audio_root: Path = typer.Option(None, "--audio-root", help=field_help(T, "audio_root")),
    cache: Path = typer.Option(None, "--cache", help=field_help(T, "cache")),
    device: str = typer.Option(None, "--device", help=field_help(T, "device")),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide progress bars."),
    config: Path = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Train a reward model on labels (split by prompt, early stopping, features cached)."""
    options = dict(locals())
    from baton.reward.train import train_reward

    train_reward(_train_settings(options))


@reward_app.command("cross-validate")
def cross_validate_command(
    labels: Path = typer.Option(None, "--labels", help=field_help(T, "labels")),
    folds: int = typer.Option(
        5, "--folds", help="Folds of prompts: each is judged by a head fitted on the others."
    ),
    out: Path = typer.Option(
        None, "--out", help="Folder of eval.json, its reliability plot and crossval-predictions.jsonl."
    ),
    encoder: str = typer.Option(None, "--encoder", help=field_help(T, "encoder")),
    head: str = typer.Option(None, "--head", help=field_help(T, "head")),
    objective: str = typer.Option(None, "--objective", help=field_help(T, "objective")),
    preset: str = typer.Option(None, "--preset", help=field_help(T, "preset")),
    optimizer: str = typer.Option(None, "--optimizer", help=field_help(T, "optimizer")),
    learning_rate: float = typer.Option(None, "--lr", "--learning-rate", help=field_help(T, "learning_rate")),
    weight_decay: float = typer.Option(None, "--weight-decay", help=field_help(T, "weight_decay")),
    batch_size: int = typer.Option(None, "--batch-size", help=field_help(T, "batch_size")),
    epochs: int = typer.Option(None, "--epochs", help=field_help(T, "epochs")),
    patience: int = typer.Option(None, "--patience", help=field_help(T, "patience")),
    hidden: int = typer.Option(None, "--hidden", help=field_help(T, "hidden")),
    segments: list[int] = typer.Option(
        None, "--segments", help=field_help(T, "segments") + " Repeat for several."
    ),
    val_fraction: float = typer.Option(
        None,
        "--val-fraction",
        help=field_help(T, "val_fraction") + " Drawn from each fold's training prompts.",
    ),
    seed: int = typer.Option(None, "--seed", help=field_help(T, "seed") + " Also deals the folds."),
    task: str = typer.Option(None, "--task", help=field_help(T, "task")),
    audio_root: Path = typer.Option(None, "--audio-root", help=field_help(T, "audio_root")),
    cache: Path = typer.Option(None, "--cache", help=field_help(T, "cache")),
    device: str = typer.Option(None, "--device", help=field_help(T, "device")),
    threshold: float = typer.Option(0.5, "--threshold", help=field_help(E, "threshold")),
    bins: int = typer.Option(10, "--bins", help=field_help(E, "bins")),
    resamples: int = typer.Option(2000, "--resamples", help=field_help(E, "resamples")),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide progress bars."),
    config: Path = typer.Option(None, "--config", help=CONFIG_HELP + " (the settings of `reward train`)"),
) -> None:
    """Judge the reward model on every labelled clip, out of fold: k heads, each fitted on the other folds'
    prompts (features encoded once), with the figures of `reward eval`. Saves no model."""
    options = dict(locals())
    from baton.console import console
    from baton.reward.crossval import PREDICTIONS_FILE, cross_validate, figure_lines
    from baton.reward.evaluate import EVAL_FILE

    settings = _train_settings(options)
    result = cross_validate(settings, folds, threshold=threshold, bins=bins, resamples=resamples)
    console.print(figures_table(result, f"reward model, out of fold ({folds} folds) [95% interval]"))
    for line in figure_lines(result):
        console.print(line)
    folder = Path(settings.out)
    console.print(
        f"figures in [bold]{folder / EVAL_FILE}[/], plot {result['plot']} and {PREDICTIONS_FILE} beside it"
    )


@reward_app.command("eval")
def eval_command(
    model: Path = typer.Option(None, "--model", help=field_help(E, "model")),
    labels: Path = typer.Option(None, "--labels", help=field_help(E, "labels")),
    out: Path = typer.Option(None, "--out", help=field_help(E, "out")),
    threshold: float = typer.Option(None, "--threshold", help=field_help(E, "threshold")),
    bins: int = typer.Option(None, "--bins", help=field_help(E, "bins")),
    resamples: int = typer.Option(None, "--resamples", help=field_help(E, "resamples")),
    seed: int = typer.Option(None, "--seed", help=field_help(E, "seed")),
    task: str = typer.Option(None, "--task", help=field_help(E, "task")),
    audio_root: Path = typer.Option(None, "--audio-root", help=field_help(E, "audio_root")),
    cache: Path = typer.Option(None, "--cache", help=field_help(E, "cache")),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide progress bars."),
    config: Path = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Accuracy at 0.5, ROC-AUC and calibration (ECE, reliability plot) per task, with 95% intervals,
    beside the single annotator's agreement with the majority."""
    from baton.config import load_config
    from baton.console import console
    from baton.errors import InputError
    from baton.reward.evaluate import EVAL_FILE, evaluate_reward

    settings = load_config(
        RewardEvalConfig,
        config,
        {
            "model": model,
            "labels": labels,
            "out": out,
            "threshold": threshold,
            "bins": bins,
            "resamples": resamples,
            "seed": seed,
            "task": task,
            "audio_root": audio_root,
            "cache": cache,
            "progress": False if no_progress else None,
        },
    )
    if settings.model is None:
        raise InputError("give the reward model folder (--model)", field="model")
    if settings.labels is None:
        raise InputError("give the labels to judge it on (--labels)", field="labels")
    result = evaluate_reward(
        settings.model,
        settings.labels,
        settings.out,
        threshold=settings.threshold,
        bins=settings.bins,
        resamples=settings.resamples,
        seed=settings.seed,
        task=settings.task,
        audio_root=settings.audio_root,
        cache=settings.cache,
        progress=settings.progress,
    )
    console.print(figures_table(result))
    out = settings.out if settings.out is not None else Path(settings.model) / EVAL_FILE
    console.print(f"figures in [bold]{out}[/], plot {result['plot']} beside it")


def figures_table(result: dict, title: str = "reward model vs held-out labels [95% interval]") -> object:
    """The evaluation as a rich table: one row per task."""
    from rich.table import Table

    def cell(figure: dict | None) -> str:
        if not figure:
            return "-"
        return f"{figure['value']:.3f} [{figure['ci_low']:.3f}, {figure['ci_high']:.3f}]"

    table = Table(title=title)
    for column in ("task", "clips", "accuracy", "ROC-AUC", "ECE", "single annotator vs majority"):
        table.add_column(column)
    rows = [("all", result), *result.get("tasks", {}).items()]
    for name, figures in rows:
        table.add_row(
            name,
            str(figures.get("clips", 0)),
            cell(figures.get("accuracy")),
            cell(figures.get("roc_auc")),
            cell(figures.get("ece")),
            cell(figures.get("human_agreement")),
        )
    return table


@reward_app.command("score")
def score_command(
    model: Path = typer.Option(None, "--model", help=field_help(S, "model")),
    samples: Path = typer.Option(None, "--samples", help=field_help(S, "samples")),
    out: Path = typer.Option(None, "--out", help=field_help(S, "out")),
    batch_size: int = typer.Option(None, "--batch-size", help=field_help(S, "batch_size")),
    cache: Path = typer.Option(None, "--cache", help=field_help(S, "cache")),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide the progress bar."),
    config: Path = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Write a RewardRecord (raw score and probability) for every clip of a samples file."""
    from baton.config import load_config
    from baton.console import console
    from baton.errors import InputError
    from baton.reward.score import score_samples

    settings = load_config(
        RewardScoreConfig,
        config,
        {
            "model": model,
            "samples": samples,
            "out": out,
            "batch_size": batch_size,
            "cache": cache,
            "progress": False if no_progress else None,
        },
    )
    if settings.model is None:
        raise InputError("give the reward model folder (--model)", field="model")
    if settings.samples is None:
        raise InputError("give the samples to score (--samples)", field="samples")
    path = score_samples(
        settings.model,
        settings.samples,
        settings.out,
        batch_size=settings.batch_size,
        cache=settings.cache,
        progress=settings.progress,
    )
    console.print(f"rewards in [bold]{path}[/]")
