"""Shared test set-up: no network, no hub, the tools some tests need, and the shared BATON data."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_BATON = REPO.parent / "shared" / "data" / "baton"


@pytest.fixture
def baton_data() -> Path:
    """BATON's released JSON files (../shared/data/baton beside the checkout), an extra: a user's clone
    has none, and tests/data/baton holds their shapes for the tests that must run everywhere."""
    if not SHARED_BATON.is_dir():
        pytest.skip(f"BATON data not found at {SHARED_BATON}")
    return SHARED_BATON


def in_ci() -> bool:
    """``CI=true`` (as CI services set it, and .ci/run does): every test must run."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def needs(reason: str) -> None:
    """A tool a test needs is missing (``reason`` says which, and how to get it): skip the test, or
    fail it under ``CI=true``, where a skipped test would hide that it never ran."""
    if in_ci():
        pytest.fail(
            f"{reason} (CI=true: this test must run here, so the tool must be installed)", pytrace=False
        )
    pytest.skip(reason)


CHROMIUM = Path(os.environ.get("BATON_CHROMIUM", "/usr/bin/chromium"))


@pytest.fixture(scope="session")
def chromium() -> Path:
    """The Chromium that Playwright drives (Debian's; ``$BATON_CHROMIUM`` to use another)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        needs("playwright is not installed: pip install -e '.[dev]'")
    found = CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")
    if found is None:
        needs(f"no Chromium at {CHROMIUM}: `make browser` installs it (root + apt)")
    return Path(found)


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
    from baton.world.manifest import world_dir

    return world_dir(quick_world_cache, quick=True)
