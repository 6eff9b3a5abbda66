"""BATON's released file shapes in miniature: ``tests/data/baton`` (see its README.md), in every clone.

The real release (``../shared/data/baton`` beside the checkout, the ``baton_data`` fixture) is an extra:
the tests that read it check the real counts where it exists and are skipped elsewhere; the tests that
read these files run the same import paths everywhere.
"""

from __future__ import annotations

from pathlib import Path

SHAPES = Path(__file__).resolve().parent / "data" / "baton"


def shape_file(relative: str) -> Path:
    """The miniature of the release file at ``relative`` (the release's own path)."""
    path = SHAPES / relative
    assert path.is_file(), f"{relative} is missing from {SHAPES}"
    return path
