"""Tango's hub layout <-> diffusers/transformers modules: configs and state-dict key names.

``declare-lab/tango-full-ft-audiocaps`` (and Tango 2, ``declare-lab/tango2``/``tango2-full``) ship:

=========================  ================================================================
file                       holds
=========================  ================================================================
``main_config.json``       ``text_encoder_name`` (``google/flan-t5-large``), ``scheduler_name``
                           (``stabilityai/stable-diffusion-2-1``), ``unet_model_config_path``
                           (a path inside Tango's code repository), ``unet_model_name``, ...
``pytorch_model_main.bin`` ``unet.*`` (diffusers ``UNet2DConditionModel`` keys, unchanged) and
                           ``text_encoder.*`` (transformers ``T5EncoderModel`` keys, unchanged)
``vae_config.json``        AudioLDM's ``AutoencoderKL(**config)``: ``ddconfig``, ``embed_dim``,
                           ``scale_factor``, ...
``pytorch_model_vae.bin``  AudioLDM's VAE (``encoder.down.{i}.block.{j}...``, taming-style names)
                           with its HiFi-GAN under ``vocoder.*`` (weight norm already removed)
``stft_config.json``       AudioLDM's ``TacotronSTFT(**config)``: the mel front end
``pytorch_model_stft.bin`` its buffers: ``mel_basis``, ``stft_fn.forward_basis``/``inverse_basis``
=========================  ================================================================

The HiFi-GAN's hyper-parameters are not in any file: AudioLDM hard-codes its 16 kHz, 64-mel
generator (``AUDIOLDM_HIFIGAN``); a ``vocoder_config.json`` beside the checkpoint (a baton
extension) overrides them. The key converter below is written in one direction only, diffusers name
-> original name (:func:`vae_key_to_original`); both directions are built from it, so they cannot
disagree.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from baton.audio import MelConfig, hann_window, mel_filterbank
from baton.backends.common import check_state_dict
from baton.errors import InputError

if TYPE_CHECKING:
    from pathlib import Path

    import torch

MAIN_CONFIG = "main_config.json"
VAE_CONFIG = "vae_config.json"
STFT_CONFIG = "stft_config.json"
VOCODER_CONFIG = "vocoder_config.json"  # baton's addition; AudioLDM's hub files do not carry it
MAIN_WEIGHTS = "pytorch_model_main.bin"
VAE_WEIGHTS = "pytorch_model_vae.bin"
STFT_WEIGHTS = "pytorch_model_stft.bin"
ORIGINAL_FILES = (MAIN_CONFIG, VAE_CONFIG, STFT_CONFIG, MAIN_WEIGHTS, VAE_WEIGHTS, STFT_WEIGHTS)

# Tango's configs/diffusion_model_config.json (``unet_model_config_path`` points at it inside
# Tango's code repository, so the hub folder does not hold it).
TANGO_UNET_CONFIG: dict[str, Any] = {
    "act_fn": "silu",
    "attention_head_dim": [5, 10, 20, 20],
    "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False,
    "cross_attention_dim": 1024,
    "down_block_types": [
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "DownBlock2D",
    ],
    "downsample_padding": 1,
    "dual_cross_attention": False,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 8,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "num_class_embeds": None,
    "only_cross_attention": False,
    "out_channels": 8,
    "sample_size": [32, 2],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    "use_linear_projection": True,
    "upcast_attention": True,
}
TANGO_UNET_CONFIG_NAMES = ("configs/diffusion_model_config.json", "diffusion_model_config.json")

# The scheduler of stabilityai/stable-diffusion-2-1 as Tango's DDPMScheduler reads it. Tango ran
# diffusers 0.18, whose DDPMScheduler ignored ``steps_offset`` (1 in that config): its 200
# inference steps are 995, 990, ..., 0. Today's "leading" spacing adds the offset, so it is 0 here.
TANGO_SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "v_prediction",
    "clip_sample": False,
    "timestep_spacing": "leading",
    "steps_offset": 0,
}
SD21_SCHEDULER_NAME = "stabilityai/stable-diffusion-2-1"

# AudioLDM's HiFi-GAN (hifigan/utilities.py, HIFIGAN_16K_64) in SpeechT5HifiGanConfig terms.
AUDIOLDM_HIFIGAN: dict[str, Any] = {
    "model_in_dim": 64,
    "sampling_rate": 16000,
    "upsample_initial_channel": 1024,
    "upsample_rates": [5, 4, 2, 2, 2],
    "upsample_kernel_sizes": [16, 16, 8, 4, 4],
    "resblock_kernel_sizes": [3, 7, 11],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
    "leaky_relu_slope": 0.1,
    "normalize_before": False,
}


# --- configs ----------------------------------------------------------------------------------------


def _field(config: dict[str, Any], key: str, path: Path, where: str = "") -> Any:
    if not isinstance(config, dict) or key not in config:
        raise InputError(
            "required field is missing (is this file from another model?)", path=path, field=f"{where}{key}"
        )
    return config[key]


def vae_config_to_diffusers(config: dict[str, Any], path: Path) -> dict[str, Any]:
    """AudioLDM ``vae_config.json`` -> ``diffusers.AutoencoderKL`` keyword arguments.

    Only the architecture Tango and AudioLDM use converts: no attention outside the middle block,
    no sub-bands, no time-stride-4 levels, and ``z_channels == embed_dim`` (diffusers' quant convs
    keep the channel count).
    """
    dd = _field(config, "ddconfig", path)
    ch = int(_field(dd, "ch", path, "ddconfig."))
    ch_mult = [int(m) for m in _field(dd, "ch_mult", path, "ddconfig.")]
    z_channels = int(_field(dd, "z_channels", path, "ddconfig."))
    embed_dim = int(_field(config, "embed_dim", path))
    unsupported = {
        "subband": int(config.get("subband", 1)) != 1,
        "ddconfig.attn_resolutions": bool(dd.get("attn_resolutions")),
        "ddconfig.downsample_time_stride4_levels": bool(dd.get("downsample_time_stride4_levels")),
        "ddconfig.double_z": not dd.get("double_z", True),
    }
    for field, bad in unsupported.items():
        if bad:
            raise InputError(
                "this VAE variant is not one AudioLDM/Tango use; baton cannot convert it",
                path=path,
                field=field,
            )
    if z_channels != embed_dim:
        raise InputError(
            f"z_channels ({z_channels}) differs from embed_dim ({embed_dim})", path=path, field="embed_dim"
        )
    levels = len(ch_mult)
    return {
        "in_channels": int(_field(dd, "in_channels", path, "ddconfig.")),
        "out_channels": int(_field(dd, "out_ch", path, "ddconfig.")),
        "down_block_types": ["DownEncoderBlock2D"] * levels,
        "up_block_types": ["UpDecoderBlock2D"] * levels,
        "block_out_channels": [ch * m for m in ch_mult],
        "layers_per_block": int(_field(dd, "num_res_blocks", path, "ddconfig.")),
        "act_fn": "silu",
        "latent_channels": embed_dim,
        "norm_num_groups": 32,  # AudioLDM's Normalize() is always GroupNorm(32, eps=1e-6)
        "sample_size": int(dd.get("resolution", 256)),
        "scaling_factor": float(config.get("scale_factor", 1.0)),
    }


def vae_config_to_original(config: dict[str, Any]) -> dict[str, Any]:
    """``AutoencoderKL.config`` -> AudioLDM ``vae_config.json`` (inverse of the above)."""
    channels = list(config["block_out_channels"])
    ch = channels[0]
    return {
        "image_key": "fbank",
        "subband": 1,
        "embed_dim": int(config["latent_channels"]),
        "time_shuffle": 1,
        "ddconfig": {
            "double_z": True,
            "z_channels": int(config["latent_channels"]),
            "resolution": int(config["sample_size"]) if isinstance(config["sample_size"], int) else 256,
            "downsample_time": False,
            "in_channels": int(config["in_channels"]),
            "out_ch": int(config["out_channels"]),
            "ch": ch,
            "ch_mult": [c // ch for c in channels],
            "num_res_blocks": int(config["layers_per_block"]),
            "attn_resolutions": [],
            "dropout": 0.0,
        },
        "scale_factor": float(config["scaling_factor"]),
    }


def stft_config_to_mel(config: dict[str, Any], path: Path) -> MelConfig:
    """AudioLDM ``stft_config.json`` (``TacotronSTFT`` arguments) -> our :class:`MelConfig`.

    TacotronSTFT reflect-pads ``filter_length / 2`` each side, takes the magnitude through a
    periodic Hann window, applies librosa's Slaney mel filters and ``ln(max(x, 1e-5))``: that is
    :meth:`MelConfig.tango` with these sizes.
    """
    try:
        return MelConfig(
            sample_rate=int(_field(config, "sampling_rate", path)),
            n_fft=int(_field(config, "filter_length", path)),
            win_length=int(_field(config, "win_length", path)),
            hop_length=int(_field(config, "hop_length", path)),
            n_mels=int(_field(config, "n_mel_channels", path)),
            f_min=float(_field(config, "mel_fmin", path)),
            f_max=None if config.get("mel_fmax") is None else float(config["mel_fmax"]),
            power=1.0,
            center=True,
            pad_mode="reflect",
            log="ln",
            log_floor=1e-5,
            norm="slaney",
            mel_scale="slaney",
        )
    except ValueError as exc:
        raise InputError(str(exc), path=path) from None


def mel_to_stft_config(mel: MelConfig) -> dict[str, Any]:
    return {
        "filter_length": mel.n_fft,
        "hop_length": mel.hop_length,
        "win_length": mel.win_length,
        "n_mel_channels": mel.n_mels,
        "sampling_rate": mel.sample_rate,
        "mel_fmin": mel.f_min,
        "mel_fmax": mel.f_max,
    }


def tacotron_stft_state_dict(mel: MelConfig) -> dict[str, torch.Tensor]:
    """The buffers AudioLDM's ``TacotronSTFT`` holds for ``mel``, as in ``pytorch_model_stft.bin``.

    ``mel_basis`` [n_mels, n_fft/2 + 1]; ``stft_fn.forward_basis`` [n_fft + 2, 1, n_fft]: the real
    then imaginary rows of the DFT's first n_fft/2 + 1 frequencies, times the (centred) window;
    ``stft_fn.inverse_basis``: the transposed pseudo-inverse of ``(n_fft / hop)`` times the same
    rows, times the window.
    """
    n = mel.n_fft
    cutoff = n // 2 + 1
    dft = np.fft.fft(np.eye(n))
    rows = np.vstack([np.real(dft[:cutoff]), np.imag(dft[:cutoff])])  # [n + 2, n]
    window = np.zeros(n)
    left = (n - mel.win_length) // 2
    window[left : left + mel.win_length] = hann_window(mel).double().numpy()
    forward = rows[:, None, :] * window
    inverse = np.linalg.pinv((n / mel.hop_length) * rows).T[:, None, :] * window
    return {
        "mel_basis": mel_filterbank(mel),
        "stft_fn.forward_basis": torch.from_numpy(forward.astype(np.float32)),
        "stft_fn.inverse_basis": torch.from_numpy(inverse.astype(np.float32)),
    }


def check_stft_weights(stft: dict[str, torch.Tensor], mel: MelConfig, path: Path) -> None:
    """Our front end must compute the model's mel: compare the checkpoint's filterbank with ours."""
    if "mel_basis" not in stft:
        raise InputError("no 'mel_basis' tensor: not AudioLDM's TacotronSTFT weights", path=path)
    theirs = stft["mel_basis"].float()
    ours = mel_filterbank(mel)
    if tuple(theirs.shape) != tuple(ours.shape):
        raise InputError(
            f"mel_basis has shape {tuple(theirs.shape)}, stft_config.json implies {tuple(ours.shape)}",
            path=path,
        )
    worst = float((theirs - ours).abs().max())
    if worst > 1e-5 + 1e-3 * float(ours.abs().max()):
        raise InputError(
            f"the checkpoint's mel filterbank differs from the Slaney filterbank baton computes "
            f"(largest difference {worst:.3g}); baton's mels would not be the model's",
            path=path,
        )


def check_vocoder_weights(config: dict[str, Any], vocoder: dict[str, torch.Tensor], path: Path) -> None:
    """Check that the HiFi-GAN weights fit ``config`` (the hyper-parameters are not in the weights)."""
    expected = {
        "conv_pre.weight": (config["upsample_initial_channel"], config["model_in_dim"], 7),
    }
    channels = config["upsample_initial_channel"]
    for i, kernel in enumerate(config["upsample_kernel_sizes"]):
        expected[f"ups.{i}.weight"] = (channels // 2**i, channels // 2 ** (i + 1), kernel)
    blocks = len(config["upsample_rates"]) * len(config["resblock_kernel_sizes"])
    expected[f"resblocks.{blocks - 1}.convs2.2.bias"] = (channels // 2 ** len(config["upsample_rates"]),)
    for key, shape in expected.items():
        found = vocoder.get(key)
        if found is None or tuple(found.shape) != tuple(shape):
            where = "missing" if found is None else f"of shape {tuple(found.shape)}"
            raise InputError(
                f"vocoder weight 'vocoder.{key}' is {where}, the HiFi-GAN settings expect {tuple(shape)} "
                f"(put the generator's settings in {VOCODER_CONFIG} if it is not AudioLDM's 16 kHz/64-mel one)",
                path=path,
            )


# --- state-dict keys --------------------------------------------------------------------------------

_ATTENTION_RENAMES = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def vae_key_to_original(key: str, levels: int) -> str:
    """A diffusers ``AutoencoderKL`` state-dict key -> the AudioLDM/taming name of the same tensor."""
    side, _, rest = key.partition(".")
    if side not in ("encoder", "decoder"):
        return key  # quant_conv, post_quant_conv
    patterns: list[tuple[str, Any]] = [
        (r"down_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", lambda m: f"down.{m[1]}.block.{m[2]}.{_resnet(m[3])}"),
        (r"down_blocks\.(\d+)\.downsamplers\.0\.(.*)", lambda m: f"down.{m[1]}.downsample.{m[2]}"),
        (
            r"up_blocks\.(\d+)\.resnets\.(\d+)\.(.*)",
            lambda m: f"up.{levels - 1 - int(m[1])}.block.{m[2]}.{_resnet(m[3])}",
        ),
        (r"up_blocks\.(\d+)\.upsamplers\.0\.(.*)", lambda m: f"up.{levels - 1 - int(m[1])}.upsample.{m[2]}"),
        (r"mid_block\.resnets\.(\d+)\.(.*)", lambda m: f"mid.block_{int(m[1]) + 1}.{_resnet(m[2])}"),
        (
            r"mid_block\.attentions\.0\.(.*)\.(weight|bias)",
            lambda m: f"mid.attn_1.{_ATTENTION_RENAMES[m[1]]}.{m[2]}",
        ),
        (r"conv_norm_out\.(.*)", lambda m: f"norm_out.{m[1]}"),
        (r"(conv_in|conv_out)\.(.*)", lambda m: f"{m[1]}.{m[2]}"),
    ]
    for pattern, rename in patterns:
        match = re.fullmatch(pattern, rest)
        if match:
            return f"{side}.{rename(match)}"
    raise KeyError(f"no AudioLDM name for VAE key '{key}'")


def _resnet(rest: str) -> str:
    return rest.replace("conv_shortcut", "nin_shortcut")


def _is_attention_projection(key: str) -> bool:
    return ".attentions." in key and any(f".{p}.weight" in key for p in ("to_q", "to_k", "to_v", "to_out.0"))


def vae_state_dict_to_diffusers(
    original: dict[str, torch.Tensor], reference: dict[str, torch.Tensor], path: Path
) -> dict[str, torch.Tensor]:
    """AudioLDM VAE weights (``vocoder.*`` excluded) -> keys of ``reference``, a diffusers VAE state dict.

    The 1x1 convolutions of the middle attention become linear layers ([C, C, 1, 1] -> [C, C]).
    """
    levels = 1 + max(int(k.split(".")[2]) for k in reference if k.startswith("encoder.down_blocks."))
    names = {vae_key_to_original(key, levels): key for key in reference}
    vae_part = {k: v for k, v in original.items() if not k.startswith("vocoder.")}
    converted = {}
    for name, tensor in vae_part.items():
        key = names.get(name, name)  # unknown names stay, and check_state_dict reports them
        if key in reference and _is_attention_projection(key) and tensor.ndim == 4:
            tensor = tensor[:, :, 0, 0]
        converted[key] = tensor
    check_state_dict(converted, reference, path, "VAE")
    return converted


def vae_state_dict_to_original(vae: dict[str, torch.Tensor], levels: int) -> dict[str, torch.Tensor]:
    """A diffusers VAE state dict -> AudioLDM names and shapes (the inverse of the above)."""
    out = {}
    for key, tensor in vae.items():
        if _is_attention_projection(key):
            tensor = tensor[:, :, None, None]
        out[vae_key_to_original(key, levels)] = tensor.detach().clone()
    return out


def vocoder_state_dict_to_transformers(
    original: dict[str, torch.Tensor], num_mels: int
) -> dict[str, torch.Tensor]:
    """``vocoder.*`` of the AudioLDM VAE checkpoint -> ``SpeechT5HifiGan`` keys (``ups`` -> ``upsampler``).

    The original normalises nothing before the generator; SpeechT5HifiGan's mean/scale buffers are
    set to 0 and 1 (and unused, ``normalize_before=False``).
    """
    out = {}
    for key, tensor in original.items():
        if key.startswith("vocoder."):
            name = key[len("vocoder.") :]
            out[re.sub(r"^ups\.", "upsampler.", name)] = tensor
    out["mean"] = torch.zeros(num_mels)
    out["scale"] = torch.ones(num_mels)
    return out


def vocoder_state_dict_to_original(vocoder: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {
        "vocoder." + re.sub(r"^upsampler\.", "ups.", key): tensor.detach().clone()
        for key, tensor in vocoder.items()
        if key not in ("mean", "scale")
    }


def split_main_state_dict(
    original: dict[str, torch.Tensor], path: Path
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """``pytorch_model_main.bin`` -> (UNet state dict, T5 encoder state dict); other keys are an error."""
    unet = {k[len("unet.") :]: v for k, v in original.items() if k.startswith("unet.")}
    text = {k[len("text_encoder.") :]: v for k, v in original.items() if k.startswith("text_encoder.")}
    others = sorted(k for k in original if not k.startswith(("unet.", "text_encoder.")))
    if others:
        hint = (
            " (a Tango variant started from Stable Diffusion's UNet, with group_in/group_out)"
            if any(k.startswith(("group_in.", "group_out.")) for k in others)
            else ""
        )
        raise InputError(
            f"{len(others)} weights belong to neither the UNet nor the text encoder (e.g. {', '.join(others[:3])})"
            f"{hint}; baton reads Tango's AudioDiffusion with a UNet from a config only",
            path=path,
        )
    if not unet or not text:
        raise InputError(
            "expected 'unet.*' and 'text_encoder.*' weights: not Tango's main checkpoint", path=path
        )
    if "shared.weight" in text and "encoder.embed_tokens.weight" not in text:
        text["encoder.embed_tokens.weight"] = text["shared.weight"]  # tied in T5; older saves drop one
    return unet, text


def join_main_state_dict(
    unet: dict[str, torch.Tensor], text: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    out = {f"unet.{k}": v.detach().clone() for k, v in unet.items()}
    out.update({f"text_encoder.{k}": v.detach().clone() for k, v in text.items()})
    return out


def frames_multiple(vae_levels: int, unet_down_blocks: int) -> int:
    """Mel frames (and bins) must divide by the VAE's and the UNet's total downsampling."""
    return 2 ** (vae_levels - 1) * 2 ** (unet_down_blocks - 1)


def frames_for(duration: float, mel: MelConfig, multiple: int) -> int:
    """Mel frames for ``duration`` seconds, rounded up to ``multiple`` (10 s -> 1000 -> 1024 for Tango)."""
    frames = math.ceil(round(duration * mel.sample_rate / mel.hop_length, 6))
    return max(multiple, math.ceil(frames / multiple) * multiple)
