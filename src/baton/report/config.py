"""The settings of ``baton report`` (light to import: the command line reads them at start-up)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from baton.config import documented, option


@documented
@dataclass
class ReportConfig:
    run: Path = option(
        Path("runs/demo"), "Run folder (layout in `baton.report.run`), or an evaluation folder itself."
    )
    out: Path | None = option(None, "HTML file to write (default: report.html in the run folder).")
    examples: int = option(3, "Matched examples per task: one prompt and seed, heard from every model.")
    seed: int = option(0, "Seed of the choice of examples.")
    title: str = option("BATON run report", "Title of the page.")
    label_efficiency: Path | None = option(
        None,
        "Also show the label-efficiency learning curves (random against active selection): the "
        "benchmark's label_efficiency.json, or `make bench`'s results file holding it.",
    )
