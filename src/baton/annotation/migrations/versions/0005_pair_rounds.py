"""Active selection of pairs: the round in which a pair was chosen to be asked (``None``: not chosen yet).

Revision ID: 0005
Revises: 0004
Created: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pairs") as batch:
        batch.add_column(sa.Column("round", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pairs") as batch:
        batch.drop_column("round")
