"""The A/B task's store: forming pairs, assignment, answers in the pair's terms, undo, leases, gold, early
answers, export as pair records; on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from itertools import combinations

import pytest
from sqlalchemy import func, select

from baton.annotation.models import PairAssignment
from baton.annotation.pairs import PairQueue, choose_pairs, stored_choice
from baton.annotation.store import Conflict, NotFound, StoreError

from .helpers import Clock, make_samples


def samples_of(view):
    return [c["sample_id"] for c in view.clips]


def in_pair_terms(view):
    """(first, second) sample ids of the pair as stored, whatever order this rater hears them in."""
    return tuple(sorted(samples_of(view)))


# --- which pairs ----------------------------------------------------------------------------------


def test_every_pair_or_a_balanced_share_deterministic_by_seed():
    clips = ["a", "b", "c", "d", "e"]
    every = choose_pairs(clips, None, "s")
    assert sorted(every) == list(combinations(clips, 2))  # each pair once, in the members' order
    assert choose_pairs(clips, None, "s") == every and choose_pairs(clips, None, "t") != every
    # Five pairs of five clips: every clip in exactly two of them.
    for seed in ("0", "1", "2", "3"):
        chosen = choose_pairs(clips, 5, seed)
        assert len(set(chosen)) == 5
        uses = Counter(c for pair in chosen for c in pair)
        assert set(uses.values()) == {2}, chosen
    # Two pairs of four clips cover all four.
    assert sorted(c for pair in choose_pairs(clips[:4], 2, "x") for c in pair) == ["a", "b", "c", "d"]
    assert choose_pairs(["a"], None, "s") == []


def test_form_pairs_per_prompt_and_again_adds_nothing(make_store, tmp_path):
    store = make_store(labels_per_clip=2)
    store.load_samples(make_samples(tmp_path, prompts=2, per_prompt=3))
    queue = PairQueue(store)
    assert queue.form() == 6  # 3 pairs of each prompt's 3 clips
    assert queue.form() == 0
    store.load_samples(make_samples(tmp_path / "more", prompts=3, per_prompt=3, name="more.jsonl"), model="b")
    assert queue.form(per_prompt=2, seed=1) == 6  # the new model's prompts: 2 pairs each
    assert queue.count() == 12
    with pytest.raises(Exception, match="at least 1"):
        queue.form(per_prompt=0)


# --- assignment and answers ------------------------------------------------------------------------


def answer_everything(queue, people, key=lambda person, view: 1):
    order = []
    active = list(people)
    while active:
        for person in list(active):
            view = queue.next(person)
            if view is None:
                active.remove(person)
                continue
            queue.answer(person, view.uid, key(person, view), then_next=False)
            order.append((person.name, view.prompt_id, in_pair_terms(view)))
    return order


def test_each_pair_gets_k_answers_from_k_people_a_prompt_in_a_row(make_store, tmp_path):
    store = make_store(labels_per_clip=2)
    store.load_samples(make_samples(tmp_path, prompts=3, per_prompt=3))
    queue = PairQueue(store)
    queue.form()
    people = [store.add_annotator(name)[0] for name in ("ann", "bob", "cat")]
    # Ann alone first: the three pairs of p000 in a row, then p001's.
    first = []
    for _ in range(4):
        view = queue.next(people[0])
        first.append((view.prompt_id, view.number, view.of))
        queue.answer(people[0], view.uid, 3, then_next=False)
    assert first == [("p000", 1, 3), ("p000", 2, 3), ("p000", 3, 3), ("p001", 1, 3)]
    answer_everything(queue, people)
    rows = queue.all_preferences()
    answers = Counter(row.pair.id for row in rows)
    assert len(answers) == 9 and set(answers.values()) == {2}
    assert len({(row.pair.id, row.annotator) for row in rows}) == len(rows)  # nobody twice
    progress = queue.progress(people[0])
    assert (progress.votes, progress.needed) == (18, 18)
    assert all(queue.next(person) is None for person in people)


def test_answers_are_kept_in_the_pairs_terms_and_a_repeat_is_harmless(make_store, tmp_path):
    store = make_store(labels_per_clip=4)
    store.load_samples(make_samples(tmp_path, prompts=1, per_prompt=2))
    queue = PairQueue(store)
    queue.form()
    people = [store.add_annotator(f"r{i}")[0] for i in range(4)]
    played = []
    for person in people:
        view = queue.next(person)
        played.append(samples_of(view))
        done = queue.answer(person, view.uid, 1, then_next=False)  # "the clip I heard first is better"
        assert not done.repeated
        again = queue.answer(person, view.uid, 1, then_next=False)
        assert again.repeated and again.preference == done.preference
        with pytest.raises(Conflict, match="already answered"):
            queue.answer(person, view.uid, 2)
    # The raters heard the pair in both orders; each answer names the clip they heard first.
    assert {tuple(p) for p in played} == {("p000-0", "p000-1"), ("p000-1", "p000-0")}
    rows = queue.all_preferences()
    for row, heard in zip(rows, played, strict=True):
        better = row.first if row.preference.choice == "first" else row.second
        assert better.sample_id == heard[0]
    record = queue.pair_records(None)[0]
    assert record.chosen in ("p000-0", "p000-1") and record.preference == 0.5 or record.preference > 0.5
    assert stored_choice(3, True) == "tie" and stored_choice(1, True) == "second"
    with pytest.raises(StoreError, match="choice must be 1"):
        queue.answer(people[0], rows[0].pair.uid, 4)
    with pytest.raises(NotFound):
        queue.answer(people[0], "nope", 1)


def test_undo_gives_the_pair_back_in_the_same_order(make_store, tmp_path):
    store = make_store(labels_per_clip=1)
    store.load_samples(make_samples(tmp_path, prompts=1, per_prompt=3))
    queue = PairQueue(store)
    queue.form()
    ann, _ = store.add_annotator("ann")
    assert queue.undo(ann) == (None, queue.progress(ann))
    first = queue.next(ann)
    done = queue.answer(ann, first.uid, 2)
    second = done.next
    assert second is not None and second.uid != first.uid
    assert queue.last_answered(ann) == first.uid
    back, progress = queue.undo(ann, first.uid)
    assert back.uid == first.uid and samples_of(back) == samples_of(first) and progress.mine == 0
    again, _ = queue.undo(ann, first.uid)  # a repeated undo undoes no more
    assert again.uid == first.uid
    assert queue.next(ann).uid == first.uid  # the undone pair first ...
    queue.answer(ann, first.uid, 1, then_next=False)
    assert queue.next(ann).uid == second.uid  # ... then the one it interrupted
    queue.answer(ann, second.uid, 3, then_next=False)
    with pytest.raises(Conflict, match="another pair"):  # the page's undo of an answer since replaced
        queue.undo(ann, first.uid)
    with pytest.raises(NotFound):
        queue.undo(ann, "nope")


def test_a_lease_that_runs_out_frees_the_slot(make_store, tmp_path):
    clock = Clock()
    store = make_store(labels_per_clip=1, lease_seconds=60, clock=clock)
    store.load_samples(make_samples(tmp_path, prompts=1, per_prompt=2))
    queue = PairQueue(store)
    queue.form()
    ann, _ = store.add_annotator("ann")
    bob, _ = store.add_annotator("bob")
    held = queue.next(ann)
    assert queue.next(bob) is None  # the only pair is ann's while her lease lives
    clock.advance(61)
    assert queue.next(bob).uid == held.uid
    queue.answer(bob, held.uid, 1, then_next=False)
    with pytest.raises(Conflict, match="ran out"):
        queue.answer(ann, held.uid, 2)
    assert queue.next(ann) is None
    with store.db.read() as session:
        assert session.execute(select(func.count(PairAssignment.id))).scalar_one() == 0


def test_gold_pairs_every_nth_answer_and_early_answers(make_store, tmp_path):
    clock = Clock()
    store = make_store(labels_per_clip=1, gold_every=3, clock=clock)
    store.load_samples(make_samples(tmp_path, prompts=3, per_prompt=2, seconds=1.0))
    gold = make_samples(tmp_path / "gold", prompts=2, per_prompt=2, seconds=1.0, name="gold.jsonl")
    # Clip 0 of each gold prompt matches it, clip 1 does not.
    from baton.artifacts import SampleRecord, read_records, write_records

    records = read_records(gold, SampleRecord)
    write_records(gold, [r.model_copy(update={"settings": {"gold": r.index == 0}}) for r in records])
    store.load_samples(gold, gold=True)
    queue = PairQueue(store)
    assert queue.form() == 5 and queue.count() == 3  # 3 ordinary pairs, 2 gold ones
    ann, _ = store.add_annotator("ann")
    given = []
    for _ in range(6):
        view = queue.next(ann)
        if view is None:
            break
        clock.advance(1.5)  # less than the 2 s the two clips take
        queue.answer(ann, view.uid, 1, then_next=False)
        given.append(view.model)
    # The 3rd answer is a gold one; the 6th would be, but the campaign has no work left by then.
    assert given == ["tiny", "tiny", "gold", "tiny"]
    rows = queue.all_preferences()
    assert all(row.preference.early for row in rows)
    assert [row.pair.gold for row in rows if row.pair.gold] == ["first"]
    # Gold pairs are no part of the campaign's progress nor of the export.
    assert queue.progress(ann).needed == 3
    assert len(queue.pair_records(None)) == 3
    # Heard to the end: not early.
    bob, _ = store.add_annotator("bob")
    store.k = 2
    view = queue.next(bob)
    clock.advance(2.5)
    queue.answer(bob, view.uid, 3, then_next=False)
    assert queue.all_preferences()[-1].preference.early is False


def test_pair_records_say_which_clip_people_chose(make_store, tmp_path):
    store = make_store(labels_per_clip=3)
    store.load_samples(make_samples(tmp_path, prompts=1, per_prompt=2))
    queue = PairQueue(store)
    queue.form()
    wanted = {"ann": "p000-1", "bob": "p000-1", "cat": None}  # cat: neither
    for name, better in wanted.items():
        person, _ = store.add_annotator(name)
        view = queue.next(person)
        key = 3 if better is None else 1 + samples_of(view).index(better)
        queue.answer(person, view.uid, key, then_next=False)
    (record,) = queue.pair_records(tmp_path / "out")
    assert (record.chosen, record.rejected) == ("p000-1", "p000-0")
    assert record.preference == pytest.approx(2.5 / 3)
    assert [(v.annotator, v.choice) for v in record.votes] == [
        ("ann", "chosen"),
        ("bob", "chosen"),
        ("cat", "tie"),
    ]
    assert record.chosen_path == "../audio/p000-1.wav" and record.strategy == "human"
    assert record.id == "p000-0~p000-1" and record.decided


def test_concurrent_raters_never_share_a_slot(make_store, tmp_path):
    store = make_store(labels_per_clip=3)
    store.load_samples(make_samples(tmp_path, prompts=10, per_prompt=3, seconds=0.05))
    queue = PairQueue(store)
    queue.form()  # 30 pairs
    people = [store.add_annotator(f"p{i}")[0] for i in range(8)]
    errors = []

    def work(person):
        try:
            view = queue.next(person)
            while view is not None:
                view = queue.answer(person, view.uid, 1 + len(person.name) % 3).next
        except Exception as exc:
            errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(p,)) for p in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    rows = queue.all_preferences()
    assert Counter(Counter(row.pair.id for row in rows).values()) == {3: 30}
    assert len({(row.pair.id, row.annotator) for row in rows}) == 90
