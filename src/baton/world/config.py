"""The settings of ``baton world build`` and ``baton world ship`` (light to import: the command line
reads them at start-up), and the names they check: the world's steps and recipes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from baton.config import documented, option
from baton.errors import InputError

STEPS = ("corpus", "t2a", "clap", "annotator", "evaluator", "base_eval")
# The recipes of the full world. v1: the T2A model trained for minutes on a fixed 2000-clip corpus
# (8 % triples), inside the build. v2: pretrained at length on the endless stream of fresh clips of a
# mix richer in pairs and triples, with checkpoints and exact resume (baton.world.pretrain), judged
# every ``assess_every`` steps by the evaluator and CLAP, which it therefore waits for.
RECIPES = ("v1", "v2")


@documented
@dataclass
class WorldBuildConfig:
    quick: bool = option(False, "A tiny world in seconds, for tests and smoke runs (not for real results).")
    seed: int = option(0, "Seed of everything in the world; same seed, same world on CPU.")
    cache: Path | None = option(None, "Cache folder (default: $BATON_CACHE, else $XDG_CACHE_HOME/baton).")
    force: bool = option(False, "Rebuild every step even if it is cached.")
    progress: bool = option(True, "Show progress bars.")
    eval_prompts: int | None = option(
        None, "Held-out prompts per task in the base evaluation (default by size)."
    )
    only: list[str] | None = option(
        None, "Build only these steps (and the steps they depend on); the others are left as they are."
    )
    jobs: int | None = option(
        None,
        "Steps built at once, each in its own process (default: 2 on a machine with 2 cores or more;"
        " 1 = one after another in this process). The world is the same whatever the number.",
    )
    threads: int = option(
        1,
        "Torch threads of each training step. Part of what the world is: the same seed and thread"
        " count give the same weights on the same kind of CPU, another count other, equally good ones.",
    )
    recipe: str | None = option(
        None,
        "How the world is made. Not given: the models the package ships (pretrained at length) are"
        " installed in seconds when it ships this world (the full one, seed 0), else the world is"
        " trained as v1. Given, the world is always trained here from nothing: 'v1' (its T2A model for"
        " minutes on a fixed corpus) or 'v2' (for hours on fresh clips, with checkpoints: see --resume);"
        " with --quick, v2 is the same machinery at the quick world's size.",
    )
    resume: bool = option(
        False, "Go on with a v2 T2A pretraining that an earlier build left unfinished (it continues exactly)."
    )

    def __post_init__(self) -> None:
        unknown = [name for name in self.only or () if name not in STEPS]
        if unknown:
            raise ValueError(f"only: unknown steps {', '.join(unknown)} (the steps: {', '.join(STEPS)})")
        if self.jobs is not None and self.jobs < 1:
            raise ValueError(f"jobs must be at least 1, got {self.jobs}")
        if self.threads < 1:
            raise ValueError(f"threads must be at least 1, got {self.threads}")
        if self.recipe is not None and self.recipe not in RECIPES:
            raise ValueError(f"recipe must be one of {', '.join(RECIPES)}, got {self.recipe!r}")

    @property
    def parallel_jobs(self) -> int:
        """The number of steps run at once: ``jobs``, or 2 where the machine has 2 cores or more."""
        # imported when used: the command line imports this module at start-up
        from baton.workers import resolve_jobs

        return resolve_jobs(self.jobs)


@documented
@dataclass
class ShipConfig:
    """What ``baton world ship`` ships, and where."""

    world: Path | None = option(None, "The built world to ship (default: the cache's full world).")
    to: Path | None = option(
        None, "Folder the shipped world is written to (default: the package's baton/world/shipped)."
    )
    dtype: Literal["fp16", "fp32"] = option(
        "fp16", "Precision of the shipped weights (tensors of fewer than 1024 elements stay fp32)."
    )
    cache: Path | None = option(None, "Cache folder of the default --world.")

    def __post_init__(self) -> None:
        if self.dtype not in ("fp16", "fp32"):
            raise InputError(f"must be fp16 or fp32, not {self.dtype!r}", field="dtype")
