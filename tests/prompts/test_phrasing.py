from __future__ import annotations

import random

import pytest

from baton.prompts.phrasing import RELATIONS, Template, compose, compose_text, list_templates
from baton.prompts.vocabulary import VocabEvent

from .helpers import parse_back

DOG = VocabEvent("dog_bark", ("a dog barks",), ("a dog barking",))
HORN = VocabEvent("car_horn", ("a car horn honks",), ("a car horn honking",))
BELL = VocabEvent("bell", ("a bell rings",), ("the ringing of a bell",))
RAIN = VocabEvent("rain", ("rain falls", "it is raining"), ("falling rain", "the patter of rain"))
EVENTS = [DOG, HORN, BELL]


def _positions(text: str, events: list[VocabEvent]) -> list[int]:
    """Where each event's phrase starts in ``text`` (case-insensitive)."""
    lowered = text.lower()
    found = []
    for event in events:
        hits = [lowered.find(p) for p in event.clauses + event.nouns if p in lowered]
        assert hits, (event.id, text)
        found.append(min(hits))
    return found


def test_every_relation_and_size_has_templates():
    assert RELATIONS == ("single", "sequence", "overlap")
    assert list_templates("single", 1)
    assert len(list_templates("sequence", 2)) >= 6
    assert len(list_templates("sequence", 3)) >= 6
    assert len(list_templates("overlap", 2)) >= 4
    assert list_templates() == list_templates("single") + list_templates("sequence") + list_templates(
        "overlap"
    )
    with pytest.raises(ValueError, match="unknown relation"):
        list_templates("parallel")


@pytest.mark.parametrize("template", list_templates(), ids=lambda t: t.pattern)
def test_each_template_names_every_event_in_its_mention_order(template: Template):
    events = EVENTS[: template.size]
    text = template.render(events, random.Random(0))
    assert text[0].isupper() and text.endswith(".") and not text.endswith("..")
    assert "  " not in text and ",," not in text and " ," not in text
    positions = _positions(text, events)
    # The sentence names the events in the template's mention order ...
    assert sorted(range(len(events)), key=lambda i: positions[i]) == list(template.mention_order)
    # ... and the slot numbers are the whole of 0..size-1.
    assert sorted(template.mention_order) == list(range(template.size))
    assert parse_back(text, events) and template in parse_back(text, events)


def test_sequence_templates_keep_time_order_except_those_with_after():
    for template in list_templates("sequence"):
        if not template.keeps_time_order:
            # Only two-event templates of the form "Y ... after X" may name the later event first.
            assert template.size == 2
            assert template.mention_order == (1, 0)
            assert " after {c0}" in template.pattern


# Hand-checked readings: events go in time order, and the text says that order.
@pytest.mark.parametrize(
    ("pattern", "events", "expected"),
    [
        ("{c0}, followed by {n1}", [DOG, HORN], "A dog barks, followed by a car horn honking."),
        ("{c1} after {c0}", [DOG, HORN], "A car horn honks after a dog barks."),
        ("After {c0}, {c1}", [HORN, DOG], "After a car horn honks, a dog barks."),
        ("{c0} before {c1}", [BELL, DOG], "A bell rings before a dog barks."),
        (
            "First {c0}, then {c1}, and finally {c2}",
            [BELL, DOG, HORN],
            "First a bell rings, then a dog barks, and finally a car horn honks.",
        ),
        (
            "{c0}, then {c1}, followed by {n2}",
            [HORN, BELL, DOG],
            "A car horn honks, then a bell rings, followed by a dog barking.",
        ),
        (
            "{c0} with {n1} in the background",
            [DOG, BELL],
            "A dog barks with the ringing of a bell in the background.",
        ),
        ("{n0}, mixed with {n1}", [HORN, DOG], "A car horn honking, mixed with a dog barking."),
    ],
)
def test_hand_checked_templates(pattern, events, expected):
    template = next(t for t in list_templates() if t.pattern == pattern)
    assert template.render(events, random.Random(0)) == expected


def test_single_event_texts():
    texts = {compose_text([DOG], "single", random.Random(seed)) for seed in range(30)}
    assert texts == {"A dog barks.", "A dog barking."}


def test_same_rng_state_gives_the_same_text():
    for relation, events in [("sequence", [DOG, HORN]), ("sequence", EVENTS), ("overlap", [RAIN, BELL])]:
        first = [compose_text(events, relation, random.Random(seed)) for seed in range(20)]
        again = [compose_text(events, relation, random.Random(seed)) for seed in range(20)]
        assert first == again
        assert len(set(first)) > 5  # seeds do vary the wording


def test_compose_reports_the_template_and_draws_phrasings_from_the_rng():
    seen = set()
    for seed in range(200):
        result = compose([RAIN, DOG], "overlap", random.Random(seed))
        assert result.template.relation == "overlap"
        assert result.events == (RAIN, DOG)
        assert result.template in parse_back(result.text, [RAIN, DOG])
        seen.add(result.template.pattern)
    assert seen == {t.pattern for t in list_templates("overlap")}


@pytest.mark.parametrize(
    ("events", "relation", "message"),
    [
        ([DOG, HORN], "single", "takes 1 events"),
        ([DOG], "sequence", "takes 2 or 3 events"),
        ([DOG, HORN, BELL], "overlap", "takes 2 events"),
        ([DOG, DOG], "sequence", "appears twice"),
        ([DOG, HORN], "parallel", "unknown relation"),
    ],
)
def test_bad_requests_raise(events, relation, message):
    with pytest.raises(ValueError, match=message):
        compose_text(events, relation, random.Random(0))
