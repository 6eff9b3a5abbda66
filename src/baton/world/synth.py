"""The synthesizer of the sound world: twelve event classes a listener (and a small model) can tell apart.

Each class owns a region of the 0-8 kHz log-mel picture and a temporal texture, so that a detector over
64-bin log-mel frames can name it from a few frames, while pitch, duration, loudness and timbre vary
from one draw to the next:

==============  ======================  ==============================================================
class           band                    texture
==============  ======================  ==============================================================
beep            0.7-1.3 kHz             one steady pure tone, flat envelope
chirp           0.4-0.8 kHz -> x3-x5    one rising exponential sweep
siren           0.5-0.9 kHz +-20-35 %   harmonic tone whose pitch wobbles slowly up and down
whistle         2.0-3.2 kHz             high pure tone with vibrato
tweet           3.5-6.0 kHz             2-5 short falling syllables
bell            0.3-0.8 kHz and up      inharmonic partials, sharp strike, exponential decay
hum             80-160 Hz, to 2 kHz     steady low harmonic drone
engine          below ~600 Hz           rumbling noise and low sawtooth, pulsing at 6-14 Hz
knock           90-200 Hz               2-4 separate damped thumps
click_train     broadband, high         regular ticks at 10-22 per second
noise_burst     broadband               one short hiss, 0.15-0.4 s
rain            1-8 kHz                 sustained high hiss sprinkled with droplets
==============  ======================  ==============================================================

``synthesize(name, rng)`` draws every parameter from the given ``numpy.random.Generator``: the same
generator state gives the same samples. The result is float32 at ``SAMPLE_RATE``, faded in and out
so it starts and ends at zero, with a peak of at most ``PEAK_LIMIT``: two overlapping events stay
below full scale.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.fft
import soundfile

from baton.world.spec import CLASSES, CLIP_SECONDS, SAMPLE_RATE

SR = SAMPLE_RATE
PEAK_LIMIT = 0.5
# Loudness of an event: its RMS is drawn in this range (dBFS), unless that would push the peak over
# PEAK_LIMIT (impulsive classes), in which case the peak sets the gain.
LOUDNESS_DB = (-24.0, -15.0)

# Duration range (seconds) of each class when the caller does not fix it. Three of the longest still
# fit one 4 s clip in sequence once the composer shrinks them toward their minimum.
DURATION_RANGE: dict[str, tuple[float, float]] = {
    "beep": (0.4, 1.0),
    "chirp": (0.35, 0.8),
    "siren": (0.9, 1.4),
    "whistle": (0.6, 1.2),
    "tweet": (0.4, 0.9),
    "bell": (0.7, 1.3),
    "hum": (0.8, 1.4),
    "engine": (0.8, 1.4),
    "knock": (0.5, 1.0),
    "click_train": (0.5, 1.1),
    "noise_burst": (0.15, 0.4),
    "rain": (0.9, 1.4),
}


# --- building blocks --------------------------------------------------------------------------------


def _times(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.float64) / SR


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _phase(freq: np.ndarray | float, n: int) -> np.ndarray:
    """Phase in cycles of an oscillator following ``freq`` (Hz, scalar or one value per sample) [n]."""
    if np.isscalar(freq):
        return float(freq) * _times(n)
    return np.cumsum(freq) / SR


TABLE_SIZE = 2**14


def _wavetable(amplitudes: np.ndarray, phases: np.ndarray, size: int = TABLE_SIZE) -> np.ndarray:
    """One period [size] of sum_k amplitudes[k] sin(2 pi (k + 1) m / size + phases[k]).

    Built as an inverse FFT: a sine of phase p is the real part of exp(i (p - pi / 2)).
    """
    spectrum = np.zeros(size // 2 + 1, dtype=np.complex128)
    harmonics = len(amplitudes)
    spectrum[1 : harmonics + 1] = (size / 2) * amplitudes * np.exp(1j * (phases - np.pi / 2))
    return np.fft.irfft(spectrum, size)


def _play_table(table: np.ndarray, cycles: np.ndarray) -> np.ndarray:
    """Read a wavetable (power-of-two size) at the given phase in cycles, nearest point: cheap harmonics.

    With 2**14 points the phase error is under 1/32768 of a cycle: distortion near -66 dB, below the
    world's noise floor.
    """
    size = len(table)
    return table[np.round(cycles * size).astype(np.int64) & (size - 1)]


def _shaped_noise(rng: np.random.Generator, n: int, gain: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """White noise whose spectrum is multiplied by ``gain(frequency_hz)``; unit RMS."""
    # An FFT of a length with large prime factors is 20 times slower: shape a fast length, then cut.
    size = scipy.fft.next_fast_len(n, real=True)
    spectrum = np.fft.rfft(rng.standard_normal(size))
    spectrum *= gain(np.fft.rfftfreq(size, 1 / SR))
    noise = np.fft.irfft(spectrum, size)[:n]
    return noise / (np.sqrt(np.mean(noise**2)) + 1e-12)


def _place(out: np.ndarray, starts: np.ndarray, grains: np.ndarray) -> None:
    """Add ``grains`` [G, L] into ``out`` at sample offsets ``starts`` [G], cutting what overruns."""
    length = grains.shape[1]
    index = starts[:, None] + np.arange(length)[None, :]
    inside = index < len(out)
    np.add.at(out, index[inside], grains[inside])


def _damped_sines(freqs: np.ndarray, decays: np.ndarray, length: int) -> np.ndarray:
    """Grains [G, length]: a sine at ``freqs[g]`` Hz decaying with time constant ``decays[g]`` s."""
    t = _times(length)[None, :]
    return np.sin(2 * np.pi * freqs[:, None] * t) * np.exp(-t / decays[:, None])


def _decaying_partials(freqs: np.ndarray, decays: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    """Sum over partials p of Im(weights[p] z_p^k), z_p = exp((2 pi i freqs[p] - 1 / decays[p]) / SR).

    That is, decaying sines with complex amplitudes (magnitude and phase). Sample ``k = b L + l`` is
    computed as ``z^(b L) z^l`` for blocks of ``L`` samples: one small complex matrix product instead
    of a sine and an exponential per partial and sample, about three times faster.
    """
    block = 256
    blocks = -(-n // block)
    steps = np.exp((2j * np.pi * freqs - 1.0 / decays) / SR)  # [P]
    within = steps[:, None] ** np.arange(block)[None, :]  # [P, L]
    starts = weights[:, None] * steps[:, None] ** (block * np.arange(blocks))[None, :]  # [P, B]
    # einsum, not @: a small complex BLAS product pays for waking threads, 30x slower on a busy machine.
    return np.einsum("pb,pl->bl", starts, within).reshape(-1)[:n].imag.copy()  # [B, L] -> [n]


def _fade(x: np.ndarray, fade_in: float, fade_out: float) -> np.ndarray:
    """Raised-cosine ramps at both ends (in place), so an event starts and ends at zero."""
    n = len(x)
    n_in = min(max(int(fade_in * SR), 1), n // 2)
    n_out = min(max(int(fade_out * SR), 1), n - n_in)
    x[:n_in] *= 0.5 - 0.5 * np.cos(np.pi * np.arange(n_in) / n_in)
    x[n - n_out :] *= 0.5 + 0.5 * np.cos(np.pi * (np.arange(n_out) + 1) / n_out)
    return x


def _attack_decay(n: int, attack: float, decay: float) -> np.ndarray:
    """Envelope: a linear rise over ``attack`` s, then exponential decay with time constant ``decay``."""
    t = _times(n)
    return np.minimum(t / max(attack, 1.0 / SR), 1.0) * np.exp(-np.maximum(t - attack, 0.0) / decay)


def _evenly_spaced(rng: np.random.Generator, count: int, span: int, jitter: float) -> np.ndarray:
    """``count`` sample offsets spread over [0, span) with a little random jitter, sorted, from 0."""
    if count == 1:
        return np.zeros(1, dtype=np.int64)
    step = span / (count - 1)
    offsets = np.arange(count) * step + rng.uniform(-jitter, jitter, count) * step
    offsets[0] = 0.0
    return np.sort(np.clip(np.round(offsets), 0, span)).astype(np.int64)


# --- the classes --------------------------------------------------------------------------------------


def _beep(rng: np.random.Generator, n: int) -> np.ndarray:
    freq = _log_uniform(rng, 700.0, 1300.0)
    second = rng.uniform(0.0, 0.12)  # a faint 2nd harmonic: the timbre varies, the band does not
    cycles = _phase(freq, n)
    x = np.sin(2 * np.pi * cycles) + second * np.sin(4 * np.pi * cycles + rng.uniform(0, 2 * np.pi))
    return _fade(x, 0.008, 0.012)


def _chirp(rng: np.random.Generator, n: int) -> np.ndarray:
    start = _log_uniform(rng, 400.0, 800.0)
    ratio = rng.uniform(3.0, 5.0)
    t = _times(n)
    freq = start * ratio ** (t / t[-1])
    cycles = _phase(freq, n)
    x = np.sin(2 * np.pi * cycles) + rng.uniform(0.0, 0.2) * np.sin(4 * np.pi * cycles)
    return _fade(x, 0.01, 0.02)


def _siren(rng: np.random.Generator, n: int) -> np.ndarray:
    centre = _log_uniform(rng, 500.0, 900.0)
    depth = rng.uniform(0.2, 0.35)
    rate = rng.uniform(1.0, 2.5)  # one up-and-down every 0.4-1 s: at least one full wobble per event
    freq = centre * (1.0 + depth * np.sin(2 * np.pi * rate * _times(n) + rng.uniform(0, 2 * np.pi)))
    amplitudes = np.array([1.0, rng.uniform(0.25, 0.5), rng.uniform(0.15, 0.3), rng.uniform(0.05, 0.15)])
    table = _wavetable(amplitudes, rng.uniform(0, 2 * np.pi, len(amplitudes)))
    return _fade(_play_table(table, _phase(freq, n)), 0.03, 0.05)


def _whistle(rng: np.random.Generator, n: int) -> np.ndarray:
    base = _log_uniform(rng, 2000.0, 3200.0)
    depth = rng.uniform(0.015, 0.03)
    rate = rng.uniform(5.0, 8.0)
    t = _times(n)
    freq = base * (1.0 + depth * np.sin(2 * np.pi * rate * t))
    tremolo = 1.0 - rng.uniform(0.0, 0.2) * (0.5 + 0.5 * np.sin(2 * np.pi * rate * t))
    return _fade(np.sin(2 * np.pi * _phase(freq, n)) * tremolo, rng.uniform(0.03, 0.06), 0.05)


def _tweet(rng: np.random.Generator, n: int) -> np.ndarray:
    count = int(rng.integers(2, 6))
    syllable = int(rng.uniform(0.04, 0.09) * SR)
    count = max(1, min(count, n // int(1.6 * syllable)))  # keep a gap at least 0.6 syllable long
    syllable = min(syllable, n)
    starts = _evenly_spaced(rng, count, n - syllable, jitter=0.1)
    # Each syllable falls from its top pitch to 60-80 % of it (exponentially), under a Hann window.
    top = np.exp(rng.uniform(np.log(3500.0), np.log(6000.0))) * rng.uniform(0.95, 1.05, count)
    fall = rng.uniform(0.6, 0.8)
    shape = fall ** (np.arange(syllable) / syllable)  # [L]
    cycles = np.cumsum(top[:, None] * shape[None, :], axis=1) / SR  # [G, L]
    grains = np.sin(2 * np.pi * cycles) * np.hanning(syllable)[None, :] * rng.uniform(0.7, 1.0, (count, 1))
    x = np.zeros(n)
    _place(x, starts, grains)
    return x


def _bell(rng: np.random.Generator, n: int) -> np.ndarray:
    fundamental = _log_uniform(rng, 300.0, 800.0)
    # Partials of a struck bell (hum, prime, minor third, fifth, nominal and above): inharmonic ratios.
    ratios = np.array([0.5, 1.0, 1.19, 1.5, 2.0, 2.52, 2.67, 3.0, 4.07])
    ratios = ratios * rng.uniform(0.985, 1.015, len(ratios))
    freqs = fundamental * ratios
    keep = freqs < 7000.0
    amplitudes = rng.uniform(0.3, 1.0, len(ratios))[keep]
    # Higher partials die faster; the slowest is down ~35 dB by the end of the event.
    slowest = (n / SR) / 4.0
    decays = slowest / (1.0 + 0.6 * np.arange(keep.sum()))
    weights = amplitudes * np.exp(1j * rng.uniform(0, 2 * np.pi, keep.sum()))
    return _fade(_decaying_partials(freqs[keep], decays, weights, n), 0.002, 0.03)


def _hum(rng: np.random.Generator, n: int) -> np.ndarray:
    fundamental = _log_uniform(rng, 80.0, 160.0)
    count = int(2000.0 // fundamental)  # harmonics up to 2 kHz: brighter than the engine's rumble
    slope = rng.uniform(0.5, 1.0)
    amplitudes = np.arange(1, count + 1, dtype=np.float64) ** -slope
    table = _wavetable(amplitudes, rng.uniform(0, 2 * np.pi, count))
    # A barely moving pitch (0.3 %) keeps it alive without turning it into a siren.
    freq = fundamental * (1.0 + 0.003 * np.sin(2 * np.pi * rng.uniform(0.2, 0.6) * _times(n)))
    return _fade(_play_table(table, _phase(freq, n)), 0.08, 0.1)


def _engine(rng: np.random.Generator, n: int) -> np.ndarray:
    fundamental = _log_uniform(rng, 25.0, 50.0)
    count = int(600.0 // fundamental)
    amplitudes = 1.0 / np.arange(1, count + 1)  # a sawtooth, cut off near 600 Hz
    table = _wavetable(amplitudes, np.zeros(count))
    cutoff = rng.uniform(250.0, 550.0)
    rumble = _shaped_noise(rng, n, lambda f: 1.0 / (1.0 + (f / cutoff) ** 4))
    tone = _play_table(table, _phase(fundamental, n))
    tone /= np.sqrt(np.mean(tone**2)) + 1e-12
    mix = rng.uniform(0.4, 0.7)
    # The firing pulses: deep, regular amplitude modulation at 6-14 Hz.
    pulse_rate = rng.uniform(6.0, 14.0)
    depth = rng.uniform(0.55, 0.85)
    pulse = 1.0 - depth * (0.5 + 0.5 * np.cos(2 * np.pi * pulse_rate * _times(n)))
    return _fade((mix * tone + (1.0 - mix) * rumble) * pulse, 0.06, 0.08)


def _knock(rng: np.random.Generator, n: int) -> np.ndarray:
    tail = int(0.15 * SR)
    count = int(rng.integers(2, 5))
    count = max(1, min(count, 1 + (n - tail) // int(0.1 * SR)))  # thumps at least 0.1 s apart
    starts = _evenly_spaced(rng, count, max(n - tail, 0), jitter=0.12)
    length = min(tail, n)
    pitch = rng.uniform(90.0, 200.0)
    body = _damped_sines(pitch * rng.uniform(0.95, 1.05, count), rng.uniform(0.025, 0.05, count), length)
    # The strike: a few milliseconds of dull noise on top of each thump.
    strike = rng.standard_normal((count, length)) * np.exp(-_times(length) / 0.003)[None, :]
    strike = np.cumsum(strike, axis=1) * 0.15  # integrated noise: a dull, low-passed tap
    grains = (body + rng.uniform(0.2, 0.5) * strike) * rng.uniform(0.75, 1.0, (count, 1))
    ramp = min(int(0.001 * SR), length)
    grains[:, :ramp] *= np.linspace(0.0, 1.0, ramp, endpoint=False)  # no broadband step at the onset
    x = np.zeros(n)
    _place(x, starts + int(0.002 * SR), grains)
    return _fade(x, 0.002, 0.01)


def _click_train(rng: np.random.Generator, n: int) -> np.ndarray:
    rate = rng.uniform(10.0, 22.0)
    period = SR / rate
    count = max(1, int((n - 0.01 * SR) // period) + 1)
    starts = np.round(np.arange(count) * period + rng.uniform(-0.02, 0.02, count) * period).astype(np.int64)
    starts = np.clip(starts, 0, n - 1)
    length = int(0.012 * SR)
    ring = rng.uniform(2500.0, 5000.0)
    tick = _damped_sines(np.full(count, ring), np.full(count, rng.uniform(0.0015, 0.0025)), length)
    tick[:, 0] += 1.0  # an impulse under the ringing makes each tick broadband
    grains = tick * rng.uniform(0.85, 1.0, (count, 1))
    x = np.zeros(n)
    _place(x, starts, grains)
    return _fade(x, 0.001, 0.005)


def _noise_burst(rng: np.random.Generator, n: int) -> np.ndarray:
    tilt = rng.uniform(-0.3, 0.3)  # a gentle spectral slope: from slightly dark to slightly bright
    noise = _shaped_noise(rng, n, lambda f: ((f + 200.0) / 2000.0) ** tilt)
    envelope = _attack_decay(n, attack=0.004, decay=(n / SR) * rng.uniform(0.35, 0.6))
    return _fade(noise * envelope, 0.002, 0.02)


def _rain(rng: np.random.Generator, n: int) -> np.ndarray:
    corner = rng.uniform(1000.0, 1600.0)
    hiss = _shaped_noise(
        rng, n, lambda f: (f / corner) ** 2 / (1.0 + (f / corner) ** 2) / np.sqrt(1.0 + f / 4000.0)
    )
    # Droplets: short decaying pings at random times and pitches.
    drops = max(1, int(rng.uniform(20.0, 40.0) * n / SR))
    length = int(0.015 * SR)
    starts = np.sort(rng.integers(0, max(n - length // 2, 1), drops))
    grains = _damped_sines(rng.uniform(2000.0, 6000.0, drops), rng.uniform(0.002, 0.005, drops), length)
    grains *= rng.uniform(1.0, 3.0, (drops, 1))
    x = rng.uniform(0.4, 0.6) * hiss
    _place(x, starts, grains)
    return _fade(x, 0.1, 0.15)


_VOICES: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "beep": _beep,
    "chirp": _chirp,
    "siren": _siren,
    "whistle": _whistle,
    "tweet": _tweet,
    "bell": _bell,
    "hum": _hum,
    "engine": _engine,
    "knock": _knock,
    "click_train": _click_train,
    "noise_burst": _noise_burst,
    "rain": _rain,
}
assert tuple(_VOICES) == CLASSES and tuple(DURATION_RANGE) == CLASSES


# --- the public API -----------------------------------------------------------------------------------


def check_class(name: str) -> None:
    """Raise a ``ValueError`` naming the known classes when ``name`` is not one of them."""
    if name not in _VOICES:
        raise ValueError(f"unknown sound class {name!r}; the world has: {', '.join(CLASSES)}")


def draw_duration(name: str, rng: np.random.Generator) -> float:
    """A duration (seconds) for one event of class ``name``, uniform in its ``DURATION_RANGE``."""
    check_class(name)
    low, high = DURATION_RANGE[name]
    return float(rng.uniform(low, high))


def synthesize(name: str, rng: np.random.Generator, duration: float | None = None) -> np.ndarray:
    """One event of class ``name``: float32 [round(duration * SAMPLE_RATE)], peak <= ``PEAK_LIMIT``.

    ``duration`` (seconds) defaults to a draw from the class's ``DURATION_RANGE``; any positive
    duration up to a clip's length is accepted. Pitch, timbre, texture and loudness come from ``rng``.
    """
    check_class(name)
    if duration is None:
        duration = draw_duration(name, rng)
    if not 0.0 < duration <= CLIP_SECONDS:
        raise ValueError(f"duration must be in (0, {CLIP_SECONDS}] seconds, got {duration}")
    n = max(int(round(duration * SR)), 2)

    x = _VOICES[name](rng, n)

    # Loudness: an RMS level drawn from LOUDNESS_DB, unless the peak would pass PEAK_LIMIT.
    level = 10.0 ** (rng.uniform(*LOUDNESS_DB) / 20.0)
    rms = float(np.sqrt(np.mean(x**2)))
    peak = float(np.max(np.abs(x)))
    gain = min(level / max(rms, 1e-12), PEAK_LIMIT / max(peak, 1e-12))
    return (x * gain).astype(np.float32)


def write_examples(folder: str | Path, seed: int = 0, per_class: int = 1) -> list[Path]:
    """Write ``per_class`` WAV files of each class into ``folder`` (to listen to); return their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, name in enumerate(CLASSES):
        rng = np.random.default_rng((seed, index))
        for k in range(per_class):
            path = folder / f"{name}_{k}.wav"
            soundfile.write(path, synthesize(name, rng), SR, subtype="FLOAT")
            paths.append(path)
    return paths
