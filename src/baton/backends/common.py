"""What the diffusers-based backends (``tango``, ``audioldm2``, ``stable-audio``) share.

* finding a model: a local folder, or a Hugging Face hub id fetched with ``snapshot_download``
  (which honours ``HF_HUB_OFFLINE``), with one clear error when neither works;
* ``baton_backend.json``, the small manifest every folder baton saves carries: which backend wrote
  it, its recommended generation settings and its audio front end, so that a folder from another
  backend is refused by name instead of failing deep inside a loader;
* checks that a folder holds what a loader needs, before the loader trips over it;
* reading a PyTorch ``.bin`` state dict with ``torch.load(weights_only=True)``, said out loud;
* per-clip random generators, batch and prompt-length checks, and audio preparation (resampling,
  AudioLDM's peak normalisation, padding to a fixed length).
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from huggingface_hub import snapshot_download
from torch.utils.checkpoint import checkpoint

from baton.artifacts import give_safetensors_plain_mode, read_json, write_json
from baton.audio import resample
from baton.backends.base import GenerationSettings
from baton.console import info
from baton.errors import InputError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    import numpy as np
    import torch

# Weights a real backend loads in (--dtype): float32, or half the memory in float16 / bfloat16.
DTYPES = ("float32", "float16", "bfloat16")
MANIFEST_FILE = "baton_backend.json"
MANIFEST_VERSION = 1
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


# --- finding a model --------------------------------------------------------------------------------


def resolve_model_dir(model: str | Path, *, download: Callable[[str], str] | None = None) -> Path:
    """A local folder for ``model``: the folder itself, or a hub snapshot of ``owner/name``.

    ``download(repo_id)`` fetches a hub model and returns its local folder (default:
    ``huggingface_hub.snapshot_download``; the pipeline backends pass diffusers' ``download``, which
    fetches only the files the pipeline loads). With ``HF_HUB_OFFLINE=1`` only the local hub cache
    is consulted.
    """
    path = Path(model).expanduser()
    if path.exists():
        if not path.is_dir():
            raise InputError("expected a model folder, found a file", path=path, field="model")
        return path
    if not _HUB_ID.match(str(model)):
        raise InputError("model folder not found", path=path, field="model")
    try:
        return Path((download or _snapshot)(str(model)))
    except Exception as exc:  # offline, unknown repo, gated repo, network: all the same to the user
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"'{model}' is not a folder here and could not be fetched from the Hugging Face hub "
            f"({type(exc).__name__}: {reason})",
            field="model",
        ) from None


def _snapshot(repo_id: str) -> str:
    return snapshot_download(repo_id=repo_id)


def load_pretrained(
    load: Callable[[str], Any], source: str | Path, what: str, *, model_type: str | None = None
) -> Any:
    """``load(source)`` (a transformers ``from_pretrained``) for a folder or hub id, or one line that says
    what to download.

    ``model_type`` (``"clap"``, ``"audio-spectrogram-transformer"``) is checked against the folder's
    ``config.json`` first, so that a folder of another model is named as such rather than loaded with
    random weights where its keys do not fit. A hub id is read from the Hugging Face cache (or fetched,
    unless ``HF_HUB_OFFLINE=1``).
    """
    path = Path(source).expanduser()
    local = path.exists()
    if not local and not _HUB_ID.match(str(source)):
        raise InputError(f"no such folder for the {what} (nor is it a hub id, owner/name)", path=path)
    name = str(path.resolve()) if local else str(source)
    try:
        with quiet_progress():
            if model_type is not None:
                # transformers: heavy; only a model that must say its type reads its config here
                from transformers import AutoConfig

                found = AutoConfig.from_pretrained(name).model_type
                if found != model_type:
                    raise InputError(
                        f"this is a '{found}' model; the {what} is a '{model_type}' one", path=name
                    )
            return load(name)
    except (OSError, ValueError, KeyError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if local:
            raise InputError(f"cannot load the {what} from this folder ({reason})", path=path) from None
        raise InputError(
            f"the {what} '{source}' is neither a folder here nor in the Hugging Face cache: download it "
            f"first (hf download {source}) or give the folder that holds it",
        ) from None


def require_entries(folder: Path, names: Sequence[str], what: str) -> None:
    """Raise one error listing every file or subfolder of ``names`` that ``folder`` lacks."""
    missing = [name for name in names if not (folder / name).exists()]
    if missing:
        listed = ", ".join(f"'{name}'" for name in missing)
        raise InputError(f"{what} is missing {listed}", path=folder)


def torch_dtype(name: str) -> torch.dtype:
    """The torch dtype of a ``--dtype`` name (one of :data:`DTYPES`)."""
    if name not in DTYPES:
        raise InputError(f"choose one of {', '.join(DTYPES)}, got '{name}'", field="dtype")
    return getattr(torch, name)


# --- the manifest -----------------------------------------------------------------------------------


def write_manifest(folder: Path, backend: str, settings: GenerationSettings, **extra: Any) -> None:
    write_json(
        folder / MANIFEST_FILE,
        {"backend": backend, "version": MANIFEST_VERSION, "default_settings": asdict(settings), **extra},
    )


def read_manifest(folder: Path, backend: str) -> dict[str, Any] | None:
    """The folder's manifest (``None`` if it has none); refuses one written by another backend."""
    path = folder / MANIFEST_FILE
    if not path.exists():
        return None
    data = read_json(path)
    if not isinstance(data, dict) or "backend" not in data:
        raise InputError("not a baton backend manifest (no 'backend' key)", path=path)
    if data["backend"] != backend:
        raise InputError(
            f"this folder holds a '{data['backend']}' model, not a '{backend}' one: "
            f"use --backend {data['backend']}",
            path=path,
            field="backend",
        )
    version = data.get("version")
    if not isinstance(version, int) or version > MANIFEST_VERSION:
        raise InputError(
            f"manifest version {version!r} is newer than this baton reads ({MANIFEST_VERSION}); upgrade baton",
            path=path,
            field="version",
        )
    return data


def settings_from_manifest(data: dict[str, Any] | None, fallback: GenerationSettings) -> GenerationSettings:
    if not data or not isinstance(data.get("default_settings"), dict):
        return fallback
    known = {
        k: v for k, v in data["default_settings"].items() if k in GenerationSettings.__dataclass_fields__
    }
    return GenerationSettings(**known).resolved(fallback)


def check_pipeline_folder(folder: Path, pipeline_class: str, backend: str) -> None:
    """A diffusers pipeline folder: ``model_index.json`` names ``pipeline_class`` and every part exists."""
    index_path = folder / "model_index.json"
    if not index_path.exists():
        raise InputError(
            f"no model_index.json: not a diffusers pipeline folder (the {backend} backend needs a "
            f"{pipeline_class} folder or hub id)",
            path=folder,
        )
    index = read_json(index_path)
    found = index.get("_class_name") if isinstance(index, dict) else None
    if found != pipeline_class:
        raise InputError(
            f"this is a {found} folder; the {backend} backend reads {pipeline_class} folders",
            path=index_path,
            field="_class_name",
        )
    parts = [
        name
        for name, value in index.items()
        if not name.startswith("_") and isinstance(value, list) and value[0] is not None
    ]
    require_entries(folder, parts, f"this {pipeline_class} folder (see model_index.json)")
    for name in parts:
        if not any((folder / name).iterdir()):
            raise InputError(f"'{name}/' is empty", path=folder / name)


def load_pipeline(
    model: str | Path, pipeline_cls: Any, backend: str, what: str, dtype: str = "float32"
) -> tuple[Any, Path, dict[str, Any] | None]:
    """A diffusers pipeline from a folder or hub id, checked first: ``(pipeline, folder, manifest)``.

    ``what`` names the pipeline in errors ("the AudioLDM 2 pipeline"); a folder written by another
    backend, a folder of another pipeline class or one missing a part is refused before loading.
    Every part's weights are loaded in ``dtype`` (one of :data:`DTYPES`).
    """
    torch_type = torch_dtype(dtype)
    folder = resolve_model_dir(model, download=pipeline_cls.download)
    manifest = read_manifest(folder, backend)
    check_pipeline_folder(folder, pipeline_cls.__name__, backend)
    try:
        with quiet_progress():
            pipe = pipeline_cls.from_pretrained(folder, dtype=torch_type)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot load {what}: {reason}", path=folder) from None
    return pipe, folder, manifest


def save_pipeline(
    pipe: Any, path: str | Path, backend: str, settings: GenerationSettings, **extra: Any
) -> None:
    """A diffusers pipeline folder (safetensors, ``from_pretrained`` reads it) plus our manifest."""
    folder = Path(path)
    with quiet_progress():
        pipe.save_pretrained(folder, safe_serialization=True)
    give_safetensors_plain_mode(folder)
    write_manifest(folder, backend, settings, **extra)


# --- weights ----------------------------------------------------------------------------------------


@contextmanager
def quiet_progress() -> Iterator[None]:
    """No diffusers/transformers progress bars while loading or saving parts (restored afterwards)."""
    # transformers takes a second to import: only where a hub model loads
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    was = (diffusers_logging.is_progress_bar_enabled(), transformers_logging.is_progress_bar_enabled())
    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was[0]:
            diffusers_logging.enable_progress_bar()
        if was[1]:
            transformers_logging.enable_progress_bar()


def checkpoint_modules(root: torch.nn.Module, types: tuple[type, ...]) -> int:
    """Gradient checkpointing by hand: every submodule of ``root`` of one of ``types`` recomputes its
    activations in the backward pass instead of keeping them (``torch.utils.checkpoint``, non-reentrant,
    so keyword arguments pass through). Without gradients it runs as before. Returns how many."""

    def checkpointed(forward: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            if torch.is_grad_enabled():
                return checkpoint(forward, *args, use_reentrant=False, **kwargs)
            return forward(*args, **kwargs)

        return run

    modules = [m for m in root.modules() if isinstance(m, types)]
    for module in modules:
        module.forward = checkpointed(module.forward)
    return len(modules)


def load_torch_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A ``.bin`` state dict read with ``torch.load(weights_only=True)``: tensors only, no code runs."""
    info(f"reading {path} with torch.load(weights_only=True): tensors only, no pickled code is run")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InputError(f"cannot read as a PyTorch state dict: {exc}", path=path) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(hasattr(v, "shape") for v in state.values()):
        raise InputError("not a state dict (a mapping of names to tensors)", path=path)
    return state


def check_state_dict(
    loaded: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], path: Path, what: str
) -> None:
    """Same keys and shapes as ``expected``, or an error naming the first few differences."""
    missing = sorted(set(expected) - set(loaded))
    unexpected = sorted(set(loaded) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
        raise InputError(f"{what} weights do not match the model: {'; '.join(parts)}", path=path)
    for key, tensor in expected.items():
        if tuple(loaded[key].shape) != tuple(tensor.shape):
            raise InputError(
                f"{what} weight '{key}' has shape {tuple(loaded[key].shape)}, the model expects "
                f"{tuple(tensor.shape)}",
                path=path,
            )


# --- generation helpers -----------------------------------------------------------------------------


def check_batch(texts: Sequence[str], seeds: Sequence[int]) -> None:
    if len(texts) != len(seeds):
        raise InputError(f"{len(texts)} texts but {len(seeds)} seeds", field="seeds")
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"prompt {i + 1} is empty", field="text")


def clip_generators(seeds: Sequence[int], device: torch.device | str) -> list[torch.Generator]:
    """One generator per clip, seeded with the clip's seed: clip i's noise depends on seeds[i] only."""
    device = torch.device(device)
    where = "cpu" if device.type == "mps" else device  # MPS has no seedable generator
    return [torch.Generator(device=where).manual_seed(int(seed)) for seed in seeds]


def check_prompt_lengths(tokenizer: Any, texts: Sequence[str], what: str, *, negative: str = "") -> None:
    """Refuse a prompt (or the negative prompt) the text encoder would have to truncate.

    The reference pipelines truncate silently or with a log line; a clip generated from half a
    prompt is worse than a clear error.
    """
    limit = getattr(tokenizer, "model_max_length", None)
    if not isinstance(limit, int) or limit <= 0 or limit > 1_000_000:
        return
    labelled = [(f"prompt {i + 1}", text) for i, text in enumerate(texts)]
    if negative:
        labelled.append(("the negative prompt", negative))
    ids = tokenizer([text for _, text in labelled], add_special_tokens=True, verbose=False).input_ids
    for (label, text), tokens in zip(labelled, ids, strict=True):
        if len(tokens) > limit:
            shown = text if len(text) <= 60 else text[:57] + "..."
            raise InputError(
                f"{label} is {len(tokens)} tokens long; the {what} takes at most {limit}: '{shown}'",
                field="negative_prompt" if label == "the negative prompt" else "text",
            )


def prepare_waveforms(
    audio: Sequence[np.ndarray],
    sample_rate: int,
    *,
    target_rate: int,
    num_samples: int,
    peak: float | None,
    channels: int = 1,
) -> torch.Tensor:
    """Float32 waveforms ``[B, num_samples]`` (``[B, channels, num_samples]`` if channels > 1).

    Each clip is resampled to ``target_rate``, mixed to mono (or, for ``channels=2``, a mono clip
    is copied to both channels), optionally centred and scaled to a peak of ``peak`` (AudioLDM and
    Tango train on clips normalised to 0.5), then cut or zero-padded to ``num_samples``.
    """
    if sample_rate <= 0:
        raise InputError(f"sample rate must be positive, got {sample_rate}", field="sample_rate")
    batch = np.zeros((len(audio), channels, num_samples), dtype=np.float32)
    for row, wave in enumerate(audio):
        wave = np.asarray(wave, dtype=np.float32)
        if wave.ndim == 1:
            wave = wave[None]
        if wave.ndim != 2 or wave.shape[-1] == 0:
            raise InputError(f"clip {row}: expected [samples] or [channels, samples], got {wave.shape}")
        if not np.isfinite(wave).all():
            raise InputError(f"clip {row}: audio holds NaN or infinite samples")
        if sample_rate != target_rate:
            wave = resample(wave, sample_rate, target_rate)
        if channels == 1:
            wave = wave.mean(axis=0, keepdims=True)
        elif wave.shape[0] == 1:
            wave = np.repeat(wave, channels, axis=0)
        elif wave.shape[0] != channels:
            raise InputError(f"clip {row}: has {wave.shape[0]} channels, the model takes {channels}")
        if peak is not None:
            wave = wave - wave.mean(axis=-1, keepdims=True)
            top = float(np.abs(wave).max())
            if top > 0:
                wave = wave * (peak / top)
        n = min(num_samples, wave.shape[-1])
        batch[row, :, :n] = wave[:, :n]
    out = torch.from_numpy(batch)
    return out[:, 0] if channels == 1 else out


def to_numpy_clips(audio: torch.Tensor | np.ndarray, num_samples: int | None = None) -> list[np.ndarray]:
    """``[B, N]`` or ``[B, C, N]`` audio to a list of float32 mono ``[N]`` arrays (channels averaged)."""
    if isinstance(audio, torch.Tensor):
        audio = audio.detach().float().cpu().numpy()
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 3:
        audio = audio.mean(axis=1)
    if num_samples is not None:
        audio = audio[:, :num_samples]
    return [np.ascontiguousarray(clip, dtype=np.float32) for clip in audio]
