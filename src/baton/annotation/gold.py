"""Gold clips for a campaign: clips whose answer is known, to measure each annotator.

A gold file is a samples file (``samples.jsonl``) whose every clip states its answer in
``settings.gold``: 1 (or true) when it matches its prompt, 0 (or false) when it does not. For a real
model the organiser makes one by hand: a few of the model's clips, heard and labelled with care.
On the sound world the synthesizer makes them itself (:func:`world_gold`), since it knows what it
laid where: each gold prompt gets a right clip and a wrong one, in an order drawn per prompt:

* integrity (two events): right, both named events; wrong, one of them replaced by another class;
* temporal (three events in order): right, in the stated order; wrong, two of them swapped.

The two clips of a gold prompt also make a gold pair for the A/B task, whose better clip is known.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from baton.artifacts import SampleRecord, write_records
from baton.errors import InputError

GOLD_TASKS = ("integrity", "temporal")


@dataclass
class GoldResult:
    samples: Path
    clips: int
    prompts: int

    def summary(self) -> str:
        return (
            f"{self.clips} gold clips ({self.prompts} prompts, a right and a wrong clip each) -> {self.samples}; "
            f"mix them into a campaign with: baton annotate serve ... --gold {self.samples}"
        )


def world_gold(
    out: str | Path, prompts: int = 20, seed: int = 0, tasks: tuple[str, ...] = GOLD_TASKS
) -> GoldResult:
    """Write ``prompts`` gold prompts of the sound world, two clips each, to ``out/samples.jsonl`` and
    ``out/audio/``; the prompts take the tasks in turn."""
    # Start-up: the sound world's renderer loads only when gold clips are made.
    from baton.audio import save_audio
    from baton.world.captions import caption
    from baton.world.corpus import render
    from baton.world.spec import CLASSES, CLIP_SECONDS, SAMPLE_RATE

    if prompts < 1:
        raise InputError("must be at least 1", field="prompts")
    unknown = [t for t in tasks if t not in GOLD_TASKS]
    if unknown or not tasks:
        raise InputError(f"must be one or both of {', '.join(GOLD_TASKS)}, got {list(tasks)}", field="tasks")
    out = Path(out)
    records = []
    for number in range(prompts):
        task = tasks[number % len(tasks)]
        rng = random.Random(f"gold/{seed}/{number}")
        if task == "integrity":
            events = rng.sample(CLASSES, 2)
            relation = rng.choice(("overlap", "sequence"))
            stand_in = rng.choice([c for c in CLASSES if c not in events])
            wrong, how = [events[0], stand_in], f"'{events[1]}' replaced by '{stand_in}'"
        else:
            events = rng.sample(CLASSES, 3)
            relation = "sequence"
            a, b = rng.sample(range(3), 2)
            wrong = list(events)
            wrong[a], wrong[b] = wrong[b], wrong[a]
            how = f"'{events[a]}' and '{events[b]}' swapped"
        text = caption(events, relation, rng)
        prompt_id = f"{task}-g{number:04d}"
        clips = [(1, events, "as the prompt says"), (0, wrong, how)]
        rng.shuffle(clips)  # which index is the right one tells nothing
        for index, (answer, labels, made) in enumerate(clips):
            sample_id = f"{prompt_id}-{index}"
            clip_seed = seed * 1_000_000 + number * 2 + index
            path = f"audio/{sample_id}.wav"
            save_audio(out / path, render(labels, relation, clip_seed).audio, SAMPLE_RATE)
            records.append(
                SampleRecord(
                    id=sample_id,
                    prompt_id=prompt_id,
                    text=text,
                    events=list(events),
                    task=task,  # type: ignore[arg-type]
                    relation=relation,  # type: ignore[arg-type]
                    index=index,
                    path=path,
                    seed=clip_seed,
                    backend="world-synthesizer",
                    sample_rate=SAMPLE_RATE,
                    duration=CLIP_SECONDS,
                    settings={"gold": answer, "made": made, "events_played": list(labels)},
                )
            )
    samples = out / "samples.jsonl"
    write_records(samples, records)
    return GoldResult(samples, len(records), prompts)
