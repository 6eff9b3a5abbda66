"""``baton demo``: the whole BATON loop on the built-in sound world, measured, in one command.

Stages run in order; each is skipped when its output exists, so a rerun resumes where the last one
stopped. Everything goes under ``OUT`` (the layout ``baton report`` reads, :mod:`baton.report.run`)::

    1. world       baton world build (cached in the user's cache folder)
    2. prompts     OUT/prompts/: world integrity and temporal prompts; train and held-out test
                   prompts never share an event set
    3. generate    OUT/generated/: 5 clips per train prompt from the base world model
    4. annotate    OUT/annotation/: simulated annotators (or people, with --human) label the clips of
                   a human-sized share of the train prompts (HD) through the annotation server;
                   labels.jsonl is their export. With --active, as many clips are chosen instead from
                   every train prompt's, in rounds of active selection (baton.annotation.rounds)
    5. reward      OUT/reward/: the reward model is judged on HD by cross-validation over its
                   prompts (eval.json: every clip predicted by a head that never saw its prompt),
                   then learns all of HD and labels the clips of the other train prompts (RD:
                   rewards.jsonl)
    6. finetune    OUT/finetune/<method>/: BATON's reward-weighted objective, Diffusion-DPO and SFT
                   (and, with --method ...,control, the label-blind control: the same fine-tuning on every clip),
                   each from the base model on the same HD + RD
    7. evaluate    OUT/evaluation/: base and tuned models on the held-out prompts, same seeds,
                   judged by the evaluator detector (never the annotators' detector)
    8. report      OUT/report.html

``OUT/run.json`` keeps the settings, each stage's time and the headline figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.table import Table

from baton.annotation.app import create_app
from baton.annotation.config import ServeConfig, SimulateConfig
from baton.annotation.routes.context import login_link
from baton.annotation.run import export_labels, prepare
from baton.annotation.server import BackgroundServer
from baton.annotation.simulate import simulate
from baton.artifacts import (
    LabelRecord,
    PromptRecord,
    RewardRecord,
    SampleRecord,
    read_records,
    store_path,
    write_json,
    write_records,
)
from baton.config import config_to_dict
from baton.console import console
from baton.demo.config import DemoConfig
from baton.errors import InputError
from baton.evaluation.config import EvaluateConfig
from baton.evaluation.run import run as run_evaluation
from baton.finetune.config import FinetuneConfig
from baton.finetune.run import finetune, finished_model
from baton.generation.run import GenerateConfig
from baton.generation.run import run as generate
from baton.prompts.curate import curate_prompts
from baton.report.config import ReportConfig
from baton.report.run import run as run_report
from baton.reward.config import RewardTrainConfig
from baton.reward.crossval import cross_validate, figure_lines
from baton.reward.score import score_samples
from baton.reward.select import DEFAULT_RULE
from baton.reward.train import train_reward
from baton.stats import difference_excludes_zero
from baton.workers import map_side_by_side
from baton.world.build import WorldBuildConfig, build
from baton.world.captions import world_vocabulary
from baton.world.manifest import STEPS, world_dir

# The fine-tuning methods the demo can compare (METHODS). What each model of the results table is
# (run.json's "models", shown under the report's table).
MODEL_NOTES: dict[str, str] = {
    "base": "the world T2A model before fine-tuning",
    "baton": "BATON: reward-weighted denoising loss on the labelled clips + beta x the pretraining loss",
    "dpo": "Diffusion-DPO (Tango 2) on pairs of one prompt's clips labelled 1 and 0, against the base",
    "sft": "plain fine-tuning on the clips labelled 1",
    "control": "plain fine-tuning on every clip, labels ignored: a method's gain over it is what the labels bring",
    "reference": "real world clips of the test prompts (the synthesizer's own)",
}
TASKS: tuple[str, ...] = ("integrity", "temporal")
CONTROL = "control"  # the label-blind method every other is also compared with
# World clips sampled together: 0.133 s a clip against 0.153 at 8 on 2 CPU cores, no faster at 32
# (measured with the patch-4 model).
# A clip never depends on its batch, so this changes no clip.
WORLD_BATCH = 16


def quick_sizes(config: DemoConfig) -> DemoConfig:
    if config.quick:
        config.per_prompt = min(config.per_prompt, 3)
        config.integrity_train, config.integrity_test = 6, 3
        config.temporal_train, config.temporal_test = 6, 3
        config.annotators = min(config.annotators, 3)
        config.labels_per_clip = min(config.labels_per_clip, 3)
        # The tiny world's model makes no right clip, so careful annotators would label every clip 0
        # and SFT and DPO would have nothing to run on; noisier ones give both labels, so that the smoke
        # run exercises every method.
        config.noise = max(config.noise, 0.4)
        config.steps = min(config.steps, 4)
        config.eval_per_prompt = 1
    return config


# --- stage 2: prompts ---------------------------------------------------------------------------


def split_prompts(config: DemoConfig) -> dict[str, list[PromptRecord]]:
    """Train and test prompts per task; a test prompt's event set never appears in training."""
    vocabulary = world_vocabulary()
    out: dict[str, list[PromptRecord]] = {}
    for task, n_train, n_test, offset in (
        ("integrity", config.integrity_train, config.integrity_test, 0),
        ("temporal", config.temporal_train, config.temporal_test, 1),
    ):
        prompts = curate_prompts(vocabulary, task=task, n=n_train + n_test, seed=config.seed + offset)
        out[f"{task}-train"] = prompts[:n_train]
        out[f"{task}-test"] = prompts[n_train:]
    return out


def share_prompts(prompts: list[PromptRecord], share: float) -> tuple[list[PromptRecord], list[PromptRecord]]:
    """The first ``share`` of each task's prompts, and the rest (at least one on each side)."""
    first: list[PromptRecord] = []
    rest: list[PromptRecord] = []
    for task in TASKS:
        group = [p for p in prompts if p.task == task]
        if not group:
            continue
        cut = min(max(1, round(share * len(group))), max(1, len(group) - 1))
        first += group[:cut]
        rest += group[cut:]
    return first, rest


def samples_of(samples: list[SampleRecord], prompts: list[PromptRecord]) -> list[SampleRecord]:
    ids = {p.id for p in prompts}
    return [s for s in samples if s.prompt_id in ids]


# --- the run ------------------------------------------------------------------------------------


class Stages:
    """Runs the demo's stages in order, timing each and printing its heading."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.number = 0

    def run(self, name: str, work: Callable[[], Any]) -> Any:
        self.number += 1
        console.rule(f"[bold]{self.number}. {name}")
        start = time.perf_counter()
        result = work()
        self.seconds[name] = round(time.perf_counter() - start, 1)
        return result


def run(config: DemoConfig) -> dict[str, Any]:
    config = quick_sizes(config)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    stages = Stages()
    started = time.perf_counter()

    world = stages.run("world", lambda: build_world(config))
    prompts = stages.run("prompts", lambda: make_prompts(config, out))
    samples = stages.run("generate", lambda: generate_train_clips(config, out, world, prompts["train"]))
    human_prompts, reward_prompts = share_prompts(prompts["train"], config.human_share)
    hd_samples = samples_of(samples, human_prompts)
    if config.active:  # the same number of labels, chosen from every train clip
        labels = stages.run("annotate", lambda: annotate(config, out, world, samples, budget=len(hd_samples)))
        labelled = {r.sample_id for r in read_records(labels, LabelRecord)}
        rd_samples = [s for s in samples if s.id not in labelled]
    else:
        labels = stages.run("annotate", lambda: annotate(config, out, world, hd_samples))
        rd_samples = samples_of(samples, reward_prompts)
    rewards = stages.run("reward", lambda: reward(config, out, world, labels, rd_samples))
    tuned, skipped = stages.run("finetune", lambda: finetune_all(config, out, world, labels, rewards))
    metrics = stages.run("evaluate", lambda: evaluate(config, out, world, tuned))

    summary = {
        # Paths as the rule of baton.artifacts has them: absolute, or from run.json's folder (OUT).
        "settings": config_to_dict(config, absolute_paths=True),
        "world": str(world.resolve()),
        "seconds": {**stages.seconds, "total": round(time.perf_counter() - started, 1)},
        "clips": {
            "train": len(samples),
            "human_labelled": len(read_records(labels, LabelRecord)),
            "reward_labelled": len(read_records(rewards, RewardRecord)),
        },
        "headline": headline(metrics),
        "models": {name: MODEL_NOTES[name] for name in ("base", *tuned, "reference")},
        "skipped": skipped,
        "report": store_path(out / "report.html", out),
    }
    write_json(out / "run.json", summary)  # the report shows it
    stages.run("report", lambda: write_report(out))
    summary["seconds"] = {**stages.seconds, "total": round(time.perf_counter() - started, 1)}
    write_json(out / "run.json", summary)
    print_headline(summary["headline"])
    console.print(
        "stage times: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in summary["seconds"].items())
    )
    console.print(f"[bold]report: {out / 'report.html'}")
    return summary


# --- stages 1-3 ---------------------------------------------------------------------------------


def build_world(config: DemoConfig) -> Path:
    # The demo judges the base model itself, on its own held-out prompts: the world's base_eval step
    # (~40 s of a fresh build's wall time) is left to `baton world build`.
    build(
        WorldBuildConfig(
            quick=config.quick,
            seed=config.world_seed,
            cache=config.cache,
            progress=config.progress,
            only=[step for step in STEPS if step != "base_eval"],
        )
    )
    console.print("    base_eval: not needed here (`baton world build` runs it)")
    return world_dir(config.cache, quick=config.quick, seed=config.world_seed)


def make_prompts(config: DemoConfig, out: Path) -> dict[str, list[PromptRecord]]:
    folder = out / "prompts"
    names = ("integrity-train", "integrity-test", "temporal-train", "temporal-test")
    files = {name: folder / f"{name}.jsonl" for name in names}
    if not all(path.exists() for path in files.values()):
        for name, records in split_prompts(config).items():
            write_records(files[name], records)
    prompts = {name: read_records(path, PromptRecord) for name, path in files.items()}
    prompts["train"] = prompts["integrity-train"] + prompts["temporal-train"]
    prompts["test"] = prompts["integrity-test"] + prompts["temporal-test"]
    for split in ("train", "test"):
        write_records(folder / f"{split}.jsonl", prompts[split])
    for name in names:
        console.print(f"    {name}: {len(prompts[name])} prompts")
    return prompts


def generate_train_clips(
    config: DemoConfig, out: Path, world: Path, prompts: list[PromptRecord]
) -> list[SampleRecord]:
    samples = generate(
        GenerateConfig(
            prompts=out / "prompts" / "train.jsonl",
            out=out / "generated",
            backend="world",
            model=str(world / "t2a"),
            per_prompt=config.per_prompt,
            seed=config.seed,
            batch_size=WORLD_BATCH,
            progress=config.progress,
        )
    )
    console.print(f"    {len(samples)} clips of {len(prompts)} prompts in {out / 'generated'}")
    return samples


# --- stage 4: annotation ------------------------------------------------------------------------


def annotate(
    config: DemoConfig, out: Path, world: Path, samples: list[SampleRecord], budget: int = 0
) -> Path:
    """HD: votes on the clips of the human share of the train prompts, exported as labels.jsonl; with
    ``budget`` (--active), votes on that many of ``samples``, chosen in rounds of active selection."""
    folder = out / "annotation"
    labels = folder / "labels.jsonl"
    if labels.exists():
        console.print(f"    done before: {labels}")
        return labels
    folder.mkdir(parents=True, exist_ok=True)
    # The subset lives beside samples.jsonl so that its relative audio paths still hold.
    subset = out / "generated" / "samples-human.jsonl"
    write_records(subset, samples)
    db = f"sqlite:///{(folder / 'annotations.db').resolve()}"
    selection = {}
    if budget:
        selection = {
            "select": DEFAULT_RULE,
            "round_size": -(-budget // config.active_rounds),  # the last round is cut to the budget
            "budget": budget,
            "select_encoder": f"world:{world}",
        }
        console.print(
            f"    active selection ({DEFAULT_RULE}): {budget} of {len(samples)} train clips, in "
            f"{config.active_rounds} rounds of {selection['round_size']}"
        )
    if config.human:
        wait_for_people(config, subset, db, selection)
    else:
        result = simulate(
            SimulateConfig(
                samples=[str(subset)],
                db=db,
                annotators=config.annotators,
                noise=config.noise,
                judge="world",
                world=world,
                labels_per_clip=config.labels_per_clip,
                seed=config.seed,
                progress=config.progress,
                **selection,  # type: ignore[arg-type]
            )
        )
        console.print(f"    {result.summary()}")
        if result.errors:
            raise InputError("the simulated annotators failed: " + "; ".join(result.errors[:3]))
    exported = export_labels(db, labels)
    console.print(f"    {exported.summary()}")
    return labels


def wait_for_people(
    config: DemoConfig,
    samples: Path,
    db: str,
    selection: dict[str, Any] | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
) -> None:
    """Serve the annotation app, print the login links, and wait until every clip has its votes (with
    ``selection``, the settings of rounds of active selection: every clip of the budget)."""
    prepared = prepare(
        ServeConfig(
            samples=[str(samples)],
            db=db,
            labels_per_clip=config.labels_per_clip,
            host=host,
            port=port,
            **(selection or {}),
        )
    )
    store = prepared.store
    server = BackgroundServer(create_app(store, prepared.settings), host=host, port=port).start()
    try:
        console.print(f"    the annotation server is at {server.url}")
        for k in range(1, config.labels_per_clip + 1):
            _, token = store.add_annotator(f"annotator-{k}", reset=True)
            console.print(f"    annotator {k}: [bold]{login_link(server.url, token)}[/]")
        _, admin = store.add_annotator("demo-admin", admin=True, reset=True)
        console.print(f"    dashboard: {login_link(server.url, admin)}")
        needed = ((selection or {}).get("budget") or store.count_clips()) * config.labels_per_clip
        console.print(f"    waiting for {needed} votes (Ctrl-C stops; rerun the demo to go on)")
        done = -1
        while done < needed:
            now = len(store.all_labels())  # votes and skips: a skipped clip goes to someone else
            if now != done:
                console.print(f"    {now}/{needed} votes")
                done = now
            time.sleep(5)
    finally:
        server.stop()
        store.db.dispose()


# --- stage 5: reward model ----------------------------------------------------------------------


def reward(config: DemoConfig, out: Path, world: Path, labels: Path, rd_samples: list[SampleRecord]) -> Path:
    """Judge the reward model on HD by cross-validation over its prompts, train it on all of HD, label RD."""
    folder = out / "reward"
    rewards = folder / "rewards.jsonl"
    settings = RewardTrainConfig(
        labels=labels,
        out=folder,
        encoder=f"world:{world}",
        head=config.reward_head,
        event_judge=config.reward_event_judge,
        seed=config.seed,
        progress=config.progress,
    )
    # 1. Out-of-fold figures: a held-out share of HD would hold a handful of clips labelled 1.
    if not (folder / "eval.json").exists():
        prompts = len({r.prompt_id for r in read_records(labels, LabelRecord)})
        folds = min(config.reward_folds, prompts)
        if folds < 2:
            console.print(
                f"    [yellow]{prompts} HD prompt(s): too few to cross-validate the reward model[/]"
            )
        else:
            result = cross_validate(settings, folds, folder)
            for line in figure_lines(result, f"out of fold, {folds} folds"):
                console.print(f"    {line}")
    else:
        console.print(f"    cross-validation done before: {folder / 'eval.json'}")
    # 2. The model that labels RD learns every HD clip.
    if not (folder / "config.json").exists():
        train_reward(settings)
    else:
        console.print(f"    model done before: {folder}")
    subset = out / "generated" / "samples-reward.jsonl"
    write_records(subset, rd_samples)
    score_samples(folder, subset, rewards, progress=config.progress)
    console.print(f"    {len(rd_samples)} reward-labelled clips -> {rewards}")
    return rewards


# --- stage 6: fine-tuning -----------------------------------------------------------------------


def finetune_all(
    config: DemoConfig, out: Path, world: Path, labels: Path, rewards: Path
) -> tuple[dict[str, Path], dict[str, str]]:
    """Each method from the base model on the same data: (tuned model folders, methods that could not run
    with the reason, e.g. SFT when no clip is labelled 1).

    A method whose run is finished is skipped before the data are read (a rerun repeats none of the
    data's warnings); the others run, or resume, side by side."""
    jobs = config.parallel_jobs
    runs = [
        FinetuneConfig(
            method=method,  # type: ignore[arg-type]
            backend="world",
            model=str(world / "t2a"),
            labels=labels,
            rewards=rewards,
            out=out / "finetune" / method,
            steps=config.steps,
            learning_rate=config.learning_rate,
            beta=config.beta,
            reward_mode=config.reward_mode,
            seed=config.seed,
            resume=True,
            progress=config.progress and jobs == 1,
        )
        for method in config.methods
    ]
    done: dict[str, Path] = {}
    for method, settings in zip(config.methods, runs, strict=True):
        try:
            model = finished_model(settings)
        except InputError:  # a run of other settings: finetune says so below, as it always has
            model = None
        if model is not None:
            done[method] = model
    if done:
        console.print(f"    done before: {', '.join(done)} in {out / 'finetune'}")
    todo = [(m, settings) for m, settings in zip(config.methods, runs, strict=True) if m not in done]
    outcomes: dict[str, Path | BaseException] = {}
    if todo:
        console.print(f"    {', '.join(m for m, _ in todo)}: {min(jobs, len(todo))} at a time")
        results = map_side_by_side(finetune, [(settings,) for _, settings in todo], jobs, threads=1)
        outcomes.update(zip([m for m, _ in todo], results, strict=True))
    tuned: dict[str, Path] = {}
    skipped: dict[str, str] = {}
    for method in config.methods:
        if method in done:
            tuned[method] = done[method]
            continue
        result = outcomes[method]
        if isinstance(result, InputError):  # the data cannot feed this method: say so, go on
            skipped[method] = str(result)
            console.print(f"    [yellow]{method} skipped[/]: {result}")
        elif isinstance(result, BaseException):
            raise result
        else:
            tuned[method] = result
            console.print(f"    {method} -> {result}")
    return tuned, skipped


# --- stages 7-8: evaluation and report ----------------------------------------------------------


def evaluate(config: DemoConfig, out: Path, world: Path, tuned: dict[str, Path]) -> dict[str, Any]:
    models = [f"base=world:{world / 't2a'}"] + [f"{name}=world:{path}" for name, path in tuned.items()]
    return run_evaluation(
        EvaluateConfig(
            models=models,
            prompts=out / "prompts" / "test.jsonl",
            out=out / "evaluation",
            per_prompt=config.eval_per_prompt,
            seed=config.seed + 1,
            batch_size=WORLD_BATCH,
            reward_model=out / "reward",
            compare_to=[CONTROL] if CONTROL in tuned else [],
            world=world,
            resamples=200 if config.quick else 2000,
            set_resamples=20 if config.quick else 200,
            progress=config.progress,
        )
    )


def write_report(out: Path) -> Path:
    return run_report(ReportConfig(run=out, out=out / "report.html"))


def _accuracy_differences(by_model: dict[str, Any]) -> dict[str, Any]:
    """Each model's paired accuracy differences per task, with whether each interval excludes zero."""
    differences: dict[str, Any] = {}
    for model, by_metric in by_model.items():
        for task, figure in (by_metric.get("accuracy") or {}).items():
            differences.setdefault(model, {})[task] = {
                **{k: figure.get(k) for k in ("value", "ci_low", "ci_high")},
                "excludes_zero": difference_excludes_zero(figure),  # evaluate's and the report's rule
            }
    return differences


def headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """Accuracy per model and task, each tuned model's paired difference from the base, and each
    method's from the label-blind control (what the labels bring), when the control ran."""
    figures: dict[str, Any] = {}
    for model, by_metric in (metrics.get("metrics") or {}).items():
        for task, figure in (by_metric.get("accuracy") or {}).items():
            figures.setdefault(model, {})[task] = {k: figure.get(k) for k in ("value", "ci_low", "ci_high")}
        fad = (by_metric.get("fad") or {}).get("all")
        if fad:
            figures.setdefault(model, {})["fad"] = {k: fad.get(k) for k in ("value", "ci_low", "ci_high")}
    summary = {
        "accuracy": figures,
        "difference_from_base": _accuracy_differences(metrics.get("differences") or {}),
    }
    from_control = (metrics.get("differences_from") or {}).get(CONTROL)
    if from_control:
        methods = {model: d for model, d in from_control.items() if model != metrics.get("base")}
        summary["difference_from_control"] = _accuracy_differences(methods)
    summary["verdict"] = verdict(summary)
    return summary


def verdict(summary: dict[str, Any]) -> list[str]:
    """The tables in words: per fine-tuned model, the tasks on which it is more accurate than the base
    (and than the label-blind control), by paired 95% intervals clear of zero, and those it is less."""

    def compared(differences: dict[str, Any], other: str) -> str:
        clear = [t for t in TASKS if (differences.get(t) or {}).get("excludes_zero")]
        above = [t for t in clear if differences[t]["value"] > 0]
        below = [t for t in clear if differences[t]["value"] < 0]
        text = f"above {other} on {' and '.join(above)}" if above else f"not above {other} on any task"
        return text + (f", below it on {' and '.join(below)}" if below else "")

    lines = []
    for model, from_base in summary["difference_from_base"].items():
        parts = [compared(from_base, "the base")]
        from_control = (summary.get("difference_from_control") or {}).get(model)
        if from_control is not None:
            parts.append(compared(from_control, "the control"))
        lines.append(f"{model}: {'; '.join(parts)}")
    return lines


def print_headline(summary: dict[str, Any]) -> None:
    table = Table(title="held-out prompts: event accuracy (95% interval) and paired difference from base")
    table.add_column("model")
    for task in TASKS:
        table.add_column(task)
        table.add_column(f"{task} vs base")
    table.add_column("FAD")

    def cell(figure: dict[str, Any] | None) -> str:
        if not figure or figure.get("value") is None:
            return "-"
        text = f"{figure['value']:+.3f}" if "excludes_zero" in figure else f"{figure['value']:.3f}"
        if figure.get("ci_low") is not None:
            text += f" [{figure['ci_low']:.2f}, {figure['ci_high']:.2f}]"
        return text

    for model, by_task in summary["accuracy"].items():
        row = [model]
        for task in TASKS:
            row += [cell(by_task.get(task)), cell(summary["difference_from_base"].get(model, {}).get(task))]
        row.append(cell(by_task.get("fad")))
        table.add_row(*row)
    console.print(table)
    if summary.get("difference_from_control"):
        labels = Table(title="what the labels bring: method minus control")
        labels.add_column("model")
        for task in TASKS:
            labels.add_column(f"{task} vs control")
        for model, by_task in summary["difference_from_control"].items():
            labels.add_row(model, *[cell(by_task.get(task)) for task in TASKS])
        console.print(labels)
    if summary.get("verdict"):
        console.print("in words (paired 95% intervals clear of zero):")
        for line in summary["verdict"]:
            console.print(f"  {line}")
