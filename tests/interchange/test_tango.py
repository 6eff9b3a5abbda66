import dataclasses
import json
import math
from collections import Counter

import pytest

from baton.artifacts import LabelRecord, RewardRecord, Vote
from baton.errors import InputError
from baton.interchange.common import PROBABILITY_EPS
from baton.interchange.tango import (
    CaptionRow,
    read_caption_file,
    read_tango_file,
    tango_to_labels,
    tango_to_rewards,
    tango_to_samples,
    write_tango,
)

from .helpers import baton_file, data_file, three_labels, two_rewards


def label_counts(records):
    """(clips, prompts, ones, zeros)."""
    labels = Counter(r.label for r in records)
    return len(records), len({r.prompt_id for r in records}), labels[1], labels[0]


# --- BATON's released files: counts verified with grep/jq on the raw files --------------------


@pytest.mark.parametrize(
    ("source", "relative", "task", "counts"),
    [
        # tests/data/baton: the release's shapes in miniature, in every clone
        ("shapes", "data/HA/2label_HA.json", "integrity", (7, 3, 4, 3)),
        ("shapes", "data/HA/3label_HA.json", "temporal", (4, 2, 1, 3)),
        ("shapes", "data/RM/grouped_ratings_2label.json", "integrity", (7, 3, 4, 3)),
        ("shapes", "data/RM/grouped_ratings_3label.json", "temporal", (6, 3, 2, 4)),
        ("shapes", "src/rewardmodel/human_2label_test.json", "integrity", (5, 3, 2, 3)),
        ("shapes", "src/rewardmodel/human_3label_test.json", "temporal", (3, 2, 1, 2)),
        # the release itself, where it sits beside the checkout
        ("release", "data/HA/2label_HA.json", "integrity", (1094, 220, 686, 408)),
        ("release", "data/HA/3label_HA.json", "temporal", (1059, 216, 474, 585)),
        ("release", "data/RM/grouped_ratings_2label.json", "integrity", (1094, 220, 686, 408)),
        ("release", "data/RM/grouped_ratings_3label.json", "temporal", (1063, 216, 475, 588)),
        ("release", "src/rewardmodel/human_2label_test.json", "integrity", (120, 27, 79, 41)),
        ("release", "src/rewardmodel/human_3label_test.json", "temporal", (108, 22, 36, 72)),
    ],
)
def test_human_labels_in_every_shape(source, relative, task, counts):
    tango = read_tango_file(data_file(source, relative))
    labels = tango_to_labels(tango)
    assert label_counts(labels) == counts
    assert {r.task for r in labels} == {task}
    assert all(len(r.votes) == 1 and r.mean == r.label for r in labels)
    assert len(tango.notes) == 0


@pytest.mark.parametrize(
    ("source", "prompt_id", "caption", "value"),
    [
        ("shapes", "0007", "A dog barks, then a door slams", 1.0),
        ("release", "0088", "Birds chirp and tweet, followed by female singing", 0.0),
    ],
)
def test_a_ha_row_becomes_a_label(source, prompt_id, caption, value):
    first = tango_to_labels(read_tango_file(data_file(source, "data/HA/2label_HA.json")))[0]
    assert first == LabelRecord(
        sample_id=f"{prompt_id}-0",
        prompt_id=prompt_id,
        text=caption,
        task="integrity",
        index=0,
        path=f"Baton/data/Audio/2label_Integrity_HD_Audio/{prompt_id}_{caption}_0.wav",
        votes=[Vote(annotator="2label_HA", value=value)],
        label=int(value),
        mean=value,
        source="2label_HA.json",
    )


@pytest.mark.parametrize(
    ("source", "prompt_id", "caption", "value", "lines"),
    [
        ("shapes", "0007", "A dog barks, then a door slams", 1.0, [4, 5, 6, 9, 10, 13, 14]),
        ("release", "0000", "A baby cries while waves crash onto the shore", 1.0, [4, 5, 6, 7, 8]),
    ],
)
def test_grouped_files_name_clips_but_give_no_path(source, prompt_id, caption, value, lines):
    tango = read_tango_file(data_file(source, "data/RM/grouped_ratings_2label.json"))
    assert tango.shape == "grouped-ratings"
    first = tango_to_labels(tango)[0]
    assert (first.sample_id, first.prompt_id, first.index, first.path) == (
        f"{prompt_id}-0",
        prompt_id,
        0,
        None,
    )
    assert first.text == caption
    assert (
        first.votes == [Vote(annotator="baton", value=value)]
        and first.source == "grouped_ratings_2label.json"
    )
    assert [row.line for row in tango.rows][: len(lines)] == lines  # the line of each file name


def test_human_test_file_reads_every_page():
    tango = read_tango_file(baton_file("src/rewardmodel/human_2label_test.json"))
    assert tango.shape == "human-ratings"
    labels = tango_to_labels(tango)
    assert (
        labels[0].sample_id == "0262-4"
        and labels[0].text == "Fire crackles and roars, and then a tire squeals"
    )
    assert tango.rows[0].line == 5
    assert labels[-1].sample_id == "0295-0"  # the last clip of the 15th page


def test_grouped_2label_holds_the_same_labels_as_2label_ha():
    grouped = tango_to_labels(read_tango_file(baton_file("data/RM/grouped_ratings_2label.json")))
    released = tango_to_labels(read_tango_file(baton_file("data/HA/2label_HA.json")))
    assert {r.sample_id: (r.text, r.label) for r in grouped} == {
        r.sample_id: (r.text, r.label) for r in released
    }


def test_grouped_3label_has_four_clips_more_than_3label_ha():
    grouped = {
        r.sample_id
        for r in tango_to_labels(read_tango_file(baton_file("data/RM/grouped_ratings_3label.json")))
    }
    released = {r.sample_id for r in tango_to_labels(read_tango_file(baton_file("data/HA/3label_HA.json")))}
    assert released < grouped
    assert sorted(grouped - released) == ["0030-3", "0030-4", "0032-0", "0032-1"]


def test_task_override():
    labels = tango_to_labels(
        read_tango_file(baton_file("src/rewardmodel/human_3label_test.json")), task="single"
    )
    assert {r.task for r in labels} == {"single"}


@pytest.mark.parametrize("relative", ["data/RM/2label_RA.json", "data/RM/3label_RA.json"])
def test_ra_files_are_rewards(relative):
    tango = read_tango_file(baton_file(relative))
    assert tango.value_kind == "sed"
    rewards = tango_to_rewards(tango)
    assert len(rewards) == 1005 and len({r.prompt_id for r in rewards}) == 201
    high = {"data/RM/2label_RA.json": 688, "data/RM/3label_RA.json": 416}[relative]
    assert sum(r.probability >= 0.5 for r in rewards) == high
    for reward in rewards:
        assert 0.0 <= reward.probability <= 1.0
        assert math.isfinite(reward.score)


def test_sed_becomes_probability_and_logit_with_guards_at_0_and_1():
    rewards = tango_to_rewards(read_tango_file(baton_file("data/RM/2label_RA.json")))
    first = rewards[0]
    assert (first.sample_id, first.probability, first.model, first.task) == (
        "0335-3",
        0.882,
        "2label_RA",
        "integrity",
    )
    assert first.score == pytest.approx(math.log(0.882 / 0.118))
    edge = math.log((1 - PROBABILITY_EPS) / PROBABILITY_EPS)  # 13.8155...
    at_one = [r.score for r in rewards if r.probability == 1.0]
    at_zero = [r.score for r in rewards if r.probability == 0.0]
    assert (len(at_one), len(at_zero)) == (179, 13)  # rows with "SED": 1 and "SED": 0
    assert at_one == pytest.approx([edge] * 179) and at_zero == pytest.approx([-edge] * 13)


def test_3label_ra_points_into_the_2label_folder_warns_once_and_keeps_paths():
    tango = read_tango_file(baton_file("data/RM/3label_RA.json"))
    assert len(tango.notes) == 1
    warning = tango.notes.messages[0]
    assert "1005 of 1005 rows of dataset '3label_RA'" in warning
    assert "Baton/data/Audio/2label_Integrity_RD_Audio" in warning
    rewards = tango_to_rewards(tango)
    assert all("/2label_Integrity_RD_Audio/" in r.path for r in rewards)  # not "fixed"
    assert {r.task for r in rewards} == {"temporal"}  # the dataset decides, not the folder
    assert len(read_tango_file(baton_file("data/RM/2label_RA.json")).notes) == 0


def test_pre_score_file():
    tango = read_tango_file(baton_file("src/rewardmodel/2label_RA.json"))
    assert tango.shape == "pre-scores"
    rewards = tango_to_rewards(tango)
    assert len(rewards) == 685 and len({r.prompt_id for r in rewards}) == 137
    first = rewards[0]
    assert first.sample_id == "0327-0"
    assert first.text == "An air horn or truck horn sounds, amidst the rustling of leaves"
    assert first.probability == 0.1812187284231186
    assert first.score == pytest.approx(math.log(0.1812187284231186 / (1 - 0.1812187284231186)))
    assert first.task == "integrity" and first.model == "2label_RA"
    assert tango.rows[0].line == 2


def test_finetune_files_mix_human_and_reward_rows():
    labels = tango_to_labels(read_tango_file(baton_file("src/t2amodel/tango/data/2label_finetune.json")))
    assert len(labels) == 2099 and len({r.prompt_id for r in labels}) == 421
    annotators = Counter(r.votes[0].annotator for r in labels)
    assert annotators == {"2label_HA": 1094, "2label_RA": 1005}
    soft = next(r for r in labels if r.votes[0].annotator == "2label_RA" and r.sample_id == "0335-3")
    assert soft.mean == 0.882 and soft.label == 1
    labels3 = tango_to_labels(read_tango_file(baton_file("src/t2amodel/tango/data/3label_finetune.json")))
    assert len(labels3) == 2064 and len({r.prompt_id for r in labels3}) == 417


# --- caption files ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "rows"),
    [
        ("data/Audiocaps/train_audiocaps.json", 2500),
        ("data/Audiocaps/valid_audiocaps.json", 200),
        ("data/Audiocaps/test_audiocaps_2label.json", 148),
        ("data/Audiocaps/test_audiocaps_3label.json", 165),
        ("data/Audiocaps/test_audiocaps_subset.json", 886),
        ("data/HA/2label_HA.json", 1094),
        ("data/RM/grouped_ratings_3label.json", 1063),
        ("src/rewardmodel/2label_RA.json", 685),
    ],
)
def test_read_caption_file_counts(relative, rows):
    captions = read_caption_file(baton_file(relative))
    assert len(captions) == rows
    assert all(isinstance(c, CaptionRow) and c.text.strip() for c in captions)


def test_caption_row_is_a_frozen_dataclass_with_the_agreed_fields():
    assert [f.name for f in dataclasses.fields(CaptionRow)] == ["text", "location", "dataset", "line"]
    row = CaptionRow(text="a", location=None, dataset=None, line=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.text = "b"  # type: ignore[misc]


def test_caption_rows_of_a_json_array_carry_their_lines():
    captions = read_caption_file(baton_file("data/Audiocaps/test_audiocaps_2label.json"))
    assert captions[0] == CaptionRow(
        text="A machine is making clicking sound as people talk in the background",
        location="/data/deep/audioset/data/7fmOlUlwoNg_20.wav",
        dataset="audiocaps",
        line=2,
    )
    assert captions[1].line == 7
    # Row 14 spells its dataset key "datasetresult": read, with no dataset, and a warning.
    assert captions[13].dataset is None and captions[13].line == 67


def test_unknown_field_warns_with_its_line():
    tango = read_tango_file(baton_file("data/Audiocaps/test_audiocaps_2label.json"))
    assert tango.notes.messages == [
        f"{tango.path}: field 'datasetresult' is not a Tango field (line 68); ignored"
    ]


def test_grouped_caption_rows_give_the_file_name_as_location():
    first = read_caption_file(baton_file("data/RM/grouped_ratings_2label.json"))[0]
    assert first.location == "0000_A baby cries while waves crash onto the shore_0.wav"


def test_subset_file_with_trailing_commas_is_read_with_a_warning(capsys):
    path = baton_file("data/Audiocaps/test_audiocaps_subset.json")
    captions = read_caption_file(path)
    assert (
        captions[-1].text
        == "A woman talking then a child talking followed by a man talking then a goat yelling"
    )
    assert captions[-1].line == 886
    err = " ".join(capsys.readouterr().err.split())
    assert "885 of 886 lines end in ','" in err


def test_audiocaps_names_are_not_baton_names():
    tango = read_tango_file(baton_file("data/Audiocaps/train_audiocaps.json"))
    assert len(tango.notes) == 0  # no "caption differs from the file name" for YouTube ids
    samples = tango_to_samples(tango)
    assert all(s.prompt_id.startswith("caption-") for s in samples)
    assert samples[0].id == "r1nicOVtvkQ_130"


def test_captions_without_scores_are_not_labels():
    tango = read_tango_file(baton_file("data/Audiocaps/valid_audiocaps.json"))
    with pytest.raises(InputError, match="holds captions without feedback or scores"):
        tango_to_labels(tango)


# --- errors name the file and line --------------------------------------------------------------


def write_lines(tmp_path, *lines, name="rows.json"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = '{"dataset": "2label_HA", "location": "a/0001_A dog barks_0.wav", "captions": "A dog barks", "feedback": 1}'


def test_malformed_line(tmp_path):
    path = write_lines(tmp_path, GOOD, "", '{"dataset": "2label_HA", "captions": "x" "feedback": 1}')
    with pytest.raises(InputError) as error:
        read_tango_file(path)
    assert str(error.value).startswith(f"{path}, line 3: not valid JSON (Expecting ',' delimiter")


def test_missing_caption(tmp_path):
    path = write_lines(tmp_path, GOOD, '{"dataset": "2label_HA", "location": "b.wav", "feedback": 0}')
    with pytest.raises(InputError, match=r"rows\.json, line 2, field 'captions': required field is missing"):
        read_tango_file(path)


def test_missing_feedback_when_the_first_row_has_one(tmp_path):
    path = write_lines(
        tmp_path,
        GOOD,
        '{"dataset": "2label_HA", "location": "a/0001_A dog barks_1.wav", "captions": "A dog barks"}',
    )
    with pytest.raises(
        InputError, match=r"line 2, field 'feedback': required field is missing \(line 1 has one\)"
    ):
        read_tango_file(path)


def test_feedback_and_sed_do_not_mix(tmp_path):
    path = write_lines(tmp_path, GOOD, '{"location": "c.wav", "captions": "A dog barks", "SED": 0.5}')
    with pytest.raises(InputError, match=r"line 2, field 'SED': has 'SED' but line 1 has 'feedback'"):
        read_tango_file(path)


@pytest.mark.parametrize("value", ["1.5", "-0.1", "true", '"1"', "null"])
def test_feedback_must_be_a_number_from_0_to_1(tmp_path, value):
    path = write_lines(tmp_path, GOOD, f'{{"captions": "A cat", "feedback": {value}}}')
    with pytest.raises(InputError, match=r"line 2, field 'feedback': must be"):
        read_tango_file(path)


def test_error_inside_a_json_array_names_its_line(tmp_path):
    path = write_lines(
        tmp_path,
        "[",
        '  {"captions": "a", "location": "x.wav"},',
        '  {"captions": "b" "location": "y.wav"}',
        "]",
    )
    with pytest.raises(InputError, match=r"rows\.json, line 3: not valid JSON"):
        read_tango_file(path)
    path = write_lines(tmp_path, "[", '  {"captions": "a"},', '  {"location": "y.wav"}', "]")
    with pytest.raises(InputError, match=r"line 3, field 'captions': required field is missing"):
        read_tango_file(path)


def test_grouped_rating_error_names_the_clip_line(tmp_path):
    path = write_lines(
        tmp_path,
        '{"grouped_ratings": {',
        '  "A dog barks": {',
        '    "0001_A dog barks_0.wav": 1.0,',
        '    "0001_A dog barks_1.wav": "yes"',
        "}}}",
    )
    with pytest.raises(
        InputError, match=r"line 4, field '0001_A dog barks_1.wav': a rating must be a number"
    ):
        read_tango_file(path)


def test_repeated_clip_is_an_error(tmp_path):
    path = write_lines(tmp_path, GOOD, GOOD)
    with pytest.raises(InputError, match=r"line 2: clip '0001-0' appears again \(first at line 1\)"):
        tango_to_labels(read_tango_file(path))


def test_a_clip_captioned_several_times_is_a_sample_per_caption(tmp_path):
    def row(caption):
        return f'{{"dataset": "audiocaps", "location": "clips/abcdefghijk_30.wav", "captions": "{caption}"}}'

    path = write_lines(tmp_path, row("A dog barks"), row("A hound yelps"), row("A dog barks"), row("Barking"))
    tango = read_tango_file(path)
    samples = tango_to_samples(tango)
    assert [(s.id, s.text) for s in samples] == [
        ("abcdefghijk_30", "A dog barks"),
        ("abcdefghijk_30-c2", "A hound yelps"),
        ("abcdefghijk_30-c3", "Barking"),
    ]
    assert tango.notes.messages == [
        f"{path}: 1 rows repeat an earlier row's clip and caption (first at line 3); left out"
    ]
    # With scores, a clip twice under one caption is still an error: which score would it be?
    scored = write_lines(tmp_path, GOOD, GOOD.replace('"feedback": 1', '"feedback": 0'), name="scored.json")
    with pytest.raises(InputError, match="appears again"):
        tango_to_labels(read_tango_file(scored))


@pytest.mark.parametrize(
    ("text", "message"), [("", "the file is empty"), ("hello\n", "line 1: not a Tango/BATON file")]
)
def test_not_a_tango_file(tmp_path, text, message):
    path = tmp_path / "x.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        read_tango_file(path)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_caption_file(tmp_path / "absent.json")


# --- writing and round trips --------------------------------------------------------------------


def test_labels_write_majority_feedback_and_round_trip(tmp_path):
    labels = three_labels()
    path = tmp_path / "out" / "tango.json"
    from baton.interchange.common import Notes

    notes = Notes(echo=False)
    assert write_tango(path, labels, records_dir=tmp_path, notes=notes) == 2  # the tie is left out
    assert notes.messages == [
        "1 clips have tied votes (no majority) and were left out; --soft writes their mean vote"
    ]
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert rows[0] == {
        "dataset": "baton",  # three annotators: no single dataset name
        "location": (tmp_path / "audio/0088-0.wav").as_posix(),
        "captions": "Birds chirp and tweet, followed by female singing",
        "feedback": 1,
        "sample_id": "0088-0",
        "prompt_id": "0088",
        "task": "integrity",
        "index": 0,
        "events": ["birds", "singing"],
    }
    assert rows[1]["dataset"] == "alice@example.com" and rows[1]["feedback"] == 0

    back = tango_to_labels(read_tango_file(path))
    assert [(r.sample_id, r.prompt_id, r.task, r.index, r.events, r.label) for r in back] == [
        (r.sample_id, r.prompt_id, r.task, r.index, r.events, r.label) for r in labels[:2]
    ]
    # A single vote comes back as it was (its annotator was written as the dataset).
    assert back[1].votes == [Vote(annotator="alice@example.com", value=0.0)]


def test_soft_labels_write_the_mean(tmp_path):
    path = tmp_path / "soft.json"
    write_tango(path, three_labels(), records_dir=tmp_path, soft=True, dataset="mine")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [row["feedback"] for row in rows] == [pytest.approx(2 / 3), 0.0, 0.5]
    assert {row["dataset"] for row in rows} == {"mine"}
    back = tango_to_labels(read_tango_file(path))
    assert [r.mean for r in back] == [pytest.approx(2 / 3), 0.0, 0.5]
    assert [r.label for r in back] == [1, 0, None]


def test_released_labels_round_trip_through_tango(tmp_path):
    released = tango_to_labels(read_tango_file(baton_file("data/HA/3label_HA.json")))
    path = tmp_path / "3label.json"
    write_tango(path, released, records_dir=tmp_path)
    back = tango_to_labels(read_tango_file(path))
    assert [(r.sample_id, r.text, r.task, r.votes) for r in back] == [
        (r.sample_id, r.text, r.task, r.votes) for r in released
    ]


def test_rewards_write_sed_and_round_trip(tmp_path):
    rewards = two_rewards()
    path = tmp_path / "rewards.json"
    write_tango(path, rewards, records_dir=tmp_path)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [(row["dataset"], row["SED"]) for row in rows] == [
        ("rm-small", 0.75),
        ("rm-small", 0.11920292202211755),
    ]
    back = tango_to_rewards(read_tango_file(path))
    for old, new in zip(rewards, back, strict=True):
        assert (new.sample_id, new.probability, new.model) == (old.sample_id, old.probability, old.model)
        assert new.score == pytest.approx(old.score)
    assert isinstance(back[0], RewardRecord)
