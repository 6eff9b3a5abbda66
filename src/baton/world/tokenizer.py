"""The word tokenizer the world's text encoders share (the T2A model's and the world CLAP's).

Lower-cased words and punctuation marks over a fixed vocabulary built from captions; ids 0-2 are
``[PAD]``, ``[UNK]`` and ``[BOS]``. Every text starts with ``[BOS]``, so the empty text "" (the
unconditional prompt of classifier-free guidance) is one token whose state a model can learn. Batches
are padded or cut to a fixed length so that a text's encoding never depends on its neighbours'.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import torch

PAD, UNK, BOS = "[PAD]", "[UNK]", "[BOS]"
SPECIAL_TOKENS: tuple[str, ...] = (PAD, UNK, BOS)
PAD_ID, UNK_ID, BOS_ID = 0, 1, 2
# Words (letters, digits, inner apostrophes) or single punctuation marks.
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*|[^\sa-z0-9]")


def split_words(text: str) -> list[str]:
    """Lower-case ``text`` and split it into words and punctuation marks.

    >>> split_words("A dog barks, then it's quiet.")
    ['a', 'dog', 'barks', ',', 'then', "it's", 'quiet', '.']
    """
    return _WORD.findall(text.lower())


class WordTokenizer:
    """Word-level tokenizer over a fixed vocabulary; ids 0-2 are ``[PAD]``, ``[UNK]``, ``[BOS]``."""

    def __init__(self, words: Sequence[str]) -> None:
        words = list(words)
        if words[: len(SPECIAL_TOKENS)] != list(SPECIAL_TOKENS):
            raise ValueError(f"a vocabulary starts with {SPECIAL_TOKENS}, got {words[:3]}")
        if len(set(words)) != len(words):
            raise ValueError("a vocabulary lists every word once")
        self.words = words
        self.index = {word: i for i, word in enumerate(words)}

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 1) -> WordTokenizer:
        """The vocabulary of ``texts``: every word seen at least ``min_count`` times, most frequent first."""
        counts = Counter(word for text in texts for word in split_words(text))
        kept = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
        return cls([*SPECIAL_TOKENS, *kept])

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, text: str) -> list[int]:
        """``[BOS]`` then one id per word (``[UNK]`` for words outside the vocabulary)."""
        return [BOS_ID, *(self.index.get(word, UNK_ID) for word in split_words(text))]

    def decode(self, ids: Iterable[int]) -> str:
        """The words of ``ids`` joined by spaces, without ``[PAD]`` and ``[BOS]``."""
        return " ".join(self.words[i] for i in ids if i not in (PAD_ID, BOS_ID))

    def batch(self, texts: Sequence[str], length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Ids [B, length] (long) and mask [B, length] (bool, True = token), padded or cut to ``length``.

        Every row has the same length whatever the batch holds, so that a text's states never depend
        on its neighbours'.
        """
        ids = torch.full((len(texts), length), PAD_ID, dtype=torch.long)
        for row, text in enumerate(texts):
            encoded = self.encode(text)[:length]
            ids[row, : len(encoded)] = torch.tensor(encoded, dtype=torch.long)
        return ids, ids != PAD_ID

    def to_json(self) -> list[str]:
        return list(self.words)

    @classmethod
    def from_json(cls, words: Any) -> WordTokenizer:
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise ValueError("a tokenizer vocabulary is a list of strings")
        return cls(words)
