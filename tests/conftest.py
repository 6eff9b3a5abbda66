"""Shared test set-up: no network, no hub, and paths to the shared BATON data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_BATON = REPO.parent / "shared" / "data" / "baton"


@pytest.fixture
def baton_data() -> Path:
    """BATON's released JSON files (../shared/data/baton beside the checkout)."""
    if not SHARED_BATON.is_dir():
        pytest.skip(f"BATON data not found at {SHARED_BATON}")
    return SHARED_BATON


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing a test does may write to the user's real cache."""
    if "BATON_CACHE" not in os.environ:
        monkeypatch.setenv("BATON_CACHE", str(tmp_path_factory.getbasetemp() / "baton-cache"))


@pytest.fixture(scope="session")
def quick_world_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder holding a quick sound world, built once per test session."""
    from baton.world.build import WorldBuildConfig, build

    cache = tmp_path_factory.mktemp("world-cache")
    build(WorldBuildConfig(quick=True, cache=cache, progress=False, eval_prompts=4))
    return cache


@pytest.fixture(scope="session")
def quick_world(quick_world_cache: Path) -> Path:
    """The quick sound world's folder (t2a/, clap/, detectors...)."""
    from baton.world.build import world_dir

    return world_dir(quick_world_cache, quick=True)
