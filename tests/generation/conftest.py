import pytest

from baton.backends import BACKENDS

from .fake_backend import ToneBackend


@pytest.fixture
def tone_backend(monkeypatch):
    """The tone stand-in registered as backend ``tone``, its record of calls emptied."""
    monkeypatch.setitem(BACKENDS, "tone", "tests.generation.fake_backend:ToneBackend")
    ToneBackend.calls = []
    return ToneBackend
