"""The world's event detectors: reading events, judging prompts, shapes, determinism, a trained read."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from baton.errors import InputError
from baton.world.compose import compose
from baton.world.detectors import (
    DetectedEvent,
    DetectorConfig,
    EventDetector,
    annotator_config,
    evaluate_detector,
    evaluator_config,
    judge_integrity,
    judge_temporal,
    presence_f1,
    probability_match,
    read_events,
    read_order,
    train_detector,
)
from baton.world.spec import CLASSES, CLIP_SAMPLES

BEEP, CHIRP, SIREN = CLASSES.index("beep"), CLASSES.index("chirp"), CLASSES.index("siren")


def probs_with(spans: list[tuple[int, int, int, float]], frames: int = 50) -> np.ndarray:
    """A [frames, C] array of 0.02 with class c at ``value`` over frames [a, b) for each (c, a, b, value)."""
    probs = np.full((frames, len(CLASSES)), 0.02, dtype=np.float32)
    for c, a, b, value in spans:
        probs[a:b, c] = value
    return probs


# --- read_events ------------------------------------------------------------------------------------


def test_read_events_gives_the_spans_of_a_hand_built_array():
    probs = probs_with([(BEEP, 5, 15, 0.9), (CHIRP, 20, 30, 0.8)])
    events = read_events(probs, hop_seconds=0.1, threshold=0.5, min_duration=0.1)
    assert [e.label for e in events] == ["beep", "chirp"]
    assert events[0].onset == pytest.approx(0.5) and events[0].offset == pytest.approx(1.5)
    assert events[1].onset == pytest.approx(2.0) and events[1].offset == pytest.approx(3.0)
    assert events[0].confidence == pytest.approx(0.9) and events[1].confidence == pytest.approx(0.8)


def test_read_events_sorts_by_onset_and_reads_overlaps():
    probs = probs_with([(SIREN, 10, 30, 0.9), (BEEP, 20, 25, 0.95)])
    events = read_events(probs, 0.1, median_frames=1)
    assert [(e.label, round(e.onset, 3), round(e.offset, 3)) for e in events] == [
        ("siren", 1.0, 3.0),
        ("beep", 2.0, 2.5),
    ]


def test_hysteresis_needs_the_high_threshold_and_extends_to_the_low_one():
    probs = probs_with([(BEEP, 5, 15, 0.4)])  # above the low threshold, never above the high one
    assert read_events(probs, 0.1, threshold=0.5, median_frames=1) == []
    probs = probs_with([(BEEP, 5, 15, 0.3), (BEEP, 9, 11, 0.7)])  # one peak inside a low plateau
    (event,) = read_events(probs, 0.1, threshold=0.5, median_frames=1)
    assert (event.onset, event.offset) == (pytest.approx(0.5), pytest.approx(1.5))
    assert event.confidence == pytest.approx(0.7)


def test_short_gaps_merge_and_short_events_drop():
    # Two beeps 1 frame (0.05 s) apart merge; a 1-frame chirp (0.05 s) is shorter than 0.1 s.
    probs = probs_with([(BEEP, 5, 10, 0.9), (BEEP, 11, 16, 0.9), (CHIRP, 30, 31, 0.9)])
    events = read_events(probs, 0.05, min_duration=0.1, median_frames=1, max_gap=0.1)
    assert [(e.label, round(e.onset, 3), round(e.offset, 3)) for e in events] == [("beep", 0.25, 0.8)]
    # With a gap of 3 frames (0.15 s) they stay two events.
    probs = probs_with([(BEEP, 5, 10, 0.9), (BEEP, 13, 18, 0.9)])
    assert len(read_events(probs, 0.05, median_frames=1, max_gap=0.1)) == 2


def test_median_filter_removes_a_one_frame_blip():
    probs = probs_with([(BEEP, 20, 21, 0.99), (CHIRP, 5, 15, 0.9)])
    labels = [e.label for e in read_events(probs, 0.01, min_duration=0.0, median_frames=5)]
    assert labels == ["chirp"]
    labels = [e.label for e in read_events(probs, 0.01, min_duration=0.0, median_frames=1)]
    assert labels == ["chirp", "beep"]


def test_read_events_rejects_a_wrong_shape():
    with pytest.raises(ValueError, match=r"frame_probs must be \[T, 12\]"):
        read_events(np.zeros((10, 3)), 0.1)


# --- judgements -------------------------------------------------------------------------------------


def ev(label: str, onset: float, offset: float | None = None) -> DetectedEvent:
    return DetectedEvent(label, onset, onset + 0.5 if offset is None else offset, 0.9)


def test_integrity_needs_every_named_event_and_ignores_others():
    detected = [ev("beep", 0.2), ev("rain", 1.0), ev("siren", 2.0)]
    assert judge_integrity(detected, ["siren", "beep"])
    assert not judge_integrity(detected, ["siren", "bell"])
    assert not judge_integrity([], ["beep"])


def test_temporal_needs_the_stated_order_of_first_onsets():
    detected = [ev("beep", 0.2), ev("rain", 1.0), ev("siren", 2.0)]
    assert judge_temporal(detected, ["beep", "rain", "siren"])
    assert judge_temporal(detected, ["beep", "siren"])  # an unnamed event in between is fine
    assert not judge_temporal(detected, ["rain", "beep", "siren"])
    assert not judge_temporal(detected, ["beep", "bell"])  # missing
    # Two named events starting together are not in order.
    assert not judge_temporal([ev("beep", 1.0), ev("rain", 1.0)], ["beep", "rain"])


def test_a_class_detected_twice_counts_at_its_first_onset():
    # B, A, B: B started first, so "A then B" is out of order.
    assert not judge_temporal([ev("rain", 0.1), ev("beep", 1.0), ev("rain", 2.0)], ["beep", "rain"])
    # A, B, A: A's first onset comes before B's, so "A then B" holds.
    assert judge_temporal([ev("beep", 0.1), ev("rain", 1.0), ev("beep", 2.0)], ["beep", "rain"])
    assert read_order([ev("beep", 0.1), ev("rain", 1.0), ev("beep", 2.0)]) == ["beep", "rain"]


def test_judging_a_prompt_naming_an_event_twice_is_an_error():
    with pytest.raises(ValueError, match="named twice"):
        judge_temporal([ev("beep", 0.1)], ["beep", "beep"])


def test_probability_match_by_hand():
    hop = 0.1
    # beep peaks at 0.8 from t = 1.0 s; rain peaks at 0.5 from t = 2.0 s.
    probs = probs_with([(BEEP, 10, 20, 0.8), (CLASSES.index("rain"), 20, 30, 0.5)])
    p_integrity = probability_match(probs, ["beep", "rain"], "integrity", hop, median_frames=1)
    assert p_integrity == pytest.approx(0.8 * 0.5)
    p_in_order = probability_match(probs, ["beep", "rain"], "temporal", hop, median_frames=1, order_scale=0.5)
    assert p_in_order == pytest.approx(0.4 / (1 + math.exp(-1.0 / 0.5)))
    p_reversed = probability_match(probs, ["rain", "beep"], "temporal", hop, median_frames=1, order_scale=0.5)
    assert p_reversed == pytest.approx(0.4 / (1 + math.exp(1.0 / 0.5)))
    with pytest.raises(ValueError, match="unknown task"):
        probability_match(probs, ["beep"], "order", hop)


def test_presence_f1_by_hand():
    true_sets = [{"beep"}, {"beep", "rain"}, {"rain"}, set()]
    predicted = [{"beep"}, {"beep"}, {"rain", "beep"}, set()]
    scores = presence_f1(true_sets, predicted, ["beep", "rain", "bell"])
    assert scores["beep"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 0))  # TP 2, FP 1
    assert scores["rain"] == pytest.approx(2 * 1 / (2 * 1 + 0 + 1))  # TP 1, FN 1
    assert scores["bell"] == 1.0  # never present nor predicted


# --- the detectors ----------------------------------------------------------------------------------


def tiny(config: DetectorConfig, **changes) -> DetectorConfig:
    defaults = {"train_steps": 2, "batch_size": 4, "channels": 8, "hidden": 8, "pool_clips": 8}
    for key, value in {**defaults, **changes}.items():
        setattr(config, key, value)
    return config


@pytest.mark.parametrize("make", [annotator_config, evaluator_config])
def test_frame_probs_shape_and_range(make):
    detector = EventDetector(tiny(make(seed=0)))
    audio = np.random.default_rng(0).standard_normal((3, CLIP_SAMPLES)).astype(np.float32) * 0.1
    probs = detector.frame_probs(audio)
    assert probs.shape == (3, detector.net.output_frames(CLIP_SAMPLES), len(CLASSES))
    assert probs.min() >= 0.0 and probs.max() <= 1.0
    # 4 s of frames at the detector's hop.
    assert probs.shape[1] * detector.hop_seconds == pytest.approx(4.0, abs=2 * detector.hop_seconds)
    # Shorter clips in a list are padded; each clip's events stay within its own length.
    detected = detector.detect([audio[0], audio[1, :8000]])
    assert len(detected) == 2


def test_the_two_detectors_differ_in_architecture_features_seeds_and_data():
    annotator, evaluator = annotator_config(seed=5), evaluator_config(seed=5)
    assert annotator.architecture != evaluator.architecture
    assert (annotator.front_end, annotator.hop_length) != (evaluator.front_end, evaluator.hop_length)
    assert annotator.seed != evaluator.seed and annotator.data_seed != evaluator.data_seed
    assert annotator.eval_seed == evaluator.eval_seed  # both graded on the same held-out clips
    assert annotator_config(seed=6).data_seed != annotator.data_seed


def test_training_is_repeatable_for_a_seed_and_changes_with_it():
    def weights(config):
        detector, _ = train_detector(config, progress=False, evaluate=False)
        return detector.net.state_dict()

    first = weights(tiny(evaluator_config(seed=0)))
    again = weights(tiny(evaluator_config(seed=0)))
    other = weights(tiny(evaluator_config(seed=1)))
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_a_pool_of_clips_trains_repeatably_and_on_other_data_than_fresh_clips():
    def weights(config):
        detector, _ = train_detector(config, progress=False, evaluate=False)
        return detector.net.state_dict()

    pooled = weights(tiny(annotator_config(seed=0), pool_clips=6))
    again = weights(tiny(annotator_config(seed=0), pool_clips=6))
    fresh = weights(tiny(annotator_config(seed=0), pool_clips=0))
    assert all(torch.equal(pooled[k], again[k]) for k in pooled)
    assert not all(torch.equal(pooled[k], fresh[k]) for k in pooled)
    assert annotator_config().pool_clips > 0 and evaluator_config().pool_clips > 0
    with pytest.raises(InputError, match="field 'pool_clips': must be 0 or at least batch_size"):
        DetectorConfig(batch_size=32, pool_clips=8)


def test_save_load_round_trip(tmp_path):
    detector, _ = train_detector(tiny(annotator_config(seed=0)), progress=False, evaluate=False)
    detector.save(tmp_path / "annotator")
    assert sorted(p.name for p in (tmp_path / "annotator").iterdir()) == ["config.json", "model.safetensors"]
    loaded = EventDetector.load(tmp_path / "annotator")
    audio = compose(["beep"], "single", np.random.default_rng(3)).audio
    np.testing.assert_array_equal(loaded.frame_probs(audio), detector.frame_probs(audio))
    assert loaded.config == detector.config


def test_load_names_the_bad_file_and_field(tmp_path):
    detector = EventDetector(tiny(annotator_config()))
    folder = detector.save(tmp_path / "d")
    meta = json.loads((folder / "config.json").read_text())
    meta["format"] = "something else"
    (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match=r"config\.json, field 'format'"):
        EventDetector.load(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(InputError, match=r"config\.json, line 1: not valid JSON"):
        EventDetector.load(folder)


def test_load_refuses_weights_that_do_not_fit_the_config(tmp_path):
    folder = EventDetector(tiny(annotator_config())).save(tmp_path / "d")
    meta = json.loads((folder / "config.json").read_text())
    meta["config"]["channels"] = 12
    (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match=r"model\.safetensors: weights do not fit the model"):
        EventDetector.load(folder)
    meta["config"]["architecture"] = "lstm"
    (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match=r"config\.json, field 'config\.architecture'"):
        EventDetector.load(folder)


def test_config_checks_name_the_field():
    with pytest.raises(InputError, match="field 'architecture'"):
        DetectorConfig(architecture="transformer")
    with pytest.raises(InputError, match="field 'classes'"):
        DetectorConfig(classes=["beep", "dog_bark"])


def test_bad_audio_is_refused():
    detector = EventDetector(tiny(evaluator_config()))
    with pytest.raises(ValueError, match="NaN"):
        detector.frame_probs(np.full((1, 16000), np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match="audio must be"):
        detector.frame_probs(np.zeros((1, 2, 16000), dtype=np.float32))


def test_a_quickly_trained_detector_reads_a_low_hum_then_a_high_whistle():
    """Trained for a few seconds on two very different classes, it reads their order in a new clip."""
    config = evaluator_config(seed=0)
    config.classes = ["hum", "whistle"]
    config.channels = 8
    config.dilations = [1, 2, 4, 8]
    config.train_steps = 40
    config.batch_size = 8
    config.learning_rate = 1e-2
    config.noise_probability = 0.0
    detector, _ = train_detector(config, progress=False, evaluate=False)
    rng = np.random.default_rng(2024)
    hum_then_whistle = compose(["hum", "whistle"], "sequence", rng)
    whistle_then_hum = compose(["whistle", "hum"], "sequence", rng)
    detected = detector.detect(np.stack([hum_then_whistle.audio, whistle_then_hum.audio]))
    assert read_order(detected[0]) == ["hum", "whistle"]
    assert read_order(detected[1]) == ["whistle", "hum"]
    assert detector.judge(
        np.stack([hum_then_whistle.audio, whistle_then_hum.audio]),
        [["hum", "whistle"], ["hum", "whistle"]],
        "temporal",
    ) == [True, False]
    # Onsets within a few frames of the truth.
    first = {e.label: e.onset for e in detected[0]}
    for event in hum_then_whistle.events:
        assert abs(first[event.label] - event.onset) < 0.15


def test_evaluate_detector_reports_per_class_f1_and_order_accuracy():
    detector = EventDetector(tiny(evaluator_config()))
    figures = evaluate_detector(detector, n_clips=6, seed=1)
    assert set(figures["per_class_f1"]) == set(CLASSES)
    assert 0.0 <= figures["macro_f1"] <= 1.0
    assert 0.0 <= figures["order_accuracy"] <= figures["temporal_accuracy"] <= 1.0
    assert figures["eval_clips"] == 6
