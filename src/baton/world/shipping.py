"""The shipped world: the full world's models, pretrained once at length and carried by the package.

Training the full world's models well takes hours (``baton world build --recipe v2``), too long for
``make demo`` on a fresh machine. So, as Tango's checkpoint was to BATON, they are trained once and
shipped inside the package; ``baton world build`` then installs them into the cache in seconds.

**Shipping** (``baton world ship``, :func:`ship_world`) copies a built world's model steps (``t2a/``,
``clap/``, ``annotator/``, ``evaluator/``: ``config.json``, ``model.safetensors``, ``training.json``)
and ``base_eval/figures.json`` into ``baton/world/shipped/`` (or ``--to``), the weights in fp16 to
halve what the package carries: every floating tensor of at least :data:`FP16_MIN_ELEMENTS` elements
(small ones, such as normalisation statistics, stay fp32: they are tiny, and rounding them would shift
every input). ``manifest.json`` records the recipe, the code versions, the CPU, the library versions,
each step's time and figures, the git commit and the sha256 and size of every file; ``NOTICE.md`` the
licence. The whole folder is written beside its place and renamed into it: never half a shipped world.

**Installing** (:func:`install_shipped`, which :func:`baton.world.build.build` calls when no
``--recipe`` is given and the package ships the world asked for) checks every file's size and sha256
before anything is written, converts the weights back to their original dtype (so every loader reads
the usual float32 files), rebuilds the corpus from the recipe's settings (deterministic, seconds; fine-
tuning uses it as pretraining data), writes the world's ``manifest.json`` with its ``origin``, and
renames the folder into place; a world that was there is moved aside first and removed once the new
one is in. A failure at any point leaves the cache as it was. A rerun finds the same shipped manifest
(by its sha256) installed and does nothing; another shipped manifest is installed anew.

``$BATON_SHIPPED_WORLD`` names another shipped folder than the package's (tests; trying a shipped
world before it is committed).

(This module is ``shipping``: ``shipped`` is the data folder beside it, and one name for both would be
ambiguous.)
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import baton.world
from baton import __version__
from baton.artifacts import atomic_write_text, read_json, save_safetensors, write_json
from baton.console import console, warn
from baton.errors import InputError
from baton.fingerprints import file_digest
from baton.workers import git_commit
from baton.world.config import ShipConfig
from baton.world.manifest import (
    CODE_VERSIONS,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    SHIPPED_FORMAT,
    STEPS,
    WorldPaths,
    fingerprints,
    read_manifest,
    stale_steps,
    world_dir,
    world_flags,
)
from baton.world.report import duration

SHIPPED_VERSION = 1
ENV = "BATON_SHIPPED_WORLD"
NOTICE = "NOTICE.md"
# The steps whose files are shipped: the four models and the base model's evaluation. The corpus is
# not (hundreds of MB of audio that its settings make again, the same, in seconds).
MODEL_STEPS = ("t2a", "clap", "annotator", "evaluator")
SHIPPED_STEPS = (*MODEL_STEPS, "base_eval")
# What a model step's folder holds that a loader reads: config.json, the weights, training records.
MODEL_FILE_SUFFIXES = (".json", ".safetensors")
REQUIRED_MODEL_FILES = ("config.json", "model.safetensors")
FP16_MIN_ELEMENTS = 1024
# Kept under GitHub's 50 MB warning per file and far under PyPI's 100 MB per wheel, in all.
MAX_SHIPPED_BYTES = 60_000_000
# The key of a shipped safetensors file's metadata that maps each tensor stored in fp16 to its dtype.
DTYPES_KEY = "baton_original_dtypes"

NOTICE_TEXT = """\
# The shipped sound world

These weights (the world's text-to-audio diffusion model, its CLAP and its two event detectors) were
trained by baton itself, from baton's own synthetic sound world: every clip they learnt from was made
by baton's synthesizer (`baton.world.synth`) and every caption by its caption templates. No third-party
audio, text, labels or pretrained weights went into them.

They are distributed under the Apache License 2.0, as baton is. `manifest.json` records how they were
made (recipe, settings, code versions, CPU, library versions, git commit) and the sha256 of every file;
`baton world build --recipe v2` trains them again from nothing.
"""


def package_shipped_dir() -> Path:
    """The package's own shipped world folder, ``baton/world/shipped``."""
    return Path(baton.world.__file__).parent / "shipped"


def shipped_dir() -> Path:
    """The shipped world folder installs read: ``$BATON_SHIPPED_WORLD``, else the package's."""
    override = os.environ.get(ENV)
    return Path(override).expanduser() if override else package_shipped_dir()


# --- shipping -------------------------------------------------------------------------------------


def ship_world(config: ShipConfig, *, allow_quick: bool = False) -> dict[str, Any]:
    """Write the shipped world of ``config.world`` into ``config.to``; return its manifest.

    Refuses (:class:`InputError`, one line) a world with a step missing or built by older code, one
    installed from a shipped world, a quick world (unless ``allow_quick``, for tests) and a shipped
    world of more than :data:`MAX_SHIPPED_BYTES`.
    """
    root = Path(config.world) if config.world is not None else world_dir(config.cache)
    target = Path(config.to) if config.to is not None else package_shipped_dir()
    world = _shippable_world(root, allow_quick)

    partial = _new_dir_beside(target, "shipping")
    try:
        files: dict[str, dict[str, Any]] = {}
        for name in MODEL_STEPS:
            for source in _model_files(root, name):
                relative = f"{name}/{source.name}"
                if source.suffix == ".safetensors":
                    _write_shipped_weights(source, partial / relative, config.dtype)
                else:
                    _copy(source, partial / relative)
                files[relative] = _file_record(partial / relative)
        _copy(root / "base_eval" / "figures.json", partial / "base_eval" / "figures.json")
        atomic_write_text(partial / NOTICE, NOTICE_TEXT)
        for relative in ("base_eval/figures.json", NOTICE):
            files[relative] = _file_record(partial / relative)
        total = sum(record["bytes"] for record in files.values())
        if total > MAX_SHIPPED_BYTES:
            raise InputError(
                f"the shipped world would be {total / 1e6:.1f} MB, more than the package may carry"
                f" ({MAX_SHIPPED_BYTES / 1e6:.0f} MB): ship a smaller model",
                path=root,
            )
        manifest = _shipped_manifest(world, config.dtype, files)
        write_json(partial / MANIFEST, manifest)
        _swap_into_place(partial, target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    console.print(
        f"shipped world ({manifest['recipe']}, {config.dtype}, {len(files)} files, {total / 1e6:.1f} MB)"
        f" in [bold]{target}[/]"
    )
    return manifest


def _shippable_world(root: Path, allow_quick: bool) -> dict[str, Any]:
    """The manifest of the world at ``root``, or an :class:`InputError` saying why it cannot be shipped."""
    manifest = read_manifest(root)
    if manifest is None or manifest.get("format") != FORMAT:
        raise InputError(
            "no built world here (manifest.json is missing): `baton world build` first", path=root
        )
    flags = world_flags(quick=bool(manifest.get("quick")), seed=int(manifest.get("seed", 0)))
    missing = [name for name in STEPS if name not in manifest.get("steps", {}) or not (root / name).is_dir()]
    if missing:
        raise InputError(
            f"the world is incomplete: step {missing[0]} is not built (`baton world build{flags}` finishes it)",
            path=root,
        )
    stale = stale_steps(manifest)
    if stale:
        raise InputError(
            f"step {stale[0]} was built by older code: rebuild it (`baton world build{flags}`) before shipping",
            path=root,
        )
    if (manifest.get("origin") or {}).get("kind") == "shipped":
        raise InputError(
            "this world was installed from a shipped world: ship the world it came from", path=root
        )
    if manifest.get("quick") and not allow_quick:
        raise InputError("a quick world is for tests and smoke runs, not for shipping", path=root)
    return manifest


def _model_files(root: Path, name: str) -> list[Path]:
    """A model step's files to ship: its JSON files and weights (no hidden or temporary files)."""
    folder = root / name
    for required in REQUIRED_MODEL_FILES:
        if not (folder / required).is_file():
            raise InputError(f"step {name} has no {required}: rebuild it", path=folder / required)
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file() and path.suffix in MODEL_FILE_SUFFIXES and not path.name.startswith(".")
    )


def _write_shipped_weights(source: Path, target: Path, dtype: str) -> None:
    """``source``'s tensors into ``target``, the large float ones in fp16 for ``dtype`` fp16; the
    metadata maps each tensor so stored to its original dtype, which installing restores."""
    # torch: `baton world info` imports this module and reads the shipped manifest only
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file

    tensors = load_file(str(source))
    with safe_open(str(source), framework="pt") as handle:
        metadata = dict(handle.metadata() or {})
    converted: dict[str, str] = {}
    if dtype == "fp16":
        for key, tensor in tensors.items():
            if tensor.dtype not in (torch.float32, torch.float64) or tensor.numel() < FP16_MIN_ELEMENTS:
                continue
            half = tensor.to(torch.float16)
            # A value beyond fp16's range would become inf: such a tensor is kept as it is.
            if bool(torch.isfinite(half).all()) or not bool(torch.isfinite(tensor).all()):
                converted[key] = str(tensor.dtype).removeprefix("torch.")
                tensors[key] = half
    if converted:
        metadata[DTYPES_KEY] = json.dumps(converted, sort_keys=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    save_safetensors(tensors, target, metadata=metadata or None)


def _shipped_manifest(world: dict[str, Any], dtype: str, files: dict[str, dict[str, Any]]) -> dict[str, Any]:
    settings = world["settings"]
    steps = {
        name: {"seconds": world["steps"][name]["seconds"], "figures": world["steps"][name]["figures"]}
        for name in STEPS
    }
    return {
        "format": SHIPPED_FORMAT,
        "version": SHIPPED_VERSION,
        "shipped": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "recipe": settings.get("recipe") or "v1",
        "quick": bool(world.get("quick")),
        "seed": int(world.get("seed", 0)),
        "settings": settings,
        "code_versions": world["code_versions"],
        "cpu": world.get("cpu"),
        # The versions the world was trained with (its manifest's), not this shipping's.
        "baton": world.get("baton"),
        "torch": world.get("torch"),
        "numpy": world.get("numpy"),
        "python": world.get("python"),
        "created": world.get("created"),
        "hours": training_hours(world["steps"]),
        "steps": steps,
        "dtype": dtype,
        "git_commit": git_commit(),
        "files": files,
    }


def training_hours(steps: dict[str, Any]) -> float:
    """The hours the world's models took to train: their steps' seconds (a resumed v2 T2A pretraining's
    count adds up all its sessions; baton.world.build records it so)."""
    return round(sum(float(steps.get(name, {}).get("seconds", 0.0)) for name in MODEL_STEPS) / 3600, 3)


# --- reading and checking a shipped world ----------------------------------------------------------


def read_shipped_manifest(folder: Path | None = None) -> dict[str, Any] | None:
    """The manifest of the shipped world in ``folder`` (default :func:`shipped_dir`), None if there is
    none, an :class:`InputError` if it is not one this baton reads."""
    folder = shipped_dir() if folder is None else Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        return None
    manifest = read_json(path)
    if not isinstance(manifest, dict) or manifest.get("format") != SHIPPED_FORMAT:
        raise InputError(
            f"not a shipped world manifest (format {SHIPPED_FORMAT!r})", path=path, field="format"
        )
    if manifest.get("version") != SHIPPED_VERSION:
        raise InputError(
            f"unsupported version {manifest.get('version')!r} (this baton reads {SHIPPED_VERSION})",
            path=path,
            field="version",
        )
    for key in ("settings", "code_versions", "steps", "files"):
        if not isinstance(manifest.get(key), dict):
            raise InputError("missing or not a mapping", path=path, field=key)
    missing = [name for name in STEPS if name not in manifest["steps"]]
    if missing:
        raise InputError(f"no record of step {missing[0]}", path=path, field="steps")
    for relative, record in manifest["files"].items():
        if (
            not isinstance(record, dict)
            or not isinstance(record.get("sha256"), str)
            or not isinstance(record.get("bytes"), int)
        ):
            raise InputError(f"{relative!r} needs a sha256 and a size in bytes", path=path, field="files")
        parts = Path(relative).parts
        if (
            Path(relative).is_absolute()
            or ".." in parts
            or not parts
            or parts[0] not in (*SHIPPED_STEPS, NOTICE)
        ):
            raise InputError(f"a file outside the shipped world: {relative!r}", path=path, field="files")
    return manifest


def unusable_reason(manifest: dict[str, Any]) -> str | None:
    """Why this baton cannot install a shipped world (its code has moved on since), or None."""
    differ = [
        f"{name} {manifest['code_versions'].get(name)} (this baton: {version})"
        for name, version in CODE_VERSIONS.items()
        if manifest["code_versions"].get(name) != version
    ]
    if differ:
        return "it was built by other code than this baton's: " + ", ".join(differ)
    return None


def verify_shipped_files(folder: Path, manifest: dict[str, Any]) -> None:
    """Check every file the manifest lists for its size and sha256; a wrong one is an
    :class:`InputError` naming the file and the digest it should have."""
    for relative, record in manifest["files"].items():
        path = folder / relative
        expected = f"expected sha256 {record['sha256']} ({record['bytes']} bytes)"
        if not path.is_file():
            raise InputError(f"missing from the shipped world: {expected}", path=path)
        size = path.stat().st_size
        if size != record["bytes"]:
            raise InputError(f"damaged: {size} bytes, {expected}", path=path)
        if sha256_of(path) != record["sha256"]:
            raise InputError(f"damaged: its contents differ, {expected}", path=path)


def sha256_of(path: Path) -> str:
    """The sha256 a shipped manifest records of a file."""
    return file_digest(path, what="shipped world")


def _file_record(path: Path) -> dict[str, Any]:
    return {"sha256": sha256_of(path), "bytes": path.stat().st_size}


# --- installing -----------------------------------------------------------------------------------


def install_shipped(
    shipped: Path | None = None,
    cache: str | Path | None = None,
    *,
    force: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Install the shipped world in ``shipped`` (default :func:`shipped_dir`) into its world folder of
    ``cache`` (``world/`` for the full world); return the installed world's manifest.

    Nothing is done when that shipped manifest is installed there already (unless ``force``).
    """
    # the synthesizer (scipy): `baton world info` imports this module and reads manifests only
    from baton.world.corpus import build_world_corpus

    folder = shipped_dir() if shipped is None else Path(shipped)
    manifest = read_shipped_manifest(folder)
    if manifest is None:
        raise InputError("no shipped world here (manifest.json is missing)", path=folder)
    digest = sha256_of(folder / MANIFEST)
    target = world_dir(cache, quick=manifest["quick"], seed=manifest["seed"])
    console.print(f"[bold]world[/] {'(quick) ' if manifest['quick'] else ''}in {target}")
    installed = read_manifest(target)
    if not force and _is_installed(target, installed, digest):
        console.print("    installed from the shipped world (cached)")
        return installed
    if (target / "t2a-run").exists():
        # A long pretraining of this machine's own (checkpoints of hours): never deleted by an install.
        raise InputError(
            "this world holds a T2A pretraining of its own (t2a-run/): go on with it with "
            f"`baton world build{world_flags(quick=manifest['quick'], seed=manifest['seed'])} --recipe v2"
            " --resume`, or move the folder away to install the shipped world",
            path=target,
        )

    started = time.perf_counter()
    verify_shipped_files(folder, manifest)
    partial = _new_dir_beside(target, "installing")
    try:
        for relative in manifest["files"]:
            if relative == NOTICE:
                continue
            if relative.endswith(".safetensors"):
                _write_installed_weights(folder / relative, partial / relative)
            else:
                _copy(folder / relative, partial / relative)
        corpus_started = time.perf_counter()
        corpus = build_world_corpus(WorldPaths(partial).corpus, manifest["settings"], progress)
        corpus_seconds = time.perf_counter() - corpus_started
        if corpus != manifest["steps"]["corpus"]["figures"]:
            warn(f"the corpus made here ({corpus}) differs from the shipped world's")
        world = _installed_manifest(manifest, digest, corpus, corpus_seconds)
        write_json(partial / MANIFEST, world)
        _swap_into_place(partial, target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    console.print(f"    installed from the shipped world in {time.perf_counter() - started:.1f} s")
    return world


def _is_installed(target: Path, installed: dict[str, Any] | None, digest: str) -> bool:
    """Whether ``target`` holds the whole world installed from the shipped manifest of sha256 ``digest``."""
    if installed is None or installed.get("format") != FORMAT or installed.get("version") != FORMAT_VERSION:
        return False
    origin = installed.get("origin") or {}
    if origin.get("kind") != "shipped" or origin.get("manifest_sha256") != digest:
        return False
    paths = WorldPaths(target)
    return all(paths.step(name).is_dir() for name in STEPS) and all(
        (paths.step(name) / required).is_file() for name in MODEL_STEPS for required in REQUIRED_MODEL_FILES
    )


def _write_installed_weights(source: Path, target: Path) -> None:
    """A shipped safetensors file with its fp16 tensors back in their original dtype (float32), so the
    world's loaders read the file they always read."""
    # torch: `baton world info` imports this module and reads the shipped manifest only
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file

    tensors = load_file(str(source))
    with safe_open(str(source), framework="pt") as handle:
        metadata = dict(handle.metadata() or {})
    try:
        original = json.loads(metadata.pop(DTYPES_KEY, "{}"))
        for key, dtype in original.items():
            tensors[key] = tensors[key].to(getattr(torch, dtype))
    except (ValueError, KeyError, AttributeError, TypeError) as exc:
        raise InputError(f"unreadable dtypes in the metadata: {exc}", path=source, field=DTYPES_KEY) from None
    target.parent.mkdir(parents=True, exist_ok=True)
    save_safetensors(tensors, target, metadata=metadata or None)


def _installed_manifest(
    shipped: dict[str, Any], digest: str, corpus: dict[str, Any], corpus_seconds: float
) -> dict[str, Any]:
    """The world's manifest: the shipped steps with the fingerprints a build of these settings would
    give them, and ``shipped: true`` so that an explicit ``--recipe`` still trains them here."""
    settings = shipped["settings"]
    prints = fingerprints(settings, shipped["code_versions"])
    steps = {}
    for name in STEPS:
        own = shipped["steps"][name]
        steps[name] = {
            "fingerprint": prints[name],
            "code_version": shipped["code_versions"][name],
            "seconds": round(corpus_seconds, 1) if name == "corpus" else own["seconds"],
            "figures": corpus if name == "corpus" else own["figures"],
            # The corpus is made here, by the same code a training would run: a training may reuse it.
            **({} if name == "corpus" else {"shipped": True}),
        }
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        # The versions and CPU the models were trained with (the shipped manifest's).
        "baton": shipped.get("baton"),
        "torch": shipped.get("torch"),
        "numpy": shipped.get("numpy"),
        "python": shipped.get("python"),
        "cpu": shipped.get("cpu"),
        "quick": shipped["quick"],
        "seed": shipped["seed"],
        "created": shipped.get("created"),
        "installed": now,
        "installed_by": {"baton": __version__, "python": platform.python_version()},
        "origin": {
            "kind": "shipped",
            "manifest_sha256": digest,
            "recipe": settings.get("recipe") or "v1",
            "git_commit": shipped.get("git_commit"),
            "cpu": shipped.get("cpu"),
            "hours": shipped.get("hours"),
            "dtype": shipped.get("dtype"),
        },
        "settings": settings,
        "code_versions": dict(shipped["code_versions"]),
        "steps": steps,
        "total_build_seconds": round(sum(float(s["seconds"]) for s in steps.values()), 1),
        "updated": now,
    }


# --- files ----------------------------------------------------------------------------------------


def _new_dir_beside(target: Path, what: str) -> Path:
    """A new, empty hidden folder beside ``target`` (``.<name>.<what>-XXXXXXXX``) with the mode a plain
    ``mkdir`` gives (mkdtemp's is owner-only: renamed into place it would stay so)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    while True:
        folder = target.with_name(f".{target.name}.{what}-{secrets.token_hex(4)}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue


def _swap_into_place(partial: Path, target: Path) -> None:
    """Rename the complete folder ``partial`` to ``target``; a folder already there is moved aside
    first and removed only once the new one is in (put back if the rename fails)."""
    aside = None
    if target.exists():
        aside = _new_dir_beside(target, "replaced")
        aside.rmdir()
        target.rename(aside)
    try:
        partial.rename(target)
    except BaseException:
        if aside is not None:
            aside.rename(target)
        raise
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


# --- showing ----------------------------------------------------------------------------------------


def shipped_summary(manifest: dict[str, Any], folder: Path) -> list[str]:
    """Lines describing a shipped world, for ``baton world info --shipped``."""

    total = sum(record["bytes"] for record in manifest["files"].values())
    commit = manifest.get("git_commit")
    lines = [
        f"shipped world in {folder}",
        f"  recipe {manifest.get('recipe')}, seed {manifest.get('seed')}{', quick' if manifest.get('quick') else ''}"
        f"; trained {duration(float(manifest.get('hours') or 0.0) * 3600)} on {manifest.get('cpu')}",
        f"  commit {commit[:7] if commit else 'unknown'}; baton {manifest.get('baton')}, torch"
        f" {manifest.get('torch')}, numpy {manifest.get('numpy')}, python {manifest.get('python')}",
        f"  {len(manifest['files'])} files, {total / 1e6:.1f} MB, weights in {manifest.get('dtype')};"
        f" shipped {manifest.get('shipped')}",
    ]
    reason = unusable_reason(manifest)
    if reason:
        lines.append(f"  not installable by this baton: {reason}")
    return lines
