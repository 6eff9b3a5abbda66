from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from baton.artifacts import PromptRecord, read_records
from baton.prompts.curate import PromptsConfig, baton_prompt_number, prompts_from_captions, run

BATON_DATA = Path(__file__).parents[2].parent / "shared" / "data" / "baton"
HA_2LABEL = BATON_DATA / "data" / "HA" / "2label_HA.json"


@dataclass
class Row:  # the fields of baton.interchange.tango.CaptionRow that the curator reads
    text: str
    location: str | None = None
    dataset: str | None = None
    line: int = 0


def test_baton_prompt_number():
    assert baton_prompt_number("Baton/data/Audio/2label/0088_Birds chirp, then a dog_0.wav") == "0088"
    assert baton_prompt_number("C:\\audio\\0012_A bell rings_4.wav") == "0012"
    assert baton_prompt_number("audio/birds_0.wav") is None
    assert baton_prompt_number(None) is None


def test_one_prompt_per_distinct_caption_with_baton_numbers():
    rows = [
        Row("Birds chirp, followed by singing", "x/0088_Birds chirp, followed by singing_0.wav", "2label_HA"),
        Row("Birds chirp, followed by singing", "x/0088_Birds chirp, followed by singing_1.wav", "2label_HA"),
        Row("A bell  rings ", "x/0007_A bell rings_0.wav", "2label_HA"),
        Row("A dog barks", "clips/dog.wav"),
        Row("A bell rings", "x/0007_A bell rings_3.wav"),  # the same caption once spaces are tidied
    ]
    records = prompts_from_captions(rows, task="integrity")
    assert [(r.id, r.text) for r in records] == [
        ("0088", "Birds chirp, followed by singing"),
        ("0007", "A bell rings"),
        ("caption-0000", "A dog barks"),
    ]
    assert all(r.events == [] and r.task == "integrity" for r in records)
    assert [r.source for r in records] == ["2label_HA", "2label_HA", None]


def test_counter_ids_never_collide_with_baton_numbers():
    # With the prefix "caption", BATON's number 0000 becomes "caption-0000", so the counter skips it.
    rows = [Row("a", "clips/a.wav"), Row("b", "0000_b_0.wav"), Row("c")]
    records = prompts_from_captions(rows, id_prefix="caption")
    assert [r.id for r in records] == ["caption-0001", "caption-0000", "caption-0002"]
    # Two captions claiming the same BATON number: the second gets a counter.
    records = prompts_from_captions([Row("a", "0005_a_0.wav"), Row("b", "0005_b_0.wav")])
    assert [r.id for r in records] == ["0005", "caption-0000"]


def test_n_takes_a_seeded_sample_in_file_order():
    rows = [Row(f"caption {i}", f"{i:04d}_caption {i}_0.wav") for i in range(50)]
    first = prompts_from_captions(rows, n=10, seed=3)
    assert len(first) == 10
    assert [r.id for r in first] == sorted(r.id for r in first)
    assert first == prompts_from_captions(rows, n=10, seed=3)
    assert first != prompts_from_captions(rows, n=10, seed=4)


def test_a_caption_file_gives_its_distinct_captions_as_prompts(tmp_path, capsys):
    from baton.cli import main
    from tests.shapes import shape_file

    source = shape_file("data/HA/2label_HA.json")  # 7 clips of 3 captions
    records = run(PromptsConfig(from_captions=source, task="integrity", out=tmp_path / "prompts.jsonl"))
    assert [(r.id, r.text) for r in records] == [
        ("0007", "A dog barks, then a door slams"),
        ("0012", "Rain falls while a man's voice echoes"),
        ("0031", "Birds sing. A car passes by"),
    ]
    assert all(r.task == "integrity" and r.events == [] for r in records)
    # AudioCaps' captions have no BATON number; a clip captioned several times gives each caption.
    out = tmp_path / "p.jsonl"
    with pytest.raises(SystemExit) as exit_:
        main(
            [
                "prompts",
                "--from-captions",
                str(shape_file("data/Audiocaps/valid_audiocaps.json")),
                "--out",
                str(out),
            ]
        )
    assert exit_.value.code == 0
    records = read_records(out, PromptRecord)
    assert len(records) == 4 and all(r.id.startswith("caption-") and r.task is None for r in records)
    assert "4 untyped prompts from the distinct captions" in " ".join(capsys.readouterr().err.split())


def test_baton_2label_file_gives_220_distinct_prompts(tmp_path):
    pytest.importorskip("baton.interchange.tango", reason="the Tango caption reader is not in this checkout")
    if not HA_2LABEL.is_file():
        pytest.skip(f"BATON data not found at {HA_2LABEL}")
    # Counted independently of baton: distinct "captions" values in the raw JSON Lines.
    lines = [json.loads(line) for line in HA_2LABEL.read_text(encoding="utf-8").splitlines() if line.strip()]
    distinct = {row["captions"] for row in lines}
    assert len(lines) == 1094 and len(distinct) == 220

    out = tmp_path / "prompts.jsonl"
    records = run(PromptsConfig(from_captions=HA_2LABEL, task="integrity", out=out))
    assert len(records) == 220
    assert {r.text for r in records} == distinct
    assert records[0].id == "0088" and records[0].text == "Birds chirp and tweet, followed by female singing"
    assert len({r.id for r in records}) == 220 and all(r.id.isdigit() for r in records)
    assert all(r.task == "integrity" and r.events == [] for r in records)
    assert read_records(out, PromptRecord) == records


def test_cli_from_captions_without_a_task(tmp_path, capsys):
    pytest.importorskip("baton.interchange.tango", reason="the Tango caption reader is not in this checkout")
    if not HA_2LABEL.is_file():
        pytest.skip(f"BATON data not found at {HA_2LABEL}")
    from baton.cli import main

    out = tmp_path / "p.jsonl"
    with pytest.raises(SystemExit) as exit_:
        main(["prompts", "--from-captions", str(HA_2LABEL), "--n", "15", "--seed", "2", "--out", str(out)])
    assert exit_.value.code == 0
    records = read_records(out, PromptRecord)
    assert len(records) == 15 and all(r.task is None and r.source == "2label_HA" for r in records)
    assert "15 untyped prompts from the distinct captions" in " ".join(capsys.readouterr().err.split())


def test_ids_from_captions_name_files():
    from baton.artifacts import id_problem
    from baton.errors import InputError

    rows = [Row("a bell", "0012_A bell rings_4.wav"), Row("rain"), Row("wind", "\u0661\u0662_wind_0.wav")]
    records = prompts_from_captions(rows, id_prefix="set.1")
    assert [r.id for r in records] == ["set.1-0012", "set.1-0000", "set.1-0001"]
    assert all(id_problem(r.id) is None for r in records)
    with pytest.raises(InputError, match="id_prefix"):
        prompts_from_captions(rows, id_prefix="../x")
