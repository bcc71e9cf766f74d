"""Segment changes: moving a service account to another information-barrier segment, with approval.

Revision ID: 0005
Revises: 0004
Create Date: 2025-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    """Create ``segment_changes``."""
    op.create_table(
        "segment_changes",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("upn", sa.String(113), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("from_segment", sa.String(64), nullable=True),
        sa.Column("to_segment", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("proposed_by_aad_id", sa.String(64), nullable=False),
        sa.Column("proposed_by_name", sa.String(256), nullable=False),
        sa.Column("decision_json", sa.Text(), nullable=True),
        sa.Column("steps_done_json", sa.Text(), nullable=False),
        sa.Column("added_license", sa.String(64), nullable=True),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("card_activity_id", sa.String(255), nullable=True),
        sa.Column("card_conversation_json", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'applied', 'failed', 'rejected')",
            name=op.f("ck_segment_changes_status"),
        ),
        sa.PrimaryKeyConstraint("id", name="pk_segment_changes"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_segment_changes_upn", "segment_changes", ["upn", "id"])


def downgrade() -> None:
    """Drop what the upgrade created."""
    op.drop_index("ix_segment_changes_upn", table_name="segment_changes")
    op.drop_table("segment_changes")
