"""The reference clips generated clips are compared with (FAD, KL), and how they pair with them.

Three kinds, chosen by ``baton evaluate --reference``:

* ``real`` (the sound world): for every planned clip (prompt, index, seed), the synthesizer renders
  a real world clip of the prompt's events laid out by its relation, with the clip's seed
  (:func:`baton.world.corpus.render`). They are written as ``reference/samples.jsonl`` and
  ``reference/audio/`` (16-bit FLAC) under the evaluation folder, so the report can play them, and
  pair with the generated clips by sample id. A second set rendered with other seeds gives FAD's
  floor: the distance between two real sets of the same prompts.
* a samples file (``*.jsonl`` of sample records, e.g. from ``baton data import``): its clips pair with
  generated clips of the same sample id, else with a clip of the same prompt (the same index when
  there is one, else its first), as audioldm_eval pairs files by name.
* a folder of audio files: a file pairs with the generated clip whose sample id, else prompt id, is
  the file's name without its suffix; with no such names the set is unpaired (FAD only, no KL).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from baton.artifacts import RecordAppender, SampleRecord, read_records, resolve_path
from baton.audio import save_audio
from baton.console import track
from baton.errors import InputError
from baton.generation.run import clip_seed
from baton.world.corpus import render
from baton.world.spec import CLASSES, SAMPLE_RATE

REFERENCE_DIR = "reference"
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")


@dataclass
class Reference:
    """Reference clips as sample records (paths absolute), and the kind they came from."""

    kind: str
    source: str
    samples: list[SampleRecord]
    by_id: dict[str, int] = field(default_factory=dict)
    by_prompt: dict[str, dict[int, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for i, s in enumerate(self.samples):
            self.by_id.setdefault(s.id, i)
            self.by_prompt.setdefault(s.prompt_id, {}).setdefault(s.index, i)

    def pair(self, sample: SampleRecord) -> int | None:
        """The index of the reference clip that pairs with a generated clip, or ``None``."""
        if sample.id in self.by_id:
            return self.by_id[sample.id]
        clips = self.by_prompt.get(sample.prompt_id)
        if not clips:
            return None
        return clips.get(sample.index, clips[min(clips)])

    @property
    def judged(self) -> bool:
        """Whether its clips carry prompts, so that they can be judged like a model's (a ceiling)."""
        return self.kind in ("world", "samples")


def world_relation(sample: SampleRecord) -> str:
    if sample.relation is not None:
        return sample.relation
    return "single" if len(sample.events) == 1 else "sequence"


def render_world_reference(plan: list[SampleRecord], out: Path, progress: bool = True) -> Reference:
    """Render (or reuse) a real world clip for every planned sample, in ``out/reference``."""
    folder = out / REFERENCE_DIR
    with RecordAppender(folder / "samples.jsonl", SampleRecord) as sink:
        todo = [s for s in plan if not sink.has(s.id)]
        for sample in track(todo, "rendering real world clips", enabled=progress and bool(todo)):
            unknown = [e for e in sample.events if e not in CLASSES]
            if not sample.events or unknown:
                raise InputError(
                    f"a real world clip needs events of the world ({', '.join(CLASSES)}); "
                    f"prompt '{sample.prompt_id}' names {unknown or 'none'}",
                    field="reference",
                )
            clip = render(sample.events, world_relation(sample), int(sample.seed or 0))
            relative = Path("audio") / f"{sample.id}.flac"
            save_audio(folder / relative, clip.audio, SAMPLE_RATE)
            sink.append(
                sample.model_copy(
                    update={
                        "path": relative.as_posix(),
                        "backend": "world-synth",
                        "sample_rate": SAMPLE_RATE,
                        "duration": len(clip.audio) / SAMPLE_RATE,
                        "settings": {},
                    }
                )
            )
        done = {r.id: r for r in sink.records}
    samples = [_absolute(done[s.id], folder) for s in plan]
    return Reference(kind="world", source="world synthesizer renders", samples=samples)


def second_world_set(plan: list[SampleRecord], seed: int, chunk: int = 64) -> Iterator[list[np.ndarray]]:
    """Real world clips of the same prompts with other seeds, in chunks: FAD's real-vs-real floor."""
    for start in range(0, len(plan), chunk):
        yield [
            render(s.events, world_relation(s), clip_seed(seed + 1, s.prompt_id, s.index)).audio
            for s in plan[start : start + chunk]
        ]


def _absolute(sample: SampleRecord, base: Path) -> SampleRecord:
    """The sample with its clip's path absolute (its record names it from ``base``, its file's folder)."""
    return sample.model_copy(update={"path": str(resolve_path(sample.path, base).absolute())})


def load_reference_file(path: str | Path) -> Reference:
    """A samples file or a folder of audio files as the reference set."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
        if not files:
            raise InputError(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) in the folder", path=path)
        samples = [
            SampleRecord(
                id=f.stem, prompt_id=f.stem, text=f.stem, index=0, path=str(f.resolve()), backend="folder"
            )
            for f in files
        ]
        return Reference(kind="folder", source=str(path.resolve()), samples=samples)
    if not path.exists():
        raise InputError("no such reference file or folder", path=path)
    records = read_records(path, SampleRecord, allow_empty=False)
    return Reference(
        kind="samples", source=str(path.resolve()), samples=[_absolute(r, path.parent) for r in records]
    )
