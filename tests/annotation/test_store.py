"""Assignment, answers, undo, leases, tokens and loading, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import hashlib
import os
from collections import Counter, defaultdict

import pytest
from sqlalchemy import select, text

from baton.annotation.models import Annotator, Label
from baton.annotation.store import Answer, Conflict, Forbidden, NotFound, StoreError
from baton.artifacts import SampleRecord, read_records, write_records
from baton.errors import InputError

from .helpers import Clock, make_samples, write_wav


def label_everything(store, people, value=lambda person, clip: 1):
    """Round-robin: each person answers their next clip until nobody gets one. Returns the order."""
    order = []
    active = list(people)
    while active:
        for person in list(active):
            clip = store.next_clip(person)
            if clip is None:
                active.remove(person)
                continue
            store.submit_label(person, clip.uid, Answer(value(person, clip)))
            order.append((person.name, clip.sample_id))
    return order


def test_each_clip_gets_k_votes_from_k_different_people(make_store, tmp_path):
    store = make_store(labels_per_clip=2)
    store.load_samples(make_samples(tmp_path, prompts=3, per_prompt=2))
    people = [store.add_annotator(name)[0] for name in ("ann", "bob", "cat")]
    order = label_everything(store, people)
    per_clip = defaultdict(list)
    for name, sample_id in order:
        per_clip[sample_id].append(name)
    assert sorted(per_clip) == [f"p{p:03d}-{i}" for p in range(3) for i in range(2)]
    assert all(len(names) == 2 and len(set(names)) == 2 for names in per_clip.values())
    assert len(order) == 12
    # Work is spread: nobody did more than their round-robin share plus one.
    assert max(Counter(name for name, _ in order).values()) <= 5
    progress = store.progress(people[0])
    assert (progress.votes, progress.needed) == (12, 12)


def test_a_prompts_clips_come_in_a_row_and_clips_fill_in_order(make_store, tmp_path):
    store = make_store(labels_per_clip=2)
    store.load_samples(make_samples(tmp_path, prompts=3, per_prompt=3))
    ann, _ = store.add_annotator("ann")
    bob, _ = store.add_annotator("bob")
    seen = []
    for _ in range(4):
        clip = store.next_clip(ann)
        seen.append((clip.sample_id, clip.number, clip.of))
        store.submit_label(ann, clip.uid, Answer(1))
    assert seen == [("p000-0", 1, 3), ("p000-1", 2, 3), ("p000-2", 3, 3), ("p001-0", 1, 3)]
    # Bob starts where votes are still needed first: the clips ann already began, in load order.
    assert store.next_clip(bob).sample_id == "p000-0"


def test_a_returning_annotator_gets_the_same_clip_back(make_store, tmp_path):
    store = make_store(labels_per_clip=1)
    store.load_samples(make_samples(tmp_path))
    ann, _ = store.add_annotator("ann")
    first = store.next_clip(ann)
    assert store.next_clip(ann).uid == first.uid
    again = make_store(labels_per_clip=1)  # the server restarted
    assert again.next_clip(ann).uid == first.uid


def test_a_held_clip_is_not_given_to_more_people_than_needed(make_store, tmp_path):
    store = make_store(labels_per_clip=1)
    store.load_samples(make_samples(tmp_path, prompts=1, per_prompt=2))
    ann, _ = store.add_annotator("ann")
    bob, _ = store.add_annotator("bob")
    cat, _ = store.add_annotator("cat")
    a, b = store.next_clip(ann), store.next_clip(bob)
    assert a.uid != b.uid
    assert store.next_clip(cat) is None  # both clips are held by someone


def test_an_expired_hold_frees_the_slot(make_store, tmp_path):
    clock = Clock()
    store = make_store(labels_per_clip=1, lease_seconds=60, clock=clock)
    store.load_samples(make_samples(tmp_path, prompts=1, per_prompt=1))
    ann, _ = store.add_annotator("ann")
    bob, _ = store.add_annotator("bob")
    clip = store.next_clip(ann)
    assert store.next_clip(bob) is None
    clock.advance(61)
    assert store.next_clip(bob).uid == clip.uid  # ann's hold ran out: the slot went to bob
    with pytest.raises(Conflict, match="ran out"):
        store.submit_label(ann, clip.uid, Answer(1))
    store.submit_label(bob, clip.uid, Answer(0))
    assert store.next_clip(ann) is None


def test_an_expired_hold_nobody_took_is_still_good(make_store, tmp_path):
    clock = Clock()
    store = make_store(labels_per_clip=1, lease_seconds=60, clock=clock)
    store.load_samples(make_samples(tmp_path, prompts=1, per_prompt=2))
    ann, _ = store.add_annotator("ann")
    clip = store.next_clip(ann)
    clock.advance(3600)
    assert store.next_clip(ann).uid == clip.uid  # back after an hour: the same clip, hold renewed
    clock.advance(3600)
    assert store.submit_label(ann, clip.uid, Answer(1))[1] is False


def test_a_skip_is_an_answer_but_not_a_vote(make_store, tmp_path):
    store = make_store(labels_per_clip=1)
    store.load_samples(make_samples(tmp_path, prompts=1, per_prompt=1))
    ann, _ = store.add_annotator("ann")
    bob, _ = store.add_annotator("bob")
    clip = store.next_clip(ann)
    store.submit_label(ann, clip.uid, Answer(None, skipped=True, flag="bad-audio", comment=" clipped "))
    assert store.next_clip(ann) is None  # never shown to ann again
    assert store.next_clip(bob).uid == clip.uid  # still needs its vote
    rows = store.all_labels()
    assert [(r.label.skipped, r.label.value, r.label.flag, r.label.comment) for r in rows] == [
        (True, None, "bad-audio", "clipped")
    ]


def test_undo_gives_the_clip_back(make_store, tmp_path):
    store = make_store(labels_per_clip=1)
    store.load_samples(make_samples(tmp_path, prompts=1, per_prompt=3))
    ann, _ = store.add_annotator("ann")
    assert store.undo(ann) is None
    first = store.next_clip(ann)
    store.submit_label(ann, first.uid, Answer(1))
    second = store.next_clip(ann)
    back = store.undo(ann)
    assert back.uid == first.uid
    assert store.all_labels() == []
    assert store.next_clip(ann).uid == first.uid  # the undone clip first ...
    store.submit_label(ann, first.uid, Answer(0))
    assert store.next_clip(ann).uid == second.uid  # ... then the one it interrupted
    assert [r.label.value for r in store.all_labels()] == [0]


def test_answers_are_checked(make_store, tmp_path):
    store = make_store(labels_per_clip=2)
    store.load_samples(make_samples(tmp_path, prompts=1, per_prompt=2))
    ann, _ = store.add_annotator("ann")
    bob, _ = store.add_annotator("bob")
    clip = store.next_clip(ann)
    assert store.submit_label(ann, clip.uid, Answer(1)) == (store.all_labels()[0].label.id, False)
    assert store.submit_label(ann, clip.uid, Answer(1))[1] is True  # a retried request
    with pytest.raises(Conflict, match="undo that answer first"):
        store.submit_label(ann, clip.uid, Answer(0))
    with pytest.raises(Conflict, match="was not given to you"):
        store.submit_label(bob, clip.uid, Answer(1))
    with pytest.raises(NotFound, match="no clip with id 'nope'"):
        store.submit_label(ann, "nope", Answer(1))
    for bad, message in [
        (dict(value=2), "value must be 1"),
        (dict(value=1, skipped=True), "a skip carries no value"),
        (dict(value=None, skipped=True, flag="boring"), "flag must be one of"),
        (dict(value=1, seconds=-1), "seconds must be"),
    ]:
        with pytest.raises(StoreError, match=message):
            Answer(**bad)
    assert len(store.all_labels()) == 1


def test_quota_per_annotator(make_store, tmp_path):
    store = make_store(labels_per_clip=1, max_labels_per_annotator=2)
    store.load_samples(make_samples(tmp_path, prompts=2, per_prompt=2))
    ann, _ = store.add_annotator("ann")
    assert len(label_everything(store, [ann])) == 2


def test_tokens_are_stored_as_hashes(make_store, tmp_path):
    store = make_store()
    ann, token = store.add_annotator("ann")
    assert len(token) >= 40
    with store.db.read() as session:
        stored = session.execute(select(Annotator.token_hash)).scalar_one()
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    assert store.authenticate(token) == ann
    assert store.authenticate(stored) is None  # the hash is not a login
    assert store.authenticate("") is None
    with pytest.raises(InputError, match="already exists"):
        store.add_annotator("ann")
    _, new = store.add_annotator("ann", reset=True)
    assert store.authenticate(token) is None and store.authenticate(new) == ann
    admin_token = store.ensure_admin()
    assert store.authenticate(admin_token).is_admin
    assert store.ensure_admin() is None
    with pytest.raises(InputError, match="name"):
        store.add_annotator("tab\there")


def test_loading_is_idempotent_and_refuses_clashes(make_store, tmp_path):
    store = make_store()
    path = make_samples(tmp_path / "run")
    assert store.load_samples(path).added == 6
    again = store.load_samples(path)
    assert (again.added, again.unchanged) == (0, 6)
    # The folder moved: the clips stay, their audio location follows.
    moved_root = tmp_path / "moved"
    os.rename(tmp_path / "run", moved_root)
    assert store.load_samples(moved_root / "samples.jsonl").moved == 6
    other = make_samples(tmp_path / "other", prompts=1, per_prompt=1)
    lines = other.read_text().replace("A bell rings", "A gong rings")
    other.write_text(lines)
    with pytest.raises(InputError, match="already in the database with another text") as error:
        store.load_samples(other)
    assert (error.value.line, error.value.field) == (1, "text")
    assert store.load_samples(other, model="other-model").added == 1
    assert store.models() == ["other-model", "tiny"]


def _write_one(folder, path_text):
    record = SampleRecord(id="x-0", prompt_id="x", text="a bell", index=0, path=path_text)
    samples = folder / "samples.jsonl"
    write_records(samples, [record])
    return samples


@pytest.mark.parametrize(
    "path_text, message",
    [
        ("../outside.wav", "climbs out of the samples folder"),
        ("audio/../../outside.wav", "climbs out of the samples folder"),
        ("/etc/passwd", "is absolute"),
        ("link.wav", "leads out of the samples folder"),
        ("missing.wav", "does not exist"),
    ],
)
def test_audio_outside_the_samples_folder_is_refused_on_loading(make_store, tmp_path, path_text, message):
    store = make_store()
    folder = tmp_path / "run"
    folder.mkdir()
    write_wav(tmp_path / "outside.wav")
    (folder / "link.wav").symlink_to(tmp_path / "outside.wav")
    samples = _write_one(folder, path_text)
    with pytest.raises(InputError, match=message) as error:
        store.load_samples(samples)
    assert (error.value.path, error.value.line, error.value.field) == (str(samples), 1, "path")
    assert store.count_clips() == 0


def test_audio_swapped_for_a_symlink_after_loading_is_refused(make_store, tmp_path):
    store = make_store()
    folder = tmp_path / "run"
    write_wav(folder / "clip.wav")
    write_wav(tmp_path / "secret.wav")
    store.load_samples(_write_one(folder, "clip.wav"))
    ann, _ = store.add_annotator("ann")
    uid = store.next_clip(ann).uid
    assert store.audio_path(uid, ann) == (folder / "clip.wav").resolve()
    (folder / "clip.wav").unlink()
    (folder / "clip.wav").symlink_to(tmp_path / "secret.wav")
    with pytest.raises(Forbidden, match="symlink"):
        store.audio_path(uid, ann)
    with pytest.raises(NotFound):
        store.audio_path("0123456789abcdef", ann)


def test_a_label_twice_is_impossible_even_past_the_checks(make_store, tmp_path):
    from sqlalchemy.exc import IntegrityError

    store = make_store(labels_per_clip=1)
    store.load_samples(make_samples(tmp_path, prompts=1, per_prompt=1))
    ann, _ = store.add_annotator("ann")
    clip = store.next_clip(ann)
    store.submit_label(ann, clip.uid, Answer(1))
    label = store.all_labels()[0].label
    with pytest.raises(IntegrityError), store.db.write() as session:
        session.add(
            Label(clip_id=label.clip_id, annotator_id=ann.id, value=0, skipped=False, source="x",
                  created_at=label.created_at)
        )  # fmt: skip
    with pytest.raises(IntegrityError), store.db.write() as session:  # a vote must be 0 or 1
        session.execute(text("UPDATE labels SET value = 7"))


def gold_samples(folder, prompts=2):
    """A gold file: clip 0 of each prompt matches it, clip 1 does not."""
    path = make_samples(folder, prompts=prompts, per_prompt=2, seconds=1.0, name="gold.jsonl")
    records = read_records(path, SampleRecord)
    write_records(path, [r.model_copy(update={"settings": {"gold": int(r.index == 0)}}) for r in records])
    return path


def test_gold_clips_every_nth_answer_outside_the_campaign(make_store, tmp_path):
    clock = Clock()
    store = make_store(labels_per_clip=1, gold_every=2, clock=clock)
    store.load_samples(make_samples(tmp_path, prompts=2, per_prompt=2, seconds=1.0))
    store.load_samples(gold_samples(tmp_path / "gold"), gold=True)
    ann, _ = store.add_annotator("ann")
    bob, _ = store.add_annotator("bob")
    given = []
    for person in (ann, ann, ann, ann, ann, ann, ann, bob, bob):
        clip = store.next_clip(person)
        if clip is None:
            given.append(None)
            continue
        clock.advance(0.5)  # half the clip: answered before it could be heard
        store.submit_label(person, clip.uid, Answer(1))
        given.append((person.name, clip.model, clip.sample_id))
    # Every 2nd answer is a gold clip, in load order; the campaign's clips fill in their own order; any
    # number of people answer a gold clip, and nobody answers one twice.
    assert given[:7] == [
        ("ann", "tiny", "p000-0"), ("ann", "gold", "p000-0"), ("ann", "tiny", "p000-1"),
        ("ann", "gold", "p000-1"), ("ann", "tiny", "p001-0"), ("ann", "gold", "p001-0"),
        ("ann", "tiny", "p001-1"),
    ]  # fmt: skip
    assert given[7:] == [None, None]  # the campaign is done: no gold clip without work beside it
    assert store.progress(ann).needed == 4  # gold clips are no part of the campaign
    assert all(row.label.early for row in store.all_labels())
    # The export leaves gold clips out; Dawid-Skene is fitted with them as known answers.
    records = store.label_records(None)
    assert [r.sample_id for r in records] == ["p000-0", "p000-1", "p001-0", "p001-1"]
    assert all(r.dawid_skene is not None for r in records)
    assert store.label_records(None, drop_early=True) == []


def test_an_answer_after_the_clip_was_heard_is_not_early(make_store, tmp_path):
    clock = Clock()
    store = make_store(labels_per_clip=1, clock=clock)
    store.load_samples(make_samples(tmp_path, prompts=1, per_prompt=2, seconds=1.0))
    ann, _ = store.add_annotator("ann")
    clip = store.next_clip(ann)
    clock.advance(1.2)
    following = store.answer(ann, clip.uid, Answer(1)).next
    clock.advance(0.3)
    store.submit_label(ann, following.uid, Answer(0))
    assert [row.label.early for row in store.all_labels()] == [False, True]
    # Given back by undo, the clip was heard already: answering at once is not early.
    store.undo(ann)
    store.submit_label(ann, following.uid, Answer(1))
    assert [row.label.early for row in store.all_labels()] == [False, False]


def test_a_gold_file_states_each_answer(make_store, tmp_path):
    store = make_store()
    path = make_samples(tmp_path, prompts=1, per_prompt=2, name="gold.jsonl")
    with pytest.raises(InputError, match=r"gold.jsonl, line 1, field 'settings.gold': a gold clip states"):
        store.load_samples(path, gold=True)
