"""Small labelled data sets written by the tests: short synthetic clips and their labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from baton.artifacts import LabelRecord, SampleRecord, Vote, write_records
from baton.audio import save_audio

RATE = 16_000


def tone(freq: float, seconds: float = 0.5, rate: int = RATE, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def write_label_set(
    folder: Path,
    prompts: int = 6,
    per_prompt: int = 4,
    votes: int = 3,
    tasks: tuple[str, ...] = ("integrity", "temporal"),
    seed: int = 0,
) -> Path:
    """Clips (tones) and a labels.jsonl: a clip is 'good' when its tone is high; votes mostly agree."""
    rng = np.random.default_rng(seed)
    records = []
    for p in range(prompts):
        task = tasks[p % len(tasks)]
        text = f"a bell rings then a dog barks {p}"
        for k in range(per_prompt):
            good = k % 2 == 0
            relative = f"audio/p{p}-{k}.wav"
            save_audio(folder / relative, tone(880.0 if good else 220.0, seed=p * 10 + k), RATE)
            values = [float(good) if rng.random() > 0.1 else float(not good) for _ in range(votes)]
            records.append(
                LabelRecord.from_votes(
                    [Vote(annotator=f"a{i}", value=v) for i, v in enumerate(values)],
                    sample_id=f"p{p}-{k}",
                    prompt_id=f"p{p}",
                    text=text,
                    task=task,
                    index=k,
                    path=relative,
                )
            )
    path = folder / "labels.jsonl"
    write_records(path, records)
    return path


def first_prompt_samples() -> list[SampleRecord]:
    """The four clips of ``write_label_set``'s first prompt, as a samples file lists them."""
    return [
        SampleRecord(id=f"p0-{k}", prompt_id="p0", text="a bell rings then a dog barks 0", task="integrity",
                     index=k, path=f"audio/p0-{k}.wav")
        for k in range(4)
    ]  # fmt: skip


def write_pair_set(folder: Path, prompts: int = 6, per_prompt: int = 4, raters: int = 3) -> Path:
    """The clips of ``write_label_set`` (written if missing) as people's A/B answers: every pair of a
    prompt's clips, the high tone chosen over the low one (pairs of two alike tones: a tie)."""
    from baton.artifacts import PairRecord

    if not (folder / "labels.jsonl").exists():
        write_label_set(folder, prompts, per_prompt)
    records = []
    for p in range(prompts):
        for a in range(per_prompt):
            for b in range(a + 1, per_prompt):
                good_a, good_b = a % 2 == 0, b % 2 == 0
                choice = "tie" if good_a == good_b else ("first" if good_a else "second")
                records.append(
                    PairRecord.from_votes(
                        (f"p{p}-{a}", f"audio/p{p}-{a}.wav"),
                        (f"p{p}-{b}", f"audio/p{p}-{b}.wav"),
                        [(f"r{i}", choice, None, None) for i in range(raters)],
                        id=f"p{p}-{a}~p{p}-{b}",
                        prompt_id=f"p{p}",
                        text=f"a bell rings then a dog barks {p}",
                        task="integrity" if p % 2 == 0 else "temporal",
                    )
                )
    path = folder / "pairs.jsonl"
    write_records(path, records)
    return path


class FirstFeatureHead:
    """A stub reward head whose score of a clip is ``scale`` times its first audio feature (a head
    whose preferences a test knows)."""

    def __init__(self, scale: float) -> None:
        self.scale = scale

    def __call__(self, batch):  # FeatureBatch -> [N]
        return self.scale * batch.audio[:, 0]
