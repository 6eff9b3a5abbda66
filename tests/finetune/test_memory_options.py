"""Fine-tuning a real backend with less memory: frozen parts in bfloat16, gradient checkpointing."""

import numpy as np
import pytest
import torch
from safetensors import safe_open

from baton.backends import load_backend
from baton.errors import InputError
from baton.finetune import finetune
from baton.finetune.engine import enable_gradient_checkpointing
from tests.backends.helpers import denoising_loss
from tests.finetune.test_backends import BUILDERS, _config, labels  # noqa: F401  (a fixture)

TEXTS = ["a dog barks", "rain falls"]


def _gradients(backend):
    audio = [(0.3 * np.random.default_rng(0).standard_normal(1600)).astype(np.float32)] * 2
    backend.denoiser.train()
    backend.denoiser.zero_grad()
    loss = denoising_loss(backend, audio, 16000, TEXTS)
    loss.backward()
    return loss.detach(), {
        n: p.grad.clone() for n, p in backend.denoiser.named_parameters() if p.grad is not None
    }


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_gradient_checkpointing_gives_the_same_gradients(tmp_path, name):
    BUILDERS[name](tmp_path / name)
    backend = load_backend(name, tmp_path / name)
    loss, grads = _gradients(backend)
    enable_gradient_checkpointing(backend, name)
    checkpointed = (
        getattr(backend, "gradient_checkpointing", None) or backend.denoiser.is_gradient_checkpointing
    )
    assert checkpointed
    loss_again, grads_again = _gradients(backend)
    assert torch.equal(loss, loss_again) and grads.keys() == grads_again.keys()
    for key, grad in grads.items():
        torch.testing.assert_close(grads_again[key], grad, rtol=1e-5, atol=1e-7)


def test_a_bfloat16_tango_trains_its_unet_in_float32_and_saves_the_frozen_parts_as_loaded(tmp_path, labels):  # noqa: F811
    base = tmp_path / "base"
    BUILDERS["tango"](base)
    model_dir = finetune(
        _config(tmp_path, labels, "tango", base, dtype="bfloat16", gradient_checkpointing=True, method="dpo")
    )
    kinds = {}
    for part in ("unet", "text_encoder", "vae", "vocoder"):
        with safe_open(
            model_dir / part / next(p.name for p in (model_dir / part).glob("*.safetensors")), "pt"
        ) as f:
            kinds[part] = {f.get_slice(k).get_dtype() for k in f.keys()}  # noqa: SIM118
    assert kinds == {"unet": {"F32"}, "text_encoder": {"BF16"}, "vae": {"BF16"}, "vocoder": {"BF16"}}
    assert "| frozen parts' weights | bfloat16 |" in (model_dir / "README.md").read_text()
    assert np.isfinite(load_backend("tango", model_dir).generate(TEXTS[:1], [3])[0]).all()


def test_a_denoiser_without_gradient_checkpointing_is_refused_by_name():
    class WorldLike:  # the world's denoiser is a plain torch module, without checkpointing
        denoiser = torch.nn.Linear(2, 2)

    with pytest.raises(
        InputError, match="the world backend's denoiser \\(Linear\\) has no gradient"
    ) as error:
        enable_gradient_checkpointing(WorldLike(), "world")
    assert error.value.field == "gradient_checkpointing"


def test_half_weights_of_a_backend_that_loads_in_float32_only_are_refused_before_any_work(tmp_path, labels):  # noqa: F811
    with pytest.raises(InputError, match="the world backend loads in float32 only, not bfloat16") as error:
        finetune(_config(tmp_path, labels, "world", tmp_path / "no-model", dtype="bfloat16"))
    assert error.value.field == "dtype" and not (tmp_path / "out").exists()
