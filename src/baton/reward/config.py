"""Settings of ``baton reward train``, ``eval`` and ``score`` (light: no torch here, for a fast ``--help``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from baton.config import documented, option
from baton.errors import InputError

OBJECTIVES = ("bce", "bradley-terry")
HEAD_KINDS = ("mlp", "temporal")
OPTIMIZERS = ("adam", "adamw")
ENCODER_DEVICE_HELP = (
    "Torch device of the encoder (a transformers CLAP; the world's CLAP and the head run on the CPU)."
)

# Optimiser presets. "baton" is BATON's released training: Adam, lr 0.01, weight decay 1e-5, batch 32,
# 51 epochs, no validation (the last checkpoint is kept). "default" adds early stopping on the
# validation prompts and a gentler learning rate that also suits the temporal head.
PRESETS: dict[str, dict[str, object]] = {
    "baton": {
        "optimizer": "adam",
        "learning_rate": 1e-2,
        "weight_decay": 1e-5,
        "batch_size": 32,
        "epochs": 51,
        "patience": 0,
    },
    "default": {
        "optimizer": "adamw",
        "learning_rate": 1e-3,
        "weight_decay": 1e-4,
        "batch_size": 32,
        "epochs": 200,
        "patience": 20,
    },
}


@documented
@dataclass
class RewardTrainConfig:
    labels: Path | None = option(
        None,
        "Labels: labels.jsonl from `baton annotate export`, a BATON/Tango JSON file (feedback), or a "
        "Label Studio export.",
    )
    pairs: Path | None = option(
        None,
        "People's A/B answers: pairs.jsonl from `baton annotate export --pairs`, or an Audio-Alpaca "
        "file. Trained Bradley-Terry (the chosen clip above the rejected one), beside the labels' objective "
        "when --labels is given too; the pairwise accuracy on held-out pairs is reported.",
    )
    pair_weight: float = option(1.0, "Weight of the pairs' Bradley-Terry loss beside the labels' loss.")
    out: Path = option(Path("reward"), "Folder of the reward model (config.json, model.safetensors, logs).")
    encoder: str = option(
        "world",
        "Frozen encoders: 'world' (the built sound world's CLAP), 'world:DIR', or 'clap:SOURCE' "
        "(transformers ClapModel + ClapProcessor from a folder or hub id, e.g. clap:laion/clap-htsat-unfused).",
    )
    head: str = option(
        "mlp", "'mlp' (BATON: pooled audio+text -> 512 -> 1) or 'temporal' (frames attended by text tokens)."
    )
    objective: str = option(
        "bce",
        "'bce' (BATON: cross-entropy on the mean vote) or 'bradley-terry' (pairs of clips of one prompt "
        "with different labels; then Platt-calibrated).",
    )
    preset: str = option(
        "default",
        "Optimiser preset: 'baton' (Adam, lr 0.01, wd 1e-5, batch 32, 51 epochs, no early stopping) or "
        "'default' (AdamW, lr 1e-3, wd 1e-4, batch 32, up to 200 epochs, early stopping, patience 20).",
    )
    optimizer: str | None = option(None, "Override the preset: 'adam' or 'adamw'.")
    learning_rate: float | None = option(None, "Override the preset's learning rate.")
    weight_decay: float | None = option(None, "Override the preset's weight decay.")
    batch_size: int | None = option(
        None, "Override the preset's batch size (clips, or pairs for bradley-terry)."
    )
    epochs: int | None = option(None, "Override the preset's number of epochs.")
    patience: int | None = option(
        None, "Early stopping: epochs without a better validation loss before stopping (0 = off)."
    )
    hidden: int = option(512, "Hidden units of the MLP (BATON: 512).")
    segments: list[int] = option(
        [3, 4], "Temporal head: resolutions K of its alignment maps (K time segments x K text parts each)."
    )
    prior: bool = option(
        False,
        "Start from the encoder's own text-audio cosine similarity: the head learns a correction to the "
        "encoder's ranking instead of a ranking from nothing (BATON's head starts from nothing).",
    )
    event_judge: bool = option(
        False,
        "Also give the head the open-vocabulary event judge's reading of each clip over the same encoder: "
        "how surely each event the prompt names sounds, the gaps between their onsets, and whether the "
        "judge finds them all (in order, for temporal prompts). The judge needs no labels and ranks event "
        "order far better than a head learns it from a few hundred; the head learns what it misses. "
        "Needs the events each label names.",
    )
    val_fraction: float = option(
        0.2, "Share of each task's prompts held out for validation (split by prompt)."
    )
    seed: int = option(0, "Seed of the split, the weights and the batch order.")
    task: str | None = option(None, "Task of labels that name none (integrity, temporal, single).")
    audio_root: Path | None = option(
        None, "Folder the labels' audio paths are relative to (default: the labels file's folder)."
    )
    cache: Path | None = option(None, "Cache folder for encoder features (default: baton's cache).")
    device: str = option("cpu", ENCODER_DEVICE_HELP)
    progress: bool = option(True, "Show progress bars.")
    report_to: str | list[str] = option(
        "none",
        "Also log train_log.jsonl's scalars (each epoch's) and these settings to trackers (accelerate's):"
        " tensorboard, wandb or none, or a list of them; their files go to OUT/tracking/ (`reward train`"
        " only; see baton.tracking).",
    )

    def resolved(self) -> dict[str, object]:
        """The optimiser settings: the preset's, overridden by the fields that are set."""
        if self.preset not in PRESETS:
            raise InputError(f"must be one of: {', '.join(PRESETS)}", field="preset")
        settings = dict(PRESETS[self.preset])
        for key in settings:
            value = getattr(self, key)
            if value is not None:
                settings[key] = value
        return settings

    def check(self) -> None:
        if self.labels is None and self.pairs is None:
            raise InputError(
                "give the labels file (--labels), the pairs file (--pairs) or both", field="labels"
            )
        if self.pair_weight <= 0:
            raise InputError("must be positive", field="pair_weight")
        if self.head not in HEAD_KINDS:
            raise InputError(f"must be one of: {', '.join(HEAD_KINDS)}", field="head")
        if self.objective not in OBJECTIVES:
            raise InputError(f"must be one of: {', '.join(OBJECTIVES)}", field="objective")
        settings = self.resolved()
        if settings["optimizer"] not in OPTIMIZERS:
            raise InputError(f"must be one of: {', '.join(OPTIMIZERS)}", field="optimizer")
        for key in ("batch_size", "epochs"):
            if int(settings[key]) < 1:  # type: ignore[call-overload]
                raise InputError("must be at least 1", field=key)
        if int(settings["patience"]) < 0:  # type: ignore[call-overload]
            raise InputError("must be 0 (off) or more", field="patience")
        if not self.segments or min(self.segments) < 1:
            raise InputError("must be one or more resolutions of at least 1", field="segments")
        if float(settings["learning_rate"]) <= 0:  # type: ignore[arg-type]
            raise InputError("must be positive", field="learning_rate")
        # imported when used: the command line imports this module at start-up
        from baton.tracking import parse_report_to

        parse_report_to(self.report_to)  # an unknown tracker is named here, before any work
        # imported when used: the command line imports this module at start-up
        from baton.workers import check_device

        check_device(self.device)


@documented
@dataclass
class RewardEvalConfig:
    model: Path | None = option(None, "Reward model folder (from `baton reward train`).")
    labels: Path | None = option(None, "Held-out labels to judge it on (same formats as for training).")
    pairs: Path | None = option(
        None, "Held-out pairs of people's A/B answers (pairs.jsonl or Audio-Alpaca): the pairwise accuracy."
    )
    out: Path | None = option(None, "Evaluation JSON (default: MODEL/eval.json; the plot goes beside it).")
    threshold: float = option(0.5, "Probability at which a clip counts as labelled 1 (BATON: 0.5).")
    bins: int = option(10, "Bins of the reliability diagram and the expected calibration error.")
    resamples: int = option(2000, "Bootstrap resamples for the 95% intervals.")
    seed: int = option(0, "Seed of the bootstrap.")
    task: str | None = option(None, "Task of labels that name none.")
    audio_root: Path | None = option(None, "Folder the labels' audio paths are relative to.")
    cache: Path | None = option(None, "Cache folder for encoder features (default: baton's cache).")
    device: str = option("cpu", ENCODER_DEVICE_HELP)
    progress: bool = option(True, "Show progress bars.")


@documented
@dataclass
class RewardScoreConfig:
    model: Path | None = option(None, "Reward model folder (from `baton reward train`).")
    samples: Path | None = option(None, "samples.jsonl of the clips to score (from `baton generate`).")
    out: Path = option(Path("rewards.jsonl"), "Where to write the RewardRecords (resumes if it exists).")
    judge: str | None = option(
        None,
        "Score with a judge instead of a reward model (AI feedback): 'events' (whether the prompt's "
        "events sound, in order for temporal prompts, read by CLAP over sliding windows) or 'clap' (the "
        "CLAP score of prompt and clip).",
    )
    encoder: str = option(
        "world",
        "The judge's CLAP: 'world' (the built sound world's), 'world:DIR', or 'clap:SOURCE' (a transformers "
        "ClapModel from a folder or hub id, e.g. clap:laion/clap-htsat-unfused).",
    )
    vocab: str | None = option(
        None,
        "Events judge: the events it tells apart, a vocabulary name or YAML file (default: a built-in one "
        "that holds every event the samples name).",
    )
    batch_size: int = option(32, "Clips encoded and scored together.")
    cache: Path | None = option(None, "Cache folder for encoder features (default: baton's cache).")
    device: str = option("cpu", ENCODER_DEVICE_HELP)
    progress: bool = option(True, "Show a progress bar.")
