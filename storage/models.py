"""Table definitions (SQLAlchemy 2 typed declarative). ``Base.metadata`` is the migrations' target.

Changing a table here needs a migration in ``storage/migrations/versions`` (see ``storage/README.md``);
a test compares these models with the migrated schema on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, Index, Integer, MetaData, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.columns import UTCDateTime

#: Explicit constraint names: Alembic needs them to alter or drop constraints later (SQLite batch mode).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: 64-bit ids on PostgreSQL; SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")

#: Job states as stored. ``done`` and ``dead`` are final ("finished").
JOB_STATES = ("pending", "running", "done", "dead")
ACTIVE_JOB_STATES = ("pending", "running")


class Base(DeclarativeBase):
    """Declarative base of every table this bot owns."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class KvItem(Base):
    """One botbuilder state document (or any JSON value) under a key, with its etag."""

    __tablename__ = "kv_items"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    value_json: Mapped[str] = mapped_column(Text)
    etag: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ConversationRef(Base):
    """A named, stored Bot Framework conversation reference (JSON) and who set it, when."""

    __tablename__ = "conversation_refs"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    reference_json: Mapped[str] = mapped_column(Text)
    #: Who stored it: the actor's Entra object id (or another stable id when there is none).
    set_by: Mapped[str | None] = mapped_column(String(256))
    set_by_name: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class JobRow(Base):
    """A unit of background work in the durable queue shared by every bot instance."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'running', 'done', 'dead')", name="state"),
        # At most one unfinished job per dedupe key; finished ones may repeat it.
        Index(
            "uq_jobs_active_dedupe_key",
            "dedupe_key",
            unique=True,
            sqlite_where=text("state IN ('pending', 'running')"),
            postgresql_where=text("state IN ('pending', 'running')"),
        ),
        Index("ix_jobs_state_run_after", "state", "run_after"),
        Index("ix_jobs_state_lease_expires_at", "state", "lease_expires_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload_json: Mapped[str] = mapped_column(Text)
    dedupe_key: Mapped[str | None] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    max_attempts: Mapped[int] = mapped_column(Integer)
    run_after: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(255))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEventRow(Base):
    """One append-only audit record. Never updated or deleted by the bot."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_at", "at"),
        Index("ix_audit_events_request_id", "request_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_aad_id: Mapped[str | None] = mapped_column(String(64))
    actor_name: Mapped[str | None] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(512))
    detail_json: Mapped[str] = mapped_column(Text)
    graph_request_id: Mapped[str | None] = mapped_column(String(64))
    correlation_id: Mapped[str | None] = mapped_column(String(64))


class OnceMark(Base):
    """ "Done X once for key K": the primary key makes the first insert win across instances."""

    __tablename__ = "once_marks"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    owner: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --------------------------------------------------------------------------- onboarding (migration 0002)

#: Onboarding request statuses as stored (``onboarding.requests.RequestStatus`` values).
REQUEST_STATUSES = (
    "draft",
    "pending_approval",
    "approved",
    "provisioning",
    "provisioned",
    "failed",
    "rejected",
    "cancelled",
)
#: Statuses whose planned UPN is free again: no account was or will be created under it.
UPN_RELEASING_STATUSES = ("rejected", "cancelled")
_UPN_HELD = "upn IS NOT NULL AND status NOT IN ('rejected', 'cancelled')"

#: Provisioning step states as stored (``storage.requests.StepState`` values).
STEP_STATES = ("pending", "running", "done", "failed", "undone")


class OnboardingRequestRow(Base):
    """One onboarding request (the domain value as JSON) and its plan, versioned for compare-and-set."""

    __tablename__ = "onboarding_requests"
    __table_args__ = (
        CheckConstraint(
            "status IN ('draft', 'pending_approval', 'approved', 'provisioning', 'provisioned', 'failed', "
            "'rejected', 'cancelled')",
            name="status",
        ),
        # Two live requests can never plan the same account name, whatever instance planned them.
        Index(
            "uq_onboarding_requests_held_upn",
            "upn",
            unique=True,
            sqlite_where=text(_UPN_HELD),
            postgresql_where=text(_UPN_HELD),
        ),
        Index("ix_onboarding_requests_requester_aad_id", "requester_aad_id", "number"),
        Index("ix_onboarding_requests_status", "status", "number"),
        # AUTOINCREMENT: SQLite never hands out a request number twice, not even the highest after a
        # rolled-back insert; request ids are printed on cards and in the audit log.
        {"sqlite_autoincrement": True},
    )

    number: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    status: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    #: Lower-cased Entra object id of the requester (for "my requests").
    requester_aad_id: Mapped[str] = mapped_column(String(64))
    #: Lower-cased planned UPN; NULL only inside the transaction that creates the row.
    upn: Mapped[str | None] = mapped_column(String(113))
    request_json: Mapped[str] = mapped_column(Text)
    plan_json: Mapped[str] = mapped_column(Text)
    approval_activity_id: Mapped[str | None] = mapped_column(String(255))
    approval_conversation_json: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProvisioningStepRow(Base):
    """Where one named provisioning step of one request stands (the run's persisted step log)."""

    __tablename__ = "provisioning_steps"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'running', 'done', 'failed', 'undone')", name="state"),
    )

    request_number: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    step: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    graph_request_id: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CredentialRow(Base):
    """A temporary password, Fernet-encrypted, until its owner reveals it once or it expires."""

    __tablename__ = "credential_vault"
    __table_args__ = (Index("ix_credential_vault_expires_at", "expires_at"),)

    request_number: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    upn: Mapped[str] = mapped_column(String(113))
    #: Lower-cased Entra object id of the only person who may reveal it.
    owner_aad_id: Mapped[str] = mapped_column(String(64))
    #: The Fernet token; NULL once revealed, expired and purged, or never stored.
    ciphertext: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ServiceAccountRow(Base):
    """A service account this bot created and owns, by UPN (lower-cased)."""

    __tablename__ = "service_accounts"
    __table_args__ = (
        Index("ix_service_accounts_vendor", "vendor", "upn"),
        Index("ix_service_accounts_request_number", "request_number"),
        Index("ix_service_accounts_state_end_date", "state", "end_date"),
    )

    upn: Mapped[str] = mapped_column(String(113), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64))
    request_number: Mapped[int] = mapped_column(BigId)
    vendor: Mapped[str] = mapped_column(String(64))
    contractor_name: Mapped[str] = mapped_column(String(256))
    contractor_email: Mapped[str] = mapped_column(String(254))
    sponsor_aad_id: Mapped[str] = mapped_column(String(64))
    sponsor_name: Mapped[str] = mapped_column(String(256))
    #: JSON list of SKU part numbers, in assignment order.
    license_part_numbers_json: Mapped[str] = mapped_column(Text)
    segment: Mapped[str | None] = mapped_column(String(64))
    end_date: Mapped[date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


# ---------------------------------------------------------------------------- lifecycle (migration 0003)

#: Lifecycle request actions and statuses as stored (``onboarding.lifecycle.LifecycleAction`` values).
LIFECYCLE_ACTIONS = ("extend", "offboard", "reset_password")
LIFECYCLE_STATUSES = ("pending", "approved", "rejected")
_LIFECYCLE_PENDING = "status = 'pending'"


class LifecycleRequestRow(Base):
    """An extension, offboarding or password reset that waits for (or got) an approver's decision."""

    __tablename__ = "lifecycle_requests"
    __table_args__ = (
        CheckConstraint("action IN ('extend', 'offboard', 'reset_password')", name="action"),
        CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="status"),
        # One open request per account and action, whatever instance or click created it.
        Index(
            "uq_lifecycle_requests_pending",
            "upn",
            "action",
            unique=True,
            sqlite_where=text(_LIFECYCLE_PENDING),
            postgresql_where=text(_LIFECYCLE_PENDING),
        ),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    action: Mapped[str] = mapped_column(String(32))
    upn: Mapped[str] = mapped_column(String(113))
    status: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    requested_by_aad_id: Mapped[str] = mapped_column(String(64))
    requested_by_name: Mapped[str] = mapped_column(String(256))
    new_end_date: Mapped[date | None] = mapped_column(Date)
    decided_by_aad_id: Mapped[str | None] = mapped_column(String(64))
    decided_by_name: Mapped[str | None] = mapped_column(String(256))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    comment: Mapped[str | None] = mapped_column(Text)
    approval_activity_id: Mapped[str | None] = mapped_column(String(255))
    approval_conversation_json: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LifecycleStepRow(Base):
    """The step log of offboarding runs and password resets: one row per (subject, step)."""

    __tablename__ = "lifecycle_steps"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'running', 'done', 'failed', 'undone')", name="state"),
    )

    #: ``offboard:<upn>`` or ``reset:<lifecycle request or job key>``.
    subject: Mapped[str] = mapped_column(String(160), primary_key=True)
    step: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    graph_request_id: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OffboardingRow(Base):
    """One service account's offboarding: why, by whom, when it finished, when it is deleted."""

    __tablename__ = "offboardings"
    __table_args__ = (
        CheckConstraint("reason IN ('expired', 'manual')", name="reason"),
        Index("ix_offboardings_delete_after", "delete_after"),
    )

    upn: Mapped[str] = mapped_column(String(113), primary_key=True)
    reason: Mapped[str] = mapped_column(String(16))
    requested_by_aad_id: Mapped[str | None] = mapped_column(String(64))
    requested_by_name: Mapped[str] = mapped_column(String(256))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    offboarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delete_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


# ------------------------------------------------------------------------------- bulk onboarding (0004)

#: Bulk batch statuses as stored (``storage.bulk.BatchStatus`` values).
BULK_BATCH_STATUSES = ("pending_approval", "approved", "rejected", "completed")


class BulkBatchRow(Base):
    """One bulk onboarding batch (a CSV file): who submitted it, its problems, its decision, its card."""

    __tablename__ = "bulk_batches"
    __table_args__ = (
        CheckConstraint("status IN ('pending_approval', 'approved', 'rejected', 'completed')", name="status"),
        Index("ix_bulk_batches_status", "status", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    status: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    submitted_by_aad_id: Mapped[str] = mapped_column(String(64))
    submitted_by_name: Mapped[str] = mapped_column(String(256))
    source_name: Mapped[str] = mapped_column(String(255))
    total_rows: Mapped[int] = mapped_column(Integer)
    #: JSON: the row problems found at import and the seats the batch needs by SKU part number.
    summary_json: Mapped[str] = mapped_column(Text)
    #: JSON of the approval or rejection (who, when, comment); NULL while pending.
    decision_json: Mapped[str | None] = mapped_column(Text)
    card_activity_id: Mapped[str | None] = mapped_column(String(255))
    card_conversation_json: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BulkRowRow(Base):
    """One good row of a batch: the onboarding request it became and, once created, the account's id."""

    __tablename__ = "bulk_rows"
    __table_args__ = (Index("ix_bulk_rows_request_number", "request_number", unique=True),)

    batch_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    #: The spreadsheet row (header = 1).
    row: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    request_number: Mapped[int] = mapped_column(BigId)
    #: The directory object id, recorded as soon as the create answered (later steps need no look-up).
    user_id: Mapped[str | None] = mapped_column(String(64))


# ------------------------------------------------------------------------------- segment changes (0005)

#: Segment change statuses as stored (``storage.segment_changes.ChangeStatus`` values).
SEGMENT_CHANGE_STATUSES = ("pending", "approved", "applied", "failed", "rejected")


class SegmentChangeRow(Base):
    """A proposed move of a service account to another information-barrier segment, and its run."""

    __tablename__ = "segment_changes"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'applied', 'failed', 'rejected')", name="status"),
        Index("ix_segment_changes_upn", "upn", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    upn: Mapped[str] = mapped_column(String(113))
    user_id: Mapped[str] = mapped_column(String(64))
    from_segment: Mapped[str | None] = mapped_column(String(64))
    to_segment: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    proposed_by_aad_id: Mapped[str] = mapped_column(String(64))
    proposed_by_name: Mapped[str] = mapped_column(String(256))
    #: JSON of the approval or rejection (aad id, name, time, comment); NULL while pending.
    decision_json: Mapped[str | None] = mapped_column(Text)
    #: JSON list of the run's steps already done (the run resumes after them).
    steps_done_json: Mapped[str] = mapped_column(Text)
    #: The IB-capable SKU part number the run added (the account had none), if any.
    added_license: Mapped[str | None] = mapped_column(String(64))
    failure: Mapped[str | None] = mapped_column(Text)
    card_activity_id: Mapped[str | None] = mapped_column(String(255))
    card_conversation_json: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
