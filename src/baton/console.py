"""The terminal: one rich console for messages (stderr) and progress bars that every stage shares."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")

# Messages and progress go to stderr so that stdout stays clean for data a user may pipe.
console = Console(stderr=True, highlight=False)


class NoProgress:
    """The few calls of a rich Progress that long jobs make, doing nothing (progress turned off)."""

    def __enter__(self) -> NoProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def add_task(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def update(self, *args: Any, **kwargs: Any) -> None:
        return None


class LogProgress(Progress):
    """Progress for a log file or pipe, where a live bar would only be drawn once the work is done.

    It draws nothing live; every ``interval`` seconds a thread prints one line per unfinished task
    (description, count, share done, seconds so far), so a long step in a CI log still shows it is alive.
    """

    def __init__(self, *columns: Any, interval: float = 30.0, **kwargs: Any) -> None:
        super().__init__(*columns, disable=True, **kwargs)
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        super().start()
        self._stop.clear()
        self._thread = threading.Thread(target=self._report_every_interval, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        super().stop()

    def _report_every_interval(self) -> None:
        while not self._stop.wait(self.interval):
            self.report()

    def report(self) -> None:
        """Print one line for each task still running."""
        for task in self.tasks:
            if task.finished or not task.visible:
                continue
            if task.total:
                count = f"{task.completed:.0f}/{task.total:.0f} ({task.percentage:.0f}%)"
            else:  # work of unknown size, e.g. a world build step in its own process
                count = "running"
            elapsed = task.elapsed or 0.0
            self.console.print(
                f"  {task.description}: {count}, {elapsed:.0f} s", markup=False, highlight=False
            )


def make_progress(enabled: bool = True) -> Progress | NoProgress:
    """A progress display with count, elapsed and remaining time (a do-nothing one if not ``enabled``).

    On a terminal it is a live bar; otherwise (a log, a pipe, CI) a line per running task every
    30 seconds (see :class:`LogProgress`).
    """
    if not enabled:
        return NoProgress()
    if not console.is_terminal:
        return LogProgress(console=console)
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def track(
    items: Iterable[T], description: str, total: int | None = None, *, enabled: bool = True
) -> Iterator[T]:
    """Iterate with a progress bar (a plain loop when ``enabled`` is false)."""
    if not enabled:
        yield from items
        return
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with make_progress() as progress:
        task = progress.add_task(description, total=total)
        for item in items:
            yield item
            progress.advance(task)


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and the noun in the number it takes: ``1 clip``, ``0 clips``, ``3 clips``."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def info(message: str) -> None:
    console.print(message)


def warn(message: str) -> None:
    console.print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True)
