"""An independent, functional reading of AudioLDM's VAE and HiFi-GAN, on the original key names.

Written from the architecture (taming-style Encoder/Decoder with a middle attention block,
GroupNorm(32, eps 1e-6), asymmetric (0, 1, 0, 1) padding before each stride-2 convolution, nearest
x2 upsampling; HiFi-GAN V1 generator with weight norm removed), not from diffusers or transformers,
so that the converter's output can be checked against it. Every function reads its weights from a
state dict with AudioLDM's names; :class:`KeyLog` records which names a forward pass read.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


class KeyLog(dict):
    """A state dict that remembers every key read through ``[]``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read: set[str] = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)


def _norm(x, sd, name):
    return F.group_norm(x, 32, sd[f"{name}.weight"], sd[f"{name}.bias"], eps=1e-6)


def _conv(x, sd, name, **kwargs):
    return F.conv2d(x, sd[f"{name}.weight"], sd[f"{name}.bias"], **kwargs)


def _resblock(x, sd, name):
    h = _conv(F.silu(_norm(x, sd, f"{name}.norm1")), sd, f"{name}.conv1", padding=1)
    h = _conv(F.silu(_norm(h, sd, f"{name}.norm2")), sd, f"{name}.conv2", padding=1)
    if f"{name}.nin_shortcut.weight" in sd:
        x = _conv(x, sd, f"{name}.nin_shortcut")
    return x + h


def _attention(x, sd, name):
    h = _norm(x, sd, f"{name}.norm")
    q, k, v = (_conv(h, sd, f"{name}.{p}") for p in "qkv")
    b, c, height, width = q.shape
    q = q.reshape(b, c, height * width).transpose(1, 2)  # [b, n, c]
    k = k.reshape(b, c, height * width)  # [b, c, n]
    weights = torch.softmax(q @ k / math.sqrt(c), dim=-1)  # [b, query, key]
    out = v.reshape(b, c, height * width) @ weights.transpose(1, 2)  # [b, c, query]
    return x + _conv(out.reshape(b, c, height, width), sd, f"{name}.proj_out")


def _middle(h, sd, side):
    h = _resblock(h, sd, f"{side}.mid.block_1")
    h = _attention(h, sd, f"{side}.mid.attn_1")
    return _resblock(h, sd, f"{side}.mid.block_2")


def encode_moments(sd, mel, levels, blocks):
    """[B, 1, T, M] log-mel -> posterior moments [B, 2 z, T / r, M / r] (mean first)."""
    h = _conv(mel, sd, "encoder.conv_in", padding=1)
    for i in range(levels):
        for j in range(blocks):
            h = _resblock(h, sd, f"encoder.down.{i}.block.{j}")
        if i != levels - 1:
            h = _conv(F.pad(h, (0, 1, 0, 1)), sd, f"encoder.down.{i}.downsample.conv", stride=2)
    h = _middle(h, sd, "encoder")
    h = _conv(F.silu(_norm(h, sd, "encoder.norm_out")), sd, "encoder.conv_out", padding=1)
    return _conv(h, sd, "quant_conv")


def decode(sd, z, levels, blocks):
    """Latents [B, z, T / r, M / r] (already divided by the scale factor) -> log-mel [B, 1, T, M]."""
    h = _conv(_conv(z, sd, "post_quant_conv"), sd, "decoder.conv_in", padding=1)
    h = _middle(h, sd, "decoder")
    for i in reversed(range(levels)):
        for j in range(blocks + 1):
            h = _resblock(h, sd, f"decoder.up.{i}.block.{j}")
        if i != 0:
            h = _conv(
                F.interpolate(h, scale_factor=2.0, mode="nearest"),
                sd,
                f"decoder.up.{i}.upsample.conv",
                padding=1,
            )
    return _conv(F.silu(_norm(h, sd, "decoder.norm_out")), sd, "decoder.conv_out", padding=1)


def _resblock1d(x, sd, name, kernel, dilations):
    for m, d in enumerate(dilations):
        xt = F.leaky_relu(x, 0.1)
        xt = F.conv1d(
            xt,
            sd[f"{name}.convs1.{m}.weight"],
            sd[f"{name}.convs1.{m}.bias"],
            dilation=d,
            padding=(kernel * d - d) // 2,
        )
        xt = F.leaky_relu(xt, 0.1)
        xt = F.conv1d(
            xt, sd[f"{name}.convs2.{m}.weight"], sd[f"{name}.convs2.{m}.bias"], padding=(kernel - 1) // 2
        )
        x = xt + x
    return x


def hifigan(sd, mel, upsample_rates, resblock_kernels, resblock_dilations, prefix="vocoder."):
    """Log-mel [B, M, T] -> waveform [B, T * prod(upsample_rates)]."""
    x = F.conv1d(mel, sd[f"{prefix}conv_pre.weight"], sd[f"{prefix}conv_pre.bias"], padding=3)
    kinds = len(resblock_kernels)
    for i, rate in enumerate(upsample_rates):
        x = F.leaky_relu(x, 0.1)
        weight = sd[f"{prefix}ups.{i}.weight"]
        x = F.conv_transpose1d(
            x, weight, sd[f"{prefix}ups.{i}.bias"], stride=rate, padding=(weight.shape[-1] - rate) // 2
        )
        x = (
            sum(
                _resblock1d(
                    x, sd, f"{prefix}resblocks.{i * kinds + j}", resblock_kernels[j], resblock_dilations[j]
                )
                for j in range(kinds)
            )
            / kinds
        )
    x = F.leaky_relu(x)  # slope 0.01 before the last convolution
    x = F.conv1d(x, sd[f"{prefix}conv_post.weight"], sd[f"{prefix}conv_post.bias"], padding=3)
    return torch.tanh(x)[:, 0]


def tacotron_mel(stft_sd, waveform, n_fft, hop):
    """AudioLDM's TacotronSTFT.mel_spectrogram from its buffers: reflect pad, conv with the windowed
    DFT basis, magnitude, mel basis, ln(max(x, 1e-5)). [B, N] -> [B, M, frames]."""
    padded = F.pad(waveform[:, None, None], (n_fft // 2, n_fft // 2, 0, 0), mode="reflect")[:, 0]
    spectrum = F.conv1d(padded, stft_sd["stft_fn.forward_basis"], stride=hop)
    cutoff = n_fft // 2 + 1
    magnitude = torch.sqrt(spectrum[:, :cutoff] ** 2 + spectrum[:, cutoff:] ** 2)
    return torch.log(torch.clamp(stft_sd["mel_basis"] @ magnitude, min=1e-5))
