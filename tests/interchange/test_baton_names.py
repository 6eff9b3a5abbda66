import json
import re

import pytest

from baton.errors import InputError
from baton.interchange.baton_names import BatonClipName, parse_baton_filename, try_parse_baton_filename

from .helpers import baton_file


def test_a_plain_name():
    clip = parse_baton_filename("0088_Birds chirp and tweet, followed by female singing_0.wav")
    assert clip == BatonClipName("0088", "Birds chirp and tweet, followed by female singing", 0)
    assert clip.sample_id == "0088-0"
    assert clip.file_name() == "0088_Birds chirp and tweet, followed by female singing_0.wav"


@pytest.mark.parametrize(
    ("name", "prompt_id", "caption", "index"),
    [
        # periods, apostrophes, commas (all in the release)
        (
            "0003_Young child crying at first, then a toilet flushes, as a woman's singing begins._3.wav",
            "0003",
            "Young child crying at first, then a toilet flushes, as a woman's singing begins.",
            3,
        ),
        # a hyphen and an apostrophe at a word's end
        (
            "0032_Railway tracks' clickety-clack, then a dog barks._1.wav",
            "0032",
            "Railway tracks' clickety-clack, then a dog barks.",
            1,
        ),
        # underscores inside the caption: the caption runs from the first "_" to the last
        (
            "0007_a snake_case caption_with_underscores_12.wav",
            "0007",
            "a snake_case caption_with_underscores",
            12,
        ),
        # a caption that ends in digits
        ("0100_Clock strikes 12_4.wav", "0100", "Clock strikes 12", 4),
        # a path (either slash) and another extension
        ("Baton/data/Audio/2label_Integrity_HD_Audio/0243_People chatter_2.wav", "0243", "People chatter", 2),
        ("C:\\clips\\0012_A bell rings_4.flac", "0012", "A bell rings", 4),
    ],
)
def test_tricky_names(name, prompt_id, caption, index):
    assert parse_baton_filename(name) == BatonClipName(prompt_id, caption, index)


@pytest.mark.parametrize(
    "name",
    [
        "birds_0.wav",  # no prompt id
        "0088_Birds chirp.wav",  # no clip index
        "0088__0.wav",  # empty caption
        "0088_ _0.wav",  # blank caption
        "0088_Birds chirp_0",  # no extension
        "0088_Birds chirp_x.wav",  # index not a number
        "0_ogYGDGDco_60.wav",  # an AudioCaps clip: YouTube id and start second
        "8_CB_4UTfU8_14.wav",
    ],
)
def test_names_that_do_not_fit(name):
    with pytest.raises(InputError, match=re.escape(f"'{name}' is not a BATON clip name")):
        parse_baton_filename(name)
    assert try_parse_baton_filename(name) is None


def test_every_released_name_gives_its_rows_caption():
    path = baton_file("data/HA/3label_HA.json")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for row in rows:
        clip = parse_baton_filename(row["location"])
        assert clip.caption == row["captions"]
        assert row["location"].endswith(f"/{clip.prompt_id}_{clip.caption}_{clip.index}.wav")
    assert len(rows) == 1059
