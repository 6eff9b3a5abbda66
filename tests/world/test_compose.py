"""The composer keeps exact ground truth: events where it says, in the order asked, inside the clip."""

from __future__ import annotations

import numpy as np
import pytest

from baton.world.compose import (
    MARGIN_SECONDS,
    MIN_GAP_SECONDS,
    MIN_OVERLAP_SHARE,
    Event,
    compose,
    frame_targets,
)
from baton.world.spec import CLASSES, CLIP_SAMPLES, CLIP_SECONDS, SAMPLE_RATE


def inside_clip(event: Event) -> bool:
    return MARGIN_SECONDS - 1e-9 <= event.onset < event.offset <= CLIP_SECONDS - MARGIN_SECONDS + 1e-9


def test_a_sequence_keeps_the_given_order_with_gaps_and_stays_inside_the_clip() -> None:
    # The three longest classes need shrinking to fit: the hardest case for the layout.
    for labels in (["siren", "hum", "rain"], ["knock", "tweet"], ["noise_burst", "bell", "beep"]):
        for seed in range(20):
            clip = compose(labels, "sequence", np.random.default_rng(seed))
            assert clip.labels == labels
            assert all(inside_clip(e) for e in clip.events)
            for before, after in zip(clip.events, clip.events[1:], strict=False):
                assert after.onset >= before.offset + MIN_GAP_SECONDS - 1e-9


def test_an_overlap_shares_most_of_the_shorter_event() -> None:
    for seed in range(40):
        rng = np.random.default_rng(seed)
        labels = list(rng.choice(CLASSES, size=2, replace=False))
        clip = compose(labels, "overlap", rng)
        first, second = clip.events
        shared = min(first.offset, second.offset) - max(first.onset, second.onset)
        assert shared >= MIN_OVERLAP_SHARE * min(first.duration, second.duration) - 1e-9
        assert clip.labels == labels and all(inside_clip(e) for e in clip.events)


def test_onsets_are_whole_samples_and_the_sound_is_exactly_where_the_events_say() -> None:
    for relation, labels in (
        ("single", ["bell"]),
        ("sequence", ["beep", "rain", "knock"]),
        ("overlap", ["hum", "whistle"]),
    ):
        clip = compose(labels, relation, np.random.default_rng(3), background_noise_db=None)
        assert clip.audio.dtype == np.float32 and clip.audio.shape == (CLIP_SAMPLES,)
        sounding = np.zeros(CLIP_SAMPLES, dtype=bool)
        for event in clip.events:
            start, stop = event.onset * SAMPLE_RATE, event.offset * SAMPLE_RATE
            assert start == round(start) and stop == round(stop)
            sounding[round(start) : round(stop)] = True
            assert np.abs(clip.audio[round(start) : round(stop)]).max() > 0.01
        assert not clip.audio[~sounding].any()  # no noise floor asked: exact silence elsewhere


def test_the_noise_floor_has_the_asked_level() -> None:
    clip = compose(["beep"], "single", np.random.default_rng(0), background_noise_db=-40.0)
    (event,) = clip.events
    silence = np.concatenate(
        [clip.audio[: round(event.onset * SAMPLE_RATE)], clip.audio[round(event.offset * SAMPLE_RATE) :]]
    )
    level_db = 20 * np.log10(np.sqrt(np.mean(silence.astype(np.float64) ** 2)))
    assert level_db == pytest.approx(-40.0, abs=0.5)


def test_loud_overlaps_stay_below_full_scale() -> None:
    for seed in range(20):
        clip = compose(["noise_burst", "click_train"], "overlap", np.random.default_rng(seed))
        assert np.abs(clip.audio).max() <= 0.95 + 1e-6


def test_same_seed_same_clip() -> None:
    a = compose(["chirp", "engine"], "sequence", np.random.default_rng(11))
    b = compose(["chirp", "engine"], "sequence", np.random.default_rng(11))
    c = compose(["chirp", "engine"], "sequence", np.random.default_rng(12))
    np.testing.assert_array_equal(a.audio, b.audio)
    assert a.events == b.events
    assert a.events != c.events


def test_bad_requests_name_the_problem() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="unknown relation 'after'"):
        compose(["beep", "hum"], "after", rng)
    with pytest.raises(ValueError, match="'single' takes 1 event, got 2"):
        compose(["beep", "hum"], "single", rng)
    with pytest.raises(ValueError, match="'overlap' takes 2 events, got 3"):
        compose(["beep", "hum", "rain"], "overlap", rng)
    with pytest.raises(ValueError, match="'sequence' takes 2 or 3 events, got 4"):
        compose(["beep", "hum", "rain", "bell"], "sequence", rng)
    with pytest.raises(ValueError, match="unknown sound class 'dog'"):
        compose(["dog"], "single", rng)


def test_frame_targets_by_hand() -> None:
    events = [Event("beep", 0.0, 0.025), Event("hum", 0.02, 0.05), Event("rain", 0.03, 0.04)]
    targets = frame_targets(events, n_frames=6, hop_seconds=0.01, classes=("beep", "hum", "rain", "bell"))
    # frame times 0.00 0.01 0.02 0.03 0.04 0.05; active when onset <= time < offset
    expected = np.array(
        [
            [1, 0, 0, 0],  # 0.00: beep
            [1, 0, 0, 0],  # 0.01: beep
            [1, 1, 0, 0],  # 0.02: beep (until 0.025), hum starts
            [0, 1, 1, 0],  # 0.03: hum, rain starts
            [0, 1, 0, 0],  # 0.04: hum; rain ended at 0.04 (exclusive)
            [0, 0, 0, 0],  # 0.05: hum ended
        ],
        dtype=np.float32,
    )
    np.testing.assert_array_equal(targets, expected)
    assert targets.dtype == np.float32


def test_frame_targets_follow_a_composed_clip_at_a_real_hop() -> None:
    clip = compose(["knock", "whistle"], "sequence", np.random.default_rng(5))
    hop = 256 / SAMPLE_RATE
    n_frames = 1 + CLIP_SAMPLES // 256
    targets = frame_targets(clip.events, n_frames, hop)
    assert targets.shape == (n_frames, len(CLASSES))
    for event in clip.events:
        column = targets[:, CLASSES.index(event.label)]
        active = np.flatnonzero(column)
        assert active[0] == int(np.ceil(event.onset / hop - 1e-9))
        assert active[-1] == int(np.ceil(event.offset / hop - 1e-9)) - 1
        assert column.sum() == len(active) == active[-1] - active[0] + 1
    assert targets.sum(axis=1).max() == 1.0  # a sequence never has two events in one frame


def test_frame_targets_reject_a_label_outside_the_classes() -> None:
    with pytest.raises(ValueError, match="'bell' is not among the classes"):
        frame_targets([Event("bell", 0.0, 1.0)], 10, 0.01, classes=("beep",))
