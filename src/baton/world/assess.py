"""How well a world T2A model follows prompts, judged by the evaluator detector on held-out prompts.

Three prompt sets, made afresh from a seed: single events (each class in turn, phrased at random),
2-event integrity prompts and 3-event temporal prompts (from ``baton prompts --vocab world``'s
curator). One clip per prompt is generated; the evaluator detector says whether the named events are
present (single, integrity) or present in the stated order (temporal). Real world clips with the same
events, rendered by the synthesizer, give the detector's own ceiling on the same prompts and the
reference set for FAD, computed on world CLAP audio embeddings.

Layer: this uses the stages (the prompts curator, generation's seeds, the world backend, the
evaluation's judgement and FAD), so it stands above them with :mod:`baton.world.build`, which calls
it; the world's models and data below never import it.
"""

from __future__ import annotations

import math
import random
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from baton.artifacts import PromptRecord
from baton.backends.world import WorldBackend
from baton.console import track
from baton.evaluation.event_accuracy import judge_clip
from baton.evaluation.fad import FewEmbeddingsWarning, frechet_distance
from baton.generation.run import clip_seed
from baton.prompts.curate import curate_prompts, max_prompts
from baton.stats import bootstrap_mean
from baton.world.captions import caption, world_vocabulary
from baton.world.clap import WorldClap
from baton.world.corpus import render
from baton.world.detectors import EventDetector
from baton.world.spec import CLASSES


def heldout_prompts(n_per_task: int, seed: int, repeat_sets: bool = False) -> dict[str, list[PromptRecord]]:
    """Single, integrity and temporal prompts of the world vocabulary, ``n_per_task`` each.

    The world has only C(12, 2) = 66 event pairs: integrity takes at most that many prompts, or, with
    ``repeat_sets``, ``n_per_task`` in rounds of distinct pairs, each round with its own order,
    relation and phrasing of every pair.
    """
    rng = random.Random(seed)
    single = [
        PromptRecord(
            id=f"single-{i:04d}",
            text=caption([CLASSES[i % len(CLASSES)]], "single", rng),
            events=[CLASSES[i % len(CLASSES)]],
            task="single",
            relation="single",
            source="world",
        )
        for i in range(n_per_task)
    ]
    vocabulary = world_vocabulary()
    pairs = max_prompts(len(vocabulary.events), "integrity")
    integrity: list[PromptRecord] = []
    for round_ in range(math.ceil(n_per_task / pairs) if repeat_sets else 1):
        n = min(n_per_task - len(integrity), pairs)
        batch = curate_prompts(vocabulary, task="integrity", n=n, seed=seed + 100 * round_)
        integrity += [
            p.model_copy(update={"id": f"integrity-{len(integrity) + i:04d}"}) for i, p in enumerate(batch)
        ]
    n_temporal = min(n_per_task, max_prompts(len(vocabulary.events), "temporal"))
    return {
        "single": single,
        "integrity": integrity,
        "temporal": curate_prompts(vocabulary, task="temporal", n=n_temporal, seed=seed + 1),
    }


def assess_world_model(
    model_dir: str | Path | None,
    evaluator_dir: str | Path,
    clap_dir: str | Path,
    prompts_per_task: int = 100,
    seed: int = 0,
    progress: bool = True,
    clips_per_prompt: int = 1,
) -> dict[str, Any]:
    """Accuracy per task with 95% intervals, the detector's accuracy on real clips, FAD and CLAP score.

    With ``clips_per_prompt`` > 1 every prompt has that many clips (seeds of its own) and integrity
    prompts repeat the world's 66 pairs up to ``prompts_per_task`` (:func:`heldout_prompts`); a
    prompt's accuracy is the mean over its clips, and intervals are over prompts.
    """
    backend = WorldBackend.load(model_dir)
    evaluator = EventDetector.load(evaluator_dir)
    clap = WorldClap.load(clap_dir)
    prompt_sets = heldout_prompts(prompts_per_task, seed, repeat_sets=clips_per_prompt > 1)

    figures: dict[str, Any] = {"prompts_per_task": prompts_per_task, "seed": seed}
    if clips_per_prompt > 1:
        figures["clips_per_prompt"] = clips_per_prompt
    generated_all, real_all, texts_all = [], [], []
    for task, one_each in prompt_sets.items():
        # Clip k of every prompt, k = 0 .. clips_per_prompt - 1: a prompt's clips sit side by side.
        prompts = [p for p in one_each for _ in range(clips_per_prompt)]
        seeds = [clip_seed(seed, p.id, k) for p in one_each for k in range(clips_per_prompt)]
        batch = backend.max_batch
        generated: list[np.ndarray] = []
        for start in track(range(0, len(prompts), batch), f"base model: {task}", enabled=progress):
            chunk = prompts[start : start + batch]
            generated += backend.generate([p.text for p in chunk], seeds[start : start + batch])
        real = [
            render(p.events, p.relation or "single", s).audio for p, s in zip(prompts, seeds, strict=True)
        ]
        labels = [p.events for p in prompts]
        for name, clips in (("", generated), ("_real", real)):
            detected = evaluator.detect(np.stack(clips))
            judged = [judge_clip(found, named, task) for found, named in zip(detected, labels, strict=True)]
            kinds = {"accuracy": [j.correct for j in judged]}
            if task == "temporal":
                kinds["presence"] = [j.presence for j in judged]
            for kind, flags in kinds.items():
                # [prompts, clips]: each prompt's share of right clips, resampled over prompts.
                per_prompt = (
                    np.asarray(flags, dtype=float).reshape(len(one_each), clips_per_prompt).mean(axis=1)
                )
                figures[f"{task}{name}_{kind}"] = bootstrap_mean(per_prompt, seed=seed).as_dict()
        generated_all += generated
        real_all += real
        texts_all += [p.text for p in prompts]

    generated_emb = clap.embed_audio(np.stack(generated_all)).numpy()
    real_emb = clap.embed_audio(np.stack(real_all)).numpy()
    # The distance between two real sets of the same prompts (other seeds): FAD's floor at this size.
    other_real = [
        render(p.events, p.relation or "single", clip_seed(seed + 1, p.id, 0)).audio
        for prompts in prompt_sets.values()
        for p in prompts
    ]
    other_emb = clap.embed_audio(np.stack(other_real)).numpy()
    # A quick world has fewer clips than dimensions: both FADs are then biased upward alike, and are
    # read side by side at the same size (what FewEmbeddingsWarning asks), so the warning is not shown.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewEmbeddingsWarning)
        figures["fad"] = frechet_distance(generated_emb, real_emb)
        figures["fad_real_vs_real"] = frechet_distance(other_emb, real_emb)
    scores = clap.score(texts_all, np.stack(generated_all)).numpy()
    figures["clap_score"] = bootstrap_mean(scores, seed=seed).as_dict()
    figures["clap_score_real"] = bootstrap_mean(
        clap.score(texts_all, np.stack(real_all)).numpy(), seed=seed
    ).as_dict()
    figures["fad_embedding"] = "world CLAP audio embedding"
    return figures
