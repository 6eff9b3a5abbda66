import io
import time

from rich.console import Console
from rich.progress import Progress

from baton.console import LogProgress, NoProgress, make_progress


def _log_progress(interval: float = 60.0) -> tuple[LogProgress, io.StringIO]:
    out = io.StringIO()
    return LogProgress(console=Console(file=out, width=200), interval=interval), out


def test_log_progress_reports_each_running_task():
    bar, out = _log_progress()
    with bar:
        counted = bar.add_task("world T2A", total=40)
        bar.advance(counted, 10)
        bar.add_task("clap", total=None)
        done = bar.add_task("corpus", total=1)
        bar.update(done, completed=1)
        bar.add_task("hidden", total=5, visible=False)
        bar.report()
    lines = out.getvalue().splitlines()
    assert [line.rsplit(",", 1)[0] for line in lines] == ["  world T2A: 10/40 (25%)", "  clap: running"]
    assert all(line.endswith(" s") for line in lines)


def test_log_progress_reports_from_its_own_thread_until_stopped():
    bar, out = _log_progress(interval=0.01)
    with bar:
        bar.add_task("step", total=None)
        deadline = time.monotonic() + 10
        while "step: running" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
    assert "step: running" in out.getvalue()
    said = out.getvalue()
    time.sleep(0.05)
    assert out.getvalue() == said  # stopped with the display


def test_make_progress_outside_a_terminal_logs_lines(monkeypatch):
    monkeypatch.setattr("baton.console.console", Console(file=io.StringIO()))  # a file: not a terminal
    assert isinstance(make_progress(enabled=False), NoProgress)
    assert isinstance(make_progress(), LogProgress)
    monkeypatch.setattr("baton.console.console", Console(file=io.StringIO(), force_terminal=True))
    assert type(make_progress()) is Progress
