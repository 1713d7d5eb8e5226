"""CDS Hooks feedback: what the clinician did with each card (accepted, or overridden and why).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cds_feedback",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("card", sa.String(64), nullable=False, index=True),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("outcome_timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("override_system", sa.String(255), nullable=True),
        sa.Column("override_code", sa.String(64), nullable=True),
        sa.Column("override_display", sa.String(255), nullable=True),
        sa.Column("user_comment", sa.Text(), nullable=True),
        sa.Column("accepted_suggestions", sa.Text(), nullable=True),
        sa.Column("client", sa.String(255), nullable=True),
        sa.Column("received", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("cds_feedback")
