"""``baton world build``: everything the sound world needs, built once, cached, resumable.

Steps, each saved in its own folder of the world's cache directory as soon as it is done:

1. ``corpus``: the AudioCaps-like pretraining corpus (mostly single events).
2. ``t2a``: the world text-to-audio diffusion model, trained from scratch on the corpus.
3. ``clap``: the world CLAP (contrastive audio and text encoders).
4. ``annotator`` and ``evaluator``: two independent event detectors; the first plays the simulated
   human annotator, the second judges models, so evaluation never grades its own homework.
5. ``base_eval``: the base T2A model judged by the evaluator on held-out prompts (single events,
   2-event integrity, 3-event temporal) with 95% intervals, and its FAD against real world clips.

``manifest.json`` records versions, seeds, every step's settings, time and quality figures, and where
the world came from (``origin``). A rerun skips the steps whose settings (and whose inputs' settings)
are unchanged and whose files exist, so an interrupted build resumes at the step it was in.

Without an explicit ``recipe``, a build of the world the package ships (the full world, seed 0:
:mod:`baton.world.shipping`) installs the shipped models, pretrained at length, in seconds instead of
training; without a shipped world it trains recipe v1. An explicit ``recipe`` always trains here.

Steps run ``jobs`` at a time (default 2), each as soon as the steps it needs are done, in its own
process on ``threads`` torch threads (default 1); see :mod:`baton.workers` for why. The thread count
is part of each trained step's fingerprint, because the order of a sum decides the last bits of the
weights; with it fixed, the same seed gives the same world whatever ``jobs`` is, on any machine with
the same kind of CPU. Another CPU model may round otherwise and build another, equally good world:
the manifest records the CPU.

Layer: building a world trains the world's models (:mod:`baton.world`'s own floor, which imports no
stage) and then assesses the base model, which generates clips and evaluates them
(:mod:`baton.world.assess`). So this module, with ``assess`` and the ``baton world`` command, stands
above the stages, beside the demo; everything a stage needs to find a built world is in
:mod:`baton.world.manifest`, below them (tests/test_layers.py keeps it so).
"""

from __future__ import annotations

import functools
import json
import platform
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy
import torch

from baton import __version__
from baton.artifacts import atomic_write_text, read_json, write_json
from baton.config import config_to_dict
from baton.console import console, make_progress, warn
from baton.errors import InputError
from baton.workers import cpu_model, process_pool, with_threads
from baton.world.assess import assess_world_model
from baton.world.clap import ClapConfig, clap_config, train_clap
from baton.world.config import STEPS, WorldBuildConfig
from baton.world.corpus import Corpus, CorpusConfig, build_world_corpus
from baton.world.detectors import DetectorConfig, annotator_config, evaluator_config, train_detector
from baton.world.manifest import (
    CODE_VERSIONS,
    FORMAT,
    FORMAT_VERSION,
    SAMPLING_DEFAULTS,
    WorldPaths,
    depends_on,
    fingerprints,
    read_manifest,
    steps_needed,
    world_dir,
    world_origin,
)
from baton.world.pretrain import T2APretrainConfig, pretrain_t2a
from baton.world.shipping import install_shipped, read_shipped_manifest, shipped_dir, unusable_reason
from baton.world.t2a import T2ATrainConfig, train_t2a

# The order in which ready steps start. In a 2-job build of the full world (one thread each, side by
# side) t2a took ~490 s, the evaluator ~200, clap ~120, the annotator ~190, base_eval ~60: t2a runs
# in one lane; the evaluator, clap and the annotator in the other; base_eval follows t2a.
START_ORDER = ("corpus", "t2a", "evaluator", "clap", "annotator", "base_eval")
V2_MIX = {"single_share": 0.45, "pair_share": 0.30, "triple_share": 0.25}
V2_T2A = {"steps": 3000, "warmup_steps": 500, "ema_decay": 0.999}
# The constant schedule: the weights at a step do not depend on the number of steps, so one run's
# assessments say where to stop, and stopping there is the recipe's model (baton.world.pretrain).
V2_PRETRAIN = {
    "lr_schedule": "constant",
    "stats_clips": 2048,
    "vocabulary_clips": 20000,
    "assess_every": 1000,
    "assess_prompts": 100,
}
V2_PRETRAIN_QUICK = {
    **V2_PRETRAIN,
    "stats_clips": 32,
    "vocabulary_clips": 256,
    "assess_every": 8,
    "assess_prompts": 2,
}
# The long run's own keys in a v2 T2A step's settings, beside T2ATrainConfig's fields.
PRETRAIN_KEYS = ("stream", *V2_PRETRAIN)


def step_settings(config: WorldBuildConfig) -> dict[str, Any]:
    """Every step's settings, as plain data: what the manifest records and what a rerun compares."""
    quick, seed = config.quick, config.seed
    v2 = config.recipe == "v2"
    mix = V2_MIX if v2 else {}
    corpus = CorpusConfig(n_clips=120 if quick else 2000, seed=seed, **mix)
    t2a = config_to_dict(
        T2ATrainConfig.quick(seed) if quick else T2ATrainConfig(seed=seed, **(V2_T2A if v2 else {}))
    )
    if v2:  # quick: the same long-run machinery at the quick world's size, for tests
        pretrain = V2_PRETRAIN_QUICK if quick else V2_PRETRAIN
        t2a.update(stream=config_to_dict(CorpusConfig(seed=seed, **mix)), **pretrain)
    n_eval = config.eval_prompts if config.eval_prompts is not None else (4 if quick else 200 if v2 else 100)
    return {
        **({"recipe": "v2"} if v2 else {}),
        "corpus": config_to_dict(corpus),
        "t2a": t2a,
        "clap": config_to_dict(clap_config(seed, quick)),
        "annotator": config_to_dict(annotator_config(seed, quick)),
        "evaluator": config_to_dict(evaluator_config(seed + 1000, quick)),
        # v2: 2 clips a prompt, integrity prompts repeating the 66 pairs in rounds (assess_world_model).
        "base_eval": {
            "prompts_per_task": n_eval,
            "seed": seed + 2000,
            **({"clips_per_prompt": 2} if v2 else {}),
        },
        "threads": config.threads,
    }


def _fresh_manifest(config: WorldBuildConfig, settings: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "baton": __version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "quick": config.quick,
        "seed": config.seed,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "settings": settings,
        "code_versions": dict(CODE_VERSIONS),
        "steps": {},
    }


def build(config: WorldBuildConfig) -> dict[str, Any]:
    """Build (or finish building) the world, or install the shipped one; return its manifest."""
    if config.recipe is None:
        shipped = shipped_world_for(config)
        if shipped is not None:
            return install_shipped(shipped, config.cache, force=config.force, progress=config.progress)
    paths = WorldPaths(world_dir(config.cache, quick=config.quick, seed=config.seed))
    paths.root.mkdir(parents=True, exist_ok=True)
    settings = step_settings(config)
    prints = fingerprints(settings)
    manifest = read_manifest(paths.root)
    if manifest is None or manifest.get("format") != FORMAT or manifest.get("version") != FORMAT_VERSION:
        manifest = _fresh_manifest(config, settings)
    elif world_origin(manifest)["kind"] == "shipped":
        # A world installed from the shipped one, now trained here (an explicit recipe): this machine's
        # versions from now on; its shipped steps are kept (and said so) until each is trained.
        manifest = {
            **_fresh_manifest(config, settings),
            "steps": manifest["steps"],
            "origin": manifest["origin"],
        }
    manifest["settings"] = settings
    manifest["code_versions"] = dict(CODE_VERSIONS)
    console.print(f"[bold]world[/] {'(quick) ' if config.quick else ''}in {paths.root}")

    # 1. What is cached; the rest is to do.
    todo = []
    needs = depends_on(settings)
    for name in steps_needed(config.only, needs):
        # What another build of this world (other steps, run at the same time) recorded meanwhile.
        manifest = _with_steps_on_disk(manifest, paths.root)
        done = manifest["steps"].get(name)
        if (
            not config.force
            and done is not None
            and done.get("fingerprint") == prints[name]
            and not done.get("shipped")  # an explicit recipe trains the world here, from nothing
            and paths.step(name).exists()
        ):
            console.print(f"{_number(name)} {name}: cached ({done['seconds']:.0f} s when built)")
            if name == "t2a":
                apply_sampling_defaults(paths.step("t2a"), settings["t2a"])
        else:
            todo.append((name, _why_rebuilt(done, name, config.force, prints[name])))

    # 2. Each step recorded in the manifest as soon as it is done.
    def record(name: str, figures: dict[str, Any], seconds: float) -> None:
        nonlocal manifest
        manifest = _with_steps_on_disk(manifest, paths.root)
        # A resumed pretraining counts the seconds of all its sessions; this run saw only the last.
        seconds = max(seconds, float(figures.get("seconds") or 0.0))
        manifest["steps"][name] = {
            "fingerprint": prints[name],
            "code_version": CODE_VERSIONS[name],
            "seconds": round(seconds, 1),
            "figures": figures,
        }
        manifest["updated"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        write_json(paths.manifest, manifest)
        console.print(f"    {name} done in {seconds:.1f} s {_headline(name, figures)}")

    # 3. The steps side by side where there are jobs for them, each on `threads` threads.
    started = time.perf_counter()
    if config.parallel_jobs > 1 and len(todo) > 1:
        _run_side_by_side(todo, paths, settings, config, record)
    else:
        for name, why in todo:
            console.print(f"{_number(name)} {name} ...{why}")
            start = time.perf_counter()
            figures = run_step(
                str(paths.root), name, settings, config.threads, config.progress, config.resume
            )
            record(name, figures, time.perf_counter() - start)
    if todo:
        manifest["last_build"] = {
            "steps": [name for name, _ in todo],
            "jobs": config.parallel_jobs,
            "threads": config.threads,
            "wall_seconds": round(time.perf_counter() - started, 1),
        }

    # Steps kept in the manifest's order of STEPS, whatever order they were built in.
    manifest = _with_steps_on_disk(manifest, paths.root)
    manifest["steps"] = {name: manifest["steps"][name] for name in STEPS if name in manifest["steps"]}
    manifest["total_build_seconds"] = round(sum(s["seconds"] for s in manifest["steps"].values()), 1)
    shipped_left = [name for name, step in manifest["steps"].items() if step.get("shipped")]
    if shipped_left:  # an installed world of which some steps were trained here since
        trained_here = [name for name in manifest["steps"] if name not in shipped_left and name != "corpus"]
        manifest["origin"] = {**manifest["origin"], "trained_here": trained_here}
    else:
        manifest["origin"] = {"kind": "built", "recipe": config.recipe or "v1"}
    write_json(paths.manifest, manifest)
    return manifest


def shipped_world_for(config: WorldBuildConfig) -> Path | None:
    """The shipped world folder to install for ``config`` (which gives no recipe), or None to train.

    It is installed when it is the world asked for (its quick flag and seed) and this baton's code can
    read it; a setting that only a training uses is refused rather than ignored.
    """
    folder = shipped_dir()
    shipped = read_shipped_manifest(folder)
    if shipped is None or (bool(shipped.get("quick")), shipped.get("seed")) != (config.quick, config.seed):
        return None
    reason = unusable_reason(shipped)
    if reason is not None:
        warn(f"the shipped world in {folder} is not installed, {reason}: training the world here (v1)")
        return None
    for name, given in (
        ("resume", config.resume),
        ("eval_prompts", config.eval_prompts is not None),
        ("threads", config.threads != 1),
    ):
        if given:
            raise InputError(
                f"a training's setting (--{name.replace('_', '-')}), but without --recipe the shipped world"
                " is installed, not trained: give --recipe v1 or v2 to train the world here",
                field=name,
            )
    return folder


def _number(name: str) -> str:
    return f"[{STEPS.index(name) + 1}/{len(STEPS)}]"


def run_step(
    root: str, name: str, settings: dict[str, Any], threads: int, progress: bool, resume: bool = False
) -> dict[str, Any]:
    """Build one step into the world folder ``root``; return its figures.

    The step runs on ``threads`` torch threads, with torch's global random state left as it was;
    ``resume`` lets a v2 T2A pretraining go on from its checkpoints. Also the entry point of a build's
    worker processes.
    """
    paths = WorldPaths(Path(root))
    builder = functools.partial(_train_t2a, resume=resume) if name == "t2a" else _STEP_BUILDERS[name]
    with torch.random.fork_rng(devices=[]):
        figures = with_threads(threads, builder, paths, settings, progress)
    if name == "t2a":
        apply_sampling_defaults(paths.step("t2a"), settings["t2a"])
    return figures


def _run_side_by_side(
    todo: list[tuple[str, str]],
    paths: WorldPaths,
    settings: dict[str, Any],
    config: WorldBuildConfig,
    record: Callable[[str, dict[str, Any], float], None],
) -> None:
    """Run ``todo``'s steps in ``config.parallel_jobs`` worker processes, each as soon as the steps it
    depends on are done, longest first (:data:`START_ORDER`).

    When a step fails, no new one starts; the running ones finish and are recorded (nothing done is
    lost), then the first failure is raised.
    """
    why = dict(todo)
    needs = depends_on(settings)
    waiting = sorted(why, key=START_ORDER.index)
    done = {name for name in STEPS if name not in why}
    running: dict[Future, tuple[str, float, Any]] = {}
    failure: BaseException | None = None
    with (
        process_pool(config.parallel_jobs) as pool,
        make_progress(config.progress) as bar,
    ):
        while waiting or running:
            ready = [n for n in waiting if all(dep in done for dep in needs.get(n, ()))]
            while failure is None and ready and len(running) < config.parallel_jobs:
                name = ready.pop(0)
                waiting.remove(name)
                console.print(f"{_number(name)} {name} ...{why[name]} (in its own process)")
                future = pool.submit(
                    run_step, str(paths.root), name, settings, config.threads, False, config.resume
                )
                running[future] = (name, time.perf_counter(), bar.add_task(name, total=None))
            if not running:
                break  # a failure stopped the rest
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                name, start, task = running.pop(future)
                bar.update(task, total=1, completed=1)
                try:
                    figures = future.result()
                except BaseException as error:  # noqa: BLE001 - raised again once the others finish
                    console.print(f"    {name} failed: {error}")
                    failure = failure or error
                    continue
                done.add(name)
                record(name, figures, time.perf_counter() - start)
    if failure is not None:
        raise failure


def full_build_seconds(manifest: dict[str, Any]) -> float | None:
    """The wall time of the run that built every step of this world, if one did (steps run side by
    side, so the sum of their times is more than the build took)."""
    last = manifest.get("last_build") or {}
    whole = set(last.get("steps", ())) == set(manifest.get("steps", {}))
    return last.get("wall_seconds") if whole else None


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
    if done.get("shipped"):
        return " (installed from the shipped world: trained here, as the recipe asks)"
    if done.get("code_version", 1) != CODE_VERSIONS[name]:
        return f" (cached copy was built by older code, version {done.get('code_version', 1)}: rebuilding)"
    if done.get("fingerprint") == fingerprint:
        return " (its files are missing: rebuilding)"
    return " (settings or inputs changed: rebuilding)"


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
    return build_world_corpus(paths.corpus, settings, progress)


def apply_sampling_defaults(model_dir: Path, t2a: dict[str, Any]) -> bool:
    """Write the sampling settings of ``t2a`` (a T2A step's settings) into the model's config.json as
    its defaults; return whether anything changed."""
    path = Path(model_dir) / "config.json"
    meta = read_json(path)
    model = meta["config"]
    defaults = T2ATrainConfig(**{k: v for k, v in t2a.items() if k not in PRETRAIN_KEYS}).model_config()
    wanted = {field: getattr(defaults, field) for field in SAMPLING_DEFAULTS.values()}
    if all(model.get(k) == v for k, v in wanted.items()):
        return False
    model.update(wanted)
    atomic_write_text(path, json.dumps(meta, indent=2))
    return True


def load_corpus(paths: WorldPaths) -> Any:
    return Corpus.load(paths.corpus)


def _train_t2a(
    paths: WorldPaths, settings: dict[str, Any], progress: bool, resume: bool = False
) -> dict[str, Any]:
    if "stream" in settings["t2a"]:
        model = _pretrain_t2a(paths, settings, progress, resume)
    else:
        model = train_t2a(load_corpus(paths), T2ATrainConfig(**settings["t2a"]), progress=progress)
    model.save(paths.step("t2a"))
    report = dict(model.report or {})
    report.pop("config", None)
    return report


def _pretrain_t2a(paths: WorldPaths, settings: dict[str, Any], progress: bool, resume: bool) -> Any:
    """The v2 T2A step: a long pretraining in ``t2a-run/`` (checkpoints, assessments), resumable."""
    t2a = settings["t2a"]
    config = T2APretrainConfig(
        t2a=T2ATrainConfig(**{k: v for k, v in t2a.items() if k not in PRETRAIN_KEYS}),
        data=CorpusConfig(**t2a["stream"]),
        stats_clips=t2a["stats_clips"],
        vocabulary_clips=t2a["vocabulary_clips"],
        assess_every=t2a["assess_every"],
        lr_schedule=t2a.get("lr_schedule", "cosine"),
    )

    def assess(model_dir: Path, step: int) -> dict[str, Any]:
        figures = assess_world_model(
            model_dir,
            paths.step("evaluator"),
            paths.step("clap"),
            prompts_per_task=t2a["assess_prompts"],
            seed=settings["base_eval"]["seed"] + 1,  # other prompts than the base evaluation's
            progress=False,
        )
        shown = ", ".join(
            f"{k} {figures[f'{k}_accuracy']['value']:.3f}" for k in ("single", "integrity", "temporal")
        )
        console.print(f"    t2a step {step}: {shown}, FAD {figures['fad']:.3f}")
        return figures

    model = pretrain_t2a(config, paths.step("t2a-run"), resume=resume, assess=assess, progress=progress)
    assert model is not None  # only stop_after ends a run early
    return model


def _train_clap(paths: WorldPaths, settings: dict[str, Any], progress: bool) -> dict[str, Any]:
    clap, figures = train_clap(ClapConfig(**settings["clap"]), load_corpus(paths), progress=progress)
    clap.save(paths.step("clap"))
    return figures


def _train_detector(paths: WorldPaths, settings: dict[str, Any], progress: bool, name: str) -> dict[str, Any]:
    detector, figures = train_detector(DetectorConfig(**settings[name]), progress=progress)
    detector.save(paths.step(name))
    return figures


def _evaluate_base(paths: WorldPaths, settings: dict[str, Any], progress: bool) -> dict[str, Any]:
    figures = assess_world_model(
        model_dir=paths.step("t2a"),
        evaluator_dir=paths.step("evaluator"),
        clap_dir=paths.step("clap"),
        prompts_per_task=settings["base_eval"]["prompts_per_task"],
        seed=settings["base_eval"]["seed"],
        clips_per_prompt=settings["base_eval"].get("clips_per_prompt", 1),
        progress=progress,
    )
    paths.step("base_eval").mkdir(parents=True, exist_ok=True)
    write_json(paths.step("base_eval") / "figures.json", figures)
    return figures


_STEP_BUILDERS: dict[str, Callable[[WorldPaths, dict[str, Any], bool], dict[str, Any]]] = {
    "corpus": _build_corpus,
    "t2a": _train_t2a,
    "clap": _train_clap,
    "annotator": lambda paths, settings, progress: _train_detector(paths, settings, progress, "annotator"),
    "evaluator": lambda paths, settings, progress: _train_detector(paths, settings, progress, "evaluator"),
    "base_eval": _evaluate_base,
}
