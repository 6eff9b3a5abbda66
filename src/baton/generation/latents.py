"""A clip's sampled latents, kept beside its audio: what fine-tuning trains on when it can.

A diffusion T2A model samples latents (the world model: normalised log-mel frames; Tango and
AudioLDM2: VAE latents) and decodes them to audio. Fine-tuning on that audio encodes it again, and
the round trip is not exact: Griffin-Lim moves the world model's sampled frames by rms 0.138, half
the model's own training loss, with a shift of the mean (``baton generate`` on demo clips). Training
the model on its own samples should train on what it sampled, so ``baton generate`` writes each
clip's latents to ``<clip>.latent.safetensors`` beside ``<clip>.wav``, with metadata:

* ``space``: the fingerprint of the backend's audio <-> latent mapping (its ``latent_space``: mel
  settings and normalisation, or the VAE's weights). Latents of another space are not training
  targets for this model; the fine-tuner encodes that clip's audio instead.
* ``audio_sha256``: the digest of the audio file as written. A clip trimmed, replaced or edited
  since no longer decodes from these latents; the fine-tuner encodes its audio instead.
* ``sample_id`` and ``seed``: which clip these are.

A latent file that cannot be read is an error that names it, never a silent fallback.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from safetensors import SafetensorError, safe_open

from baton.artifacts import save_safetensors
from baton.errors import InputError
from baton.fingerprints import file_digest

if TYPE_CHECKING:
    import torch

LATENT_SUFFIX = ".latent.safetensors"
FORMAT = "baton.latent"


def latent_path(audio_path: str | Path) -> Path:
    """``audio/x.wav`` -> ``audio/x.latent.safetensors``."""
    audio_path = Path(audio_path)
    return audio_path.with_name(audio_path.stem + LATENT_SUFFIX)


def write_latent(
    audio_path: str | Path, latent: torch.Tensor, *, space: str, sample_id: str, seed: int | None
) -> Path:
    """Write ``latent`` (one clip's, without a batch axis) beside the audio file already written."""
    path = latent_path(audio_path)
    metadata = {
        "format": FORMAT,
        "space": space,
        "sample_id": sample_id,
        "seed": "" if seed is None else str(int(seed)),
        "audio_sha256": file_digest(audio_path),
    }
    tmp = path.with_name(f".{path.name}.tmp")
    save_safetensors({"latent": latent.detach().float().cpu().contiguous()}, tmp, metadata=metadata)
    tmp.replace(path)
    return path


def read_latent(audio_path: str | Path, space: str) -> tuple[torch.Tensor | None, str]:
    """The latents saved for ``audio_path`` and ``"latent"``; or ``None`` and why not.

    Reasons: ``"none"`` (no latent file), ``"other space"`` (written by a model whose audio <-> latent
    mapping differs from ``space``), ``"audio changed"`` (the audio file is not the one written with
    them). An unreadable latent file raises :class:`InputError` naming it.
    """
    path = latent_path(audio_path)
    if not path.is_file():
        return None, "none"
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            names = list(handle.keys())
            if metadata.get("format") != FORMAT or "latent" not in names:
                raise InputError(f"not a baton latent file (format is not '{FORMAT}')", path=path)
            if metadata.get("space") != space:
                return None, "other space"
            if not Path(audio_path).is_file() or metadata.get("audio_sha256") != file_digest(audio_path):
                return None, "audio changed"
            return handle.get_tensor("latent"), "latent"
    except (SafetensorError, OSError) as exc:
        raise InputError(
            f"cannot read this latent file ({exc}); delete it to use the audio", path=path
        ) from None
