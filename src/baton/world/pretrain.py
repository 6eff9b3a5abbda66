"""Pretraining the world's T2A model at length: fresh clips every batch, checkpoints, exact resume.

:func:`baton.world.t2a.train_t2a` trains for minutes on a fixed corpus in one go. The shipped world's
base model is trained for hours, so this trainer is built to be stopped and continued:

* **Data.** Step ``s`` trains on clips ``s * B .. (s + 1) * B - 1`` of the endless stream of fresh
  clips (:func:`baton.world.corpus.stream_clips`), each a pure function of the seed and its index: no
  clip is seen twice, so a long run cannot overfit its corpus, and the mix of singles, pairs and
  triples is a setting.
* **Randomness.** Every draw of step ``s`` (which captions are dropped for guidance, the timesteps, the
  noise) comes from a generator seeded by ``(seed, s)``. Nothing random is carried from step to step,
  so a run resumed at step ``s`` draws exactly what the uninterrupted run drew.
* **Checkpoints.** Every ``checkpoint_minutes`` (and at each assessment and at the end) the weights,
  their moving average, the optimiser's state and the losses so far are written to a hidden folder
  that is renamed into place when complete: a run killed at any moment resumes from its last whole
  checkpoint and ends with the same weights as a run never stopped, on the same kind of CPU and the
  same thread count (:func:`pretrain_t2a`'s ``resume``).
* **Assessments.** Every ``assess_every`` steps the moving average is judged on held-out prompts (by a
  callback: the evaluator and CLAP live above this module), so one run draws its own learning curve.

The model, its text pretraining and its loss are :mod:`baton.world.t2a`'s; the corpus statistics and the
vocabulary come from the first clips of the stream.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from baton import __version__
from baton.artifacts import folder_written_whole, step_folders
from baton.config import config_to_dict, documented, option
from baton.console import make_progress
from baton.errors import InputError
from baton.workers import cpu_model, git_commit
from baton.world.corpus import CorpusConfig, stream_captions, stream_clips
from baton.world.model import WordTokenizer, WorldT2A
from baton.world.t2a import (
    T2ATrainConfig,
    _learning_rate,
    corpus_frames,
    descend,
    diffusion_loss,
    pretrain_text_encoder,
    text_pretraining_captions,
)

CHECKPOINTS = "checkpoints"
STATE_FILE = "state.json"
OPTIMIZER_FILE = "optimizer.pt"
FORMAT = "baton-world-pretrain"
VERSION = 1


def _default_mix() -> CorpusConfig:
    return CorpusConfig(single_share=0.45, pair_share=0.30, triple_share=0.25, seed=0)


@documented
@dataclass
class T2APretrainConfig:
    """A long pretraining of the world T2A model on the stream of fresh clips."""

    t2a: T2ATrainConfig = field(default_factory=T2ATrainConfig)
    data: CorpusConfig = field(default_factory=_default_mix)
    stats_clips: int = option(
        2048, "First clips of the stream whose log-mels set the frames' offset and scale."
    )
    vocabulary_clips: int = option(20000, "First clips of the stream whose captions make the vocabulary.")
    checkpoint_minutes: float = option(10.0, "Minutes between checkpoints (also written at each assessment).")
    keep_checkpoints: int = option(2, "Checkpoints kept on disk (the newest).")
    assess_every: int = option(0, "Steps between assessments of the moving average (0 = only at the end).")
    lr_schedule: str = option(
        "cosine",
        "'cosine': warm-up, then cosine decay to 10% at the last step. 'constant': warm-up, then the peak"
        " rate to the end: the weights at step s then do not depend on the number of steps, so a run can"
        " be extended (resume with more steps) or finished at any assessed step (resume with fewer).",
    )

    def __post_init__(self) -> None:
        if isinstance(self.t2a, dict):
            self.t2a = T2ATrainConfig(**self.t2a)
        if isinstance(self.data, dict):
            self.data = CorpusConfig(**self.data)
        for name in ("stats_clips", "vocabulary_clips", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.lr_schedule not in ("cosine", "constant"):
            raise ValueError(f"lr_schedule must be 'cosine' or 'constant', got {self.lr_schedule!r}")
        if self.assess_every < 0 or self.checkpoint_minutes <= 0:
            raise ValueError("assess_every must be >= 0 and checkpoint_minutes > 0")

    def weight_settings(self) -> dict[str, Any]:
        """What decides the weights (a resumed run must match them); not when to checkpoint or assess.

        Under the constant schedule the number of steps decides only where the run ends, not the weights
        on the way: it is left out, so that a run may be extended or finished early.
        """
        t2a = config_to_dict(self.t2a)
        if self.lr_schedule == "constant":
            del t2a["steps"]
            return {"t2a": t2a, "lr_schedule": "constant", **self._data_settings()}
        return {"t2a": t2a, **self._data_settings()}

    def _data_settings(self) -> dict[str, Any]:
        return {
            "data": config_to_dict(self.data),
            "stats_clips": self.stats_clips,
            "vocabulary_clips": self.vocabulary_clips,
        }


def step_generator(seed: int, step: int) -> torch.Generator:
    """The generator of every draw of training step ``step``: a function of the seed and the step alone."""
    digest = hashlib.sha256(f"world-t2a-pretrain:{seed}:{step}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


# --- checkpoints -----------------------------------------------------------------------------------


def checkpoint_dirs(out: Path) -> list[Path]:
    """Complete checkpoints (their state.json is written last, then the folder is renamed), oldest first."""
    return step_folders(out / CHECKPOINTS, STATE_FILE)


def _save_checkpoint(
    out: Path,
    step: int,
    model: WorldT2A,
    ema: WorldT2A | None,
    optimizer: Any,
    state: dict[str, Any],
    keep: int,
) -> Path:
    final = out / CHECKPOINTS / f"step-{step:08d}"
    with folder_written_whole(final) as partial:
        model.save(partial / "model")
        if ema is not None:
            ema.save(partial / "ema")
        torch.save(optimizer.state_dict(), partial / OPTIMIZER_FILE)
        (partial / STATE_FILE).write_text(json.dumps({"step": step, **state}), encoding="utf-8")
    for old in checkpoint_dirs(out)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def read_checkpoint_state(out: Path) -> dict[str, Any] | None:
    """The state.json of the newest complete checkpoint in ``out``, or None."""
    found = checkpoint_dirs(out)
    return json.loads((found[-1] / STATE_FILE).read_text(encoding="utf-8")) if found else None


def settings_differences(saved: dict[str, Any], wanted: dict[str, Any], prefix: str = "") -> list[str]:
    """The dotted names of the settings that differ between two nested dicts of settings."""
    names = []
    for key in sorted(set(saved) | set(wanted)):
        a, b = saved.get(key), wanted.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            names += settings_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            names.append(f"{prefix}{key} ({a!r} in the run, {b!r} now)")
    return names


# --- the run ---------------------------------------------------------------------------------------


Assess = Callable[[Path, int], dict[str, Any]]


def _fresh_model(config: T2APretrainConfig) -> tuple[WorldT2A, list[float]]:
    """Vocabulary, initial weights, text pretraining and corpus statistics: the run's step 0."""
    t2a = config.t2a
    captions = stream_captions(config.data, 0, config.vocabulary_clips)
    n_text = min(t2a.text_pretrain_steps * t2a.text_pretrain_batch, 8192)
    text_texts, text_targets = text_pretraining_captions(n_text, t2a.seed)
    tokenizer = WordTokenizer.build([*captions, *text_texts])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(t2a.seed)
        model = WorldT2A(t2a.model_config(), tokenizer)
    text_generator = torch.Generator().manual_seed(t2a.seed)
    text_losses = pretrain_text_encoder(model, text_texts, text_targets, t2a, text_generator)
    # One offset and scale for all bins, as train_t2a sets them (see there), from the stream's first clips.
    log_mels = corpus_frames(model, stream_clips(config.data, 0, config.stats_clips).audio)
    model.mel_mean.fill_(float(log_mels.mean()))
    model.mel_std.fill_(max(float(log_mels.std()), 1e-3) / t2a.x0_std)
    return model, text_losses


def pretrain_t2a(
    config: T2APretrainConfig,
    out: str | Path,
    *,
    resume: bool = False,
    assess: Assess | None = None,
    progress: bool = True,
    stop_after: int | None = None,
) -> WorldT2A | None:
    """Pretrain (or, with ``resume``, go on pretraining) a world T2A model in ``out``; return its average.

    ``out/checkpoints`` holds the run's state; ``out/model`` the finished model (the moving average of
    the weights, with ``training.json``: steps, hours, loss curve, assessments). ``assess(model_dir,
    step)`` judges a saved model and returns its figures. ``stop_after`` ends the run after that many
    steps of this call and returns None, leaving a checkpoint as a kill between steps would (for tests
    and time-boxed runs).
    """
    out = Path(out)
    t2a = config.t2a
    weight_settings = config.weight_settings()
    saved = read_checkpoint_state(out)
    if (
        saved is not None
        and saved["step"] >= t2a.steps
        and not settings_differences(saved["settings"], weight_settings)
    ):
        report = _read_report(out)
        if report is not None and report["steps"] == t2a.steps:
            return WorldT2A.load(out / "model")  # finished before
        if saved["step"] > t2a.steps:
            return _finish_early(config, out, saved)
    if saved is not None and not resume:
        raise InputError(
            f"this folder holds a pretraining at step {saved['step']}: "
            "pass resume (--resume) to go on with it, or choose another folder",
            path=out,
        )
    if saved is not None:
        differ = settings_differences(saved["settings"], weight_settings)
        if saved.get("threads") != torch.get_num_threads():
            differ.append(f"threads ({saved.get('threads')} in the run, {torch.get_num_threads()} now)")
        if differ:
            raise InputError(
                "cannot resume: other settings than the run's: " + "; ".join(differ), path=out / CHECKPOINTS
            )

    # 1. The model at step 0, or the newest checkpoint's model, average and optimiser.
    if saved is None:
        model, text_losses = _fresh_model(config)
        ema = _copy(model) if t2a.ema_decay > 0 else None
        state: dict[str, Any] = {"losses": [], "seconds": 0.0, "assessments": [], "text_losses": text_losses}
        step = 0
    else:
        folder = checkpoint_dirs(out)[-1]
        model = WorldT2A.load(folder / "model")
        ema = WorldT2A.load(folder / "ema") if t2a.ema_decay > 0 else None
        state = {
            k: saved[k] for k in ("losses", "seconds", "assessments", "text_losses", "sessions") if k in saved
        }
        step = saved["step"]
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=t2a.learning_rate, weight_decay=t2a.weight_decay, fused=True)
    if saved is not None:
        optimizer.load_state_dict(torch.load(folder / OPTIMIZER_FILE, map_location="cpu", weights_only=True))
    empty_ids, empty_mask = model.tokenize([""])
    num_timesteps = model.noise_scheduler.config.num_train_timesteps

    def due(at: int) -> bool:
        """Whether the moving average is assessed after step ``at``."""
        return assess is not None and config.assess_every > 0 and at > 0 and at % config.assess_every == 0

    def checkpoint() -> None:
        state["seconds"] = round(state["seconds"] + time.perf_counter() - session_start, 1)
        _save_checkpoint(
            out,
            step,
            model,
            ema,
            optimizer,
            {
                "format": FORMAT,
                "version": VERSION,
                "settings": weight_settings,
                "threads": torch.get_num_threads(),
                **state,
            },
            config.keep_checkpoints,
        )
        reset_clock()

    def reset_clock() -> None:
        nonlocal session_start, last_checkpoint
        session_start = last_checkpoint = time.perf_counter()

    session_start = last_checkpoint = time.perf_counter()
    # Which code trained which steps (a long run may span several commits of the code).
    state.setdefault("sessions", []).append(
        {"from_step": step, "baton": __version__, "git_commit": git_commit(), "cpu": cpu_model()}
    )
    if saved is None:
        checkpoint()  # step 0: the vocabulary, statistics and text pretraining are never redone
    assessed = {a["step"] for a in state["assessments"]}
    if due(step) and step not in assessed and step < t2a.steps:  # killed while assessing: assess again
        figures = _assess(assess, ema or model, out, step, keep=config.lr_schedule == "constant")
        state["assessments"].append({"step": step, "seconds": state["seconds"], **figures})
        checkpoint()
    first_step = step

    # 2. Training: step s reads stream clips [s B, (s + 1) B) and draws from its own generator.
    with make_progress(progress) as bar:
        task = bar.add_task("world T2A pretraining", total=t2a.steps, completed=step)
        while step < t2a.steps:
            if stop_after is not None and step - first_step >= stop_after:
                checkpoint()
                return None
            batch = stream_clips(config.data, step * t2a.batch_size, t2a.batch_size)
            x0 = model.encode_audio(torch.from_numpy(batch.audio))  # [B, M, T]
            ids, mask = model.tokenize(batch.captions)
            generator = step_generator(t2a.seed, step)
            dropped = torch.rand(len(ids), generator=generator) < t2a.text_dropout
            ids[dropped], mask[dropped] = empty_ids, empty_mask
            timesteps = torch.randint(0, num_timesteps, (len(ids),), generator=generator)
            noise = torch.randn(x0.shape, generator=generator)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, config)
            loss = diffusion_loss(model, x0, ids, mask, timesteps, noise, t2a.snr_gamma, t2a.snr_floor)
            descend(loss, optimizer, trainable, t2a, model, ema, step)
            state["losses"].append(round(loss.item(), 6))
            step += 1
            recent = float(np.mean(state["losses"][-50:]))
            bar.update(task, completed=step, description=f"world T2A pretraining  loss {recent:.4f}")

            if due(step) and step < t2a.steps:
                checkpoint()
                figures = _assess(assess, ema or model, out, step, keep=config.lr_schedule == "constant")
                state["assessments"].append({"step": step, "seconds": state["seconds"], **figures})
                checkpoint()
            elif time.perf_counter() - last_checkpoint > 60 * config.checkpoint_minutes:
                checkpoint()

    # 3. The finished model: the average, with the run's record.
    final = _copy(ema or model)
    final.eval()
    if assess is not None and not any(a["step"] == step for a in state["assessments"]):
        figures = _assess(assess, final, out, step, keep=config.lr_schedule == "constant")
        state["assessments"].append({"step": step, "seconds": state["seconds"], **figures})
    checkpoint()
    final.report = _report(config, state, final)
    final.save(out / "model")
    return final


def _copy(model: WorldT2A) -> WorldT2A:
    return copy.deepcopy(model).requires_grad_(False)


def _assess(assess: Assess, model: WorldT2A, out: Path, step: int, keep: bool) -> dict[str, Any]:
    """Judge ``model`` (the moving average at ``step``) saved in ``out/assessments/step-N``; ``keep`` its
    weights there (under the constant schedule the run may be finished at this step), else only the figures."""
    folder = out / "assessments" / f"step-{step:08d}"
    model.save(folder)
    figures = assess(folder, step)
    (folder / "figures.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")
    if not keep:
        (folder / "model.safetensors").unlink(missing_ok=True)
    return figures


def learning_rate(step: int, config: T2APretrainConfig) -> float:
    """The schedule's rate at ``step``: cosine as :mod:`baton.world.t2a`'s, or warm-up then constant."""
    if config.lr_schedule == "cosine":
        return _learning_rate(step, config.t2a)
    t2a = config.t2a
    return t2a.learning_rate * min(1.0, (step + 1) / max(1, t2a.warmup_steps))


def _read_report(out: Path) -> dict[str, Any] | None:
    path = out / "model" / "training.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _finish_early(config: T2APretrainConfig, out: Path, saved: dict[str, Any]) -> WorldT2A:
    """A constant-schedule run past ``config.t2a.steps`` ends there: its moving average at that step
    (kept by a checkpoint or an assessment) is the model a run of exactly that many steps makes."""
    steps = config.t2a.steps
    if config.lr_schedule != "constant":
        raise InputError(
            f"the run in this folder is at step {saved['step']}, past the {steps} steps asked for: under the"
            " cosine schedule it cannot end earlier (the constant schedule can)",
            path=out,
        )
    name = f"step-{steps:08d}"
    kept = [out / CHECKPOINTS / name / "ema", out / CHECKPOINTS / name / "model", out / "assessments" / name]
    source = next((p for p in kept if (p / "model.safetensors").is_file()), None)
    if source is None:
        assessed = sorted(a["step"] for a in saved["assessments"])
        raise InputError(
            f"no weights of step {steps} are kept in this run (it can end at an assessed step: {assessed})",
            path=out,
        )
    final = WorldT2A.load(source)
    assessments = [a for a in saved["assessments"] if a["step"] <= steps]
    seconds = next((a["seconds"] for a in assessments if a["step"] == steps and "seconds" in a), None)
    state = {
        **saved,
        "losses": saved["losses"][:steps],
        "assessments": assessments,
        "seconds": saved["seconds"] if seconds is None else seconds,
    }
    final.report = _report(config, state, final)
    final.report["ended_early_from_step"] = saved["step"]
    final.save(out / "model")
    return final


def _report(config: T2APretrainConfig, state: dict[str, Any], model: WorldT2A) -> dict[str, Any]:
    losses = state["losses"]
    every = max(1, len(losses) // 200)
    return {
        "steps": len(losses),
        "seconds": state["seconds"],
        "hours": round(state["seconds"] / 3600, 2),
        "threads": torch.get_num_threads(),
        "final_loss": float(np.mean(losses[-200:])) if losses else None,
        "text_pretrain_loss": float(np.mean(state["text_losses"][-20:])) if state["text_losses"] else None,
        "loss_curve": [
            {"step": start + every, "loss": float(np.mean(losses[start : start + every]))}
            for start in range(0, len(losses), every)
        ],
        "clips_seen": len(losses) * config.t2a.batch_size,
        "assessments": state["assessments"],
        "sessions": state.get("sessions", []),
        "vocabulary": len(model.tokenizer),
        "parameters": sum(p.numel() for p in model.parameters()),
        "config": config.weight_settings(),
    }
