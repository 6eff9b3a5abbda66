"""The open-vocabulary event judge proved on the sound world, with the world CLAP in LAION-CLAP's place.

1. **Against the truth.** Composed world clips of known content (``baton.world.corpus.render``), each
   asked one question of a world task, half of them true:

   * integrity: two named events (in sequence or overlapping, as the world's integrity prompts); the
     clip holds them (true), or holds one of them replaced by an event not named, or left out (false);
   * temporal: three named events in sequence; the clip holds them in that order (true), or in another
     order, or with one replaced or left out (false).

   The judge (:class:`baton.evaluation.event_judge.EventJudge`, default settings) answers each;
   reported per task: the share of answers that agree with the truth (95% bootstrap interval), split
   into true and false questions, and the median error of the onsets it reads on sequence clips.
   Target: agreement at least 0.85 in both tasks. For scale, the world's evaluator detector (trained
   on world clips with frame labels) answers the same questions.
2. **Against the evaluator on generated clips.** Curated world prompts of both tasks, clips made by
   the world T2A model (``baton generate``, backend ``world``); the judge's and the evaluator's
   verdicts, their agreement per task, and the accuracy each reads.
3. **As AI feedback.** On those clips, how well each judge's reward (``baton reward score --judge
   events|clap``) ranks the clips the evaluator judges right above the others: ROC-AUC per task.
4. **Window spectrograms.** The time the world CLAP's log-mel of the judge's windows takes computed
   over the whole zero-padded clip and over the audio alone (``MelSpectrogram.padded``), side by side.

The world: ``$BATON_BENCH_WORLD`` if set (a folder with ``clap/``, ``evaluator/`` and ``t2a/``), else
the cached world (``baton world build``; ``--quick``: the quick world, too small for meaningful
figures), built if missing.

    python -m benchmarks.run --only judge [--quick]
    python benchmarks/bench_judge.py [--quick] [--truth-clips N] [--prompts-per-task N] [--per-prompt K]
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

TARGET = 0.85
# Render seeds of the truth clips: a stream of their own, apart from the seeds the judge's settings
# were chosen on.
TRUTH_SEED = 3_000_000


@dataclass
class Question:
    """A clip of known content and the question asked of it: are ``asked`` there (in that order)?"""

    task: str
    asked: list[str]
    relation: str
    truth: bool
    fault: str  # none, replaced, left_out, reordered
    clip: Any  # baton.world.compose.Clip


def truth_questions(per_task: int, seed: int = 0) -> list[Question]:
    """``per_task`` questions of each task, alternately true and false (faults drawn at random)."""
    from baton.world.corpus import render
    from baton.world.spec import CLASSES

    rng = random.Random(f"bench-judge:{seed}")
    questions = []
    for task in ("integrity", "temporal"):
        for i in range(per_task):
            if task == "integrity":
                asked, relation = rng.sample(CLASSES, 2), rng.choice(["sequence", "overlap"])
            else:
                asked, relation = rng.sample(CLASSES, 3), "sequence"
            events, fault = list(asked), "none"
            if i % 2 == 1:
                draw = rng.random()
                if task == "temporal" and draw < 0.5:
                    fault = "reordered"
                    while events == asked:
                        rng.shuffle(events)
                elif draw < (0.75 if task == "temporal" else 0.5):
                    fault = "replaced"
                    events[rng.randrange(len(events))] = rng.choice([c for c in CLASSES if c not in asked])
                else:
                    fault = "left_out"
                    events.pop(rng.randrange(len(events)))
            layout = "single" if len(events) == 1 else relation
            number = TRUTH_SEED + 10_000 * seed + len(questions)
            questions.append(
                Question(task, asked, relation, i % 2 == 0, fault, render(events, layout, number))
            )
    return questions


def _estimate(values: list[bool] | np.ndarray) -> dict[str, Any]:
    from baton.stats import bootstrap_mean

    estimate = bootstrap_mean(np.asarray(values, dtype=float), n_resamples=2000, seed=0)
    return {
        "value": round(estimate.value, 4),
        "ci95": [round(estimate.low, 4), round(estimate.high, 4)],
        "n": estimate.n,
    }


def _rounded(value: float) -> float | None:
    return None if not np.isfinite(value) else round(float(value), 4)


def _evaluator_verdicts(detector: Any, audio: list[np.ndarray], events, tasks, relations) -> np.ndarray:
    from baton.evaluation.event_accuracy import judge_clip

    found = detector.detect(np.stack(audio))
    return np.array(
        [judge_clip(f, e, t, r).correct for f, e, t, r in zip(found, events, tasks, relations, strict=True)]
    )


def against_truth(judge: Any, detector: Any, questions: list[Question]) -> dict[str, Any]:
    """Part 1: the judge's and the evaluator's answers to questions of known truth."""
    from baton.evaluation.event_accuracy import judge_clip
    from baton.world.detectors import first_onsets

    per_task = len(questions) // 2
    audio = [q.clip.audio for q in questions]
    started = time.perf_counter()
    readings = judge.read(audio, 16_000)
    seconds = time.perf_counter() - started
    answers = np.array(
        [judge_clip(r, q.asked, q.task, q.relation).correct for r, q in zip(readings, questions, strict=True)]
    )
    evaluator = _evaluator_verdicts(
        detector,
        audio,
        [q.asked for q in questions],
        [q.task for q in questions],
        [q.relation for q in questions],
    )
    truth = np.array([q.truth for q in questions])
    tasks = np.array([q.task for q in questions])
    relations = np.array([q.relation for q in questions])
    faults = np.array([q.fault for q in questions])
    out: dict[str, Any] = {"clips_per_task": per_task, "judge_seconds": round(seconds, 1)}
    for task in ("integrity", "temporal"):
        mine = tasks == task
        out[task] = {
            "agreement": _estimate(answers[mine] == truth[mine]),
            "true_questions_answered_yes": _estimate(answers[mine & truth]),
            "false_questions_answered_no": _estimate(~answers[mine & ~truth]),
            # Overlapping events are the hard case: a window's softmax favours the louder one.
            "true_answered_yes_by_relation": {
                str(relation): _rounded(answers[mine & truth & (relations == relation)].mean())
                for relation in np.unique(relations[mine])
            },
            "false_answered_no_by_fault": {
                str(fault): _rounded((~answers[mine & (faults == fault)]).mean())
                for fault in np.unique(faults[mine & ~truth])
            },
            "evaluator_detector_agreement": _estimate(evaluator[mine] == truth[mine]),
        }
    errors = []
    for reading, q in zip(readings, questions, strict=True):
        if q.clip.relation == "sequence":
            onsets = first_onsets(reading)
            errors += [abs(onsets[e.label] - e.onset) for e in q.clip.events if e.label in onsets]
    out["onset_error_seconds"] = {
        "median": _rounded(np.median(errors)) if errors else None,
        "p90": _rounded(np.quantile(errors, 0.9)) if errors else None,
        "events": len(errors),
    }
    return out


def window_spectrograms(judge: Any, audio: list[np.ndarray]) -> dict[str, Any]:
    """The judge's 1 s windows turned into the world CLAP's 4 s log-mel input, side by side: the
    whole zero-padded clip transformed (as before) and the audio with only one FFT of zeros
    (``MelSpectrogram.padded``, what the world CLAP does now). Same values; the ratio is the speed-up."""
    import torch
    import torch.nn.functional as F

    from baton.evaluation.event_judge import window_starts
    from baton.world.spec import CLIP_SAMPLES

    mel = judge.encoder.clap.net.mel
    size, hop = round(judge.config.window * 16_000), round(judge.config.hop * 16_000)
    windows = torch.from_numpy(
        np.stack([clip[s : s + size] for clip in audio for s in window_starts(clip.size, size, hop)])
    )
    batches = windows.split(64)  # as WorldClap.embed_audio batches them
    with torch.no_grad():
        started = time.perf_counter()
        whole = torch.cat([mel(F.pad(b, (0, CLIP_SAMPLES - b.shape[1]))) for b in batches])
        whole_seconds = time.perf_counter() - started
        started = time.perf_counter()
        padded = torch.cat([mel.padded(b, CLIP_SAMPLES) for b in batches])
        padded_seconds = time.perf_counter() - started
    return {
        "windows": int(windows.shape[0]),
        "whole_clip_seconds": round(whole_seconds, 2),
        "padded_seconds": round(padded_seconds, 2),
        "speed_up": round(whole_seconds / padded_seconds, 2),
        "max_abs_difference": float((whole - padded).abs().max()),
    }


def on_generated_clips(
    judge: Any, detector: Any, world: Path, folder: Path, prompts_per_task: int, per_prompt: int
) -> dict[str, Any]:
    """Parts 2 and 3: the judge against the evaluator on the world T2A model's clips; the judges'
    rewards against the evaluator's verdicts."""
    from baton.artifacts import write_records
    from baton.evaluation.clap_score import ClapScoreJudge
    from baton.reward.evaluate import roc_auc
    from benchmarks.bench_reward import _generate_with_t2a, world_prompts

    prompts_path = folder / "prompts.jsonl"
    write_records(prompts_path, world_prompts(prompts_per_task, seed=7))
    started = time.perf_counter()
    samples, audio = _generate_with_t2a(world, prompts_path, folder, per_prompt, seed=0)
    generate_seconds = time.perf_counter() - started
    events, tasks, relations = (
        [s.events for s in samples],
        [s.task for s in samples],
        [s.relation for s in samples],
    )
    verdicts = np.array([j.correct for j in judge.judge(audio, 16_000, events, tasks, relations)])
    evaluator = _evaluator_verdicts(detector, audio, events, tasks, relations)
    rewards = {
        "events": judge.sample_rewards(samples, audio, 16_000),
        "clap": ClapScoreJudge(judge.encoder).sample_rewards(samples, audio, 16_000),
    }
    out: dict[str, Any] = {
        "prompts_per_task": prompts_per_task,
        "clips_per_prompt": per_prompt,
        "generate_seconds": round(generate_seconds, 1),
    }
    task_array = np.array(tasks)
    for task in ("integrity", "temporal"):
        mine = task_array == task
        out[task] = {
            "agreement_with_evaluator": _estimate(verdicts[mine] == evaluator[mine]),
            "judge_accuracy": _estimate(verdicts[mine]),
            "evaluator_accuracy": _estimate(evaluator[mine]),
            # None where the evaluator's verdicts are all one way (no ranking to measure).
            "reward_auc_vs_evaluator": {
                name: _rounded(roc_auc(list(values[mine]), [int(v) for v in evaluator[mine]]))
                for name, values in rewards.items()
            },
        }
    return out


def run(
    quick: bool = False,
    truth_clips: int | None = None,
    prompts_per_task: int | None = None,
    per_prompt: int | None = None,
) -> dict[str, Any]:
    """All three parts; sizes default to 8 / 3 x 1 (quick) and 200 / 50 x 2 (full)."""
    from baton.workers import with_threads

    # One torch thread: on a shared 2-core machine it is faster for these small models.
    return with_threads(1, _measure, quick, truth_clips, prompts_per_task, per_prompt)


def _measure(
    quick: bool, truth_clips: int | None, prompts_per_task: int | None, per_prompt: int | None
) -> dict[str, Any]:
    from baton.evaluation.event_judge import EventJudge, judge_vocabulary, load_embedder
    from baton.world.detectors import EventDetector
    from baton.world.spec import CLASSES
    from benchmarks.bench_reward import world_folder

    world = world_folder(quick)
    truth_clips = truth_clips or (8 if quick else 200)
    prompts_per_task = prompts_per_task or (3 if quick else 50)
    per_prompt = per_prompt or (1 if quick else 2)
    judge = EventJudge(load_embedder(f"world:{world}"), judge_vocabulary(CLASSES))
    detector = EventDetector.load(world / "evaluator")
    questions = truth_questions(truth_clips)
    truth = against_truth(judge, detector, questions)
    spectrograms = window_spectrograms(judge, [q.clip.audio for q in questions[:100]])
    with tempfile.TemporaryDirectory(prefix="bench-judge-") as tmp:
        generated = on_generated_clips(judge, detector, world, Path(tmp), prompts_per_task, per_prompt)
    return {
        "world": str(world),
        "quick": quick,
        "judge": judge.identity,
        "against_truth": truth,
        "window_spectrograms": spectrograms,
        "generated_clips": generated,
        "targets": {
            f"truth_agreement_at_least_{TARGET}": all(
                truth[task]["agreement"]["value"] >= TARGET for task in ("integrity", "temporal")
            )
        },
    }


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--truth-clips", type=int, default=None, help="questions per task")
    parser.add_argument("--prompts-per-task", type=int, default=None)
    parser.add_argument("--per-prompt", type=int, default=None)
    args = parser.parse_args()
    result = run(args.quick, args.truth_clips, args.prompts_per_task, args.per_prompt)
    print(json.dumps(result, indent=2, default=str))
