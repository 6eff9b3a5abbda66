"""Every file the stages pass to each other: one JSON Lines record type per stage, versioned.

=========  ==================  ======================================================
kind       file                one line is
=========  ==================  ======================================================
prompt     ``prompts.jsonl``   a prompt: id, text, its events in order, its task
sample     ``samples.jsonl``   a generated clip: prompt, audio path, seed, backend
label      ``labels.jsonl``    a clip's human votes, majority label and mean
pair       ``pairs.jsonl``     two clips of a prompt, people's votes on which is better
reward     ``rewards.jsonl``   a clip's reward-model score and probability
metric     ``metrics.jsonl``   one figure of one model, with its 95% interval
=========  ==================  ======================================================

Each line carries ``"schema": "<kind>/<version>"`` first. Reading is strict: a malformed line, a
missing or mistyped field, or a line of another kind raises :class:`~baton.errors.InputError` naming
the file, the line number and the field. Writing a whole file is atomic (a temporary file, then a
rename); :class:`RecordAppender` adds records one by one, durably, and on reopening after a crash
drops a torn last line and knows which keys are already done, so a resumed stage duplicates nothing.
One rule for paths in files: a path a record (or a run's JSON file) stores is absolute, or relative
to the folder of the file that stores it; never relative to the folder a process ran in. Writers
turn the paths they hold (absolute, or relative to the working folder) into that form with
:func:`store_path`; readers turn them back with :func:`resolve_path`, given the file's folder. So a
run folder can be moved as a whole, and a relative ``--out`` works from any working folder.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from baton.errors import InputError

Task = Literal["single", "integrity", "temporal"]
TASKS: tuple[str, ...] = ("single", "integrity", "temporal")
# How a prompt's events lie in time: one event, one after another, or at once.
Relation = Literal["single", "sequence", "overlap"]


class Record(BaseModel):
    """A line of a stage file. Subclasses set ``kind``, ``version`` and ``key`` (the unique field)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    kind: ClassVar[str]
    version: ClassVar[int] = 1
    key: ClassVar[str] = "id"

    @classmethod
    def schema_tag(cls) -> str:
        return f"{cls.kind}/{cls.version}"

    def record_key(self) -> str:
        return str(getattr(self, self.key))

    def to_json(self) -> str:
        body = self.model_dump(mode="json")
        return json.dumps({"schema": self.schema_tag(), **body}, ensure_ascii=False)


# A prompt id names files (``baton generate`` writes ``audio/<prompt id>-<k>.wav``), so it may hold
# only ASCII letters, digits, '.', '_' and '-', may not start with '.' nor hold '..', and is short
# enough for a file name: no id can put a file outside the output folder or in a folder of its own.
_ID_CHARACTER = re.compile(r"[A-Za-z0-9._-]")
ID_MAX_LENGTH = 120


def id_problem(value: str) -> str | None:
    """Why ``value`` cannot be a prompt id, or ``None`` when it can."""
    if not value:
        return "an id cannot be empty"
    bad = sorted({c for c in value if not _ID_CHARACTER.fullmatch(c)})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        return (
            f"'{value}' holds {shown}: an id names files, so it may hold only letters, digits, "
            "'.', '_' and '-'"
        )
    if value.startswith("."):
        return f"'{value}' starts with '.': an id names files, and may not start with a dot"
    if ".." in value:
        return f"'{value}' holds '..': an id names files, and may not hold two dots in a row"
    if len(value) > ID_MAX_LENGTH:
        return f"an id names files, and may be at most {ID_MAX_LENGTH} characters, not {len(value)}"
    return None


class PromptRecord(Record):
    """A text prompt. ``events`` are the sound events it names, in the order it states them.

    ``id`` names the prompt's clips' files, so it is checked (:func:`id_problem`)."""

    kind: ClassVar[str] = "prompt"

    id: str = Field(min_length=1)
    text: str = Field(min_length=1)
    events: list[str] = Field(default_factory=list)
    task: Task | None = None
    relation: Relation | None = None
    source: str | None = None

    @field_validator("id")
    @classmethod
    def _id_names_files(cls, value: str) -> str:
        problem = id_problem(value)
        if problem is not None:
            raise PydanticCustomError("prompt_id", "{reason}", {"reason": problem})
        return value


class SampleRecord(Record):
    """A generated clip of a prompt. ``path`` is relative to the samples file's folder."""

    kind: ClassVar[str] = "sample"

    id: str = Field(min_length=1)
    prompt_id: str = Field(min_length=1)
    text: str = Field(min_length=1)
    events: list[str] = Field(default_factory=list)
    task: Task | None = None
    relation: Relation | None = None
    index: int = Field(ge=0, description="the clip's number among its prompt's clips")
    path: str = Field(min_length=1)
    seed: int | None = None
    backend: str = "unknown"
    sample_rate: int | None = Field(default=None, gt=0)
    duration: float | None = Field(default=None, ge=0)
    settings: dict[str, Any] = Field(default_factory=dict)
    latent: str | None = Field(
        default=None,
        description="the latents the clip was decoded from (baton.generation.latents), relative like path",
    )


class Vote(BaseModel):
    """One annotator's answer for one clip: 1 = matches the prompt, 0 = does not."""

    model_config = ConfigDict(extra="forbid")

    annotator: str = Field(min_length=1)
    value: float = Field(ge=0.0, le=1.0)
    seconds: float | None = Field(default=None, ge=0)
    created_at: str | None = None


class LabelRecord(Record):
    """Every vote on a clip, the majority label (``None`` on a tie) and the mean vote.

    Version 2 added ``dawid_skene``: the probability that the clip matches its prompt when every
    annotator's reliability is estimated from all their answers (:mod:`baton.annotation.aggregate`);
    ``None`` when the export did not compute it. Version-1 records read with it ``None``.
    """

    kind: ClassVar[str] = "label"
    version: ClassVar[int] = 2
    key: ClassVar[str] = "sample_id"

    sample_id: str = Field(min_length=1)
    prompt_id: str = Field(min_length=1)
    text: str = Field(min_length=1)
    events: list[str] = Field(default_factory=list)
    task: Task | None = None
    index: int | None = Field(default=None, ge=0)
    path: str | None = None
    votes: list[Vote] = Field(default_factory=list)
    label: int | None = Field(default=None, ge=0, le=1)
    mean: float = Field(ge=0.0, le=1.0)
    dawid_skene: float | None = Field(default=None, ge=0.0, le=1.0)
    source: str | None = None

    @classmethod
    def from_votes(cls, votes: list[Vote], **fields: Any) -> LabelRecord:
        """A label whose ``mean`` and majority ``label`` are computed from its votes."""
        if not votes:
            raise ValueError("a label needs at least one vote")
        mean = sum(v.value for v in votes) / len(votes)
        label = None if mean == 0.5 else int(mean > 0.5)
        return cls(votes=votes, mean=mean, label=label, **fields)


PairChoice = Literal["chosen", "rejected", "tie"]


class PairVote(BaseModel):
    """One annotator's answer on a pair: the chosen clip is better, the rejected one, or neither
    (``tie``: both wrong, or equally good)."""

    model_config = ConfigDict(extra="forbid")

    annotator: str = Field(min_length=1)
    choice: PairChoice
    seconds: float | None = Field(default=None, ge=0)
    created_at: str | None = None


class PairRecord(Record):
    """Two clips of one prompt and which is better: Tango 2's Audio-Alpaca triplet (prompt, chosen,
    rejected) with the votes behind it.

    ``chosen`` is the clip more people preferred; ``preference`` the share of votes for it, a tie
    counted half to each (1.0 for a pair that comes without votes). At 0.5 the pair is undecided
    (:attr:`decided` is false) and ``chosen`` is merely the first of the two. Paths are relative to
    the file's folder. ``strategy`` says how the pair was judged (Audio-Alpaca's field; ``human``
    for people's votes).
    """

    kind: ClassVar[str] = "pair"

    id: str = Field(min_length=1)
    prompt_id: str = Field(min_length=1)
    text: str = Field(min_length=1)
    events: list[str] = Field(default_factory=list)
    task: Task | None = None
    chosen: str = Field(min_length=1, description="the preferred clip's sample id")
    rejected: str = Field(min_length=1)
    chosen_path: str | None = None
    rejected_path: str | None = None
    votes: list[PairVote] = Field(default_factory=list)
    preference: float = Field(ge=0.5, le=1.0)
    strategy: str | None = None
    source: str | None = None

    @property
    def decided(self) -> bool:
        return self.preference > 0.5

    @classmethod
    def from_votes(
        cls,
        first: tuple[str, str | None],
        second: tuple[str, str | None],
        votes: list[tuple[str, str, float | None, str | None]],
        **fields: Any,
    ) -> PairRecord:
        """A pair from votes on its ``first`` and ``second`` clip (each ``(sample id, path)``); a vote
        is ``(annotator, "first" | "second" | "tie", seconds, created_at)``. The clip with more votes
        becomes ``chosen`` (on a tie, ``first``)."""
        if not votes:
            raise ValueError("a pair needs at least one vote")
        score = sum({"first": 1.0, "second": 0.0, "tie": 0.5}[choice] for _, choice, _, _ in votes)
        share = score / len(votes)
        flipped = share < 0.5
        chosen, rejected = (second, first) if flipped else (first, second)
        names = (
            {"first": "rejected", "second": "chosen"}
            if flipped
            else {"first": "chosen", "second": "rejected"}
        )
        return cls(
            chosen=chosen[0],
            chosen_path=chosen[1],
            rejected=rejected[0],
            rejected_path=rejected[1],
            votes=[
                PairVote(annotator=a, choice=names.get(c, "tie"), seconds=s, created_at=t)  # type: ignore[arg-type]
                for a, c, s, t in votes
            ],
            preference=max(share, 1.0 - share),
            **fields,
        )


class RewardRecord(Record):
    """A reward model's judgement of a clip: raw score (logit) and probability in [0, 1].

    ``model`` is the model folder's name (for people); ``model_fingerprint`` is what the model is
    (:attr:`baton.reward.model.RewardModel.fingerprint`: its weights, calibration and encoder), so
    that a resumed ``baton reward score`` can refuse to add another model's scores to a file.
    Version 2 added ``model_fingerprint``; version-1 records read with it ``None`` (model unknown).
    """

    kind: ClassVar[str] = "reward"
    version: ClassVar[int] = 2
    key: ClassVar[str] = "sample_id"

    sample_id: str = Field(min_length=1)
    prompt_id: str = Field(min_length=1)
    text: str = Field(min_length=1)
    events: list[str] = Field(default_factory=list)
    task: Task | None = None
    path: str | None = None
    score: float
    probability: float = Field(ge=0.0, le=1.0)
    model: str = "unknown"
    model_fingerprint: str | None = None


class MetricRecord(Record):
    """One figure of one model on one task, with its bootstrap 95% interval when it has one."""

    kind: ClassVar[str] = "metric"

    id: str = Field(min_length=1, description="model/metric/task, unique in a file")
    model: str = Field(min_length=1)
    metric: str = Field(min_length=1)
    task: str | None = None
    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = Field(default=None, ge=0)
    extra: dict[str, Any] = Field(default_factory=dict)


RECORD_TYPES: dict[str, type[Record]] = {
    cls.kind: cls for cls in (PromptRecord, SampleRecord, LabelRecord, PairRecord, RewardRecord, MetricRecord)
}

R = TypeVar("R", bound=Record)


# --- reading -------------------------------------------------------------------------------------


def parse_record(line: str, cls: type[R], path: str | Path, lineno: int) -> R:
    """Validate one JSON line as a ``cls`` record, or raise an error naming file, line and field."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"not valid JSON ({exc.msg} at column {exc.colno})", path=path, line=lineno
        ) from None
    if not isinstance(data, dict):
        raise InputError("a record must be a JSON object", path=path, line=lineno)
    tag = data.pop("schema", None)
    if tag is not None:
        kind, _, version = str(tag).partition("/")
        if kind != cls.kind:
            raise InputError(
                f"this is a '{kind}' record, expected a '{cls.kind}' record",
                path=path,
                line=lineno,
                field="schema",
            )
        if not version.isdigit() or int(version) > cls.version:
            raise InputError(
                f"schema '{tag}' is not one this baton reads (up to {cls.schema_tag()}); upgrade baton",
                path=path,
                line=lineno,
                field="schema",
            )
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        message = first["msg"]
        if first["type"] == "extra_forbidden":
            message = f"unknown field for a '{cls.kind}' record"
        elif first["type"] == "missing":
            message = "required field is missing"
        raise InputError(message, path=path, line=lineno, field=field) from None


def iter_records(path: str | Path, cls: type[R]) -> Iterator[R]:
    """Yield the records of a JSON Lines file, validating each (blank lines are skipped)."""
    path = Path(path)
    try:
        handle = path.open(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"no such {cls.kind} file", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=path) from None
    with handle:
        for lineno, line in enumerate(handle, start=1):
            if line.strip():
                yield parse_record(line, cls, path, lineno)


def read_records(path: str | Path, cls: type[R], *, unique: bool = True, allow_empty: bool = True) -> list[R]:
    """All records of a file; with ``unique`` a repeated key is an error naming both lines."""
    records = list(iter_records(path, cls))
    if not records and not allow_empty:
        raise InputError(f"the file holds no {cls.kind} records", path=path)
    if unique:
        check_unique(records, path)
    return records


def check_unique(records: Iterable[Record], path: str | Path) -> None:
    seen: dict[str, int] = {}
    for number, record in enumerate(records, start=1):
        key = record.record_key()
        if key in seen:
            raise InputError(
                f"'{key}' appears again (first at record {seen[key]})",
                path=path,
                line=number,
                field=record.key,
            )
        seen[key] = number


# --- writing -------------------------------------------------------------------------------------


def temp_file_beside(path: str | Path) -> tuple[int, Path]:
    """A new, empty file with a unique hidden name in ``path``'s folder, open for writing: the file
    to rename over ``path`` once written.

    Unlike :func:`tempfile.mkstemp` (always mode 0600) it is created as a plain ``open()`` would create
    ``path``, mode 0666 less the umask, so that the renamed file has the mode users expect.
    """
    path = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
        except OSError as exc:  # named by the file the user asked for, not the hidden one
            raise OSError(exc.errno, exc.strerror, str(path)) from None


def new_file_mode() -> int:
    """The mode a plain ``open()`` gives a new file: 0666 less the process's umask."""
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii", errors="replace")
    except OSError:
        status = ""
    for line in status.splitlines():
        if line.startswith("Umask:"):
            return 0o666 & ~int(line.split()[1], 8)
    # Without /proc the umask is read by setting it (to a strict one, for that instant) and back.
    mask = os.umask(0o077)
    os.umask(mask)
    return 0o666 & ~mask


def save_safetensors(
    tensors: dict[str, Any], path: str | Path, metadata: dict[str, str] | None = None
) -> None:
    """``safetensors.torch.save_file``, leaving the file with the mode a plain ``open()`` gives
    (safetensors writes its files 0600, owner-only, whatever the umask)."""
    # torch: heavy; every command imports this module, most never load a model
    from safetensors.torch import save_file

    save_file(tensors, str(path), metadata=metadata)
    os.chmod(path, new_file_mode())


def give_safetensors_plain_mode(folder: str | Path) -> None:
    """After a library's ``save_pretrained`` into ``folder``: its safetensors files, written 0600 by
    safetensors, get the mode a plain ``open()`` gives."""
    mode = new_file_mode()
    for path in Path(folder).rglob("*.safetensors"):
        os.chmod(path, mode)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a whole file so that readers see either the old file or the new one, never half.

    The file gets the mode a plain ``open()`` gives a new file (0666 less the umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_file_beside(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_records(path: str | Path, records: Iterable[Record]) -> int:
    """Write records as a new JSON Lines file, atomically. Returns how many were written."""
    lines = [record.to_json() for record in records]
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def write_json(path: str | Path, data: Any) -> None:
    """Write a JSON document atomically (manifests, metrics summaries, configs)."""
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def has_schema_line(path: str | Path) -> bool:
    """Whether the first non-empty line of ``path`` is a JSON object with a ``schema`` key: a baton
    records file rather than a foreign one (False for unreadable or non-JSON files)."""
    try:
        with Path(path).open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    data = json.loads(line)
                    return isinstance(data, dict) and "schema" in data
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return False


def read_json(path: str | Path) -> Any:
    """Read a JSON document, or raise an error naming the file and line that is wrong."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("no such file", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=path) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"not valid JSON ({exc.msg} at column {exc.colno})", path=path, line=exc.lineno
        ) from None


class RecordAppender(Generic[R]):
    """Append records to a JSON Lines file one at a time, so that a stage can resume.

    On opening, the records already in the file are read (a torn last line from a crash is cut
    off) and their keys remembered: ``append`` of a key that is done returns ``False`` and writes
    nothing. Each appended line is flushed and fsynced before ``append`` returns.

    >>> with RecordAppender("samples.jsonl", SampleRecord) as out:  # doctest: +SKIP
    ...     if not out.has(sample.id):
    ...         out.append(sample)
    """

    def __init__(self, path: str | Path, cls: type[R], *, sync: bool = True) -> None:
        self.path = Path(path)
        self.cls = cls
        self.sync = sync
        self.records: list[R] = []
        self.keys: set[str] = set()
        self._handle = None

    def __enter__(self) -> RecordAppender[R]:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self._recover()
        self._handle = self.path.open("a", encoding="utf-8")

    def _recover(self) -> None:
        raw = self.path.read_bytes()
        good_end = len(raw)
        if raw and not raw.endswith(b"\n"):
            # The last line was being written when the process died: keep it only if it is whole.
            last_start = raw.rfind(b"\n") + 1
            try:
                json.loads(raw[last_start:])
                raw += b"\n"
                with self.path.open("ab") as handle:
                    handle.write(b"\n")
            except json.JSONDecodeError:
                good_end = last_start
                with self.path.open("r+b") as handle:
                    handle.truncate(good_end)
                raw = raw[:good_end]
        for lineno, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
            if line.strip():
                record = parse_record(line, self.cls, self.path, lineno)
                if record.record_key() not in self.keys:
                    self.records.append(record)
                    self.keys.add(record.record_key())

    def open_and_close(self) -> list[R]:
        """Repair the file (cut a torn last line) and return its records, appending nothing."""
        self.open()
        self.close()
        return self.records

    def has(self, key: str) -> bool:
        return key in self.keys

    def append(self, record: R) -> bool:
        if self._handle is None:
            raise RuntimeError("RecordAppender is not open")
        key = record.record_key()
        if key in self.keys:
            return False
        self._handle.write(record.to_json() + "\n")
        self._handle.flush()
        if self.sync:
            os.fsync(self._handle.fileno())
        self.records.append(record)
        self.keys.add(key)
        return True

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def resolve_path(record_path: str, base: str | Path) -> Path:
    """The audio file a record names: absolute as given, or relative to ``base`` (its file's folder)."""
    p = Path(record_path)
    return p if p.is_absolute() else Path(base) / p


def store_path(path: str | Path, base: str | Path) -> str:
    """How a file in folder ``base`` names ``path``, so that :func:`resolve_path` finds it again.

    ``path`` and ``base`` are as this process sees them: absolute, or relative to its working
    folder, which a record must never depend on (another command, run from another folder, reads
    it). The result is relative to ``base`` (climbing with ``..`` when it must: a run's rewards file
    names the clips of a sibling folder, and both move with the run folder), in ``/`` form; absolute
    only when no relative path exists (another drive). The folders on both sides are resolved
    first, so that ``..`` climbs where the file system will; a symlinked file keeps its own name.
    """
    absolute = Path(path).absolute()  # '..' left for resolve(), which climbs where the file system does
    target = absolute.parent.resolve() / absolute.name
    try:
        return Path(os.path.relpath(target, Path(base).resolve())).as_posix()
    except ValueError:  # Windows: no relative path from one drive to another
        return target.as_posix()


@contextmanager
def folder_written_whole(final: str | Path) -> Iterator[Path]:
    """A hidden folder beside ``final`` to write its files into, renamed over ``final`` when the block
    ends without error (and removed when it fails): a reader, or a run resumed after a kill, finds the
    old folder or the whole new one, never half of one. Checkpoints are written this way."""
    final = Path(final)
    partial = final.with_name(f".{final.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        partial.mkdir(parents=True)
    except OSError as exc:  # named by the folder the user asked for, not the hidden one
        raise OSError(exc.errno, exc.strerror, str(final)) from None
    try:
        yield partial
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)


def step_folders(root: str | Path, marker: str) -> list[Path]:
    """The ``step-N`` folders in ``root`` that hold ``marker`` (a file written last), oldest first."""
    root = Path(root)
    found = [p for p in root.glob("step-*") if (p / marker).is_file()] if root.is_dir() else []
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))
