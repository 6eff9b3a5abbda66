"""Simulated annotators label through the real HTTP API, with a ground-truth judge or the world's detector."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest

from baton.annotation.app import AppSettings, create_app
from baton.annotation.config import SimulateConfig
from baton.annotation.run import export_labels
from baton.annotation.server import BackgroundServer
from baton.annotation.simulate import WorldJudge, make_people, score_all, simulate
from baton.artifacts import LabelRecord, SampleRecord, read_records, write_records
from baton.errors import InputError

from .helpers import make_samples, with_random_truth, write_wav


def truth_samples(folder):
    """6 clips; a clip matches its prompt exactly when its index is 0 (stated in its settings)."""
    path = make_samples(folder, prompts=3, per_prompt=2)
    records = read_records(path, SampleRecord)
    for record in records:
        record.settings["match"] = record.index == 0
    write_records(path, records)
    return path


def test_noiseless_people_agree_with_the_truth_through_a_server_it_starts(tmp_path):
    samples = truth_samples(tmp_path / "run")
    db = f"sqlite:///{tmp_path / 'labels.db'}"
    config = SimulateConfig(
        samples=[str(samples)],
        db=db,
        annotators=4,
        noise=0.0,
        skip_rate=0.0,
        labels_per_clip=3,
        progress=False,
    )
    result = simulate(config)
    assert result.errors == [] and result.judge == "settings" and result.db == db
    assert result.url.startswith("http://127.0.0.1:")
    assert result.answers == 6 * 3
    assert [(p.name, p.error_rate, p.bias) for p in result.people][:2] == [
        ("sim-01", 0.0, 0.0),
        ("sim-02", 0.0, 0.0),
    ]

    out = export_labels(db, tmp_path / "labels.jsonl")
    assert (out.clips, out.votes) == (6, 18)
    records = read_records(tmp_path / "labels.jsonl", LabelRecord)
    for record in records:
        assert len({v.annotator for v in record.votes}) == 3
        assert record.label == (1 if record.index == 0 else 0)
    # A rerun with the same people finds nothing left to do: labels are never duplicated.
    again = simulate(config)
    assert again.errors == [] and again.answers == 0
    # The simulation's own admin login is gone: serving this database later shows a new admin link.
    from baton.annotation.run import open_store

    store = open_store(db)
    assert store.ensure_admin() is not None
    store.db.dispose()


def test_people_taking_turns_give_the_same_votes_on_every_run_and_in_parallel_every_clip_gets_its_votes(
    tmp_path,
):
    samples = truth_samples(tmp_path / "run")

    def votes(name: str, **kw) -> dict[str, list[tuple[str, float | None]]]:
        db = f"sqlite:///{tmp_path / name}.db"
        config = SimulateConfig(
            samples=[str(samples)], db=db, annotators=4, noise=0.3, skip_rate=0.0, labels_per_clip=3, **kw
        )
        result = simulate(config)
        assert result.errors == []
        export_labels(db, tmp_path / f"{name}.jsonl")
        records = read_records(tmp_path / f"{name}.jsonl", LabelRecord)
        return {r.sample_id: sorted((v.annotator, v.value) for v in r.votes) for r in records}

    first = votes("a", progress=False)
    assert votes("b", progress=False) == first  # a fresh database, the same people: the same votes
    assert votes("c", progress=False, seed=1) != first  # other people (noise 0.3 over 18 votes)
    together = votes("d", progress=False, parallel=True)  # nobody skips: every clip gets its 3 votes
    assert set(together) == set(first) and all(len(v) == 3 for v in together.values())


def test_people_differ_in_error_rate_and_bias_and_errors_follow_them():
    people = make_people(5, noise=0.2, skip_rate=0.0, seed=3, prefix="x")
    assert len({p.error_rate for p in people}) == 5 and all(0.1 <= p.error_rate <= 0.3 for p in people)
    assert len({p.bias for p in people}) == 5 and all(abs(p.bias) <= 0.3 for p in people)
    assert make_people(5, 0.2, 0.0, 3, "x")[0].error_rate == people[0].error_rate  # seeded
    # With no bias, a sure "yes" is flipped at the person's error rate.
    person = make_people(1, noise=0.2, skip_rate=0.0, seed=1, prefix="y")[0]
    person.bias = 0.0
    wrong = sum(person.answer(1.0)["value"] == 0 for _ in range(4000)) / 4000
    assert wrong == pytest.approx(person.error_rate, abs=0.03)


def test_simulating_against_a_running_server(make_store, tmp_path):
    samples = truth_samples(tmp_path / "run")
    store = make_store(labels_per_clip=2)
    store.load_samples(samples)
    _, admin = store.add_annotator("boss", admin=True)
    with BackgroundServer(create_app(store, AppSettings())) as server:
        base = dict(samples=[str(samples)], server=server.url, annotators=3, noise=0.0, progress=False)
        with pytest.raises(InputError, match="admin"):
            simulate(SimulateConfig(**base))
        result = simulate(SimulateConfig(**base, admin_token=admin, skip_rate=0.0))
    assert result.errors == [] and result.db is None
    votes = defaultdict(list)
    for row in store.all_labels():
        votes[row.clip.sample_id].append(row.label.value)
    assert len(votes) == 6 and all(len(v) == 2 for v in votes.values())
    assert all(set(v) == {1 if sid.endswith("-0") else 0} for sid, v in votes.items())


def test_a_clip_without_ground_truth_needs_the_world_judge(tmp_path):
    samples = make_samples(tmp_path / "run", prompts=1, per_prompt=1)
    with pytest.raises(InputError, match="no ground truth"):
        simulate(
            SimulateConfig(samples=[str(samples)], db=f"sqlite:///{tmp_path / 'x.db'}", judge="settings")
        )
    with pytest.raises(InputError, match="no annotator detector"):
        simulate(
            SimulateConfig(
                samples=[str(samples)], db=f"sqlite:///{tmp_path / 'x.db'}", world=tmp_path / "none"
            )
        )


@pytest.fixture(scope="module")
def tiny_world(tmp_path_factory):
    """A world folder holding only an annotator detector, with random weights (public API only)."""
    from baton.world.detectors import EventDetector, annotator_config

    folder = tmp_path_factory.mktemp("world")
    EventDetector(annotator_config(seed=0, quick=True)).save(folder / "annotator")
    return folder


def world_samples(folder, classes):
    records = []
    for p, events in enumerate([classes[:2], classes[:3]]):
        for i in range(2):
            sample_id = f"w{p}-{i}"
            write_wav(folder / f"{sample_id}.wav", seconds=1.0, rate=16000, freq=500 + 300 * i)
            records.append(
                SampleRecord(
                    id=sample_id, prompt_id=f"w{p}", text=" then ".join(events), events=list(events),
                    task="integrity" if p == 0 else "temporal", index=i, path=f"{sample_id}.wav", backend="world",
                )
            )  # fmt: skip
    path = folder / "samples.jsonl"
    write_records(path, records)
    return path


def test_the_world_judge_scores_with_the_annotator_detector(tiny_world, tmp_path):
    from baton.audio import load_audio
    from baton.world.detectors import EventDetector

    detector = EventDetector.load(tiny_world / "annotator")
    samples = world_samples(tmp_path / "run", detector.classes)
    records = read_records(samples, SampleRecord)
    items = [(r, tmp_path / "run" / r.path) for r in records]
    scores = score_all(WorldJudge(tiny_world, batch_size=3), items)  # batches of 3 and 1
    for (record, path), score in zip(items, scores, strict=True):
        audio, _ = load_audio(path, sample_rate=16000)
        (expected,) = detector.match_probability([audio], [record.events], record.task)
        assert score == pytest.approx(expected, abs=1e-6) and 0.0 <= score <= 1.0

    db = f"sqlite:///{tmp_path / 'labels.db'}"
    result = simulate(
        SimulateConfig(
            samples=[str(samples)], db=db, annotators=3, noise=0.1, world=tiny_world, progress=False
        )
    )
    assert result.errors == [] and result.judge == "world"
    export_labels(db, tmp_path / "labels.jsonl")
    voted = Counter(r.sample_id for r in read_records(tmp_path / "labels.jsonl", LabelRecord))
    assert set(voted) == {r.id for r in records}

    unknown = records[0].model_copy(update={"events": ["a trombone"]})
    with pytest.raises(InputError, match="cannot judge the events"):
        score_all(WorldJudge(tiny_world), [(unknown, items[0][1])])


def test_a_simulated_listening_test_prefers_the_model_that_matches(tmp_path):
    base, tuned = truth_samples(tmp_path / "base"), truth_samples(tmp_path / "tuned")
    for path, match in ((base, False), (tuned, True)):
        records = read_records(path, SampleRecord)
        for record in records:
            record.settings["match"] = match
        write_records(path, records)
    db = f"sqlite:///{tmp_path / 'labels.db'}"
    config = SimulateConfig(
        samples=[f"base={base}", f"tuned={tuned}"], db=db, annotators=3, noise=0.0, tasks=["ratings"],
        raters_per_item=2, progress=False,
    )  # fmt: skip
    result = simulate(config)
    assert result.errors == [] and result.answers == 0
    assert sum(p.ratings for p in result.people) == 6 * 2  # 6 items (prompt x index), 2 raters each
    from baton.annotation.config import MosConfig
    from baton.annotation.run import mos

    scores = {(r.model, r.metric): r for r in mos(MosConfig(db=db)) if r.task is None}
    # Faithfulness is drawn around 1 + 4p (sd 0.5 without noise), kept in 1-5: near 1 for base
    # (p = 0), near 5 for tuned (p = 1); the intervals do not overlap.
    assert scores[("base", "mos_f")].value < 2 and scores[("tuned", "mos_f")].value > 4
    assert scores[("base", "mos_f")].ci_high < scores[("tuned", "mos_f")].ci_low
    assert scores[("tuned", "mos_f")].n == 12


# --- reliability, pairs, gold ----------------------------------------------------------------------


def test_dawid_skene_with_gold_clips_beats_the_majority_of_a_mixed_team(tmp_path):
    """One careful person (right 95% of the time) and four who nearly guess (55%), three votes a
    clip, a gold clip every 5th answer: Dawid-Skene finds whom to believe, the majority cannot."""
    samples = make_samples(tmp_path / "run", prompts=100, per_prompt=2, seconds=0.05)
    truth = with_random_truth(samples, "match", seed=0)
    gold = make_samples(tmp_path / "gold", prompts=10, per_prompt=2, seconds=0.05, name="gold.jsonl")
    with_random_truth(gold, "gold", seed=0)
    db = f"sqlite:///{tmp_path / 'labels.db'}"
    result = simulate(
        SimulateConfig(
            samples=[str(samples)], gold=[str(gold)], gold_every=5, db=db, reliability=[0.95, 0.55, 0.55, 0.55, 0.55],
            skip_rate=0.0, labels_per_clip=3, seed=0, progress=False,
        )
    )  # fmt: skip
    assert result.errors == [] and len(result.people) == 5
    assert [round(p.error_rate, 2) for p in result.people] == [0.05, 0.45, 0.45, 0.45, 0.45]
    records = read_records(export_labels(db, tmp_path / "labels.jsonl").out, LabelRecord)
    assert len(records) == 200  # gold clips are not exported
    majority = sum(r.label == truth[r.sample_id] for r in records) / len(records)
    dawid_skene = sum((r.dawid_skene > 0.5) == truth[r.sample_id] for r in records) / len(records)
    # Measured with this seed: the majority 0.715, Dawid-Skene 0.79.
    assert dawid_skene - majority > 0.07, (majority, dawid_skene)


def test_simulated_people_compare_pairs_and_pick_the_clip_that_matches(tmp_path):
    samples = truth_samples(tmp_path / "run")  # clip 0 of each prompt matches it, clip 1 does not
    db = f"sqlite:///{tmp_path / 'labels.db'}"
    config = SimulateConfig(
        samples=[str(samples)], db=db, tasks=["pairs"], reliability=[1.0, 1.0, 1.0], skip_rate=0.0,
        labels_per_clip=2, progress=False,
    )  # fmt: skip
    result = simulate(config)
    assert result.errors == [] and result.answers == 0
    assert sum(p.pairs for p in result.people) == 3 * 2 and "6 pairs compared" in result.summary()
    from baton.annotation.pairs import PairQueue
    from baton.annotation.run import open_store

    store = open_store(db)
    records = PairQueue(store).pair_records(None)
    store.db.dispose()
    assert [(r.chosen, r.rejected, r.preference) for r in records] == [
        (f"p00{n}-0", f"p00{n}-1", 1.0) for n in range(3)
    ]

    # With noise the answers differ, but a seed still gives the same ones on every run.
    def answers(name):
        noisy = SimulateConfig(
            samples=[str(samples)], db=f"sqlite:///{tmp_path / name}.db", tasks=["pairs"], noise=0.3,
            labels_per_clip=3, annotators=4, skip_rate=0.0, seed=5, progress=False,
        )  # fmt: skip
        assert simulate(noisy).errors == []
        store = open_store(noisy.db)
        try:
            return [
                (r.annotator, r.pair.prompt_id, r.preference.choice)
                for r in PairQueue(store).all_preferences()
            ]
        finally:
            store.db.dispose()

    assert answers("a") == answers("b")


def test_a_person_prefers_the_clip_they_hear_as_matching():
    from baton.annotation.simulate import SimulatedPerson

    careful = SimulatedPerson("c", 0.0, 0.0, 0.0, __import__("random").Random(0))
    assert [careful.prefer(1.0, 0.0), careful.prefer(0.0, 1.0), careful.prefer(1.0, 1.0), careful.prefer(0, 0)] == [
        1, 2, 3, 3,
    ]  # fmt: skip
    with pytest.raises(InputError, match="one chance per person"):
        SimulateConfig(samples=["x"], reliability=[0.9, 1.5])
