"""Real backends load in float16 / bfloat16 (``--dtype``): every weight in it, clips still float32."""

import numpy as np
import pytest
import torch

from baton.backends import load_backend
from baton.errors import InputError
from baton.fingerprints import state_dict_digest
from tests.finetune.test_backends import BUILDERS

from .helpers import denoising_loss, one_torch_thread

TEXTS = ["a dog barks", "rain falls"]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with one_torch_thread():
        yield


def _modules(backend):
    pipe = getattr(backend, "pipe", None)
    if pipe is not None:
        return [m for m in pipe.components.values() if isinstance(m, torch.nn.Module)]
    return [backend.unet, backend.text_encoder, backend.vae, backend.vocoder]


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_a_real_backend_loads_in_bfloat16_generates_and_trains(tmp_path, name):
    BUILDERS[name](tmp_path / name)
    backend = load_backend(name, tmp_path / name, dtype="bfloat16")
    assert {p.dtype for m in _modules(backend) for p in m.parameters()} == {torch.bfloat16}
    clips = backend.generate(TEXTS, [1, 2])
    assert all(clip.dtype == np.float32 and np.isfinite(clip).all() for clip in clips)
    # Fine-tuning's case: the denoiser in float32 beside the half parts; predict casts its inputs.
    backend.denoiser.float()
    audio = [(0.3 * np.random.default_rng(0).standard_normal(1600)).astype(np.float32)] * 2
    loss = denoising_loss(backend, audio, 16000, TEXTS)
    loss.backward()
    assert torch.isfinite(loss) and any(p.grad is not None for p in backend.denoiser.parameters())
    assert len(state_dict_digest(backend.text_encoder if name == "tango" else backend.pipe.vae)) == 32


def test_a_backend_without_half_weights_and_an_unknown_dtype_are_refused():
    with pytest.raises(InputError, match="the world backend loads in float32 only, not float16") as error:
        load_backend("world", dtype="float16")
    assert error.value.field == "dtype"
    with pytest.raises(InputError, match="choose one of float32, float16, bfloat16, got 'half'"):
        load_backend("tango", dtype="half")
