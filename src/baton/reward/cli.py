"""``baton reward train | cross-validate | eval | score``: thin commands over :mod:`baton.reward` (torch is imported inside)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from baton.config import field_help, renamed_option
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
    "weight_decay", "batch_size", "epochs", "patience", "hidden", "prior", "event_judge", "val_fraction", "seed",
    "task",
    "audio_root", "cache", "device",
)  # fmt: skip


def _train_settings(options: dict[str, Any], **more: Any) -> RewardTrainConfig:
    """RewardTrainConfig from a command's ``--config`` file and its flags (``options``: its arguments;
    ``more``: the settings one command alone takes)."""
    # the command's work, imported when it runs: `baton --help` imports this module
    from baton.config import load_config

    overrides = {name: options[name] for name in TRAIN_OPTIONS} | more
    overrides["segments"] = list(options["segments"]) if options["segments"] else None
    overrides["progress"] = False if options["no_progress"] else None
    return load_config(RewardTrainConfig, options["config"], overrides)


def _require(settings: Any, **messages: str) -> None:
    """Stop with ``messages[field]`` for the first of those settings that is not given (a usage error)."""
    # the command's work, imported when it runs: `baton --help` imports this module
    from baton.errors import UsageError

    for field, message in messages.items():
        if getattr(settings, field) is None:
            raise UsageError(message, field=field)


def _option(name: str, *flags: str, more: str = "") -> Any:
    """A flag of RewardTrainConfig field ``name``, with the field's help (and ``more``)."""
    return typer.Option(*flags, help=field_help(T, name) + more)


# The options `reward train` and `reward cross-validate` share, one definition each.
Labels = Annotated[Path, _option("labels", "--labels")]
Encoder = Annotated[str, _option("encoder", "--encoder")]
Head = Annotated[str, _option("head", "--head")]
Objective = Annotated[str, _option("objective", "--objective")]
Preset = Annotated[str, _option("preset", "--preset")]
Optimizer = Annotated[str, _option("optimizer", "--optimizer")]
LearningRate = Annotated[float, _option("learning_rate", "--lr", "--learning-rate")]
WeightDecay = Annotated[float, _option("weight_decay", "--weight-decay")]
BatchSize = Annotated[int, _option("batch_size", "--batch-size")]
Epochs = Annotated[int, _option("epochs", "--epochs")]
Patience = Annotated[int, _option("patience", "--patience")]
Hidden = Annotated[int, _option("hidden", "--hidden")]
Segments = Annotated[list[int], _option("segments", "--segments", more=" Repeat for several.")]
Prior = Annotated[bool, _option("prior", "--prior/--no-prior")]
EventJudgeFlag = Annotated[bool, _option("event_judge", "--event-judge/--no-event-judge")]
Task = Annotated[str, _option("task", "--task")]
AudioRoot = Annotated[Path, _option("audio_root", "--audio-root")]
Cache = Annotated[Path, _option("cache", "--cache")]
Device = Annotated[str, _option("device", "--device")]
NoProgress = Annotated[bool, typer.Option("--no-progress", help="Hide progress bars.")]


@reward_app.command("train")
def train_command(
    labels: Labels = None,
    out: Annotated[Path, _option("out", "--out")] = None,
    encoder: Encoder = None,
    head: Head = None,
    objective: Objective = None,
    preset: Preset = None,
    optimizer: Optimizer = None,
    learning_rate: LearningRate = None,
    weight_decay: WeightDecay = None,
    batch_size: BatchSize = None,
    epochs: Epochs = None,
    patience: Patience = None,
    hidden: Hidden = None,
    segments: Segments = None,
    prior: Prior = None,
    event_judge: EventJudgeFlag = None,
    val_fraction: Annotated[float, _option("val_fraction", "--val-fraction")] = None,
    seed: Annotated[int, _option("seed", "--seed")] = None,
    task: Task = None,
    audio_root: AudioRoot = None,
    cache: Cache = None,
    device: Device = None,
    report_to: Annotated[list[str], _option("report_to", "--report-to", more=" Repeat for several.")] = None,
    no_progress: NoProgress = False,
    pairs: Annotated[Path, _option("pairs", "--pairs")] = None,
    pair_weight: Annotated[float, _option("pair_weight", "--pair-weight")] = None,
    config: Annotated[Path, typer.Option("--config", help=CONFIG_HELP)] = None,
) -> None:
    """Train a reward model on labels and (or) people's pairs (split by prompt, early stopping, features
    cached)."""
    options = dict(locals())
    # the command's work, imported when it runs: `baton --help` imports this module
    from baton.reward.train import train_reward

    more = {"pairs": pairs, "pair_weight": pair_weight, "report_to": list(report_to) if report_to else None}
    train_reward(_train_settings(options, **more))


@reward_app.command("cross-validate")
def cross_validate_command(
    labels: Labels = None,
    folds: Annotated[
        int, typer.Option("--folds", help="Folds of prompts: each is judged by a head fitted on the others.")
    ] = 5,
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Folder of eval.json, its reliability plot and crossval-predictions.jsonl."
        ),
    ] = None,
    encoder: Encoder = None,
    head: Head = None,
    objective: Objective = None,
    preset: Preset = None,
    optimizer: Optimizer = None,
    learning_rate: LearningRate = None,
    weight_decay: WeightDecay = None,
    batch_size: BatchSize = None,
    epochs: Epochs = None,
    patience: Patience = None,
    hidden: Hidden = None,
    segments: Segments = None,
    prior: Prior = None,
    event_judge: EventJudgeFlag = None,
    val_fraction: Annotated[
        float, _option("val_fraction", "--val-fraction", more=" Drawn from each fold's training prompts.")
    ] = None,
    seed: Annotated[int, _option("seed", "--seed", more=" Also deals the folds.")] = None,
    task: Task = None,
    audio_root: AudioRoot = None,
    cache: Cache = None,
    device: Device = None,
    threshold: Annotated[float, typer.Option("--threshold", help=field_help(E, "threshold"))] = 0.5,
    bins: Annotated[int, typer.Option("--bins", help=field_help(E, "bins"))] = 10,
    resamples: Annotated[int, typer.Option("--resamples", help=field_help(E, "resamples"))] = 2000,
    no_progress: NoProgress = False,
    config: Annotated[
        Path, typer.Option("--config", help=CONFIG_HELP + " (the settings of `reward train`)")
    ] = None,
) -> None:
    """Judge the reward model on every labelled clip, out of fold: k heads, each fitted on the other folds'
    prompts (features encoded once), with the figures of `reward eval`. Saves no model."""
    options = dict(locals())
    # the command's work, imported when it runs: `baton --help` imports this module
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


# `--model` names a text-to-audio model in every other command; a reward model is `--reward-model`
# (as in `baton evaluate`). The old spelling still works, with a warning.
OLD_MODEL_FLAG = typer.Option(None, "--model", hidden=True, help="Deprecated: --reward-model.")


@reward_app.command("eval")
def eval_command(
    model: Path = typer.Option(None, "--reward-model", help=field_help(E, "model")),
    old_model: Path = OLD_MODEL_FLAG,
    labels: Path = typer.Option(None, "--labels", help=field_help(E, "labels")),
    pairs: Path = typer.Option(None, "--pairs", help=field_help(E, "pairs")),
    out: Path = typer.Option(None, "--out", help=field_help(E, "out")),
    threshold: float = typer.Option(None, "--threshold", help=field_help(E, "threshold")),
    bins: int = typer.Option(None, "--bins", help=field_help(E, "bins")),
    resamples: int = typer.Option(None, "--resamples", help=field_help(E, "resamples")),
    seed: int = typer.Option(None, "--seed", help=field_help(E, "seed")),
    task: str = typer.Option(None, "--task", help=field_help(E, "task")),
    audio_root: Path = typer.Option(None, "--audio-root", help=field_help(E, "audio_root")),
    cache: Path = typer.Option(None, "--cache", help=field_help(E, "cache")),
    device: str = typer.Option(None, "--device", help=field_help(E, "device")),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide progress bars."),
    config: Path = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Accuracy at 0.5, ROC-AUC and calibration (ECE, reliability plot) per task, with 95% intervals,
    beside the single annotator's agreement with the majority; with --pairs, the pairwise accuracy."""
    # the command's work, imported when it runs: `baton --help` imports this module
    from baton.config import load_config
    from baton.console import console
    from baton.reward.evaluate import EVAL_FILE, evaluate_reward

    settings = load_config(
        RewardEvalConfig,
        config,
        {
            "model": renamed_option(model, old_model, old="--model", new="--reward-model"),
            "labels": labels,
            "pairs": pairs,
            "out": out,
            "threshold": threshold,
            "bins": bins,
            "resamples": resamples,
            "seed": seed,
            "task": task,
            "audio_root": audio_root,
            "cache": cache,
            "device": device,
            "progress": False if no_progress else None,
        },
    )
    _require(settings, model="give the reward model folder (--reward-model)")
    if settings.pairs is None:
        _require(settings, labels="give the labels (--labels) or pairs (--pairs) to judge it on")
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
        device=settings.device,
        progress=settings.progress,
        pairs=settings.pairs,
    )
    if settings.labels is not None:
        console.print(figures_table(result))
    if "pairs" in result:
        figure = interval_text(result["pairs"]["pairwise_accuracy"])
        console.print(f"pairwise accuracy on {result['pairs']['pairs']} pairs: {figure}")
    out = settings.out if settings.out is not None else Path(settings.model) / EVAL_FILE
    console.print(f"figures in [bold]{out}[/], plot {result['plot']} beside it")


def interval_text(figure: dict | None) -> str:
    """``0.812 [0.750, 0.870]``: a figure with its 95% interval; ``-`` for none."""
    if not figure:
        return "-"
    return f"{figure['value']:.3f} [{figure['ci_low']:.3f}, {figure['ci_high']:.3f}]"


def figures_table(result: dict, title: str = "reward model vs held-out labels [95% interval]") -> object:
    """The evaluation as a rich table: one row per task."""
    # the command's work, imported when it runs: `baton --help` imports this module
    from rich.table import Table

    cell = interval_text

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
    model: Path = typer.Option(None, "--reward-model", help=field_help(S, "model")),
    old_model: Path = OLD_MODEL_FLAG,
    samples: Path = typer.Option(None, "--samples", help=field_help(S, "samples")),
    out: Path = typer.Option(None, "--out", help=field_help(S, "out")),
    judge: str = typer.Option(None, "--judge", help=field_help(S, "judge")),
    encoder: str = typer.Option(None, "--encoder", help=field_help(S, "encoder")),
    vocab: str = typer.Option(None, "--vocab", help=field_help(S, "vocab")),
    batch_size: int = typer.Option(None, "--batch-size", help=field_help(S, "batch_size")),
    cache: Path = typer.Option(None, "--cache", help=field_help(S, "cache")),
    device: str = typer.Option(None, "--device", help=field_help(S, "device")),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide the progress bar."),
    config: Path = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Write a RewardRecord (raw score and probability) for every clip of a samples file, from a reward
    model (--model) or a judge (--judge events|clap: AI feedback)."""
    # the command's work, imported when it runs: `baton --help` imports this module
    from baton.config import load_config
    from baton.console import console
    from baton.errors import UsageError
    from baton.reward.score import score_samples, score_with_judge

    settings = load_config(
        RewardScoreConfig,
        config,
        {
            "model": renamed_option(model, old_model, old="--model", new="--reward-model"),
            "samples": samples,
            "out": out,
            "judge": judge,
            "encoder": encoder,
            "vocab": vocab,
            "batch_size": batch_size,
            "cache": cache,
            "device": device,
            "progress": False if no_progress else None,
        },
    )
    _require(settings, samples="give the samples to score (--samples)")
    if settings.model is not None and settings.judge is not None:
        raise UsageError("give a reward model (--reward-model) or a judge (--judge), not both", field="judge")
    if settings.judge is not None:
        path = score_with_judge(
            settings.judge,
            settings.samples,
            settings.out,
            encoder=settings.encoder,
            vocabulary=settings.vocab,
            batch_size=settings.batch_size,
            device=settings.device,
            progress=settings.progress,
        )
    else:
        _require(
            settings, model="give the reward model folder (--reward-model) or a judge (--judge events|clap)"
        )
        path = score_samples(
            settings.model,
            settings.samples,
            settings.out,
            batch_size=settings.batch_size,
            cache=settings.cache,
            device=settings.device,
            progress=settings.progress,
        )
    console.print(f"rewards in [bold]{path}[/]")
