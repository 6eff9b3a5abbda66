"""The training machinery around an objective: accelerate, LoRA, EMA, gradients, checkpoints.

* **accelerate** sets up the processes (``accelerate launch``: one per GPU, or CPU workers joined in
  a gloo group), the device, mixed-precision autocast and fp16 loss scaling, and the collectives.
* **Gradients across processes** are averaged by hand, once per optimizer step, after the
  micro-batches of gradient accumulation. A backend calls its own denoiser from ``predict``, so the
  denoiser cannot be called through a DistributedDataParallel wrapper; one all-reduce per step is
  also exactly what DDP's ``no_sync`` accumulation does.
* **Checkpoints** (``checkpoints/step-NNNNNNNN/``) hold what the run cannot recompute: the trainable
  weights and their moving average (safetensors), the optimizer state, and the step. Batches,
  noise and timesteps are functions of (seed, step), so a resumed run continues exactly.
* **LoRA** (peft) adapters are injected into the denoiser in place, so the backend's ``predict``
  runs them, and merged into its weights before the model is saved in the backend's format.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Collection
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from accelerate import Accelerator
from safetensors.torch import load_file

from baton.artifacts import folder_written_whole, save_safetensors, step_folders
from baton.errors import InputError
from baton.tracking import accelerator_kwargs, release_accelerator
from baton.workers import check_device

if TYPE_CHECKING:
    from collections.abc import Iterator

    from baton.finetune.config import FinetuneConfig

CHECKPOINTS = "checkpoints"
BEST = "best"
STATE_FILE = "state.json"
WEIGHTS_FILE = "trainable.safetensors"
EMA_FILE = "ema.safetensors"
OPTIMIZER_FILE = "optimizer.pt"
SCALER_FILE = "scaler.pt"

# Settings a resumed run must share with the checkpoint it continues: they shape the batches, the
# loss or the trainable weights. The rest (steps, learning rate, cadence, output) may change.
RESUME_FIXED = (
    "method",
    "backend",
    "model",
    "labels",
    "rewards",
    "pretrain",
    "seed",
    "batch_size",
    "pretrain_batch_size",
    "grad_accum",
    "beta",
    "reward_mode",
    "sampled_latents",
    "reward_threshold",
    "human_share",
    "snr_gamma",
    "snr_weighting",
    "snr_floor",
    "dpo_beta",
    "dpo_margin",
    "ema_decay",
    "lora_rank",
    "lora_alpha",
    "lora_targets",
    "dtype",
    "val_fraction",
    "val_timestep",
    "timestep_low",
    "timestep_high",
)


# --- processes ----------------------------------------------------------------------------------------


def check_device_for_accelerate(device: str) -> str:
    """``device`` as a fine-tuning run can honour it: one this machine has
    (:func:`baton.workers.check_device`), named by its kind alone.

    accelerate, not the run, places each process: ``cpu`` asks for CPU workers (its ``cpu`` flag);
    any other kind is accelerate's own choice of accelerator, ``cuda:<local rank>`` for a process on
    GPUs. So a numbered device (``cuda:1``) cannot be honoured and is refused rather than ignored.
    """
    name = check_device(device)
    kind, _, index = name.partition(":")
    if index:
        raise InputError(
            f"'{device}': under accelerate each process takes its own {kind} device ({kind}:<local rank>);"
            f" give --device {kind} and choose the devices when launching (e.g. CUDA_VISIBLE_DEVICES)",
            field="device",
        )
    return name


def make_accelerator(config: FinetuneConfig) -> Any:
    """An ``Accelerator`` for this run: CPU workers (gloo) for ``device="cpu"``, else the launch's GPUs,
    with the trackers of ``report_to`` (:mod:`baton.tracking`).

    The device accelerate chose must be of the kind asked for (a launch with ``--cpu`` runs on CPUs
    whatever ``--device`` says): a run never trains on another device than the one it records.
    """
    device = check_device_for_accelerate(config.device)
    if config.mixed_precision == "fp16" and device == "cpu":
        raise InputError("fp16 needs a GPU; on CPU use bf16 or no", field="mixed_precision")

    accelerator = Accelerator(
        cpu=device == "cpu",
        mixed_precision=config.mixed_precision,
        **accelerator_kwargs(config.report_to, config.out),
    )
    if accelerator.device.type != device:
        chosen = accelerator.device
        release_accelerator(accelerator)
        raise InputError(
            f"'{device}' was asked for, but accelerate runs this process on {chosen} (how it was "
            "launched decides): give that device, or launch otherwise",
            field="device",
        )
    return accelerator


def average_gradients(params: list[torch.nn.Parameter], accelerator: Any, bucket: int = 1 << 24) -> None:
    """Replace every gradient by its mean over the processes (a missing gradient counts as zero)."""
    if accelerator.num_processes == 1:
        return
    group: list[torch.nn.Parameter] = []
    size = 0
    for p in [*params, None]:
        if p is not None:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            group.append(p)
            size += p.numel()
        if group and (p is None or size >= bucket):
            flat = torch.cat([q.grad.reshape(-1) for q in group])
            flat = accelerator.reduce(flat, reduction="mean")
            offset = 0
            for q in group:
                q.grad.copy_(flat[offset : offset + q.numel()].view_as(q.grad))
                offset += q.numel()
            group, size = [], 0


def learning_rate(step: int, config: FinetuneConfig) -> float:
    """The rate of optimizer step ``step`` (0-based): linear warm-up, then linear decay to 0 or constant."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    if config.lr_schedule == "constant":
        return config.learning_rate
    remaining = config.steps - step
    return config.learning_rate * max(0.0, remaining / max(1, config.steps - config.warmup_steps))


def enable_gradient_checkpointing(backend: Any, name: str) -> None:
    """Gradient checkpointing of the denoiser (``--gradient-checkpointing``): the backend's own
    ``enable_gradient_checkpointing`` if it has one, else the diffusers denoiser's; a denoiser with
    neither is refused by name."""
    hook = getattr(backend, "enable_gradient_checkpointing", None)
    if callable(hook):
        hook()
        return
    denoiser = backend.denoiser
    if not getattr(denoiser, "_supports_gradient_checkpointing", False):
        raise InputError(
            f"the {name} backend's denoiser ({type(denoiser).__name__}) has no gradient checkpointing",
            field="gradient_checkpointing",
        )
    denoiser.enable_gradient_checkpointing()


# --- LoRA -------------------------------------------------------------------------------------------


def linear_layer_names(module: torch.nn.Module) -> list[str]:
    return [name for name, m in module.named_modules() if isinstance(m, torch.nn.Linear) and name]


def add_lora(denoiser: torch.nn.Module, config: FinetuneConfig) -> list[Any]:
    """Inject LoRA adapters into ``denoiser`` in place; only they train. Returns the adapted layers."""
    # peft imports transformers, a second of every fine-tuning process's start: only with LoRA.
    from peft import LoraConfig, inject_adapter_in_model
    from peft.tuners.tuners_utils import BaseTunerLayer

    targets = list(config.lora_targets) or linear_layer_names(denoiser)
    if not targets:
        raise InputError(
            "the denoiser has no linear layers for LoRA: name some with --lora-targets", field="lora_targets"
        )
    lora = LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha if config.lora_alpha is not None else config.lora_rank,
        target_modules=targets,
        init_lora_weights=True,  # B = 0: the adapted model starts as the base model
    )
    try:
        inject_adapter_in_model(lora, denoiser)
    except ValueError as exc:
        raise InputError(f"LoRA cannot adapt these modules: {exc}", field="lora_targets") from None
    layers = [m for m in denoiser.modules() if isinstance(m, BaseTunerLayer)]
    for name, p in denoiser.named_parameters():
        p.requires_grad_("lora_" in name)
    return layers


def merge_lora(denoiser: torch.nn.Module) -> None:
    """Fold every LoRA adapter into its base layer and put the base layer back in its place."""
    # peft imports transformers: only with LoRA (see add_lora)
    from peft.tuners.tuners_utils import BaseTunerLayer

    for name, module in list(denoiser.named_modules()):
        if isinstance(module, BaseTunerLayer) and name:
            module.merge()
            parent_name, _, child = name.rpartition(".")
            parent = denoiser.get_submodule(parent_name) if parent_name else denoiser
            setattr(parent, child, module.get_base_layer())


# --- moving average -------------------------------------------------------------------------------------


class EMA:
    """An exponential moving average of the trainable weights: avg <- decay * avg + (1 - decay) * w."""

    def __init__(self, params: dict[str, torch.nn.Parameter], decay: float) -> None:
        self.decay = decay
        self.shadow = {name: p.detach().clone() for name, p in params.items()}

    @torch.no_grad()
    def update(self, params: dict[str, torch.nn.Parameter]) -> None:
        for name, p in params.items():
            self.shadow[name].lerp_(p.detach(), 1.0 - self.decay)

    @contextmanager
    def applied(self, params: dict[str, torch.nn.Parameter]) -> Iterator[None]:
        """The averaged weights in the model for the duration (validation, saving)."""
        saved = {name: p.detach().clone() for name, p in params.items()}
        copy_into(params, self.shadow)
        try:
            yield
        finally:
            copy_into(params, saved)


@torch.no_grad()
def copy_into(params: dict[str, torch.nn.Parameter], values: dict[str, torch.Tensor]) -> None:
    for name, p in params.items():
        p.copy_(values[name].to(p.device, p.dtype))


# --- checkpoints --------------------------------------------------------------------------------------------


def checkpoint_dirs(out: Path) -> list[Path]:
    """Complete checkpoints (their state.json is written last), oldest first."""
    return step_folders(out / CHECKPOINTS, STATE_FILE)


def _tensors(values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: t.detach().cpu().contiguous() for name, t in values.items()}


def save_checkpoint(
    out: Path,
    step: int,
    params: dict[str, torch.nn.Parameter],
    ema: EMA | None,
    optimizer: Any,
    scaler: Any,
    state: dict[str, Any],
    keep: int,
) -> Path:
    """Write checkpoint ``step`` (into a temporary folder, renamed when complete); drop old ones."""
    final = out / CHECKPOINTS / f"step-{step:08d}"
    with folder_written_whole(final) as partial:
        save_safetensors(_tensors(params), partial / WEIGHTS_FILE)
        if ema is not None:
            save_safetensors(_tensors(ema.shadow), partial / EMA_FILE)
        torch.save(optimizer.state_dict(), partial / OPTIMIZER_FILE)
        if scaler is not None:
            torch.save(scaler.state_dict(), partial / SCALER_FILE)
        (partial / STATE_FILE).write_text(json.dumps({"step": step, **state}, indent=2))
    for old in checkpoint_dirs(out)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(
    folder: Path, params: dict[str, torch.nn.Parameter], ema: EMA | None, optimizer: Any, scaler: Any
) -> dict[str, Any]:
    """Restore weights, average, optimizer (and loss scaler) from ``folder``; return its state.json."""
    weights = load_file(str(folder / WEIGHTS_FILE))
    if set(weights) != set(params):
        raise InputError(
            "the checkpoint's trainable weights do not match this model (another backend, model or LoRA "
            "setting?)",
            path=folder / WEIGHTS_FILE,
        )
    copy_into(params, weights)
    if ema is not None:
        ema.shadow = {k: v.to(params[k].device) for k, v in load_file(str(folder / EMA_FILE)).items()}
    optimizer.load_state_dict(torch.load(folder / OPTIMIZER_FILE, map_location="cpu", weights_only=True))
    if scaler is not None and (folder / SCALER_FILE).exists():
        scaler.load_state_dict(torch.load(folder / SCALER_FILE, weights_only=True))
    return json.loads((folder / STATE_FILE).read_text())


def save_best(out: Path, step: int, val_loss: float, values: dict[str, torch.Tensor]) -> None:
    """Keep the weights of the best validation loss so far in ``checkpoints/best/``."""
    with folder_written_whole(out / CHECKPOINTS / BEST) as partial:
        save_safetensors(_tensors(values), partial / WEIGHTS_FILE)
        (partial / STATE_FILE).write_text(json.dumps({"step": step, "val_loss": val_loss}))


def read_best(out: Path) -> dict[str, Any] | None:
    path = out / CHECKPOINTS / BEST / STATE_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def load_best(out: Path) -> dict[str, torch.Tensor]:
    return load_file(str(out / CHECKPOINTS / BEST / WEIGHTS_FILE))


def check_resumable(
    saved: dict[str, Any], config: dict[str, Any], folder: Path, same_bytes: Collection[str] = ()
) -> None:
    """The settings that shape the run must be the checkpoint's; a data file named in ``same_bytes``
    (its bytes the run's, read from another path) is the same setting."""
    for name in RESUME_FIXED:
        if name in saved and saved[name] != config.get(name) and name not in same_bytes:
            raise InputError(
                f"the run in this folder used {name}={saved[name]!r}, this one asks for {config.get(name)!r}: "
                "resume with the same settings or choose another --out",
                path=folder,
                field=name,
            )


def finite(value: float) -> bool:
    return not (math.isnan(value) or math.isinf(value))
