"""Where a built world lives and what its manifest says: the world's folder layout, its steps and
their fingerprints, the flags that name a world, and where it came from.

This is world data, on the world's own floor (it imports nothing above ``baton.world``): the world's
backend, the stages that read a world (reward encoders, the simulated annotator, evaluation) and the
shipped world's installer all find a world through it. Building one (:mod:`baton.world.build`) and
assessing one (:mod:`baton.world.assess`) use the stages, and so stand above them.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from baton.artifacts import read_json
from baton.cache import cache_dir
from baton.world.config import STEPS

# The format of a shipped world's manifest (baton.world.shipping), which a built world's origin names.
SHIPPED_FORMAT = "baton-shipped-world"
MANIFEST = "manifest.json"
FORMAT = "baton-world"
FORMAT_VERSION = 1
DEPENDS_ON = {"t2a": ("corpus",), "clap": ("corpus",), "base_eval": ("t2a", "clap", "evaluator")}
# The steps that train a network: their weights depend on the thread count (see the module's notes).
TRAINED = ("t2a", "clap", "annotator", "evaluator")
# The T2A model's sampling defaults. They are not part of the T2A step's fingerprint: the build writes
# them into the model's config.json (:func:`apply_sampling_defaults`), so changing them retrains
# nothing; the base evaluation, which samples, depends on them and is redone.
SAMPLING_DEFAULTS = {  # build setting -> the model config.json field it becomes
    "sample_steps": "default_steps",
    "guidance_scale": "default_guidance",
    "griffin_lim_iters": "griffin_lim_iters",
    "guidance_rescale": "guidance_rescale",
}
SAMPLING_KEYS = tuple(SAMPLING_DEFAULTS)
# The version of the code behind each step. Raise a step's number whenever its code changes what it
# builds or the files it writes: its fingerprint (and its dependants') changes, so a world cached by
# older code is rebuilt on the next `baton world build` instead of failing to load.
CODE_VERSIONS = {"corpus": 1, "t2a": 3, "clap": 1, "annotator": 1, "evaluator": 1, "base_eval": 2}


def depends_on(settings: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """Which steps each step needs: a v2 T2A pretraining also needs the judges of its assessments."""
    if "stream" in settings["t2a"]:
        return {**DEPENDS_ON, "t2a": ("corpus", "clap", "evaluator")}
    return DEPENDS_ON


def steps_needed(only: list[str] | None, needs: dict[str, tuple[str, ...]] = DEPENDS_ON) -> list[str]:
    """The steps to build for ``only``: those named and, recursively, what they depend on, in order."""
    if only is None:
        return in_dependency_order(needs)
    wanted: set[str] = set()
    pending = list(only)
    while pending:
        name = pending.pop()
        if name not in wanted:
            wanted.add(name)
            pending.extend(needs.get(name, ()))
    return [name for name in in_dependency_order(needs) if name in wanted]


def in_dependency_order(needs: dict[str, tuple[str, ...]]) -> list[str]:
    """The steps, each after the steps it needs (otherwise in the order of STEPS)."""
    ordered: list[str] = []
    while len(ordered) < len(STEPS):
        ordered.append(next(n for n in STEPS if n not in ordered and set(needs.get(n, ())) <= set(ordered)))
    return ordered


def world_dir(cache: str | Path | None = None, *, quick: bool = False, seed: int = 0) -> Path:
    """The folder of one world: ``<cache>/world`` for the default, suffixed for quick or other seeds."""
    name = "world" + ("-quick" if quick else "") + (f"-seed{seed}" if seed else "")
    return cache_dir(cache) / name


@dataclass
class WorldPaths:
    root: Path

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST

    @property
    def corpus(self) -> Path:
        return self.root / "corpus" / "corpus"

    def step(self, name: str) -> Path:
        return self.root / name


def fingerprints(settings: dict[str, Any], code_versions: dict[str, int] | None = None) -> dict[str, str]:
    """A hash per step of its code version, its settings and, recursively, the steps it depends on."""
    code_versions = CODE_VERSIONS if code_versions is None else code_versions
    needs = depends_on(settings)
    out: dict[str, str] = {}
    t2a = settings["t2a"]
    for name in in_dependency_order(needs):
        own = {k: v for k, v in t2a.items() if k not in SAMPLING_KEYS} if name == "t2a" else settings[name]
        parts = [f"code {code_versions[name]}", json.dumps(own, sort_keys=True)]
        if name in TRAINED:
            parts.append(f"threads {settings.get('threads', 1)}")
        if name == "base_eval":
            parts.append(json.dumps({k: t2a.get(k) for k in SAMPLING_KEYS}, sort_keys=True))
        parts += [out[dep] for dep in needs.get(name, ())]
        out[name] = hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
    return out


def read_manifest(root: Path) -> dict[str, Any] | None:
    path = root / MANIFEST
    return read_json(path) if path.is_file() else None


def world_flags(*, quick: bool = False, seed: int = 0) -> str:
    """The command-line flags that name one world: `` --quick --seed 3`` (empty for the default)."""
    return (" --quick" if quick else "") + (f" --seed {seed}" if seed else "")


def other_worlds_note(cache: str | Path | None = None) -> str:
    """For an error about the default world missing: the worlds this cache does hold, if any."""
    built = [cache_dir(cache) / name for name in built_worlds(cache) if name != "world"]
    if not built:
        return ""
    return f" (this cache holds {', '.join(map(str, built))}: point --model or --world at one)"


def built_worlds(cache: str | Path | None = None) -> dict[str, str]:
    """The worlds in a cache with a manifest, as folder name -> the flags that name it."""
    root = cache_dir(cache)
    found = {}
    for folder in sorted(root.glob("world*")) if root.is_dir() else []:
        match = re.fullmatch(r"world(-quick)?(?:-seed(\d+))?", folder.name)
        if match and (folder / MANIFEST).is_file():
            found[folder.name] = world_flags(quick=bool(match[1]), seed=int(match[2] or 0))
    return found


def world_origin(manifest: dict[str, Any]) -> dict[str, Any]:
    """Where a world came from: its manifest's ``origin``, or (a manifest of older code) built here."""
    return manifest.get("origin") or {
        "kind": "built",
        "recipe": (manifest.get("settings") or {}).get("recipe") or "v1",
    }


def stale_steps(manifest: dict[str, Any]) -> list[str]:
    """Steps of a built world that this baton's code would rebuild (built by an older version)."""
    return [
        name
        for name, done in manifest.get("steps", {}).items()
        if name in CODE_VERSIONS and done.get("code_version", 1) != CODE_VERSIONS[name]
    ]
