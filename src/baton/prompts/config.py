"""The settings of ``baton prompts`` (light to import: the command line reads them at start-up)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from baton.config import documented, option

DEFAULT_N = 200


@documented
@dataclass
class PromptsConfig:
    vocab: str = option(
        "audiocaps200", "Event vocabulary: a built-in name (see --list-vocabs) or a YAML file."
    )
    task: Literal["single", "integrity", "temporal"] | None = option(
        None,
        "integrity: 2 events, temporal: 3 events in a stated order (single: 1 event). Required with a "
        "vocabulary; optional with --from-captions.",
    )
    n: int | None = option(
        None,
        f"How many prompts (default {DEFAULT_N} from a vocabulary; every distinct caption from a caption file).",
    )
    seed: int = option(0, "Random seed: the same seed and settings write the same file.")
    out: Path = option(Path("prompts.jsonl"), "The prompts file to write.")
    from_captions: Path | None = option(
        None, "Take the prompts from a Tango/BATON caption file (JSON Lines) instead of a vocabulary."
    )
    sequence_share: float = option(
        0.5, "Integrity only: the share of prompts with events one after the other; the rest overlap."
    )
    id_prefix: str | None = option(
        None,
        "Prefix of prompt ids (default: the task, e.g. integrity-0000; none for BATON's caption numbers).",
    )
