"""Pairwise preferences (pairs, their leases, the answers), gold clips, and answers given too early.

Revision ID: 0003
Revises: 0002
Created: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clips") as batch:
        batch.add_column(sa.Column("gold", sa.Integer, nullable=True))
    with op.batch_alter_table("labels") as batch:
        batch.add_column(sa.Column("early", sa.Boolean, nullable=True))

    op.create_table(
        "pairs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("uid", sa.String(32), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("prompt_id", sa.String(400), nullable=False),
        sa.Column("first_id", sa.Integer, sa.ForeignKey("clips.id", ondelete="CASCADE"), nullable=False),
        sa.Column("second_id", sa.Integer, sa.ForeignKey("clips.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("votes", sa.Integer, nullable=False, server_default="0"),
        sa.Column("gold", sa.String(8), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("uid", name="uq_pairs_uid"),
        sa.UniqueConstraint("first_id", "second_id", name="uq_pairs_first_second"),
    )
    op.create_index("ix_pairs_prompt_id", "pairs", ["prompt_id"])
    op.create_index("ix_pairs_position", "pairs", ["position"])

    op.create_table(
        "pair_assignments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("pair_id", sa.Integer, sa.ForeignKey("pairs.id", ondelete="CASCADE"), nullable=False),
        sa.Column(
            "annotator_id", sa.Integer, sa.ForeignKey("annotators.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("swapped", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("pair_id", "annotator_id", name="uq_pair_assignments_pair_annotator"),
    )
    op.create_index("ix_pair_assignments_annotator_id", "pair_assignments", ["annotator_id"])

    op.create_table(
        "preferences",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("pair_id", sa.Integer, sa.ForeignKey("pairs.id", ondelete="CASCADE"), nullable=False),
        sa.Column(
            "annotator_id", sa.Integer, sa.ForeignKey("annotators.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("choice", sa.String(8), nullable=False),
        sa.Column("swapped", sa.Boolean, nullable=False),
        sa.Column("seconds", sa.Float, nullable=True),
        sa.Column("early", sa.Boolean, nullable=True),
        sa.Column("source", sa.String(400), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("pair_id", "annotator_id", name="uq_preferences_pair_annotator"),
        sa.CheckConstraint("choice IN ('first', 'second', 'tie')", name="ck_preferences_choice"),
    )
    op.create_index("ix_preferences_annotator_id_id", "preferences", ["annotator_id", "id"])


def downgrade() -> None:
    op.drop_table("preferences")
    op.drop_table("pair_assignments")
    op.drop_table("pairs")
    with op.batch_alter_table("labels") as batch:
        batch.drop_column("early")
    with op.batch_alter_table("clips") as batch:
        batch.drop_column("gold")
