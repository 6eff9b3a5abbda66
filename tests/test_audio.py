"""Tests for baton.audio: file I/O, resampling, the mel front end and its inversion."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from baton.audio import (
    MelConfig,
    MelSpectrogram,
    fit_frames,
    griffin_lim,
    hz_to_mel,
    istft,
    load_audio,
    mel_filterbank,
    mel_to_audio,
    mel_to_hz,
    mel_to_linear,
    num_frames,
    resample,
    save_audio,
    stft,
    to_mono,
)
from baton.config import load_config
from baton.errors import InputError


def sine(freq: float, sr: int, seconds: float, amplitude: float = 1.0) -> np.ndarray:
    t = np.arange(round(sr * seconds)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(audio: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.argmax(spectrum) * sr / len(audio))


# --- reading and writing ---------------------------------------------------------------------------


def test_wav_round_trip_is_exact_for_float_samples(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    audio = rng.uniform(-1, 1, size=(2, 1000)).astype(np.float32)
    path = save_audio(tmp_path / "clip.wav", audio, 22050)
    assert sf.info(path).subtype == "FLOAT"
    loaded, sr = load_audio(path, mono=False)
    assert sr == 22050
    assert loaded.dtype == np.float32 and loaded.shape == (2, 1000)
    np.testing.assert_array_equal(loaded, audio)


def test_flac_round_trip_within_pcm16_step(tmp_path: Path) -> None:
    audio = sine(440, 16000, 0.25, amplitude=0.8)
    path = save_audio(tmp_path / "clip.flac", audio, 16000)
    assert sf.info(path).subtype == "PCM_16"
    loaded, sr = load_audio(path)
    assert sr == 16000 and loaded.shape == audio.shape
    # 16-bit PCM: one step is 1/32768, rounding costs at most half of it.
    assert np.max(np.abs(loaded - audio)) <= 0.5 / 32768 + 1e-7
    assert np.max(np.abs(loaded - audio)) > 0  # it really went through 16 bits


def test_saving_a_torch_tensor_and_a_subtype(tmp_path: Path) -> None:
    path = save_audio(tmp_path / "t.wav", torch.full((100,), 0.25), 8000, subtype="pcm_24")
    assert sf.info(path).subtype == "PCM_24"
    loaded, _ = load_audio(path)
    np.testing.assert_allclose(loaded, 0.25, atol=1e-6)


def test_pcm_formats_clip_instead_of_wrapping(tmp_path: Path) -> None:
    path = save_audio(tmp_path / "loud.flac", np.array([1.5, -2.0, 0.5], dtype=np.float32), 8000)
    loaded, _ = load_audio(path)
    np.testing.assert_allclose(loaded, [32767 / 32768, -1.0, 0.5], atol=1e-6)


def test_load_mixes_stereo_down_to_the_channel_mean(tmp_path: Path) -> None:
    left = np.array([0.5, 0.5, -1.0, 0.0], dtype=np.float32)
    right = np.array([-0.1, 0.3, 1.0, 0.25], dtype=np.float32)
    sf.write(tmp_path / "stereo.wav", np.stack([left, right], axis=1), 8000, subtype="FLOAT")
    mono, _ = load_audio(tmp_path / "stereo.wav")
    np.testing.assert_allclose(mono, [0.2, 0.4, 0.0, 0.125], atol=1e-7)
    both, _ = load_audio(tmp_path / "stereo.wav", mono=False)
    assert both.shape == (2, 4)
    single, _ = load_audio(save_audio(tmp_path / "mono.wav", left, 8000), mono=False)
    assert single.shape == (1, 4)


def test_load_resamples_to_the_requested_rate(tmp_path: Path) -> None:
    save_audio(tmp_path / "a.wav", sine(1000, 48000, 0.5), 48000)
    audio, sr = load_audio(tmp_path / "a.wav", sample_rate=16000)
    assert sr == 16000 and audio.shape == (8000,)
    assert peak_hz(audio, sr) == pytest.approx(1000, abs=2)


def test_save_creates_folders_overwrites_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "clip.wav"
    save_audio(target, np.zeros(10, dtype=np.float32) + 0.1, 8000)
    save_audio(target, np.zeros(20, dtype=np.float32) + 0.2, 8000)
    loaded, _ = load_audio(target)
    np.testing.assert_allclose(loaded, np.full(20, 0.2), atol=1e-7)
    assert [p.name for p in target.parent.iterdir()] == ["clip.wav"]


@pytest.mark.parametrize("name", ["missing.wav", "missing.flac"])
def test_missing_file_names_the_path(tmp_path: Path, name: str) -> None:
    with pytest.raises(InputError, match="not found") as info:
        load_audio(tmp_path / name)
    assert info.value.path == str(tmp_path / name)


def test_corrupt_file_gives_a_one_line_error_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "broken.wav"
    path.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk" * 4)
    with pytest.raises(InputError, match="cannot read audio") as info:
        load_audio(path)
    message = str(info.value)
    assert message.startswith(str(path) + ": ")
    assert "\n" not in message
    assert message.count(str(path)) == 1  # soundfile's own copy of the path is dropped


def test_a_folder_is_not_an_audio_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="folder"):
        load_audio(tmp_path)


def test_empty_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros((0, 1), dtype=np.float32), 16000)
    with pytest.raises(InputError, match="no samples") as info:
        load_audio(path)
    assert info.value.path == str(path)


def test_nan_in_a_file_is_rejected_with_its_position(tmp_path: Path) -> None:
    path = tmp_path / "nan.wav"
    data = np.zeros((5, 2), dtype=np.float32)
    data[3, 1] = np.nan
    data[4, 0] = np.inf
    sf.write(path, data, 16000, subtype="FLOAT")
    with pytest.raises(
        InputError, match=r"2 NaN or infinite samples \(first at channel 1, sample 3\)"
    ) as info:
        load_audio(path, mono=False)
    assert info.value.path == str(path)


@pytest.mark.parametrize(
    ("audio", "message"),
    [
        (np.array([0.0, np.nan, 0.0], dtype=np.float32), "NaN or infinite samples"),
        (np.array([0.0, 0.0, -np.inf], dtype=np.float32), "NaN or infinite samples"),
        (np.zeros(0, dtype=np.float32), "no samples"),
        (np.zeros((1000, 2), dtype=np.float32), "expected \\[channels, samples\\]"),
        (np.zeros((1, 2, 3), dtype=np.float32), "must be \\[samples\\]"),
    ],
)
def test_save_rejects_bad_audio_and_writes_nothing(tmp_path: Path, audio: np.ndarray, message: str) -> None:
    path = tmp_path / "out" / "bad.wav"
    with pytest.raises(InputError, match=message) as info:
        save_audio(path, audio, 16000)
    assert info.value.path == str(path)
    assert not path.parent.exists() or list(path.parent.iterdir()) == []


def test_save_rejects_unknown_formats(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="use .wav or .flac"):
        save_audio(tmp_path / "clip.mp3", np.zeros(4), 8000)
    with pytest.raises(InputError, match="cannot store sample format 'FLOAT'"):
        save_audio(tmp_path / "clip.flac", np.zeros(4), 8000, subtype="FLOAT")
    with pytest.raises(InputError, match="sample rate"):
        save_audio(tmp_path / "clip.wav", np.zeros(4), 0)


# --- channels and sample rate ----------------------------------------------------------------------


def test_to_mono_averages_channels() -> None:
    audio = np.array([[1.0, 0.0, 0.5], [0.0, -1.0, 0.5], [0.5, 0.5, 0.5]], dtype=np.float32)
    np.testing.assert_allclose(to_mono(audio), [0.5, -1 / 6, 0.5], atol=1e-7)
    assert to_mono(audio).dtype == np.float32
    np.testing.assert_array_equal(to_mono(audio[0]), audio[0])


@pytest.mark.parametrize(("orig", "target"), [(44100, 16000), (16000, 48000), (22050, 16000)])
def test_resample_keeps_frequency_and_length_ratio(orig: int, target: int) -> None:
    audio = sine(1000, orig, 0.5)
    out = resample(audio, orig, target)
    assert out.dtype == np.float32
    assert out.shape == (math.ceil(len(audio) * target / orig),)
    assert peak_hz(out, target) == pytest.approx(1000, abs=2)
    # The sine's level survives: the filter passes 1 kHz untouched (its RMS stays 1/sqrt(2)).
    assert np.sqrt(np.mean(out[100:-100].astype(np.float64) ** 2)) == pytest.approx(math.sqrt(0.5), rel=0.01)


def test_resample_works_along_the_last_axis() -> None:
    stereo = np.stack([sine(500, 32000, 0.1), sine(2000, 32000, 0.1)])
    out = resample(stereo, 32000, 16000)
    assert out.shape == (2, 1600)
    np.testing.assert_allclose(out[1], resample(stereo[1], 32000, 16000))


# --- mel front end ---------------------------------------------------------------------------------


def test_slaney_mel_scale_hand_values() -> None:
    # Linear below 1 kHz at 3 mels per 200 Hz; above, 27 mels per factor 6.4.
    np.testing.assert_allclose(hz_to_mel([0.0, 500.0, 1000.0, 6400.0]), [0.0, 7.5, 15.0, 42.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel([123.0, 4321.0])), [123.0, 4321.0])
    assert float(hz_to_mel(700.0, "htk")) == pytest.approx(2595 * math.log10(2))


@pytest.mark.parametrize(
    "config",
    [
        MelConfig.tango(),
        MelConfig(
            sample_rate=22050, n_fft=512, win_length=512, hop_length=128, n_mels=80, f_min=30, f_max=None
        ),
        MelConfig(n_fft=400, win_length=400, n_mels=40, f_min=50, f_max=7000, norm=None, mel_scale="htk"),
    ],
)
def test_filterbank_matches_transformers(config: MelConfig) -> None:
    from transformers.audio_utils import mel_filter_bank  # test oracle only

    oracle = mel_filter_bank(
        num_frequency_bins=config.n_fft // 2 + 1,
        num_mel_filters=config.n_mels,
        min_frequency=config.f_min,
        max_frequency=config.sample_rate / 2 if config.f_max is None else config.f_max,
        sampling_rate=config.sample_rate,
        norm=config.norm,
        mel_scale=config.mel_scale,
    ).T  # [M, F]
    ours = mel_filterbank(config)
    assert ours.dtype == torch.float32 and tuple(ours.shape) == oracle.shape
    assert np.max(np.abs(ours.numpy() - oracle)) < 1e-6


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("samples", [16000, 16123, 40000, 63000, 64000])
def test_padded_mel_is_the_mel_of_the_zero_padded_audio(center: bool, samples: int) -> None:
    config = dataclasses.replace(MelConfig.tango(), center=center)
    model = MelSpectrogram(config)
    audio = torch.from_numpy(np.random.default_rng(samples).normal(size=(2, samples)).astype(np.float32))
    full = model(torch.nn.functional.pad(audio, (0, 64000 - samples)))
    torch.testing.assert_close(model.padded(audio, 64000), full, rtol=0, atol=1e-6)


def test_tango_mel_of_ten_seconds_has_1001_frames_and_tango_keeps_1024() -> None:
    config = MelConfig.tango()
    model = MelSpectrogram(config)
    assert "window" in dict(model.named_buffers())
    waveform = torch.zeros(2, 160000)
    waveform[:, ::7] = 0.1
    mel = model(waveform)
    assert mel.shape == (2, 64, 1001) and mel.dtype == torch.float32
    assert num_frames(160000, config) == 1001
    assert model(waveform[0]).shape == (1, 64, 1001)
    # Tango pads the waveform to 1024 * 160 samples and keeps the first 1024 of 1025 frames.
    padded = model(torch.zeros(1, 1024 * 160))
    assert padded.shape[-1] == 1025
    assert fit_frames(padded, 1024).shape == (1, 64, 1024)
    # Silence sits at the log floor.
    assert torch.allclose(padded, torch.full_like(padded, math.log(1e-5)))


def numpy_log_mel(audio: np.ndarray, config: MelConfig, pad: int) -> np.ndarray:
    """An independent log-mel: reflect-pad, frame, periodic Hann by formula, rfft, filters, ln."""
    from transformers.audio_utils import mel_filter_bank

    padded = np.pad(audio.astype(np.float64), pad, mode="reflect")
    n = config.n_fft
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)
    count = 1 + (len(padded) - n) // config.hop_length
    frames = np.stack([padded[i * config.hop_length : i * config.hop_length + n] for i in range(count)])
    magnitude = np.abs(np.fft.rfft(frames * window, axis=-1)).T  # [F, T]
    filters = mel_filter_bank(
        n // 2 + 1, config.n_mels, config.f_min, config.f_max, config.sample_rate, "slaney", "slaney"
    )
    return np.log(np.maximum(filters.T @ magnitude, 1e-5))


@pytest.mark.parametrize("center", [True, False])
def test_mel_spectrogram_matches_a_hand_written_one(center: bool) -> None:
    config = MelConfig.tango()
    config.center = center
    rng = np.random.default_rng(2)
    audio = (0.3 * rng.standard_normal(4800)).astype(np.float32)
    pad = config.n_fft // 2 if center else (config.n_fft - config.hop_length) // 2
    expected = numpy_log_mel(audio, config, pad)
    ours = MelSpectrogram(config)(torch.from_numpy(audio))[0].numpy()
    assert ours.shape == expected.shape == (64, num_frames(4800, config))
    assert ours.shape[-1] == (31 if center else 30)
    np.testing.assert_allclose(ours, expected, atol=2e-4)


def test_power_and_decibel_options() -> None:
    config = MelConfig(power=2.0, log="db", log_floor=1e-10)
    linear = MelConfig(power=2.0, log=None)
    audio = torch.from_numpy(sine(1000, 16000, 0.2, 0.5))
    db = MelSpectrogram(config)(audio)
    power = MelSpectrogram(linear)(audio)
    torch.testing.assert_close(db, 10 * torch.log10(power.clamp_min(1e-10)))


def test_bad_mel_settings_are_reported_against_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "mel.yaml"
    path.write_text("log: log10\n")
    with pytest.raises(InputError, match="field 'log'"):
        load_config(MelConfig, path)
    path.write_text("win_length: 2048\n")
    with pytest.raises(InputError, match="must not exceed n_fft"):
        load_config(MelConfig, path)


# --- inversion -------------------------------------------------------------------------------------


@pytest.mark.parametrize("center", [True, False])
def test_stft_and_istft_round_trip(center: bool) -> None:
    config = MelConfig(n_fft=512, win_length=400, hop_length=128, center=center)
    waveform = torch.randn(2, 128 * 40, generator=torch.Generator().manual_seed(3))
    spectrum = stft(waveform, config)
    assert spectrum.shape == (2, 257, num_frames(128 * 40, config))
    torch.testing.assert_close(istft(spectrum, config), waveform, atol=1e-5, rtol=0)


def test_mel_to_linear_is_non_negative_and_consistent() -> None:
    config = MelConfig.tango()
    audio = torch.from_numpy(sine(1000, 16000, 0.3, 0.5))
    mel = MelSpectrogram(MelConfig(log=None))(audio)  # linear mel [1, 64, T]
    linear = mel_to_linear(mel, config)
    assert linear.shape == (1, 513, mel.shape[-1])
    assert float(linear.min()) >= 0.0
    # Mapping it back through the filters gives nearly the mel we started from (clipping the
    # least-squares solution at zero costs a little).
    again = torch.matmul(mel_filterbank(config), linear)
    assert float((again - mel).norm() / mel.norm()) < 0.15
    # Its energy sits at the sine's frequency (bins are 16000 / 1024 = 15.6 Hz apart).
    assert float(linear[0].mean(-1).argmax()) * 16000 / 1024 == pytest.approx(1000, abs=50)


def test_fast_griffin_lim_beats_the_classic_one() -> None:
    config = MelConfig.tango()
    target = stft(0.1 * torch.randn(1, 8000, generator=torch.Generator().manual_seed(4)), config).abs()

    def spectral_error(waveform: torch.Tensor) -> float:
        return float((stft(waveform, config).abs() - target).norm() / target.norm())

    fast = spectral_error(griffin_lim(target, config, n_iter=16, momentum=0.99))
    classic = spectral_error(griffin_lim(target, config, n_iter=16, momentum=0.0))
    start = spectral_error(griffin_lim(target, config, n_iter=0))  # random phases only
    assert fast < classic < start


def test_imposing_a_phase_by_division_equals_exp_of_the_angle() -> None:
    from baton.audio import _with_phase

    generator = torch.Generator().manual_seed(0)
    estimate = torch.complex(
        torch.randn(3, 5, 7, generator=generator), torch.randn(3, 5, 7, generator=generator)
    )
    magnitude = torch.rand(3, 5, 7, generator=generator)
    expected = magnitude * torch.exp(1j * torch.angle(estimate))
    assert torch.allclose(_with_phase(magnitude, estimate), expected, atol=1e-6)
    assert torch.equal(_with_phase(torch.ones(1), torch.zeros(1, dtype=torch.complex64)), torch.zeros(1))


def test_sine_mel_inverts_to_a_sine_of_the_same_frequency() -> None:
    config = MelConfig.tango()
    n = 16000 - 37  # not a multiple of the hop
    audio = sine(1000, 16000, n / 16000, 0.5)
    log_mel = MelSpectrogram(config)(torch.from_numpy(audio))
    assert log_mel.shape[-1] == n // 160 + 1

    waveform = mel_to_audio(log_mel, config, n_iter=16, seed=0)
    assert waveform.shape == (1, (n // 160) * 160)  # the frames' length: N rounded down to hops
    assert mel_to_audio(log_mel, config, n_iter=2, length=n).shape == (1, n)
    # Mel bands near 1 kHz are about 50 Hz apart, which bounds how exactly the peak can come back.
    spacing = float(hz_to_mel(8000.0)) / (64 + 1)
    band = float(mel_to_hz(hz_to_mel(1000.0) + spacing)) - 1000.0
    assert peak_hz(waveform[0].numpy(), 16000) == pytest.approx(1000, abs=band)

    # Deterministic for a seed, different across seeds.
    first, again = (mel_to_audio(log_mel, config, n_iter=2, seed=0) for _ in range(2))
    other = mel_to_audio(log_mel, config, n_iter=2, seed=1)
    torch.testing.assert_close(again, first, rtol=0, atol=0)
    assert not torch.equal(other, first)
    assert waveform.dtype == torch.float32
