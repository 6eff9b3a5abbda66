"""Errors that the command line reports as one clear message, without a traceback.

Exit statuses (docs/cli.md): 2 for a usage error, the command line wrong by itself (a
:class:`UsageError`: a missing option or one whose value the settings refuse; or an
:class:`InputError` that names a setting and no file); 1 for bad input (a file, line or field of it
that is wrong, a path that cannot be read or written) or a failed run; 130 for a run stopped with
Ctrl-C (:class:`Interrupted`).
"""

from __future__ import annotations

from pathlib import Path


class BatonError(Exception):
    """An error caused by the user's input or environment, with a message that says where."""

    exit_code = 1

    def __reduce__(self) -> tuple:
        # Rebuilt as it is, attributes and all, when it crosses from a worker process (the default
        # would call __init__ with the formatted message alone, which the subclasses' signatures refuse).
        return _rebuild, (type(self), self.args, self.__dict__)


def _rebuild(cls: type[BatonError], args: tuple, state: dict) -> BatonError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class InputError(BatonError):
    """Bad input: a file, line or field that is wrong.

    ``InputError("must be a list", path="p.jsonl", line=3, field="events")`` reads
    ``p.jsonl, line 3, field 'events': must be a list``.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        self.field = field
        self.reason = message
        where = []
        if self.path is not None:
            where.append(self.path)
        if line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"field '{field}'")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)

    @property
    def exit_code(self) -> int:  # type: ignore[override]
        """2 when the error names a setting and no file (a usage error), else 1 (bad input)."""
        return 2 if self.field is not None and self.path is None and self.line is None else 1


class UsageError(InputError):
    """The command line is wrong: an option that is missing, or whose value the settings refuse.

    Its ``path`` says which option (``option --steps``), so it reads like bad input but exits 2."""

    exit_code = 2  # type: ignore[assignment]


class Interrupted(BatonError):
    """A run stopped with Ctrl-C; the message says how far it got and how to go on."""

    exit_code = 130


class MissingDependencyError(BatonError):
    """An optional dependency is not installed; the message says what to install."""

    def __init__(self, package: str, purpose: str, extra: str | None = None) -> None:
        hint = f"pip install 'baton-audio[{extra}]'" if extra else f"pip install {package}"
        super().__init__(f"{purpose} needs the package '{package}': {hint}")
