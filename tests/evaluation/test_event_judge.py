"""The open-vocabulary event judge: its rule by hand, world clips with known onsets, the encoders it
plugs into, and ``baton evaluate --judge events``."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from baton.artifacts import PromptRecord, write_records
from baton.errors import InputError
from baton.evaluation.event_judge import (
    EventJudge,
    EventJudgeConfig,
    judge_vocabulary,
    load_embedder,
    window_starts,
)
from baton.world.corpus import render
from baton.world.detectors import first_onsets

RATE = 16_000
# Four world classes whose spectra a plain band-energy encoder tells apart.
BAND_CLASSES = ("beep", "tweet", "hum", "knock")


class BandEncoder:
    """A stand-in for CLAP that knows no words: a window's embedding is its spectral shape (log energy
    in 24 log-spaced bands, centred and normalised); an event's "text" embedding is the mean shape of
    a few rendered clips of it. Enough to read world events, and no CLAP at all: the judge needs only
    ``embed_audio`` and ``embed_text``."""

    name = "band energies"

    def __init__(self, classes=BAND_CLASSES) -> None:
        self.edges = np.geomspace(60, 7800, 25)
        self.prototypes = {}
        for n, label in enumerate(classes):
            shapes = []
            for k in range(4):
                clip = render([label], "single", 600 + 10 * n + k)
                event = clip.events[0]
                shapes.append(
                    self.shape(clip.audio[round(event.onset * RATE) : round(event.offset * RATE)], RATE)
                )
            self.prototypes[label] = np.mean(shapes, axis=0)

    def shape(self, audio: np.ndarray, rate: int) -> np.ndarray:
        power = np.abs(np.fft.rfft(audio * np.hanning(len(audio)))) ** 2
        freqs = np.fft.rfftfreq(len(audio), 1 / rate)
        bands = np.array(
            [power[(freqs >= lo) & (freqs < hi)].sum() for lo, hi in itertools.pairwise(self.edges)]
        )
        shape = np.log(bands / max(bands.sum(), 1e-20) + 1e-6)
        shape -= shape.mean()
        return shape / np.linalg.norm(shape)

    def embed_audio(self, audio, sample_rate):
        return np.stack([self.shape(np.asarray(clip, dtype=np.float64), sample_rate) for clip in audio])

    def embed_text(self, texts):
        return np.stack([self.prototypes[text] for text in texts])


@pytest.fixture(scope="module")
def band_judge() -> EventJudge:
    config = EventJudgeConfig(window=0.3, hop=0.05, temperature=0.05)
    return EventJudge(BandEncoder(), {label: (label,) for label in BAND_CLASSES}, config)


# --- the rule ---------------------------------------------------------------------------------------


def test_window_starts_by_hand():
    assert window_starts(10, 4, 2).tolist() == [0, 2, 4, 6]
    assert window_starts(11, 4, 2).tolist() == [0, 2, 4, 6]  # the last sample is left out
    assert window_starts(3, 4, 2).tolist() == [0]  # shorter than a window: one window


class OneHotEncoder:
    """Window -> unit vector e_0 when its mean is positive, else e_1; event k's text -> e_k (4-D)."""

    name = "one-hot"

    def embed_audio(self, audio, sample_rate):
        return np.stack([np.eye(4)[0 if np.mean(clip) > 0 else 1] for clip in audio])

    def embed_text(self, texts):
        return np.stack([np.eye(4)[int(text[-1])] for text in texts])


def test_window_probabilities_are_a_softmax_of_cosines_at_the_temperature():
    vocabulary = {f"e{k}": (f"text {k}",) for k in range(4)}
    judge = EventJudge(OneHotEncoder(), vocabulary, EventJudgeConfig(window=1.0, hop=0.5, temperature=0.5))
    clip = np.concatenate([np.full(RATE, 0.5), np.full(RATE, -0.5)]).astype(np.float32)  # [2 s]
    (reading,) = judge.window_probabilities([clip], RATE)
    # Windows at 0, 0.5, 1.0 s: means +, 0 (not positive), -. Cosine 1 with one event, 0 with three.
    top = math.exp(1 / 0.5) / (math.exp(1 / 0.5) + 3)
    rest = 1 / (math.exp(1 / 0.5) + 3)
    assert reading.probs == pytest.approx(
        np.array([[top, rest, rest, rest], [rest, top, rest, rest], [rest, top, rest, rest]])
    )
    assert reading.hop_seconds == 0.5 and reading.centre_seconds == 0.5


def test_quiet_windows_are_silence():
    vocabulary = {f"e{k}": (f"text {k}",) for k in range(4)}
    clip = np.concatenate([np.full(RATE, 0.5), np.full(RATE, 0.001)]).astype(np.float32)  # 54 dB quieter
    gated = EventJudge(OneHotEncoder(), vocabulary, EventJudgeConfig(window=0.5, hop=0.5))
    (reading,) = gated.window_probabilities([clip], RATE)
    assert reading.probs[:2].sum(axis=1) == pytest.approx([1.0, 1.0]) and not reading.probs[2:].any()
    ungated = EventJudge(OneHotEncoder(), vocabulary, EventJudgeConfig(window=0.5, hop=0.5, gate_db=None))
    (reading,) = ungated.window_probabilities([clip], RATE)
    assert reading.probs.sum(axis=1) == pytest.approx([1.0] * 4)
    # Read: e0 sounds over the loud second (windows centred at 0.25 and 0.75 s), nothing after.
    (events,) = gated.read([clip], RATE)
    assert [(e.label, e.onset, e.offset) for e in events] == [("e0", 0.25, 1.25)]


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("window", 0.0),
        ("hop", -1.0),
        ("threshold", 1.0),
        ("low_threshold", 0.5),
        ("gate_db", 0.0),
        ("temperature", 0.0),
    ],
)
def test_a_bad_setting_is_named(setting, value):
    with pytest.raises(InputError) as error:
        EventJudgeConfig(**{setting: value})
    assert error.value.field == setting


# --- vocabularies -----------------------------------------------------------------------------------


def test_world_events_get_the_world_vocabulary_with_every_phrasing():
    vocabulary = judge_vocabulary(["beep", "rain"])
    assert (
        len(vocabulary) == 12
        and "A beep sounds." in vocabulary["beep"]
        and "Falling rain." in vocabulary["rain"]
    )


def test_events_no_vocabulary_knows_are_phrased_from_their_ids():
    vocabulary = judge_vocabulary(["dog_bark", "glass_harmonica_solo"], "audiocaps200")
    assert vocabulary["glass_harmonica_solo"] == ("Glass harmonica solo.",)
    assert "A dog barks." in vocabulary["dog_bark"] and len(vocabulary) > 100


def test_too_few_events_to_tell_apart_is_an_error():
    with pytest.raises(InputError) as error:
        judge_vocabulary(["made_up", "also_made_up"])
    assert error.value.field == "vocabulary" and "only 2 events" in str(error.value)


def test_the_judge_refuses_an_event_it_does_not_know(band_judge):
    with pytest.raises(InputError, match="does not know the event 'rain'"):
        band_judge.judge([np.zeros(RATE, np.float32)], RATE, [["rain", "hum"]], ["integrity"])


# --- world clips with known onsets ------------------------------------------------------------------


def test_world_clips_are_read_in_order_with_their_onsets(band_judge):
    orders = list(itertools.permutations(BAND_CLASSES, 3))[:8]
    clips = [render(list(order), "sequence", 800 + i) for i, order in enumerate(orders)]
    readings = band_judge.read([c.audio for c in clips], RATE)

    errors = []
    for clip, found in zip(clips, readings, strict=True):
        onsets = first_onsets(found)
        assert sorted(onsets, key=onsets.get) == clip.labels
        errors += [abs(onsets[event.label] - event.onset) for event in clip.events]
    assert max(errors) < 0.3 and float(np.median(errors)) < 0.15

    # The same clips asked the right question, the reversed order, and an event they lack.
    audio = [c.audio for c in clips]
    right = band_judge.judge(audio, RATE, [c.labels for c in clips], ["temporal"] * 8)
    reversed_ = band_judge.judge(audio, RATE, [c.labels[::-1] for c in clips], ["temporal"] * 8)
    assert all(j.correct for j in right) and not any(j.correct for j in reversed_)
    assert all(j.presence for j in reversed_)  # the events are there; only their order is wrong
    absent = [next(label for label in BAND_CLASSES if label not in c.labels) for c in clips]
    missing = band_judge.judge(
        audio, RATE, [[c.labels[0], a] for c, a in zip(clips, absent, strict=True)], ["integrity"] * 8
    )
    assert not any(j.correct for j in missing)


def test_rewards_are_soft_and_prefer_the_stated_order(band_judge):
    clip = render(["hum", "beep", "knock"], "sequence", 900)
    stated = band_judge.rewards(
        [clip.audio] * 2, RATE, [["hum", "beep", "knock"], ["knock", "beep", "hum"]], ["temporal"] * 2
    )
    assert 0.9 < stated[0] <= 1.0 and stated[1] < 0.1
    presence = band_judge.rewards(
        [clip.audio] * 2, RATE, [["hum", "knock"], ["knock", "hum"]], ["integrity"] * 2
    )
    assert presence[0] == pytest.approx(presence[1]) and presence[0] > 0.9


def test_the_fingerprint_follows_settings_and_vocabulary():
    encoder = BandEncoder(BAND_CLASSES)
    vocabulary = {label: (label,) for label in BAND_CLASSES}
    a = EventJudge(encoder, vocabulary)
    assert EventJudge(encoder, dict(vocabulary)).fingerprint == a.fingerprint
    assert EventJudge(encoder, vocabulary, EventJudgeConfig(window=0.5)).fingerprint != a.fingerprint
    # The order of the events does not change a softmax over them; another phrasing does.
    assert EventJudge(encoder, dict(reversed(vocabulary.items()))).fingerprint == a.fingerprint
    encoder.prototypes["a hum"] = encoder.prototypes["hum"]
    assert EventJudge(encoder, {**vocabulary, "hum": ("a hum",)}).fingerprint != a.fingerprint
    assert a.fingerprint[:12] in a.name and a.identity["encoder"] == {"name": "band energies"}


# --- the encoders it plugs into ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def untrained_world(tmp_path_factory):
    """A world folder with an untrained CLAP: the real loading path, no training."""
    from baton.world.clap import WorldClap, clap_config, world_texts
    from baton.world.model import WordTokenizer

    folder = tmp_path_factory.mktemp("judge-world")
    WorldClap(clap_config(0, quick=True), WordTokenizer.build(world_texts())).save(folder / "clap")
    return folder


def test_the_world_clap_adapter(untrained_world):
    embedder = load_embedder(f"world:{untrained_world}")
    assert embedder.identity["source"] == str((untrained_world / "clap").resolve())
    assert len(embedder.identity["weights_sha256"]) == 64
    assert embedder.temperature == pytest.approx(0.07)  # an untrained CLAP's initial temperature
    judge = EventJudge(embedder, judge_vocabulary(["beep"]))
    assert judge.temperature == pytest.approx(0.07) and len(judge.classes) == 12
    clip = render(["beep", "rain"], "sequence", 1)
    (reading,) = judge.window_probabilities([clip.audio], RATE)
    assert reading.probs.shape == (31, 12)  # 4 s: windows of 1 s every 0.1 s
    assert judge.read([clip.audio], RATE) == judge.read([clip.audio], RATE)


def test_the_transformers_clap_adapter(tmp_path):
    from baton.reward.encoders import build_tiny_clap

    folder = build_tiny_clap(tmp_path / "clap", seed=0, max_length_s=2)
    embedder = load_embedder(f"clap:{folder}")
    scale = float(embedder.encoder.model.logit_scale_a.exp())
    assert embedder.identity["source"] == str(folder.resolve()) and embedder.temperature == pytest.approx(
        1 / scale
    )
    judge = EventJudge(embedder, judge_vocabulary(["beep"]), EventJudgeConfig(hop=0.5))
    clip = render(["beep"], "single", 2).audio  # 16 kHz, resampled to the model's 48 kHz
    (reading,) = judge.window_probabilities([clip], RATE)
    assert reading.probs.shape == (7, 12) and np.allclose(
        reading.probs[reading.probs.any(axis=1)].sum(axis=1), 1.0
    )


# --- baton evaluate --judge events ------------------------------------------------------------------


def test_evaluate_reads_events_with_the_judge(tmp_path, untrained_world, monkeypatch, capsys):
    from baton.backends import BACKENDS
    from baton.cli import main

    monkeypatch.setitem(BACKENDS, "tone", "tests.generation.fake_backend:ToneBackend")
    prompts = tmp_path / "prompts.jsonl"
    write_records(
        prompts,
        [
            PromptRecord(id="i0", text="A beep, then a knock.", events=["beep", "knock"], task="integrity", relation="sequence"),
            PromptRecord(id="t0", text="A hum, a bell, then rain.", events=["hum", "bell", "rain"], task="temporal", relation="sequence"),
        ],
    )  # fmt: skip
    out = tmp_path / "eval"
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", "--model", "base=tone", "--prompts", str(prompts), "--out", str(out), "--world",
              str(untrained_world), "--reference", "none", "--judge", "events", "--no-progress"])  # fmt: skip
    assert exit_.value.code == 0, capsys.readouterr().err
    import json

    summary = json.loads((out / "metrics.json").read_text())
    assert summary["scorers"]["events"].startswith("event judge over world CLAP")
    assert summary["settings"]["judge"] == "events"
    assert set(summary["metrics"]["base"]["accuracy"]) == {"integrity", "temporal", "all"}
    assert summary["judges"]["events"]["encoder"]["source"] == str((untrained_world / "clap").resolve())

    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", "--model", "base=tone", "--prompts", str(prompts), "--out", str(tmp_path / "e2"),
              "--world", str(untrained_world), "--reference", "none", "--judge", "clap", "--no-progress"])  # fmt: skip
    assert exit_.value.code == 2 and "unknown judge 'clap'" in capsys.readouterr().err
