"""A prompt id names files (``audio/<prompt id>-<k>.wav``), so the prompt reader refuses one that could
put a file elsewhere, and every id baton writes itself passes."""

from __future__ import annotations

import json

import pytest

from baton.artifacts import ID_MAX_LENGTH, PromptRecord, id_problem, read_records, write_records
from baton.errors import InputError

BAD_IDS = [
    "../../../escaped",
    "a b/c",
    "a/b",
    "a\\b",
    "..",
    ".hidden",
    "a..b",
    "tab\there",
    "new\nline",
    "space ",
    "x" * (ID_MAX_LENGTH + 1),
    "C:evil",
    "\u00e9t\u00e9",  # letters, but not ASCII
]
GOOD_IDS = ["0088", "integrity-0000", "caption-b01cf9e2", "a.b_c-1", "_x", "x" * ID_MAX_LENGTH]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_a_bad_prompt_id_is_refused_naming_file_line_and_field(tmp_path, bad):
    path = tmp_path / "prompts.jsonl"
    lines = [{"id": "fine", "text": "a beep"}, {"id": bad, "text": "a knock"}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    with pytest.raises(InputError) as error:
        read_records(path, PromptRecord)
    assert (error.value.path, error.value.line, error.value.field) == (str(path), 2, "id")
    assert "names files" in error.value.reason
    with pytest.raises(ValueError):
        PromptRecord(id=bad, text="a knock")


@pytest.mark.parametrize("good", GOOD_IDS)
def test_good_prompt_ids_pass(tmp_path, good):
    assert id_problem(good) is None
    path = tmp_path / "prompts.jsonl"
    write_records(path, [PromptRecord(id=good, text="a beep")])
    assert read_records(path, PromptRecord)[0].id == good


def test_the_message_names_what_is_wrong():
    assert "'/'" in id_problem("a/b")
    assert "starts with '.'" in id_problem(".a")
    assert "'..'" in id_problem("a..b")
    assert str(ID_MAX_LENGTH) in id_problem("x" * 200)
