"""The fine-tuner's data: feedback and pretraining clips read and checked, splits, pairs, batch streams.

Everything here is plain Python and numpy and runs before any model is loaded, so that bad input
(a reward outside [0, 1], a missing audio file, no DPO pair, an empty pretraining set) stops the run
with a clear message before training starts.

* Feedback (``--labels``, ``--rewards``): each clip gets a reward r in [0, 1]. Soft rewards are a
  human-labelled clip's mean vote and a reward-labelled clip's probability; hard ones are its
  majority label (a tie is dropped) and ``probability >= threshold``. A clip in both files keeps
  its human label.
* Pretraining (``--pretrain``): a world corpus (``.npz``/``.json``), or JSON Lines of captions with
  audio paths, in baton's, Tango's (``captions``, ``location``) or audiofolder's (``file_name``,
  ``text``) field names.
* People's pairs (``--pairs``, for DPO): each decided pair's two clips (one clip per audio file,
  shared with the feedback files when they name it too) and the pair (chosen, rejected).
* Splits hold out whole prompts (so a DPO pair never straddles them), picked by a hash of the seed
  and the prompt id: the same prompts for any process count and any order of the input.
* :class:`Stream` is the batch order: a fresh permutation per epoch, computed from (seed, stream,
  epoch) alone, so that any step's batch is known without replaying the run (exact resume).
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from baton.artifacts import LabelRecord, RewardRecord, read_records, resolve_path
from baton.audio import load_audio
from baton.backends.world import default_model_dir
from baton.console import counted
from baton.errors import InputError
from baton.interchange.jsonread import read_json_lines, read_text
from baton.reward.data import read_pairs
from baton.world.corpus import Corpus

if TYPE_CHECKING:
    from baton.finetune.config import FinetuneConfig

_TEXT_FIELDS = ("text", "caption", "captions")
_PATH_FIELDS = ("path", "location", "audio", "file_name")


@dataclass
class Clip:
    """One training clip: its caption, reward, where it came from, and how to read its audio."""

    sample_id: str
    prompt_id: str
    text: str
    reward: float
    source: str  # "human", "reward", "pairs" (a clip only people's pairs name) or "pretrain"
    load: Callable[[], tuple[np.ndarray, int]] = field(repr=False)
    path: Path | None = None
    label: int | None = None  # 1 = matches its prompt (majority vote, or probability >= threshold)


@dataclass
class FeedbackSet:
    clips: list[Clip]
    dropped_ties: int = 0
    duplicates: int = 0
    # The model that scored the rewards file (see reward_model_of); None without one.
    reward_model: dict[str, Any] | None = None
    # People's pairs (--pairs): how many were decided, and undecided ones left out.
    counts_of_pairs: dict[str, int] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        human = sum(c.source == "human" for c in self.clips)
        return {
            "human": human,
            "reward": len(self.clips) - human,
            "dropped_ties": self.dropped_ties,
            "in_both_files": self.duplicates,
        }


# --- reading feedback ------------------------------------------------------------------------------


def _file_loader(path: Path) -> Callable[[], tuple[np.ndarray, int]]:
    def load() -> tuple[np.ndarray, int]:
        return load_audio(path)

    return load


def _read(path: Path, cls: Any, reward_field: str) -> list[Any]:
    """Records of ``path``; a reward outside [0, 1] is reworded to say so."""
    try:
        return read_records(path, cls, allow_empty=False)
    except InputError as exc:
        if exc.field == reward_field and exc.line is not None:
            raise InputError(
                f"a reward must be in [0, 1] ({exc.reason})", path=exc.path, line=exc.line, field=exc.field
            ) from None
        raise


def _audio_path(record: Any, file: Path) -> Path:
    if not record.path:
        raise InputError(
            f"clip '{record.sample_id}' has no audio path: the fine-tuner trains on the audio",
            path=file,
            field="path",
        )
    return resolve_path(record.path, file.parent)


def read_feedback(config: FinetuneConfig) -> FeedbackSet:
    """The feedback clips of ``config.labels`` and ``config.rewards`` with their rewards."""
    out = FeedbackSet(clips=[])
    seen: set[str] = set()
    if config.labels is not None:
        for record in _read(Path(config.labels), LabelRecord, "mean"):
            if config.reward_mode == "hard":
                if record.label is None:
                    out.dropped_ties += 1
                    continue
                reward = float(record.label)
            else:
                reward = float(record.mean)
            path = _audio_path(record, Path(config.labels))
            out.clips.append(
                Clip(
                    record.sample_id,
                    record.prompt_id,
                    record.text,
                    reward,
                    "human",
                    _file_loader(path),
                    path,
                    label=record.label,
                )
            )
            seen.add(record.sample_id)
    if config.rewards is not None:
        records = _read(Path(config.rewards), RewardRecord, "probability")
        out.reward_model = reward_model_of(records, Path(config.rewards))
        for record in records:
            if record.sample_id in seen:
                out.duplicates += 1
                continue
            probability = float(record.probability)
            reward = (
                float(probability >= config.reward_threshold) if config.reward_mode == "hard" else probability
            )
            path = _audio_path(record, Path(config.rewards))
            out.clips.append(
                Clip(
                    record.sample_id,
                    record.prompt_id,
                    record.text,
                    reward,
                    "reward",
                    _file_loader(path),
                    path,
                    label=int(probability >= config.reward_threshold),
                )
            )
    return out


def reward_model_of(records: list[Any], path: Path) -> dict[str, Any]:
    """The one reward model whose scores the rewards file ``path`` holds: its ``fingerprint``, the
    ``names`` its rows give it (their ``model``), and the file's number of ``rows``.

    A file whose rows name more than one model fingerprint is refused (an InputError naming each
    model and its rows), and so is one that mixes rows with a fingerprint and rows without: fine-tuning
    would train on two models' judgements as one. A file of fingerprint-less rows only (``reward/1``,
    written before records named their model) is accepted, its model unknown (``fingerprint`` None).
    """
    rows: dict[str | None, int] = {}
    names: dict[str | None, list[str]] = {}
    for record in records:
        fingerprint = record.model_fingerprint
        rows[fingerprint] = rows.get(fingerprint, 0) + 1
        its_names = names.setdefault(fingerprint, [])
        if record.model not in its_names:
            its_names.append(record.model)
    if len(rows) > 1:

        def described(fingerprint: str | None) -> str:
            who = ", ".join(f"'{name}'" for name in names[fingerprint])
            what = "no fingerprint" if fingerprint is None else f"fingerprint {fingerprint}"
            return f"{who} ({what}): {counted(rows[fingerprint], 'row')}"

        known = sorted(f for f in rows if f is not None)
        listed = "; ".join(described(f) for f in [*known, *([None] if None in rows else [])])
        models = "a reward model" if len(known) == 1 else f"{len(known)} reward models"
        what = (
            f"mixes the scores of {models} with scores that do not say which model made them (written "
            "by an older baton, or imported), so may be another model's"
            if None in rows
            else f"holds the scores of {len(known)} reward models"
        )
        raise InputError(
            f"{what}: {listed}. Fine-tuning would train on their judgements as one: score the clips "
            "again with one model into a new file (`baton reward score`)",
            path=path,
            field="rewards",
        )
    fingerprint = next(iter(rows), None)
    return {"fingerprint": fingerprint, "names": names.get(fingerprint, []), "rows": len(records)}


def check_audio_exists(clips: list[Clip], what: str) -> None:
    """Every clip's audio file is there, or one error naming the first few that are not."""
    missing = [c.path for c in clips if c.path is not None and not c.path.is_file()]
    if missing:
        shown = ", ".join(str(p) for p in missing[:3])
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise InputError(
            f"{len(missing)} audio file(s) of the {what} are missing: {shown}{more}", path=missing[0]
        )


def read_human_pairs(path: Path, clips: list[Clip]) -> tuple[list[Clip], list[tuple[int, int]], int]:
    """People's decided pairs of ``path`` as (chosen, rejected) rows of ``clips`` plus the clips they add
    (a clip already in ``clips``, by its audio file, is not added again); returns the longer clip
    list, the pairs and the number of undecided pairs left out."""
    clips = list(clips)
    rows = {c.path.resolve(): i for i, c in enumerate(clips) if c.path is not None}
    pairs, undecided = [], 0
    for record in read_pairs(path):
        if not record.decided:
            undecided += 1
            continue
        ends = []
        for sample_id, written, won in (
            (record.chosen, record.chosen_path, True),
            (record.rejected, record.rejected_path, False),
        ):
            if not written:
                raise InputError(
                    f"pair '{record.id}' names no audio for clip '{sample_id}': the fine-tuner trains on the audio",
                    path=path,
                    field="chosen_path" if won else "rejected_path",
                )
            audio = resolve_path(written, path.parent)
            if audio.resolve() not in rows:
                rows[audio.resolve()] = len(clips)
                clips.append(
                    Clip(
                        sample_id,
                        record.prompt_id,
                        record.text,
                        float(won),
                        "pairs",
                        _file_loader(audio),
                        audio,
                    )
                )
            ends.append(rows[audio.resolve()])
        pairs.append((ends[0], ends[1]))
    return clips, pairs, undecided


# --- reading the pretraining set ------------------------------------------------------------------


def default_world_pretrain(model: str | Path | None) -> Path | None:
    """The corpus a world model was trained on: beside its folder, else the default world's."""
    folder = default_model_dir() if model is None else Path(model)
    for candidate in (
        folder.parent / "corpus" / "corpus.json",
        default_model_dir().parent / "corpus" / "corpus.json",
    ):
        if candidate.is_file():
            return candidate
    return None


def _is_corpus(path: Path) -> bool:
    if path.suffix == ".npz":
        return True
    if path.suffix != ".json":
        return False
    try:
        with path.open(encoding="utf-8") as handle:
            head = handle.read(200)
    except OSError:
        return False
    return '"baton-world-corpus"' in head


def read_pretrain(path: str | Path) -> list[Clip]:
    """Captioned clips of a world corpus or of a JSON Lines file; an empty set is an error."""
    path = Path(path)
    if not path.exists():
        raise InputError("no such pretraining file", path=path, field="pretrain")
    clips = _read_corpus(path) if _is_corpus(path) else _read_caption_lines(path)
    if not clips:
        raise InputError(
            "the pretraining set is empty: it holds no captioned clips", path=path, field="pretrain"
        )
    return clips


def _read_corpus(path: Path) -> list[Clip]:
    corpus = Corpus.load(path)

    def loader(row: int) -> Callable[[], tuple[np.ndarray, int]]:
        return lambda: (corpus.audio[row], corpus.sample_rate)

    return [
        Clip(f"corpus-{i}", f"corpus-{i}", text, 1.0, "pretrain", loader(i))
        for i, text in enumerate(corpus.captions)
    ]


def _read_caption_lines(path: Path) -> list[Clip]:
    clips: list[Clip] = []
    for lineno, row in read_json_lines(read_text(path), path).rows:
        text = next((row[k] for k in _TEXT_FIELDS if k in row), None)
        if isinstance(text, list):  # Tango's "captions" may be a list: its first caption
            text = text[0] if text else None
        if not isinstance(text, str) or not text.strip():
            raise InputError(
                f"no caption (one of {', '.join(_TEXT_FIELDS)})", path=path, line=lineno, field="text"
            )
        audio = next((row[k] for k in _PATH_FIELDS if k in row), None)
        if not isinstance(audio, str) or not audio:
            raise InputError(
                f"no audio path (one of {', '.join(_PATH_FIELDS)})", path=path, line=lineno, field="path"
            )
        audio_path = resolve_path(audio, path.parent)
        sample_id = str(row.get("id", row.get("sample_id", f"line-{lineno}")))
        clips.append(
            Clip(sample_id, sample_id, text.strip(), 1.0, "pretrain", _file_loader(audio_path), audio_path)
        )
    return clips


# --- splits and pairs -----------------------------------------------------------------------------


def _rank_key(seed: int, name: str) -> str:
    return hashlib.sha256(f"{seed}:{name}".encode()).hexdigest()


def split_by_prompt(clips: list[Clip], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train, validation) indices of ``clips``; whole prompts are held out, at least one if asked.

    A set of one prompt is never split (its clips all train).
    """
    prompts = sorted({c.prompt_id for c in clips}, key=lambda p: _rank_key(seed, p))
    held = (
        0
        if fraction <= 0 or len(prompts) < 2
        else min(len(prompts) - 1, max(1, round(fraction * len(prompts))))
    )
    val_prompts = set(prompts[:held])
    train = [i for i, c in enumerate(clips) if c.prompt_id not in val_prompts]
    val = [i for i, c in enumerate(clips) if c.prompt_id in val_prompts]
    return train, val


def preference_pairs(clips: list[Clip], indices: list[int], margin: float) -> list[tuple[int, int]]:
    """(chosen, rejected) pairs within a prompt: every two clips whose rewards differ by >= ``margin``.

    With hard rewards a pair is a clip labelled 1 against one labelled 0, as in Tango 2's
    construction from preference labels.
    """
    by_prompt: dict[str, list[int]] = {}
    for i in indices:
        by_prompt.setdefault(clips[i].prompt_id, []).append(i)
    pairs = []
    for members in by_prompt.values():
        for w in members:
            for lose in members:
                if clips[w].reward - clips[lose].reward >= margin - 1e-12:
                    pairs.append((w, lose))
    return pairs


# --- batch order ----------------------------------------------------------------------------------


class Stream:
    """An endless, shuffled-per-epoch order over ``size`` items, addressable at any position.

    Position p of the stream is item ``perm_e[p mod size]`` of epoch e = p // size, with
    ``perm_e`` a permutation drawn from (seed, name, e) alone.
    """

    def __init__(self, size: int, seed: int, name: str) -> None:
        if size < 1:
            raise ValueError("a stream needs at least one item")
        self.size = size
        self.seed = seed
        self.key = zlib.crc32(name.encode())
        self._cache: dict[int, np.ndarray] = {}

    def _epoch(self, epoch: int) -> np.ndarray:
        if epoch not in self._cache:
            if len(self._cache) > 4:
                self._cache.pop(min(self._cache))
            rng = np.random.default_rng([self.seed, self.key, epoch])
            self._cache[epoch] = rng.permutation(self.size)
        return self._cache[epoch]

    def take(self, start: int, count: int) -> np.ndarray:
        """Items at positions start .. start + count - 1."""
        positions = np.arange(start, start + count)
        out = np.empty(count, dtype=np.int64)
        for epoch in np.unique(positions // self.size):
            chosen = positions // self.size == epoch
            out[chosen] = self._epoch(int(epoch))[positions[chosen] % self.size]
        return out
