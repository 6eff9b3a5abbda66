"""``baton reward score``: a reward for every clip of a samples file (how BATON's RD set is made).

Each clip gets a RewardRecord: ``score`` (the calibrated logit) and ``probability`` (its sigmoid).
Clips are encoded in batches through the feature cache; records are appended as they are made, so
an interrupted run resumes with the clips not yet scored.

Every record names the model's fingerprint (:attr:`RewardModel.fingerprint`). Resuming into a file
that holds another model's scores is refused: one file, one reward model, or fine-tuning would
train on a mix. So is resuming into a file whose records do not say their model (written by an
older baton, or imported): its scores cannot be shown to be this model's, and rescoring into a new
file costs minutes where a silent mix would cost a training run.

**AI feedback** (:func:`score_with_judge`, ``baton reward score --judge events|clap``): the rewards
come from a judge instead of a trained reward model, as Tango 2 draws its preferences from CLAP and
T2A-Feedback scores event occurrence and order:

* ``events``: the open-vocabulary event judge (:class:`baton.evaluation.event_judge.EventJudge`), its
  soft score that the prompt's events sound (in order, for temporal prompts); needs the events each
  prompt names;
* ``clap``: the CLAP score of the prompt and the clip, clipped at 0
  (:class:`baton.evaluation.clap_score.ClapScoreJudge`).

The file is the same: ``probability`` is the judge's reward, ``score`` its logit, and ``model`` /
``model_fingerprint`` name the judge (its encoder, settings and vocabulary), so that a resumed run
refuses to mix judges and fine-tuning records which judge its feedback came from.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from baton.artifacts import (
    RecordAppender,
    RewardRecord,
    SampleRecord,
    read_records,
    resolve_path,
    store_path,
)
from baton.audio import load_clips
from baton.cache import cache_dir
from baton.console import make_progress
from baton.errors import InputError
from baton.evaluation.clap_score import ClapScoreJudge
from baton.evaluation.event_judge import EventJudge, judge_vocabulary, load_embedder
from baton.reward.cache import FeatureCache, audio_features, text_features
from baton.reward.heads import stack_features
from baton.reward.model import RewardModel
from baton.workers import check_device


def score_samples(
    model_dir: str | Path,
    samples: str | Path,
    out: str | Path,
    *,
    batch_size: int = 32,
    cache: str | Path | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> Path:
    """Score every clip of ``samples`` with the model in ``model_dir``; write ``out``; return it.
    ``device``: where the encoder runs."""
    if batch_size < 1:
        raise InputError("must be at least 1", field="batch_size")
    device = check_device(device)
    samples, out, model_dir = Path(samples), Path(out), Path(model_dir)
    records, audio_paths = samples_with_audio(samples)
    model = RewardModel.load(model_dir, device=device)
    fingerprint = model.fingerprint
    name = model_dir.resolve().name

    with RecordAppender(out, RewardRecord) as sink, make_progress() as bar:
        check_same_model(sink.records, out, model_dir, fingerprint)
        encoder = model.encoder
        feature_cache = FeatureCache(cache_dir(cache), encoder.identity["fingerprint"])
        todo = [i for i, r in enumerate(records) if not sink.has(r.id)]
        task = bar.add_task("scoring clips", total=len(todo), visible=progress)
        for start in range(0, len(todo), batch_size):
            rows = todo[start : start + batch_size]
            audio = audio_features(encoder, [audio_paths[i] for i in rows], feature_cache)
            text = text_features(encoder, [records[i].text for i in rows], feature_cache)
            tasks = [records[i].task for i in rows]
            scores = None
            if model.event_judge is not None:
                scores = model.event_judge.scores(
                    [audio_paths[i] for i in rows], [records[i].events for i in rows], tasks, feature_cache
                )
            batch = stack_features(audio, text, sequences=model.needs_sequences, judge=scores, tasks=tasks)
            logits = model.logits_of(batch)
            for i, logit in zip(rows, logits.tolist(), strict=True):
                probability = float(torch.sigmoid(torch.tensor(logit)))
                sink.append(
                    reward_record(records[i], audio_paths[i], out, logit, probability, name, fingerprint)
                )
            bar.advance(task, len(rows))
    return out


def samples_with_audio(samples: Path) -> tuple[list[SampleRecord], list[Path]]:
    """The records of a samples file and their clips' paths; a missing clip is an error naming its line."""
    records = read_records(samples, SampleRecord, allow_empty=False)
    audio_paths = []
    for line, record in enumerate(records, start=1):
        path = resolve_path(record.path, samples.parent)
        if not path.is_file():
            raise InputError(
                f"audio of sample '{record.id}' not found: {path}", path=samples, line=line, field="path"
            )
        audio_paths.append(path)
    return records, audio_paths


def reward_record(
    record: SampleRecord,
    audio_path: Path,
    out: Path,
    score: float,
    probability: float,
    model: str,
    fingerprint: str | None,
) -> RewardRecord:
    """The RewardRecord of one scored clip, its path stored from ``out``'s folder."""
    return RewardRecord(
        sample_id=record.id,
        prompt_id=record.prompt_id,
        text=record.text,
        events=record.events,
        task=record.task,
        path=store_path(audio_path, out.parent),
        score=float(score),
        probability=float(probability),
        model=model,
        model_fingerprint=fingerprint,
    )


# --- AI feedback: rewards from a judge ---------------------------------------------------------------

JUDGES = ("events", "clap")
# Probabilities are kept this far from 0 and 1 for their logits (the records' score) to be finite.
LOGIT_EPSILON = 1e-6


def load_judge(
    kind: str,
    records: list[SampleRecord],
    samples: Path,
    *,
    encoder: str = "world",
    vocabulary: str | Path | None = None,
    device: str = "cpu",
) -> Any:
    """The judge ``kind`` (``events`` or ``clap``) over the encoder ``encoder`` (``world``,
    ``world:DIR``, ``clap:SOURCE``), ready to score ``records`` (read from ``samples``)."""
    if kind not in JUDGES:
        raise InputError(f"unknown judge '{kind}': choose one of {', '.join(JUDGES)}", field="judge")
    if kind == "events":
        for line, record in enumerate(records, start=1):
            if not record.events:
                raise InputError(
                    f"sample '{record.id}' names no events: the events judge checks the events a prompt "
                    "names (prompts written from a vocabulary); score these clips with --judge clap or a "
                    "reward model",
                    path=samples,
                    line=line,
                    field="events",
                )
    embedder = load_embedder(encoder, device=device)
    if kind == "clap":
        return ClapScoreJudge(embedder)
    return EventJudge(embedder, judge_vocabulary([e for r in records for e in r.events], vocabulary))


def score_with_judge(
    judge: str,
    samples: str | Path,
    out: str | Path,
    *,
    encoder: str = "world",
    vocabulary: str | Path | None = None,
    batch_size: int = 32,
    device: str = "cpu",
    progress: bool = True,
) -> Path:
    """Score every clip of ``samples`` with the judge ``judge`` (see :func:`load_judge`); write ``out``
    (resuming it, as :func:`score_samples` does); return it."""
    if batch_size < 1:
        raise InputError("must be at least 1", field="batch_size")
    samples, out = Path(samples), Path(out)
    records, audio_paths = samples_with_audio(samples)
    scorer = load_judge(judge, records, samples, encoder=encoder, vocabulary=vocabulary, device=device)

    with RecordAppender(out, RewardRecord) as sink, make_progress() as bar:
        check_same_model(sink.records, out, scorer.name, scorer.fingerprint)
        todo = [i for i, r in enumerate(records) if not sink.has(r.id)]
        task = bar.add_task(f"judging clips ({judge})", total=len(todo), visible=progress)
        for start in range(0, len(todo), batch_size):
            rows = todo[start : start + batch_size]
            audio, rate = load_clips([audio_paths[i] for i in rows])
            rewards = scorer.sample_rewards([records[i] for i in rows], audio, rate)
            for i, reward in zip(rows, rewards.tolist(), strict=True):
                kept = min(max(reward, LOGIT_EPSILON), 1.0 - LOGIT_EPSILON)
                logit = math.log(kept / (1.0 - kept))
                sink.append(
                    reward_record(
                        records[i], audio_paths[i], out, logit, reward, scorer.name, scorer.fingerprint
                    )
                )
            bar.advance(task, len(rows))
    return out


def check_same_model(records: list[RewardRecord], out: Path, model_dir: Path | str, fingerprint: str) -> None:
    """Refuse to add the scores of the model in ``model_dir`` (a reward model folder, or a judge's
    name; its ``fingerprint``) to ``out`` when the ``records`` already in it are not all that model's."""
    others = {r.model_fingerprint for r in records} - {fingerprint}
    if not others:
        return
    fix = "give another --out, or remove the file to score it again"
    if None in others:
        unknown = sum(r.model_fingerprint is None for r in records)
        raise InputError(
            f"{unknown} of its {len(records)} scores do not record which reward model made them "
            f"(written by an older baton, or imported), so they cannot be resumed with '{model_dir}' "
            f"(fingerprint {fingerprint}): {fix}",
            path=out,
        )
    found = sorted({(r.model, r.model_fingerprint) for r in records if r.model_fingerprint in others})
    listed = ", ".join(f"'{m}' (fingerprint {f})" for m, f in found)
    raise InputError(
        f"holds scores of another reward model, {listed}, not of '{model_dir}' (fingerprint "
        f"{fingerprint}); one file holds one model's scores: {fix}",
        path=out,
    )
