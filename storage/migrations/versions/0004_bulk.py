"""Bulk onboarding: batches (one per CSV file) and their rows (one onboarding request each).

Revision ID: 0004
Revises: 0003
Create Date: 2025-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create ``bulk_batches`` and ``bulk_rows``."""
    op.create_table(
        "bulk_batches",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("submitted_by_aad_id", sa.String(64), nullable=False),
        sa.Column("submitted_by_name", sa.String(256), nullable=False),
        sa.Column("source_name", sa.String(255), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("summary_json", sa.Text(), nullable=False),
        sa.Column("decision_json", sa.Text(), nullable=True),
        sa.Column("card_activity_id", sa.String(255), nullable=True),
        sa.Column("card_conversation_json", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.CheckConstraint(
            "status IN ('pending_approval', 'approved', 'rejected', 'completed')",
            name=op.f("ck_bulk_batches_status"),
        ),
        sa.PrimaryKeyConstraint("id", name="pk_bulk_batches"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_bulk_batches_status", "bulk_batches", ["status", "id"])
    op.create_table(
        "bulk_rows",
        sa.Column("batch_id", _BIG_ID, autoincrement=False, nullable=False),
        sa.Column("row", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("request_number", _BIG_ID, nullable=False),
        sa.Column("user_id", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("batch_id", "row", name="pk_bulk_rows"),
    )
    op.create_index("ix_bulk_rows_request_number", "bulk_rows", ["request_number"], unique=True)


def downgrade() -> None:
    """Drop what the upgrade created."""
    op.drop_index("ix_bulk_rows_request_number", table_name="bulk_rows")
    op.drop_table("bulk_rows")
    op.drop_index("ix_bulk_batches_status", table_name="bulk_batches")
    op.drop_table("bulk_batches")
