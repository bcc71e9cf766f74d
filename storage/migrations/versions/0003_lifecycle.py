"""Lifecycle: extension/offboarding/reset requests, the lifecycle step log, offboardings.

Revision ID: 0003
Revises: 0002
Create Date: 2025-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_PENDING = "status = 'pending'"


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create the three lifecycle tables and their indexes."""
    op.create_table(
        "lifecycle_requests",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("upn", sa.String(113), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("requested_by_aad_id", sa.String(64), nullable=False),
        sa.Column("requested_by_name", sa.String(256), nullable=False),
        sa.Column("new_end_date", sa.Date(), nullable=True),
        sa.Column("decided_by_aad_id", sa.String(64), nullable=True),
        sa.Column("decided_by_name", sa.String(256), nullable=True),
        _ts("decided_at", nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("approval_activity_id", sa.String(255), nullable=True),
        sa.Column("approval_conversation_json", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.CheckConstraint(
            "action IN ('extend', 'offboard', 'reset_password')", name=op.f("ck_lifecycle_requests_action")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected')", name=op.f("ck_lifecycle_requests_status")
        ),
        sa.PrimaryKeyConstraint("id", name="pk_lifecycle_requests"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "uq_lifecycle_requests_pending",
        "lifecycle_requests",
        ["upn", "action"],
        unique=True,
        sqlite_where=sa.text(_PENDING),
        postgresql_where=sa.text(_PENDING),
    )
    op.create_table(
        "lifecycle_steps",
        sa.Column("subject", sa.String(160), nullable=False),
        sa.Column("step", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("graph_request_id", sa.String(64), nullable=True),
        _ts("updated_at"),
        sa.CheckConstraint(
            "state IN ('pending', 'running', 'done', 'failed', 'undone')",
            name=op.f("ck_lifecycle_steps_state"),
        ),
        sa.PrimaryKeyConstraint("subject", "step", name="pk_lifecycle_steps"),
    )
    op.create_table(
        "offboardings",
        sa.Column("upn", sa.String(113), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("requested_by_aad_id", sa.String(64), nullable=True),
        sa.Column("requested_by_name", sa.String(256), nullable=False),
        _ts("started_at"),
        _ts("offboarded_at", nullable=True),
        _ts("delete_after", nullable=True),
        _ts("deleted_at", nullable=True),
        _ts("updated_at"),
        sa.CheckConstraint("reason IN ('expired', 'manual')", name=op.f("ck_offboardings_reason")),
        sa.PrimaryKeyConstraint("upn", name="pk_offboardings"),
    )
    op.create_index("ix_offboardings_delete_after", "offboardings", ["delete_after"])


def downgrade() -> None:
    """Drop everything the upgrade created."""
    op.drop_index("ix_offboardings_delete_after", table_name="offboardings")
    op.drop_table("offboardings")
    op.drop_table("lifecycle_steps")
    op.drop_index("uq_lifecycle_requests_pending", table_name="lifecycle_requests")
    op.drop_table("lifecycle_requests")
