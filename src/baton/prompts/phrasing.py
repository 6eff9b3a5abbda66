"""Turning sound events into a caption: "A dog barks, followed by a car horn honking."

A :class:`Template` is a pattern with numbered slots: ``{c0}`` is a clause of the first event in
time ("a dog barks"), ``{n1}`` a noun phrase of the second ("a car horn honking"). The number is the
event's place in *time*, not in the sentence, so a template may mention events out of time order
and still be read correctly: ``"{c1} after {c0}"`` says "a car horn honks after a dog barks", names
the horn first, and still has the dog first in time. The events passed to :func:`compose_text` are
always in time order (for ``overlap``, in foreground-then-background order), and a template's
:attr:`Template.mention_order` tells in which order the sentence names them.

Every template states the order without ambiguity: sequence templates use order words ("followed
by", "and then", "before", "after", "first ... finally"), overlap templates use simultaneity words
("while", "as", "in the background", "at the same time"). Composed texts start with a capital letter
and end with a period.

>>> import random
>>> dog = VocabEvent("dog_bark", ("a dog barks",), ("a dog barking",))
>>> horn = VocabEvent("car_horn", ("a car horn honks",), ("a car horn honking",))
>>> compose_text([dog, horn], "sequence", random.Random(0))  # doctest: +SKIP
'A dog barks, followed by a car horn honking.'
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from baton.prompts.vocabulary import VocabEvent

Relation = Literal["single", "sequence", "overlap"]
RELATIONS: tuple[str, ...] = ("single", "sequence", "overlap")

# How many events each relation takes.
RELATION_SIZES: dict[str, tuple[int, ...]] = {"single": (1,), "sequence": (2, 3), "overlap": (2,)}

_SLOT = re.compile(r"\{([cn])(\d)\}")


@dataclass(frozen=True)
class Template:
    """A sentence pattern for ``relation``; ``{cK}`` / ``{nK}`` take a clause / noun of event K."""

    relation: str
    pattern: str

    @property
    def slots(self) -> list[tuple[str, int]]:
        """The slots in the order the sentence mentions them: ``[("c", 0), ("n", 1)]``."""
        return [(kind, int(index)) for kind, index in _SLOT.findall(self.pattern)]

    @property
    def size(self) -> int:
        """How many events the template takes."""
        return len(self.slots)

    @property
    def mention_order(self) -> tuple[int, ...]:
        """The events' time positions in the order the sentence names them (``(1, 0)`` for "Y after X")."""
        return tuple(index for _, index in self.slots)

    @property
    def keeps_time_order(self) -> bool:
        """Whether the sentence names the events in the order they happen."""
        return list(self.mention_order) == sorted(self.mention_order)

    def render(self, events: Sequence[VocabEvent], rng: random.Random) -> str:
        """Fill the slots with phrasings drawn by ``rng`` (in mention order) and finish the sentence."""
        if len(events) != self.size:
            raise ValueError(f"template {self.pattern!r} takes {self.size} events, got {len(events)}")

        def fill(match: re.Match[str]) -> str:
            kind, index = match.group(1), int(match.group(2))
            event = events[index]
            return rng.choice(event.clauses if kind == "c" else event.nouns)

        return finish_sentence(_SLOT.sub(fill, self.pattern))


def finish_sentence(text: str) -> str:
    """Capitalise the first letter and end with exactly one period."""
    text = text.strip().rstrip(".")
    return text[:1].upper() + text[1:] + "."


# Slot numbers are positions in time. Sequence templates with a slot number out of increasing order
# (e.g. "{c1} after {c0}") mention the later event first; they are kept to two events, where "after"
# leaves no doubt. Clauses go where a sentence needs a verb, noun phrases after prepositions
# ("followed by", "with ... in the background").
TEMPLATES: tuple[Template, ...] = tuple(
    Template(relation, pattern)
    for relation, patterns in {
        "single": (
            "{c0}",
            "{n0}",
        ),
        "sequence": (
            # two events, named in time order
            "{c0}, followed by {n1}",
            "{n0}, followed by {n1}",
            "{c0}, and then {c1}",
            "{c0}, then {c1}",
            "{n0}, then {n1}",
            "First {c0}, then {c1}",
            "{c0} before {c1}",
            "After {c0}, {c1}",
            "{c0}, after which {c1}",
            "{c0}, and afterwards {c1}",
            # two events, the later one named first
            "{c1} after {c0}",
            "{c1} soon after {c0}",
            # three events, named in time order
            "First {c0}, then {c1}, and finally {c2}",
            "{c0}, then {c1}, followed by {n2}",
            "{c0}, followed by {n1}, and then {c2}",
            "{n0}, followed by {n1}, and then {n2}",
            "{c0}, then {c1}, and then {c2}",
            "{n0}, then {n1}, and finally {n2}",
            "After {c0}, {c1}, and then {c2}",
            "{c0}, after which {c1}, and finally {c2}",
        ),
        "overlap": (
            "{c0} while {c1}",
            "{c0} as {c1}",
            "{c0} with {n1} in the background",
            "{n0}, mixed with {n1}",
            "{c0} and {c1} at the same time",
            "{n0} together with {n1}",
            "{c0} over {n1}",
        ),
    }.items()
    for pattern in patterns
)


def list_templates(relation: str | None = None, size: int | None = None) -> list[Template]:
    """The templates, optionally only those of one relation and/or one number of events."""
    if relation is not None and relation not in RELATIONS:
        raise ValueError(f"unknown relation {relation!r} (one of: {', '.join(RELATIONS)})")
    return [
        t
        for t in TEMPLATES
        if (relation is None or t.relation == relation) and (size is None or t.size == size)
    ]


@dataclass(frozen=True)
class Composition:
    """A composed text, the template it came from and the events it names (in time order)."""

    text: str
    template: Template
    events: tuple[VocabEvent, ...]


def compose(events: Sequence[VocabEvent], relation: Relation, rng: random.Random) -> Composition:
    """Pick a template for ``relation`` and ``len(events)`` with ``rng``, then fill it.

    ``events`` are in time order (for ``overlap``: foreground first). The same ``rng`` state gives
    the same text.
    """
    if relation not in RELATIONS:
        raise ValueError(f"unknown relation {relation!r} (one of: {', '.join(RELATIONS)})")
    if len(events) not in RELATION_SIZES[relation]:
        sizes = " or ".join(str(s) for s in RELATION_SIZES[relation])
        raise ValueError(f"a '{relation}' text takes {sizes} events, got {len(events)}")
    ids = [event.id for event in events]
    if len(set(ids)) != len(ids):
        raise ValueError(f"an event appears twice in {ids}")
    template = rng.choice(list_templates(relation, len(events)))
    return Composition(template.render(events, rng), template, tuple(events))


def compose_text(events: Sequence[VocabEvent], relation: Relation, rng: random.Random) -> str:
    """A natural caption naming ``events`` (in time order) with the given relation."""
    return compose(events, relation, rng).text
