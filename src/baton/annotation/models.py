"""The annotation database's tables (SQLAlchemy 2 ORM). The schema itself is made by the migrations.

=====================  ==========================================================================
table                  one row is
=====================  ==========================================================================
``clips``              a clip to judge: a sample of one model, its prompt, where its audio is
``annotators``         a person (or a simulated one); ``token_hash`` is the SHA-256 of their secret
``label_assignments``  a clip given to an annotator who has not answered yet (a lease with expiry)
``labels``             an annotator's answer for a clip: a yes/no vote or a skip (with flag/comment)
``rating_items``       a listening-test item: one prompt's clip ``index``, across the models
``rating_assignments`` an item given to a rater, with the blind shuffled order of its clips
``ratings``            one rater's 1-5 score of one clip for one question (quality/faithfulness)
``pairs``              two clips of one prompt (and model) to compare, ``first`` and ``second``
``pair_assignments``   a pair given to a rater, with the order its clips are played in
``preferences``        a rater's answer on a pair: ``first`` or ``second`` is better, or ``tie``
``server_settings``    what ``serve`` keeps: ``url`` (the links' address) and the campaign's settings
=====================  ==========================================================================

A *gold* clip (``clips.gold`` set) is one whose answer the organiser knows: it is mixed into the
campaign to measure each annotator, and is neither counted in the campaign's progress nor exported
as a label. An answer's ``early`` says it came before the clip (or both clips of a pair) could
have been heard to the end once (``None``: the clip's duration is unknown).

Two counters are stored, ``clips.votes`` (the clip's yes/no labels) and ``pairs.votes`` (its
preferences), so that finding open work is an index scan; it changes only in transactions that hold the clip's row lock (PostgreSQL) or the
database's single writer (SQLite), together with the answers it counts. Live leases are counted
when needed, under the same lock, since they expire with time.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in and out (SQLite keeps naive text; it is read back as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware UTC time")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    # The migrations name every constraint and index the same way, so that a comparison of the
    # models with a migrated database finds no difference.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        }
    )


class Clip(Base):
    __tablename__ = "clips"
    __table_args__ = (UniqueConstraint("model", "sample_id", name="uq_clips_model_sample"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)  # random: the id pages and the API use
    model: Mapped[str] = mapped_column(String(200))
    sample_id: Mapped[str] = mapped_column(String(400))
    prompt_id: Mapped[str] = mapped_column(String(400), index=True)
    text: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    task: Mapped[str | None] = mapped_column(String(16))
    relation: Mapped[str | None] = mapped_column(String(16))
    clip_index: Mapped[int | None] = mapped_column(Integer)
    root: Mapped[str | None] = mapped_column(Text)  # the samples file's folder, absolute
    path: Mapped[str | None] = mapped_column(Text)  # the audio, relative to root
    seed: Mapped[int | None] = mapped_column(Integer)
    backend: Mapped[str] = mapped_column(String(200), default="unknown")
    sample_rate: Mapped[int | None] = mapped_column(Integer)
    duration: Mapped[float | None] = mapped_column(Float)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    position: Mapped[int] = mapped_column(Integer, index=True)  # load order: the order clips are served
    votes: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0"
    )  # yes/no labels (not skips); see below
    source: Mapped[str | None] = mapped_column(Text)  # the file the clip came from
    gold: Mapped[int | None] = mapped_column(Integer)  # a gold clip's known answer: 1 matches, 0 not
    round: Mapped[int | None] = mapped_column(Integer)  # active selection: the round it was chosen in
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Annotator(Base):
    __tablename__ = "annotators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)  # None: imported, no login
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LabelAssignment(Base):
    __tablename__ = "label_assignments"
    __table_args__ = (
        UniqueConstraint("clip_id", "annotator_id", name="uq_label_assignments_clip_annotator"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clip_id: Mapped[int] = mapped_column(ForeignKey("clips.id", ondelete="CASCADE"))
    annotator_id: Mapped[int] = mapped_column(ForeignKey("annotators.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Label(Base):
    __tablename__ = "labels"
    __table_args__ = (
        UniqueConstraint("clip_id", "annotator_id", name="uq_labels_clip_annotator"),
        Index("ix_labels_annotator_id_id", "annotator_id", "id"),
        CheckConstraint(
            "(skipped AND value IS NULL) OR (NOT skipped AND value IN (0, 1))", name="ck_labels_value"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clip_id: Mapped[int] = mapped_column(ForeignKey("clips.id", ondelete="CASCADE"))
    annotator_id: Mapped[int] = mapped_column(ForeignKey("annotators.id", ondelete="CASCADE"))
    value: Mapped[int | None] = mapped_column(Integer)  # 1 = matches the prompt, 0 = not; None on a skip
    skipped: Mapped[bool] = mapped_column(Boolean, default=False)
    flag: Mapped[str | None] = mapped_column(String(40))
    comment: Mapped[str | None] = mapped_column(Text)
    seconds: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(400), default="app")  # "app", or the imported file
    early: Mapped[bool | None] = mapped_column(Boolean)  # answered before the clip could be heard
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RatingItem(Base):
    __tablename__ = "rating_items"
    __table_args__ = (UniqueConstraint("prompt_id", "clip_index", name="uq_rating_items_prompt_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    prompt_id: Mapped[str] = mapped_column(String(400))
    clip_index: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RatingAssignment(Base):
    __tablename__ = "rating_assignments"
    __table_args__ = (
        UniqueConstraint("item_id", "annotator_id", name="uq_rating_assignments_item_annotator"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("rating_items.id", ondelete="CASCADE"))
    annotator_id: Mapped[int] = mapped_column(ForeignKey("annotators.id", ondelete="CASCADE"), index=True)
    order: Mapped[list[str]] = mapped_column(JSON)  # clip uids, in the shuffled order shown
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Rating(Base):
    __tablename__ = "ratings"
    __table_args__ = (
        UniqueConstraint("clip_id", "annotator_id", "question", name="uq_ratings_clip_annotator_question"),
        Index("ix_ratings_item_id_annotator_id", "item_id", "annotator_id"),
        CheckConstraint("score BETWEEN 1 AND 5", name="ck_ratings_score"),
        CheckConstraint("question IN ('quality', 'faithfulness')", name="ck_ratings_question"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("rating_items.id", ondelete="CASCADE"))
    clip_id: Mapped[int] = mapped_column(ForeignKey("clips.id", ondelete="CASCADE"))
    annotator_id: Mapped[int] = mapped_column(ForeignKey("annotators.id", ondelete="CASCADE"))
    question: Mapped[str] = mapped_column(String(16))  # "quality" (MOS-Q) or "faithfulness" (MOS-F)
    score: Mapped[int] = mapped_column(Integer)
    seconds: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Pair(Base):
    __tablename__ = "pairs"
    __table_args__ = (UniqueConstraint("first_id", "second_id", name="uq_pairs_first_second"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    model: Mapped[str] = mapped_column(String(200))
    prompt_id: Mapped[str] = mapped_column(String(400), index=True)
    first_id: Mapped[int] = mapped_column(ForeignKey("clips.id", ondelete="CASCADE"))
    second_id: Mapped[int] = mapped_column(ForeignKey("clips.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, index=True)  # the order pairs are served in
    votes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # its preferences
    gold: Mapped[str | None] = mapped_column(String(8))  # a pair of gold clips: the better, first or second
    round: Mapped[int | None] = mapped_column(Integer)  # active selection: the round it was chosen in
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PairAssignment(Base):
    __tablename__ = "pair_assignments"
    __table_args__ = (UniqueConstraint("pair_id", "annotator_id", name="uq_pair_assignments_pair_annotator"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"))
    annotator_id: Mapped[int] = mapped_column(ForeignKey("annotators.id", ondelete="CASCADE"), index=True)
    swapped: Mapped[bool] = mapped_column(Boolean)  # the second clip is played first
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Preference(Base):
    __tablename__ = "preferences"
    __table_args__ = (
        UniqueConstraint("pair_id", "annotator_id", name="uq_preferences_pair_annotator"),
        Index("ix_preferences_annotator_id_id", "annotator_id", "id"),
        CheckConstraint("choice IN ('first', 'second', 'tie')", name="ck_preferences_choice"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"))
    annotator_id: Mapped[int] = mapped_column(ForeignKey("annotators.id", ondelete="CASCADE"))
    choice: Mapped[str] = mapped_column(String(8))  # in the pair's own terms, whatever the order played
    swapped: Mapped[bool] = mapped_column(Boolean)  # the order they were played in
    seconds: Mapped[float | None] = mapped_column(Float)
    early: Mapped[bool | None] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(400), default="app")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ServerSetting(Base):
    """A value ``baton annotate serve`` records, by key: ``url`` (the address its links use) and the
    campaign's settings (``labels_per_clip``, ``raters_per_item``, ``tasks``, ``pairs_per_prompt``,
    ``pairs_seed``; see ``fix_campaign``)."""

    __tablename__ = "server_settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
