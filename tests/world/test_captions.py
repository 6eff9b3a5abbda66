"""World captions: the project's phrasing engine speaking the world vocabulary."""

from __future__ import annotations

import random
import re

import pytest

from baton.prompts.vocabulary import load_vocabulary
from baton.world.captions import caption, world_vocabulary
from baton.world.spec import CLASSES


def phrasings(label: str) -> list[str]:
    event = world_vocabulary().get(label)
    return [p.lower() for p in (*event.clauses, *event.nouns)]


def mentions(text: str, label: str) -> bool:
    return any(p in text.lower() for p in phrasings(label))


def test_the_world_vocabulary_has_one_event_per_class_with_two_to_four_phrasings() -> None:
    vocabulary = load_vocabulary("world")
    assert vocabulary.name == "world"
    assert sorted(vocabulary.ids) == sorted(CLASSES)
    for event in vocabulary.events:
        assert 2 <= len(event.clauses) <= 4 and 2 <= len(event.nouns) <= 4, event.id
        assert event.category


# The word that names each class; it must appear in that class's phrasings and in no other's.
KEYWORDS = {
    "beep": r"\bbeep",
    "chirp": r"\bchirp",
    "siren": r"\bsiren",
    "whistle": r"\bwhistl",
    "tweet": r"\bbird",
    "bell": r"\bbell",
    "hum": r"\bhum",
    "engine": r"\b(engine|motor)",
    "knock": r"\bknock",
    "click_train": r"\b(click|tick)",
    "noise_burst": r"\b(noise|static|hiss)",
    "rain": r"\brain",
}


def test_each_class_has_its_own_word_that_no_other_class_uses() -> None:
    # "a bird chirps" would teach a text encoder that the bird is the rising chirp.
    assert sorted(KEYWORDS) == sorted(CLASSES)
    for label in CLASSES:
        for other, pattern in KEYWORDS.items():
            hits = [p for p in phrasings(label) if re.search(pattern, p)]
            if other == label:
                assert hits, f"no phrasing of {label} says {pattern}"
            else:
                assert not hits, f"{label} phrasings {hits} use the word of {other}"


@pytest.mark.parametrize("label", CLASSES)
def test_a_single_caption_names_its_event(label: str) -> None:
    text = caption([label], "single", random.Random(0))
    assert mentions(text, label)
    assert text[0].isupper() and text.endswith(".")


def test_multi_event_captions_name_every_event_and_repeat_with_their_seed() -> None:
    for relation, labels in (
        ("sequence", ["beep", "rain", "knock"]),
        ("sequence", ["tweet", "engine"]),
        ("overlap", ["siren", "hum"]),
    ):
        texts = {caption(labels, relation, random.Random(seed)) for seed in range(20)}
        assert len(texts) > 3  # varied phrasing
        for text in texts:
            assert all(mentions(text, label) for label in labels), text
        assert caption(labels, relation, random.Random(5)) == caption(labels, relation, random.Random(5))


def test_sequence_captions_use_order_words_and_overlaps_simultaneity_words() -> None:
    order_words = ("then", "followed by", "after", "before", "first", "finally")
    together_words = ("while", " as ", "background", "mixed with", "same time", "together", "over")
    for seed in range(20):
        text = caption(["bell", "chirp"], "sequence", random.Random(seed)).lower()
        assert any(w in text for w in order_words), text
        text = caption(["bell", "chirp"], "overlap", random.Random(seed)).lower()
        assert any(w in text for w in together_words), text


def test_unknown_labels_are_refused() -> None:
    with pytest.raises(KeyError, match="no event 'dog'"):
        caption(["dog"], "single", random.Random(0))
