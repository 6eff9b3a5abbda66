"""``baton generate``: K clips per prompt from a text-to-audio backend, resumable and shardable.

Every clip has its own seed, derived from the run's seed, its prompt id and its index, and a backend
makes clip i from (text_i, seed_i) alone. So a rerun skips the clips already in ``samples.jsonl``,
a killed run resumes with only the missing clips, and a multi-process launch splits the clips across
processes and merges one samples file with the same clips one process would have made::

    accelerate launch --multi_gpu --num_processes N -m baton generate ...   # N GPUs, or N CPU workers
    torchrun --nproc_per_node N -m baton generate ...                       # the same, without accelerate

(``accelerate launch --cpu --num_processes N`` starts one process unless MPI is set up: accelerate
runs several CPU workers only through ``mpirun``. The ``--multi_gpu`` launcher is torchrun, which
works on CPUs too; baton then joins a gloo process group.)
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
    save_latents: bool = option(
        True,
        "Keep each clip's sampled latents beside its audio (<clip>.latent.safetensors), for backends "
        "that hand them over (world, tango): fine-tuning then trains on what the model sampled, not on "
        "its audio encoded again.",
    )
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
    """Generate the missing clips of the run and return every sample record of ``config.out``.

    Under ``accelerate launch`` each process takes every N-th missing clip and appends its records
    to its own part file; the main process then folds the parts into ``samples.jsonl``. Part files
    left by a killed run (of any process count) are folded in first, so a resumed run, with one
    process or many, makes only the clips that no file records yet.
    """
    if config.per_prompt < 1:
        raise InputError("must be at least 1", field="per_prompt")
    if config.batch_size < 1:
        raise InputError("must be at least 1", field="batch_size")
    prompts = read_records(config.prompts, PromptRecord, allow_empty=False)
    out = Path(config.out)
    samples_path = out / SAMPLES_FILE
    jobs = plan_clips(prompts, config.per_prompt, config.seed)

    rank, world = _distributed()
    state = None
    device = config.device
    if world > 1:
        from accelerate import PartialState

        # cpu=True is what makes accelerate build a (gloo) process group for CPU workers; without
        # it, its barriers silently do nothing.
        state = PartialState(cpu=device == "cpu")
        if state.num_processes != world:
            raise InputError(
                f"WORLD_SIZE is {world} but accelerate joined {state.num_processes} process(es) on "
                f"device '{device}'",
                field="device",
            )
        if device == "cuda":
            device = str(state.device)  # cuda:<local rank>, one GPU per process
    if rank == 0:
        _fold_parts(samples_path, out, jobs)
    if state is not None:
        state.wait_for_everyone()
    # Every record is in samples.jsonl now (the parts were folded in), so this is all that is missing.
    done = {r.id for r in read_records(samples_path, SampleRecord)} if samples_path.exists() else set()
    # Shard what is missing (not the whole plan), so that a resumed run stays balanced.
    todo = [j for j in jobs if j.sample_id not in done][rank::world]
    if todo:
        sink_path = samples_path if world == 1 else out / f"samples.part{rank}-of-{world}.jsonl"
        with RecordAppender(sink_path, SampleRecord) as sink:
            _generate(config, todo, out, sink, device=device, show_progress=config.progress and rank == 0)

    if state is not None:
        state.wait_for_everyone()
        if rank == 0:
            _fold_parts(samples_path, out, jobs)
        state.wait_for_everyone()
    return read_records(samples_path, SampleRecord)


def _generate(
    config: GenerateConfig,
    todo: list[ClipJob],
    out: Path,
    sink: RecordAppender,
    *,
    device: str,
    show_progress: bool,
) -> None:
    from baton.audio import save_audio
    from baton.backends import load_backend
    from baton.backends.base import GenerationSettings, SamplesLatents
    from baton.console import make_progress
    from baton.generation.latents import latent_path, write_latent

    backend = load_backend(config.backend, config.model, device=device)
    keep_latents = config.save_latents and isinstance(backend, SamplesLatents)
    space = backend.latent_space if keep_latents else None
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
        task = progress.add_task(f"generate ({config.backend})", total=len(todo), visible=show_progress)
        for start in range(0, len(todo), config.batch_size):
            batch = todo[start : start + config.batch_size]
            texts, seeds = [j.prompt.text for j in batch], [j.seed for j in batch]
            if keep_latents:
                clips, latents = backend.generate_with_latents(texts, seeds, settings)
            else:
                clips, latents = backend.generate(texts, seeds, settings), None
            for row, (job, audio) in enumerate(zip(batch, clips, strict=True)):
                relative = Path(AUDIO_DIR) / f"{job.sample_id}.{config.audio_format}"
                save_audio(out / relative, audio, backend.sample_rate)
                latent = None
                if latents is not None:
                    write_latent(
                        out / relative, latents[row], space=space, sample_id=job.sample_id, seed=job.seed
                    )
                    latent = latent_path(relative).as_posix()
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
                        latent=latent,
                    )
                )
            progress.advance(task, len(batch))


def _fold_parts(samples_path: Path, out: Path, jobs: list[ClipJob]) -> None:
    """Fold every part file into samples.jsonl, then remove the parts.

    Also repairs a torn last line (of samples.jsonl or of a part a killed process left). Records
    already in samples.jsonl keep their place; the parts' records follow in plan order, as one
    process would have appended them. Nothing recorded is dropped, not even clips of another plan
    (a run with more clips per prompt, say).
    """
    parts = sorted(out.glob("samples.part*-of-*.jsonl"))
    existing = RecordAppender(samples_path, SampleRecord).open_and_close() if samples_path.exists() else []
    if not parts:
        return
    known = {r.id for r in existing}
    new: dict[str, SampleRecord] = {}
    for part in parts:
        for record in RecordAppender(part, SampleRecord).open_and_close():
            if record.id not in known:
                new.setdefault(record.id, record)
    plan_order = {j.sample_id: i for i, j in enumerate(jobs)}
    added = sorted(new.values(), key=lambda r: plan_order.get(r.id, len(plan_order)))
    write_records(samples_path, [*existing, *added])
    for part in parts:
        part.unlink()
