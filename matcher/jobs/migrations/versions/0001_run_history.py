"""Run history: runs, their targets and per-patient results.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Document = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("batch", sa.String(200), nullable=False, index=True),
        sa.Column("shard_index", sa.Integer, nullable=False),
        sa.Column("shard_count", sa.Integer, nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("group_id", sa.String(64)),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("matcher_version", sa.String(32), nullable=False),
        sa.Column("mappings_digest", sa.String(32), nullable=False),
        sa.Column("mappings_files", Document, nullable=False),
        sa.Column("summary", Document),
        sa.Column("requests_sent", sa.Integer, nullable=False),
        sa.Column("transaction_time", sa.String(40)),
        sa.Column("since", sa.String(40)),
        sa.Column("error", sa.Text),
    )
    op.create_table(
        "run_targets",
        sa.Column("run_id", sa.String(36), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("patient_id", sa.String(64), primary_key=True),
    )
    op.create_table(
        "results",
        sa.Column("run_id", sa.String(36), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("patient_id", sa.String(64), primary_key=True),
        sa.Column("outcome", sa.String(16), nullable=False, index=True),
        sa.Column("verdict", sa.String(24)),
        sa.Column("cohort", sa.String(16)),
        sa.Column("score", sa.Float),
        sa.Column("result", Document),
        sa.Column("detail", sa.Text),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("results")
    op.drop_table("run_targets")
    op.drop_table("runs")
