"""Text-to-audio backends behind one protocol (see :mod:`baton.backends.base`).

``load_backend("world")`` returns the built-in sound world's model; each real backend (``tango``,
``audioldm2``, ``stable-audio``) is one module here. The mapping below only names modules, so that
nothing heavy is imported until a backend is asked for.

A real backend loads its weights in float32 by default, or in float16 / bfloat16 with
``load_backend(..., dtype="bfloat16")`` (``--dtype``): half the memory. A backend whose ``load`` takes
no ``dtype`` (the world's) loads in float32 only.

Your own backend plugs in without editing baton: write a class that implements
:class:`baton.backends.base.T2ABackend` (with a ``load(path, *, device)`` classmethod) and name it in
the environment variable ``BATON_EXTRA_BACKENDS`` as ``name=module:Class`` pairs separated by commas::

    BATON_EXTRA_BACKENDS="mine=my_package.t2a:MyBackend" baton generate --backend mine ...

The variable is read on every :func:`load_backend` call, so it also reaches the worker processes of
``accelerate launch``.
"""

from __future__ import annotations

import importlib
import inspect
import os
from pathlib import Path
from typing import TYPE_CHECKING

from baton.errors import InputError

if TYPE_CHECKING:
    from baton.backends.base import T2ABackend

BACKENDS: dict[str, str] = {
    "world": "baton.backends.world:WorldBackend",
    "tango": "baton.backends.tango:TangoBackend",
    "audioldm2": "baton.backends.audioldm2:AudioLDM2Backend",
    "stable-audio": "baton.backends.stable_audio:StableAudioBackend",
}

EXTRA_BACKENDS_ENV = "BATON_EXTRA_BACKENDS"


def extra_backends() -> dict[str, str]:
    """The backends named in ``BATON_EXTRA_BACKENDS`` (``name=module:Class,...``), checked for form."""
    spec = os.environ.get(EXTRA_BACKENDS_ENV, "").strip()
    found: dict[str, str] = {}
    for entry in filter(None, (part.strip() for part in spec.split(","))):
        name, _, target = entry.partition("=")
        module_name, _, class_name = target.strip().partition(":")
        if not name.strip() or not module_name or not class_name:
            raise InputError(f"'{entry}' is not name=module:Class", field=EXTRA_BACKENDS_ENV)
        found[name.strip()] = f"{module_name}:{class_name}"
    return found


def backend_class(name: str) -> type:
    """The class of backend ``name`` (imported on first use), or an error naming the backends there are."""
    plugins = extra_backends()
    known = {**BACKENDS, **plugins}
    if name not in known:
        raise InputError(
            f"unknown backend '{name}'; choose one of: {', '.join(sorted(known))}", field="backend"
        )
    module_name, _, class_name = known[name].partition(":")
    try:
        return getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        if name not in plugins:
            raise
        # A user's plug-in: name the setting that points at it.
        raise InputError(
            f"backend '{name}' = '{known[name]}' cannot be loaded: {exc}", field=EXTRA_BACKENDS_ENV
        ) from None


def check_dtype(name: str, dtype: str) -> None:
    """``dtype`` is one baton knows and backend ``name`` loads in (float32, or any if its ``load`` takes
    a ``dtype``), else an error naming the setting."""
    # torch: heavy; every command imports this module, most never load a model
    from baton.backends.common import torch_dtype

    torch_dtype(dtype)  # a name it knows, or an error naming the choices
    if dtype != "float32" and "dtype" not in inspect.signature(backend_class(name).load).parameters:
        raise InputError(f"the {name} backend loads in float32 only, not {dtype}", field="dtype")


def load_backend(
    name: str, model: str | Path | None = None, *, device: str = "cpu", dtype: str = "float32"
) -> T2ABackend:
    """Load backend ``name`` from ``model`` (a folder, a hub id, or ``None`` for its default), its
    weights in ``dtype`` (float32, float16, bfloat16)."""
    check_dtype(name, dtype)
    backend_cls = backend_class(name)
    if dtype == "float32":
        return backend_cls.load(model, device=device)
    return backend_cls.load(model, device=device, dtype=dtype)
