"""Reading back what accelerate's TensorBoard tracker wrote, with TensorBoard's own reader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def scalars(run_folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar tag of a TensorBoard run folder: [(step, value), ...] in the order logged."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_folder))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def hyperparameters(run_folder: Path) -> dict[str, Any]:
    """The hyperparameters of a run: ``SummaryWriter.add_hparams`` puts them in a sub-folder."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata

    found: dict[str, Any] = {}
    for folder in sorted(p for p in run_folder.iterdir() if p.is_dir()):
        events = EventAccumulator(str(folder))
        events.Reload()
        try:
            content = events.PluginTagToContent(metadata.PLUGIN_NAME).get(metadata.SESSION_START_INFO_TAG)
        except KeyError:  # accelerate's hparams.yml folder: no events
            continue
        if content is not None:
            info = metadata.parse_session_start_info_plugin_data(content)
            for name, value in info.hparams.items():
                found[name] = getattr(value, value.WhichOneof("kind"))
    return found


def logged_as_in(rows: list[dict[str, Any]], step_key: str) -> dict[str, list[tuple[int, float]]]:
    """What the tracker must hold for train_log.jsonl's ``rows``: each number at its row's step, as
    TensorBoard keeps it (float32); a missing or null value is not logged."""
    expected: dict[str, list[tuple[int, float]]] = {}
    for row in rows:
        for key, value in row.items():
            if key != step_key and value is not None:
                expected.setdefault(key, []).append((row[step_key], float(np.float32(value))))
    return expected
