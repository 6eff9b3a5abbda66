"""The settings of ``baton demo`` (light to import: the command line reads them at start-up)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from baton.config import documented, option, plain_help
from baton.errors import InputError
from baton.finetune.config import METHODS, FinetuneConfig


@documented
@dataclass
class DemoConfig:
    out: Path = option(Path("runs/demo"), "Output folder of the run.")
    quick: bool = option(False, "A tiny world and few prompts: a smoke run of every stage, not real results.")
    human: bool = option(
        False,
        "People label instead of simulated annotators: the demo starts the annotation server, prints "
        "the login links and waits until every clip has its votes.",
    )
    seed: int = option(
        0, "Seed of the run: its prompts, clips, annotators, reward model, fine-tuning and evaluation."
    )
    world_seed: int = option(
        0, "Seed of the world (0: the shipped one, installed in seconds; any other is built, for hours)."
    )
    cache: Path | None = option(None, "Cache folder for the world (default: the user's cache).")
    per_prompt: int = option(5, "Clips per training prompt (BATON: 5).")
    integrity_train: int = option(36, "Integrity prompts to train on (the world has 66 event pairs).")
    integrity_test: int = option(30, "Held-out integrity prompts.")
    temporal_train: int = option(80, "Temporal prompts to train on.")
    temporal_test: int = option(60, "Held-out temporal prompts.")
    human_share: float = option(
        0.5,
        "Share of each task's train prompts whose clips the annotators label (HD); the reward model labels the rest (RD).",
    )
    active: bool = option(
        False,
        "HD is chosen by active selection instead: the annotators label, in rounds, the train clips (of "
        "every train prompt) the reward model is least sure of, as many clips as --human-share's prompts "
        "hold; the reward model labels the rest (RD).",
    )
    active_rounds: int = option(6, "With --active: the rounds the labels are asked in (the first at random).")
    reward_folds: int = option(
        5,
        "Folds of HD prompts the reward model is cross-validated over (each judged by a model fitted on "
        "the others); the final model then learns all of HD.",
    )
    annotators: int = option(5, "Simulated annotators.")
    labels_per_clip: int = option(3, "Votes per clip, from different annotators.")
    noise: float = option(0.1, "Simulated annotators' typical error rate.")
    reward_head: str = option("temporal", "Reward model head: mlp (BATON's) or temporal.")
    reward_event_judge: bool = option(
        True,
        "Blend the reward head with the untrained event judge, task by task (`baton reward train "
        "--event-judge`): on the demo's labels it ranks 3-event clips far better than the head alone.",
    )
    # The label-blind control runs by default: a method's gain over it is what the labels bring, not
    # what any fine-tuning on the base model's own clips would give.
    methods: list[str] = option(
        ["baton", "dpo", "sft", "control"],
        "Fine-tuning methods to compare (baton, dpo, sft; control: every clip, labels ignored).",
    )
    steps: int = option(60, "Fine-tuning optimizer steps per method.")
    learning_rate: float = option(3e-5, "Fine-tuning learning rate.")
    beta: float = option(
        1.0, "BATON: weight of the pretraining loss (BATON: 0.25 for Tango; 1 keeps the world model's FAD)."
    )
    reward_mode: Literal["soft", "hard"] = option("hard", plain_help(FinetuneConfig, "reward_mode"))
    eval_per_prompt: int = option(2, "Clips per held-out prompt and model in the evaluation.")
    jobs: int | None = option(
        None,
        "Fine-tunings run side by side in this many worker processes, on one torch thread each"
        " (default: 2 on a machine with 2 cores or more). Generation is not split: sampling uses two"
        " threads well (the evaluation's clips took 147 s side by side, 142 s one after another in"
        " another run).",
    )
    progress: bool = option(True, "Show progress bars.")

    def __post_init__(self) -> None:
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise InputError(f"unknown method(s) {unknown}; choose from {list(METHODS)}", field="methods")
        if not 0.0 < self.human_share < 1.0:
            raise InputError("must be between 0 and 1", field="human_share")
        if self.active_rounds < 1:
            raise InputError("must be at least 1", field="active_rounds")
        if self.reward_folds < 2:
            raise InputError("must be at least 2", field="reward_folds")
        if self.jobs is not None and self.jobs < 1:
            raise InputError("must be at least 1", field="jobs")

    @property
    def parallel_jobs(self) -> int:
        # imported when used: the command line imports this module at start-up
        from baton.workers import resolve_jobs

        return resolve_jobs(self.jobs)
