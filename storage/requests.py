"""``onboarding_requests`` and ``provisioning_steps``: requests with their plans, and the step log.

A request is stored as the domain's own JSON (:class:`~onboarding.requests.OnboardingRequest` and
:class:`~onboarding.plan.ProvisioningPlan`) plus the columns queries need (status, requester, planned UPN).
Every state change goes through :meth:`RequestStore.replace`, a compare-and-set on ``version``: of any
number of writers that read the same version, on any number of instances, exactly one succeeds and the
others get :class:`~storage.errors.ConcurrencyError` (re-read, decide again).

Request numbers come from the database (PostgreSQL's identity sequence, SQLite's AUTOINCREMENT), so two
instances can never hand out the same ``VND-`` id, and a number is never reused.

Two live requests can never plan the same UPN: a partial unique index holds the planned UPN of every request
that is not rejected or cancelled, and :meth:`RequestStore.create` / :meth:`RequestStore.replace` raise
:class:`UpnAlreadyPlanned` when another live request holds it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, Select, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from onboarding.plan import ProvisioningPlan
from onboarding.requests import OnboardingRequest, RequestStatus
from storage._sql import dialect_insert
from storage.clock import Clock, utc_now
from storage.database import Database
from storage.errors import ConcurrencyError, StorageError
from storage.models import UPN_RELEASING_STATUSES, OnboardingRequestRow, ProvisioningStepRow

__all__ = [
    "RequestNotFound",
    "RequestStore",
    "StepLog",
    "StepRecord",
    "StepState",
    "StoredRequest",
    "UpnAlreadyPlanned",
]

_MAX_LIST = 500
_MAX_DETAIL_CHARS = 2000
_REQUEST_COLUMNS = (
    OnboardingRequestRow.number,
    OnboardingRequestRow.version,
    OnboardingRequestRow.request_json,
    OnboardingRequestRow.plan_json,
    OnboardingRequestRow.approval_activity_id,
    OnboardingRequestRow.approval_conversation_json,
    OnboardingRequestRow.updated_at,
)


_RequestRow = Row[int, int, str, str, str | None, str | None, datetime]
_RequestSelect = Select[int, int, str, str, str | None, str | None, datetime]


class RequestNotFound(StorageError, LookupError):
    """No request has this number."""

    code = "storage.request_not_found"

    def __init__(self, number: int) -> None:
        super().__init__(f"there is no onboarding request number {number}")
        self.number = number


class UpnAlreadyPlanned(StorageError):
    """Another live (not rejected or cancelled) request already plans this UPN; plan another name."""

    code = "storage.upn_already_planned"

    def __init__(self, upn: str) -> None:
        super().__init__(f"another open request already plans the account name {upn}")
        self.upn = upn


@dataclass(frozen=True)
class StoredRequest:
    """A request as stored: the domain value, its plan, its version and where its approval card is."""

    request: OnboardingRequest
    plan: ProvisioningPlan
    #: Incremented by every :meth:`RequestStore.replace`; pass it back to replace what you read.
    version: int
    approval_activity_id: str | None
    #: The conversation reference (JSON) of the channel the approval card was posted to.
    approval_conversation: dict[str, Any] | None
    updated_at: datetime


class RequestStore:
    """Create, read, compare-and-set and list onboarding requests."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        """Use ``database``; ``clock`` stamps ``created_at``/``updated_at``."""
        self._db = database
        self._clock = clock

    async def create(
        self, make: Callable[[int], tuple[OnboardingRequest, ProvisioningPlan]]
    ) -> StoredRequest:
        """Store a new request at version 1; ``make(number)`` builds it for the number the database allocated.

        ``make`` runs inside the transaction (keep it quick and free of I/O); if it raises, nothing is
        stored. The request it returns must carry that number. Raises :class:`UpnAlreadyPlanned` when a live
        request already plans the same UPN.
        """
        now = self._clock()
        placeholder = insert(OnboardingRequestRow).values(
            status=RequestStatus.DRAFT.value,
            version=0,
            requester_aad_id="",
            upn=None,
            request_json="{}",
            plan_json="{}",
            created_at=now,
            updated_at=now,
        )
        plan: ProvisioningPlan | None = None
        try:
            async with self._db.transaction(write=True) as conn:
                # The row is inserted first so the database allocates the number; it is filled in before
                # the transaction commits, so nobody ever sees the placeholder.
                number = (await conn.execute(placeholder.returning(OnboardingRequestRow.number))).scalar_one()
                request, plan = make(number)
                if request.number != number:
                    raise ValueError(f"make() built request {request.number} for number {number}")
                row = (
                    await conn.execute(
                        update(OnboardingRequestRow)
                        .where(OnboardingRequestRow.number == number)
                        .values(**_request_values(request, plan), version=1, updated_at=now)
                        .returning(*_REQUEST_COLUMNS)
                    )
                ).one()
        except IntegrityError as err:
            raise _integrity_error(err, plan) from err
        return _stored(row)

    async def get(self, number: int) -> StoredRequest | None:
        """The request with ``number``, or ``None``."""
        async with self._db.transaction(write=False) as conn:
            row = (
                await conn.execute(select(*_REQUEST_COLUMNS).where(OnboardingRequestRow.number == number))
            ).first()
        return None if row is None else _stored(row)

    async def replace(
        self,
        number: int,
        expected_version: int,
        request: OnboardingRequest,
        *,
        plan: ProvisioningPlan | None = None,
    ) -> StoredRequest:
        """Store ``request`` (and ``plan``, when given) if the stored version is still ``expected_version``.

        The version test and the write are one statement, so of concurrent writers holding the same version
        exactly one wins. Raises :class:`~storage.errors.ConcurrencyError` when the request changed (or does
        not exist), :class:`UpnAlreadyPlanned` when a new plan's UPN is held by another live request.
        """
        if request.number != number:
            raise ValueError(f"request {request.number} cannot be stored as number {number}")
        values: dict[str, Any] = {
            "status": request.status.value,
            "request_json": request.model_dump_json(),
            "requester_aad_id": _lower_id(request.requester.aad_object_id),
            "version": OnboardingRequestRow.version + 1,
            "updated_at": self._clock(),
        }
        if plan is not None:
            values |= {"plan_json": plan.model_dump_json(), "upn": plan.upn.lower()}
        statement = (
            update(OnboardingRequestRow)
            .where(
                OnboardingRequestRow.number == number,
                OnboardingRequestRow.version == expected_version,
            )
            .values(values)
            .returning(*_REQUEST_COLUMNS)
        )
        try:
            async with self._db.transaction(write=True) as conn:
                row = (await conn.execute(statement)).first()
        except IntegrityError as err:
            raise _integrity_error(err, plan) from err
        if row is None:
            raise ConcurrencyError(f"onboarding request {number}", str(expected_version))
        return _stored(row)

    async def set_approval_card(self, number: int, activity_id: str, conversation: dict[str, Any]) -> None:
        """Remember where the approval card was posted (its activity id and channel conversation reference).

        Not a state change: the version stays, so a click computed against it still applies. Raises
        :class:`RequestNotFound` for an unknown number.
        """
        if not activity_id or len(activity_id) > 255:
            raise ValueError("an activity id must be 1-255 characters")
        statement = (
            update(OnboardingRequestRow)
            .where(OnboardingRequestRow.number == number)
            .values(
                approval_activity_id=activity_id,
                approval_conversation_json=json.dumps(conversation, sort_keys=True),
                updated_at=self._clock(),
            )
            .returning(OnboardingRequestRow.number)
        )
        async with self._db.transaction(write=True) as conn:
            if (await conn.execute(statement)).first() is None:
                raise RequestNotFound(number)

    async def list_for_requester(
        self, aad_object_id: str, *, limit: int = 20, offset: int = 0
    ) -> list[StoredRequest]:
        """The requests ``aad_object_id`` made (object ids compare case-insensitively), newest first."""
        statement = (
            select(*_REQUEST_COLUMNS)
            .where(OnboardingRequestRow.requester_aad_id == _lower_id(aad_object_id))
            .order_by(OnboardingRequestRow.number.desc())
            .limit(_bounded(limit))
            .offset(max(offset, 0))
        )
        return await self._list(statement)

    async def list_by_status(self, *statuses: RequestStatus, limit: int = 100) -> list[StoredRequest]:
        """Requests in any of ``statuses``, oldest first (e.g. approved ones whose job was lost)."""
        if not statuses:
            return []
        statement = (
            select(*_REQUEST_COLUMNS)
            .where(OnboardingRequestRow.status.in_([status.value for status in statuses]))
            .order_by(OnboardingRequestRow.number)
            .limit(_bounded(limit))
        )
        return await self._list(statement)

    async def is_upn_reserved(self, upn: str) -> bool:
        """Whether a request that is not rejected or cancelled plans ``upn`` (case-insensitive)."""
        statement = select(func.count()).where(
            OnboardingRequestRow.upn == upn.strip().lower(),
            OnboardingRequestRow.status.not_in(UPN_RELEASING_STATUSES),
        )
        async with self._db.transaction(write=False) as conn:
            return bool((await conn.execute(statement)).scalar_one())

    async def _list(self, statement: _RequestSelect) -> list[StoredRequest]:
        async with self._db.transaction(write=False) as conn:
            rows = (await conn.execute(statement)).all()
        return [_stored(row) for row in rows]


class StepState(StrEnum):
    """Where one provisioning step stands. Values are stored."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    #: Done, then reverted by a cancellation.
    UNDONE = "undone"


@dataclass(frozen=True)
class StepRecord:
    """One step's last recorded state, with a short detail (no secrets) and Graph's request-id."""

    step: str
    state: StepState
    detail: str | None
    graph_request_id: str | None
    updated_at: datetime


class StepLog:
    """The persisted step log of provisioning runs: one row per (request, step), overwritten on each mark."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        """Use ``database``; ``clock`` stamps ``updated_at``."""
        self._db = database
        self._clock = clock

    async def steps(self, number: int) -> dict[str, StepRecord]:
        """Every recorded step of request ``number`` by name (steps never marked are absent)."""
        return await read_steps(self._db, ProvisioningStepRow, ProvisioningStepRow.request_number, number)

    async def mark(
        self,
        number: int,
        step: str,
        state: StepState,
        *,
        detail: str | None = None,
        graph_request_id: str | None = None,
    ) -> None:
        """Record that ``step`` of request ``number`` is now in ``state`` (replacing what was recorded).

        ``detail`` is shown to approvers and audited: never put a secret in it.
        """
        if not step or len(step) > 64:
            raise ValueError("a step name must be 1-64 characters")
        if graph_request_id is not None and len(graph_request_id) > 64:
            raise ValueError("a Graph request-id is at most 64 characters")
        values = {
            "state": StepState(state).value,
            "detail": None if detail is None else detail[:_MAX_DETAIL_CHARS],
            "graph_request_id": graph_request_id,
            "updated_at": self._clock(),
        }
        await upsert_step(
            self._db, ProvisioningStepRow, ProvisioningStepRow.request_number, number, step, values
        )


async def read_steps(database: Database, table: Any, key: Any, value: object) -> dict[str, StepRecord]:
    """Every recorded step of one subject of a step table (``table`` has step, state, detail,
    graph_request_id and updated_at columns; ``key`` is the column naming the subject)."""
    statement = select(table.step, table.state, table.detail, table.graph_request_id, table.updated_at).where(
        key == value
    )
    async with database.transaction(write=False) as conn:
        rows = (await conn.execute(statement)).all()
    return {
        row.step: StepRecord(
            step=row.step,
            state=StepState(row.state),
            detail=row.detail,
            graph_request_id=row.graph_request_id,
            updated_at=row.updated_at,
        )
        for row in rows
    }


async def upsert_step(
    database: Database, table: Any, key: Any, value: object, step: str, values: Mapping[str, Any]
) -> None:
    """Insert or overwrite the row of (subject, step) in a step table, in one statement on both databases."""
    statement = (
        dialect_insert(database.dialect_name, table)
        .values({key.key: value, "step": step, **values})
        .on_conflict_do_update(index_elements=[key, table.step], set_=dict(values))
    )
    async with database.transaction(write=True) as conn:
        await conn.execute(statement)


def _request_values(request: OnboardingRequest, plan: ProvisioningPlan) -> Mapping[str, Any]:
    return {
        "status": request.status.value,
        "requester_aad_id": _lower_id(request.requester.aad_object_id),
        "upn": plan.upn.lower(),
        "request_json": request.model_dump_json(),
        "plan_json": plan.model_dump_json(),
    }


def _lower_id(aad_object_id: str) -> str:
    # Object ids are GUIDs; Teams and Graph spell them in either case.
    return aad_object_id.strip().lower()


def _bounded(limit: int) -> int:
    return max(0, min(limit, _MAX_LIST))


def _integrity_error(err: IntegrityError, plan: ProvisioningPlan | None) -> Exception:
    # The only unique constraint a write here can break besides the (database-generated) primary key is
    # the held-UPN index; anything else is a bug and is re-raised as is.
    if plan is not None and "upn" in str(err.orig).lower():
        return UpnAlreadyPlanned(plan.upn)
    return err


def _stored(row: _RequestRow) -> StoredRequest:
    conversation = row.approval_conversation_json
    return StoredRequest(
        request=OnboardingRequest.model_validate_json(row.request_json),
        plan=ProvisioningPlan.model_validate_json(row.plan_json),
        version=row.version,
        approval_activity_id=row.approval_activity_id,
        approval_conversation=None if conversation is None else json.loads(conversation),
        updated_at=row.updated_at,
    )
