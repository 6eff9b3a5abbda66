"""Labelling in rounds of active selection: a round opens only when the last one is complete, the reward
model is retrained between rounds, a restart goes on with the round the database holds."""

from __future__ import annotations

import dataclasses

import pytest

from baton.annotation.config import ServeConfig, SimulateConfig
from baton.annotation.rounds import Rounds, RoundSettings
from baton.annotation.run import export_labels, prepare
from baton.annotation.simulate import simulate
from baton.annotation.store import Answer
from baton.artifacts import LabelRecord, read_records
from baton.errors import InputError

from .helpers import make_samples, sqlite_store, with_random_truth


class Recorder:
    """A chooser that takes the first candidates (load order) and keeps what it was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[int, float], list[int], int, int]] = []

    def __call__(self, known, candidates, size, number):
        self.calls.append((dict(known.labels), list(candidates), size, number))
        return candidates[:size]


def label_everything_open(store, people, value=1):
    """Each person labels what the store gives them until it gives nothing; returns the clips labelled."""
    done = []
    for person in people:
        while (clip := store.next_clip(person)) is not None:
            store.answer(person, clip.uid, Answer(value=value), then_next=False)
            done.append(clip.sample_id)
    return done


def test_a_round_opens_only_when_every_clip_of_the_last_has_its_votes(tmp_path):
    make_samples(tmp_path / "run", prompts=5, per_prompt=2)  # 10 clips
    store = sqlite_store(tmp_path, labels_per_clip=2)
    store.load_samples(tmp_path / "run" / "samples.jsonl")
    people = [store.add_annotator(name)[0] for name in ("ann", "bob", "cy")]
    chooser = Recorder()
    rounds = Rounds(store, RoundSettings(round_size=4, budget=0), chooser=chooser)

    assert rounds.advance()  # the first round: no labels yet
    assert not rounds.advance()  # not complete: no second round
    first = label_everything_open(store, people[:1])
    assert len(first) == 4  # only the round's clips are given out
    assert not rounds.advance() and rounds.waiting()  # one vote each of k = 2
    assert store.next_clip(people[0]) is None  # ann has heard them all; nothing else is open
    second = label_everything_open(store, people[1:2])
    assert sorted(second) == sorted(first)
    assert rounds.status().complete == 4

    assert rounds.advance()  # complete: the next round, chosen with the labels so far
    labels, candidates, size, number = chooser.calls[-1]
    assert (size, number, len(candidates)) == (4, 1, 6)
    assert sorted(labels.values()) == [1.0] * 4
    assert len(label_everything_open(store, people[:2])) == 8
    assert rounds.advance()
    assert chooser.calls[-1][2] == 2  # the last round: the 2 clips left
    label_everything_open(store, people[1:])
    assert not rounds.advance() and not rounds.waiting() and rounds.status().finished


def test_rounds_stop_at_the_budget(tmp_path):
    make_samples(tmp_path / "run", prompts=5, per_prompt=2)
    store = sqlite_store(tmp_path, labels_per_clip=1)
    store.load_samples(tmp_path / "run" / "samples.jsonl")
    person = store.add_annotator("ann")[0]
    rounds = Rounds(store, RoundSettings(round_size=3, budget=5), chooser=Recorder())
    rounds.advance()
    label_everything_open(store, [person])
    rounds.advance()
    assert len(label_everything_open(store, [person])) == 2  # the last round cut to the budget
    assert not rounds.advance() and rounds.status().finished and rounds.status().left == 5


def test_the_simulated_team_labels_a_campaign_in_rounds_and_the_model_is_retrained(tmp_path, tiny_clap_dir):
    samples = make_samples(tmp_path / "run", prompts=6, per_prompt=3)  # 18 clips
    with_random_truth(samples, "match", seed=1)
    db = f"sqlite:///{tmp_path / 'labels.db'}"
    config = SimulateConfig(
        samples=[str(samples)], db=db, annotators=3, noise=0.0, skip_rate=0.0, labels_per_clip=2,
        select="uncertain", round_size=5, random_share=0.4, budget=13,
        select_encoder=f"clap:{tiny_clap_dir}", progress=False,
    )  # fmt: skip
    result = simulate(config)
    assert result.errors == []
    records = read_records(export_labels(db, tmp_path / "labels.jsonl").out, LabelRecord)
    assert len(records) == 13 and all(len(r.votes) == 2 for r in records)  # rounds of 5, 5 and 3, k = 2

    # A restart goes on from the database: the same 3 rounds, the campaign's settings kept.
    prepared = prepare(ServeConfig(samples=[str(samples)], db=db, select_encoder=f"clap:{tiny_clap_dir}"))
    try:
        rounds = prepared.rounds["labels"]
        assert (
            list(prepared.rounds) == ["labels"]
            and rounds.settings.rule == "uncertain"
            and rounds.settings.round_size == 5
        )
        status = rounds.status()
        assert (status.round, status.chosen, status.complete, status.left) == (2, 3, 3, 5)
        assert status.finished
    finally:
        prepared.store.db.dispose()


def test_a_team_working_at_once_loses_no_label_between_rounds(tmp_path, tiny_clap_dir):
    """People asking at the same moment a round ends wait for the next one (the server says
    ``waiting``) instead of stopping; every answer the server acknowledged is in the export."""
    samples = make_samples(tmp_path / "run", prompts=6, per_prompt=2)
    with_random_truth(samples, "match", seed=2)
    db = f"sqlite:///{tmp_path / 'labels.db'}"
    result = simulate(
        SimulateConfig(
            samples=[str(samples)], db=db, annotators=4, noise=0.0, skip_rate=0.0, labels_per_clip=2,
            select="bald", round_size=4, budget=12, select_encoder=f"clap:{tiny_clap_dir}", parallel=True,
            progress=False,
        )
    )  # fmt: skip
    assert result.errors == []
    records = read_records(export_labels(db, tmp_path / "labels.jsonl").out, LabelRecord)
    assert len(records) == 12 and all(len(r.votes) == 2 for r in records)
    assert result.answers == 24


def test_the_admins_figures_say_where_the_rounds_are(tmp_path):
    from fastapi.testclient import TestClient

    from baton.annotation.app import AppSettings, create_app

    store = sqlite_store(tmp_path, labels_per_clip=1)
    store.load_samples(make_samples(tmp_path / "run", prompts=3, per_prompt=2))
    rounds = Rounds(store, RoundSettings(round_size=4), chooser=Recorder())
    rounds.advance()
    _, token = store.add_annotator("boss", admin=True)
    client = TestClient(create_app(store, AppSettings(rounds={"labels": rounds})))
    figures = client.get("/api/admin/stats", headers={"Authorization": f"Bearer {token}"}).json()
    assert figures["rounds"] == {"labels": {
        "task": "labels", "noun": "clips", "rule": "bald", "round_size": 4, "random_share": 0.25, "budget": 0,
        "round": 0, "chosen": 4, "complete": 0, "left": 2, "chosen_in_all": 4, "finished": False,
        "retrains": 0, "last_retrain_seconds": None,
    }}  # fmt: skip


def test_the_reward_model_chooses_the_next_round(tmp_path, tiny_clap_dir):
    from baton.annotation.rounds import RewardChooser

    samples = make_samples(tmp_path / "run", prompts=6, per_prompt=3)
    store = sqlite_store(tmp_path, labels_per_clip=1)
    store.load_samples(samples)
    settings = RoundSettings(
        rule="uncertain", round_size=4, random_share=0.25, encoder=f"clap:{tiny_clap_dir}"
    )
    rounds = Rounds(store, settings)
    assert isinstance(rounds.chooser, RewardChooser)
    rounds.advance()
    person = store.add_annotator("ann")[0]
    for i, clip in enumerate(iter(lambda: store.next_clip(person), None)):
        store.answer(person, clip.uid, Answer(value=i % 2), then_next=False)  # both labels
    assert rounds.retrains == 0  # the first round was drawn at random
    assert rounds.advance()
    assert rounds.retrains == 1 and rounds.last_retrain_seconds is not None
    assert rounds.status().chosen == 4
    # The same labels and seed choose the same round.
    chosen = rounds.chooser(rounds.known(), rounds.candidates(), 4, 1)
    assert chosen == rounds.chooser(rounds.known(), rounds.candidates(), 4, 1)


def test_a_restart_continues_the_round_it_was_in(tmp_path, tiny_clap_dir):
    samples = make_samples(tmp_path / "run", prompts=5, per_prompt=2)
    db = f"sqlite:///{tmp_path / 'labels.db'}"
    encoder = f"clap:{tiny_clap_dir}"
    config = ServeConfig(
        samples=[str(samples)],
        db=db,
        labels_per_clip=2,
        select="uncertain",
        round_size=4,
        select_encoder=encoder,
    )
    with pytest.raises(InputError, match="no-such-clap"):  # a wrong encoder is said at start
        prepare(dataclasses.replace(config, select_encoder="clap:no-such-clap"))
    first = prepare(config)
    person = first.store.add_annotator("ann")[0]
    clip = first.store.next_clip(person)
    first.store.answer(person, clip.uid, Answer(value=1), then_next=False)
    in_round = {c.sample_id for c in first.store.all_clips() if c.round == 0}
    first.store.db.dispose()

    again = prepare(ServeConfig(samples=[str(samples)], db=db, select_encoder=encoder))  # the stored campaign
    try:
        assert list(again.rounds) == ["labels"]
        assert {c.sample_id for c in again.store.all_clips() if c.round is not None} == in_round
        assert again.store.next_clip(person).sample_id in in_round
    finally:
        again.store.db.dispose()


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"select": "smart"}, "select"),
        ({"round_size": 0}, "round_size"),
        ({"random_share": 1.5}, "random_share"),
        ({"budget": -1}, "budget"),
    ],
)
def test_bad_settings_name_the_setting(settings, field):
    with pytest.raises(InputError, match=field):
        ServeConfig(**settings)
    with pytest.raises(InputError, match=field):
        SimulateConfig(**settings)


def test_selection_for_a_campaign_of_ratings_alone_is_refused(tmp_path):
    with pytest.raises(InputError, match="ratings") as error:
        ServeConfig(select="bald", tasks=["ratings"])
    assert error.value.field == "select"
    with pytest.raises(InputError, match="ratings"):
        SimulateConfig(select="uncertain", tasks=["ratings"])
    SimulateConfig(select="random", tasks=["ratings"])  # no selection: fine
    # The tasks a campaign stored are checked too, when a restart asks for selection.
    samples = make_samples(tmp_path / "run", prompts=2, per_prompt=2)
    db = f"sqlite:///{tmp_path / 'ratings.db'}"
    prepare(ServeConfig(samples=[str(samples)], db=db, tasks=["ratings"])).store.db.dispose()
    with pytest.raises(InputError, match="ratings only") as error:
        prepare(ServeConfig(samples=[str(samples)], db=db, select="bald", change_settings=True))
    assert error.value.field == "select"
    again = prepare(ServeConfig(samples=[str(samples)], db=db))  # the refused change was not stored
    try:
        assert again.rounds == {} and again.settings.tasks == ["ratings"]
    finally:
        again.store.db.dispose()


def test_bad_select_on_the_command_line_is_one_line(tmp_path, capsys):
    from .test_commands import run_cli

    samples = make_samples(tmp_path / "run", prompts=1, per_prompt=2)
    code, out = run_cli(
        "annotate", "serve", "--samples", samples, "--db", f"sqlite:///{tmp_path / 'l.db'}", "--select", "smart",
        capsys=capsys,
    )  # fmt: skip
    assert code == 2 and out.startswith("error:") and "select" in out and "smart" in out
    assert "Traceback" not in out and not (tmp_path / "l.db").exists()


def test_the_rounds_default_rule_is_the_measured_one():
    from baton.reward.select import DEFAULT_RULE

    assert RoundSettings().rule == DEFAULT_RULE
