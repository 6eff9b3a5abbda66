"""A test whose tool is missing skips in a user's clone and fails under CI=true (tests/conftest.py)."""

import pytest

from tests.conftest import needs


def test_a_missing_tool_skips_here_and_fails_in_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no Chromium"):
        needs("no Chromium at /nowhere")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(
        pytest.fail.Exception, match="no Chromium at /nowhere .CI=true: this test must run here"
    ):
        needs("no Chromium at /nowhere")
