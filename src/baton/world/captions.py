"""Captions of world clips, in the varied phrasing every prompt of the project uses.

The words come from the ``world`` vocabulary (``baton/prompts/vocabularies/world.yaml``, one event per
synthesizer class) and the sentence from :func:`baton.prompts.phrasing.compose_text`, so the world's
captions and the prompts written later for it speak the same language.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import lru_cache

from baton.prompts.phrasing import compose_text
from baton.prompts.vocabulary import Vocabulary, load_vocabulary


@lru_cache(maxsize=1)
def world_vocabulary() -> Vocabulary:
    """The ``world`` vocabulary, read once per process."""
    return load_vocabulary("world")


def caption(labels: Sequence[str], relation: str, rng: random.Random) -> str:
    """A caption of events ``labels`` (in time order; for ``overlap``, foreground first).

    >>> caption(["beep", "rain"], "sequence", random.Random(0))  # doctest: +SKIP
    'A beep sounds, followed by falling rain.'
    """
    vocabulary = world_vocabulary()
    return compose_text([vocabulary.get(label) for label in labels], relation, rng)
