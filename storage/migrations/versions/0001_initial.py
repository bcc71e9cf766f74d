"""Initial schema: bot state, conversation references, job queue, audit log, once-only marks.

Revision ID: 0001
Revises:
Create Date: 2025-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ACTIVE = "state IN ('pending', 'running')"


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create the five tables and their indexes."""
    op.create_table(
        "kv_items",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value_json", sa.Text(), nullable=False),
        sa.Column("etag", sa.String(64), nullable=False),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("key", name="pk_kv_items"),
    )
    op.create_table(
        "conversation_refs",
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("reference_json", sa.Text(), nullable=False),
        sa.Column("set_by", sa.String(256), nullable=True),
        sa.Column("set_by_name", sa.String(256), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("name", name="pk_conversation_refs"),
    )
    op.create_table(
        "jobs",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("payload_json", sa.Text(), nullable=False),
        sa.Column("dedupe_key", sa.String(255), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        _ts("run_after"),
        sa.Column("lease_owner", sa.String(255), nullable=True),
        _ts("lease_expires_at", nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        _ts("finished_at", nullable=True),
        sa.CheckConstraint("state IN ('pending', 'running', 'done', 'dead')", name=op.f("ck_jobs_state")),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
    )
    op.create_index(
        "uq_jobs_active_dedupe_key",
        "jobs",
        ["dedupe_key"],
        unique=True,
        sqlite_where=sa.text(_ACTIVE),
        postgresql_where=sa.text(_ACTIVE),
    )
    op.create_index("ix_jobs_state_run_after", "jobs", ["state", "run_after"])
    op.create_index("ix_jobs_state_lease_expires_at", "jobs", ["state", "lease_expires_at"])
    op.create_table(
        "audit_events",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        _ts("at"),
        sa.Column("actor_aad_id", sa.String(64), nullable=True),
        sa.Column("actor_name", sa.String(256), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("target", sa.String(512), nullable=True),
        sa.Column("detail_json", sa.Text(), nullable=False),
        sa.Column("graph_request_id", sa.String(64), nullable=True),
        sa.Column("correlation_id", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_request_id", "audit_events", ["request_id"])
    op.create_table(
        "once_marks",
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("key", name="pk_once_marks"),
    )


def downgrade() -> None:
    """Drop everything the upgrade created."""
    op.drop_table("once_marks")
    op.drop_index("ix_audit_events_request_id", table_name="audit_events")
    op.drop_index("ix_audit_events_at", table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_index("ix_jobs_state_lease_expires_at", table_name="jobs")
    op.drop_index("ix_jobs_state_run_after", table_name="jobs")
    op.drop_index("uq_jobs_active_dedupe_key", table_name="jobs")
    op.drop_table("jobs")
    op.drop_table("conversation_refs")
    op.drop_table("kv_items")
