"""Work side by side in worker processes, each on a fixed number of torch threads.

On a machine with few cores, two one-thread processes get through more of this project's small
networks than one two-thread process: the world's trainers ran at 1.3-1.5x the speed per core (a
thread count is also part of what a run computes: the order of a sum decides the last bits of the
result, so a fixed count keeps results the same from run to run and on machines with the same kind of
CPU; another CPU model can pick other kernels that round otherwise). Workers are spawned, never
forked: a forked child of a process whose torch already holds threads can hang.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def resolve_jobs(jobs: int | None) -> int:
    """``jobs`` if given, else 2 where the machine has 2 cores or more, else 1."""
    if jobs is not None:
        return jobs
    return 2 if (os.cpu_count() or 1) >= 2 else 1


def cpu_model(cpuinfo_path: str = "/proc/cpuinfo") -> str:
    """The CPU's model name (Linux's /proc/cpuinfo), else what :mod:`platform` knows."""
    import platform

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
    import multiprocessing

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
