"""Every shape of BATON's released files, read from the miniatures in tests/data/baton.

The same import paths as test_tango.py's checks of the real release (skipped where it is absent), on
files small enough to count by eye: each expected figure below can be read off the file it names.
Where one test serves both, it is parametrized over the miniatures and the release instead: the human
labels of every shape (test_tango.py) and the command line's imports (test_cli.py).
"""

import math
from collections import Counter

import pytest

from baton.errors import InputError
from baton.interchange.baton_names import parse_baton_filename
from baton.interchange.common import PROBABILITY_EPS
from baton.interchange.tango import (
    CaptionRow,
    read_caption_file,
    read_tango_file,
    tango_to_labels,
    tango_to_rewards,
    tango_to_samples,
)
from tests.shapes import shape_file

# --- human labels -----------------------------------------------------------------------------------


def test_each_shape_is_told_apart():
    shapes = {
        "data/HA/2label_HA.json": "json-lines",
        "data/RM/grouped_ratings_2label.json": "grouped-ratings",
        "src/rewardmodel/human_2label_test.json": "human-ratings",
        "src/rewardmodel/2label_RA.json": "pre-scores",
        "data/Audiocaps/test_audiocaps_3label.json": "json-array",
    }
    assert {relative: read_tango_file(shape_file(relative)).shape for relative in shapes} == shapes


def test_a_human_test_file_reads_every_page():
    tango = read_tango_file(shape_file("src/rewardmodel/human_2label_test.json"))
    labels = tango_to_labels(tango)
    assert [r.sample_id for r in labels] == ["0262-4", "0263-0", "0263-1", "0263-2", "0295-0"]
    assert [row.line for row in tango.rows] == [5, 6, 7, 12, 13]


def test_grouped_files_hold_the_ha_labels_and_the_3label_one_two_clips_more():
    grouped = tango_to_labels(read_tango_file(shape_file("data/RM/grouped_ratings_2label.json")))
    released = tango_to_labels(read_tango_file(shape_file("data/HA/2label_HA.json")))
    assert {r.sample_id: (r.text, r.label) for r in grouped} == {
        r.sample_id: (r.text, r.label) for r in released
    }
    grouped3 = {
        r.sample_id
        for r in tango_to_labels(read_tango_file(shape_file("data/RM/grouped_ratings_3label.json")))
    }
    released3 = {r.sample_id for r in tango_to_labels(read_tango_file(shape_file("data/HA/3label_HA.json")))}
    assert released3 < grouped3 and sorted(grouped3 - released3) == ["0019-4", "0020-0"]


def test_task_override():
    labels = tango_to_labels(
        read_tango_file(shape_file("src/rewardmodel/human_3label_test.json")), task="single"
    )
    assert {r.task for r in labels} == {"single"}


def test_every_baton_name_gives_its_rows_caption():
    tango = read_tango_file(shape_file("data/HA/3label_HA.json"))
    for row in tango.rows:
        assert parse_baton_filename(row.location).caption == row.text


# --- reward scores ---------------------------------------------------------------------------------


def test_sed_scores_become_probabilities_and_logits_guarded_at_0_and_1():
    tango = read_tango_file(shape_file("data/RM/2label_RA.json"))
    rewards = tango_to_rewards(tango)
    assert tango.value_kind == "sed" and len(tango.notes) == 0
    assert [(r.sample_id, r.probability, r.model, r.task) for r in rewards] == [
        ("0335-3", 0.882, "2label_RA", "integrity"),
        ("0335-4", 1.0, "2label_RA", "integrity"),
        ("0358-2", 0.0, "2label_RA", "integrity"),
        ("0358-0", 0.31, "2label_RA", "integrity"),
    ]
    edge = math.log((1 - PROBABILITY_EPS) / PROBABILITY_EPS)
    assert [r.score for r in rewards] == pytest.approx(
        [math.log(0.882 / 0.118), edge, -edge, math.log(0.31 / 0.69)]
    )


def test_3label_ra_pointing_into_the_2label_folder_warns_once_and_keeps_its_paths():
    tango = read_tango_file(shape_file("data/RM/3label_RA.json"))
    assert len(tango.notes) == 1
    assert "3 of 3 rows of dataset '3label_RA' point into the folder" in tango.notes.messages[0]
    rewards = tango_to_rewards(tango)
    assert all("/2label_Integrity_RD_Audio/" in r.path for r in rewards)  # not "fixed"
    assert {r.task for r in rewards} == {"temporal"}  # the dataset decides, not the folder


def test_a_pre_score_file_takes_its_captions_from_the_file_names():
    tango = read_tango_file(shape_file("src/rewardmodel/2label_RA.json"))
    rewards = tango_to_rewards(tango)
    assert tango.shape == "pre-scores" and [row.line for row in tango.rows] == [2, 8, 14]
    assert [(r.sample_id, r.text, r.task, r.model) for r in rewards] == [
        ("0327-0", "A horn sounds amid rustling leaves", "integrity", "2label_RA"),
        ("0327-1", "A horn sounds amid rustling leaves", "integrity", "2label_RA"),
        ("0330-2", "Sheep bleat, with a fly buzzing", "integrity", "2label_RA"),
    ]
    assert rewards[0].score == pytest.approx(math.log(0.1812187284231186 / (1 - 0.1812187284231186)))


def test_finetune_files_mix_human_and_reward_rows():
    labels = tango_to_labels(read_tango_file(shape_file("src/t2amodel/tango/data/2label_finetune.json")))
    assert Counter(r.votes[0].annotator for r in labels) == {"2label_HA": 3, "2label_RA": 2}
    soft = next(r for r in labels if r.sample_id == "0335-3")
    assert (soft.mean, soft.label) == (0.882, 1)
    labels3 = tango_to_labels(read_tango_file(shape_file("src/t2amodel/tango/data/3label_finetune.json")))
    assert [(r.sample_id, r.mean, r.label, r.task) for r in labels3] == [
        ("0003-1", 1.0, 1, "temporal"),
        ("0344-2", 0.25, 0, "temporal"),
    ]


# --- caption files ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "lines"),
    [
        ("data/Audiocaps/train_audiocaps.json", [1, 2, 3]),
        ("data/Audiocaps/valid_audiocaps.json", [1, 2, 3, 4, 5]),
        ("data/Audiocaps/test_audiocaps_2label.json", [2, 7, 12]),
        ("data/Audiocaps/test_audiocaps_3label.json", [2, 7]),
        ("data/Audiocaps/test_audiocaps_subset.json", [1, 2, 3]),
        ("data/HA/2label_HA.json", [1, 2, 3, 4, 5, 6, 7]),
        ("data/RM/grouped_ratings_3label.json", [4, 5, 8, 9, 10, 13]),
        ("src/rewardmodel/2label_RA.json", [2, 8, 14]),
    ],
)
def test_caption_rows_of_every_shape_carry_their_lines(relative, lines):
    captions = read_caption_file(shape_file(relative))
    assert [c.line for c in captions] == lines
    assert all(isinstance(c, CaptionRow) and c.text.strip() for c in captions)


def test_a_misspelt_dataset_key_is_read_with_a_warning_naming_its_line():
    tango = read_tango_file(shape_file("data/Audiocaps/test_audiocaps_2label.json"))
    assert tango.notes.messages == [
        f"{tango.path}: field 'datasetresult' is not a Tango field (line 13); ignored"
    ]
    assert [row.dataset for row in tango.rows] == ["audiocaps", "audiocaps", None]


def test_array_rows_without_brackets_are_read_with_a_warning(capsys):
    captions = read_caption_file(shape_file("data/Audiocaps/test_audiocaps_subset.json"))
    assert captions[-1].text == "A woman talks, then a child talks, then a goat bleats"
    assert "2 of 3 lines end in ','" in " ".join(capsys.readouterr().err.split())


def test_grouped_caption_rows_give_the_file_name_as_location():
    first = read_caption_file(shape_file("data/RM/grouped_ratings_2label.json"))[0]
    assert first.location == "0007_A dog barks, then a door slams_0.wav"


def test_audiocaps_names_are_not_baton_names():
    tango = read_tango_file(shape_file("data/Audiocaps/train_audiocaps.json"))
    samples = tango_to_samples(tango)
    assert [s.id for s in samples] == ["aB3dEfGhIjK_130", "0_xYzQ1w2E3_20", "9-LmNoPqRsT_80"]
    assert all(s.prompt_id.startswith("caption-") for s in samples) and len(tango.notes) == 0


def test_a_clip_with_several_captions_is_a_sample_per_caption():
    # AudioCaps captions a clip several times, a row each; a row repeated whole adds nothing.
    tango = read_tango_file(shape_file("data/Audiocaps/valid_audiocaps.json"))
    samples = tango_to_samples(tango)
    assert [(s.id, s.text) for s in samples] == [
        ("qRsTuVwXyZ0_50", "A young woman speaks, followed by spraying"),
        ("Ab1Cd2Ef3Gh_30", "A man speaks as a car passes by"),
        ("qRsTuVwXyZ0_50-c2", "A girl talks, then spray hisses"),
        ("qRsTuVwXyZ0_50-c3", "Someone speaks and an aerosol sprays"),
    ]
    assert len({s.path for s in samples}) == 2  # two clips
    assert len({s.prompt_id for s in samples}) == 4  # four captions
    assert tango.notes.messages == [
        f"{tango.path}: 1 rows repeat an earlier row's clip and caption (first at line 4); left out"
    ]


def test_captions_without_scores_are_not_labels():
    with pytest.raises(InputError, match="holds captions without feedback or scores"):
        tango_to_labels(read_tango_file(shape_file("data/Audiocaps/valid_audiocaps.json")))
