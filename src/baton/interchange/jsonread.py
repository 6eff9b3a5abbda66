"""Reading other tools' JSON so that every error can name the file and the line.

``json.loads`` forgets where a value was. :func:`load_located` parses a whole JSON document and
keeps, for every array item and every object key, the line it starts on (``LocatedList.lines``,
``LocatedDict.lines``). :func:`read_json_lines` reads JSON Lines, one object a line, and accepts
the shape of ``test_audiocaps_subset.json`` in Tango's data folder: rows of a JSON array written
one a line, each ending in ``},``, without the brackets. It reads those rows but says so.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass, field
from json.decoder import scanstring
from pathlib import Path
from typing import Any

from baton.errors import InputError

_WHITESPACE = " \t\n\r"


class LocatedList(list):
    """A JSON array; ``lines[i]`` is the line where item ``i`` starts."""

    lines: list[int]


class LocatedDict(dict):
    """A JSON object; ``lines[key]`` is the line of ``key``; ``line`` is where the ``{`` is."""

    lines: dict[str, int]
    line: int


def read_text(path: str | Path) -> str:
    """A file's text (UTF-8, a leading byte-order mark dropped), or an error naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("no such file", path=path) from None
    except IsADirectoryError:
        raise InputError("is a folder, not a file", path=path) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=path) from None
    return text.removeprefix("\ufeff")


def load_located(text: str, path: str | Path) -> Any:
    """Parse a JSON document; arrays and objects come back as :class:`LocatedList` / :class:`LocatedDict`."""
    newlines = [i for i, ch in enumerate(text) if ch == "\n"]
    decoder = json.JSONDecoder()

    def line_at(pos: int) -> int:
        return bisect.bisect_left(newlines, pos) + 1

    def fail(message: str, pos: int) -> InputError:
        return InputError(f"not valid JSON ({message})", path=path, line=line_at(pos))

    def skip(pos: int) -> int:
        while pos < len(text) and text[pos] in _WHITESPACE:
            pos += 1
        return pos

    def parse_value(pos: int) -> tuple[Any, int]:
        pos = skip(pos)
        if pos >= len(text):
            raise fail("the document ends early", pos)
        if text[pos] == "{":
            return parse_object(pos)
        if text[pos] == "[":
            return parse_array(pos)
        try:
            return decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise fail(exc.msg, exc.pos) from None

    def parse_array(pos: int) -> tuple[LocatedList, int]:
        items, lines = LocatedList(), []
        pos = skip(pos + 1)
        if text[pos : pos + 1] == "]":
            items.lines = lines
            return items, pos + 1
        while True:
            start = skip(pos)
            value, pos = parse_value(start)
            items.append(value)
            lines.append(line_at(start))
            pos = skip(pos)
            if text[pos : pos + 1] == ",":
                pos += 1
            elif text[pos : pos + 1] == "]":
                items.lines = lines
                return items, pos + 1
            else:
                raise fail("expected ',' or ']' after an array item", pos)

    def parse_object(pos: int) -> tuple[LocatedDict, int]:
        obj, lines = LocatedDict(), {}
        obj.line = line_at(pos)
        pos = skip(pos + 1)
        if text[pos : pos + 1] == "}":
            obj.lines = lines
            return obj, pos + 1
        while True:
            pos = skip(pos)
            if text[pos : pos + 1] != '"':
                raise fail("expected a property name in double quotes", pos)
            key_line = line_at(pos)
            try:
                key, pos = scanstring(text, pos + 1)
            except json.JSONDecodeError as exc:
                raise fail(exc.msg, exc.pos) from None
            pos = skip(pos)
            if text[pos : pos + 1] != ":":
                raise fail("expected ':' after a property name", pos)
            value, pos = parse_value(pos + 1)
            obj[key] = value
            lines[key] = key_line
            pos = skip(pos)
            if text[pos : pos + 1] == ",":
                pos += 1
            elif text[pos : pos + 1] == "}":
                obj.lines = lines
                return obj, pos + 1
            else:
                raise fail("expected ',' or '}' after a property", pos)

    value, end = parse_value(0)
    if skip(end) != len(text):
        raise fail("extra data after the document", skip(end))
    return value


@dataclass
class JsonLines:
    """The objects of a JSON Lines file with their line numbers."""

    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    trailing_commas: int = 0  # lines read after dropping a final ',' (a JSON array without brackets)


def read_json_lines(text: str, path: str | Path) -> JsonLines:
    """Every non-blank line as a JSON object; an error names the line that is not one."""
    out = JsonLines()
    # Split on "\n" only: str.splitlines() would also split inside a caption at U+2028 and friends.
    for lineno, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError as exc:
            value = _without_trailing_comma(stripped)
            if value is None:
                raise InputError(
                    f"not valid JSON ({exc.msg} at column {exc.colno})", path=path, line=lineno
                ) from None
            out.trailing_commas += 1
        if not isinstance(value, dict):
            raise InputError(f"a row must be a JSON object, not {_json_type(value)}", path=path, line=lineno)
        out.rows.append((lineno, value))
    return out


def _without_trailing_comma(line: str) -> Any:
    if not line.endswith(","):
        return None
    try:
        return json.loads(line[:-1])
    except json.JSONDecodeError:
        return None


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "null"
    return "an object"
