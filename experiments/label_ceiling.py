"""How well can any reward model rank these labels? The world's own detectors as reward models.

    python experiments/label_ceiling.py --labels runs/demo/annotation/labels.jsonl

The demo's simulated annotators hear clips with the world's *annotator* detector and err at a rate of
their own; the evaluation judges with the *evaluator* detector. Each detector's soft match probability
(:meth:`baton.world.detectors.EventDetector.match_probability`), used as a reward model, gives the ROC
AUC against the labels' majority per task: the evaluator's is what a reward model as good as the
evaluation's judge would score, so a reward model's AUC on these labels is read against it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from baton.audio import load_audio
from baton.interchange.labels import read_labels
from baton.reward.data import labelled_clips
from baton.stats import ranking_auc
from baton.world.detectors import EventDetector
from baton.world.manifest import world_dir
from baton.world.spec import SAMPLE_RATE

BATCH = 64


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--labels", type=Path, required=True, help="labels.jsonl (from `baton annotate export`)."
    )
    parser.add_argument("--world", type=Path, default=None, help="World folder (default: the cached world).")
    args = parser.parse_args()

    world = args.world or world_dir()
    records = read_labels(args.labels)
    clips = labelled_clips(records, args.labels)
    audio = [load_audio(c.audio, sample_rate=SAMPLE_RATE)[0] for c in clips]
    labels = np.array([c.target > 0.5 for c in clips], dtype=np.int64)
    tasks = np.array([c.task or "any" for c in clips])
    for role in ("evaluator", "annotator"):
        detector = EventDetector.load(world / role)
        probabilities = []
        for start in range(0, len(clips), BATCH):
            rows = range(start, min(start + BATCH, len(clips)))
            probabilities += [
                float(p)
                for p in detector.match_probability(
                    [audio[i] for i in rows],
                    [records[i].events for i in rows],
                    [clips[i].task or "integrity" for i in rows],
                )
            ]
        scores = np.array(probabilities)
        figures = {
            task: round(ranking_auc(scores[tasks == task], labels[tasks == task]), 3)
            for task in sorted(set(tasks))
        }
        print(f"{role} detector as a reward model, ROC AUC against the labels: {figures}")


if __name__ == "__main__":
    main()
