"""The synthesizer: every class sounds, repeats with its seed, and looks as designed on a log-mel picture."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from baton.world import synth
from baton.world.spec import CLASSES, SAMPLE_RATE

HOP = 160  # 10 ms frames, the finest hop the world's models use


def log_mel(audio: np.ndarray, n_mels: int = 64, n_fft: int = 1024) -> np.ndarray:
    """A plain log-mel picture [frames, n_mels] (HTK mel scale, 0-8 kHz), enough to look at classes."""
    padded = np.pad(audio.astype(np.float64), (n_fft // 2, n_fft // 2))
    frames = 1 + (len(padded) - n_fft) // HOP
    index = np.arange(frames)[:, None] * HOP + np.arange(n_fft)[None, :]
    power = np.abs(np.fft.rfft(padded[index] * np.hanning(n_fft), axis=1)) ** 2  # [T, F]

    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    edges = 700.0 * (
        10.0 ** (np.linspace(0.0, hz_to_mel(np.array(SAMPLE_RATE / 2)), n_mels + 2) / 2595.0) - 1.0
    )
    freqs = np.fft.rfftfreq(n_fft, 1.0 / SAMPLE_RATE)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    bank = np.clip(
        np.minimum((freqs - lower) / (centre - lower), (upper - freqs) / (upper - centre)), 0.0, None
    )
    return np.log(power @ bank.T + 1e-10)


def band_centroid(audio: np.ndarray) -> float:
    """The power-weighted mean mel bin (0-63) of a sound: where it sits between low and high."""
    power = np.exp(log_mel(audio)).sum(axis=0)
    return float((power * np.arange(len(power))).sum() / power.sum())


def frame_energy_db(audio: np.ndarray) -> np.ndarray:
    """Energy per 10 ms frame, in dB."""
    usable = len(audio) // HOP * HOP
    return 10.0 * np.log10((audio[:usable].reshape(-1, HOP).astype(np.float64) ** 2).mean(axis=1) + 1e-12)


def draw(name: str, seed: int, duration: float | None = None) -> np.ndarray:
    return synth.synthesize(name, np.random.default_rng(seed), duration=duration)


# --- every class: shape, level, repeatability ---------------------------------------------------------


@pytest.mark.parametrize("name", CLASSES)
def test_each_class_is_finite_audible_and_of_the_stated_duration(name: str) -> None:
    for duration in (0.3, 0.77, 1.2):
        audio = draw(name, seed=1, duration=duration)
        assert audio.dtype == np.float32
        assert audio.shape == (round(duration * SAMPLE_RATE),)
        assert np.isfinite(audio).all()
        rms_db = 20 * np.log10(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
        assert rms_db > -45.0, f"{name} at {duration} s is near silent ({rms_db:.1f} dBFS)"
        assert np.max(np.abs(audio)) <= synth.PEAK_LIMIT + 1e-6
        # Faded in and out: no click at either end.
        assert abs(audio[0]) < 1e-3 and abs(audio[-1]) < 1e-3


@pytest.mark.parametrize("name", CLASSES)
def test_default_duration_is_drawn_from_the_class_range(name: str) -> None:
    low, high = synth.DURATION_RANGE[name]
    lengths = [len(draw(name, seed)) / SAMPLE_RATE for seed in range(8)]
    assert all(low - 1e-3 <= n <= high + 1e-3 for n in lengths)
    assert len(set(lengths)) > 1


@pytest.mark.parametrize("name", CLASSES)
def test_same_seed_same_sound_other_seed_other_sound(name: str) -> None:
    first = draw(name, seed=7, duration=0.6)
    np.testing.assert_array_equal(first, draw(name, seed=7, duration=0.6))
    assert not np.allclose(first, draw(name, seed=8, duration=0.6), atol=1e-3)


def test_loudness_varies_between_draws() -> None:
    levels = [
        np.sqrt(np.mean(draw("beep", seed, duration=0.5).astype(np.float64) ** 2)) for seed in range(10)
    ]
    spread_db = 20 * np.log10(max(levels) / min(levels))
    assert 3.0 < spread_db <= synth.LOUDNESS_DB[1] - synth.LOUDNESS_DB[0] + 0.5


def test_bad_requests_raise_clear_errors() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="unknown sound class 'dog'.*beep"):
        synth.synthesize("dog", rng)
    with pytest.raises(ValueError, match="duration"):
        synth.synthesize("beep", rng, duration=0.0)
    with pytest.raises(ValueError, match="duration"):
        synth.synthesize("beep", rng, duration=5.0)


# --- building blocks, against their formulas --------------------------------------------------------


def test_wavetable_is_the_sum_of_its_harmonics() -> None:
    amplitudes, phases = np.array([1.0, 0.5, 0.25]), np.array([0.3, 1.0, 2.0])
    table = synth._wavetable(amplitudes, phases, size=64)
    m = np.arange(64)
    expected = sum(
        a * np.sin(2 * np.pi * (k + 1) * m / 64 + p)
        for k, (a, p) in enumerate(zip(amplitudes, phases, strict=True))
    )
    np.testing.assert_allclose(table, expected, atol=1e-12)


def test_decaying_partials_match_sines_times_exponentials() -> None:
    freqs, decays = np.array([440.0, 1234.5]), np.array([0.1, 0.02])
    weights = np.array([1.0, 0.5 * np.exp(1j * 0.7)])
    n = 700  # not a multiple of the 256-sample block
    t = np.arange(n) / SAMPLE_RATE
    expected = np.sin(2 * np.pi * 440.0 * t) * np.exp(-t / 0.1) + 0.5 * np.sin(
        2 * np.pi * 1234.5 * t + 0.7
    ) * np.exp(-t / 0.02)
    np.testing.assert_allclose(synth._decaying_partials(freqs, decays, weights, n), expected, atol=1e-10)


# --- listening by eye: each class looks as designed -------------------------------------------------


def test_bands_are_ordered_from_low_drones_to_high_birds() -> None:
    centroid = {
        name: np.mean([band_centroid(draw(name, seed, 0.8)) for seed in range(3)]) for name in CLASSES
    }
    assert centroid["hum"] < centroid["beep"] < centroid["whistle"] < centroid["tweet"]
    for low in ("engine", "knock"):
        assert centroid[low] < 7, (low, centroid[low])  # below ~300 Hz
    assert centroid["engine"] < centroid["hum"] < 12  # the hum's harmonics reach higher
    for high in ("whistle", "tweet", "rain"):
        assert centroid[high] > 35, (high, centroid[high])  # above ~2 kHz
    assert centroid["noise_burst"] > 25  # broadband


def test_beep_holds_its_pitch_while_the_chirp_rises_and_the_siren_wobbles() -> None:
    for seed in range(3):
        beep = log_mel(draw("beep", seed, 0.8))[5:-5].argmax(axis=1)
        assert beep.max() - beep.min() <= 1
        chirp = log_mel(draw("chirp", seed, 0.6))[3:-3].argmax(axis=1)
        assert chirp[-1] - chirp[0] >= 10
        assert np.all(np.diff(chirp) >= 0)  # never falls
        siren = log_mel(draw("siren", seed, 1.4))[5:-5].argmax(axis=1)
        assert siren.max() - siren.min() >= 4
        assert np.any(np.diff(siren) > 0) and np.any(np.diff(siren) < 0)


def count_bursts(energy_db: np.ndarray, below_peak_db: float) -> int:
    """How many separate runs of frames rise above ``peak - below_peak_db``."""
    loud = (energy_db > energy_db.max() - below_peak_db).astype(np.int8)
    return int((np.diff(np.concatenate([[0], loud])) == 1).sum())


def test_knocks_are_two_to_four_separate_thumps_and_clicks_a_regular_train() -> None:
    for seed in range(6):
        assert 2 <= count_bursts(frame_energy_db(draw("knock", seed, 0.9)), 15.0) <= 4
    for seed in range(4):
        clicks = draw("click_train", seed, 1.0)
        ticks = np.flatnonzero(np.abs(clicks) > 0.5 * np.abs(clicks).max())
        starts = ticks[np.concatenate([[True], np.diff(ticks) > 0.02 * SAMPLE_RATE])]
        rate = (len(starts) - 1) / ((starts[-1] - starts[0]) / SAMPLE_RATE)
        assert 7.0 <= rate <= 21.0
        assert np.std(np.diff(starts)) < 0.1 * np.mean(np.diff(starts))  # regular


def test_the_bell_dies_away_while_the_hum_stays() -> None:
    bell = frame_energy_db(draw("bell", 0, 1.2))
    hum = frame_energy_db(draw("hum", 0, 1.2))
    third = len(bell) // 3
    assert bell[:third].mean() - bell[-third:].mean() > 15.0
    assert abs(hum[10:third].mean() - hum[-third:-10].mean()) < 1.0


def test_rain_has_no_low_end_unlike_a_noise_burst() -> None:
    def low_share(audio: np.ndarray) -> float:
        power = np.exp(log_mel(audio)).sum(axis=0)
        return float(power[:8].sum() / power.sum())  # bins below ~300 Hz

    for seed in range(3):
        assert low_share(draw("rain", seed, 1.0)) < 0.01
        assert low_share(draw("noise_burst", seed, 0.3)) > 0.02


def test_a_nearest_neighbour_reader_of_pooled_log_mel_tells_the_classes_apart() -> None:
    """The crudest detector (1-nearest neighbour on time-pooled log-mel) must already name nearly all.

    Clips sit on the composer's -50 dBFS noise floor, as the world's detectors will hear them.
    """
    floor = 10 ** (-50 / 20) * np.random.default_rng(0).standard_normal(SAMPLE_RATE * 2)

    def features(audio: np.ndarray) -> np.ndarray:
        padded = np.pad(audio, (800, 800))
        picture = log_mel(padded + floor[: len(padded)])
        return np.concatenate([picture.mean(axis=0), picture.std(axis=0)])

    references = np.stack([features(draw(name, 100 + s)) for name in CLASSES for s in range(8)])
    reference_class = np.repeat(np.arange(len(CLASSES)), 8)
    correct = total = 0
    for index, name in enumerate(CLASSES):
        for seed in range(8):
            distance = np.linalg.norm(references - features(draw(name, 500 + seed)), axis=1)
            correct += int(reference_class[distance.argmin()] == index)
            total += 1
    assert correct / total >= 0.95


def test_example_wavs_are_written_and_read_back(tmp_path) -> None:
    paths = synth.write_examples(tmp_path, seed=3)
    assert [p.name for p in paths] == [f"{name}_0.wav" for name in CLASSES]
    audio, rate = soundfile.read(paths[0], dtype="float32")
    assert rate == SAMPLE_RATE
    np.testing.assert_array_equal(audio, synth.synthesize(CLASSES[0], np.random.default_rng((3, 0))))
