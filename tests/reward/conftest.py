"""Fixtures of the reward tests: a tiny transformers CLAP written once per session, a labelled set."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.reward.helpers import write_label_set


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models on a shared 2-core machine run faster without thread hand-offs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_clap_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from baton.reward.encoders import build_tiny_clap

    return build_tiny_clap(tmp_path_factory.mktemp("tiny-clap"), seed=0, max_length_s=2)


@pytest.fixture(scope="session")
def tiny_clap(tiny_clap_dir: Path):
    from baton.reward.encoders import load_encoder

    return load_encoder(f"clap:{tiny_clap_dir}")


@pytest.fixture
def label_set(tmp_path: Path) -> Path:
    return write_label_set(tmp_path / "data")
