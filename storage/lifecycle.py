"""Lifecycle repositories: approval requests, the lifecycle step log, offboardings, account end dates.

* :class:`LifecycleRequests`: an extension, offboarding or password reset waiting for an approver, versioned
  for compare-and-set like onboarding requests; at most one pending per account and action (a partial
  unique index decides, across instances).
* :class:`LifecycleSteps`: the persisted step log of offboarding runs and password resets, keyed by a
  subject (``offboard:<upn>``, ``reset:<key>``) and a step name.
* :class:`Offboardings`: one row per offboarded account: why, by whom, when it finished, when it is deleted.
* :class:`AccountLifecycle`: the queries and the compare-and-set on ``service_accounts`` that lifecycle work
  needs (accounts ending soon, moving an end date only from the date the clicker saw).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.exc import IntegrityError

from storage._sql import dialect_insert
from storage.accounts import AccountState, ServiceAccount
from storage.clock import Clock, utc_now
from storage.database import Database
from storage.errors import ConcurrencyError, StorageError
from storage.models import LifecycleRequestRow, LifecycleStepRow, OffboardingRow, ServiceAccountRow
from storage.requests import StepRecord, StepState, read_steps, upsert_step

__all__ = [
    "LIFECYCLE_ID_PREFIX",
    "AccountLifecycle",
    "LifecycleRequests",
    "LifecycleSteps",
    "Offboarding",
    "Offboardings",
    "PendingRequestExists",
    "StoredLifecycleRequest",
    "format_lifecycle_id",
    "parse_lifecycle_id",
]

#: Lifecycle request ids read ``LC-000012`` on cards and in the audit log.
LIFECYCLE_ID_PREFIX = "LC"
_MAX_DETAIL_CHARS = 2000
_MAX_LIST = 500


def format_lifecycle_id(number: int) -> str:
    """``12`` -> ``LC-000012``."""
    return f"{LIFECYCLE_ID_PREFIX}-{number:06d}"


def parse_lifecycle_id(text: str) -> int | None:
    """``LC-000012`` -> ``12``; ``None`` for anything else."""
    prefix, _, digits = text.strip().partition("-")
    if prefix != LIFECYCLE_ID_PREFIX or not digits.isdigit() or len(digits) > 12:
        return None
    number = int(digits)
    return number if number >= 1 else None


class PendingRequestExists(StorageError):
    """An approval request for this account and action is already pending."""

    code = "storage.lifecycle_pending_exists"

    def __init__(self, upn: str, action: str) -> None:
        super().__init__(f"a {action} request for {upn} is already waiting for approval")
        self.upn = upn
        self.action = action


@dataclass(frozen=True)
class StoredLifecycleRequest:
    """A lifecycle request as stored."""

    id: int
    action: str
    upn: str
    status: str
    version: int
    requested_by_aad_id: str
    requested_by_name: str
    new_end_date: date | None
    decided_by_aad_id: str | None
    decided_by_name: str | None
    decided_at: datetime | None
    comment: str | None
    approval_activity_id: str | None
    approval_conversation: dict[str, Any] | None
    created_at: datetime

    @property
    def request_id(self) -> str:
        """The id people read (``LC-000012``)."""
        return format_lifecycle_id(self.id)


_REQUEST_COLUMNS = tuple(LifecycleRequestRow.__table__.c)


class LifecycleRequests:
    """Create, read and decide (compare-and-set) lifecycle approval requests."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        """Use ``database``; ``clock`` stamps creation and updates."""
        self._db = database
        self._clock = clock

    async def create(
        self,
        action: str,
        upn: str,
        *,
        requested_by_aad_id: str,
        requested_by_name: str,
        new_end_date: date | None = None,
    ) -> StoredLifecycleRequest:
        """A new pending request; raises :class:`PendingRequestExists` when one is already pending."""
        now = self._clock()
        statement = (
            dialect_insert(self._db.dialect_name, LifecycleRequestRow)
            .values(
                action=action,
                upn=_key(upn),
                status="pending",
                version=1,
                requested_by_aad_id=requested_by_aad_id.strip().lower(),
                requested_by_name=requested_by_name[:256],
                new_end_date=new_end_date,
                created_at=now,
                updated_at=now,
            )
            .returning(*_REQUEST_COLUMNS)
        )
        try:
            async with self._db.transaction(write=True) as conn:
                row = (await conn.execute(statement)).one()
        except IntegrityError:
            raise PendingRequestExists(_key(upn), action) from None
        return _request(row)

    async def get(self, request_id: int) -> StoredLifecycleRequest | None:
        """The request with ``request_id``, or ``None``."""
        async with self._db.transaction(write=False) as conn:
            row = (
                await conn.execute(select(*_REQUEST_COLUMNS).where(LifecycleRequestRow.id == request_id))
            ).first()
        return None if row is None else _request(row)

    async def pending_for(self, upn: str, action: str) -> StoredLifecycleRequest | None:
        """The pending request for this account and action, or ``None``."""
        async with self._db.transaction(write=False) as conn:
            row = (
                await conn.execute(
                    select(*_REQUEST_COLUMNS).where(
                        LifecycleRequestRow.upn == _key(upn),
                        LifecycleRequestRow.action == action,
                        LifecycleRequestRow.status == "pending",
                    )
                )
            ).first()
        return None if row is None else _request(row)

    async def decide(
        self,
        request_id: int,
        expected_version: int,
        *,
        approved: bool,
        by_aad_id: str,
        by_name: str,
        comment: str | None,
    ) -> StoredLifecycleRequest:
        """Approve or reject a pending request read at ``expected_version``.

        Raises :class:`~storage.errors.ConcurrencyError` when it changed meanwhile or is no longer pending:
        of two clicks exactly one wins.
        """
        now = self._clock()
        statement = (
            update(LifecycleRequestRow)
            .where(
                LifecycleRequestRow.id == request_id,
                LifecycleRequestRow.version == expected_version,
                LifecycleRequestRow.status == "pending",
            )
            .values(
                status="approved" if approved else "rejected",
                version=LifecycleRequestRow.version + 1,
                decided_by_aad_id=by_aad_id.strip().lower(),
                decided_by_name=by_name[:256],
                decided_at=now,
                comment=comment,
                updated_at=now,
            )
            .returning(*_REQUEST_COLUMNS)
        )
        async with self._db.transaction(write=True) as conn:
            row = (await conn.execute(statement)).first()
        if row is None:
            raise ConcurrencyError(f"lifecycle request {request_id}", str(expected_version))
        return _request(row)

    async def set_approval_card(
        self, request_id: int, activity_id: str, conversation: dict[str, Any]
    ) -> None:
        """Remember where the approval card was posted, to update it later."""
        async with self._db.transaction(write=True) as conn:
            await conn.execute(
                update(LifecycleRequestRow)
                .where(LifecycleRequestRow.id == request_id)
                .values(
                    approval_activity_id=activity_id,
                    approval_conversation_json=json.dumps(conversation),
                    updated_at=self._clock(),
                )
            )


class LifecycleSteps:
    """The step log of lifecycle runs: one row per (subject, step), overwritten on each mark."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        """Use ``database``; ``clock`` stamps ``updated_at``."""
        self._db = database
        self._clock = clock

    async def steps(self, subject: str) -> dict[str, StepRecord]:
        """Every recorded step of ``subject`` by name."""
        return await read_steps(self._db, LifecycleStepRow, LifecycleStepRow.subject, subject)

    async def mark(
        self,
        subject: str,
        step: str,
        state: StepState,
        *,
        detail: str | None = None,
        graph_request_id: str | None = None,
    ) -> None:
        """Record that ``step`` of ``subject`` is now in ``state``; ``detail`` never holds a secret."""
        if not subject or len(subject) > 160:
            raise ValueError("a step subject must be 1-160 characters")
        if not step or len(step) > 64:
            raise ValueError("a step name must be 1-64 characters")
        values = {
            "state": StepState(state).value,
            "detail": None if detail is None else detail[:_MAX_DETAIL_CHARS],
            "graph_request_id": None if graph_request_id is None else graph_request_id[:64],
            "updated_at": self._clock(),
        }
        await upsert_step(self._db, LifecycleStepRow, LifecycleStepRow.subject, subject, step, values)


@dataclass(frozen=True)
class Offboarding:
    """One account's offboarding as recorded."""

    upn: str
    #: ``expired`` (the end date passed) or ``manual`` (someone asked).
    reason: str
    requested_by_aad_id: str | None
    requested_by_name: str
    started_at: datetime
    offboarded_at: datetime | None
    delete_after: datetime | None
    deleted_at: datetime | None


_OFFBOARDING_COLUMNS = (
    OffboardingRow.upn,
    OffboardingRow.reason,
    OffboardingRow.requested_by_aad_id,
    OffboardingRow.requested_by_name,
    OffboardingRow.started_at,
    OffboardingRow.offboarded_at,
    OffboardingRow.delete_after,
    OffboardingRow.deleted_at,
)


class Offboardings:
    """Start, finish and delete offboardings; the first start of an account wins."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        """Use ``database``; ``clock`` stamps the times."""
        self._db = database
        self._clock = clock

    async def start(
        self, upn: str, *, reason: str, requested_by_aad_id: str | None, requested_by_name: str
    ) -> Offboarding:
        """Record that offboarding of ``upn`` started; one already recorded is kept and returned."""
        now = self._clock()
        statement = (
            dialect_insert(self._db.dialect_name, OffboardingRow)
            .values(
                upn=_key(upn),
                reason=reason,
                requested_by_aad_id=None if requested_by_aad_id is None else requested_by_aad_id.lower(),
                requested_by_name=requested_by_name[:256],
                started_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=[OffboardingRow.upn])
        )
        async with self._db.transaction(write=True) as conn:
            await conn.execute(statement)
            row = (
                await conn.execute(select(*_OFFBOARDING_COLUMNS).where(OffboardingRow.upn == _key(upn)))
            ).one()
        return Offboarding(**row._asdict())

    async def get(self, upn: str) -> Offboarding | None:
        """The offboarding of ``upn``, or ``None``."""
        async with self._db.transaction(write=False) as conn:
            row = (
                await conn.execute(select(*_OFFBOARDING_COLUMNS).where(OffboardingRow.upn == _key(upn)))
            ).first()
        return None if row is None else Offboarding(**row._asdict())

    async def mark_offboarded(self, upn: str, *, delete_after: datetime) -> None:
        """Offboarding finished now (kept if already set); the account is deleted at ``delete_after``."""
        now = self._clock()
        async with self._db.transaction(write=True) as conn:
            await conn.execute(
                update(OffboardingRow)
                .where(OffboardingRow.upn == _key(upn), OffboardingRow.offboarded_at.is_(None))
                .values(offboarded_at=now, delete_after=delete_after, updated_at=now)
            )

    async def mark_deleted(self, upn: str) -> None:
        """The account was deleted now (kept if already set)."""
        now = self._clock()
        async with self._db.transaction(write=True) as conn:
            await conn.execute(
                update(OffboardingRow)
                .where(OffboardingRow.upn == _key(upn), OffboardingRow.deleted_at.is_(None))
                .values(deleted_at=now, updated_at=now)
            )

    async def due_for_deletion(self, now: datetime, *, limit: int = 100) -> list[str]:
        """UPNs offboarded, not deleted yet, whose retention ended by ``now``."""
        statement = (
            select(OffboardingRow.upn)
            .where(
                OffboardingRow.offboarded_at.is_not(None),
                OffboardingRow.deleted_at.is_(None),
                OffboardingRow.delete_after <= now,
            )
            .order_by(OffboardingRow.delete_after)
            .limit(max(1, min(limit, _MAX_LIST)))
        )
        async with self._db.transaction(write=False) as conn:
            return [row.upn for row in (await conn.execute(statement)).all()]


class AccountLifecycle:
    """What lifecycle work reads and changes on ``service_accounts``."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        """Use ``database``; ``clock`` stamps ``updated_at``."""
        self._db = database
        self._clock = clock

    async def active_ending_by(self, last_day: date, *, limit: int = _MAX_LIST) -> list[ServiceAccount]:
        """Active accounts whose end date is ``last_day`` or earlier, soonest first."""
        statement = (
            select(*_ACCOUNT_COLUMNS)
            .where(
                ServiceAccountRow.state == AccountState.ACTIVE.value,
                ServiceAccountRow.end_date <= last_day,
            )
            .order_by(ServiceAccountRow.end_date, ServiceAccountRow.upn)
            .limit(max(1, min(limit, _MAX_LIST)))
        )
        async with self._db.transaction(write=False) as conn:
            rows = (await conn.execute(statement)).all()
        return [_account(row) for row in rows]

    async def move_end_date(self, upn: str, *, expected: date, new: date) -> bool:
        """Set the end date of an active account to ``new`` if it is still ``expected``.

        False when the account is not active or its end date changed meanwhile (another click won).
        """
        statement = (
            update(ServiceAccountRow)
            .where(
                ServiceAccountRow.upn == _key(upn),
                ServiceAccountRow.end_date == expected,
                ServiceAccountRow.state == AccountState.ACTIVE.value,
            )
            .values(end_date=new, updated_at=self._clock())
            .returning(ServiceAccountRow.upn)
        )
        async with self._db.transaction(write=True) as conn:
            return (await conn.execute(statement)).first() is not None

    async def move_state(self, upn: str, *, from_states: tuple[AccountState, ...], to: AccountState) -> bool:
        """Change the account's state only from one of ``from_states``; False when it was in none of them."""
        statement = (
            update(ServiceAccountRow)
            .where(
                ServiceAccountRow.upn == _key(upn),
                ServiceAccountRow.state.in_([state.value for state in from_states]),
            )
            .values(state=to.value, updated_at=self._clock())
            .returning(ServiceAccountRow.upn)
        )
        async with self._db.transaction(write=True) as conn:
            return (await conn.execute(statement)).first() is not None


_ACCOUNT_COLUMNS = (
    ServiceAccountRow.upn,
    ServiceAccountRow.user_id,
    ServiceAccountRow.request_number,
    ServiceAccountRow.vendor,
    ServiceAccountRow.contractor_name,
    ServiceAccountRow.contractor_email,
    ServiceAccountRow.sponsor_aad_id,
    ServiceAccountRow.sponsor_name,
    ServiceAccountRow.license_part_numbers_json,
    ServiceAccountRow.segment,
    ServiceAccountRow.end_date,
    ServiceAccountRow.state,
    ServiceAccountRow.created_at,
)


def _key(upn: str) -> str:
    return upn.strip().lower()


def _account(row: Row[*tuple[Any, ...]]) -> ServiceAccount:
    fields = row._asdict()
    fields["license_part_numbers"] = tuple(json.loads(fields.pop("license_part_numbers_json")))
    return ServiceAccount(**fields)


def _request(row: Row[*tuple[Any, ...]]) -> StoredLifecycleRequest:
    fields = row._asdict()
    conversation = fields.pop("approval_conversation_json")
    fields.pop("updated_at")
    fields["approval_conversation"] = json.loads(conversation) if conversation else None
    return StoredLifecycleRequest(**fields)
