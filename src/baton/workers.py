"""Work side by side in worker processes, each on a fixed number of torch threads.

On a machine with few cores, two one-thread processes get through more of this project's small
networks than one two-thread process: the world's trainers ran at 1.3-1.5x the speed per core (a
thread count is also part of what a run computes: the order of a sum decides the last bits of the
result, so a fixed count keeps results the same from run to run and on machines with the same kind of
CPU; another CPU model can pick other kernels that round otherwise). Workers are spawned, never
forked: a forked child of a process whose torch already holds threads can hang.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import subprocess
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import baton
from baton.errors import InputError

T = TypeVar("T")

# The device kinds baton's commands run on, and how torch says whether this machine has one.
DEVICE_KINDS = ("cpu", "cuda", "mps", "xpu")


def available_devices() -> list[str]:
    """The devices this machine's torch can run on: ``cpu``, then ``cuda:N`` per GPU, ``mps``, ``xpu:N``."""
    # torch: heavy; every command imports this module, most never load a model
    import torch

    found = ["cpu"]
    if torch.cuda.is_available():
        found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    xpu = getattr(torch, "xpu", None)
    if xpu is not None and xpu.is_available():
        found += [f"xpu:{i}" for i in range(xpu.device_count())]
    return found


def check_device(device: str, *, field: str = "device") -> str:
    """``device`` in torch's spelling if this machine can run on it, else an :class:`InputError`.

    Every command that takes ``--device`` calls this before it does any work, so that a device torch
    cannot parse (``potato``) or one this machine lacks (``cuda`` on a CPU-only torch, ``mps`` off a
    Mac, ``cuda:3`` with one GPU) stops the run at once with the devices there are, instead of a
    traceback from deep inside a model (or a run that quietly falls back to another device).
    """
    # torch: heavy; every command imports this module, most never load a model
    import torch

    available = available_devices()
    where = f"this machine has {', '.join(available)}"
    try:
        parsed = torch.device(str(device))
    except (RuntimeError, TypeError, ValueError):
        raise InputError(
            f"'{device}' is not a device: give {', '.join(DEVICE_KINDS)} or e.g. cuda:1 ({where})",
            field=field,
        ) from None
    if parsed.type not in DEVICE_KINDS:
        raise InputError(
            f"baton does not run on '{device}': give {', '.join(DEVICE_KINDS)} ({where})", field=field
        )
    if parsed.type == "cpu":
        return "cpu"  # torch ignores a CPU's index
    kind = [d for d in available if d.split(":")[0] == parsed.type]
    if not kind:
        raise InputError(
            f"'{device}' is not available: torch finds no {parsed.type} device ({where})", field=field
        )
    numbered = parsed.index is not None and parsed.index > 0  # mps (one device) is listed unnumbered
    if numbered and f"{parsed.type}:{parsed.index}" not in kind:
        raise InputError(f"'{device}' is not available: {where}", field=field)
    return str(parsed)


def resolve_jobs(jobs: int | None) -> int:
    """``jobs`` if given, else 2 where the machine has 2 cores or more, else 1."""
    if jobs is not None:
        return jobs
    return 2 if (os.cpu_count() or 1) >= 2 else 1


def cpu_model(cpuinfo_path: str = "/proc/cpuinfo") -> str:
    """The CPU's model name (Linux's /proc/cpuinfo), else what :mod:`platform` knows."""
    try:
        with open(cpuinfo_path, encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def with_threads(threads: int | None, work: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``work(*args, **kwargs)`` on ``threads`` torch threads (None: leave torch's count as it is)."""
    # torch: heavy; every command imports this module, most never load a model
    import torch

    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return work(*args, **kwargs)
    finally:
        torch.set_num_threads(previous)


def process_pool(jobs: int) -> Executor:
    """A pool of ``jobs`` spawned worker processes."""
    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))


def map_side_by_side(
    work: Callable[..., T], calls: Sequence[tuple[Any, ...]], jobs: int, threads: int | None
) -> list[T | BaseException]:
    """``work(*args)`` for every ``args`` of ``calls``, ``jobs`` at a time, each on ``threads`` threads.

    With one job (or one call) everything runs here, in order. Returns the results in the order of
    ``calls``; a call that raised gives its exception in its place, so that one failure loses none of
    the others' work (the caller decides what to raise).
    """
    if jobs <= 1 or len(calls) <= 1:
        return [_outcome(lambda args=args: with_threads(threads, work, *args)) for args in calls]
    with process_pool(min(jobs, len(calls))) as pool:
        futures = [pool.submit(with_threads, threads, work, *args) for args in calls]
        return [_outcome(future.result) for future in futures]


def _outcome(get: Callable[[], T]) -> T | BaseException:
    """``get()``, or the exception it raised."""
    try:
        return get()
    except Exception as error:  # noqa: BLE001 - handed back in the call's place
        return error


def git_commit() -> str | None:
    """The commit of the checkout this baton runs from, or None (no git, or not a checkout)."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(baton.__file__).parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and len(commit) == 40 else None
