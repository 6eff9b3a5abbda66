"""``baton world build``: everything the sound world needs, built once, cached, resumable.

Steps, each saved in its own folder of the world's cache directory as soon as it is done:

1. ``corpus``: the AudioCaps-like pretraining corpus (mostly single events).
2. ``t2a``: the world text-to-audio diffusion model, trained from scratch on the corpus.
3. ``clap``: the world CLAP (contrastive audio and text encoders).
4. ``annotator`` and ``evaluator``: two independent event detectors; the first plays the simulated
   human annotator, the second judges models, so evaluation never grades its own homework.
5. ``base_eval``: the base T2A model judged by the evaluator on held-out prompts (single events,
   2-event integrity, 3-event temporal) with 95% intervals, and its FAD against real world clips.

``manifest.json`` records versions, seeds, every step's settings, time and quality figures. A rerun
skips the steps whose settings (and whose inputs' settings) are unchanged and whose files exist, so
an interrupted build resumes at the step it was in.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from baton import __version__
from baton.artifacts import read_json, write_json
from baton.cache import cache_dir
from baton.config import option
from baton.console import console

MANIFEST = "manifest.json"
FORMAT = "baton-world"
FORMAT_VERSION = 1
STEPS = ("corpus", "t2a", "clap", "annotator", "evaluator", "base_eval")
DEPENDS_ON = {"t2a": ("corpus",), "clap": ("corpus",), "base_eval": ("t2a", "clap", "evaluator")}
# The T2A model's sampling defaults. They are not part of the T2A step's fingerprint: the build writes
# them into the model's config.json (:func:`apply_sampling_defaults`), so changing them retrains
# nothing; the base evaluation, which samples, depends on them and is redone.
SAMPLING_KEYS = ("sample_steps", "guidance_scale", "griffin_lim_iters")
# The version of the code behind each step. Raise a step's number whenever its code changes what it
# builds or the files it writes: its fingerprint (and its dependants') changes, so a world cached by
# older code is rebuilt on the next `baton world build` instead of failing to load.
CODE_VERSIONS = {"corpus": 1, "t2a": 2, "clap": 1, "annotator": 1, "evaluator": 1, "base_eval": 2}


@dataclass
class WorldBuildConfig:
    quick: bool = option(False, "A tiny world in seconds, for tests and smoke runs (not for real results).")
    seed: int = option(0, "Seed of everything in the world; same seed, same world on CPU.")
    cache: Path | None = option(None, "Cache folder (default: $BATON_CACHE, else $XDG_CACHE_HOME/baton).")
    force: bool = option(False, "Rebuild every step even if it is cached.")
    progress: bool = option(True, "Show progress bars.")
    eval_prompts: int | None = option(
        None, "Held-out prompts per task in the base evaluation (default by size)."
    )
    only: list[str] | None = option(
        None, "Build only these steps (and the steps they depend on); the others are left as they are."
    )

    def __post_init__(self) -> None:
        unknown = [name for name in self.only or () if name not in STEPS]
        if unknown:
            raise ValueError(f"only: unknown steps {', '.join(unknown)} (the steps: {', '.join(STEPS)})")


def steps_needed(only: list[str] | None) -> list[str]:
    """The steps to build for ``only``: those named and, recursively, what they depend on, in order."""
    if only is None:
        return list(STEPS)
    wanted: set[str] = set()
    pending = list(only)
    while pending:
        name = pending.pop()
        if name not in wanted:
            wanted.add(name)
            pending.extend(DEPENDS_ON.get(name, ()))
    return [name for name in STEPS if name in wanted]


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


def step_settings(config: WorldBuildConfig) -> dict[str, Any]:
    """Every step's settings, as plain data: what the manifest records and what a rerun compares."""
    from baton.config import config_to_dict
    from baton.world.clap import clap_config
    from baton.world.corpus import CorpusConfig
    from baton.world.detectors import annotator_config, evaluator_config
    from baton.world.t2a import T2ATrainConfig

    quick, seed = config.quick, config.seed
    corpus = CorpusConfig(n_clips=120 if quick else 2000, seed=seed)
    t2a = T2ATrainConfig.quick(seed) if quick else T2ATrainConfig(seed=seed)
    n_eval = config.eval_prompts if config.eval_prompts is not None else (4 if quick else 100)
    return {
        "corpus": config_to_dict(corpus),
        "t2a": config_to_dict(t2a),
        "clap": config_to_dict(clap_config(seed, quick)),
        "annotator": config_to_dict(annotator_config(seed, quick)),
        "evaluator": config_to_dict(evaluator_config(seed + 1000, quick)),
        "base_eval": {"prompts_per_task": n_eval, "seed": seed + 2000},
    }


def fingerprints(settings: dict[str, Any], code_versions: dict[str, int] | None = None) -> dict[str, str]:
    """A hash per step of its code version, its settings and, recursively, the steps it depends on."""
    code_versions = CODE_VERSIONS if code_versions is None else code_versions
    out: dict[str, str] = {}
    t2a = settings["t2a"]
    for name in STEPS:
        own = {k: v for k, v in t2a.items() if k not in SAMPLING_KEYS} if name == "t2a" else settings[name]
        parts = [f"code {code_versions[name]}", json.dumps(own, sort_keys=True)]
        if name == "base_eval":
            parts.append(json.dumps({k: t2a.get(k) for k in SAMPLING_KEYS}, sort_keys=True))
        parts += [out[dep] for dep in DEPENDS_ON.get(name, ())]
        out[name] = hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
    return out


def read_manifest(root: Path) -> dict[str, Any] | None:
    path = root / MANIFEST
    return read_json(path) if path.is_file() else None


def _fresh_manifest(config: WorldBuildConfig, settings: dict[str, Any]) -> dict[str, Any]:
    import numpy
    import torch

    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "baton": __version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "quick": config.quick,
        "seed": config.seed,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "settings": settings,
        "code_versions": dict(CODE_VERSIONS),
        "steps": {},
    }


def build(config: WorldBuildConfig) -> dict[str, Any]:
    """Build (or finish building) the world; return its manifest."""
    import torch

    paths = WorldPaths(world_dir(config.cache, quick=config.quick, seed=config.seed))
    paths.root.mkdir(parents=True, exist_ok=True)
    settings = step_settings(config)
    prints = fingerprints(settings)
    manifest = read_manifest(paths.root)
    if manifest is None or manifest.get("format") != FORMAT or manifest.get("version") != FORMAT_VERSION:
        manifest = _fresh_manifest(config, settings)
    manifest["settings"] = settings
    manifest["code_versions"] = dict(CODE_VERSIONS)

    runners: dict[str, Callable[[], dict[str, Any]]] = {
        "corpus": lambda: _build_corpus(paths, settings, config.progress),
        "t2a": lambda: _train_t2a(paths, settings, config.progress),
        "clap": lambda: _train_clap(paths, settings, config.progress),
        "annotator": lambda: _train_detector(paths, "annotator", settings, config.progress),
        "evaluator": lambda: _train_detector(paths, "evaluator", settings, config.progress),
        "base_eval": lambda: _evaluate_base(paths, settings, config.progress),
    }
    console.print(f"[bold]world[/] {'(quick) ' if config.quick else ''}in {paths.root}")
    needed = steps_needed(config.only)
    for number, name in enumerate(STEPS, start=1):
        if name not in needed:
            continue
        # What another build of this world (other steps, run at the same time) recorded meanwhile.
        manifest = _with_steps_on_disk(manifest, paths.root)
        done = manifest["steps"].get(name)
        cached = (
            not config.force
            and done is not None
            and done.get("fingerprint") == prints[name]
            and paths.step(name).exists()
        )
        if cached:
            console.print(f"[{number}/{len(STEPS)}] {name}: cached ({done['seconds']:.0f} s when built)")
            if name == "t2a":
                apply_sampling_defaults(paths.step("t2a"), settings["t2a"])
            continue
        console.print(
            f"[{number}/{len(STEPS)}] {name} ...{_why_rebuilt(done, name, config.force, prints[name])}"
        )
        start = time.perf_counter()
        with torch.random.fork_rng(devices=[]):
            figures = runners[name]()
        if name == "t2a":
            apply_sampling_defaults(paths.step("t2a"), settings["t2a"])
        seconds = time.perf_counter() - start
        manifest = _with_steps_on_disk(manifest, paths.root)
        manifest["steps"][name] = {
            "fingerprint": prints[name],
            "code_version": CODE_VERSIONS[name],
            "seconds": round(seconds, 1),
            "figures": figures,
        }
        manifest["updated"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        write_json(paths.manifest, manifest)
        console.print(f"    done in {seconds:.1f} s {_headline(name, figures)}")
    # Steps kept in the manifest's order of STEPS, whatever order they were built in.
    manifest = _with_steps_on_disk(manifest, paths.root)
    manifest["steps"] = {name: manifest["steps"][name] for name in STEPS if name in manifest["steps"]}
    manifest["total_build_seconds"] = round(sum(s["seconds"] for s in manifest["steps"].values()), 1)
    write_json(paths.manifest, manifest)
    return manifest


def _with_steps_on_disk(manifest: dict[str, Any], root: Path) -> dict[str, Any]:
    """``manifest`` with the steps another build process has recorded on disk since (theirs win)."""
    on_disk = read_manifest(root)
    if on_disk is None or on_disk.get("format") != FORMAT or on_disk.get("version") != FORMAT_VERSION:
        return manifest
    return {**manifest, "steps": {**manifest["steps"], **on_disk.get("steps", {})}}


def _why_rebuilt(done: dict[str, Any] | None, name: str, force: bool, fingerprint: str) -> str:
    """Why a step built before is built again (empty for a step never built)."""
    if done is None:
        return ""
    if force:
        return " (--force)"
    if done.get("code_version", 1) != CODE_VERSIONS[name]:
        return f" (cached copy was built by older code, version {done.get('code_version', 1)}: rebuilding)"
    if done.get("fingerprint") == fingerprint:
        return " (its files are missing: rebuilding)"
    return " (settings or inputs changed: rebuilding)"


def stale_steps(manifest: dict[str, Any]) -> list[str]:
    """Steps of a built world that this baton's code would rebuild (built by an older version)."""
    return [
        name
        for name, done in manifest.get("steps", {}).items()
        if name in CODE_VERSIONS and done.get("code_version", 1) != CODE_VERSIONS[name]
    ]


def _headline(name: str, figures: dict[str, Any]) -> str:
    keys = {
        "t2a": ("final_loss",),
        "clap": ("recall_at_1", "recall_at_5"),
        "annotator": ("macro_f1", "order_accuracy"),
        "evaluator": ("macro_f1", "order_accuracy"),
        "base_eval": ("single_accuracy", "integrity_accuracy", "temporal_accuracy", "fad"),
    }.get(name, ())
    shown = []
    for key in keys:
        value = figures.get(key)
        if isinstance(value, dict):
            value = value.get("value")
        if isinstance(value, (int, float)):
            shown.append(f"{key} {value:.3f}")
    return f"({', '.join(shown)})" if shown else ""


# --- the steps ------------------------------------------------------------------------------------


def _build_corpus(paths: WorldPaths, settings: dict[str, Any], progress: bool) -> dict[str, Any]:
    from baton.world.corpus import CorpusConfig, build_corpus, mix_counts

    config = CorpusConfig(**settings["corpus"])
    corpus = build_corpus(config, progress=progress)
    corpus.save(paths.corpus)
    return {"clips": len(corpus), "mix": mix_counts(config)}


def apply_sampling_defaults(model_dir: Path, t2a: dict[str, Any]) -> bool:
    """Write the sampling settings of ``t2a`` (a T2A step's settings) into the model's config.json as
    its defaults; return whether anything changed."""
    from baton.artifacts import atomic_write_text
    from baton.world.t2a import T2ATrainConfig

    path = Path(model_dir) / "config.json"
    meta = read_json(path)
    model = meta["config"]
    # T2ATrainConfig.model_config says which model setting each sampling setting becomes.
    defaults = T2ATrainConfig(**t2a).model_config()
    wanted = {k: getattr(defaults, k) for k in ("default_steps", "default_guidance", "griffin_lim_iters")}
    if all(model.get(k) == v for k, v in wanted.items()):
        return False
    model.update(wanted)
    atomic_write_text(path, json.dumps(meta, indent=2))
    return True


def load_corpus(paths: WorldPaths) -> Any:
    from baton.world.corpus import Corpus

    return Corpus.load(paths.corpus)


def _train_t2a(paths: WorldPaths, settings: dict[str, Any], progress: bool) -> dict[str, Any]:
    from baton.world.t2a import T2ATrainConfig, train_t2a

    config = T2ATrainConfig(**settings["t2a"])
    model = train_t2a(load_corpus(paths), config, progress=progress)
    model.save(paths.step("t2a"))
    report = dict(model.report or {})
    report.pop("config", None)
    return report


def _train_clap(paths: WorldPaths, settings: dict[str, Any], progress: bool) -> dict[str, Any]:
    from baton.world.clap import ClapConfig, train_clap

    clap, figures = train_clap(ClapConfig(**settings["clap"]), load_corpus(paths), progress=progress)
    clap.save(paths.step("clap"))
    return figures


def _train_detector(paths: WorldPaths, name: str, settings: dict[str, Any], progress: bool) -> dict[str, Any]:
    from baton.world.detectors import DetectorConfig, train_detector

    detector, figures = train_detector(DetectorConfig(**settings[name]), progress=progress)
    detector.save(paths.step(name))
    return figures


def _evaluate_base(paths: WorldPaths, settings: dict[str, Any], progress: bool) -> dict[str, Any]:
    from baton.world.assess import assess_world_model

    figures = assess_world_model(
        model_dir=paths.step("t2a"),
        evaluator_dir=paths.step("evaluator"),
        clap_dir=paths.step("clap"),
        prompts_per_task=settings["base_eval"]["prompts_per_task"],
        seed=settings["base_eval"]["seed"],
        progress=progress,
    )
    paths.step("base_eval").mkdir(parents=True, exist_ok=True)
    write_json(paths.step("base_eval") / "figures.json", figures)
    return figures
