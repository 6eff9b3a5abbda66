"""Typed stage configs: a dataclass per stage, read from YAML, overridden by command-line flags.

Every stage declares its settings as a dataclass whose fields carry their help text::

    @dataclass
    class PromptsConfig:
        n: int = option(200, "How many prompts to write.")

``load_config(PromptsConfig, "prompts.yaml", {"n": 50})`` reads the file, applies the flags that were
given (``None`` means "not given"), and validates the result, naming the file and field that is wrong.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import inspect
import re
import textwrap
from pathlib import Path
from typing import Any, TypeVar

from baton.errors import InputError, UsageError

C = TypeVar("C")


def option(default: Any = dataclasses.MISSING, help: str = "", **kwargs: Any) -> Any:
    """A dataclass field with its help text kept in the field's metadata."""
    metadata = {"help": help}
    if isinstance(default, (list, dict, set)):
        value = default
        return dataclasses.field(default_factory=lambda: type(value)(value), metadata=metadata, **kwargs)
    return dataclasses.field(default=default, metadata=metadata, **kwargs)


def documented(cls: type[C]) -> type[C]:
    """Give a config dataclass a docstring that lists its settings, so that ``help(Config)`` shows them.

    Apply it above ``@dataclass``. The class's own docstring is kept and a "Settings" section is added:
    each field's name, type and default, with its help text as the command line shows it
    (:func:`field_help`). A class without a docstring of its own gets a one-line summary instead of
    the signature :func:`dataclasses.dataclass` writes.
    """
    doc = cls.__doc__ or ""
    if not doc or doc.startswith(f"{cls.__name__}("):  # dataclass's generated signature
        doc = f"The settings of ``{cls.__name__}``."
    lines = [inspect.cleandoc(doc), "", "Settings", "--------"]
    for f in dataclasses.fields(cls):
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", repr(f.type))
        head = f"{f.name} : {kind}"
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            head += " (required)"
        elif _shown_default(f) is None:  # a switch or None: field_help does not show it
            head += f" = {_default_value(f)!r}"
        lines.append(head)
        text = _help_of(f)
        if text:
            lines.append(textwrap.fill(text, 100, initial_indent="    ", subsequent_indent="    "))
    cls.__doc__ = "\n".join(lines) + "\n"
    return cls


def field_help(cls: type, name: str) -> str:
    """The help text of one config field, for the command line's ``--help``, with its choices and default.

    The commands pass ``None`` for a flag that was not given, so typer cannot show the default itself;
    it is taken from the field here. Switches (booleans), fields without a default and those whose
    default is ``None`` (their help says what happens then) show none.
    """
    return _help_of(_field(cls, name))


def _help_of(f: dataclasses.Field) -> str:
    notes = []
    choices = _choices(f)
    if choices:
        notes.append("one of: " + ", ".join(choices))
    shown = _shown_default(f)
    if shown is not None:
        notes.append(f"default: {shown}")
    text = f.metadata.get("help", "")
    return f"{text} ({'; '.join(notes)})" if notes else text


def renamed_option(value: Any, old_value: Any, *, old: str, new: str) -> Any:
    """The value of an option given by its name ``new``, or by its old name ``old`` with a warning
    that the old name will go (both given: ``new``'s value). For a command line's renamed flags."""
    if old_value is None or old_value == []:
        return value
    # imported when used: the command line imports this module at start-up
    from baton.console import warn

    warn(f"{old} is deprecated here and will be removed: use {new}")
    return value if value is not None and value != [] else old_value


def plain_help(cls: type, name: str) -> str:
    """The help text of one config field as written, for another field that means the same."""
    return _field(cls, name).metadata.get("help", "")


def _field(cls: type, name: str) -> dataclasses.Field:
    for f in dataclasses.fields(cls):
        if f.name == name:
            return f
    raise KeyError(f"{cls.__name__} has no field {name!r}")


def _choices(f: dataclasses.Field) -> list[str]:
    """The values of a ``Literal[...]`` field (annotations are strings under postponed evaluation)."""
    annotation = f.type if isinstance(f.type, str) else repr(f.type)
    match = re.search(r"Literal\[([^\]]*)\]", annotation)
    return re.findall(r"['\"]([^'\"]*)['\"]", match[1]) if match else []


def _default_value(f: dataclasses.Field) -> Any:
    """A field's default (a fresh one from its factory), or ``dataclasses.MISSING``."""
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _shown_default(f: dataclasses.Field) -> str | None:
    value = _default_value(f)
    if value is dataclasses.MISSING or value is None or isinstance(value, bool):
        return None
    if isinstance(value, (list, tuple, set)):
        return ", ".join(str(v) for v in value) if value else "none"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) if value else "none"
    return str(value)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML (or JSON, which is YAML) mapping of settings."""
    # imported when used: the command line imports this module at start-up
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read config file: {exc.strerror}", path=path) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        line = None
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            line = mark.line + 1
        raise InputError(f"not valid YAML: {getattr(exc, 'problem', exc)}", path=path, line=line) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError("a config file must be a mapping of setting: value", path=path)
    return data


def load_config(
    cls: type[C],
    path: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> C:
    """Build a ``cls`` from an optional config file, then the given overrides (``None`` = unset)."""
    # imported when used: the command line imports this module at start-up
    from pydantic import TypeAdapter, ValidationError

    values: dict[str, Any] = read_config_file(path) if path is not None else {}
    known = {f.name for f in dataclasses.fields(cls)}
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise InputError(f"unknown setting for {cls.__name__}{hint}", path=path, field=key)
    given = set()
    for key, value in (overrides or {}).items():
        if key not in known:
            raise KeyError(f"{cls.__name__} has no field {key!r}")
        if value is not None:
            values[key] = value
            given.add(key)
    try:
        return TypeAdapter(cls).validate_python(values)
    except InputError as exc:  # a config's own check (__post_init__): say where the value came from
        if exc.path is not None or exc.field is None or exc.line is not None:
            raise
        raise _setting_error(exc.reason, exc.field, given, path) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        key = str(first["loc"][0]) if first["loc"] else None
        raise _setting_error(first["msg"], key, given, path, field=field) from None


def _setting_error(
    message: str, key: str | None, given: set[str], path: str | Path | None, *, field: str | None = None
) -> InputError:
    """The error of a refused setting, naming where its value came from: its command-line option (a
    :class:`UsageError`), else the config file (bad input)."""
    field = field or key
    if key in given or path is None:
        flag = _option_of(key) if key in given else None
        return UsageError(message, path=f"option {flag}" if flag else "command line", field=field)
    return InputError(message, path=path, field=field)


def _option_of(name: str) -> str | None:
    """The command-line option that sets ``name`` in the command now running (its first long form)."""
    context = None
    # typer (0.29) runs commands on its own copy of click; plain click for older typer.
    for module in ("typer._click.globals", "click"):
        try:
            context = importlib.import_module(module).get_current_context(silent=True)
            break
        except (ImportError, AttributeError):
            continue
    for param in context.command.params if context is not None else []:
        if param.name == name:
            return next((o for o in param.opts if o.startswith("--")), None)
    return None


def config_to_dict(config: Any, *, absolute_paths: bool = False) -> dict[str, Any]:
    """A config as plain JSON-able values (paths as strings), for manifests and logs.

    ``absolute_paths``: paths absolute (resolved), as a run's files record their settings (the rule
    of :mod:`baton.artifacts`: no file names a path from the folder a process ran in, which its
    reader, or a resumed run, does not know); without it, as given.
    """

    def plain(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value.resolve() if absolute_paths else value)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return {k: plain(v) for k, v in dataclasses.asdict(config).items()}
