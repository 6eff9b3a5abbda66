"""The settings of one fine-tuning run (``baton finetune``), each with its help text.

Defaults are BATON's (Stage 3 of ``BATON_SPEC.md``): pretraining weight beta 0.25, Min-SNR gamma 5,
AdamW at 1e-5 with betas (0.9, 0.999) and weight decay 1e-2, gradient accumulation 4, a linear
schedule, the best checkpoint by validation loss at t = T/2. The Diffusion-DPO defaults are Tango 2's
(beta 2000); its learning rate (~1e-6) is left to the user.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from baton.config import documented, option
from baton.errors import InputError
from baton.tracking import parse_report_to

# A run folder's layout: the tuned model, the training log, and the run's record (its format).
MODEL_DIR = "model"
TRAIN_LOG = "train_log.jsonl"
RUN_FILE = "finetune.json"
FORMAT = "baton-finetune"

Method = Literal["baton", "dpo", "sft", "control"]
METHODS: tuple[str, ...] = ("baton", "dpo", "sft", "control")


@documented
@dataclass
class FinetuneConfig:
    # --- what to tune, on what -------------------------------------------------------------------
    method: Method = option(
        "baton",
        "baton: reward-weighted denoising loss plus beta x the pretraining loss; dpo: Diffusion-DPO "
        "against a frozen copy of the model (Tango 2); sft: plain fine-tuning on the clips labelled 1; "
        "control: the same on every clip, labels ignored (what self-training alone does).",
    )
    backend: str = option("world", "Text-to-audio backend: world, tango, audioldm2, stable-audio.")
    model: str | None = option(None, "Base model folder or hub id (default: the backend's own).")
    labels: Path | None = option(None, "Human labels (labels.jsonl from `baton annotate export`).")
    rewards: Path | None = option(None, "Reward-model labels (rewards.jsonl from `baton reward score`).")
    pairs: Path | None = option(
        None,
        "dpo: people's A/B answers, pairs.jsonl from `baton annotate export --pairs` or an Audio-Alpaca "
        "file: each pair more people decided one way trains as (chosen, rejected), beside the pairs built "
        "from --labels and --rewards if given.",
    )
    pretrain: Path | None = option(
        None,
        "Pretraining set for --method baton: a JSON Lines file of captions with audio (fields text or "
        "caption(s), and path, location or file_name) or a world corpus (.npz/.json). Default for the "
        "world backend: the world's own corpus.",
    )
    out: Path = option(Path("finetuned"), "Output folder: model/, train_log.jsonl, checkpoints/.")
    sampled_latents: bool = option(
        True,
        "Train a generated clip on the latents it was sampled as, where `baton generate` kept them and "
        "they fit this model (else on its audio, encoded).",
    )
    # --- the objective ---------------------------------------------------------------------------
    beta: float = option(
        0.25, "BATON: weight of the pretraining loss (BATON: 0.25 for Tango, 0.5 for AudioLDM)."
    )
    reward_mode: Literal["soft", "hard"] = option(
        "soft",
        "soft: a human-labelled clip's reward is its mean vote, a reward-labelled clip's its probability; "
        "hard: 1 or 0 (majority label; probability >= --reward-threshold).",
    )
    reward_threshold: float = option(0.5, "Threshold of hard rewards and of 'labelled 1' for sft.")
    human_share: float | None = option(
        None,
        "Share of each feedback batch drawn from the human labels (the rest from the reward-labelled "
        "clips); default: in proportion to their sizes.",
    )
    snr_gamma: float = option(5.0, "Min-SNR weighting's gamma (0 = unweighted), for baton and sft.")
    snr_weighting: Literal["min-snr", "tango"] = option(
        "min-snr",
        "min-snr: min(SNR, gamma) / SNR for epsilon, / (SNR + 1) for v, min(SNR, gamma) for x0 targets "
        "(Hang et al.); tango: min(SNR, gamma) / SNR for every target, as Tango's and BATON's code.",
    )
    snr_floor: float | None = option(
        None,
        "min-snr: the noisiest steps' smallest weight, clamp(SNR, floor, gamma) on the x0 error (1 = "
        "truncated SNR); default: the backend's pretraining floor (world: 1, others: 0).",
    )
    timestep_low: float = option(
        0.0,
        "Every loss draws its timesteps from [timestep_low, timestep_high) of the noise schedule, as"
        " fractions of it (0 to 1: all of it, as BATON; 0.5 to 1: only the noisier half, where a"
        " clip's events are laid out, like diffusers' timestep bias 'later').",
    )
    timestep_high: float = option(1.0, "See timestep_low.")
    text_dropout: float = option(
        0.0,
        "Share of training rows whose caption is replaced by the empty prompt, guidance's unconditional"
        " input, so that the unconditional prediction is trained too (0 = never, as BATON; the world"
        " model was pretrained with 0.1).",
    )
    train_guidance: float = option(
        1.0,
        "Fit the feedback clips with the guided prediction u + s (c - u) at this scale, u held fixed,"
        " instead of the caption's prediction c (1 = BATON); give the scale the clips were sampled with.",
    )
    train_guidance_rescale: float = option(
        0.0, "Guidance rescale phi of that guided prediction (the world model samples with 0.7)."
    )
    dpo_beta: float = option(2000.0, "DPO: strength of the preference term (Tango 2: 2000).")
    dpo_margin: float = option(
        0.5, "DPO: a pair is two clips of one prompt whose rewards differ by at least this."
    )
    # --- optimisation ----------------------------------------------------------------------------
    steps: int = option(100, "Optimizer steps.")
    seed: int = option(0, "Seed of every draw (batches, noise, timesteps, validation split).")
    batch_size: int = option(
        8, "Feedback clips (DPO: pairs) per micro-batch, over all processes (a multiple of their number)."
    )
    pretrain_batch_size: int | None = option(
        None, "BATON: pretraining clips per micro-batch (default: batch size)."
    )
    grad_accum: int = option(4, "Micro-batches per optimizer step (gradient accumulation).")
    learning_rate: float = option(1e-5, "Peak AdamW learning rate.")
    lr_schedule: Literal["linear", "constant"] = option(
        "linear", "After warm-up: linear decay to 0 at the last step, or constant."
    )
    warmup_steps: int = option(0, "Steps of linear learning-rate warm-up.")
    weight_decay: float = option(1e-2, "AdamW weight decay.")
    adam_beta1: float = option(0.9, "AdamW beta1.")
    adam_beta2: float = option(0.999, "AdamW beta2.")
    adam_epsilon: float = option(1e-8, "AdamW epsilon.")
    max_grad_norm: float = option(1.0, "Clip the gradient's global norm to this (0 = no clipping).")
    mixed_precision: Literal["no", "bf16", "fp16"] = option(
        "no", "Mixed precision of the forward passes (fp16 needs a GPU)."
    )
    dtype: Literal["float32", "float16", "bfloat16"] = option(
        "float32",
        "Weights of a real backend's frozen parts (text encoders, VAE, vocoder) as loaded and as saved: "
        "float16 and bfloat16 take half the memory. The trained weights stay float32 (with --mixed-"
        "precision for half-precision passes). The world backend is float32 only.",
    )
    gradient_checkpointing: bool = option(
        False,
        "Recompute the denoiser's activations in the backward pass instead of keeping them: much less "
        "memory, about a third more time a step (UNet and DiT backends; the world's denoiser has none).",
    )
    ema_decay: float = option(
        0.0, "Keep an exponential moving average of the weights with this decay (0 = off); it is saved."
    )
    train_text_encoder: bool = option(
        False,
        "Train the text encoder with the denoiser (world and tango backends; BATON keeps it frozen). The"
        " world's small encoder must learn event order for a tuned order to carry to new event sets.",
    )
    lora_rank: int = option(
        0, "Train LoRA adapters of this rank instead of every weight (0 = full fine-tuning)."
    )
    lora_alpha: float | None = option(None, "LoRA alpha (default: the rank).")
    lora_targets: list[str] = option(
        [], "Module names LoRA adapts (default: every linear layer of the denoiser)."
    )
    # --- validation, checkpoints, output ---------------------------------------------------------
    val_fraction: float = option(
        0.1, "Share of the prompts (and pretraining clips) held out for the validation loss (0 = none)."
    )
    val_timestep: int | None = option(None, "Timestep of the validation loss (default: T/2, as BATON).")
    eval_every: int | None = option(None, "Validation every N steps (default: as checkpoints).")
    checkpoint_every: int | None = option(None, "Checkpoint every N steps (default: 5 times a run).")
    keep_checkpoints: int = option(2, "Checkpoints kept (the newest); the best weights are kept apart.")
    select: Literal["best", "last"] = option(
        "best", "Which weights model/ holds: best validation loss (BATON) or the last step."
    )
    resume: bool = option(False, "Continue from the newest checkpoint in --out (starts afresh if none).")
    stop_after: int | None = option(
        None, "Stop (with a checkpoint) after this many steps of this run, to resume later."
    )
    log_every: int = option(1, "Write a train_log.jsonl line every N steps (losses averaged over them).")
    report_to: str | list[str] = option(
        "none",
        "Also log train_log.jsonl's scalars and these settings to trackers (accelerate's): tensorboard,"
        " wandb or none, or a list of them; their files go to OUT/tracking/ (see baton.tracking).",
    )
    device: str = option(
        "cpu",
        "Torch device: cpu, or cuda / mps / xpu without an index (accelerate gives each process its own "
        "device of that kind).",
    )
    progress: bool = option(True, "Show progress bars.")

    def __post_init__(self) -> None:
        positive = ("steps", "batch_size", "grad_accum", "log_every", "keep_checkpoints")
        for name in positive:
            if getattr(self, name) < 1:
                raise InputError(f"must be at least 1, got {getattr(self, name)}", field=name)
        for name in ("pretrain_batch_size", "eval_every", "checkpoint_every", "stop_after"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InputError(f"must be at least 1, got {value}", field=name)
        if self.method not in METHODS:
            raise InputError(f"choose one of {', '.join(METHODS)}, got '{self.method}'", field="method")
        checks = [
            ("beta", self.beta >= 0, "must be >= 0"),
            ("reward_threshold", 0.0 <= self.reward_threshold <= 1.0, "must be in [0, 1]"),
            ("human_share", self.human_share is None or 0.0 <= self.human_share <= 1.0, "must be in [0, 1]"),
            ("snr_gamma", self.snr_gamma >= 0, "must be >= 0"),
            ("snr_floor", self.snr_floor is None or self.snr_floor >= 0, "must be >= 0"),
            ("text_dropout", 0.0 <= self.text_dropout < 1.0, "must be in [0, 1)"),
            ("timestep_low", 0.0 <= self.timestep_low < 1.0, "must be in [0, 1)"),
            ("timestep_high", self.timestep_low < self.timestep_high <= 1.0, "must be in (timestep_low, 1]"),
            ("train_guidance", self.train_guidance >= 1.0, "must be >= 1"),
            ("train_guidance_rescale", 0.0 <= self.train_guidance_rescale <= 1.0, "must be in [0, 1]"),
            ("dpo_beta", self.dpo_beta > 0, "must be > 0"),
            ("dpo_margin", 0.0 < self.dpo_margin <= 1.0, "must be in (0, 1]"),
            ("learning_rate", self.learning_rate > 0, "must be > 0"),
            ("warmup_steps", self.warmup_steps >= 0, "must be >= 0"),
            ("weight_decay", self.weight_decay >= 0, "must be >= 0"),
            ("max_grad_norm", self.max_grad_norm >= 0, "must be >= 0"),
            ("ema_decay", 0.0 <= self.ema_decay < 1.0, "must be in [0, 1)"),
            ("lora_rank", self.lora_rank >= 0, "must be >= 0"),
            ("val_fraction", 0.0 <= self.val_fraction < 1.0, "must be in [0, 1)"),
        ]
        for name, ok, message in checks:
            if not ok:
                raise InputError(f"{message}, got {getattr(self, name)}", field=name)
        if self.train_text_encoder and self.lora_rank:
            raise InputError(
                "LoRA adapts the denoiser alone: train the text encoder with full fine-tuning (--lora-rank 0)",
                field="train_text_encoder",
            )
        if self.snr_weighting == "tango" and (self.snr_floor or 0.0) > 0:
            raise InputError("Tango's weighting has no floor: use --snr-weighting min-snr", field="snr_floor")
        if self.labels is None and self.rewards is None and self.pairs is None:
            raise InputError(
                "give --labels, --rewards or both (or --pairs for dpo): the feedback to tune on",
                field="labels",
            )
        if self.pairs is not None and self.method != "dpo":
            raise InputError(
                "people's pairs train DPO: use --method dpo, or give labels instead", field="pairs"
            )
        # One form from here on, whichever was given (a name, "a,b", a list): the trackers' names.
        self.report_to = parse_report_to(self.report_to)

    @property
    def micro_pretrain_batch(self) -> int:
        return self.batch_size if self.pretrain_batch_size is None else self.pretrain_batch_size

    @property
    def uses_pretrain(self) -> bool:
        return self.method == "baton" and self.beta > 0
