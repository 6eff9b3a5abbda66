"""BATON's audio file names: ``<prompt id>_<caption>_<clip index>.wav``.

The released files name every clip this way, e.g. ``0088_Birds chirp and tweet, followed by female
singing_0.wav``: prompt ``0088``, its caption, and the clip's number among the prompt's clips. The
caption is everything between the first ``_`` after the id and the last ``_`` before the index, so a
caption may hold commas, periods, apostrophes, hyphens and even underscores (none of the released
captions has one, but nothing here relies on that). AudioCaps' own clip names
(``0_ogYGDGDco_60.wav``: a YouTube id and a start second) also start with digits and an ``_``;
they are not BATON names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from baton.errors import InputError

# id: ASCII digits (it becomes a prompt id, which names files); caption: anything non-empty (greedy,
# so it runs to the last "_"); index: digits.
_BATON_NAME = re.compile(r"(?P<prompt_id>[0-9]+)_(?P<caption>.+)_(?P<index>[0-9]+)\.(?P<ext>[A-Za-z0-9]+)")
# AudioSet/AudioCaps clips are named "<11-character YouTube id>_<start second>.wav"; an id such as
# "0_ogYGDGDco" would otherwise read as prompt 0 with the caption "ogYGDGDco".
_AUDIOSET_NAME = re.compile(r"[A-Za-z0-9_-]{11}_\d+\.[A-Za-z0-9]+")


@dataclass(frozen=True)
class BatonClipName:
    """The three parts of a BATON clip's file name."""

    prompt_id: str
    caption: str
    index: int

    @property
    def sample_id(self) -> str:
        """The clip's id in baton's records: ``"0088-0"`` (prompt id, a dash, the clip index)."""
        return f"{self.prompt_id}-{self.index}"

    def file_name(self, extension: str = "wav") -> str:
        return f"{self.prompt_id}_{self.caption}_{self.index}.{extension}"


def parse_baton_filename(name: str) -> BatonClipName:
    """Split a BATON clip name (a bare name or a path, ``/`` or ``\\``) into id, caption and index.

    >>> parse_baton_filename("Baton/data/Audio/0088_Birds chirp, then singing_0.wav")
    BatonClipName(prompt_id='0088', caption='Birds chirp, then singing', index=0)
    """
    base = PurePosixPath(name.replace("\\", "/")).name
    match = _BATON_NAME.fullmatch(base)
    if match is None or not match["caption"].strip() or _AUDIOSET_NAME.fullmatch(base):
        raise InputError(
            f"'{base}' is not a BATON clip name (expected '<prompt id>_<caption>_<index>.wav', "
            "e.g. '0088_Birds chirp and tweet_0.wav')"
        )
    return BatonClipName(prompt_id=match["prompt_id"], caption=match["caption"], index=int(match["index"]))


def try_parse_baton_filename(name: str | None) -> BatonClipName | None:
    """Like :func:`parse_baton_filename`, but ``None`` for a name that does not fit."""
    if not name:
        return None
    try:
        return parse_baton_filename(name)
    except InputError:
        return None
