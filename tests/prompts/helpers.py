"""Shared helpers for the prompts tests: a tiny vocabulary file and exact parse-back of a text."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

from baton.prompts.phrasing import Template, list_templates
from baton.prompts.vocabulary import VocabEvent

TINY_VOCAB = """\
name: tiny
description: four events for tests
events:
  - id: dog_bark
    category: animals
    clauses: ["a dog barks", "a dog is barking"]
    nouns: ["a dog barking", "the bark of a dog"]
  - id: car_horn
    clauses: ["a car horn honks"]
    nouns: ["a car horn honking"]
  - id: bell
    clauses: ["a bell rings"]
    nouns: ["the ringing of a bell"]
  - id: rain
    clauses: ["rain falls"]
    nouns: ["falling rain"]
"""


def write_tiny_vocab(folder: Path, text: str = TINY_VOCAB) -> Path:
    path = folder / "tiny.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def renderings(template: Template, events: list[VocabEvent]) -> set[str]:
    """Every text ``template`` can make from ``events`` (every choice of phrasing per slot)."""
    options = [
        events[index].clauses if kind == "c" else events[index].nouns for kind, index in template.slots
    ]
    texts = set()
    for choice in itertools.product(*options):
        phrases = iter(choice)
        filled = template.pattern
        for kind, index in template.slots:
            filled = filled.replace("{" + f"{kind}{index}" + "}", next(phrases), 1)
        texts.add(filled[:1].upper() + filled[1:] + ".")
    return texts


def parse_back(text: str, events: list[VocabEvent]) -> list[Template]:
    """The templates that turn ``events`` (in time order) into exactly ``text``."""
    return [t for t in list_templates(size=len(events)) if text in renderings(t, events)]


def fixed_rng(seed: int = 0) -> random.Random:
    return random.Random(seed)
