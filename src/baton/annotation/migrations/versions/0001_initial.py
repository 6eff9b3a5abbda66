"""The first schema: clips, annotators, label leases and labels, listening-test items and ratings.

Revision ID: 0001
Revises:
Created: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clips",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("uid", sa.String(32), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("sample_id", sa.String(400), nullable=False),
        sa.Column("prompt_id", sa.String(400), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("events", sa.JSON, nullable=False),
        sa.Column("task", sa.String(16), nullable=True),
        sa.Column("relation", sa.String(16), nullable=True),
        sa.Column("clip_index", sa.Integer, nullable=True),
        sa.Column("root", sa.Text, nullable=True),
        sa.Column("path", sa.Text, nullable=True),
        sa.Column("seed", sa.Integer, nullable=True),
        sa.Column("backend", sa.String(200), nullable=False),
        sa.Column("sample_rate", sa.Integer, nullable=True),
        sa.Column("duration", sa.Float, nullable=True),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("votes", sa.Integer, nullable=False, server_default="0"),
        sa.Column("source", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("uid", name="uq_clips_uid"),
        sa.UniqueConstraint("model", "sample_id", name="uq_clips_model_sample"),
    )
    op.create_index("ix_clips_prompt_id", "clips", ["prompt_id"])
    op.create_index("ix_clips_position", "clips", ["position"])

    op.create_table(
        "annotators",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=True),
        sa.Column("is_admin", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("name", name="uq_annotators_name"),
        sa.UniqueConstraint("token_hash", name="uq_annotators_token_hash"),
    )

    op.create_table(
        "label_assignments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("clip_id", sa.Integer, sa.ForeignKey("clips.id", ondelete="CASCADE"), nullable=False),
        sa.Column(
            "annotator_id", sa.Integer, sa.ForeignKey("annotators.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("clip_id", "annotator_id", name="uq_label_assignments_clip_annotator"),
    )
    op.create_index("ix_label_assignments_annotator_id", "label_assignments", ["annotator_id"])

    op.create_table(
        "labels",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("clip_id", sa.Integer, sa.ForeignKey("clips.id", ondelete="CASCADE"), nullable=False),
        sa.Column(
            "annotator_id", sa.Integer, sa.ForeignKey("annotators.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("value", sa.Integer, nullable=True),
        sa.Column("skipped", sa.Boolean, nullable=False),
        sa.Column("flag", sa.String(40), nullable=True),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("seconds", sa.Float, nullable=True),
        sa.Column("source", sa.String(400), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("clip_id", "annotator_id", name="uq_labels_clip_annotator"),
        sa.CheckConstraint(
            "(skipped AND value IS NULL) OR (NOT skipped AND value IN (0, 1))", name="ck_labels_value"
        ),
    )
    op.create_index("ix_labels_annotator_id_id", "labels", ["annotator_id", "id"])

    op.create_table(
        "rating_items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("uid", sa.String(32), nullable=False),
        sa.Column("prompt_id", sa.String(400), nullable=False),
        sa.Column("clip_index", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("uid", name="uq_rating_items_uid"),
        sa.UniqueConstraint("prompt_id", "clip_index", name="uq_rating_items_prompt_index"),
    )
    op.create_index("ix_rating_items_position", "rating_items", ["position"])

    op.create_table(
        "rating_assignments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "item_id", sa.Integer, sa.ForeignKey("rating_items.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "annotator_id", sa.Integer, sa.ForeignKey("annotators.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("order", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("item_id", "annotator_id", name="uq_rating_assignments_item_annotator"),
    )
    op.create_index("ix_rating_assignments_annotator_id", "rating_assignments", ["annotator_id"])

    op.create_table(
        "ratings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "item_id", sa.Integer, sa.ForeignKey("rating_items.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("clip_id", sa.Integer, sa.ForeignKey("clips.id", ondelete="CASCADE"), nullable=False),
        sa.Column(
            "annotator_id", sa.Integer, sa.ForeignKey("annotators.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("question", sa.String(16), nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("seconds", sa.Float, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("clip_id", "annotator_id", "question", name="uq_ratings_clip_annotator_question"),
        sa.CheckConstraint("score BETWEEN 1 AND 5", name="ck_ratings_score"),
        sa.CheckConstraint("question IN ('quality', 'faithfulness')", name="ck_ratings_question"),
    )
    op.create_index("ix_ratings_item_id_annotator_id", "ratings", ["item_id", "annotator_id"])


def downgrade() -> None:
    for table in ("ratings", "rating_assignments", "rating_items", "labels", "label_assignments"):
        op.drop_table(table)
    op.drop_table("annotators")
    op.drop_table("clips")
