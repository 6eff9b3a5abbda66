"""Event vocabularies: the sound events prompts are made of, each with ways to say it.

A vocabulary is a YAML file::

    name: audiocaps200
    description: ...
    events:
      - id: dog_bark            # unique snake_case id
        category: animals       # optional
        clauses: ["a dog barks", "a dog is barking"]   # short present-tense clauses
        nouns: ["a dog barking", "the bark of a dog"]   # noun phrases

Clauses fill slots such as "X, and then Y" ("a dog barks, and then ..."); noun phrases fill slots
such as "followed by Y" ("... followed by the bark of a dog"). Phrasings are lower case (the
sentence is capitalised when it is composed) and carry no final punctuation.

A built-in name (``audiocaps200``, ``world``) resolves to ``baton/prompts/vocabularies/<name>.yaml``
inside the package; anything else is read as a file path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from baton.errors import InputError

ID_PATTERN = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
EVENT_KEYS = ("id", "category", "clauses", "nouns")
TOP_KEYS = ("name", "description", "events")
_FINAL_PUNCTUATION = ".,;:!?"


@dataclass(frozen=True)
class VocabEvent:
    """One sound event and its phrasings: ``clauses`` ("a dog barks"), ``nouns`` ("a dog barking")."""

    id: str
    clauses: tuple[str, ...]
    nouns: tuple[str, ...]
    category: str | None = None


@dataclass(frozen=True)
class Vocabulary:
    """A named list of sound events; ``path`` is the file it was read from."""

    name: str
    events: tuple[VocabEvent, ...]
    description: str = ""
    path: str | None = field(default=None, compare=False)

    def __len__(self) -> int:
        return len(self.events)

    @property
    def ids(self) -> list[str]:
        return [event.id for event in self.events]

    def get(self, event_id: str) -> VocabEvent:
        """The event with this id (``KeyError`` naming the vocabulary if there is none)."""
        for event in self.events:
            if event.id == event_id:
                return event
        raise KeyError(f"vocabulary {self.name!r} has no event {event_id!r}")


# --- finding vocabularies ------------------------------------------------------------------------


def _builtin_folder() -> Any:
    return resources.files("baton.prompts").joinpath("vocabularies")


def list_vocabularies() -> list[str]:
    """The names of the vocabularies shipped with baton, sorted."""
    folder = _builtin_folder()
    if not folder.is_dir():
        return []
    return sorted(entry.name[: -len(".yaml")] for entry in folder.iterdir() if entry.name.endswith(".yaml"))


def load_vocabulary(name_or_path: str | Path) -> Vocabulary:
    """Load a built-in vocabulary by name, or a vocabulary YAML file by path, and validate it."""
    text_name = str(name_or_path)
    if isinstance(name_or_path, str) and re.fullmatch(r"[A-Za-z0-9_\-]+", text_name):
        entry = _builtin_folder().joinpath(f"{text_name}.yaml")
        if entry.is_file():
            return parse_vocabulary(entry.read_text(encoding="utf-8"), f"<built-in vocabulary {text_name}>")
        if not Path(text_name).exists():
            known = ", ".join(list_vocabularies()) or "none"
            raise InputError(
                f"no built-in vocabulary or file named '{text_name}' (built-in: {known})", field="vocab"
            )
    path = Path(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("no such vocabulary file", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read vocabulary: {exc.strerror}", path=path) from None
    return parse_vocabulary(text, path)


# --- validation ----------------------------------------------------------------------------------


def parse_vocabulary(text: str, path: str | Path) -> Vocabulary:
    """Validate the YAML text of a vocabulary; errors name ``path``, the line and the field."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise InputError(f"not valid YAML: {getattr(exc, 'problem', exc)}", path=path, line=line) from None
    lines = _LineFinder(root)

    def fail(message: str, *keys: str | int) -> InputError:
        field_name = _field_name(keys) if keys else None
        return InputError(message, path=path, line=lines.find(keys), field=field_name)

    if not isinstance(data, dict):
        raise fail("a vocabulary must be a mapping with 'name', 'description' and 'events'")
    for key in data:
        if key not in TOP_KEYS:
            raise fail(f"unknown key (expected one of: {', '.join(TOP_KEYS)})", str(key))
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise fail("required: the vocabulary's name as a non-empty string", "name")
    description = data.get("description", "")
    if description is None:
        description = ""
    if not isinstance(description, str):
        raise fail("must be a string", "description")
    raw_events = data.get("events")
    if not isinstance(raw_events, list) or not raw_events:
        raise fail("required: a non-empty list of events", "events")

    events: list[VocabEvent] = []
    first_index: dict[str, int] = {}
    for index, raw in enumerate(raw_events):
        if not isinstance(raw, dict):
            raise fail("an event must be a mapping with 'id', 'clauses' and 'nouns'", "events", index)
        for key in raw:
            if key not in EVENT_KEYS:
                raise fail(
                    f"unknown key (expected one of: {', '.join(EVENT_KEYS)})", "events", index, str(key)
                )
        event_id = raw.get("id")
        if event_id is None:
            raise fail("required field is missing", "events", index, "id")
        if not isinstance(event_id, str) or not ID_PATTERN.fullmatch(event_id):
            raise fail(f"must be a snake_case id such as 'dog_bark', got {event_id!r}", "events", index, "id")
        if event_id in first_index:
            raise fail(
                f"duplicate id '{event_id}' (first at events[{first_index[event_id]}])", "events", index, "id"
            )
        first_index[event_id] = index
        category = raw.get("category")
        if category is not None and (not isinstance(category, str) or not category.strip()):
            raise fail("must be a non-empty string when given", "events", index, "category")
        phrasings = {}
        for kind in ("clauses", "nouns"):
            phrasings[kind] = _phrasings(
                raw, kind, lambda message, *keys, i=index: fail(message, "events", i, *keys)
            )
        events.append(VocabEvent(event_id, phrasings["clauses"], phrasings["nouns"], category))
    return Vocabulary(
        name=name.strip(), events=tuple(events), description=description.strip(), path=str(path)
    )


def _phrasings(raw: dict, kind: str, fail: Any) -> tuple[str, ...]:
    values = raw.get(kind)
    if values is None:
        raise fail("required field is missing", kind)
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list) or not values:
        raise fail("must be a non-empty list of phrases", kind)
    seen: set[str] = set()
    for number, value in enumerate(values):
        if not isinstance(value, str) or not value.strip():
            raise fail("empty phrasing: each entry must be a non-empty string", kind, number)
        if value != value.strip() or "  " in value:
            raise fail(f"stray whitespace in {value!r}", kind, number)
        if value[0].isupper():
            raise fail(
                f"must start in lower case (the sentence is capitalised for you): {value!r}", kind, number
            )
        if value[-1] in _FINAL_PUNCTUATION:
            raise fail(f"must not end with punctuation: {value!r}", kind, number)
        if value in seen:
            raise fail(f"repeated phrasing {value!r}", kind, number)
        seen.add(value)
    return tuple(values)


def _field_name(keys: tuple[str | int, ...]) -> str:
    out = ""
    for key in keys:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else key)
    return out


class _LineFinder:
    """Maps a path of keys (``("events", 3, "id")``) to its 1-based line in the YAML source."""

    def __init__(self, root: Any) -> None:
        self.root = root

    def find(self, keys: tuple[str | int, ...]) -> int | None:
        node = self.root
        if node is None:
            return None
        line = node.start_mark.line + 1
        for key in keys:
            child = None
            if isinstance(node, yaml.MappingNode):
                for key_node, value_node in node.value:
                    if key_node.value == key:
                        line = key_node.start_mark.line + 1
                        child = value_node
                        break
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
                child = node.value[key]
                line = child.start_mark.line + 1
            if child is None:
                return line
            node = child
        return line
