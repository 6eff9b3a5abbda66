"""``baton reward score``: a reward for every clip of a samples file (how BATON's RD set is made).

Each clip gets a RewardRecord: ``score`` (the calibrated logit) and ``probability`` (its sigmoid).
Clips are encoded in batches through the feature cache; records are appended as they are made, so
an interrupted run resumes with the clips not yet scored.

Every record names the model's fingerprint (:attr:`RewardModel.fingerprint`). Resuming into a file
that holds another model's scores is refused: one file, one reward model, or fine-tuning would
train on a mix. So is resuming into a file whose records do not say their model (written by an
older baton, or imported): its scores cannot be shown to be this model's, and rescoring into a new
file costs minutes where a silent mix would cost a training run.
"""

from __future__ import annotations

from pathlib import Path

from baton.artifacts import (
    RecordAppender,
    RewardRecord,
    SampleRecord,
    read_records,
    resolve_path,
    store_path,
)
from baton.errors import InputError


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
    import torch

    from baton.cache import cache_dir
    from baton.console import make_progress
    from baton.reward.cache import FeatureCache, audio_features, text_features
    from baton.reward.heads import stack_features
    from baton.reward.model import RewardModel
    from baton.workers import check_device

    if batch_size < 1:
        raise InputError("must be at least 1", field="batch_size")
    device = check_device(device)
    samples, out, model_dir = Path(samples), Path(out), Path(model_dir)
    records = read_records(samples, SampleRecord, allow_empty=False)
    audio_paths = []
    for line, record in enumerate(records, start=1):
        path = resolve_path(record.path, samples.parent)
        if not path.is_file():
            raise InputError(
                f"audio of sample '{record.id}' not found: {path}", path=samples, line=line, field="path"
            )
        audio_paths.append(path)
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
            logits = model.logits_of(stack_features(audio, text, sequences=model.needs_sequences))
            for i, logit in zip(rows, logits.tolist(), strict=True):
                record = records[i]
                sink.append(
                    RewardRecord(
                        sample_id=record.id,
                        prompt_id=record.prompt_id,
                        text=record.text,
                        events=record.events,
                        task=record.task,
                        path=store_path(audio_paths[i], out.parent),
                        score=float(logit),
                        probability=float(torch.sigmoid(torch.tensor(logit))),
                        model=name,
                        model_fingerprint=fingerprint,
                    )
                )
            bar.advance(task, len(rows))
    return out


def check_same_model(records: list[RewardRecord], out: Path, model_dir: Path, fingerprint: str) -> None:
    """Refuse to add the scores of the model in ``model_dir`` (``fingerprint``) to ``out`` when the
    ``records`` already in it are not all that model's."""
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
