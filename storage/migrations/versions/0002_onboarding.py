"""Onboarding: requests and their plans, the provisioning step log, the credential vault, service accounts.

Revision ID: 0002
Revises: 0001
Create Date: 2025-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# A live request holds its planned UPN; rejected and cancelled ones give it back.
_UPN_HELD = "upn IS NOT NULL AND status NOT IN ('rejected', 'cancelled')"
_STATUSES = (
    "status IN ('draft', 'pending_approval', 'approved', 'provisioning', 'provisioned', 'failed', "
    "'rejected', 'cancelled')"
)


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create the four onboarding tables and their indexes."""
    op.create_table(
        "onboarding_requests",
        sa.Column("number", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("requester_aad_id", sa.String(64), nullable=False),
        sa.Column("upn", sa.String(113), nullable=True),
        sa.Column("request_json", sa.Text(), nullable=False),
        sa.Column("plan_json", sa.Text(), nullable=False),
        sa.Column("approval_activity_id", sa.String(255), nullable=True),
        sa.Column("approval_conversation_json", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.CheckConstraint(_STATUSES, name=op.f("ck_onboarding_requests_status")),
        sa.PrimaryKeyConstraint("number", name="pk_onboarding_requests"),
        # Request numbers are never reused on SQLite either (they are printed on cards and audited).
        sqlite_autoincrement=True,
    )
    op.create_index(
        "uq_onboarding_requests_held_upn",
        "onboarding_requests",
        ["upn"],
        unique=True,
        sqlite_where=sa.text(_UPN_HELD),
        postgresql_where=sa.text(_UPN_HELD),
    )
    op.create_index(
        "ix_onboarding_requests_requester_aad_id", "onboarding_requests", ["requester_aad_id", "number"]
    )
    op.create_index("ix_onboarding_requests_status", "onboarding_requests", ["status", "number"])
    op.create_table(
        "provisioning_steps",
        sa.Column("request_number", _BIG_ID, autoincrement=False, nullable=False),
        sa.Column("step", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("graph_request_id", sa.String(64), nullable=True),
        _ts("updated_at"),
        sa.CheckConstraint(
            "state IN ('pending', 'running', 'done', 'failed', 'undone')",
            name=op.f("ck_provisioning_steps_state"),
        ),
        sa.PrimaryKeyConstraint("request_number", "step", name="pk_provisioning_steps"),
    )
    op.create_table(
        "credential_vault",
        sa.Column("request_number", _BIG_ID, autoincrement=False, nullable=False),
        sa.Column("upn", sa.String(113), nullable=False),
        sa.Column("owner_aad_id", sa.String(64), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("expires_at"),
        _ts("revealed_at", nullable=True),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("request_number", name="pk_credential_vault"),
    )
    op.create_index("ix_credential_vault_expires_at", "credential_vault", ["expires_at"])
    op.create_table(
        "service_accounts",
        sa.Column("upn", sa.String(113), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("request_number", _BIG_ID, nullable=False),
        sa.Column("vendor", sa.String(64), nullable=False),
        sa.Column("contractor_name", sa.String(256), nullable=False),
        sa.Column("contractor_email", sa.String(254), nullable=False),
        sa.Column("sponsor_aad_id", sa.String(64), nullable=False),
        sa.Column("sponsor_name", sa.String(256), nullable=False),
        sa.Column("license_part_numbers_json", sa.Text(), nullable=False),
        sa.Column("segment", sa.String(64), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("upn", name="pk_service_accounts"),
    )
    op.create_index("ix_service_accounts_vendor", "service_accounts", ["vendor", "upn"])
    op.create_index("ix_service_accounts_request_number", "service_accounts", ["request_number"])
    op.create_index("ix_service_accounts_state_end_date", "service_accounts", ["state", "end_date"])


def downgrade() -> None:
    """Drop everything the upgrade created."""
    op.drop_index("ix_service_accounts_state_end_date", table_name="service_accounts")
    op.drop_index("ix_service_accounts_request_number", table_name="service_accounts")
    op.drop_index("ix_service_accounts_vendor", table_name="service_accounts")
    op.drop_table("service_accounts")
    op.drop_index("ix_credential_vault_expires_at", table_name="credential_vault")
    op.drop_table("credential_vault")
    op.drop_table("provisioning_steps")
    op.drop_index("ix_onboarding_requests_status", table_name="onboarding_requests")
    op.drop_index("ix_onboarding_requests_requester_aad_id", table_name="onboarding_requests")
    op.drop_index("uq_onboarding_requests_held_upn", table_name="onboarding_requests")
    op.drop_table("onboarding_requests")
