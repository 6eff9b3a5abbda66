"""The AudioCaps-like corpus: its mix, its determinism, its files, and held-out renders."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from baton.config import load_config
from baton.errors import InputError
from baton.world.captions import world_vocabulary
from baton.world.corpus import Corpus, CorpusConfig, build_corpus, mix_counts, plan_corpus, render
from baton.world.spec import CLASSES, CLIP_SAMPLES


@pytest.fixture(scope="module")
def small_corpus() -> Corpus:
    return build_corpus(CorpusConfig(n_clips=50, seed=4))


def mentions(text: str, label: str) -> bool:
    event = world_vocabulary().get(label)
    return any(p.lower() in text.lower() for p in (*event.clauses, *event.nouns))


def test_mix_counts_are_exact_shares_by_largest_remainder() -> None:
    assert mix_counts(CorpusConfig(n_clips=100)) == {
        "single": 70,
        "pair_sequence": 15,  # 22 pairs, round(0.3 * 22) = 7 of them overlapping
        "pair_overlap": 7,
        "triple": 8,
    }
    # 7 clips: exact 4.9 / 1.54 / 0.56 -> floors 4 / 1 / 0, the two spare clips go to the largest
    # remainders (0.9 single, 0.56 triple).
    assert mix_counts(CorpusConfig(n_clips=7, overlap_share=0.0)) == {
        "single": 5,
        "pair_sequence": 1,
        "pair_overlap": 0,
        "triple": 1,
    }


def test_a_built_corpus_has_the_planned_mix(small_corpus: Corpus) -> None:
    counts = mix_counts(small_corpus.config)
    kinds = Counter(
        ("single" if len(labels) == 1 else "triple" if len(labels) == 3 else f"pair_{relation}")
        for labels, relation in zip(small_corpus.labels, small_corpus.relations, strict=True)
    )
    assert dict(kinds) == {k: v for k, v in counts.items() if v}
    assert all(
        r == "sequence"
        for labels, r in zip(small_corpus.labels, small_corpus.relations, strict=True)
        if len(labels) == 3
    )
    assert all(len(set(labels)) == len(labels) for labels in small_corpus.labels)


def test_singles_cover_the_classes_evenly() -> None:
    plan = plan_corpus(CorpusConfig(n_clips=1000, seed=2))
    singles = Counter(labels[0] for labels, relation in plan if relation == "single")
    assert set(singles) == set(CLASSES)
    assert max(singles.values()) - min(singles.values()) <= 1


def test_clips_match_their_captions_and_ground_truth(small_corpus: Corpus) -> None:
    assert small_corpus.audio.shape == (50, CLIP_SAMPLES) and small_corpus.audio.dtype == np.float32
    for i in range(len(small_corpus)):
        clip = small_corpus.clip(i)
        assert all(mentions(small_corpus.captions[i], label) for label in clip.labels), small_corpus.captions[
            i
        ]
        if clip.relation == "sequence":
            assert all(a.offset < b.onset for a, b in zip(clip.events, clip.events[1:], strict=False))
        peak = np.abs(clip.audio).max()
        assert 0.01 < peak <= 0.95 + 1e-6


def test_same_seed_same_corpus_other_seed_other_corpus(small_corpus: Corpus) -> None:
    again = build_corpus(CorpusConfig(n_clips=50, seed=4))
    np.testing.assert_array_equal(again.audio, small_corpus.audio)
    assert again.captions == small_corpus.captions
    assert again.events == small_corpus.events
    other = build_corpus(CorpusConfig(n_clips=50, seed=5))
    assert not np.array_equal(other.audio, small_corpus.audio)
    assert other.captions != small_corpus.captions


def test_save_and_load_round_trip(small_corpus: Corpus, tmp_path) -> None:
    written = small_corpus.save(tmp_path / "world" / "corpus.npz")
    assert written == tmp_path / "world" / "corpus.npz"
    assert (tmp_path / "world" / "corpus.json").is_file()
    assert not list((tmp_path / "world").glob("*.partial"))
    loaded = Corpus.load(tmp_path / "world" / "corpus")  # the stem, the .npz or the .json all work
    np.testing.assert_array_equal(loaded.audio, small_corpus.audio)
    assert loaded.audio.dtype == np.float32
    assert loaded.captions == small_corpus.captions
    assert loaded.relations == small_corpus.relations
    assert loaded.events == small_corpus.events  # floats survive JSON exactly
    assert loaded.labels == small_corpus.labels
    assert loaded.config == small_corpus.config
    # The audio is stored without pickle: numpy reads it with pickling forbidden.
    with np.load(written, allow_pickle=False) as arrays:
        assert list(arrays.keys()) == ["audio"]


def test_loading_a_damaged_corpus_names_the_file_and_field(small_corpus: Corpus, tmp_path) -> None:
    path = small_corpus.save(tmp_path / "c.npz")
    sidecar = tmp_path / "c.json"
    data = json.loads(sidecar.read_text())

    data["clips"] = data["clips"][:-1]
    sidecar.write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"c\.npz, field 'audio': audio is float32 \[50, 64000\]"):
        Corpus.load(path)

    data["clips"] = json.loads(json.dumps(data["clips"]))
    data["clips"][3]["events"][0]["label"] = "dog"
    sidecar.write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"c\.json, field 'clips\[3\]\.events\[0\]': an event needs a known"):
        Corpus.load(path)

    data["version"] = 99
    sidecar.write_text(json.dumps(data))
    with pytest.raises(InputError, match="field 'version': unsupported version 99"):
        Corpus.load(path)

    sidecar.write_text("{not json")
    with pytest.raises(InputError, match=r"c\.json, line 1: not valid JSON"):
        Corpus.load(path)

    with pytest.raises(InputError, match=r"missing\.json: the corpus sidecar is missing"):
        Corpus.load(tmp_path / "missing.npz")


def test_bad_configs_are_refused_naming_the_field() -> None:
    with pytest.raises(InputError, match="field 'single_share': .* must be 1, got 1.1"):
        build_corpus(CorpusConfig(n_clips=10, single_share=0.8))
    with pytest.raises(InputError, match="field 'overlap_share': must be between 0 and 1"):
        build_corpus(CorpusConfig(n_clips=10, overlap_share=1.5))
    with pytest.raises(InputError, match="field 'n_clips'"):
        build_corpus(CorpusConfig(n_clips=0))


def test_the_config_loads_from_yaml_with_flags_on_top(tmp_path) -> None:
    path = tmp_path / "corpus.yaml"
    path.write_text("n_clips: 30\nsingle_share: 0.5\npair_share: 0.3\ntriple_share: 0.2\n")
    config = load_config(CorpusConfig, path, {"seed": 9, "overlap_share": None})
    assert config == CorpusConfig(n_clips=30, single_share=0.5, pair_share=0.3, triple_share=0.2, seed=9)
    assert mix_counts(config) == {"single": 15, "pair_sequence": 6, "pair_overlap": 3, "triple": 6}


def test_render_is_seeded_and_held_out(small_corpus: Corpus) -> None:
    a = render(["bell", "tweet", "engine"], "sequence", seed=4)
    b = render(["bell", "tweet", "engine"], "sequence", seed=4)
    c = render(["bell", "tweet", "engine"], "sequence", seed=5)
    np.testing.assert_array_equal(a.audio, b.audio)
    assert a.labels == ["bell", "tweet", "engine"] and a.relation == "sequence"
    assert a.events == b.events and a.events != c.events
    # Its own random stream: never a copy of a corpus clip built with the same seed.
    assert not any(np.array_equal(a.audio, row) for row in small_corpus.audio)
    with pytest.raises(ValueError, match="'overlap' takes 2 events"):
        render(["bell", "tweet", "engine"], "overlap", seed=0)
