"""Labelled clips for the reward model: reading labels, finding their audio, splitting by prompt.

Labels come from ``baton annotate export`` (``labels.jsonl``, LabelRecords), from BATON's released
files (Tango JSON Lines with ``feedback``, the grouped ratings, the held-out test files; read by
:mod:`baton.interchange.tango`), or from a Label Studio export, all read by :func:`baton.interchange.labels.read_labels`. A label's audio path is read
relative to the labels file's folder, or to ``audio_root`` when given (BATON's paths start with
``Baton/data/Audio/...``, so point ``audio_root`` at the folder that holds ``Baton/``).

The target of a clip is its mean vote (soft; one annotator gives 0 or 1). Validation prompts are
drawn per task, so that both tasks are validated and no prompt is on both sides.

Pairs (``--pairs``: ``baton annotate export --pairs``, or an Audio-Alpaca file) add people's
A/B answers: their clips join the labelled ones (a clip in both is one clip, found by its audio
file), without a target unless a label gives one, and each decided pair is a (chosen, rejected)
row pair weighted by how clear the preference was, ``2 (preference - 0.5)``: 1 when everyone chose
the same clip.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from baton.artifacts import LabelRecord, PairRecord, has_schema_line, read_records, resolve_path
from baton.errors import InputError
from baton.interchange.alpaca import read_alpaca


@dataclass
class LabelledClip:
    """One clip with its human judgement: ``target`` is the mean vote, ``label`` the majority (None on a tie)."""

    sample_id: str
    prompt_id: str
    text: str
    task: str | None
    audio: Path
    target: float
    label: int | None
    votes: dict[str, float] = field(default_factory=dict)
    line: int | None = None
    events: list[str] = field(default_factory=list)  # the events the prompt names, where known


def labelled_clips(
    records: Sequence[LabelRecord],
    labels_path: str | Path,
    audio_root: str | Path | None = None,
    *,
    check_audio: bool = True,
) -> list[LabelledClip]:
    """Every label with its audio file found; a label without a readable path is an error naming it."""
    labels_path = Path(labels_path)
    base = Path(audio_root) if audio_root is not None else labels_path.parent
    clips = []
    for number, record in enumerate(records, start=1):
        if not record.path:
            raise InputError(
                f"label of sample '{record.sample_id}' names no audio file; give the clips' paths "
                "(or --audio-root for BATON files, which name clips only by file name)",
                path=labels_path,
                line=number,
                field="path",
            )
        audio = resolve_path(record.path, base)
        if check_audio and not audio.is_file():
            raise InputError(
                f"label of sample '{record.sample_id}' is for a clip that does not exist: {audio}",
                path=labels_path,
                line=number,
                field="path",
            )
        clips.append(
            LabelledClip(
                sample_id=record.sample_id,
                prompt_id=record.prompt_id,
                text=record.text,
                task=record.task,
                audio=audio,
                target=float(record.mean),
                label=record.label,
                votes={v.annotator: float(v.value) for v in record.votes},
                line=number,
                events=list(record.events),
            )
        )
    return clips


def require_both_labels(
    clips: Sequence[LabelledClip], path: str | Path, rows: Sequence[int] | None = None, *, what: str = "its"
) -> None:
    """Refuse clips (``rows`` of them) whose majority labels are all 1 or all 0, naming the counts.

    A head fitted to one class learns a constant; its validation accuracy reads 1.0 and means nothing.
    ``what`` names the clips in the message ("its": the file's; "the training prompts'": a split's)."""
    chosen = [clips[i] for i in rows] if rows is not None else list(clips)
    ones = sum(c.label == 1 for c in chosen)
    zeros = sum(c.label == 0 for c in chosen)
    if ones and zeros:
        return
    ties = len(chosen) - ones - zeros
    counts = f"{ones} ones, {zeros} zeros" + (f", {ties} ties" if ties else "")
    raise InputError(
        f"{what} {len(chosen)} clips are labelled {'1' if ones else '0' if zeros else 'neither'} only "
        f"({counts}): a reward model learns right from wrong only from clips labelled both ways",
        path=path,
    )


def read_pairs(path: str | Path, task: str | None = None) -> list[PairRecord]:
    """The pairs of a baton pairs file or of an Audio-Alpaca file."""
    path = Path(path)
    if not path.is_file():
        raise InputError("no such pairs file", path=path)
    if has_schema_line(path):
        records = read_records(path, PairRecord, allow_empty=False)
    else:
        records = read_alpaca(path, out_dir=path.parent)
    if task is not None:
        records = [r.model_copy(update={"task": r.task or task}) for r in records]
    return records


@dataclass
class PairedClips:
    """Labelled clips and the clips pairs add, and the decided pairs as rows of that list."""

    clips: list[LabelledClip]
    pairs: list[tuple[int, int, float]]  # (chosen row, rejected row, weight)
    undecided: int = 0


def add_pair_clips(
    clips: Sequence[LabelledClip],
    records: Sequence[PairRecord],
    pairs_path: str | Path,
    audio_root: str | Path | None = None,
    *,
    check_audio: bool = True,
) -> PairedClips:
    """``clips`` followed by the clips only the pairs name (target NaN), and the decided pairs."""
    pairs_path = Path(pairs_path)
    base = Path(audio_root) if audio_root is not None else pairs_path.parent
    out = PairedClips(clips=list(clips), pairs=[])
    rows = {clip.audio.resolve(): row for row, clip in enumerate(out.clips)}
    for number, record in enumerate(records, start=1):
        if not record.decided:
            out.undecided += 1
            continue
        ends = []
        for sample_id, path in ((record.chosen, record.chosen_path), (record.rejected, record.rejected_path)):
            if not path:
                raise InputError(
                    f"pair '{record.id}' names no audio file for clip '{sample_id}'",
                    path=pairs_path,
                    line=number,
                    field="chosen_path" if sample_id == record.chosen else "rejected_path",
                )
            audio = resolve_path(path, base)
            if check_audio and not audio.is_file():
                raise InputError(
                    f"pair '{record.id}' names a clip that does not exist: {audio}",
                    path=pairs_path,
                    line=number,
                )
            key = audio.resolve()
            if key not in rows:
                rows[key] = len(out.clips)
                out.clips.append(
                    LabelledClip(
                        sample_id=sample_id,
                        prompt_id=record.prompt_id,
                        text=record.text,
                        task=record.task,
                        audio=audio,
                        target=float("nan"),
                        label=None,
                        line=number,
                        events=list(record.events),
                    )
                )
            ends.append(rows[key])
        out.pairs.append((ends[0], ends[1], 2.0 * (record.preference - 0.5)))
    return out


def prompt_folds(clips: Sequence[LabelledClip], folds: int, seed: int) -> list[list[int]]:
    """Rows of the clips of each fold: every clip in exactly one fold, a prompt's clips in the same one.

    Tasks in name order, each task's prompts sorted by a hash of ``seed`` and the prompt id, are dealt
    round-robin into the folds; the deal goes on from task to task, so fold sizes differ by at most
    one prompt overall.
    """
    if folds < 2:
        raise InputError("must be at least 2", field="folds")
    by_task: dict[str, dict[str, None]] = {}
    for clip in clips:
        by_task.setdefault(clip.task or "", {})[clip.prompt_id] = None
    n_prompts = len({clip.prompt_id for clip in clips})
    if n_prompts < folds:
        raise InputError(
            f"the labels hold {n_prompts} prompt(s), fewer than the {folds} folds (a fold holds whole prompts)",
            field="folds",
        )

    def order(prompt_id: str) -> tuple[str, str]:
        return hashlib.sha256(f"reward-folds:{seed}:{prompt_id}".encode()).hexdigest(), prompt_id

    fold_of: dict[str, int] = {}
    for task in sorted(by_task):
        for prompt_id in sorted(by_task[task], key=order):
            if prompt_id not in fold_of:  # a prompt named under two tasks stays where it was dealt
                fold_of[prompt_id] = len(fold_of) % folds
    return [[i for i, clip in enumerate(clips) if fold_of[clip.prompt_id] == k] for k in range(folds)]


def split_by_prompt(
    clips: Sequence[LabelledClip], val_fraction: float, seed: int
) -> tuple[list[int], list[int]]:
    """Rows of the training and validation clips: whole prompts go to one side, drawn per task.

    Each task's prompts are shuffled with ``seed`` and ``round(val_fraction * n)`` of them (at least
    one when the task has two or more prompts and ``val_fraction > 0``) go to validation.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise InputError("must be at least 0 and below 1", field="val_fraction")
    by_task: dict[str, list[str]] = {}
    for clip in clips:
        prompts = by_task.setdefault(clip.task or "", [])
        if clip.prompt_id not in prompts:
            prompts.append(clip.prompt_id)
    rng = random.Random(f"reward-split:{seed}")
    val_prompts: set[str] = set()
    for task in sorted(by_task):
        prompts = sorted(by_task[task])
        rng.shuffle(prompts)
        n_val = round(val_fraction * len(prompts))
        if val_fraction > 0 and len(prompts) >= 2:
            n_val = min(max(n_val, 1), len(prompts) - 1)
        val_prompts.update(prompts[:n_val])
    train = [i for i, c in enumerate(clips) if c.prompt_id not in val_prompts]
    val = [i for i, c in enumerate(clips) if c.prompt_id in val_prompts]
    return train, val


def class_balance(clips: Sequence[LabelledClip], rows: Sequence[int] | None = None) -> dict[str, dict]:
    """Per task (and ``all``): clips, prompts, majority ones / zeros / ties, share of ones, mean target."""
    rows = range(len(clips)) if rows is None else rows
    groups: dict[str, list[LabelledClip]] = {"all": []}
    for row in rows:
        clip = clips[row]
        if clip.target != clip.target:  # NaN: a clip only pairs name, without a label
            continue
        groups["all"].append(clip)
        groups.setdefault(clip.task or "unknown", []).append(clip)
    out = {}
    for name, members in groups.items():
        ones = sum(c.label == 1 for c in members)
        zeros = sum(c.label == 0 for c in members)
        out[name] = {
            "clips": len(members),
            "prompts": len({c.prompt_id for c in members}),
            "ones": ones,
            "zeros": zeros,
            "ties": len(members) - ones - zeros,
            "share_of_ones": round(ones / (ones + zeros), 4) if ones + zeros else None,
            "mean_target": round(sum(c.target for c in members) / len(members), 4) if members else None,
        }
    return out
