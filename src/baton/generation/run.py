"""``baton generate``: K clips per prompt from a text-to-audio backend, resumable and shardable.

Every clip has its own seed, derived from the run's seed, its prompt id and its index, and a backend
makes clip i from (text_i, seed_i) alone. So a rerun skips the clips already in ``samples.jsonl``,
a killed run resumes with only the missing clips, and a multi-process launch splits the clips across
processes and merges one samples file with the same clips one process would have made::

    accelerate launch --multi_gpu --num_processes N -m baton generate ...   # N GPUs, or N CPU workers
    torchrun --nproc_per_node N -m baton generate ...                       # the same, without accelerate

A folder holds the clips of one set of settings: a rerun with any setting that changes the audio
(backend, model or its weights, their dtype, seed, steps, guidance, duration, sample rate, audio
format, a prompt's text) is refused, naming the folder and the settings, and leaves the folder as it was
(:func:`setting_differences`, :func:`backend_differences`). The settings the backend resolves and
its weights are checked once it loads, that is when clips are missing.

(``accelerate launch --cpu --num_processes N`` starts one process unless MPI is set up: accelerate
runs several CPU workers only through ``mpirun``. The ``--multi_gpu`` launcher is torchrun, which
works on CPUs too; baton then joins a gloo process group.)
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from accelerate import PartialState

from baton.artifacts import PromptRecord, RecordAppender, SampleRecord, read_records, write_records
from baton.audio import save_audio
from baton.backends import load_backend
from baton.backends.base import GenerationSettings, SamplesLatents
from baton.console import make_progress
from baton.errors import InputError, Interrupted
from baton.fingerprints import fingerprint_of, state_dict_digest
from baton.generation.config import GenerateConfig
from baton.generation.latents import latent_path, write_latent
from baton.workers import check_device

SAMPLES_FILE = "samples.jsonl"
AUDIO_DIR = "audio"


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

    device = check_device(config.device)
    prompts = read_records(config.prompts, PromptRecord, allow_empty=False)
    out = Path(config.out)
    samples_path = out / SAMPLES_FILE
    jobs = plan_clips(prompts, config.per_prompt, config.seed)

    rank, world = _distributed()
    state = None
    if world > 1:
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
    existing = read_records(samples_path, SampleRecord) if samples_path.exists() else []
    refuse_other_settings(out, setting_differences(existing, config, {p.id: p.text for p in prompts}))
    done = {r.id for r in existing}
    # Shard what is missing (not the whole plan), so that a resumed run stays balanced.
    todo = [j for j in jobs if j.sample_id not in done][rank::world]
    if todo:
        sink_path = samples_path if world == 1 else out / f"samples.part{rank}-of-{world}.jsonl"
        with RecordAppender(sink_path, SampleRecord) as sink:
            try:
                _generate(
                    config,
                    todo,
                    out,
                    sink,
                    existing=existing,
                    device=device,
                    show_progress=config.progress and rank == 0,
                )
            except KeyboardInterrupt:
                # Every clip made so far is on disk and recorded: a rerun goes on from there.
                made = sum(j.sample_id in done or sink.has(j.sample_id) for j in jobs)
                raise Interrupted(
                    f"interrupted after {made} of {len(jobs)} clips; rerun the same command to go on"
                ) from None

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
    existing: list[SampleRecord],
    device: str,
    show_progress: bool,
) -> None:
    backend = load_backend(config.backend, config.model, device=device, dtype=config.dtype)
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
        "model": None if config.model is None else recorded_model(config.model),
        "seed": config.seed,
        "dtype": config.dtype,
        "fingerprint": model_fingerprint(backend),
    }
    # What only the loaded backend knows (its defaults, sample rate, weights) must match too.
    refuse_other_settings(out, backend_differences(existing, settings_record, backend.sample_rate))
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


# --- a folder holds the clips of one set of settings -------------------------------------------------

# The settings that `baton generate` takes and a clip's audio depends on, checked before the backend
# loads. Those only a loaded backend can tell (its defaults, its sample rate, its weights) are checked
# by backend_differences once it has loaded, that is when clips are missing: a folder whose clips are
# all made is returned as it is.
_REQUESTED_SETTINGS = ("steps", "guidance_scale", "duration")


def setting_differences(
    records: Iterable[SampleRecord], config: GenerateConfig, texts: Mapping[str, str]
) -> dict[str, str]:
    """Setting -> how ``records`` (a folder's clips) were made otherwise than ``config`` asks, for every
    setting that changes the audio; ``texts`` are the prompts' texts by id. Empty: the run may resume."""
    found: dict[str, str] = {}

    def note(setting: str, recorded: Any, asked: Any) -> None:
        found.setdefault(setting, f"{setting} {_shown(recorded)} (asked: {_shown(asked)})")

    for record in records:
        if record.backend != config.backend:
            note("backend", record.backend, config.backend)
        made_with = record.settings.get("model")
        # Another path to the same weights (a run folder copied) is the same model: where the clips
        # record the weights' fingerprint, backend_differences compares it once the model is loaded.
        if not _same_model(made_with, config.model) and not record.settings.get("fingerprint"):
            note("model", made_with, config.model)
        for key in _REQUESTED_SETTINGS:
            asked = getattr(config, key)
            if asked is not None and record.settings.get(key) != asked:
                note(key, record.settings.get(key), asked)
        if record.seed != clip_seed(config.seed, record.prompt_id, record.index):
            recorded = record.settings.get("seed")
            made = "another seed" if recorded is None else f"seed {recorded}"
            found.setdefault("seed", f"{made} (asked: {config.seed})")
        made_in = record.settings.get("dtype", "float32")  # a record without one: an older, float32 baton
        if made_in != config.dtype:
            note("dtype", made_in, config.dtype)
        made_as = PurePosixPath(record.path).suffix.lstrip(".").lower()
        if made_as != config.audio_format:
            note("audio_format", made_as, config.audio_format)
        text = texts.get(record.prompt_id)
        if text is not None and text != record.text:
            found.setdefault(
                "prompts", f"prompts: '{record.prompt_id}' read '{record.text}' (asked: '{text}')"
            )
    return found


def backend_differences(
    records: Iterable[SampleRecord], settings: Mapping[str, Any], sample_rate: int
) -> dict[str, str]:
    """Like :func:`setting_differences`, for what the loaded backend resolved: ``settings`` as a clip
    of this run records them, and the backend's ``sample_rate``. A record without a value (made by an
    older baton) is not held against the run."""
    found: dict[str, str] = {}
    for record in records:
        for key in _REQUESTED_SETTINGS:
            recorded, now = record.settings.get(key), settings.get(key)
            if recorded is not None and now is not None and recorded != now:
                found.setdefault(key, f"{key} {recorded} (this run: {now}, the backend's default)")
        recorded, now = record.settings.get("fingerprint"), settings.get("fingerprint")
        if recorded is not None and now is not None and recorded != now:
            found.setdefault("model", f"model weights with fingerprint {recorded} (this run's: {now})")
        if record.sample_rate is not None and record.sample_rate != sample_rate:
            found.setdefault("sample_rate", f"sample_rate {record.sample_rate} (this run: {sample_rate})")
    return found


def refuse_other_settings(out: Path, differences: Mapping[str, str]) -> None:
    """Raise an error naming ``out`` and every differing setting, if there is one."""
    if differences:
        raise InputError(
            f"holds clips made with other settings: {'; '.join(differences.values())}. Rerun with the "
            "settings it was made with to resume it, or choose another --out",
            path=out,
            field=next(iter(differences)),
        )


def model_fingerprint(backend: Any) -> str | None:
    """A digest of the weights a backend can be fine-tuned in (its denoiser, and its text encoder if it
    has one): it tells a tuned or rebuilt model from the one before at the same path. ``None`` for a
    backend without them."""
    modules = [getattr(backend, name, None) for name in ("denoiser", "trainable_text_encoder")]
    digests = [state_dict_digest(m) for m in modules if callable(getattr(m, "state_dict", None))]
    return fingerprint_of(*digests) if digests else None


def recorded_model(model: str | Path) -> str:
    """How a clip's record names its model: a local folder absolute (the rule of
    :mod:`baton.artifacts`), so that a run resumed from another working folder, through another
    relative path, is known to ask for the same one; anything else (a hub id) as it is."""
    path = Path(model).expanduser()
    return str(path.resolve()) if path.exists() else str(model)


def _same_model(recorded: str | None, asked: str | Path | None) -> bool:
    """The same model text, or two spellings of one folder (``runs/m`` and ``./runs/m/``; a relative
    one an older baton recorded is read from this working folder, as it was then)."""
    asked = None if asked is None else str(asked)
    if recorded == asked:
        return True
    if recorded is None or asked is None:
        return False
    first, second = Path(recorded).expanduser(), Path(asked).expanduser()
    return first.exists() and second.exists() and first.resolve() == second.resolve()


def _shown(value: Any) -> str:
    if value is None:
        return "the backend's default"
    return f"'{value}'" if isinstance(value, str) else str(value)


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
