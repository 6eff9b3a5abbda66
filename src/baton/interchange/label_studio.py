"""Label Studio: a task list to label the clips, and its JSON export read back as votes.

Export writes a JSON task list that Label Studio imports (Basic Label Studio JSON format), and
``label_config.xml`` beside it: paste that into the project's labelling interface. Each task is::

    {"id": 1, "data": {"audio": "audio/0088-0.wav", "text": "<caption>", "prompt_id": "0088",
                       "sample_id": "0088-0", "task": "integrity"},
     "annotations": [...]}          # labels only: their votes, see below

``data.audio`` must be a URL Label Studio can play. By default it is the clip's path relative to the
task file's folder; ``audio_prefix`` is put in front of it (e.g. ``/data/local-files/?d=clips/`` for
Label Studio's local file serving, or ``https://host/clips/``). URLs are kept as they are.

A label's votes go into ``annotations`` (one per vote, ``Yes`` = 1, ``No`` = 0, ``lead_time`` = the
seconds it took), so labels already collected can be reviewed there. Label Studio assigns an imported
annotation to ``completed_by``: a user id (an integer) or ``{"email": ...}`` of a project member,
which is how an annotator name is written (digits as an id, anything else as an email); where the
annotators are not project members, export without votes (``--no-votes``). Votes that are not 0 or
1 cannot be a Yes/No choice and are refused. A reward becomes a ``prediction`` (``score`` = the
probability, ``Yes`` when it is at least 0.5), shown to annotators as a pre-annotation.

Import reads Label Studio's JSON export (a list of tasks with ``annotations``; ``completions`` in
versions before 1.0): every annotation that was not cancelled and has a ``match`` choice becomes a
vote, annotator = ``completed_by`` (an id, or the email when the export gives the user), seconds =
``lead_time``; all annotators of a task are kept. Tasks without such a vote are left out, with a
warning.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote

from baton.artifacts import LabelRecord, Record, RewardRecord, SampleRecord, Vote, atomic_write_text
from baton.errors import InputError
from baton.interchange.baton_names import try_parse_baton_filename
from baton.interchange.common import Notes, UniqueClips, build_record, is_url, rebase_path, resolve_clip
from baton.interchange.jsonread import LocatedDict, LocatedList, load_located, read_text

CONFIG_FILE = "label_config.xml"
CHOICES_NAME = "match"  # the <Choices name> whose answer is the vote
AUDIO_NAME = "audio"
CHOICE_VALUES = {"Yes": 1.0, "No": 0.0}
DEFAULT_ANNOTATOR = "label-studio"

LABEL_CONFIG = f"""<View>
  <Header value="Does the clip contain every sound the text names (and, for a sequence, in that order)?"/>
  <Audio name="{AUDIO_NAME}" value="$audio"/>
  <Text name="text" value="$text"/>
  <Choices name="{CHOICES_NAME}" toName="{AUDIO_NAME}" choice="single" showInline="true" required="true">
    <Choice value="Yes"/>
    <Choice value="No"/>
  </Choices>
</View>
"""


# --- export --------------------------------------------------------------------------------------


def write_label_studio(
    path: str | Path,
    records: Sequence[Record],
    *,
    records_path: str | Path,
    audio_prefix: str | None = None,
    with_votes: bool = True,
) -> int:
    """Write the task list to ``path`` and ``label_config.xml`` beside it; returns the task count."""
    path = Path(path)
    records_path = Path(records_path)
    tasks = []
    for number, record in enumerate(records, start=1):
        sample_id = record.record_key()
        audio = getattr(record, "path", None)
        if not audio:
            raise InputError(
                f"clip '{sample_id}' has no audio path, and Label Studio needs one to play it",
                path=records_path,
                field="path",
            )
        if not is_url(audio):
            audio = rebase_path(audio, records_path.parent, path.parent)
            if audio_prefix:
                audio = audio_prefix + audio
        data: dict[str, Any] = {
            "audio": audio,
            "text": record.text,  # type: ignore[attr-defined]
            "prompt_id": record.prompt_id,  # type: ignore[attr-defined]
            "sample_id": sample_id,
            "task": record.task,  # type: ignore[attr-defined]
        }
        index = getattr(record, "index", None)
        if index is not None:
            data["index"] = index
        if record.events:  # type: ignore[attr-defined]
            data["events"] = record.events  # type: ignore[attr-defined]
        task: dict[str, Any] = {"id": number, "data": data}
        if isinstance(record, LabelRecord) and with_votes:
            task["annotations"] = [_annotation(vote, sample_id, records_path) for vote in record.votes]
        elif isinstance(record, RewardRecord):
            task["predictions"] = [
                {
                    "model_version": record.model,
                    "score": record.probability,
                    "result": [_choice_result("Yes" if record.probability >= 0.5 else "No")],
                }
            ]
        elif not isinstance(record, (LabelRecord, SampleRecord)):
            raise TypeError(f"cannot write a {type(record).__name__} as a Label Studio task")
        tasks.append(task)
    atomic_write_text(path, json.dumps(tasks, indent=2, ensure_ascii=False) + "\n")
    atomic_write_text(path.parent / CONFIG_FILE, LABEL_CONFIG)
    return len(tasks)


def _annotation(vote: Vote, sample_id: str, records_path: Path) -> dict[str, Any]:
    choice = {1.0: "Yes", 0.0: "No"}.get(vote.value)
    if choice is None:
        raise InputError(
            f"clip '{sample_id}' has a vote of {vote.value}, which is not a Yes/No choice; "
            "export without votes (--no-votes)",
            path=records_path,
            field="votes",
        )
    annotation: dict[str, Any] = {
        "result": [_choice_result(choice)],
        "was_cancelled": False,
        "ground_truth": False,
        "completed_by": int(vote.annotator) if vote.annotator.isdigit() else {"email": vote.annotator},
    }
    if vote.seconds is not None:
        annotation["lead_time"] = vote.seconds
    if vote.created_at is not None:
        annotation["created_at"] = vote.created_at
    return annotation


def _choice_result(choice: str) -> dict[str, Any]:
    return {
        "from_name": CHOICES_NAME,
        "to_name": AUDIO_NAME,
        "type": "choices",
        "value": {"choices": [choice]},
    }


# --- import --------------------------------------------------------------------------------------


def read_label_studio(
    path: str | Path,
    *,
    out_dir: str | Path,
    kind: str | None = None,
    task: str | None = None,
    audio_prefix: str | None = None,
    notes: Notes | None = None,
) -> tuple[str, list[Record]]:
    """Label Studio's JSON export as labels (or, with ``kind="samples"``, the tasks as samples)."""
    path = Path(path)
    notes = notes if notes is not None else Notes()
    kind = kind or "labels"
    if kind not in ("labels", "samples"):
        raise InputError(f"a Label Studio export holds votes, not {kind}", field="kind")
    doc = load_located(read_text(path), path)
    if not isinstance(doc, LocatedList):
        raise InputError("a Label Studio export is a JSON array of tasks", path=path, line=1)

    unique = UniqueClips(path)
    per_caption: Counter[str] = Counter()
    records: list[Record] = []
    no_votes, cancelled, no_choice = 0, 0, 0
    for item, line in zip(doc, doc.lines, strict=True):
        if not isinstance(item, LocatedDict) or not isinstance(item.get("data"), LocatedDict):
            raise InputError(
                "a task must be an object with a 'data' object", path=path, line=line, field="data"
            )
        data = item["data"]
        audio = data.get(AUDIO_NAME)
        if audio is not None and not isinstance(audio, str):
            raise InputError(
                "must be a string (the clip's URL or path)",
                path=path,
                line=_line(data, AUDIO_NAME),
                field="data.audio",
            )
        file_name = unquote(PurePosixPath(audio.split("?d=")[-1]).name) if audio else None
        text = _text(data, file_name, path)
        given = {key: data.get(key) for key in ("sample_id", "prompt_id", "index")}
        clip = resolve_clip(file_name, text, given, per_caption[text])
        per_caption[text] += 1
        unique.add(clip.sample_id, line)
        common = {
            "prompt_id": clip.prompt_id,
            "text": text,
            "events": data.get("events") or [],
            "task": task or data.get("task"),
            "path": _record_path(audio, audio_prefix, path.parent, out_dir),
            "index": clip.index,
        }
        if kind == "samples":
            if common["path"] is None:
                raise InputError("a sample needs the clip's audio", path=path, line=line, field="data.audio")
            records.append(build_record(SampleRecord, path, line, "data.", id=clip.sample_id, **common))
            continue

        votes = []
        annotations = item.get("annotations", item.get("completions"))  # "completions" before 1.0
        if annotations is None:
            annotations = LocatedList()
            annotations.lines = []
        if not isinstance(annotations, LocatedList):
            raise InputError("must be a list of annotations", path=path, line=line, field="annotations")
        for annotation, annotation_line in zip(annotations, annotations.lines, strict=True):
            if not isinstance(annotation, LocatedDict):
                raise InputError(
                    "an annotation must be an object", path=path, line=annotation_line, field="annotations"
                )
            if annotation.get("was_cancelled"):
                cancelled += 1
                continue
            value = _choice(annotation, path, annotation_line)
            if value is None:
                no_choice += 1
                continue
            votes.append(_vote(annotation, value, path, annotation_line))
        if not votes:
            no_votes += 1
            continue
        records.append(
            build_record(
                LabelRecord.from_votes, path, line, "data.", votes=votes, sample_id=clip.sample_id, **common
            )
        )

    if cancelled:
        notes.warn(f"{path}: {cancelled} cancelled (skipped) annotations were left out")
    if no_choice:
        notes.warn(f"{path}: {no_choice} annotations have no '{CHOICES_NAME}' choice and were left out")
    if no_votes:
        notes.warn(f"{path}: {no_votes} of {len(doc)} tasks have no vote yet and were left out")
    if not records:
        raise InputError("no task has a vote", path=path)
    return kind, records


def _line(obj: LocatedDict, key: str) -> int:
    return obj.lines.get(key, obj.line)


def _text(data: LocatedDict, file_name: str | None, path: Path) -> str:
    for key in ("text", "captions", "caption"):
        value = data.get(key)
        if value is not None:
            if not isinstance(value, str) or not value.strip():
                raise InputError(
                    "must be a non-empty string", path=path, line=_line(data, key), field=f"data.{key}"
                )
            return value
    clip = try_parse_baton_filename(file_name)
    if clip is None:
        raise InputError(
            "required field is missing (the clip's caption)", path=path, line=data.line, field="data.text"
        )
    return clip.caption


def _record_path(
    audio: str | None, audio_prefix: str | None, from_dir: Path, out_dir: str | Path
) -> str | None:
    """Undo the export's prefix, then rebase a relative path; URLs and absolute paths are kept."""
    if not audio:
        return None
    if audio_prefix and audio.startswith(audio_prefix):
        audio = audio[len(audio_prefix) :]
    return rebase_path(audio, from_dir, out_dir)


def _choice(annotation: LocatedDict, path: Path, line: int) -> float | None:
    """The annotation's Yes/No as 1/0, or ``None`` when it has no ``match`` choice."""
    results = annotation.get("result") or []
    if not isinstance(results, list):
        raise InputError("must be a list of results", path=path, line=line, field="annotations.result")
    for result in results:
        if (
            not isinstance(result, dict)
            or result.get("from_name") != CHOICES_NAME
            or result.get("type") != "choices"
        ):
            continue
        choices = (result.get("value") or {}).get("choices")
        if not isinstance(choices, list) or len(choices) != 1 or choices[0] not in CHOICE_VALUES:
            raise InputError(
                f"expected one of {' or '.join(CHOICE_VALUES)}, got {choices!r}",
                path=path,
                line=getattr(result, "line", line),
                field="annotations.result.value.choices",
            )
        return CHOICE_VALUES[choices[0]]
    return None


def _vote(annotation: LocatedDict, value: float, path: Path, line: int) -> Vote:
    lead_time = annotation.get("lead_time")
    seconds = (
        float(lead_time) if isinstance(lead_time, (int, float)) and not isinstance(lead_time, bool) else None
    )
    created_at = annotation.get("created_at")
    return build_record(
        Vote,
        path,
        line,
        "annotations.",
        annotator=_annotator(annotation.get("completed_by")),
        value=value,
        seconds=seconds if seconds is not None and seconds >= 0 else None,
        created_at=created_at if isinstance(created_at, str) else None,
    )


def _annotator(completed_by: Any) -> str:
    """Label Studio names the annotator by user id, or by a user object in some exports."""
    if isinstance(completed_by, dict):
        completed_by = completed_by.get("email") or completed_by.get("id")
    if completed_by is None or completed_by == "":
        return DEFAULT_ANNOTATOR
    return str(completed_by)
