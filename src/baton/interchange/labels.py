"""One reader of human labels, whatever wrote them: baton's ``labels.jsonl`` (``baton annotate
export``), BATON's and Tango's files (JSON Lines with ``feedback``, the grouped ratings, the held-out
test files; :mod:`baton.interchange.tango`), or a Label Studio export
(:mod:`baton.interchange.label_studio`).

The reward model reads its training labels through :func:`read_labels`, and ``baton annotate
import`` the votes it adds to a database.
"""

from __future__ import annotations

from pathlib import Path

from baton.artifacts import LabelRecord, has_schema_line, read_records
from baton.errors import InputError
from baton.interchange.common import Notes
from baton.interchange.label_studio import read_label_studio
from baton.interchange.run import guess_format
from baton.interchange.tango import read_tango_file, tango_to_labels

LABEL_FORMATS = ("baton", "tango", "label-studio")


def read_labels(
    path: str | Path, *, format: str | None = None, task: str | None = None, notes: Notes | None = None
) -> list[LabelRecord]:
    """The label records of ``path``, in ``format`` (one of :data:`LABEL_FORMATS`; None: told from
    the file). ``task`` is the task of labels whose file does not say it."""
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", path=path)
    if not path.read_text(encoding="utf-8", errors="replace").strip():
        raise InputError("the labels file is empty", path=path)
    if format is None:
        format = "baton" if has_schema_line(path) else guess_format(path)
    if format not in LABEL_FORMATS:
        raise InputError(f"cannot read labels from a {format} file", path=path)
    notes = notes if notes is not None else Notes()
    if format == "baton":
        records = read_records(path, LabelRecord, allow_empty=False)
    elif format == "tango":
        records = tango_to_labels(read_tango_file(path, notes), task=task)
    else:
        _, records = read_label_studio(path, out_dir=path.parent, kind="labels", task=task, notes=notes)
    if not records:
        raise InputError("the labels file holds no labels", path=path)
    if task is not None:
        records = [r.model_copy(update={"task": r.task or task}) for r in records]
    return list(records)
