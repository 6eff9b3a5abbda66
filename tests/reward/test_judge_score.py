"""AI feedback: ``baton reward score --judge events|clap`` writes the rewards file a reward model would,
naming its judge, and fine-tuning reads it (rewards, the judge, DPO pairs)."""

from __future__ import annotations

import pytest

from baton.artifacts import RewardRecord, SampleRecord, read_records, write_records
from baton.audio import save_audio
from baton.cli import main
from baton.world.corpus import render

RATE = 16_000
PROMPTS = [
    ("i0", "A beep sounds, then rain falls.", ["beep", "rain"], "integrity", "sequence"),
    ("t0", "A hum, then a knock, then a bell.", ["hum", "knock", "bell"], "temporal", "sequence"),
]


@pytest.fixture(scope="module")
def world_clap(tmp_path_factory):
    """A world folder with an untrained CLAP: the real loading path, no training."""
    from baton.world.clap import WorldClap, clap_config, world_texts
    from baton.world.model import WordTokenizer

    folder = tmp_path_factory.mktemp("judge-world")
    WorldClap(clap_config(0, quick=True), WordTokenizer.build(world_texts())).save(folder / "clap")
    return folder


@pytest.fixture
def samples(tmp_path):
    """Three clips of each prompt: its events as stated, reversed, and the first one alone."""
    records = []
    for number, (prompt_id, text, events, task, relation) in enumerate(PROMPTS):
        for k, clip_events in enumerate([events, events[::-1], events[:1]]):
            layout = "single" if len(clip_events) == 1 else relation
            path = f"audio/{prompt_id}-{k}.wav"
            save_audio(tmp_path / path, render(clip_events, layout, 10 * number + k).audio, RATE)
            records.append(
                SampleRecord(id=f"{prompt_id}-{k}", prompt_id=prompt_id, text=text, events=events, task=task,
                             relation=relation, index=k, path=path, sample_rate=RATE)
            )  # fmt: skip
    path = tmp_path / "samples.jsonl"
    write_records(path, records)
    return path


def _score(args, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["reward", "score", *args, "--no-progress"])
    return exit_.value.code, " ".join(capsys.readouterr().err.split())


@pytest.mark.parametrize("judge", ["events", "clap"])
def test_a_judge_writes_rewards_that_finetuning_reads(judge, samples, world_clap, tmp_path, capsys):
    from baton.finetune.config import FinetuneConfig
    from baton.finetune.data import preference_pairs, read_feedback

    out = tmp_path / f"rewards-{judge}.jsonl"
    code, err = _score(
        ["--judge", judge, "--encoder", f"world:{world_clap}", "--samples", str(samples), "--out", str(out)],
        capsys,
    )
    assert code == 0, err
    records = read_records(out, RewardRecord)
    assert [r.sample_id for r in records] == [s.id for s in read_records(samples, SampleRecord)]
    names = {(r.model, r.model_fingerprint) for r in records}
    assert len(names) == 1
    name, fingerprint = names.pop()
    assert name.startswith(
        "event judge over world CLAP" if judge == "events" else "CLAP judge over world CLAP"
    )
    assert fingerprint[:12] in name
    for record in records:
        assert 0.0 <= record.probability <= 1.0
        assert record.score == pytest.approx(_logit(record.probability), abs=1e-6)

    config = FinetuneConfig(method="dpo", rewards=out, dpo_margin=0.01, progress=False)
    feedback = read_feedback(config)
    assert feedback.reward_model["fingerprint"] == fingerprint and feedback.reward_model["names"] == [name]
    assert [c.reward for c in feedback.clips] == pytest.approx([r.probability for r in records])
    pairs = preference_pairs(feedback.clips, list(range(len(feedback.clips))), config.dpo_margin)
    for chosen, rejected in pairs:
        assert feedback.clips[chosen].prompt_id == feedback.clips[rejected].prompt_id
        assert feedback.clips[chosen].reward - feedback.clips[rejected].reward >= 0.01 - 1e-12

    # A rerun with the same judge has nothing left to do; another judge may not add to the file.
    before = out.read_text()
    assert (
        _score(
            [
                "--judge",
                judge,
                "--encoder",
                f"world:{world_clap}",
                "--samples",
                str(samples),
                "--out",
                str(out),
            ],
            capsys,
        )[0]
        == 0
    )
    assert out.read_text() == before
    other = "clap" if judge == "events" else "events"
    code, err = _score(
        ["--judge", other, "--encoder", f"world:{world_clap}", "--samples", str(samples), "--out", str(out)],
        capsys,
    )
    assert code == 1 and "holds scores of another" in err and out.read_text() == before


def _logit(p: float) -> float:
    import math

    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def test_the_events_judge_needs_the_events_a_prompt_names(samples, world_clap, tmp_path, capsys):
    records = read_records(samples, SampleRecord)
    records[1] = records[1].model_copy(update={"events": []})
    bare = samples.parent / "bare.jsonl"
    write_records(bare, records)
    code, err = _score(["--judge", "events", "--encoder", f"world:{world_clap}", "--samples", str(bare),
                        "--out", str(tmp_path / "r.jsonl")], capsys)  # fmt: skip
    assert (
        code == 1 and "line 2, field 'events'" in err and "names no events" in err and "Traceback" not in err
    )


def test_a_model_and_a_judge_together_or_an_unknown_judge_are_refused(samples, world_clap, tmp_path, capsys):
    common = [
        "--samples",
        str(samples),
        "--out",
        str(tmp_path / "r.jsonl"),
        "--encoder",
        f"world:{world_clap}",
    ]
    code, err = _score([*common, "--judge", "events", "--model", str(tmp_path)], capsys)
    assert code == 2 and "not both" in err
    code, err = _score([*common, "--judge", "vibes"], capsys)
    assert code == 2 and "unknown judge 'vibes'" in err
    code, err = _score(common, capsys)
    assert code == 2 and "--judge events|clap" in err
