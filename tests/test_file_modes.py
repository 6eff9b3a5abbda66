"""Files baton writes get the mode a plain open() gives a new file (0666 less the umask), not the
owner-only 0600 of mkstemp and of safetensors' own writer."""

from __future__ import annotations

import os
import stat

import pytest

from baton.artifacts import (
    PromptRecord,
    atomic_write_text,
    new_file_mode,
    save_safetensors,
    write_json,
    write_records,
)


@pytest.fixture(params=[0o022, 0o027, 0o002])
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def plain_open_mode(folder) -> int:
    probe = folder / "probe"
    with open(probe, "w"):
        pass
    found = mode(probe)
    probe.unlink()
    return found


def test_new_file_mode_is_what_open_gives(tmp_path, umask):
    assert new_file_mode() == 0o666 & ~umask == plain_open_mode(tmp_path)


def test_atomic_writes_get_the_plain_mode(tmp_path, umask):
    expected = 0o666 & ~umask
    atomic_write_text(tmp_path / "report.html", "<p>hi</p>")
    write_records(tmp_path / "prompts.jsonl", [PromptRecord(id="a", text="a beep")])
    write_json(tmp_path / "sub" / "metrics.json", {"a": 1})
    for name in ("report.html", "prompts.jsonl", "sub/metrics.json"):
        assert mode(tmp_path / name) == expected, name
    # Rewriting a file (one left 0600 by an older baton) gives the plain mode too.
    os.chmod(tmp_path / "report.html", 0o600)
    atomic_write_text(tmp_path / "report.html", "<p>again</p>")
    assert mode(tmp_path / "report.html") == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prompts.jsonl", "report.html", "sub"]


def test_safetensors_files_get_the_plain_mode(tmp_path, umask):
    import torch

    save_safetensors({"w": torch.zeros(3)}, tmp_path / "model.safetensors", metadata={"format": "x"})
    assert mode(tmp_path / "model.safetensors") == 0o666 & ~umask


def test_saved_models_and_cached_features_get_the_plain_mode(tmp_path, umask):
    import torch

    from baton.generation.latents import write_latent
    from baton.reward.cache import FeatureCache
    from baton.reward.encoders import AudioFeatures
    from baton.world.detectors import EventDetector, evaluator_config

    expected = 0o666 & ~umask
    EventDetector(evaluator_config(0, quick=True)).save(tmp_path / "evaluator")
    assert mode(tmp_path / "evaluator" / "model.safetensors") == expected
    assert mode(tmp_path / "evaluator" / "config.json") == expected

    cache = FeatureCache(tmp_path / "cache", "fingerprint")
    cache.put_audio("ab" * 32, AudioFeatures(torch.zeros(4), torch.zeros(2, 4)))
    (cached,) = (tmp_path / "cache").rglob("*.safetensors")
    assert mode(cached) == expected

    audio = tmp_path / "clip.wav"
    audio.write_bytes(b"not audio, only hashed")
    latent = write_latent(audio, torch.zeros(2, 3), space="s", sample_id="a-0", seed=1)
    assert mode(latent) == expected
