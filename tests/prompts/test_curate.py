from __future__ import annotations

import pytest

from baton.artifacts import PromptRecord, read_records
from baton.errors import InputError
from baton.prompts.curate import PromptsConfig, curate_prompts, event_usage, max_prompts, run
from baton.prompts.phrasing import list_templates
from baton.prompts.vocabulary import load_vocabulary

from .helpers import parse_back, write_tiny_vocab

OVERLAP = {t.pattern for t in list_templates("overlap")}


@pytest.fixture(scope="module")
def audiocaps200():
    return load_vocabulary("audiocaps200")


def _check_prompt_file(records: list[PromptRecord], vocab, task: str, size: int) -> dict[str, int]:
    """No repeated event set, no event twice, every text parses back; returns template use by relation."""
    sets = [frozenset(r.events) for r in records]
    assert len(set(sets)) == len(records)
    relations = {"sequence": 0, "overlap": 0}
    for record in records:
        assert record.task == task and record.source == vocab.name
        assert len(record.events) == size == len(set(record.events))
        events = [vocab.get(e) for e in record.events]
        # The text is exactly one template filled with these events in this (time) order.
        templates = parse_back(record.text, events)
        assert templates, record.text
        relation = templates[0].relation
        assert all(t.relation == relation for t in templates)
        relations[relation] += 1
    return relations


def test_200_integrity_prompts_cover_the_vocabulary_without_repeats(audiocaps200):
    records = curate_prompts(audiocaps200, task="integrity", n=200, seed=0)
    assert [r.id for r in records[:3]] == ["integrity-0000", "integrity-0001", "integrity-0002"]
    relations = _check_prompt_file(records, audiocaps200, "integrity", 2)
    assert relations == {"sequence": 100, "overlap": 100}  # sequence_share 0.5, exactly
    usage = event_usage(records)
    assert set(usage) == set(audiocaps200.ids)
    assert set(usage.values()) == {2}  # 400 slots over 200 events: twice each


def test_200_temporal_prompts_cover_the_vocabulary_without_repeats(audiocaps200):
    records = curate_prompts(audiocaps200, task="temporal", n=200, seed=0)
    relations = _check_prompt_file(records, audiocaps200, "temporal", 3)
    assert relations == {"sequence": 200, "overlap": 0}
    usage = event_usage(records)
    assert set(usage) == set(audiocaps200.ids)
    assert set(usage.values()) == {3}
    # Every 3-event template names the events in time order: the phrases appear left to right.
    for record in records:
        lowered = record.text.lower()
        starts = [
            min(lowered.find(p) for p in e.clauses + e.nouns if p in lowered)
            for e in (audiocaps200.get(i) for i in record.events)
        ]
        assert starts == sorted(starts), record.text


def test_each_event_is_used_once_before_any_is_used_twice(audiocaps200):
    records = curate_prompts(audiocaps200, task="integrity", n=70, seed=5)
    assert set(event_usage(records).values()) == {1}  # 140 distinct events
    records = curate_prompts(audiocaps200, task="temporal", n=150, seed=5)  # 450 slots over 200 events
    assert sorted(set(event_usage(records).values())) == [2, 3]


def test_sequence_share_sets_the_mix(audiocaps200):
    for share, expected in [(0.0, {"sequence": 0, "overlap": 40}), (1.0, {"sequence": 40, "overlap": 0})]:
        records = curate_prompts(audiocaps200, task="integrity", n=40, seed=1, sequence_share=share)
        assert _check_prompt_file(records, audiocaps200, "integrity", 2) == expected
    records = curate_prompts(audiocaps200, task="integrity", n=40, seed=1, sequence_share=0.25)
    assert _check_prompt_file(records, audiocaps200, "integrity", 2) == {"sequence": 10, "overlap": 30}


def test_same_seed_same_file_other_seed_other_file(tmp_path):
    def write(seed, name):
        config = PromptsConfig(task="temporal", n=30, seed=seed, out=tmp_path / name)
        run(config)
        return (tmp_path / name).read_bytes()

    assert write(3, "a.jsonl") == write(3, "b.jsonl")
    assert write(3, "a.jsonl") != write(4, "c.jsonl")


def test_run_writes_prompt_records(tmp_path):
    out = tmp_path / "sub" / "prompts.jsonl"
    records = run(PromptsConfig(task="integrity", n=12, seed=0, out=out, id_prefix="p"))
    assert read_records(out, PromptRecord) == records
    assert [r.id for r in records][-1] == "p-0011"


def test_every_set_of_a_small_vocabulary_can_be_used(tmp_path):
    vocab = load_vocabulary(write_tiny_vocab(tmp_path))
    assert max_prompts(4, "integrity") == 6 and max_prompts(4, "temporal") == 4
    pairs = curate_prompts(vocab, task="integrity", n=6, seed=2)
    assert {frozenset(r.events) for r in pairs} == {
        frozenset(p) for p in [("dog_bark", "car_horn"), ("dog_bark", "bell"), ("dog_bark", "rain"),
                               ("car_horn", "bell"), ("car_horn", "rain"), ("bell", "rain")]
    }  # fmt: skip
    triples = curate_prompts(vocab, task="temporal", n=4, seed=2)
    assert len({frozenset(r.events) for r in triples}) == 4


def test_too_many_prompts_is_a_clear_error(tmp_path):
    vocab = load_vocabulary(write_tiny_vocab(tmp_path))
    with pytest.raises(InputError) as error:
        curate_prompts(vocab, task="integrity", n=7)
    assert error.value.field == "n"
    assert "cannot write 7 integrity prompts" in str(error.value)
    assert "'tiny' has 4 events, so only 6 distinct sets of 2 events" in str(error.value)
    with pytest.raises(InputError, match="only 4 distinct sets of 3 events"):
        curate_prompts(vocab, task="temporal", n=5)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"task": None}, "task"),
        ({"n": 0}, "n"),
        ({"sequence_share": 1.5}, "sequence_share"),
    ],
)
def test_bad_settings(tmp_path, overrides, field):
    settings = {"task": "integrity", "n": 5, "out": tmp_path / "p.jsonl", **overrides}
    with pytest.raises(InputError) as error:
        run(PromptsConfig(**settings))
    assert error.value.field == field
    assert not (tmp_path / "p.jsonl").exists()


def test_single_task_uses_one_event(audiocaps200):
    records = curate_prompts(audiocaps200, task="single", n=200, seed=0)
    assert set(event_usage(records).values()) == {1}
    assert all(parse_back(r.text, [audiocaps200.get(r.events[0])]) for r in records)


def test_world_vocabulary_when_it_is_shipped(tmp_path):
    from baton.prompts.vocabulary import list_vocabularies

    if "world" not in list_vocabularies():
        pytest.skip("the world vocabulary is not in this checkout")
    records = run(PromptsConfig(vocab="world", task="temporal", n=20, seed=0, out=tmp_path / "w.jsonl"))
    assert len({frozenset(r.events) for r in records}) == 20
    assert all(r.source == "world" for r in records)
