"""Experiment tracking (``--report-to tensorboard|wandb|none``) through accelerate's own trackers.

``baton finetune`` and ``baton reward train`` log the scalars of their ``train_log.jsonl`` (the same
values at the same steps: a fine-tuning step, a reward epoch) and their settings as hyperparameters
(:func:`hyperparameters`). ``train_log.jsonl`` is written as before whatever is asked: the report
reads it, and it needs no tracker installed. Where the files go, under the run's ``--out``::

    OUT/tracking/<project>/   TensorBoard's event files (``tensorboard --logdir OUT/tracking``);
                              <project> is baton-finetune or baton-reward
    OUT/tracking/wandb/       Weights & Biases' local files (the run itself goes to the wandb project
                              <project>, named after OUT's folder)

The trackers are accelerate's (``Accelerator(log_with=..., project_config=...)``, ``init_trackers``,
``accelerator.log``), so they run on the main process alone under ``accelerate launch``. TensorBoard
needs the ``tensorboard`` package (``pip install 'baton-audio[tracking]'``), wandb the ``wandb``
package; a tracker asked for and not installed stops the command before any work.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any

from baton.errors import InputError, MissingDependencyError

TRACKING_DIR = "tracking"
NONE = "none"
# Tracker name (accelerate's log_with name) -> the package it needs and the extra that brings it.
TRACKERS: dict[str, tuple[str, str | None]] = {
    "tensorboard": ("tensorboard", "tracking"),
    "wandb": ("wandb", None),
}
REPORT_TO_HELP = (
    "Log the training curves and settings to these trackers too (accelerate's): tensorboard, wandb "
    "or none; several as a list (tensorboard,wandb). Files go to OUT/tracking/."
)


def parse_report_to(value: str | list[str] | None, field: str = "report_to") -> list[str]:
    """The trackers ``value`` names, in order, without repeats: ``[]`` for ``none``.

    Takes one name, a comma-separated string or a list of names (accelerate's ``log_with``), so a
    config file may say ``report_to: tensorboard`` or ``report_to: [tensorboard, wandb]``.
    """
    items = [value] if value is None or isinstance(value, str) else list(value)
    names: list[str] = []
    for item in items:
        for name in str(item if item is not None else NONE).split(","):
            name = name.strip().lower()
            if name in ("", NONE):
                continue
            if name not in TRACKERS:
                raise InputError(
                    f"unknown tracker '{name}': choose {', '.join(TRACKERS)} or {NONE}", field=field
                )
            if name not in names:
                names.append(name)
    return names


def check_installed(names: list[str]) -> None:
    """Stop, naming what to install, when a tracker asked for lacks its package (before any work:
    accelerate itself would only warn and train without it)."""
    for name in names:
        package, extra = TRACKERS[name]
        if importlib.util.find_spec(package) is None:
            raise MissingDependencyError(package, f"--report-to {name}", extra=extra)


def accelerator_kwargs(names: list[str], out: Path) -> dict[str, Any]:
    """``Accelerator`` arguments that set up ``names``' trackers under ``out/tracking``; none for
    ``none``, so a run that tracks nothing builds the same Accelerator as before."""
    if not names:
        return {}
    # imported when used: the command line imports this module at start-up
    from accelerate.utils import ProjectConfiguration

    out = Path(out).resolve()
    config = ProjectConfiguration(project_dir=str(out), logging_dir=str(out / TRACKING_DIR))
    return {"log_with": list(names), "project_config": config}


def start(
    accelerator: Any,
    names: list[str],
    project: str,
    out: Path,
    settings: dict[str, Any],
    *,
    resumed_at: int = 0,
) -> None:
    """Start ``names``' trackers (``project``: the TensorBoard run folder and the wandb project) with
    ``settings`` as hyperparameters.

    A fresh run (``resumed_at`` 0) empties its TensorBoard folder first, as it starts its
    ``train_log.jsonl`` afresh: a rerun into the same ``--out`` must not show two runs' curves as
    one. A resumed run keeps the folder and hides the steps after its checkpoint (TensorBoard's
    ``purge_step``), as it drops them from ``train_log.jsonl``; wandb starts a new run.
    """
    if not names:
        return
    out = Path(out).resolve()
    tracking = out / TRACKING_DIR
    if accelerator.is_main_process:
        if not resumed_at:
            shutil.rmtree(tracking / project, ignore_errors=True)
        tracking.mkdir(parents=True, exist_ok=True)  # wandb's dir must exist
    kwargs: dict[str, dict[str, Any]] = {"wandb": {"dir": str(tracking), "name": out.name}}
    if resumed_at:
        kwargs["tensorboard"] = {"purge_step": resumed_at + 1}
    accelerator.init_trackers(project, config=hyperparameters(settings), init_kwargs=kwargs)


def log(accelerator: Any, row: dict[str, Any], step: int) -> None:
    """A ``train_log.jsonl`` row's numbers at ``step`` (its step or epoch field aside; a missing
    value, such as a validation loss without validation clips, is left out)."""
    if not accelerator.trackers:
        return
    values = {
        key: value
        for key, value in row.items()
        if key not in ("step", "epoch") and isinstance(value, (int, float)) and not isinstance(value, bool)
    }
    accelerator.log(values, step=step)


def finish(accelerator: Any) -> None:
    """Close the trackers (flush and close TensorBoard's writer, end the wandb run).

    What ``accelerator.end_training()`` does first; it then destroys the process group, which
    belongs to the launch, not to the run (:func:`release_accelerator` leaves
    it for a later run in the same processes), so the trackers are finished here by themselves.
    """
    for tracker in accelerator.trackers:
        tracker.finish()
    accelerator.trackers = []


def release_accelerator(accelerator: Any) -> None:
    """Let a later run in this process build an Accelerator with other settings (single process only).

    accelerate keeps its state in process-wide singletons; a multi-process group is left alone.
    """
    if accelerator.num_processes == 1:
        # imported when used: the command line imports this module at start-up
        from accelerate.state import AcceleratorState, GradientState

        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()


def hyperparameters(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``settings`` flattened to one level (``a.b`` for nested mappings) of the values TensorBoard's
    hparams take: numbers, text and booleans stay, anything else (``None``, lists) becomes its JSON
    text."""
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(hyperparameters(value, f"{name}."))
        elif isinstance(value, (bool, int, float, str)):
            flat[name] = value
        else:
            flat[name] = json.dumps(value if not isinstance(value, tuple) else list(value), default=str)
    return flat
