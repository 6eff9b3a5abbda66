"""``baton data import`` and ``baton data export``: the Python API over the formats of this package.

>>> from baton.interchange.run import ImportConfig, run_import  # doctest: +SKIP
>>> run_import(ImportConfig(input="2label_HA.json", out="labels.jsonl")).summary()  # doctest: +SKIP
'1094 labels over 220 prompts (686 ones, 408 zeros) from 2label_HA.json -> labels.jsonl'

The format modules are imported inside the functions, so that the command line starts fast.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from baton.config import documented, option
from baton.errors import InputError

if TYPE_CHECKING:
    from baton.artifacts import Record
    from baton.interchange.tango import TangoFile

FORMATS = ("tango", "audiofolder", "label-studio", "audio-alpaca")
KINDS = ("labels", "rewards", "samples", "pairs")
RECORD_KINDS = {"label": "labels", "reward": "rewards", "sample": "samples", "pair": "pairs"}


@documented
@dataclass
class ImportConfig:
    input: Path | None = option(
        None,
        "The file to import: a Tango/BATON JSON file, an audiofolder, a Label Studio JSON export, or "
        "Audio-Alpaca preference pairs (JSON Lines of prompt, chosen, rejected).",
    )
    out: Path | None = option(
        None, "The baton records file to write (JSON Lines of labels, rewards, samples or pairs)."
    )
    format: str | None = option(
        None,
        "tango, audiofolder, label-studio or audio-alpaca (default: a folder is an audiofolder, a JSON "
        "array of tasks with 'data' is Label Studio, rows with 'chosen' and 'rejected' Audio-Alpaca, "
        "anything else Tango).",
    )
    kind: str | None = option(
        None,
        "The records to write: labels, rewards or samples (default: labels for feedback and ratings, "
        "rewards for SED and pre_score scores, from the columns of an audiofolder).",
    )
    task: str | None = option(
        None,
        "The task of every clip: integrity, temporal or single (default: 2label/3label in the dataset or file name).",
    )
    audio_prefix: str | None = option(
        None, "Label Studio: the prefix in front of the audio paths (as given on export), removed on import."
    )


@documented
@dataclass
class ExportConfig:
    input: Path | None = option(
        None, "The baton records file to export: labels, rewards or samples; or pairs (to audio-alpaca)."
    )
    out: Path | None = option(
        None,
        "Where to write: a JSON Lines file (tango), a folder (audiofolder) or a JSON task list (label-studio,"
        " with label_config.xml, the labelling interface, beside it).",
    )
    format: str | None = option(
        None,
        "tango, audiofolder or label-studio; audio-alpaca for pairs (Tango 2's prompt, chosen, rejected).",
    )
    soft: bool = option(
        False, "Tango: write each label's mean vote as its feedback instead of the majority label."
    )
    dataset: str | None = option(
        None,
        "Tango: the 'dataset' of every row (default: a label's single annotator, a reward's model, a "
        "sample's backend, else 'baton').",
    )
    copy_audio: bool = option(
        False,
        "audiofolder: hard-link (or copy) the clips into OUT/audio/ so the folder stands alone; by default "
        "file_name points at the existing files, relative to OUT.",
    )
    audio_prefix: str | None = option(
        None,
        "Label Studio: put this in front of each audio path, e.g. '/data/local-files/?d=' or 'https://host/'.",
    )
    votes: bool = option(True, "Label Studio: include the labels' votes as annotations.")


@dataclass
class ImportResult:
    kind: str
    records: list[Record]
    input: Path
    out: Path
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: how many records, over how many prompts, the split of labels, and warnings."""
        prompts = len({r.prompt_id for r in self.records})  # type: ignore[attr-defined]
        detail = ""
        if self.kind == "labels":
            ones = sum(r.label == 1 for r in self.records)  # type: ignore[attr-defined]
            zeros = sum(r.label == 0 for r in self.records)  # type: ignore[attr-defined]
            ties = len(self.records) - ones - zeros
            detail = f" ({ones} ones, {zeros} zeros{f', {ties} ties' if ties else ''})"
        elif self.kind == "rewards":
            high = sum(r.probability >= 0.5 for r in self.records)  # type: ignore[attr-defined]
            detail = f" ({high} with probability >= 0.5, {len(self.records) - high} below)"
        elif self.kind == "pairs":
            decided = sum(r.decided for r in self.records)  # type: ignore[attr-defined]
            detail = f" ({decided} decided, {len(self.records) - decided} undecided)"
        line = (
            f"{len(self.records)} {self.kind} over {prompts} prompts{detail} from {self.input} -> {self.out}"
        )
        if self.warnings:
            line += f"; {len(self.warnings)} warning{'s' if len(self.warnings) > 1 else ''}"
        return line


@dataclass
class ExportResult:
    kind: str
    count: int
    input: Path
    out: Path
    format: str
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        line = f"{self.count} {self.kind} from {self.input} -> {self.out} ({self.format})"
        if self.format == "label-studio":
            # imported when used: the command line imports this module at start-up
            from baton.interchange.label_studio import CONFIG_FILE

            line += f", its labelling interface -> {self.out.parent / CONFIG_FILE}"
        if self.warnings:
            line += f"; {len(self.warnings)} warning{'s' if len(self.warnings) > 1 else ''}"
        return line


# --- import --------------------------------------------------------------------------------------


def run_import(config: ImportConfig) -> ImportResult:
    """Read ``config.input`` in its format and write baton records to ``config.out``."""
    # imported when used: the command line imports this module at start-up
    from baton.artifacts import TASKS, write_records
    from baton.interchange.common import Notes

    source = _required(config.input, "input")
    out = _required(config.out, "out")
    _one_of(config.kind, KINDS, "kind")
    _one_of(config.task, TASKS, "task")
    fmt = config.format or guess_format(source)
    _one_of(fmt, FORMATS, "format")
    if not source.exists():
        raise InputError("no such file or folder", path=source)

    notes = Notes()
    if fmt == "audio-alpaca" or config.kind == "pairs":
        # imported when used: the command line imports this module at start-up
        from baton.interchange.alpaca import read_alpaca

        if fmt != "audio-alpaca" or config.kind not in (None, "pairs"):
            raise InputError(
                "pairs are read from Audio-Alpaca files only (--format audio-alpaca)", field="kind"
            )
        kind, records = "pairs", read_alpaca(source, out_dir=out.parent)
    elif fmt == "tango":
        # imported when used: the command line imports this module at start-up
        from baton.interchange.tango import read_tango_file

        tango = read_tango_file(source, notes)
        kind = config.kind or default_kind(tango)
        records = _tango_records(tango, kind, config.task)
    elif fmt == "audiofolder":
        # imported when used: the command line imports this module at start-up
        from baton.interchange.audiofolder import read_audiofolder

        kind, records = read_audiofolder(
            source, out_dir=out.parent, kind=config.kind, task=config.task, notes=notes
        )
    else:
        # imported when used: the command line imports this module at start-up
        from baton.interchange.label_studio import read_label_studio

        kind, records = read_label_studio(
            source,
            out_dir=out.parent,
            kind=config.kind,
            task=config.task,
            audio_prefix=config.audio_prefix,
            notes=notes,
        )
    write_records(out, records)
    return ImportResult(kind=kind, records=records, input=source, out=out, warnings=notes.messages)


def default_kind(tango: TangoFile) -> str:
    """Labels for human feedback and ratings, rewards for a reward model's scores."""
    if tango.value_kind in ("feedback", "rating"):
        return "labels"
    if tango.value_kind in ("sed", "pre_score"):
        return "rewards"
    raise InputError(
        "holds captions without feedback or scores: for prompts use `baton prompts --from-captions`; "
        "to import the clips as samples pass --kind samples",
        path=tango.path,
    )


def _tango_records(tango: TangoFile, kind: str, task: str | None) -> list[Any]:
    # imported when used: the command line imports this module at start-up
    from baton.interchange.tango import tango_to_labels, tango_to_rewards, tango_to_samples

    if kind == "labels":
        return tango_to_labels(tango, task=task)
    if kind == "rewards":
        return tango_to_rewards(tango, task=task)
    return tango_to_samples(tango, task=task)


def guess_format(path: Path) -> str:
    """A folder (or its metadata.jsonl) is an audiofolder; a JSON array of ``{"data": ...}`` tasks is
    a Label Studio export; JSON Lines whose first row has ``chosen`` and ``rejected`` (or ``reject``)
    Audio-Alpaca pairs; anything else is read as Tango."""
    if path.is_dir() or path.name == "metadata.jsonl":
        return "audiofolder"
    try:
        with path.open(encoding="utf-8") as handle:
            head = handle.read(4096).lstrip("\ufeff \t\r\n")
        if head.startswith("["):
            doc = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(doc, list) and doc and isinstance(doc[0], dict) and "data" in doc[0]:
                return "label-studio"
        elif head.startswith("{"):
            first = json.loads(head.split("\n", 1)[0])
            if isinstance(first, dict) and "chosen" in first and ({"rejected", "reject"} & set(first)):
                return "audio-alpaca"
    except (OSError, UnicodeDecodeError, ValueError):
        pass  # the reader of the chosen format reports the problem, with its line
    return "tango"


# --- export --------------------------------------------------------------------------------------


def run_export(config: ExportConfig) -> ExportResult:
    """Read baton labels, rewards or samples from ``config.input`` and write them in ``config.format``."""
    # imported when used: the command line imports this module at start-up
    from baton.interchange.common import Notes

    source = _required(config.input, "input")
    out = _required(config.out, "out")
    fmt = _required(config.format, "format")
    _one_of(fmt, FORMATS, "format")
    kind, records = read_any_records(source)
    if (kind == "pairs") != (fmt == "audio-alpaca"):
        raise InputError(
            "pairs export to audio-alpaca only"
            if kind == "pairs"
            else f"audio-alpaca takes pairs, not {kind}",
            path=source,
            field="format",
        )

    notes = Notes()
    if fmt == "audio-alpaca":
        # imported when used: the command line imports this module at start-up
        from baton.interchange.alpaca import write_alpaca

        count = write_alpaca(out, records, records_dir=source.parent, notes=notes)  # type: ignore[arg-type]
    elif fmt == "tango":
        # imported when used: the command line imports this module at start-up
        from baton.interchange.tango import write_tango

        count = write_tango(
            out, records, records_dir=source.parent, soft=config.soft, dataset=config.dataset, notes=notes
        )
    elif fmt == "audiofolder":
        # imported when used: the command line imports this module at start-up
        from baton.interchange.audiofolder import write_audiofolder

        count = write_audiofolder(out, records, records_path=source, copy_audio=config.copy_audio)
    else:
        # imported when used: the command line imports this module at start-up
        from baton.interchange.label_studio import write_label_studio

        count = write_label_studio(
            out, records, records_path=source, audio_prefix=config.audio_prefix, with_votes=config.votes
        )
    return ExportResult(kind=kind, count=count, input=source, out=out, format=fmt, warnings=notes.messages)


def read_any_records(path: Path) -> tuple[str, list[Record]]:
    """The records of a labels, rewards or samples file, whichever it holds (from its first line's schema)."""
    # imported when used: the command line imports this module at start-up
    from baton.artifacts import RECORD_TYPES, read_records

    try:
        with path.open(encoding="utf-8") as handle:
            first = next(((n, line) for n, line in enumerate(handle, start=1) if line.strip()), None)
    except FileNotFoundError:
        raise InputError("no such file", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=path) from None
    if first is None:
        raise InputError("the file holds no records", path=path)
    lineno, line = first
    try:
        tag = json.loads(line).get("schema")
    except (ValueError, AttributeError):
        raise InputError(
            "not a baton records file (JSON Lines with a 'schema' on each line)", path=path, line=lineno
        ) from None
    kind = str(tag).partition("/")[0] if tag else None
    if kind not in RECORD_KINDS:
        raise InputError(
            f"export takes labels, rewards, samples or pairs; this line's schema is {tag!r}",
            path=path,
            line=lineno,
            field="schema",
        )
    return RECORD_KINDS[kind], read_records(path, RECORD_TYPES[kind], allow_empty=False)


def _required(value: Any, name: str) -> Any:
    if value is None:
        hint = "give the file to read" if name == "input" else f"choose it with --{name}"
        raise InputError(f"missing: {hint}", field=name)
    return value


def _one_of(value: str | None, choices: tuple[str, ...], name: str) -> None:
    if value is not None and value not in choices:
        raise InputError(f"must be one of {', '.join(choices)}, got '{value}'", field=name)
