"""PANNs CNN14 from its checkpoint file: the AudioSet classifier audioldm_eval computes KL, IS and FD with.

CNN14 (Kong et al. 2020, "PANNs: Large-Scale Pretrained Audio Neural Networks for Audio Pattern
Recognition") is written out here, with the parameter and buffer names of the released checkpoints
(``{"model": state_dict}``, e.g. ``Cnn14_mAP=0.431.pth`` from the PANNs Zenodo record), so that a
checkpoint loads with ``load_state_dict(strict=True)``:

1. **Front end** (fixed weights, stored in the checkpoint): an STFT as two 1-D convolutions with
   Hann-windowed cosine and sine kernels (``spectrogram_extractor.stft.conv_real`` / ``conv_imag``,
   ``[F, 1, n_fft]``, F = n_fft / 2 + 1), the waveform reflect-padded by n_fft / 2 on each side, the
   power ``re² + im²``; a Slaney mel filter bank (``logmel_extractor.melW``, ``[F, 64]``, 50 Hz up to
   14 kHz at 32 kHz); ``10 log10(max(mel, 1e-10))``.
2. ``bn0``: batch norm over the 64 mel bins.
3. Six conv blocks of 64, 128, 256, 512, 1024 and 2048 channels, each two (3x3 conv without bias,
   batch norm, ReLU), then 2x2 average pooling (1x1 after the sixth).
4. Mean over frequency; max plus mean over time; ``fc1`` (2048 -> 2048) and ReLU: the 2048-d
   **embedding** audioldm_eval computes FD in; ``fc_audioset`` (2048 -> 527): the class logits, whose
   sigmoid is the network's clip-wise output (it is trained on AudioSet's multiple labels).

The published front ends differ by window: 1024 samples is the 32 kHz model (hop 320, mel bins up to
14 kHz), 512 the 16 kHz one (``Cnn14_16k_mAP=0.438.pth``: hop 160, up to 8 kHz); the checkpoint's
STFT kernels say which. Channel widths and the number of classes are read from the checkpoint too,
so a small random-weight CNN14 (:func:`build_tiny_cnn14`) loads as the real one does.

:class:`PannsClassifier` is a :class:`~baton.evaluation.scorers.ClipClassifier` and an
:class:`~baton.evaluation.scorers.AudioEmbedder` (``baton evaluate --classifier panns:PATH
--fad-embedding panns``). Clips are resampled to the model's rate with :func:`baton.audio.resample`
and read whole; one shorter than 31 hops (0.31 s at 32 kHz), which would not survive the five
poolings over time, is zero-padded to that length. Clips of one length are batched together, so
that no clip is padded to another's length (the max over time would see the padding).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.dtypes
import torch
import torch.nn.functional as F
from torch import nn

from baton.audio import resample
from baton.errors import InputError
from baton.evaluation.scorers import judge_identity
from baton.fingerprints import file_digest

PANNS_PREFIX = "panns:"
CNN14_DOWNLOAD = (
    "download Cnn14_mAP=0.431.pth (PANNs CNN14, 32 kHz) from the PANNs Zenodo record, "
    "https://zenodo.org/record/3987831"
)
CNN14_WIDTHS = (64, 128, 256, 512, 1024, 2048)
AUDIOSET_CLASSES = 527
# log10 of powers below this is not taken (torchlibrosa's amin, with ref = 1 and no top_db).
MIN_POWER = 1e-10


@dataclass(frozen=True)
class Cnn14FrontEnd:
    """The STFT and mel settings a CNN14 was trained with."""

    sample_rate: int
    window_size: int
    hop_size: int
    fmax: float
    fmin: float = 50.0
    mel_bins: int = 64

    @property
    def min_samples(self) -> int:
        """The shortest clip whose frames survive five 2x2 poolings: 32 frames = 31 hops."""
        return 31 * self.hop_size


# The released checkpoints' front ends, by STFT window.
FRONT_ENDS = {
    1024: Cnn14FrontEnd(sample_rate=32_000, window_size=1024, hop_size=320, fmax=14_000.0),
    512: Cnn14FrontEnd(sample_rate=16_000, window_size=512, hop_size=160, fmax=8_000.0),
}


# --- the front end ----------------------------------------------------------------------------------


def _hz_to_slaney_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear (3 / 200 mel per Hz) below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = 3.0 * hz / 200.0
    log_step = np.log(6.4) / 27.0
    above = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / log_step
    return np.where(hz >= 1000.0, above, linear)


def _slaney_mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    log_step = np.log(6.4) / 27.0
    return np.where(mel >= 15.0, 1000.0 * np.exp(log_step * (mel - 15.0)), 200.0 * mel / 3.0)


def slaney_mel_filters(sample_rate: int, n_fft: int, mel_bins: int, fmin: float, fmax: float) -> np.ndarray:
    """Triangular filters ``[n_fft // 2 + 1, mel_bins]`` on the Slaney mel scale, each of unit area
    (height 2 / its width in Hz): the filter bank of CNN14's ``logmel_extractor.melW``."""
    bin_hz = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)  # [F]
    edges = _slaney_mel_to_hz(
        np.linspace(_hz_to_slaney_mel(fmin), _hz_to_slaney_mel(fmax), mel_bins + 2)
    )  # [M + 2]: each filter rises from edges[m] to edges[m + 1] and falls to edges[m + 2]
    low, centre, high = edges[:-2, None], edges[1:-1, None], edges[2:, None]  # [M, 1]
    rising = (bin_hz[None, :] - low) / (centre - low)
    falling = (high - bin_hz[None, :]) / (high - centre)
    filters = np.maximum(0.0, np.minimum(rising, falling))  # [M, F]
    filters *= 2.0 / (high - low)
    return filters.T.astype(np.float32)


def stft_kernels(window_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The real and imaginary DFT rows times a periodic Hann window, ``[F, 1, n_fft]`` each."""
    n = np.arange(window_size)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / window_size)  # periodic Hann
    k = np.arange(window_size // 2 + 1)[:, None]
    angle = 2 * np.pi * k * n[None, :] / window_size  # [F, n_fft]
    real = (np.cos(angle) * window)[:, None, :]
    imag = (-np.sin(angle) * window)[:, None, :]
    return real.astype(np.float32), imag.astype(np.float32)


class _Stft(nn.Module):
    def __init__(self, window_size: int, hop_size: int) -> None:
        super().__init__()
        bins = window_size // 2 + 1
        self.conv_real = nn.Conv1d(1, bins, window_size, stride=hop_size, bias=False)
        self.conv_imag = nn.Conv1d(1, bins, window_size, stride=hop_size, bias=False)
        real, imag = stft_kernels(window_size)
        with torch.no_grad():
            self.conv_real.weight.copy_(torch.from_numpy(real))
            self.conv_imag.weight.copy_(torch.from_numpy(imag))
        self.requires_grad_(False)


class PowerSpectrogram(nn.Module):
    """``[B, N]`` waveforms -> ``[B, 1, T, F]`` power spectra, T = N // hop + 1 (centred frames)."""

    def __init__(self, window_size: int, hop_size: int) -> None:
        super().__init__()
        self.pad = window_size // 2
        self.stft = _Stft(window_size, hop_size)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        x = F.pad(audio[:, None, :], (self.pad, self.pad), mode="reflect")  # [B, 1, N + n_fft]
        real, imag = self.stft.conv_real(x), self.stft.conv_imag(x)  # [B, F, T]
        return (real**2 + imag**2).transpose(1, 2)[:, None]  # [B, 1, T, F]


class LogMel(nn.Module):
    """``[B, 1, T, F]`` power spectra -> ``[B, 1, T, M]`` log-mel in dB."""

    def __init__(self, front_end: Cnn14FrontEnd) -> None:
        super().__init__()
        filters = slaney_mel_filters(
            front_end.sample_rate, front_end.window_size, front_end.mel_bins, front_end.fmin, front_end.fmax
        )
        self.register_buffer("melW", torch.from_numpy(filters))  # [F, M]

    def forward(self, power: torch.Tensor) -> torch.Tensor:
        return 10.0 * torch.log10(torch.clamp(power @ self.melW, min=MIN_POWER))


# --- the network ------------------------------------------------------------------------------------


class ConvBlock(nn.Module):
    """Two (3x3 conv, batch norm, ReLU), then average pooling."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor, pool: tuple[int, int]) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return F.avg_pool2d(x, kernel_size=pool)


class Cnn14(nn.Module):
    """CNN14 (see the module docstring): ``forward(audio [B, N])`` -> logits ``[B, C]``, embedding ``[B, W]``.

    ``widths`` are the six blocks' channels (the paper's by default) and ``classes`` the outputs.
    The dropout of training is left out: the network is only evaluated here.
    """

    def __init__(
        self,
        front_end: Cnn14FrontEnd = FRONT_ENDS[1024],
        widths: Sequence[int] = CNN14_WIDTHS,
        classes: int = AUDIOSET_CLASSES,
    ) -> None:
        super().__init__()
        if len(widths) != 6:
            raise ValueError(f"CNN14 has six conv blocks, got {len(widths)} widths")
        self.front_end = front_end
        self.spectrogram_extractor = PowerSpectrogram(front_end.window_size, front_end.hop_size)
        self.logmel_extractor = LogMel(front_end)
        self.bn0 = nn.BatchNorm2d(front_end.mel_bins)
        channels = (1, *widths)
        for i in range(6):
            setattr(self, f"conv_block{i + 1}", ConvBlock(channels[i], channels[i + 1]))
        self.fc1 = nn.Linear(widths[-1], widths[-1])
        self.fc_audioset = nn.Linear(widths[-1], classes)

    def log_mel(self, audio: torch.Tensor) -> torch.Tensor:
        """``[B, N]`` at the front end's rate -> ``[B, 1, T, M]`` log-mel (dB), before ``bn0``."""
        return self.logmel_extractor(self.spectrogram_extractor(audio))

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.log_mel(audio)  # [B, 1, T, M]
        x = self.bn0(x.transpose(1, 3)).transpose(1, 3)  # batch norm per mel bin
        blocks = [getattr(self, f"conv_block{i + 1}") for i in range(6)]
        for block in blocks[:-1]:
            x = block(x, pool=(2, 2))
        x = blocks[-1](x, pool=(1, 1))  # [B, W, T / 32, M / 32]
        x = x.mean(dim=3)  # [B, W, T']
        x = x.max(dim=2).values + x.mean(dim=2)  # [B, W]
        embedding = F.relu(self.fc1(x))  # [B, W]
        return self.fc_audioset(embedding), embedding

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> Cnn14:
        """The CNN14 a state dict is of (its front end, widths and classes read from its shapes), loaded."""
        window = state["spectrogram_extractor.stft.conv_real.weight"].shape[-1]
        if window not in FRONT_ENDS:
            raise ValueError(
                f"an STFT window of {window} samples: the released CNN14s have "
                f"{' or '.join(map(str, FRONT_ENDS))}"
            )
        front_end = dataclasses.replace(FRONT_ENDS[window], mel_bins=state["logmel_extractor.melW"].shape[1])
        widths = [state[f"conv_block{i + 1}.conv1.weight"].shape[0] for i in range(6)]
        model = cls(front_end, widths, classes=state["fc_audioset.weight"].shape[0])
        model.load_state_dict(state, strict=True)
        return model


# --- the judge ---------------------------------------------------------------------------------------


def numpy_array_globals() -> list:
    """What ``torch.load(weights_only=True)`` must also rebuild to read a released PANNs checkpoint.

    Beside ``model`` the released files keep training state holding numpy arrays (autrainer#66 met
    this), which torch refuses by default. Allowed here: numpy's array and scalar rebuilders, under
    numpy 1's module name (the files were written with it) and numpy 2's, and the numeric dtypes. No
    object arrays, so nothing but numbers and strings is built.
    """
    try:  # numpy 2's private module name, else numpy 1's: only one of them is there
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy 1
        from numpy.core.multiarray import _reconstruct, scalar

    numeric = [
        getattr(numpy.dtypes, name)
        for name in dir(numpy.dtypes)
        if name.endswith("DType") and name not in ("ObjectDType", "VoidDType", "StringDType")
    ]
    renamed = [
        (function, f"{package}.multiarray.{function.__name__}")
        for function in (_reconstruct, scalar)
        for package in ("numpy.core", "numpy._core")
    ]
    return [*renamed, np.ndarray, np.dtype, *numeric]


class PannsClassifier:
    """A CNN14 checkpoint as a clip classifier (KL, IS) and an audio embedder (FD), see the module docstring."""

    embedding = "panns"  # its name for --fad-embedding

    def __init__(
        self, model: Cnn14, source: str | Path, checkpoint_sha256: str, batch_size: int = 16
    ) -> None:
        self.model = model.eval().requires_grad_(False)
        self.batch_size = batch_size
        self.front_end = model.front_end
        self.sample_rate = model.front_end.sample_rate
        self.classes = tuple(f"class {i}" for i in range(model.fc_audioset.out_features))
        self.name = f"PANNs CNN14 {source}"
        self.identity = judge_identity(
            self.name,
            source,
            model,
            sample_rate=self.sample_rate,
            classes=len(self.classes),
            checkpoint_sha256=checkpoint_sha256,
        )

    @classmethod
    def load(cls, checkpoint: str | Path, device: str = "cpu") -> PannsClassifier:
        """A CNN14 from a checkpoint file: ``{"model": state_dict, ...}`` as PANNs releases it, or the
        state dict itself. Read with ``torch.load(weights_only=True)``: tensors, plain containers and
        numeric numpy arrays only (:func:`numpy_array_globals`)."""
        path = Path(checkpoint)
        if not path.is_file():
            raise InputError(f"no PANNs CNN14 checkpoint here: {CNN14_DOWNLOAD}", path=path)
        try:
            with torch.serialization.safe_globals(numpy_array_globals()):
                loaded = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # a pickle of other objects, or not a torch file at all
            text = " ".join(str(exc).split())
            refused = re.search(r"WeightsUnpickler error: (.*?\.) ", text)  # torch names what it refused
            reason = refused.group(1) if refused else text[:200]
            raise InputError(
                f"cannot read a CNN14 checkpoint (tensors and numeric arrays only): {reason}", path=path
            ) from None
        state = loaded.get("model", loaded) if isinstance(loaded, dict) else None
        if not isinstance(state, dict) or "fc_audioset.weight" not in state:
            raise InputError(
                "not a PANNs CNN14 checkpoint (no 'model' state dict with 'fc_audioset.weight'): "
                + CNN14_DOWNLOAD,
                path=path,
            )
        try:
            # float32 whatever the file holds (a half-precision copy too); counters stay integers.
            floats = {k: v.float() if torch.is_floating_point(v) else v for k, v in state.items()}
            model = Cnn14.from_state_dict(floats)
        except (KeyError, RuntimeError, TypeError, ValueError) as exc:
            reason = " ".join(str(exc).split())[:300]
            raise InputError(f"not a CNN14 state dict: {reason}", path=path) from None
        return cls(model.to(device), path, file_digest(path, what="checkpoint"))

    def prepare(self, audio: Sequence[np.ndarray], sample_rate: int) -> list[np.ndarray]:
        """Each clip at the model's rate, zero-padded to ``front_end.min_samples`` if shorter."""
        out = []
        for clip in audio:
            clip = resample(np.asarray(clip, dtype=np.float32), sample_rate, self.sample_rate)
            short = self.front_end.min_samples - clip.shape[-1]
            out.append(np.pad(clip, (0, short)) if short > 0 else clip)
        return out

    def logits_and_embeddings(
        self, audio: Sequence[np.ndarray], sample_rate: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Class logits ``[N, C]`` and 2048-d embeddings ``[N, W]`` from one pass of the network."""
        clips = self.prepare(audio, sample_rate)
        logits = np.zeros((len(clips), len(self.classes)))
        embeddings = np.zeros((len(clips), self.model.fc1.out_features))
        by_length: dict[int, list[int]] = {}
        for i, clip in enumerate(clips):
            by_length.setdefault(clip.shape[-1], []).append(i)
        device = next(self.model.parameters()).device
        for indices in by_length.values():
            for start in range(0, len(indices), self.batch_size):
                part = indices[start : start + self.batch_size]
                batch = torch.from_numpy(np.stack([clips[i] for i in part])).to(device)  # [B, N]
                with torch.no_grad():
                    batch_logits, batch_embeddings = self.model(batch)
                logits[part] = batch_logits.double().cpu().numpy()
                embeddings[part] = batch_embeddings.double().cpu().numpy()
        return logits, embeddings

    def clip_logits(self, audio: Sequence[np.ndarray], sample_rate: int) -> np.ndarray:
        return self.logits_and_embeddings(audio, sample_rate)[0]

    def embed_audio(self, audio: Sequence[np.ndarray], sample_rate: int) -> np.ndarray:
        return self.logits_and_embeddings(audio, sample_rate)[1]


def build_tiny_cnn14(
    path: str | Path, seed: int = 0, widths: Sequence[int] = (4, 8, 8, 16, 16, 32), classes: int = 6
) -> Path:
    """Write a small random-weight CNN14 checkpoint (``{"model": state_dict}``) to ``path``.

    CNN14's network and 32 kHz front end at a toy width, for tests and trials without the real
    checkpoint. Its batch norms' statistics are measured on a few seeded noises and tones (as training
    would measure them), so that every block passes on a signal of unit scale and different clips get
    different outputs. Load it with ``PannsClassifier.load(path)`` or ``baton evaluate --classifier
    panns:PATH``.
    """
    torch.manual_seed(seed)
    model = Cnn14(widths=widths, classes=classes)
    rng = np.random.default_rng(seed)
    seconds = np.arange(16_000) / 32_000
    calibration = [amplitude * rng.standard_normal(seconds.size) for amplitude in (0.01, 0.1, 0.5)]
    calibration += [
        amplitude * np.sin(2 * np.pi * hz * seconds) for amplitude, hz in ((0.3, 440), (0.8, 3000))
    ]
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # a cumulative average over the calibration batch
    with torch.no_grad():
        model.train()(torch.tensor(np.stack(calibration), dtype=torch.float32))
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = 0.1
    model.eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict()}, path)
    return path
