"""``baton finetune``: turn labels and rewards into a better text-to-audio model.

    finetune(FinetuneConfig(method="baton", labels=..., rewards=..., out=...)) -> out/model

The recipe, top to bottom:

1. read and check the data (feedback, pretraining set, splits, pairs): bad input stops here;
2. join the processes (``accelerate launch``), load the backend;
3. encode every clip and caption once with the frozen encoders (captions per batch when the text
   encoder trains too);
4. choose the trainable weights (the denoiser, or LoRA adapters on it, and the text encoder if asked),
   optimizer, moving average;
5. resume from the newest checkpoint if asked;
6. train: gradient accumulation, gradients averaged over processes, clipping, AdamW, logging,
   validation at a fixed timestep, checkpoints;
7. save the chosen weights (best validation loss, or last) in the backend's own format, with a model
   card (:mod:`baton.finetune.card`).

Output folder::

    OUT/model/             the tuned model, loadable by the backend (`baton generate --model OUT/model`),
                           and its model card README.md (`baton evaluate` adds its figures)
    OUT/train_log.jsonl    one JSON object per logged step: step, loss, lr, the method's parts, val_loss
    OUT/finetune.json      settings, the device used, data counts and the reward model that labelled
                           the reward-labelled clips, timing, which step model/ holds
    OUT/checkpoints/       step-NNNNNNNN/ (the newest few) and best/, for --resume
    OUT/tracking/          with --report-to: the trackers' files (:mod:`baton.tracking`)
"""

from __future__ import annotations

import json
import shutil
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from baton import __version__, tracking
from baton.artifacts import atomic_write_text, folder_written_whole, write_json
from baton.backends import check_dtype, load_backend
from baton.backends.base import TrainsTextEncoder
from baton.config import config_to_dict
from baton.console import console, make_progress, warn
from baton.errors import InputError
from baton.finetune import engine
from baton.finetune.card import write_model_card
from baton.finetune.config import FORMAT, MODEL_DIR, RUN_FILE, TRAIN_LOG, FinetuneConfig
from baton.finetune.data import (
    Clip,
    check_audio_exists,
    default_world_pretrain,
    preference_pairs,
    read_feedback,
    read_human_pairs,
    read_pretrain,
    split_by_prompt,
)
from baton.finetune.encode import TextTable, clip_targets
from baton.finetune.engine import (
    STATE_FILE,
    check_device_for_accelerate,
    check_resumable,
    checkpoint_dirs,
    make_accelerator,
)
from baton.finetune.objectives import (
    BatonObjective,
    Denoising,
    DpoObjective,
    FrozenReference,
    Processes,
    SftObjective,
    Tables,
    mix_seed,
)
from baton.fingerprints import file_digest
from baton.tracking import release_accelerator
from baton.world.manifest import other_worlds_note

# Names of the text encoder's parameters among the trained ones (checkpoints, moving average).
TEXT_PREFIX = "text_encoder."


# --- 1. the data --------------------------------------------------------------------------------------


@dataclass
class DataPlan:
    """Every clip the run encodes (feedback first, then pretraining) and the index sets it trains on."""

    clips: list[Clip]
    train: dict[str, np.ndarray] = field(default_factory=dict)
    val: dict[str, np.ndarray] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)


def _rows(indices: list[int] | np.ndarray) -> np.ndarray:
    return np.asarray(indices, dtype=np.int64)


def plan_data(config: FinetuneConfig) -> DataPlan:
    """Read and check everything the run trains on; any problem is an InputError, before any model."""
    feedback = read_feedback(config)
    clips = feedback.clips
    human_pairs: list[tuple[int, int]] = []
    if config.pairs is not None:
        clips, human_pairs, undecided = read_human_pairs(Path(config.pairs), clips)
        feedback.counts_of_pairs = {"decided": len(human_pairs), "undecided_left_out": undecided}
    if not clips:
        raise InputError(
            "the feedback files hold no usable clips", path=config.labels or config.rewards or config.pairs
        )
    train, val = split_by_prompt(clips, config.val_fraction, config.seed)
    # The reward model that labelled the reward-labelled clips (None without --rewards), so that the
    # run's finetune.json says which one it was.
    plan = DataPlan(
        clips=list(clips),
        counts={"feedback": feedback.counts(), "reward_model": feedback.reward_model},
    )

    if config.method == "baton":
        for name, chosen in (("train", train), ("val", val)):
            target = plan.train if name == "train" else plan.val
            target["human"] = _rows([i for i in chosen if clips[i].source == "human"])
            target["reward"] = _rows([i for i in chosen if clips[i].source == "reward"])
        share = config.human_share
        if share is not None and share > 0 and not len(plan.train["human"]):
            raise InputError("there are no human-labelled clips to draw that share from", field="human_share")
        if share is not None and share < 1 and not len(plan.train["reward"]):
            raise InputError(
                "there are no reward-labelled clips to draw that share from", field="human_share"
            )
        if all(clips[i].reward == 0 for i in train):
            warn(
                "every training clip has reward 0: BATON's feedback term is zero, only the pretraining loss trains"
            )
        if config.uses_pretrain:
            pretrain_clips = _pretrain_clips(config)
            offset = len(plan.clips)
            plan.clips.extend(pretrain_clips)
            pt_train, pt_val = split_by_prompt(pretrain_clips, config.val_fraction, config.seed)
            plan.train["pretrain"] = _rows(pt_train) + offset
            plan.val["pretrain"] = _rows(pt_val) + offset
            plan.counts["pretrain"] = {"train": len(pt_train), "val": len(pt_val)}
        plan.counts["feedback"].update(train=len(train), val=len(val))
    elif config.method in ("sft", "control"):
        # control: the same fine-tuning on every clip, its label ignored; the gap between a method and
        # it is what the labels add over self-training on the model's own clips of these prompts.
        def kept(i: int) -> bool:
            return config.method == "control" or clips[i].label == 1

        plan.train["sft"] = _rows([i for i in train if kept(i)])
        plan.val["sft"] = _rows([i for i in val if kept(i)])
        if not len(plan.train["sft"]):
            raise InputError(
                "no training clip is labelled 1: SFT tunes on the clips that match their prompt",
                path=config.labels or config.rewards,
            )
        plan.counts["sft"] = {"train": len(plan.train["sft"]), "val": len(plan.val["sft"])}
    else:
        # Pairs built from the rewards of labelled clips (a clip only people's pairs name has none),
        # then people's own pairs, each on the side of the split its prompt is on.
        rated = [i for i in train if clips[i].source != "pairs"]
        pairs = preference_pairs(clips, rated, config.dpo_margin)
        val_pairs = preference_pairs(clips, [i for i in val if clips[i].source != "pairs"], config.dpo_margin)
        held_out = set(val)
        people = [pair for pair in human_pairs if pair[0] not in held_out]
        people_val = [pair for pair in human_pairs if pair[0] in held_out]
        if not pairs and not people:
            raise InputError(
                "no preference pairs for DPO: no prompt has two clips whose rewards differ by at least "
                f"{config.dpo_margin} (with labels: a clip labelled 1 and one labelled 0 of one prompt)"
                + ("; and no decided pair of people's is on the training side" if config.pairs else ""),
                path=config.labels or config.rewards or config.pairs,
                field="dpo_margin",
            )
        plan.train["pairs"] = np.asarray(pairs + people, dtype=np.int64).reshape(-1, 2)
        plan.val["pairs"] = np.asarray(val_pairs + people_val, dtype=np.int64).reshape(-1, 2)
        plan.counts["pairs"] = {
            "train": len(pairs) + len(people),
            "val": len(val_pairs) + len(people_val),
            "from_people": {"train": len(people), "val": len(people_val), **feedback.counts_of_pairs},
        }
    check_audio_exists(plan.clips, "training set")
    return plan


def _pretrain_clips(config: FinetuneConfig) -> list[Clip]:
    path = config.pretrain
    if path is None and config.backend == "world":
        path = default_world_pretrain(config.model)
    if path is None:
        unbuilt = ""
        if config.backend == "world" and config.model is None:
            unbuilt = "; the default world, whose corpus it would be, is not built (`baton world build`)"
            unbuilt += other_worlds_note()
        raise InputError(
            "BATON's objective needs a pretraining set (captions with audio): pass --pretrain FILE, "
            "or --beta 0 to train on the feedback alone" + unbuilt,
            field="pretrain",
        )
    return read_pretrain(path)


# --- the run ------------------------------------------------------------------------------------------


def finetune(config: FinetuneConfig) -> Path:
    """Fine-tune ``config.backend`` on the feedback; return the tuned model's folder (``OUT/model``).

    With ``stop_after`` the run stops early and returns its newest checkpoint; rerun with
    ``resume=True`` to continue. A finished run rerun with ``resume=True`` returns at once.
    """
    # 1. The device, the weights' dtype, the trackers and the data, checked before anything heavy.
    check_device_for_accelerate(config.device)
    check_dtype(config.backend, config.dtype)
    tracking.check_installed(config.report_to)
    plan = plan_data(config)
    # 2. Processes.
    accelerator = make_accelerator(config)
    try:
        return _train(config, plan, accelerator)
    finally:
        tracking.finish(accelerator)
        release_accelerator(accelerator)


def _resume_point(config: FinetuneConfig, out: Path) -> Path | None:
    existing = checkpoint_dirs(out)
    if not config.resume:
        if existing or (out / TRAIN_LOG).exists():
            raise InputError(
                "this folder already holds a fine-tuning run: pass --resume to continue it, or choose "
                "another --out",
                path=out,
            )
        return None
    if not existing:
        return None
    run_file = out / RUN_FILE
    if run_file.is_file():
        document = json.loads(run_file.read_text())
        saved = _older_paths_read_here(document.get("config", {}), config)
        now = config_to_dict(config, absolute_paths=True)
        moved = {name for name in INPUT_FILES if name in saved and saved[name] != now.get(name)}
        same_bytes = _same_bytes(document.get("inputs") or {}, config, moved) if moved else set()
        check_resumable(saved, now, out, same_bytes=same_bytes)
    return existing[-1]


INPUT_FILES = ("labels", "rewards", "pairs", "pretrain")


def input_digests(config: FinetuneConfig) -> dict[str, str]:
    """SHA-256 of each data file the run reads (labels, rewards, pairs, pretraining set)."""
    digests = {name: _digest(config, name) for name in INPUT_FILES}
    return {name: digest for name, digest in digests.items() if digest is not None}


def _digest(config: FinetuneConfig, name: str) -> str | None:
    path = getattr(config, name)
    return file_digest(path, name) if path is not None and Path(path).is_file() else None


def _same_bytes(recorded: dict[str, str], config: FinetuneConfig, names: set[str]) -> set[str]:
    """Of the data files ``names`` given now from other paths than the run's, those that hold the
    bytes the run recorded: a run copied or moved with its inputs (a demo's run folder) resumes."""
    return {name for name in names & set(recorded) if _digest(config, name) == recorded[name]}


def _older_paths_read_here(saved: dict[str, Any], config: FinetuneConfig) -> dict[str, Any]:
    """``finetune.json``'s settings with their paths absolute, as this baton writes them (the rule of
    :mod:`baton.artifacts`), so that a run resumes from any working folder. An older baton wrote them
    as given, relative to the folder that run started in: they are read from this one, as that baton
    compared them."""

    def absolute(name: str, value: Any) -> Any:
        if isinstance(getattr(config, name, None), Path) and isinstance(value, str):
            return str(Path(value).resolve())
        return value

    return {name: absolute(name, value) for name, value in saved.items()}


def _text_table(
    backend: Any, captions: list[str], progress: bool, needs_empty: str | None, precompute: bool = True
) -> Any:
    """The captions' text states (encoded per batch when not ``precompute``); ``needs_empty``: the
    setting that put the empty prompt among them, named in the error if the backend cannot encode it."""
    try:
        return TextTable(backend, captions, progress=progress, precompute=precompute)
    except InputError as error:
        if needs_empty and error.field == "text":
            raise InputError(
                f"this backend does not encode the empty prompt, which {needs_empty} trains on ({error})",
                field=needs_empty,
            ) from None
        raise


def _train(config: FinetuneConfig, plan: DataPlan, accelerator: Any) -> Path:
    out = Path(config.out)
    processes = Processes(accelerator.process_index, accelerator.num_processes)
    main = accelerator.is_main_process
    show = config.progress and main
    for name, size in (
        ("batch_size", config.batch_size),
        ("pretrain_batch_size", config.micro_pretrain_batch),
    ):
        if size % processes.count:
            raise InputError(f"{size} does not split evenly over {processes.count} processes", field=name)
    resume_from = _resume_point(config, out)
    if resume_from is not None:
        steps = _finished_steps(config, out, resume_from)
        if steps is not None:
            if main:
                warn(f"{out} already holds the finished run ({steps} steps): nothing to do")
            return out / MODEL_DIR

    # 2b. The backend, on this process's device.
    device = accelerator.device
    backend = load_backend(config.backend, config.model, device=str(device), dtype=config.dtype)
    text_encoder = _trained_text_encoder(config, backend)
    if config.gradient_checkpointing:
        engine.enable_gradient_checkpointing(backend, config.backend)
    # The weights that train do so in float32, whatever dtype the frozen parts load in (--dtype).
    if not config.lora_rank:
        backend.denoiser.float()
    if text_encoder is not None:
        text_encoder.float()

    # 3. Frozen encodings of every clip and caption, once.
    # Every caption once, and the empty prompt when text dropout or guided fitting needs it.
    needs_empty = "text_dropout" if config.text_dropout > 0 else None
    if config.train_guidance != 1.0:
        needs_empty = "train_guidance"
    captions = sorted({clip.text for clip in plan.clips} | ({""} if needs_empty else set()))
    caption_index = {text: i for i, text in enumerate(captions)}
    x0, plan.counts["targets"] = clip_targets(
        backend, plan.clips, sampled_latents=config.sampled_latents, progress=show
    )
    if main and config.progress:
        console.print(
            f"training targets: {plan.counts['targets']['latent']} clips from their sampled latents, "
            f"{plan.counts['targets']['audio']} from audio"
        )
    tables = Tables(
        x0=x0,
        text=_text_table(backend, captions, show, needs_empty, precompute=text_encoder is None),
        text_index=torch.tensor([caption_index[c.text] for c in plan.clips], dtype=torch.long),
        rewards=torch.tensor([c.reward for c in plan.clips], dtype=torch.float32),
        empty_index=caption_index.get(""),
    )

    # 4. Trainable weights (the denoiser, and the text encoder if asked), reference, optimizer, average.
    denoiser = backend.denoiser
    reference = None
    if config.method == "dpo" and not config.lora_rank:
        # The starting weights, before any step; conditioned on the starting text encoder's states.
        reference_text = None
        if text_encoder is not None:
            reference_text = _text_table(backend, captions, False, needs_empty)
        reference = FrozenReference(backend, text=reference_text)
    lora_layers = None
    if config.lora_rank:
        lora_layers = engine.add_lora(denoiser, config)
        for p in denoiser.parameters():
            if p.requires_grad:
                p.data = p.data.float()  # the adapters, in float32 beside a half base
    else:
        denoiser.requires_grad_(True)
    if config.method == "dpo" and reference is None:
        reference = FrozenReference(backend, lora_layers)
    denoiser.to(device)
    params = {name: p for name, p in denoiser.named_parameters() if p.requires_grad}
    trained = [denoiser]
    if text_encoder is not None:
        text_encoder.requires_grad_(True).to(device)
        params.update({f"{TEXT_PREFIX}{name}": p for name, p in text_encoder.named_parameters()})
        trained.append(text_encoder)
    optimizer = torch.optim.AdamW(
        list(params.values()),
        lr=config.learning_rate,
        betas=(config.adam_beta1, config.adam_beta2),
        eps=config.adam_epsilon,
        weight_decay=config.weight_decay,
    )
    optimizer = accelerator.prepare(optimizer)
    ema = engine.EMA(params, config.ema_decay) if config.ema_decay > 0 else None

    denoising = Denoising(backend, tables, config, device, autocast=accelerator.autocast)
    if config.method == "baton":
        objective = BatonObjective(
            denoising,
            config,
            processes,
            human=plan.train["human"],
            reward=plan.train["reward"],
            pretrain=plan.train.get("pretrain", np.zeros(0, dtype=np.int64)),
            val_feedback=np.concatenate([plan.val["human"], plan.val["reward"]]),
            val_pretrain=plan.val.get("pretrain", np.zeros(0, dtype=np.int64)),
        )
    elif config.method in ("sft", "control"):
        objective = SftObjective(denoising, config, processes, rows=plan.train["sft"], val=plan.val["sft"])
    else:
        objective = DpoObjective(
            denoising,
            config,
            processes,
            pairs=plan.train["pairs"],
            val_pairs=plan.val["pairs"],
            reference=reference,
        )

    # 5. Resume.
    start = 0
    if resume_from is not None:
        start = int(engine.load_checkpoint(resume_from, params, ema, optimizer, accelerator.scaler)["step"])
    best = engine.read_best(out) if resume_from is not None else None
    if main:
        out.mkdir(parents=True, exist_ok=True)
        if resume_from is None:
            shutil.rmtree(out / engine.CHECKPOINTS / engine.BEST, ignore_errors=True)
        _keep_log_until(out / TRAIN_LOG, start)
        write_json(
            out / RUN_FILE,
            _run_document(
                config, plan, processes.count, str(device), status="training", extra={"resumed_from": start}
            ),
        )
    # The trackers (main process only): the settings as finetune.json records them.
    tracking.start(
        accelerator,
        config.report_to,
        "baton-finetune",
        out,
        config_to_dict(config, absolute_paths=True),
        resumed_at=start,
    )
    accelerator.wait_for_everyone()

    # 6. Train.
    checkpoint_every = config.checkpoint_every or max(1, config.steps // 5)
    eval_every = config.eval_every or checkpoint_every
    stop = config.steps if config.stop_after is None else min(config.steps, start + config.stop_after)
    trainable = list(params.values())
    window: dict[str, list[float]] = {}
    # Time of the training steps alone (with logging), without validation and checkpoint writing.
    train_seconds = 0.0
    for module in trained:
        module.train()
    with torch.random.fork_rng(devices=[]), make_progress() as bar:
        task = bar.add_task(f"finetune ({config.method})", total=config.steps, completed=start, visible=show)
        for step in range(start, stop):
            began = time.perf_counter()
            lr = engine.learning_rate(step, config)
            for group in optimizer.param_groups:
                group["lr"] = lr
            sums: dict[str, float] = {}
            for micro in range(config.grad_accum):
                index = step * config.grad_accum + micro
                torch.manual_seed(mix_seed(config.seed, "dropout", index, processes.rank))
                loss, metrics = objective.train_loss(index)
                accelerator.backward(loss / config.grad_accum)
                for key, value in {"loss": float(loss.detach()), **metrics}.items():
                    sums[key] = sums.get(key, 0.0) + value / config.grad_accum
            engine.average_gradients(trainable, accelerator)
            if config.max_grad_norm > 0:
                sums["grad_norm"] = float(accelerator.clip_grad_norm_(trainable, config.max_grad_norm))
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if ema is not None:
                ema.update(params)
            done = step + 1
            for key, value in sums.items():
                window.setdefault(key, []).append(value)

            val_loss = None
            if done % eval_every == 0 or done == config.steps:
                train_seconds += time.perf_counter() - began
                val_loss = _validate(objective, accelerator, ema, params, trained)
                if val_loss is not None and (best is None or val_loss < best["val_loss"]):
                    best = {"step": done, "val_loss": val_loss}
                    if main:
                        engine.save_best(out, done, val_loss, ema.shadow if ema is not None else params)
                began = time.perf_counter()
            if done % config.log_every == 0 or val_loss is not None or done == stop:
                line = _reduce_window(window, accelerator)
                window = {}
                line = {"step": done, **line, "lr": lr}
                if val_loss is not None:
                    line["val_loss"] = val_loss
                if main:
                    with (out / TRAIN_LOG).open("a", encoding="utf-8") as handle:
                        handle.write(json.dumps(line) + "\n")
                    tracking.log(accelerator, line, done)
                bar.update(task, description=f"finetune ({config.method})  loss {line['loss']:.4f}")
            train_seconds += time.perf_counter() - began
            if done % checkpoint_every == 0 or done == stop:
                if main:
                    engine.save_checkpoint(
                        out, done, params, ema, optimizer, accelerator.scaler, {}, config.keep_checkpoints
                    )
                accelerator.wait_for_everyone()
            bar.update(task, completed=done)

    steps_run = max(0, stop - start)
    timing = {
        "steps_this_run": steps_run,
        "seconds_per_step": train_seconds / steps_run if steps_run else None,
    }
    if stop < config.steps:
        if main:
            write_json(
                out / RUN_FILE,
                _run_document(
                    config,
                    plan,
                    processes.count,
                    str(device),
                    status="stopped",
                    extra={"step": stop, **timing},
                ),
            )
        accelerator.wait_for_everyone()
        return engine.checkpoint_dirs(out)[-1]

    # 7. Save the chosen weights in the backend's own format.
    chosen = {"select": "last", "step": config.steps}
    if config.select == "best" and best is not None:
        engine.copy_into(params, engine.load_best(out))
        chosen = {"select": "best", **best}
    elif ema is not None:
        engine.copy_into(params, ema.shadow)
        chosen["ema"] = True
    if lora_layers is not None:
        engine.merge_lora(denoiser)
    for module in trained:
        module.eval()
    model_dir = out / MODEL_DIR
    if main:
        document = _run_document(
            config, plan, processes.count, str(device), status="done", extra={"model": chosen, **timing}
        )
        with folder_written_whole(model_dir) as partial:
            backend.save(partial)
            # The card says what finetune.json says, so it is written from the same document.
            write_model_card(partial, document)
        write_json(out / RUN_FILE, document)
    accelerator.wait_for_everyone()
    return model_dir


def _trained_text_encoder(config: FinetuneConfig, backend: Any) -> Any:
    """The backend's text encoder if it trains in this run (``train_text_encoder``), else ``None``
    (see :class:`baton.backends.base.TrainsTextEncoder`)."""
    if not config.train_text_encoder:
        return None
    module = backend.trainable_text_encoder if isinstance(backend, TrainsTextEncoder) else None
    if module is None:
        raise InputError(
            f"the {config.backend} backend keeps its text encoder frozen: --train-text-encoder works with"
            " the world and tango backends",
            field="train_text_encoder",
        )
    return module


def finished_model(config: FinetuneConfig) -> Path | None:
    """``OUT/model`` when ``config.out`` holds this run finished, so that :func:`finetune` would return
    it at once (``resume`` asked, no more ``steps`` than the run took); ``None`` when there is training
    to do. Found without reading the data, so that a caller can skip a finished run before its
    inputs are loaded. An InputError where :func:`finetune` would refuse the folder: a run of other
    settings, or any run without ``resume``."""
    out = Path(config.out)
    resume_from = _resume_point(config, out)
    if resume_from is None or _finished_steps(config, out, resume_from) is None:
        return None
    return out / MODEL_DIR


def _finished_steps(config: FinetuneConfig, out: Path, resume_from: Path) -> int | None:
    """The steps of the finished run in ``out`` (newest checkpoint ``resume_from``) when it leaves
    nothing to do for ``config``, else ``None``."""
    steps = json.loads((resume_from / STATE_FILE).read_text())["step"]
    return steps if steps >= config.steps and _finished(out) else None


def _finished(out: Path) -> bool:
    """A run whose model/ was written (finetune.json says so last)."""
    try:
        status = json.loads((out / RUN_FILE).read_text()).get("status")
    except (OSError, json.JSONDecodeError):
        return False
    return status == "done" and (out / MODEL_DIR).is_dir()


def _validate(objective: Any, accelerator: Any, ema: Any, params: dict, trained: list[Any]) -> float | None:
    """The validation loss over every process's share (the moving average's weights, if kept)."""
    for module in trained:
        module.eval()
    try:
        with ema.applied(params) if ema is not None else nullcontext():
            sums = objective.validation_sums()
    finally:
        for module in trained:
            module.train()
    if sums is None:
        return None
    sums = accelerator.reduce(sums.to(accelerator.device), reduction="sum").cpu()
    return objective.validation_loss(sums)


def _reduce_window(window: dict[str, list[float]], accelerator: Any) -> dict[str, float]:
    """Each metric's mean over the logged steps, averaged over the processes."""
    keys = sorted(window)
    means = torch.tensor([float(np.mean(window[k])) for k in keys], dtype=torch.float64)
    if accelerator.num_processes > 1:
        means = accelerator.reduce(means.to(accelerator.device), reduction="mean").cpu()
    ordered = ["loss", *[k for k in keys if k != "loss"]]
    values = dict(zip(keys, means.tolist(), strict=True))
    return {k: values[k] for k in ordered if k in values}


def _keep_log_until(path: Path, step: int) -> None:
    """Drop the log lines of steps after ``step`` (written after the checkpoint a run resumes from)."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line torn by a crash
        if isinstance(entry, dict) and entry.get("step", 0) <= step:
            kept.append(line)

    atomic_write_text(path, "".join(line + "\n" for line in kept))


def _run_document(
    config: FinetuneConfig,
    plan: DataPlan,
    processes: int,
    device: str,
    *,
    status: str,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """What ``finetune.json`` holds; ``device``: the device the main process trains on (accelerate's choice)."""
    return {
        "format": FORMAT,
        "version": 1,
        "baton": __version__,
        "status": status,
        "processes": processes,
        "device": device,
        "config": config_to_dict(config, absolute_paths=True),  # resumable from any folder
        "inputs": input_digests(config),  # and from a copy of its folder (check_resumable)
        "data": plan.counts,
        **extra,
    }
