"""How well untrained judges rank labelled clips: the baselines of a trained reward model.

    python experiments/clap_ranking.py --labels runs/demo/annotation/labels.jsonl --clap CACHE/world/clap

Prints, per task, the ROC AUC against each clip's label (the labels' audio paths are relative to
their file) of two judges that learn nothing from the labels:

* the cosine between the clip's pooled world-CLAP audio embedding and its prompt's text embedding;
* the event judge over the same CLAP (:class:`baton.evaluation.event_judge.EventJudge`, the AI
  feedback of ``baton reward score --judge events``): its soft score that the named events sound,
  in the stated order for temporal prompts.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from baton.artifacts import LabelRecord, read_records, resolve_path
from baton.audio import load_audio
from baton.evaluation.event_judge import EventJudge, judge_vocabulary
from baton.evaluation.scorers import WorldClapEmbedder
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
    judge = EventJudge(
        WorldClapEmbedder(clap), judge_vocabulary(sorted({e for r in records for e in r.events}))
    )
    events = judge.rewards(clips, SAMPLE_RATE, [r.events for r in records], [r.task for r in records])
    for task in sorted({r.task for r in records}, key=str):
        rows = [i for i, r in enumerate(records) if r.task == task]
        labels = [int(records[i].label) for i in rows]
        auc = roc_auc([float(cosine[i]) for i in rows], labels)
        judged = roc_auc([float(events[i]) for i in rows], labels)
        print(
            f"{task}: {len(rows)} clips, {sum(labels)} labelled 1, ROC AUC of the CLAP cosine {auc:.3f}, "
            f"of the event judge {judged:.3f}"
        )


if __name__ == "__main__":
    main()
