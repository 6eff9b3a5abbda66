"""Label efficiency: the reward model's held-out ROC AUC against the number of labelled clips, with the
clips to label chosen at random or actively (:mod:`baton.reward.select`), on the shipped sound world.

1. **One pool, made once** (cached under the output folder, ``pool/``): integrity and temporal prompts
   of the world vocabulary, split into train and held-out prompts (no event set on both sides, as the
   demo splits them); the shipped world T2A model generates ``PER_PROMPT`` clips of each train prompt
   (the pool labels are drawn from) and ``TEST_PER_PROMPT`` of each held-out prompt. For each clip:
   its world-CLAP features (the reward model's frozen encoders), the world's *annotator* detector's
   match probability (what a simulated person hears) and, for held-out clips, the *evaluator*
   detector's judgement (the truth the AUC is measured against; never the annotators' detector).
2. **Votes**: for each seed, every pool clip gets k = 3 votes from 3 of 5 simulated people with the
   demo's noise (``baton annotate simulate``'s people, :func:`baton.annotation.simulate.make_people`);
   the majority is its label. A clip's votes are the same whichever rule asks for it, so the rules are
   compared on the same answers.
3. **Curves**: from a random start of ``START`` clips, rounds of ``ROUND`` clips up to ``BUDGET``:
   after each round the ensemble (:func:`baton.reward.select.fit_ensemble`: ``MEMBERS`` pooled-MLP heads
   with the similarity prior, the first on the labels so far, the others on bootstrap resamples of
   them) is refitted; the first head, the reward model, is scored on the held-out clips (ROC AUC
   against the evaluator's truth), and the next round is chosen by the rule (``random``, or an active
   rule with ``RANDOM_SHARE`` of each round drawn at random) over the whole ensemble. Cheap: heads on
   cached embeddings. For reference, the encoders' own text-audio cosine, with no label at all.
4. **Figures**: per rule and budget the mean AUC over seeds with a 95% t-interval; the smallest budget
   from which each rule's mean stays at or above random's mean at the full budget (and its share of
   the budget); the paired (same seed) difference from random at each budget, with its interval. A PNG
   of the curves (``curves.png``) beside the JSON (``label_efficiency.json``).

``--quick``: 2 seeds, a smaller pool and budget (a smoke run, not figures). ``--no-prior``: heads
without the similarity prior (``baton reward train``'s default head), into ``full-no-prior/``.

    python -m benchmarks.run --only label_efficiency [--quick]
    python benchmarks/bench_label_efficiency.py [--quick] [--no-prior] [--out bench-results/label-efficiency]
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

# The pool: (train prompts, held-out prompts) per task; the world has 66 event pairs for integrity.
PROMPTS = {"integrity": (40, 26), "temporal": (60, 40)}
PER_PROMPT, TEST_PER_PROMPT = 8, 2
ANNOTATORS, VOTES_PER_CLIP, NOISE = 5, 3, 0.1  # the demo's simulated team
START, ROUND, BUDGET = 40, 20, 300
MEMBERS = 4
RANDOM_SHARE = 0.25
RULES = ("random", "uncertain", "disagreement", "bald")
SEEDS = 6
QUICK = {
    "prompts": {"integrity": (6, 10), "temporal": (6, 10)},
    "start": 12,
    "round": 6,
    "budget": 36,
    "seeds": 2,
}
OUT = Path("bench-results/label-efficiency")


# --- 1. the pool --------------------------------------------------------------------------------------


def world_folder() -> Path:
    from baton.world.build import WorldBuildConfig, build
    from baton.world.manifest import world_dir

    given = os.environ.get("BATON_BENCH_WORLD")
    if given:
        return Path(given)
    folder = world_dir()
    if not (folder / "evaluator" / "config.json").is_file():
        build(WorldBuildConfig(progress=False))
    return folder


def split_prompts(prompts: dict[str, tuple[int, int]]) -> tuple[list[Any], list[Any]]:
    from baton.prompts.curate import curate_prompts
    from baton.world.captions import world_vocabulary

    vocabulary = world_vocabulary()
    train, test = [], []
    for offset, (task, (n_train, n_test)) in enumerate(prompts.items()):
        records = curate_prompts(vocabulary, task=task, n=n_train + n_test, seed=offset)
        train += records[:n_train]
        test += records[n_train:]
    return train, test


def make_pool(folder: Path, world: Path, prompts: dict[str, tuple[int, int]]) -> dict[str, np.ndarray]:
    """The pool's arrays (see the module docstring), made once and kept in ``folder/pool.npz``."""
    from baton.artifacts import resolve_path, write_records
    from baton.audio import load_audio
    from baton.generation.run import GenerateConfig
    from baton.generation.run import run as generate
    from baton.reward.encoders import load_encoder
    from baton.reward.heads import stack_features
    from baton.world.detectors import EventDetector
    from baton.world.spec import SAMPLE_RATE

    cached = folder / "pool.npz"
    if cached.is_file():
        return dict(np.load(cached))
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    train, test = split_prompts(prompts)
    samples = []
    for side, records, per_prompt in (("train", train, PER_PROMPT), ("test", test, TEST_PER_PROMPT)):
        write_records(folder / f"{side}-prompts.jsonl", records)
        samples.append(
            generate(
                GenerateConfig(
                    prompts=folder / f"{side}-prompts.jsonl",
                    out=folder / side,
                    backend="world",
                    model=str(world / "t2a"),
                    per_prompt=per_prompt,
                    seed=0,
                    batch_size=16,
                    progress=False,
                )
            )  # fmt: skip
        )
    generated = time.perf_counter() - started
    records = samples[0] + samples[1]
    roots = [folder / "train"] * len(samples[0]) + [folder / "test"] * len(samples[1])
    audio = [
        load_audio(resolve_path(s.path, root), sample_rate=SAMPLE_RATE)[0]
        for s, root in zip(records, roots, strict=True)
    ]
    tasks = ["temporal" if s.task == "temporal" else "integrity" for s in records]
    events = [list(s.events) for s in records]
    heard = EventDetector.load(world / "annotator").match_probability(audio, events, tasks)
    truth = EventDetector.load(world / "evaluator").judge(audio, events, tasks)
    encoder = load_encoder(f"world:{world / 'clap'}")
    features = stack_features(
        encoder.encode_audio(audio, SAMPLE_RATE),
        encoder.encode_text([s.text for s in records]),
        sequences=False,
    )
    prompt_ids = sorted({s.prompt_id for s in records})
    pool = {
        "audio": features.audio.numpy(),  # [N, Da]
        "text": features.text.numpy(),  # [N, Dt]
        "heard": np.array(heard, dtype=np.float64),  # [N] the annotator detector's match probability
        "truth": np.array(truth, dtype=np.int64),  # [N] the evaluator's judgement
        "test": np.array([i >= len(samples[0]) for i in range(len(records))]),  # [N] a held-out clip
        "temporal": np.array([t == "temporal" for t in tasks]),
        "prompt": np.array([prompt_ids.index(s.prompt_id) for s in records]),
        "seconds": np.array([generated, time.perf_counter() - started]),
    }
    np.savez(cached, **pool)
    return pool


# --- 2. votes -----------------------------------------------------------------------------------------


def majority_labels(heard: np.ndarray, seed: int) -> np.ndarray:
    """Each clip's majority of k votes from k of the simulated team, as ``baton annotate simulate``'s
    people answer (their rates and biases drawn from ``seed``)."""
    from baton.annotation.simulate import make_people

    people = make_people(ANNOTATORS, NOISE, 0.0, seed, "sim")
    pick = random.Random(f"label-efficiency-votes:{seed}")
    labels = np.zeros(len(heard), dtype=np.int64)
    for i, p in enumerate(heard):
        voters = pick.sample(people, VOTES_PER_CLIP)
        labels[i] = int(sum(person.hears_match(float(p)) for person in voters) * 2 > VOTES_PER_CLIP)
    return labels


# --- 3. curves ----------------------------------------------------------------------------------------


def curve(
    pool: dict[str, np.ndarray], labels: np.ndarray, rule: str, seed: int, sizes: dict, prior: bool = True
) -> list[dict]:
    """AUC on the held-out clips after each round, the rounds chosen by ``rule``."""
    import torch

    from baton.reward.evaluate import roc_auc
    from baton.reward.heads import FeatureBatch
    from baton.reward.select import SelectSettings, ensemble_probabilities, fit_ensemble, select_batch

    features = FeatureBatch(torch.from_numpy(pool["audio"]), torch.from_numpy(pool["text"]))
    candidates = [int(i) for i in np.flatnonzero(~pool["test"])]
    test_rows = torch.from_numpy(np.flatnonzero(pool["test"]))
    test_truth = pool["truth"][pool["test"]]
    targets = torch.from_numpy(labels.astype(np.float32))
    settings = SelectSettings(rule=rule, random_share=RANDOM_SHARE, members=MEMBERS, seed=seed, prior=prior)
    labelled = random.Random(f"label-efficiency-start:{seed}").sample(candidates, sizes["start"])
    points = []
    round_number = 0
    while True:
        heads = fit_ensemble(features, targets, labelled, settings, round_number=round_number)
        model = ensemble_probabilities(heads[:1], features.index(test_rows))[0]  # the reward model
        points.append({"labelled": len(labelled), "auc": roc_auc(model.tolist(), test_truth.tolist())})
        if len(labelled) >= sizes["budget"]:
            return points
        round_number += 1
        open_rows = sorted(set(candidates) - set(labelled))
        size = min(sizes["round"], sizes["budget"] - len(labelled))
        labelled += select_batch(heads, features, open_rows, size, settings, round_number=round_number)


# --- 4. figures ---------------------------------------------------------------------------------------


def t_interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and 95% t-interval over seeds."""
    from scipy import stats

    array = np.asarray(values, dtype=np.float64)
    mean = float(array.mean())
    if len(array) < 2:
        return mean, mean, mean
    half = float(stats.t.ppf(0.975, len(array) - 1) * array.std(ddof=1) / np.sqrt(len(array)))
    return mean, mean - half, mean + half


def summarize(curves: dict[str, list[list[dict]]]) -> dict[str, Any]:
    budgets = [p["labelled"] for p in curves["random"][0]]
    table: dict[str, Any] = {}
    for rule, runs in curves.items():
        rows = []
        for j, budget in enumerate(budgets):
            mean, low, high = t_interval([run[j]["auc"] for run in runs])
            row = {"labelled": budget, "auc": round(mean, 4), "ci": [round(low, 4), round(high, 4)]}
            if rule != "random":
                paired = [
                    run[j]["auc"] - base[j]["auc"] for run, base in zip(runs, curves["random"], strict=True)
                ]
                d, d_low, d_high = t_interval(paired)
                row["minus_random"] = round(d, 4)
                row["minus_random_ci"] = [round(d_low, 4), round(d_high, 4)]
            rows.append(row)
        table[rule] = rows
    target = table["random"][-1]["auc"]
    reached = {}
    for rule in curves:
        # The smallest budget from which the mean stays at or above the target (a curve is not monotone).
        first = None
        for row in reversed(table[rule]):
            if row["auc"] < target:
                break
            first = row["labelled"]
        reached[rule] = {
            "labels": first,
            "share_of_budget": None if first is None else round(first / budgets[-1], 3),
        }
    return {
        "budgets": budgets,
        "curves": table,
        "random_full_budget_auc": target,
        "reaches_random_full_budget": reached,
    }


def cosine_auc(pool: dict[str, np.ndarray]) -> float:
    """The held-out ROC AUC of the encoders' own text-audio cosine: what no label at all gives."""
    from baton.reward.evaluate import roc_auc

    audio, text = pool["audio"][pool["test"]], pool["text"][pool["test"]]
    cosine = (audio * text).sum(1) / (np.linalg.norm(audio, axis=1) * np.linalg.norm(text, axis=1))
    return roc_auc(cosine.tolist(), pool["truth"][pool["test"]].tolist())


def plot(summary: dict[str, Any], path: Path) -> Path:
    """The curves as a PNG (the figure ``baton report --label-efficiency`` shows)."""
    from baton.report.plots import label_efficiency

    path.write_bytes(label_efficiency(summary))
    return path


def run(quick: bool = False, out: Path | None = None, prior: bool = True) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    sizes = (
        QUICK
        if quick
        else {"prompts": PROMPTS, "start": START, "round": ROUND, "budget": BUDGET, "seeds": SEEDS}
    )
    folder = Path(out or OUT) / (("quick" if quick else "full") + ("" if prior else "-no-prior"))
    started = time.perf_counter()
    pool = make_pool(
        Path(out or OUT) / ("quick" if quick else "full") / "pool", world_folder(), sizes["prompts"]
    )
    pool_seconds = time.perf_counter() - started
    curves: dict[str, list[list[dict]]] = {rule: [] for rule in RULES}
    for seed in range(sizes["seeds"]):
        labels = majority_labels(pool["heard"], seed)
        for rule in RULES:
            curves[rule].append(curve(pool, labels, rule, seed, sizes, prior))
    summary = {**summarize(curves), "cosine_auc": round(cosine_auc(pool), 4)}
    train = ~pool["test"]
    results = {
        "pool": {
            "train_clips": int(train.sum()),
            "test_clips": int(pool["test"].sum()),
            "test_right_share": round(float(pool["truth"][pool["test"]].mean()), 3),
            "label_agrees_with_truth": round(
                float((majority_labels(pool["heard"], 0) == pool["truth"])[train].mean()), 3
            ),
            "made_seconds": [round(float(s), 1) for s in pool["seconds"]],
        },
        "settings": {
            "start": sizes["start"],
            "round": sizes["round"],
            "budget": sizes["budget"],
            "seeds": sizes["seeds"],
            "members": MEMBERS,
            "random_share": RANDOM_SHARE,
            "votes_per_clip": VOTES_PER_CLIP,
            "noise": NOISE,
            "similarity_prior": prior,
        },
        **summary,
        "per_seed": {
            rule: [[round(p["auc"], 4) for p in run] for run in runs] for rule, runs in curves.items()
        },
        "seconds": {
            "pool": round(pool_seconds, 1),
            "curves": round(time.perf_counter() - started - pool_seconds, 1),
        },
    }
    folder.mkdir(parents=True, exist_ok=True)
    results["plot"] = str(plot(results, folder / "curves.png"))
    (folder / "label_efficiency.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-prior", action="store_true", help="heads without the similarity prior")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    print(json.dumps(run(quick=args.quick, out=args.out, prior=not args.no_prior), indent=2))
