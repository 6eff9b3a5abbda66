"""``baton evaluate``: generate clips of one or several models for the same prompts and seeds, and judge them.

1. **Clips.** Each model (``NAME=BACKEND[:PATH]``; the first is the base) generates ``per_prompt``
   clips of every test prompt with :func:`baton.generation.run.run` into ``OUT/<name>/``: cached and
   resumable, and since a clip's seed derives from the run seed, its prompt and its index, clip
   ``<prompt>-<k>`` of every model has the same seed: the models' clips pair up.
2. **Reference** (:mod:`baton.evaluation.reference`): real world clips rendered by the synthesizer
   for the same prompts and seeds, or a samples file / audio folder, or none.
3. **Judging** (:mod:`baton.evaluation.scorers`): the evaluator detector reads events (accuracy)
   and gives class logits (KL, IS), the CLAP embeds audio and text (FAD, CLAP score), the reward
   model gives probabilities. Per clip, written to ``OUT/<name>/judgements.jsonl``. The world's
   judges are the default; ``--clap`` and ``--classifier`` put pretrained judges of real audio in
   their place (:mod:`baton.evaluation.pretrained`: LAION-CLAP, an AudioSet AST;
   :mod:`baton.evaluation.panns`: PANNs CNN14 from its checkpoint file), and ``--fad-embedding``
   chooses FAD's embedding (clap, ast, panns, world).
4. **Figures**, per model and task, each with a bootstrap 95% interval that resamples prompts
   (:mod:`baton.stats`), and each tuned model's paired difference from the base on
   the same prompts and seeds:

   ===============  ==========  ===============================================================
   metric           task        what
   ===============  ==========  ===============================================================
   accuracy         per task    evaluator judges the clip right (:mod:`.event_accuracy`)
   presence         temporal    every named event detected, order aside
   clap_score       per task    cosine of prompt and clip embeddings (:mod:`.clap_score`)
   reward           per task    reward model's probability (:mod:`.reward_score`)
   kl_softmax,      per task    KL(reference || clip) of classifier outputs, paired (:mod:`.kl`)
   kl_sigmoid
   fad              all         Fréchet distance of clip and reference embeddings (:mod:`.fad`)
   inception_score  all         IS of the classifier's softmax outputs (:mod:`.inception_score`)
   ===============  ==========  ===============================================================

   The reference clips are judged too when they carry prompts (row ``reference``): the detector's
   accuracy on real clips is the ceiling a model can reach as this evaluator reads it, and the FAD
   between a second real set and the reference is FAD's floor at this number of clips.

Everything but the clips (2 and 3: the judges, the reference) is loaded before the first clip is
made, and each model checked as far as it can be (:func:`check_model`), so a run that cannot finish
stops in seconds, not after generating every model's clips.

Written: ``OUT/metrics.jsonl`` (one :class:`~baton.artifacts.MetricRecord` per model, metric and
task; id ``model/metric/task``) and ``OUT/metrics.json``::

    {"format": "baton.metrics", "version": 1, "base": "base", "order": ["base", "baton", "reference"],
     "models": {"base": {"role": "base", "backend": "world", "path": "...", "clips": 180}, ...},
     "metrics": {"base": {"accuracy": {"integrity": {"value": .., "ci_low": .., "ci_high": .., "n": ..,
                                                     "prompts": ..}}}},
     "differences": {"baton": {"accuracy": {"integrity": {"value": .., "ci_low": .., "ci_high": ..,
                                                          "n": .., "excludes_zero": true}}}},
     "metric_info": {"accuracy": {"label": .., "higher_is_better": true, "what": ..}},
     "reference": {...}, "scorers": {...}, "judges": {...}, "settings": {...}, "seconds": {...},
     "notes": [...]}

Every figure names its ``judge``, and FAD's its ``embedding`` too: FADs in different embeddings do
not compare. ``scorers`` names each role's judge (events, classifier, embedder, fad, reward);
``judges`` says what each is: its name, its source (hub id or folder) and ``weights_sha256``, a
digest of its weights (:func:`baton.evaluation.scorers.judge_identity`).

and, for each tuned model whose folder ``baton finetune`` wrote (``OUT/model``), an "Evaluation"
section in its model card ``README.md`` (:func:`baton.finetune.card.update_model_card`).
"""

from __future__ import annotations

import contextlib
import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from baton.artifacts import (
    MetricRecord,
    PromptRecord,
    SampleRecord,
    read_records,
    resolve_path,
    store_path,
    write_json,
    write_records,
)
from baton.audio import load_clips
from baton.backends import BACKENDS, check_dtype, extra_backends
from baton.backends.world import default_model_dir
from baton.config import config_to_dict
from baton.console import console, counted, track
from baton.errors import InputError
from baton.evaluation.clap_score import clap_scores
from baton.evaluation.config import EvaluateConfig
from baton.evaluation.event_accuracy import judge_clip
from baton.evaluation.event_judge import EventJudge, judge_vocabulary
from baton.evaluation.fad import FewEmbeddingsWarning, fad_infinity, frechet_distance
from baton.evaluation.inception_score import inception_score_from_logits
from baton.evaluation.kl import kl_per_pair
from baton.evaluation.panns import PannsClassifier
from baton.evaluation.records import JUDGEMENTS_FILE, JudgementRecord
from baton.evaluation.reference import load_reference_file, render_world_reference, second_world_set
from baton.evaluation.reward_score import load_reward_scorer, reward_probabilities
from baton.evaluation.scorers import ROLE_METRICS, Scorers, world_scorers
from baton.finetune.card import update_model_card
from baton.generation.run import SAMPLES_FILE, GenerateConfig, plan_clips, setting_differences
from baton.generation.run import run as generate
from baton.stats import bootstrap_groups, bootstrap_mean, group_indices, group_means, paired_difference
from baton.workers import check_device
from baton.world.manifest import other_worlds_note, world_dir
from baton.world.model import CONFIG_FILE
from baton.world.spec import SAMPLE_RATE

METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "metrics.json"
SUMMARY_FORMAT = "baton.metrics"
REFERENCE_NAME = "reference"
ALL = "all"

METRIC_INFO: dict[str, dict[str, Any]] = {
    "accuracy": {
        "label": "event accuracy",
        "higher_is_better": True,
        "what": "share of clips the evaluator detector judges right: all named events present "
        "(single, integrity), and in the stated order (temporal)",
    },
    "presence": {
        "label": "events present",
        "higher_is_better": True,
        "what": "share of temporal-prompt clips with every named event detected, order aside",
    },
    "clap_score": {
        "label": "CLAP score",
        "higher_is_better": True,
        "what": "mean cosine of the prompt's and the clip's CLAP embeddings",
    },
    "reward": {
        "label": "reward",
        "higher_is_better": True,
        "what": "mean probability the reward model gives that a clip matches its prompt",
    },
    "kl_softmax": {
        "label": "KL (softmax)",
        "higher_is_better": False,
        "what": "KL(reference || clip) of the classifier's softmax outputs on paired clips (audioldm_eval's KL)",
    },
    "kl_sigmoid": {
        "label": "KL (sigmoid)",
        "higher_is_better": False,
        "what": "audioldm_eval's KL_Sigmoid on paired clips",
    },
    "fad": {
        "label": "FAD",
        "higher_is_better": False,
        "what": "Fréchet distance between Gaussians fitted to clip and reference audio embeddings",
    },
    "fad_inf": {
        "label": "FAD-inf",
        "higher_is_better": False,
        "what": "FAD extrapolated to infinitely many clips (no interval)",
    },
    "inception_score": {
        "label": "Inception Score",
        "higher_is_better": True,
        "what": "exp E KL(p(y|x) || p(y)) of the classifier's softmax outputs",
    },
}
PER_CLIP_METRICS = ("accuracy", "presence", "clap_score", "reward", "kl_softmax", "kl_sigmoid")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    backend: str
    path: str | None

    def __str__(self) -> str:
        return f"{self.name}={self.backend}" + (f":{self.path}" if self.path else "")


def parse_model_spec(text: str) -> ModelSpec:
    """``NAME=BACKEND[:PATH]`` -> :class:`ModelSpec`."""
    name, sep, rest = text.partition("=")
    backend, _, path = rest.partition(":")
    if not sep or not name.strip() or not backend.strip():
        raise InputError(f"'{text}' is not NAME=BACKEND[:PATH]", field="models")
    name = name.strip()
    if not _NAME.match(name):
        raise InputError(
            f"model name '{name}' must be letters, digits, '.', '_' or '-' (it names a folder)",
            field="models",
        )
    if name == REFERENCE_NAME:
        raise InputError(f"the model name '{REFERENCE_NAME}' is kept for the reference clips", field="models")
    return ModelSpec(name=name, backend=backend.strip(), path=path.strip() or None)


def parse_models(texts: list[str]) -> list[ModelSpec]:
    if not texts:
        raise InputError("give at least one model as NAME=BACKEND[:PATH]", field="models")
    specs = [parse_model_spec(t) for t in texts]
    names = [s.name for s in specs]
    for name in names:
        if names.count(name) > 1:
            raise InputError(f"model name '{name}' is given twice", field="models")
    return specs


# --- 1. clips ---------------------------------------------------------------------------------------


def planned_samples(prompts: list[PromptRecord], per_prompt: int, seed: int) -> list[SampleRecord]:
    """Every clip of the evaluation as a sample record without audio: what every model must make."""
    return [
        SampleRecord(
            id=job.sample_id,
            prompt_id=job.prompt.id,
            text=job.prompt.text,
            events=job.prompt.events,
            task=job.prompt.task,
            relation=job.prompt.relation,
            index=job.index,
            path="-",
            seed=job.seed,
        )
        for job in plan_clips(prompts, per_prompt, seed)
    ]


def check_model(spec: ModelSpec, config: EvaluateConfig, plan: list[SampleRecord]) -> None:
    """What can be checked of a model before any clip is made: a backend baton knows and that loads
    in ``--dtype``, the clips
    already in its folder made by this model and settings, and, when clips are missing, a world
    model folder that holds a model (other backends' paths may be hub ids, read when they load)."""
    known = {**BACKENDS, **extra_backends()}
    if spec.backend not in known:
        raise InputError(
            f"unknown backend '{spec.backend}' in '{spec}'; choose one of: {', '.join(sorted(known))}",
            field="models",
        )
    check_dtype(spec.backend, config.dtype)
    cached = Path(config.out) / spec.name / SAMPLES_FILE
    done: set[str] = set()
    if cached.exists():
        records = read_records(cached, SampleRecord)
        texts = {s.prompt_id: s.text for s in plan}
        differences = setting_differences(records, generation_config(spec, config), texts)
        if differences:
            raise InputError(
                f"holds clips made with other settings than {spec} asks for "
                f"({'; '.join(differences.values())}): remove the folder or name the model differently",
                path=cached,
                field="models",
            )
        done = {r.id for r in records}
    if spec.backend == "world" and any(s.id not in done for s in plan):
        folder = Path(spec.path) if spec.path else default_model_dir()
        if not (folder / CONFIG_FILE).is_file():
            hint = "" if spec.path else ": run `baton world build` first" + other_worlds_note()
            raise InputError(
                f"no world T2A model here for '{spec}' ({CONFIG_FILE} is missing){hint}",
                path=folder,
                field="models",
            )


def generate_clips(spec: ModelSpec, config: EvaluateConfig, plan: list[SampleRecord]) -> list[SampleRecord]:
    """The model's clips of the plan, in plan order (generating the missing ones; see :func:`check_model`)."""
    folder = Path(config.out) / spec.name
    cached = folder / SAMPLES_FILE
    records = generate(generation_config(spec, config))
    by_id = {r.id: r for r in records}
    missing = [s.id for s in plan if s.id not in by_id]
    if missing:
        raise InputError(f"clip '{missing[0]}' was not generated", path=cached)
    return [_absolute(by_id[s.id], folder) for s in plan]


def generation_config(spec: ModelSpec, config: EvaluateConfig) -> Any:
    """The :class:`~baton.generation.run.GenerateConfig` that makes the model's clips in ``OUT/<name>``."""
    return GenerateConfig(
        prompts=config.prompts,
        out=Path(config.out) / spec.name,
        backend=spec.backend,
        model=spec.path,
        per_prompt=config.per_prompt,
        seed=config.seed,
        steps=config.steps,
        guidance_scale=config.guidance_scale,
        batch_size=config.batch_size,
        save_latents=False,  # evaluation clips are judged, never trained on
        device=config.device,
        dtype=config.dtype,
        progress=config.progress,
    )


def _absolute(sample: SampleRecord, base: Path) -> SampleRecord:
    """The sample with its clip's path absolute (its record names it from ``base``, its file's folder)."""
    return sample.model_copy(update={"path": str(resolve_path(sample.path, base).absolute())})


# --- 2. scorers and reference -----------------------------------------------------------------------


FAD_EMBEDDINGS = ("clap", "ast", "panns", "world")
WORLD = "world"
# What --fad-embedding ast / panns needs: a --classifier of that kind (its ``embedding``).
CLASSIFIER_EMBEDDINGS = {
    "ast": ("AST's", "an AST classifier: give --classifier (e.g. MIT/ast-finetuned-audioset-10-10-0.4593)"),
    "panns": ("CNN14's", "a PANNs CNN14 classifier: give --classifier panns:PATH/Cnn14_mAP=0.431.pth"),
}


def load_scorers(config: EvaluateConfig, notes: list[str]) -> Any:
    """The judges of every role: the world's by default, pretrained ones where the settings name them."""
    if config.fad_embedding not in FAD_EMBEDDINGS:
        raise InputError(
            f"choose one of {', '.join(FAD_EMBEDDINGS)}, got '{config.fad_embedding}'", field="fad_embedding"
        )
    # 1. The world's judges: its evaluator detector (events, classifier) and CLAP, where built.
    world = Path(config.world) if config.world is not None else world_dir()
    if config.world is not None and not world.is_dir():
        raise InputError("no such world folder", path=world, field="world")
    own = world_scorers(world) if world.is_dir() else Scorers()
    scorers = Scorers(classifier=own.classifier, embedder=own.embedder)

    # 2. Pretrained judges of real audio in place of the world's.
    if config.clap not in (None, WORLD):
        # baton.evaluation.pretrained imports transformers, a second of start-up: only when asked for
        from baton.evaluation.pretrained import ClapJudge

        scorers.embedder = ClapJudge.load(config.clap, device=config.device)
    if config.classifier is not None and config.classifier.startswith("panns:"):
        checkpoint = config.classifier.removeprefix("panns:")
        scorers.classifier = PannsClassifier.load(checkpoint, device=config.device)
    elif config.classifier not in (None, WORLD):
        # (as above)
        from baton.evaluation.pretrained import AudioSetClassifier

        scorers.classifier = AudioSetClassifier.load(config.classifier, device=config.device)

    # 3. The event reader (accuracy).
    scorers.events = event_reader(config, scorers, own)

    # 4. FAD's embedding, named in every output: FADs in different embeddings do not compare.
    scorers.fad = fad_embedder(config, scorers, own, world)

    # 5. The reward model.
    if config.reward_model is not None:
        scorers.reward = load_reward_scorer(config.reward_model)

    if scorers.empty():
        raise InputError(
            "nothing to judge the clips with: no evaluator detector or CLAP in this world folder "
            "(run `baton world build` or pass --world), no --clap or --classifier and no --reward-model",
            path=world,
            field="world",
        )
    if scorers.events is None:
        notes.append(f"no evaluator detector in {world}: accuracy left out")
    if scorers.classifier is None:
        notes.append(f"no classifier (no evaluator detector in {world}, no --classifier): KL and IS left out")
    if scorers.embedder is None:
        notes.append(f"no CLAP (none in {world}, no --clap): CLAP score left out")
    if scorers.fad is None:
        notes.append(f"no {config.fad_embedding} embedding for FAD: FAD left out")
    if scorers.reward is None:
        notes.append("no reward model given (--reward-model): reward left out")
    return scorers


def event_reader(config: EvaluateConfig, scorers: Any, world_judges: Any) -> Any:
    """The judge of which events sound and in what order (accuracy): the world's evaluator detector,
    which knows the world's classes, or with ``--judge events`` the open-vocabulary event judge
    (:mod:`baton.evaluation.event_judge`) through the evaluation's CLAP (``scorers.embedder``: the
    world's, or ``--clap``'s), knowing the events the test prompts name; ``metrics.json`` names
    whichever it is."""
    if config.judge is None:
        return world_judges.events

    if config.judge != "events":
        raise InputError(f"unknown judge '{config.judge}': the one judge is 'events'", field="judge")
    if scorers.embedder is None:
        raise InputError(
            "the events judge reads through a CLAP: give --clap, or a world with one", field="judge"
        )
    named = [event for prompt in read_records(config.prompts, PromptRecord) for event in prompt.events]
    return EventJudge(scorers.embedder, judge_vocabulary(named))


def fad_embedder(config: EvaluateConfig, scorers: Any, world_judges: Any, world: Path) -> Any:
    """The judge whose audio embeddings FAD is computed in, as ``--fad-embedding`` chooses."""
    choice = config.fad_embedding
    if choice == "clap":
        return scorers.embedder
    if choice == WORLD:
        if world_judges.embedder is None:
            raise InputError(
                f"FAD in the world CLAP's embedding needs a world CLAP, and {world} has none",
                field="fad_embedding",
            )
        return world_judges.embedder
    if getattr(scorers.classifier, "embedding", None) != choice:
        whose, needed = CLASSIFIER_EMBEDDINGS[choice]
        raise InputError(f"FAD in {whose} embedding needs {needed}", field="fad_embedding")
    return scorers.classifier


def load_reference(
    config: EvaluateConfig, specs: list[ModelSpec], plan: list[SampleRecord], notes: list[str]
) -> Any:
    choice = config.reference
    if choice is None:
        choice = "real" if all(s.backend == "world" for s in specs) else "none"
    if choice == "none":
        notes.append("no reference clips (--reference): FAD and KL left out")
        return None
    if choice == "real":
        return render_world_reference(plan, Path(config.out), progress=config.progress)
    return load_reference_file(choice)


# --- 3. judging -------------------------------------------------------------------------------------


@dataclass
class ClipScores:
    """Every judgement of a set of clips, aligned with ``samples`` (NaN / None = not judged)."""

    samples: list[SampleRecord]
    correct: np.ndarray  # [N], 1/0/NaN
    presence: np.ndarray  # [N]
    detected: list[list[str] | None]
    clap: np.ndarray  # [N]
    reward: np.ndarray  # [N]
    logits: np.ndarray | None  # [N, C]
    embeddings: np.ndarray | None  # [N, D], in FAD's embedding

    @property
    def prompt_ids(self) -> list[str]:
        return [s.prompt_id for s in self.samples]


def _load_chunk(samples: list[SampleRecord]) -> tuple[list[np.ndarray], int]:
    """The clips of a chunk at one sample rate (the first clip's; others are resampled to it)."""
    return load_clips([s.path for s in samples])


def score_clips(
    samples: list[SampleRecord], scorers: Any, *, judge: bool, batch: int, description: str, progress: bool
) -> ClipScores:
    """Judge clips with every scorer there is; ``judge=False`` for clips without prompts (embeddings only)."""
    n = len(samples)
    correct, presence = np.full(n, np.nan), np.full(n, np.nan)
    clap, reward = np.full(n, np.nan), np.full(n, np.nan)
    detected: list[list[str] | None] = [None] * n
    logits, embeddings = [], []
    fad = scorers.fad_embedder
    starts = range(0, n, batch)
    for start in track(starts, description, total=len(starts), enabled=progress):
        chunk = samples[start : start + batch]
        audio, rate = _load_chunk(chunk)
        texts = [s.text for s in chunk]
        read, fad_emb = None, None
        # A judge that serves two roles is run once: the world detector (logits and events), an
        # AST that is also FAD's embedding (logits and embeddings).
        if scorers.classifier is not None:
            classifier = scorers.classifier
            if classifier is scorers.events and hasattr(classifier, "analyse"):
                chunk_logits, read = classifier.analyse(audio, rate)
            elif classifier is fad and hasattr(classifier, "logits_and_embeddings"):
                chunk_logits, fad_emb = classifier.logits_and_embeddings(audio, rate)
            else:
                chunk_logits = classifier.clip_logits(audio, rate)
            logits.append(np.asarray(chunk_logits, dtype=np.float64))
        if scorers.events is not None and judge:
            known = set(scorers.events.classes)
            read = read if read is not None else scorers.events.read(audio, rate)
            for offset, (sample, found) in enumerate(zip(chunk, read, strict=True)):
                detected[start + offset] = [e.label for e in _first_onsets(found)]
                if sample.events and set(sample.events) <= known:
                    verdict = judge_clip(found, sample.events, sample.task, sample.relation)
                    correct[start + offset] = float(verdict.correct)
                    presence[start + offset] = float(verdict.presence)
        if scorers.embedder is not None and (judge or scorers.embedder is fad):
            audio_emb = np.asarray(scorers.embedder.embed_audio(audio, rate), dtype=np.float64)
            if scorers.embedder is fad:
                fad_emb = audio_emb
            if judge:
                text_emb = np.asarray(scorers.embedder.embed_text(texts), dtype=np.float64)
                clap[start : start + len(chunk)] = clap_scores(text_emb, audio_emb)
        if fad is not None:
            if fad_emb is None:
                fad_emb = fad.embed_audio(audio, rate)
            embeddings.append(np.asarray(fad_emb, dtype=np.float64))
        if scorers.reward is not None and judge:
            values = reward_probabilities(
                scorers.reward, texts, audio, rate, [s.events for s in chunk], [s.task for s in chunk]
            )
            reward[start : start + len(chunk)] = values
    return ClipScores(
        samples=samples,
        correct=correct,
        presence=presence,
        detected=detected,
        clap=clap,
        reward=reward,
        logits=np.concatenate(logits) if logits else None,
        embeddings=np.concatenate(embeddings) if embeddings else None,
    )


def _first_onsets(found: list[Any]) -> list[Any]:
    """Each detected class once, at its first onset, in onset order."""
    seen: dict[str, Any] = {}
    for event in sorted(found, key=lambda e: (e.onset, e.label)):
        seen.setdefault(event.label, event)
    return list(seen.values())


def kl_values(
    scores: ClipScores, reference: ClipScores | None, pairs: list[int | None]
) -> dict[str, np.ndarray]:
    """Per clip ``kl_softmax`` / ``kl_sigmoid`` against its paired reference clip (NaN when unpaired)."""
    n = len(scores.samples)
    out = {"kl_softmax": np.full(n, np.nan), "kl_sigmoid": np.full(n, np.nan)}
    if reference is None or scores.logits is None or reference.logits is None:
        return out
    mine = [i for i, j in enumerate(pairs) if j is not None]
    if not mine:
        return out
    theirs = [pairs[i] for i in mine]
    for kind in ("softmax", "sigmoid"):
        out[f"kl_{kind}"][mine] = kl_per_pair(scores.logits[mine], reference.logits[theirs], kind)
    return out


# --- 4. figures -------------------------------------------------------------------------------------


def task_groups(samples: list[SampleRecord]) -> dict[str, np.ndarray]:
    """Clip indices per task (``untyped`` for prompts without one), plus ``all`` when there are several."""
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(samples):
        groups.setdefault(s.task or "untyped", []).append(i)
    out = {k: np.asarray(v, dtype=int) for k, v in groups.items()}
    if len(out) > 1:
        out[ALL] = np.arange(len(samples))
    return out


def _figure(estimate: Any, clips: int, prompts: int | None = None) -> dict[str, Any]:
    figure = {"value": estimate.value, "ci_low": estimate.low, "ci_high": estimate.high, "n": clips}
    if prompts is not None:
        figure["prompts"] = prompts
    return figure


def per_clip_values(scores: ClipScores, kl: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {
        "accuracy": scores.correct,
        "presence": scores.presence,
        "clap_score": scores.clap,
        "reward": scores.reward,
        **kl,
    }


def per_clip_figures(
    values: dict[str, np.ndarray], samples: list[SampleRecord], config: EvaluateConfig
) -> dict[str, dict[str, dict[str, Any]]]:
    """Each per-clip metric per task: mean of prompt means, prompts resampled."""
    prompt_ids = [s.prompt_id for s in samples]
    figures: dict[str, dict[str, dict[str, Any]]] = {}
    for metric, array in values.items():
        for task, index in task_groups(samples).items():
            if metric == "presence" and task != "temporal":
                continue
            means = group_means(array[index], [prompt_ids[i] for i in index])
            if not means:
                continue
            clips = int(np.isfinite(array[index]).sum())
            estimate = bootstrap_mean(
                np.array(list(means.values())), n_resamples=config.resamples, seed=config.seed
            )
            figures.setdefault(metric, {})[task] = _figure(estimate, clips, len(means))
    return figures


def per_clip_differences(
    tuned: dict[str, np.ndarray],
    base: dict[str, np.ndarray],
    samples: list[SampleRecord],
    config: EvaluateConfig,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Tuned minus base per metric and task, over the prompts both have figures for."""
    prompt_ids = [s.prompt_id for s in samples]
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for metric in tuned:
        for task, index in task_groups(samples).items():
            if metric == "presence" and task != "temporal":
                continue
            keys = [prompt_ids[i] for i in index]
            # Only clips judged for both models count, so each prompt compares like with like.
            both = np.isfinite(tuned[metric][index]) & np.isfinite(base[metric][index])
            a = group_means(np.where(both, tuned[metric][index], np.nan), keys)
            b = group_means(np.where(both, base[metric][index], np.nan), keys)
            common = [k for k in a if k in b]
            if not common:
                continue
            estimate = paired_difference(
                np.array([a[k] for k in common]),
                np.array([b[k] for k in common]),
                n_resamples=config.resamples,
                seed=config.seed,
            )
            figure = _figure(estimate, int(both.sum()), len(common))
            figure["excludes_zero"] = estimate.excludes_zero()
            out.setdefault(metric, {})[task] = figure
    return out


def _fad_statistic(embeddings: np.ndarray, reference: np.ndarray, pairs: list[int | None], seed: int) -> Any:
    """FAD of clips ``idx`` against a reference set, for :func:`bootstrap_groups`.

    When every clip has its own reference clip (the world's renders), a resample takes the reference
    clips of the clips it draws. Otherwise (an unpaired set, or one reference clip for several
    clips) the first call, the point estimate, uses the whole reference set and later calls a
    resample of it drawn independently.
    """
    paired = all(j is not None for j in pairs) and len(set(pairs)) == len(pairs) == len(reference)
    pair_array = np.asarray([j if j is not None else -1 for j in pairs], dtype=int)
    rng = np.random.default_rng(seed + 7)
    state = {"first": True}

    def statistic(idx: np.ndarray) -> float:
        if paired:
            ref = reference[pair_array[idx]]
        elif state["first"]:  # the point estimate: the whole reference set
            ref = reference
        else:
            ref = reference[rng.integers(0, len(reference), size=len(reference))]
        state["first"] = False
        with warnings.catch_warnings():  # set_figures notes a set too small for its dimension once
            warnings.simplefilter("ignore", FewEmbeddingsWarning)
            return frechet_distance(embeddings[idx], ref, check=False)

    return statistic


def set_figures(
    scores: ClipScores,
    reference: ClipScores | None,
    pairs: list[int | None],
    config: EvaluateConfig,
    notes: list[str],
    label: str,
) -> dict[str, dict[str, dict[str, Any]]]:
    """FAD (and FAD-inf) against the reference and IS, on all clips, prompts resampled."""
    groups = list(group_indices(scores.prompt_ids).values())
    n = len(scores.samples)
    figures: dict[str, dict[str, dict[str, Any]]] = {}
    if scores.embeddings is not None and reference is not None and reference.embeddings is not None:
        if n < 2 or len(reference.samples) < 2:
            notes.append(f"{label}: FAD needs at least 2 clips on each side")
        else:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                frechet_distance(scores.embeddings, reference.embeddings)  # cross-checked once
            for warning in caught:
                if not issubclass(warning.category, FewEmbeddingsWarning):  # noted below, in its words
                    notes.append(f"{label}: {warning.message}")
            statistic = _fad_statistic(scores.embeddings, reference.embeddings, pairs, config.seed)
            estimate = bootstrap_groups(statistic, groups, n_resamples=config.set_resamples, seed=config.seed)
            figures["fad"] = {ALL: _figure(estimate, n, len(groups))}
            dim = scores.embeddings.shape[1]
            if n <= dim:
                notes.append(
                    f"{label}: FAD on {n} clips of {dim}-dimensional embeddings is biased upward "
                    "(singular covariance); compare models at the same number of clips only"
                )
            if config.fad_infinity:
                try:
                    value, _ = fad_infinity(scores.embeddings, reference.embeddings, seed=config.seed)
                    figures["fad_inf"] = {ALL: {"value": value, "ci_low": None, "ci_high": None, "n": n}}
                except ValueError as exc:
                    notes.append(f"{label}: FAD-inf left out ({exc})")
    if scores.logits is not None and n >= 1:
        logits = scores.logits
        estimate = bootstrap_groups(
            lambda idx: inception_score_from_logits(logits[idx])[0],
            groups,
            n_resamples=config.set_resamples,
            seed=config.seed,
        )
        figures["inception_score"] = {ALL: _figure(estimate, n, len(groups))}
    return figures


def set_differences(
    tuned: ClipScores,
    base: ClipScores,
    reference: ClipScores | None,
    pairs: list[int | None],
    config: EvaluateConfig,
) -> dict[str, dict[str, dict[str, Any]]]:
    """FAD and IS of tuned minus base, the same prompts drawn for both in every resample."""
    groups = list(group_indices(tuned.prompt_ids).values())
    n = len(tuned.samples)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    if (
        tuned.embeddings is not None
        and base.embeddings is not None
        and reference is not None
        and reference.embeddings is not None
        and n >= 2
    ):
        fad_tuned = _fad_statistic(tuned.embeddings, reference.embeddings, pairs, config.seed)
        fad_base = _fad_statistic(base.embeddings, reference.embeddings, pairs, config.seed)
        estimate = bootstrap_groups(
            lambda idx: fad_tuned(idx) - fad_base(idx),
            groups,
            n_resamples=config.set_resamples,
            seed=config.seed,
        )
        out["fad"] = {ALL: {**_figure(estimate, n, len(groups)), "excludes_zero": estimate.excludes_zero()}}
    if tuned.logits is not None and base.logits is not None:
        a, b = tuned.logits, base.logits
        estimate = bootstrap_groups(
            lambda idx: inception_score_from_logits(a[idx])[0] - inception_score_from_logits(b[idx])[0],
            groups,
            n_resamples=config.set_resamples,
            seed=config.seed,
        )
        out["inception_score"] = {
            ALL: {**_figure(estimate, n, len(groups)), "excludes_zero": estimate.excludes_zero()}
        }
    return out


def name_judges(figures: dict[str, dict[str, dict[str, dict[str, Any]]]], scorers: Any) -> None:
    """Name in every figure (model -> metric -> task -> figure) the judge that made it (``judge``), and
    in FAD's the embedding it was computed in (``embedding``), in place."""
    names = scorers.describe()
    role_of = {metric: role for role, metrics in ROLE_METRICS.items() for metric in metrics}
    for by_metric in figures.values():
        for metric, tasks in by_metric.items():
            role = role_of.get(metric)
            for figure in tasks.values():
                figure["judge"] = names.get(role)
                if role == "fad":
                    figure["embedding"] = names["fad"]


def _merge(*parts: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for part in parts:
        for metric, tasks in part.items():
            out.setdefault(metric, {}).update(tasks)
    return out


# --- 5. files ---------------------------------------------------------------------------------------


def write_judgements(
    path: Path, scores: ClipScores, kl: dict[str, np.ndarray], pairs: list[int | None], reference: Any
) -> None:
    """Write the judgements file ``path``; each names its clip from ``path``'s folder (or absolutely),
    never from the working folder, so that ``baton report`` finds the clips from anywhere."""

    def number(array: np.ndarray, i: int) -> float | None:
        return None if not np.isfinite(array[i]) else float(array[i])

    def flag(array: np.ndarray, i: int) -> bool | None:
        return None if not np.isfinite(array[i]) else bool(array[i])

    records = []
    for i, s in enumerate(scores.samples):
        records.append(
            JudgementRecord(
                sample_id=s.id,
                prompt_id=s.prompt_id,
                text=s.text,
                events=s.events,
                task=s.task,
                index=s.index,
                seed=s.seed,
                # s.path is as this process sees it: the file names it from its own folder.
                path=store_path(s.path, path.parent),
                correct=flag(scores.correct, i),
                presence=flag(scores.presence, i),
                detected=scores.detected[i],
                clap_score=number(scores.clap, i),
                reward=number(scores.reward, i),
                kl_softmax=number(kl["kl_softmax"], i),
                kl_sigmoid=number(kl["kl_sigmoid"], i),
                reference_id=None if pairs[i] is None else reference.samples[pairs[i]].id,
            )
        )
    write_records(path, records)


def metric_records(metrics: dict[str, dict[str, dict[str, dict[str, Any]]]], order: list[str]) -> list[Any]:
    records = []
    for model in order:
        for metric, tasks in metrics.get(model, {}).items():
            for task, figure in tasks.items():
                extra = {k: v for k, v in figure.items() if k not in ("value", "ci_low", "ci_high", "n")}
                if model == REFERENCE_NAME:
                    extra["reference"] = True
                records.append(
                    MetricRecord(
                        id=f"{model}/{metric}/{task}",
                        model=model,
                        metric=metric,
                        task=task,
                        value=figure["value"],
                        ci_low=figure["ci_low"],
                        ci_high=figure["ci_high"],
                        n=figure["n"],
                        extra=extra,
                    )
                )
    return records


# --- the stage --------------------------------------------------------------------------------------


def run(config: EvaluateConfig, scorers: Any = None) -> dict[str, Any]:
    """Generate, judge and compare; write the files above and return the ``metrics.json`` document.

    ``scorers`` (a :class:`baton.evaluation.scorers.Scorers`) replaces the world's evaluator and
    CLAP: this is where another classifier or embedder plugs in.
    """
    specs = parse_models(config.models)
    unknown = [name for name in config.compare_to if name not in {spec.name for spec in specs}]
    if unknown:
        raise InputError(
            f"'{unknown[0]}' is not one of the models ({', '.join(spec.name for spec in specs)})",
            field="compare_to",
        )
    for name in ("per_prompt", "batch_size", "score_batch", "resamples", "set_resamples"):
        if getattr(config, name) < 1:
            raise InputError("must be at least 1", field=name)
    check_device(config.device)
    prompts = read_records(config.prompts, PromptRecord, allow_empty=False)
    out = Path(config.out)
    plan = planned_samples(prompts, config.per_prompt, config.seed)
    notes: list[str] = []
    seconds: dict[str, float] = {}

    # Everything the run needs besides the clips comes first, so that a run that cannot be judged
    # (no evaluator or CLAP in the world folder, a missing reward model or reference, a model
    # folder that is not there) stops in seconds, not after generating every model's clips.
    for spec in specs:
        check_model(spec, config, plan)
    out.mkdir(parents=True, exist_ok=True)

    # 1. Scorers and the reference.
    start = time.perf_counter()
    if scorers is None:
        scorers = load_scorers(config, notes)
    reference = load_reference(config, specs, plan, notes)
    seconds["reference"] = round(time.perf_counter() - start, 2)

    # 2. Clips of every model.
    samples: dict[str, list[SampleRecord]] = {}
    for spec in specs:
        console.print(
            f"[bold]{spec.name}[/]: {counted(len(plan), 'clip')} from {spec.backend} {spec.path or ''}"
        )
        start = time.perf_counter()
        samples[spec.name] = generate_clips(spec, config, plan)
        seconds[f"generate {spec.name}"] = round(time.perf_counter() - start, 2)

    # 3. Judge every clip.
    start = time.perf_counter()
    scored: dict[str, ClipScores] = {}
    ref_scores = None
    if reference is not None:
        ref_scores = score_clips(
            reference.samples,
            scorers,
            judge=reference.judged,
            batch=config.score_batch,
            description="judging the reference clips",
            progress=config.progress,
        )
    for spec in specs:
        scored[spec.name] = score_clips(
            samples[spec.name],
            scorers,
            judge=True,
            batch=config.score_batch,
            description=f"judging {spec.name}",
            progress=config.progress,
        )
    pairs = [reference.pair(s) for s in plan] if reference is not None else [None] * len(plan)
    if reference is not None and not any(j is not None for j in pairs):
        notes.append(
            f"no reference clip pairs with a generated clip by name: KL left out ({reference.source})"
        )
    seconds["judge"] = round(time.perf_counter() - start, 2)

    # 4. Figures and paired differences.
    start = time.perf_counter()
    with single_threaded_blas():
        metrics, differences, order, kls, differences_from = _all_figures(
            specs, scored, ref_scores, reference, scorers, plan, pairs, config, notes
        )
    name_judges(metrics, scorers)
    name_judges(differences, scorers)
    for compared in differences_from.values():
        name_judges(compared, scorers)
    if any("fad" in m for m in metrics.values()):
        notes.append(
            f"FAD in the embedding of {scorers.fad_embedder.name}: it compares only with FAD in the same one"
        )
    seconds["figures"] = round(time.perf_counter() - start, 2)

    # 5. Files.

    for spec in specs:
        write_judgements(
            out / spec.name / JUDGEMENTS_FILE, scored[spec.name], kls[spec.name], pairs, reference
        )
    if reference is not None and ref_scores is not None and reference.judged:
        none = {k: np.full(len(reference.samples), np.nan) for k in ("kl_softmax", "kl_sigmoid")}
        write_judgements(
            out / REFERENCE_NAME / JUDGEMENTS_FILE,
            ref_scores,
            none,
            [None] * len(reference.samples),
            reference,
        )
    write_records(out / METRICS_FILE, metric_records(metrics, order))
    models_info: dict[str, Any] = {
        spec.name: {
            "role": "base" if i == 0 else "tuned",
            "backend": spec.backend,
            "path": spec.path,
            "clips": len(samples[spec.name]),
            "folder": spec.name,
        }
        for i, spec in enumerate(specs)
    }
    if REFERENCE_NAME in order:
        models_info[REFERENCE_NAME] = {
            "role": "reference",
            "backend": reference.kind,
            "path": reference.source,
            "clips": len(reference.samples),
            "folder": REFERENCE_NAME if reference.judged else None,
        }
    summary = {
        "format": SUMMARY_FORMAT,
        "version": 1,
        "base": specs[0].name,
        "order": order,
        "models": models_info,
        "metrics": metrics,
        "differences": differences,
        **({"differences_from": differences_from} if differences_from else {}),
        "metric_info": {k: v for k, v in METRIC_INFO.items() if any(k in m for m in metrics.values())},
        "reference": None
        if reference is None
        else {
            "kind": reference.kind,
            "source": reference.source,
            "clips": len(reference.samples),
            "paired": sum(j is not None for j in pairs),
        },
        "scorers": scorers.describe(),
        "judges": scorers.judges(),
        "prompts": {
            "file": str(Path(config.prompts).resolve()),
            "count": len(prompts),
            "per_prompt": config.per_prompt,
        },
        "settings": config_to_dict(config, absolute_paths=True),
        "seconds": seconds,
        "notes": notes,
    }
    write_json(out / SUMMARY_FILE, summary)

    # 6. The model card of each tuned model that baton finetune wrote gets these figures.

    for spec in specs[1:]:
        if spec.path is not None:
            card = update_model_card(Path(spec.path), summary, spec.name, source=out / SUMMARY_FILE)
            if card is not None:
                console.print(f"[bold]{spec.name}[/]: its model card {card} has these figures")
    return summary


def _all_figures(
    specs: list[ModelSpec],
    scored: dict[str, ClipScores],
    ref_scores: ClipScores | None,
    reference: Any,
    scorers: Any,
    plan: list[SampleRecord],
    pairs: list[int | None],
    config: EvaluateConfig,
    notes: list[str],
) -> tuple[dict[str, Any], dict[str, Any], list[str], dict[str, dict[str, np.ndarray]], dict[str, Any]]:
    """Every model's figures, each tuned model's differences from the base, the row order, the KLs, and
    every model's per-clip differences from each model of ``config.compare_to``."""
    kls: dict[str, dict[str, np.ndarray]] = {}
    metrics: dict[str, Any] = {}
    differences: dict[str, Any] = {}
    values: dict[str, dict[str, np.ndarray]] = {}
    for spec in specs:
        kls[spec.name] = kl_values(scored[spec.name], ref_scores, pairs)
        values[spec.name] = per_clip_values(scored[spec.name], kls[spec.name])
        metrics[spec.name] = _merge(
            per_clip_figures(values[spec.name], plan, config),
            set_figures(scored[spec.name], ref_scores, pairs, config, notes, spec.name),
        )
    base = specs[0].name
    for spec in specs[1:]:
        differences[spec.name] = _merge(
            per_clip_differences(values[spec.name], values[base], plan, config),
            set_differences(scored[spec.name], scored[base], ref_scores, pairs, config),
        )
    differences_from = {
        other: {
            spec.name: per_clip_differences(values[spec.name], values[other], plan, config)
            for spec in specs
            if spec.name != other
        }
        for other in config.compare_to
    }
    order = [s.name for s in specs]
    if reference is not None and ref_scores is not None:
        ref_metrics = {}
        if reference.judged:
            no_kl = {k: np.full(len(reference.samples), np.nan) for k in ("kl_softmax", "kl_sigmoid")}
            ref_metrics = per_clip_figures(per_clip_values(ref_scores, no_kl), reference.samples, config)
            ref_metrics = {k: v for k, v in ref_metrics.items() if not k.startswith("kl_")}
            # The classifier's IS on real clips: how sharp and varied real clips look to it.
            nothing = [None] * len(reference.samples)
            ref_metrics = _merge(
                ref_metrics, set_figures(ref_scores, None, nothing, config, notes, REFERENCE_NAME)
            )
        floor = _world_floor(reference, ref_scores, scorers, plan, config, notes)
        metrics[REFERENCE_NAME] = _merge(ref_metrics, floor)
        if metrics[REFERENCE_NAME]:
            order.append(REFERENCE_NAME)
    return metrics, differences, order, kls, differences_from


def single_threaded_blas() -> Any:
    """One BLAS thread for the figures: their matrices are small (D <= a few hundred), and on a busy
    2-core machine OpenBLAS's threads cost far more than they give (FAD of 128-d embeddings measured
    at 2.5 ms on one thread, 5-180 ms on two). Needs threadpoolctl; without it, nothing changes."""
    try:  # asked for here: without it the figures are the same, only slower
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _world_floor(
    reference: Any,
    ref_scores: ClipScores,
    scorers: Any,
    plan: list[SampleRecord],
    config: EvaluateConfig,
    notes: list[str],
) -> dict[str, dict[str, dict[str, Any]]]:
    """FAD between a second real world set (other seeds) and the reference: FAD's floor."""
    if (
        reference.kind != "world"
        or scorers.fad_embedder is None
        or ref_scores.embeddings is None
        or len(plan) < 2
    ):
        return {}
    second = np.concatenate(
        [
            np.asarray(scorers.fad_embedder.embed_audio(chunk, SAMPLE_RATE))
            for chunk in second_world_set(plan, config.seed)
        ]
    )
    statistic = _fad_statistic(second, ref_scores.embeddings, list(range(len(plan))), config.seed)
    groups = list(group_indices([s.prompt_id for s in plan]).values())
    estimate = bootstrap_groups(statistic, groups, n_resamples=config.set_resamples, seed=config.seed)
    notes.append("reference FAD: a second set of real clips (other seeds) against the reference, FAD's floor")
    return {"fad": {ALL: _figure(estimate, len(plan), len(groups))}}
