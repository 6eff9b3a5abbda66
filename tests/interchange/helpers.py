"""Paths to BATON's released files, and small record builders for the interchange tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from baton.artifacts import LabelRecord, RewardRecord, SampleRecord, Vote

BATON_DATA = Path(__file__).parents[2].parent / "shared" / "data" / "baton"


def baton_file(relative: str) -> Path:
    """A file of the BATON release; the test is skipped only when the whole data folder is absent."""
    if not BATON_DATA.is_dir():
        pytest.skip(f"the BATON data folder is absent: {BATON_DATA}")
    path = BATON_DATA / relative
    assert path.is_file(), f"{relative} is missing from {BATON_DATA} (see its SOURCE.md)"
    return path


def data_file(source: str, relative: str) -> Path:
    """A release file's miniature (``shapes``: tests/data/baton, in every clone) or the release's own
    file (``release``: skipped where the release is absent)."""
    from tests.shapes import shape_file

    return shape_file(relative) if source == "shapes" else baton_file(relative)


def run_cli(capsys, *argv) -> tuple[int, str]:
    """``baton ARGV``: (exit code, what it printed on one line)."""
    from baton.cli import main

    with pytest.raises(SystemExit) as exit_:
        main([str(a) for a in argv])
    captured = capsys.readouterr()
    return exit_.value.code, " ".join((captured.out + captured.err).split())


def three_labels() -> list[LabelRecord]:
    """Clips with several annotators, times and a tie; paths relative to their file's folder."""
    return [
        LabelRecord.from_votes(
            [
                Vote(
                    annotator="alice@example.com", value=1.0, seconds=4.5, created_at="2024-05-01T10:00:00Z"
                ),
                Vote(annotator="7", value=1.0, seconds=2.0),
                Vote(annotator="bob@example.com", value=0.0),
            ],
            sample_id="0088-0",
            prompt_id="0088",
            text="Birds chirp and tweet, followed by female singing",
            events=["birds", "singing"],
            task="integrity",
            index=0,
            path="audio/0088-0.wav",
            source="annotate",
        ),
        LabelRecord.from_votes(
            [Vote(annotator="alice@example.com", value=0.0, seconds=3.0)],
            sample_id="0088-1",
            prompt_id="0088",
            text="Birds chirp and tweet, followed by female singing",
            events=["birds", "singing"],
            task="integrity",
            index=1,
            path="audio/0088-1.wav",
        ),
        LabelRecord.from_votes(
            [Vote(annotator="alice@example.com", value=1.0), Vote(annotator="bob@example.com", value=0.0)],
            sample_id="temporal-0003-2",
            prompt_id="temporal-0003",
            text="A dog's bark, then a door slams. Rain follows",
            task="temporal",
            index=2,
            path="audio/temporal-0003-2.wav",
        ),
    ]


def two_rewards() -> list[RewardRecord]:
    return [
        RewardRecord(
            sample_id="0088-0", prompt_id="0088", text="Birds chirp", task="integrity",
            path="audio/0088-0.wav", score=1.0986122886681098, probability=0.75, model="rm-small",
        ),
        RewardRecord(
            sample_id="0088-1", prompt_id="0088", text="Birds chirp", task="integrity",
            path="audio/0088-1.wav", score=-2.0, probability=0.11920292202211755, model="rm-small",
        ),
    ]  # fmt: skip


def two_samples() -> list[SampleRecord]:
    return [
        SampleRecord(
            id=f"integrity-0000-{k}", prompt_id="integrity-0000", text="A bell rings while a dog barks",
            events=["bell", "dog"], task="integrity", index=k, path=f"audio/integrity-0000-{k}.wav",
            seed=100 + k, backend="world", sample_rate=16000, duration=4.0,
        )
        for k in range(2)
    ]  # fmt: skip


def make_audio_files(folder: Path, records) -> None:
    """Stand-in audio files (the interchange code copies bytes; it never decodes them)."""
    for record in records:
        target = folder / record.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"RIFF" + record.record_key().encode())
