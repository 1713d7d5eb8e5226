"""A night's candidates, found once and shared by all its shards.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("batch", sa.String(200), primary_key=True),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("candidates", sa.Integer, nullable=False),
        sa.Column("requests", sa.Integer, nullable=False),
    )
    op.create_table(
        "batch_candidates",
        sa.Column("batch", sa.String(200), sa.ForeignKey("batches.batch", ondelete="CASCADE"), primary_key=True),
        sa.Column("patient_id", sa.String(64), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("batch_candidates")
    op.drop_table("batches")
