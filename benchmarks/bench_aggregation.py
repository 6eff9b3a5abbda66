"""Aggregating votes: Dawid-Skene against the majority, on simulated teams of mixed reliability.

Each clip of a samples file matches its prompt or not, at random (the truth is in its settings).
For each team (every person's chance of hearing a clip right) the simulated people
(``baton annotate simulate --reliability ...``) label every clip through the real server, three
votes a clip, taking turns; once without gold clips and once with a gold clip every 5th answer
(20 gold prompts of 2 clips, their answers known). The export (``baton annotate export``) then
gives each clip its majority label and its Dawid-Skene probability, fitted to every vote, gold
clips as known items. Both are compared with the truth.

Teams (five people):

* ``one_careful``: one careful person (0.95) and four who nearly guess (0.55);
* ``one_misreads``: two careful (0.95, 0.9), one so-so (0.6), one guessing (0.55), and one who
  misread the question and answers the opposite most of the time (0.2);
* ``all_fair``: everyone fair (0.85, 0.8, 0.8, 0.75, 0.7).

Reported per team and gold setting: the accuracy of the majority and of Dawid-Skene over all clips
of all seeds, their paired difference with a bootstrap 95% interval over clips, and each seed's
difference. ``--quick``: 2 seeds of 40 prompts instead of 5 of 100 (2 clips a prompt).

    python -m benchmarks.run --only aggregation [--quick]
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # standalone runs: the repository's tests/ helpers

TEAMS = {
    "one_careful": [0.95, 0.55, 0.55, 0.55, 0.55],
    "one_misreads": [0.95, 0.9, 0.6, 0.55, 0.2],
    "all_fair": [0.85, 0.8, 0.8, 0.75, 0.7],
}
GOLD_EVERY = 5
GOLD_PROMPTS = 20
VOTES_PER_CLIP = 3


def _one_run(
    work: Path, team: list[float], gold: bool, seed: int, prompts: int
) -> tuple[list[int], list[int]]:
    """Per clip, whether the majority and whether Dawid-Skene gave the true answer (1 or 0)."""
    from tests.annotation.helpers import make_samples, with_random_truth

    from baton.annotation.config import SimulateConfig
    from baton.annotation.run import export_labels
    from baton.annotation.simulate import simulate
    from baton.artifacts import LabelRecord, read_records

    samples = make_samples(work / "run", prompts=prompts, per_prompt=2, seconds=0.05)
    truth = with_random_truth(samples, "match", seed)
    gold_files = []
    if gold:
        gold_path = make_samples(
            work / "gold", prompts=GOLD_PROMPTS, per_prompt=2, seconds=0.05, name="gold.jsonl"
        )
        with_random_truth(gold_path, "gold", seed + 1000)
        gold_files = [str(gold_path)]
    db = f"sqlite:///{work / 'labels.db'}"
    result = simulate(
        SimulateConfig(
            samples=[str(samples)], gold=gold_files, gold_every=GOLD_EVERY, db=db, reliability=team,
            skip_rate=0.0, labels_per_clip=VOTES_PER_CLIP, seed=seed, progress=False,
        )
    )  # fmt: skip
    if result.errors:
        raise RuntimeError(f"the simulation failed: {result.errors[:3]}")
    records = read_records(export_labels(db, work / "labels.jsonl").out, LabelRecord)
    majority = [int(r.label == truth[r.sample_id]) for r in records]  # a tie (none with 3 votes) is wrong
    dawid_skene = [int((r.dawid_skene > 0.5) == truth[r.sample_id]) for r in records]  # type: ignore[operator]
    return majority, dawid_skene


def run(quick: bool = False) -> dict:
    import numpy as np

    from baton.stats import paired_difference

    seeds = range(2) if quick else range(5)
    prompts = 40 if quick else 100
    results: dict = {"clips_per_seed": prompts * 2, "seeds": len(seeds), "votes_per_clip": VOTES_PER_CLIP}
    for name, team in TEAMS.items():
        for gold in (False, True):
            majority: list[int] = []
            dawid_skene: list[int] = []
            per_seed = []
            for seed in seeds:
                with tempfile.TemporaryDirectory(prefix="bench-aggregation-") as tmp:
                    m, d = _one_run(Path(tmp), team, gold, seed, prompts)
                majority += m
                dawid_skene += d
                per_seed.append(round(float(np.mean(d) - np.mean(m)), 3))
            difference = paired_difference(np.array(dawid_skene), np.array(majority))
            results[f"{name}{'_gold' if gold else ''}"] = {
                "reliability": team,
                "gold_every": GOLD_EVERY if gold else None,
                "majority_accuracy": round(float(np.mean(majority)), 3),
                "dawid_skene_accuracy": round(float(np.mean(dawid_skene)), 3),
                "difference": round(difference.value, 3),
                "difference_ci": [round(difference.low, 3), round(difference.high, 3)],
                "difference_per_seed": per_seed,
            }
    return results


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
