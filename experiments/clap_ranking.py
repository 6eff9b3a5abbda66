"""How well a world CLAP's cosine alone ranks labelled clips: the untrained baseline of a reward model.

    python experiments/clap_ranking.py --labels runs/demo/annotation/labels.jsonl --clap CACHE/world/clap

Prints, per task, the ROC AUC of the cosine between each clip's pooled audio embedding and its
prompt's text embedding against the clip's label (the labels' audio paths are relative to their file).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from baton.artifacts import LabelRecord, read_records, resolve_path
from baton.audio import load_audio
from baton.reward.evaluate import roc_auc
from baton.world.clap import WorldClap
from baton.world.spec import SAMPLE_RATE


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--labels", type=Path, required=True)
    parser.add_argument("--clap", type=Path, required=True, help="A world's clap/ folder.")
    args = parser.parse_args()

    records = read_records(args.labels, LabelRecord)
    clap = WorldClap.load(args.clap)
    clips = [load_audio(resolve_path(r.path, args.labels.parent), SAMPLE_RATE)[0] for r in records]
    audio = clap.embed_audio(clips, SAMPLE_RATE).float().numpy()
    text = clap.embed_text([r.text for r in records]).float().numpy()
    cosine = (audio * text).sum(1) / (np.linalg.norm(audio, axis=1) * np.linalg.norm(text, axis=1))
    for task in sorted({r.task for r in records}, key=str):
        rows = [i for i, r in enumerate(records) if r.task == task]
        labels = [int(records[i].label) for i in rows]
        auc = roc_auc([float(cosine[i]) for i in rows], labels)
        print(f"{task}: {len(rows)} clips, {sum(labels)} labelled 1, CLAP cosine ROC AUC {auc:.3f}")


if __name__ == "__main__":
    main()
