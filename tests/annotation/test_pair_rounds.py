"""A/B pairs in rounds of active selection: a round opens only when every pair of the last has its
answers, the next round's pairs are those whose preference the reward model is least sure of, a share
of them at random, the budget cuts the last round, a restart goes on with the round the database
holds, and the dashboard says where the rounds are."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
import torch
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from baton.annotation.app import AppSettings, create_app
from baton.annotation.config import ServeConfig, SimulateConfig
from baton.annotation.db import Database
from baton.annotation.models import Clip, Pair
from baton.annotation.pairs import PairQueue
from baton.annotation.rounds import Known, RewardChooser, Rounds, RoundSettings
from baton.annotation.run import open_store, prepare
from baton.annotation.simulate import simulate
from baton.annotation.store import AnnotationStore, Answer
from baton.reward.heads import FeatureBatch
from tests.reward.helpers import FirstFeatureHead

from .helpers import make_samples, sqlite_store, with_random_truth


class Recorder:
    """A chooser that takes the first candidates (load order) and keeps what it was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[Known, list[int], int, int]] = []

    def __call__(self, known, candidates, size, number):
        self.calls.append((known, list(candidates), size, number))
        return candidates[:size]


def answer_everything_open(queue: PairQueue, people, key: int = 3) -> list[str]:
    """Each person answers what the queue gives them until it gives nothing; returns the pairs answered."""
    done = []
    for person in people:
        while (pair := queue.next(person)) is not None:
            queue.answer(person, pair.uid, key, then_next=False)
            done.append(pair.uid)
    return done


def pairs_of_round(store: AnnotationStore, number: int) -> set[str]:
    with store.db.read() as session:
        return set(session.execute(select(Pair.uid).where(Pair.round == number)).scalars())


def pair_campaign(tmp_path, prompts: int = 3, k: int = 2) -> tuple[AnnotationStore, PairQueue]:
    """``prompts`` prompts of 3 clips each: 3 pairs a prompt."""
    store = sqlite_store(tmp_path, labels_per_clip=k)
    store.load_samples(make_samples(tmp_path / "run", prompts=prompts, per_prompt=3))
    queue = PairQueue(store)
    assert queue.form() == 3 * prompts
    return store, queue


def test_a_round_of_pairs_opens_only_when_every_pair_of_the_last_has_its_answers(tmp_path):
    store, queue = pair_campaign(tmp_path)  # 9 pairs
    people = [store.add_annotator(name)[0] for name in ("ann", "bob", "cy")]
    chooser = Recorder()
    rounds = Rounds(store, RoundSettings(round_size=4), "pairs", chooser)

    assert rounds.advance()  # the first round: nothing answered yet
    assert not rounds.advance()  # not complete: no second round
    first = answer_everything_open(queue, people[:1])
    assert len(first) == 4 and set(first) == pairs_of_round(store, 0)  # only the round's pairs are given
    assert not rounds.advance() and rounds.waiting()  # one answer each of k = 2
    second = answer_everything_open(queue, people[1:2])
    assert sorted(second) == sorted(first)
    assert rounds.status().complete == 4

    assert rounds.advance()  # complete: the next round, chosen with the answers so far
    known, candidates, size, number = chooser.calls[-1]
    assert (size, number, len(candidates)) == (4, 1, 5)
    with store.db.read() as session:
        ids = {uid: i for i, uid in session.execute(select(Pair.id, Pair.uid))}
    assert known.preferences == {ids[uid]: 0.5 for uid in first}  # two ties each: half for the first clip
    assert len(known.ends) == 9 and known.labels == {}
    assert len(answer_everything_open(queue, people[:2])) == 8
    assert rounds.advance()
    assert chooser.calls[-1][2] == 1  # the last round: the one pair left
    answer_everything_open(queue, people[1:])
    assert not rounds.advance() and not rounds.waiting() and rounds.status().finished
    # The label task is not in rounds: every clip is open as before.
    assert store.in_rounds == {"pairs"} and store.next_clip(people[0]) is not None


def test_pair_rounds_stop_at_the_budget(tmp_path):
    store, queue = pair_campaign(tmp_path, k=1)  # 9 pairs
    person = store.add_annotator("ann")[0]
    rounds = Rounds(store, RoundSettings(round_size=4, budget=6), "pairs", Recorder())
    rounds.advance()
    assert len(answer_everything_open(queue, [person])) == 4
    rounds.advance()
    assert len(answer_everything_open(queue, [person])) == 2  # the last round cut to the budget
    status = rounds.status()
    assert not rounds.advance() and status.finished and (status.left, status.chosen_in_all) == (3, 6)
    assert not rounds.waiting() and queue.next(person) is None


# -- the reward model's choice, with stub features and heads whose preferences are known ----------

SCALES = [1.0, 1.3, 1.7, 2.2]  # per prompt; clip i of prompt p scores i^2 * SCALES[p]


class StubFeatures:
    """Each clip's one feature is its score; records what it was asked for."""

    def __init__(self, store: AnnotationStore) -> None:
        with store.db.read() as session:
            clips = session.execute(select(Clip)).scalars().all()
        self.score = {c.id: c.clip_index**2 * SCALES[int(c.prompt_id[1:])] for c in clips}
        self.asked: list[int] = []

    def __call__(self, clip_ids):
        self.asked = list(clip_ids)
        return FeatureBatch(torch.tensor([[self.score[i]] for i in clip_ids]), torch.zeros(len(clip_ids), 1))


@pytest.fixture
def stub_ensemble(monkeypatch):
    """``fit_ensemble`` replaced by heads given by the test; what it was fitted on is kept."""
    fitted: dict = {"heads": [FirstFeatureHead(1.0), FirstFeatureHead(1.0)]}

    def fit(features, targets, labelled, settings, *, round_number=0, human_pairs=None, human_weights=None):
        fitted.update(labelled=list(labelled), human_pairs=human_pairs, human_weights=human_weights)
        return fitted["heads"]

    monkeypatch.setattr("baton.reward.select.fit_ensemble", fit)
    return fitted


def gap_order(store: AnnotationStore, features: StubFeatures) -> list[int]:
    """The pairs by the gap between their clips' scores, smallest first (all gaps differ)."""
    with store.db.read() as session:
        pairs = session.execute(select(Pair.id, Pair.first_id, Pair.second_id)).all()
    gaps = {pid: abs(features.score[a] - features.score[b]) for pid, a, b in pairs}
    assert len(set(gaps.values())) == len(gaps)
    return sorted(gaps, key=gaps.get)


def pair_chooser(store, rule, random_share):
    settings = RoundSettings(rule=rule, random_share=random_share, round_size=4)
    features = StubFeatures(store)
    return Rounds(store, settings, "pairs", RewardChooser(store, settings, "pairs", features)), features


def test_the_next_pairs_are_those_whose_preference_the_model_is_least_sure_of(tmp_path, stub_ensemble):
    store, _ = pair_campaign(tmp_path, prompts=4)  # 12 pairs
    rounds, features = pair_chooser(store, "uncertain", 0.0)
    known = rounds.known()
    by_gap = gap_order(store, features)
    # Nothing decided and no labels: the first round is drawn at random, no model fitted.
    rounds.chooser(known, by_gap, 4, 0)
    assert "human_pairs" not in stub_ensemble

    # People preferred pair a's first clip, pair b's second, and split on pair c (not decided).
    a, b, c, *candidates = by_gap[::-1]  # the surest pairs answered; the rest to choose from
    known.preferences = {a: 1.0, b: 0.0, c: 0.5}
    chosen = rounds.chooser(known, candidates, 3, 1)
    # uncertain: the ensemble's P(first better) nearest 0.5 is the smallest gap between the clips.
    assert chosen == by_gap[:3]
    # The model learnt from the decided pairs, preferred clip first, each weighted 1 (unanimous).
    rows = [tuple(features.asked[r] for r in pair) for pair in stub_ensemble["human_pairs"].tolist()]
    assert rows == [known.ends[a], known.ends[b][::-1]]
    assert stub_ensemble["human_weights"].tolist() == [1.0, 1.0] and stub_ensemble["labelled"] == []

    # bald over heads that disagree (+1, -1): the pair whose answer tells the heads apart most is the
    # one with the largest gap; disagreement too.
    stub_ensemble["heads"] = [FirstFeatureHead(1.0), FirstFeatureHead(-1.0)]
    for rule in ("bald", "disagreement"):
        rounds, _ = pair_chooser(store, rule, 0.0)
        assert rounds.chooser(known, candidates, 1, 1) == [candidates[0]]


def test_labels_alone_are_enough_to_choose_pairs(tmp_path, stub_ensemble):
    store, _ = pair_campaign(tmp_path, prompts=4)
    rounds, features = pair_chooser(store, "uncertain", 0.0)
    person = store.add_annotator("ann")[0]
    for value in (1, 0):
        store.answer(person, store.next_clip(person).uid, Answer(value=value), then_next=False)
    known = rounds.known()
    assert sorted(known.labels.values()) == [0.0, 1.0] and known.preferences == {}
    by_gap = gap_order(store, features)
    assert rounds.chooser(known, by_gap, 2, 1) == by_gap[:2]
    assert stub_ensemble["labelled"] == [0, 1] and stub_ensemble["human_pairs"].shape == (0, 2)


def test_the_random_share_of_each_round_is_drawn_at_random(tmp_path, stub_ensemble):
    store, _ = pair_campaign(tmp_path, prompts=4)
    for share, outside in ((0.0, False), (0.5, True)):
        rounds, features = pair_chooser(store, "uncertain", share)
        by_gap = gap_order(store, features)
        known = rounds.known()
        known.preferences = {by_gap[-1]: 1.0}  # one decided pair: the model is fitted
        candidates, top = by_gap[:-1], set(by_gap[:4])
        strays = 0
        for number in range(1, 11):
            chosen = rounds.chooser(known, candidates, 4, number)
            assert len(set(chosen)) == 4
            # round(0.5 * 4) = 2 at random at most displace the rule's 2: at least 2 of the top 4 stay.
            assert len(set(chosen) & top) >= 2
            strays += bool(set(chosen) - top)
        # Without a random share every round is the 4 least sure; with one, most rounds take others too.
        assert (strays >= 5) if outside else strays == 0, (share, strays)


def test_the_reward_model_learns_from_the_pairs_and_chooses_the_next_round(tmp_path, tiny_clap_dir):
    store, queue = pair_campaign(tmp_path, prompts=4, k=1)
    settings = RoundSettings(rule="bald", round_size=4, encoder=f"clap:{tiny_clap_dir}")
    rounds = Rounds(store, settings, "pairs")
    assert isinstance(rounds.chooser, RewardChooser)
    rounds.advance()
    person = store.add_annotator("ann")[0]
    answer_everything_open(queue, [person], key=1)  # the clip played first, each time: decided pairs
    assert rounds.retrains == 0  # the first round was drawn at random
    assert rounds.advance()
    assert rounds.retrains == 1 and rounds.status().chosen == 4
    known = rounds.known()
    assert len(known.preferences) == 4 and all(share in (0.0, 1.0) for share in known.preferences.values())
    # The same answers and seed choose the same round.
    chosen = rounds.chooser(known, rounds.candidates(), 4, 1)
    assert chosen == rounds.chooser(known, rounds.candidates(), 4, 1)
    assert set(chosen) <= set(rounds.candidates())


# -- restarts, migrations, the dashboard, the simulated team --------------------------------------


def test_a_restart_continues_the_round_of_pairs_it_was_in(tmp_path, tiny_clap_dir):
    samples = make_samples(tmp_path / "run", prompts=3, per_prompt=3)
    db = f"sqlite:///{tmp_path / 'labels.db'}"
    encoder = f"clap:{tiny_clap_dir}"
    config = ServeConfig(
        samples=[str(samples)], db=db, labels_per_clip=2, tasks=["pairs"], select="uncertain", round_size=4,
        select_encoder=encoder,
    )  # fmt: skip
    first = prepare(config)
    assert list(first.rounds) == ["pairs"]  # the label task is not offered: not in rounds
    queue = PairQueue(first.store)
    person = first.store.add_annotator("ann")[0]
    pair = queue.next(person)
    queue.answer(person, pair.uid, 1, then_next=False)
    in_round = pairs_of_round(first.store, 0)
    assert len(in_round) == 4 and pair.uid in in_round
    first.store.db.dispose()

    again = prepare(ServeConfig(samples=[str(samples)], db=db, select_encoder=encoder))  # the stored campaign
    try:
        rounds = again.rounds["pairs"]
        assert rounds.settings.rule == "uncertain" and rounds.settings.round_size == 4
        assert pairs_of_round(again.store, 0) == in_round and pairs_of_round(again.store, 1) == set()
        status = rounds.status()
        assert (status.round, status.chosen, status.complete, status.left) == (0, 4, 0, 5)
        assert PairQueue(again.store).next(person).uid in in_round
    finally:
        again.store.db.dispose()


NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def test_a_database_made_before_pairs_had_rounds_is_upgraded(db_url):
    """A database at schema 0004 (clips in rounds, pairs not), with pairs answered, upgraded by the
    migration a newer baton runs at start: every answer is kept and its pairs can go in rounds."""
    db = Database(db_url)
    db.migrate("0004")
    with db.engine.begin() as connection:  # the rows as the fourth schema's baton wrote them
        for n in range(3):
            connection.execute(
                text(
                    "INSERT INTO clips (uid, model, sample_id, prompt_id, text, events, task, clip_index, root, "
                    "path, backend, settings, position, votes, created_at) VALUES (:uid, 'base', :sid, 'p0', "
                    "'a bell', '[]', 'integrity', :n, '/nowhere', :path, 'world', '{}', :n, 0, :now)"
                ),
                {"uid": f"c{n}", "sid": f"p0-{n}", "n": n, "path": f"audio/p0-{n}.wav", "now": NOW},
            )
        connection.execute(
            text(
                "INSERT INTO annotators (name, token_hash, is_admin, created_at) VALUES ('ann', :h, :f, :now)"
            ),
            {"h": "0" * 64, "f": False, "now": NOW},
        )
        clip = dict(connection.execute(text("SELECT sample_id, id FROM clips")).all())
        ann = connection.execute(text("SELECT id FROM annotators")).scalar_one()
        for n, (a, b) in enumerate([(0, 1), (0, 2), (1, 2)]):
            connection.execute(
                text(
                    "INSERT INTO pairs (uid, model, prompt_id, first_id, second_id, position, votes, created_at) "
                    "VALUES (:uid, 'base', 'p0', :a, :b, :n, :votes, :now)"
                ),
                {"uid": f"q{n}", "a": clip[f"p0-{a}"], "b": clip[f"p0-{b}"], "n": n, "votes": int(n == 0), "now": NOW},
            )  # fmt: skip
        first_pair = connection.execute(text("SELECT id FROM pairs WHERE uid = 'q0'")).scalar_one()
        connection.execute(
            text(
                "INSERT INTO preferences (pair_id, annotator_id, choice, swapped, seconds, early, source, created_at) "
                "VALUES (:pair, :ann, 'second', :f, 3.0, :f, 'app', :now)"
            ),
            {"pair": first_pair, "ann": ann, "f": False, "now": NOW},
        )  # fmt: skip
    db.migrate()  # what a newer baton does when it starts on this database
    assert db.schema_revision() == "0005"
    store = AnnotationStore(db, labels_per_clip=1)
    try:
        rows = PairQueue(store).all_preferences()
        assert [(r.pair.uid, r.annotator, r.preference.choice) for r in rows] == [("q0", "ann", "second")]
        with store.db.read() as session:
            assert set(session.execute(select(Pair.round)).scalars()) == {None}
        rounds = Rounds(store, RoundSettings(round_size=2), "pairs", Recorder())
        assert rounds.known().preferences == {first_pair: 0.0}
        assert rounds.advance() and rounds.status().chosen == 2
    finally:
        db.dispose()


def test_the_dashboard_shows_where_the_rounds_of_labels_and_pairs_are(tmp_path):
    store, queue = pair_campaign(tmp_path, k=1)  # 9 clips, 9 pairs
    labels = Rounds(
        store, RoundSettings(rule="uncertain", round_size=4, random_share=0.5), "labels", Recorder()
    )
    pairs = Rounds(store, RoundSettings(round_size=3, budget=7), "pairs", Recorder())
    labels.advance()
    pairs.advance()
    person, token = store.add_annotator("boss", admin=True)
    answer_everything_open(queue, [person])  # the first round of pairs complete: 3 of 3
    pairs.advance()
    client = TestClient(
        create_app(store, AppSettings(tasks=["labels", "pairs"], rounds={"labels": labels, "pairs": pairs}))
    )
    auth = {"Authorization": f"Bearer {token}"}
    page = client.get("/dashboard", headers=auth)
    assert page.status_code == 200
    section = re.search(r'<section class="card" id="rounds">(.*?)</section>', page.text, re.S).group(1)
    flat = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", section))
    assert "Labels: round 1, 0 of 4 clips complete; 5 clips not chosen yet (4 chosen in all)." in flat
    assert "Rule uncertain, 50% of each round at random, rounds of 4 clips;" in flat
    assert "Pairs: round 2, 0 of 3 pairs complete; 3 pairs not chosen yet (6 chosen in all)." in flat
    assert "Rule bald, 25% of each round at random, rounds of 3 pairs, budget 7 pairs;" in flat
    assert '<progress max="3" value="0">' in section
    # The same figures as JSON.
    figures = client.get("/api/admin/stats", headers=auth).json()["rounds"]
    assert (figures["pairs"]["round"], figures["pairs"]["chosen_in_all"], figures["labels"]["noun"]) == (
        1,
        6,
        "clips",
    )
    # Without active selection there is no such section.
    plain = TestClient(create_app(store, AppSettings(tasks=["labels", "pairs"])))
    assert 'id="rounds"' not in plain.get("/dashboard", headers=auth).text


def test_the_pairs_api_says_waiting_while_a_round_is_to_come(tmp_path):
    store, queue = pair_campaign(tmp_path, k=2)
    rounds = Rounds(store, RoundSettings(round_size=2), "pairs", Recorder())
    rounds.advance()
    ann, ann_token = store.add_annotator("ann")
    bob, bob_token = store.add_annotator("bob")
    client = TestClient(create_app(store, AppSettings(tasks=["pairs"], rounds={"pairs": rounds})))
    as_ann = {"Authorization": f"Bearer {ann_token}"}
    for _ in range(2):
        pair = client.get("/api/pairs/next", headers=as_ann).json()["pair"]
        reply = client.post("/api/pairs", json={"pair": pair["pair"], "choice": 3}, headers=as_ann).json()
    assert reply["next"] is None and reply["waiting"] is True  # bob has not answered the round yet
    assert client.get("/api/pairs/next", headers=as_ann).json() == {
        "pair": None, "progress": reply["progress"], "waiting": True,
    }  # fmt: skip
    for _ in range(2):
        answer_everything_open(queue, [bob])
    # ann's next ask finds the round complete: the next round is chosen and her pair given.
    following = client.get("/api/pairs/next", headers=as_ann).json()
    assert following["pair"]["pair"] in pairs_of_round(store, 1) and following["waiting"] is False
    assert (
        "waiting"
        not in TestClient(create_app(store, AppSettings(tasks=["pairs"])))
        .get("/api/pairs/next", headers=as_ann)
        .json()
    )


def test_the_simulated_team_compares_pairs_in_rounds_on_the_quick_world(tmp_path, quick_world):
    samples = make_samples(tmp_path / "run", prompts=4, per_prompt=3)  # 12 pairs
    with_random_truth(samples, "match", seed=3)
    db = f"sqlite:///{tmp_path / 'pairs.db'}"
    config = SimulateConfig(
        samples=[str(samples)], db=db, tasks=["pairs"], annotators=3, noise=0.0, skip_rate=0.0,
        labels_per_clip=2, select="bald", round_size=4, random_share=0.25, budget=10,
        select_encoder=f"world:{quick_world}", progress=False,
    )  # fmt: skip
    result = simulate(config)
    assert result.errors == []
    assert sum(p.pairs for p in result.people) == 20  # rounds of 4, 4 and 2 pairs, 2 answers each
    store = open_store(db)
    try:
        records = PairQueue(store).pair_records(None)
        assert len(records) == 10 and all(len(r.votes) == 2 for r in records)
        with store.db.read() as session:
            per_round = dict(session.execute(select(Pair.round, text("count(*)")).group_by(Pair.round)).all())
        assert per_round == {0: 4, 1: 4, 2: 2, None: 2}
    finally:
        store.db.dispose()


def test_a_team_at_once_loses_no_pair_answer_between_rounds(tmp_path, tiny_clap_dir):
    """People asking at the moment a round of pairs ends wait for the next one; every answer the
    server acknowledged is in the export, with labels in rounds beside them."""
    samples = make_samples(tmp_path / "run", prompts=3, per_prompt=3)
    with_random_truth(samples, "match", seed=4)
    db = f"sqlite:///{tmp_path / 'both.db'}"
    result = simulate(
        SimulateConfig(
            samples=[str(samples)], db=db, tasks=["labels", "pairs"], annotators=4, noise=0.0, skip_rate=0.0,
            labels_per_clip=2, select="uncertain", round_size=3, budget=7,
            select_encoder=f"clap:{tiny_clap_dir}", parallel=True, progress=False,
        )
    )  # fmt: skip
    assert result.errors == []
    assert result.answers == 14 and sum(p.pairs for p in result.people) == 14
    store = open_store(db)
    try:
        assert len(PairQueue(store).pair_records(None)) == 7 and len(store.label_records(None)) == 7
    finally:
        store.db.dispose()
