"""Short stable digests of settings and weights: how a saved artifact names what made it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from baton.errors import InputError

if TYPE_CHECKING:
    import torch


def fingerprint_of(*parts: Any) -> str:
    """A short stable hash of JSON-able parts and raw bytes."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, bytes):
            digest.update(part)
        else:
            digest.update(json.dumps(part, sort_keys=True, default=str).encode())
        digest.update(b"\x00")
    return digest.hexdigest()[:24]


def state_dict_digest(module: torch.nn.Module) -> bytes:
    """SHA-256 of every parameter and buffer, by name: what the weights are, wherever they came from."""
    # torch: heavy; every command imports this module, most never load a model
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        tensor = tensor.detach().to("cpu").contiguous()
        if tensor.dtype == torch.bfloat16:  # numpy has no bfloat16: the same bytes, read as int16
            tensor = tensor.view(torch.int16)
        digest.update(name.encode())
        digest.update(memoryview(tensor.numpy()).cast("B"))  # no copy
    return digest.digest()


def file_digest(path: str | Path, what: str = "audio") -> str:
    """SHA-256 of a file's bytes (an audio file's content, whatever its name; a shipped weights file).

    ``what`` names the file's kind in the error when it cannot be read."""
    digest = hashlib.sha256()
    try:
        with Path(path).open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError:
        raise InputError(f"{what} file not found", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror}", path=path) from None
    return digest.hexdigest()
