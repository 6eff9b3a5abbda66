"""``baton generate``: K clips per prompt from a text-to-audio backend, resumable and shardable.

Every clip has its own seed, derived from the run's seed, its prompt id and its index, and a backend
makes clip i from (text_i, seed_i) alone. So a rerun skips the clips already in ``samples.jsonl``,
a killed run resumes with only the missing clips, and ``accelerate launch --num_processes N -m baton
generate ...`` splits the clips across processes and merges one samples file with the same clips one
process would have made.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from baton.artifacts import PromptRecord, RecordAppender, SampleRecord, read_records, write_records
from baton.config import option
from baton.errors import InputError

SAMPLES_FILE = "samples.jsonl"
AUDIO_DIR = "audio"


@dataclass
class GenerateConfig:
    prompts: Path = option(Path("prompts.jsonl"), "Prompts file (from `baton prompts`).")
    out: Path = option(Path("generated"), "Output folder: audio/ and samples.jsonl go here.")
    backend: str = option("world", "Text-to-audio backend: world, tango, audioldm2, stable-audio.")
    model: str | None = option(None, "Model folder or hub id for the backend (default: the backend's own).")
    per_prompt: int = option(5, "Clips per prompt (BATON: 5).")
    seed: int = option(0, "Run seed; each clip's seed is derived from it, its prompt id and its index.")
    steps: int | None = option(None, "Sampling steps (default: the backend's recommendation).")
    guidance_scale: float | None = option(None, "Classifier-free guidance scale (default: the backend's).")
    duration: float | None = option(None, "Clip length in seconds (default: the backend's).")
    batch_size: int = option(8, "Clips generated together.")
    audio_format: Literal["wav", "flac"] = option("wav", "Audio file format.")
    device: str = option("cpu", "Torch device.")
    progress: bool = option(True, "Show a progress bar.")


def clip_seed(run_seed: int, prompt_id: str, index: int) -> int:
    """A clip's seed: stable across runs, machines and processes (not Python's salted hash)."""
    digest = hashlib.sha256(f"{run_seed}:{prompt_id}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


@dataclass(frozen=True)
class ClipJob:
    prompt: PromptRecord
    index: int
    seed: int

    @property
    def sample_id(self) -> str:
        return f"{self.prompt.id}-{self.index}"


def plan_clips(prompts: list[PromptRecord], per_prompt: int, run_seed: int) -> list[ClipJob]:
    """Every clip of the run, in prompt order then index order."""
    return [ClipJob(p, k, clip_seed(run_seed, p.id, k)) for p in prompts for k in range(per_prompt)]


def _distributed() -> tuple[int, int]:
    """(rank, world size) under ``accelerate launch`` / torchrun; (0, 1) otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    return rank, world


def run(config: GenerateConfig) -> list[SampleRecord]:
    """Generate the missing clips of the run and return every sample record of ``config.out``."""
    if config.per_prompt < 1:
        raise InputError("must be at least 1", field="per_prompt")
    if config.batch_size < 1:
        raise InputError("must be at least 1", field="batch_size")
    prompts = read_records(config.prompts, PromptRecord, allow_empty=False)
    out = Path(config.out)
    samples_path = out / SAMPLES_FILE
    jobs = plan_clips(prompts, config.per_prompt, config.seed)

    rank, world = _distributed()
    done: set[str] = set()
    part_path = samples_path
    if world > 1:
        from accelerate import PartialState

        state = PartialState()
        if state.is_main_process and samples_path.exists():
            RecordAppender(samples_path, SampleRecord).open_and_close()  # cut a torn last line, if any
        state.wait_for_everyone()
        if samples_path.exists():
            done = {r.id for r in read_records(samples_path, SampleRecord)}
        part_path = out / f"samples.part{rank}-of-{world}.jsonl"
    with RecordAppender(part_path, SampleRecord) as part:
        todo = [
            j
            for i, j in enumerate(jobs)
            if i % world == rank and j.sample_id not in done and not part.has(j.sample_id)
        ]
        if todo:
            _generate(config, todo, out, part)

    if world > 1:
        state.wait_for_everyone()
        if state.is_main_process:
            _merge_parts(samples_path, out, world, jobs)
        state.wait_for_everyone()
    return read_records(samples_path, SampleRecord)


def _generate(config: GenerateConfig, todo: list[ClipJob], out: Path, sink: RecordAppender) -> None:
    from baton.audio import save_audio
    from baton.backends import load_backend
    from baton.backends.base import GenerationSettings
    from baton.console import make_progress

    backend = load_backend(config.backend, config.model, device=config.device)
    requested = GenerationSettings(
        steps=config.steps, guidance_scale=config.guidance_scale, duration=config.duration
    )
    settings = requested.resolved(backend.default_settings)
    settings_record = {
        "steps": settings.steps,
        "guidance_scale": settings.guidance_scale,
        "duration": settings.duration,
        "model": None if config.model is None else str(config.model),
    }
    with make_progress() as progress:
        task = progress.add_task(f"generate ({config.backend})", total=len(todo), visible=config.progress)
        for start in range(0, len(todo), config.batch_size):
            batch = todo[start : start + config.batch_size]
            clips = backend.generate([j.prompt.text for j in batch], [j.seed for j in batch], settings)
            for job, audio in zip(batch, clips, strict=True):
                relative = Path(AUDIO_DIR) / f"{job.sample_id}.{config.audio_format}"
                save_audio(out / relative, audio, backend.sample_rate)
                sink.append(
                    SampleRecord(
                        id=job.sample_id,
                        prompt_id=job.prompt.id,
                        text=job.prompt.text,
                        events=job.prompt.events,
                        task=job.prompt.task,
                        relation=job.prompt.relation,
                        index=job.index,
                        path=relative.as_posix(),
                        seed=job.seed,
                        backend=config.backend,
                        sample_rate=backend.sample_rate,
                        duration=len(audio) / backend.sample_rate,
                        settings=settings_record,
                    )
                )
            progress.advance(task, len(batch))


def _merge_parts(samples_path: Path, out: Path, world: int, jobs: list[ClipJob]) -> None:
    """Fold every process's part file into samples.jsonl, in plan order, then remove the parts."""
    by_id: dict[str, SampleRecord] = {}
    if samples_path.exists():
        by_id.update((r.id, r) for r in read_records(samples_path, SampleRecord))
    parts = sorted(out.glob("samples.part*-of-*.jsonl"))
    for part in parts:
        for record in read_records(part, SampleRecord):
            by_id.setdefault(record.id, record)
    ordered = [by_id[j.sample_id] for j in jobs if j.sample_id in by_id]
    write_records(samples_path, ordered)
    for part in parts:
        part.unlink()
