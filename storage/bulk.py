"""``bulk_batches`` and ``bulk_rows``: a bulk onboarding batch, its rows and the requests they became.

A batch is created in one transaction together with one onboarding request per good row (each pending
approval, each with its plan, numbered by the database like any other request), so an import either
stores the whole batch or nothing. The batch's status changes by compare-and-set on ``version``, exactly
like a request's, so two approvers clicking at once cannot both win.

Rows keep the directory object id of their account as soon as the create answered: later steps (group
membership, the service-account record) and a resumed run need no look-up to find it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from onboarding.plan import ProvisioningPlan
from onboarding.requests import Decision, OnboardingRequest, Person, RequestStatus
from storage._sql import dialect_insert
from storage.accounts import ServiceAccount
from storage.accounts import _values as account_values
from storage.audit import check_no_secret_keys
from storage.clock import Clock, utc_now
from storage.database import Database
from storage.errors import ConcurrencyError, StorageError
from storage.models import (
    UPN_RELEASING_STATUSES,
    AuditEventRow,
    BulkBatchRow,
    BulkRowRow,
    OnboardingRequestRow,
    ProvisioningStepRow,
    ServiceAccountRow,
)
from storage.requests import StepState, UpnAlreadyPlanned

_MAX_DETAIL_CHARS = 2000

__all__ = [
    "OPEN_REQUEST_STATUSES",
    "AuditEntry",
    "BatchNotFound",
    "BatchProblem",
    "BatchRow",
    "BatchStatus",
    "BulkBatches",
    "Journal",
    "MakeRequest",
    "StepMark",
    "StoredBatch",
    "Transition",
    "commit_journal",
]

#: Builds the request and plan of one row for the number the database allocated (no I/O inside).
MakeRequest = Callable[[int], tuple[OnboardingRequest, ProvisioningPlan]]

#: Requests that still stand for their contractor: a second request for the same email is a mistake.
OPEN_REQUEST_STATUSES: tuple[RequestStatus, ...] = (
    RequestStatus.DRAFT,
    RequestStatus.PENDING_APPROVAL,
    RequestStatus.APPROVED,
    RequestStatus.PROVISIONING,
    RequestStatus.FAILED,
)


class BatchStatus(StrEnum):
    """Where a batch is. Values are stored."""

    PENDING_APPROVAL = "pending_approval"
    #: Approved: its rows are being provisioned (or wait for a retry).
    APPROVED = "approved"
    REJECTED = "rejected"
    #: Every row is provisioned (nothing left to retry).
    COMPLETED = "completed"


class BatchNotFound(StorageError, LookupError):
    """No batch has this id."""

    code = "storage.batch_not_found"

    def __init__(self, batch_id: int) -> None:
        super().__init__(f"there is no bulk batch {batch_id}")
        self.batch_id = batch_id


@dataclass(frozen=True, slots=True)
class BatchProblem:
    """A row the import refused, as the approval card lists it (no secrets: names and addresses only)."""

    row: int
    column: str | None
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class BatchRow:
    """A good row: its spreadsheet row, its request number and, once created, its account's object id."""

    row: int
    request_number: int
    user_id: str | None


@dataclass(frozen=True)
class StoredBatch:
    """A batch as stored."""

    id: int
    status: BatchStatus
    version: int
    submitted_by: Person
    source_name: str
    total_rows: int
    problems: tuple[BatchProblem, ...]
    seats_needed: Mapping[str, int]
    decision: Decision | None
    card_activity_id: str | None
    card_conversation: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


_BATCH_COLUMNS = (
    BulkBatchRow.id,
    BulkBatchRow.status,
    BulkBatchRow.version,
    BulkBatchRow.submitted_by_aad_id,
    BulkBatchRow.submitted_by_name,
    BulkBatchRow.source_name,
    BulkBatchRow.total_rows,
    BulkBatchRow.summary_json,
    BulkBatchRow.decision_json,
    BulkBatchRow.card_activity_id,
    BulkBatchRow.card_conversation_json,
    BulkBatchRow.created_at,
    BulkBatchRow.updated_at,
)


class BulkBatches:
    """Create, read and compare-and-set bulk batches; the queries the import and the card need."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        """Use ``database``; ``clock`` stamps ``created_at``/``updated_at``."""
        self._db = database
        self._clock = clock

    async def create(
        self,
        *,
        submitted_by: Person,
        source_name: str,
        total_rows: int,
        problems: Sequence[BatchProblem],
        seats_needed: Mapping[str, int],
        rows: Sequence[tuple[int, MakeRequest]],
    ) -> StoredBatch:
        """Store a batch pending approval with one request per ``(spreadsheet row, make)``, atomically.

        Raises :class:`~storage.requests.UpnAlreadyPlanned` when a live request (another batch, a wizard)
        took one of the planned account names meanwhile: nothing is stored, plan again.
        """
        now = self._clock()
        summary = {
            "problems": [
                {"row": p.row, "column": p.column, "code": p.code, "message": p.message} for p in problems
            ],
            "seatsNeeded": dict(seats_needed),
        }
        plan: ProvisioningPlan | None = None
        try:
            async with self._db.transaction(write=True) as conn:
                batch_id = (
                    await conn.execute(
                        insert(BulkBatchRow)
                        .values(
                            status=BatchStatus.PENDING_APPROVAL.value,
                            version=1,
                            submitted_by_aad_id=submitted_by.aad_object_id.strip().lower(),
                            submitted_by_name=submitted_by.display_name,
                            source_name=source_name[:255],
                            total_rows=total_rows,
                            summary_json=json.dumps(summary, sort_keys=True),
                            created_at=now,
                            updated_at=now,
                        )
                        .returning(BulkBatchRow.id)
                    )
                ).scalar_one()
                for spreadsheet_row, make in rows:
                    number = (
                        await conn.execute(
                            insert(OnboardingRequestRow)
                            .values(
                                status=RequestStatus.DRAFT.value,
                                version=0,
                                requester_aad_id="",
                                upn=None,
                                request_json="{}",
                                plan_json="{}",
                                created_at=now,
                                updated_at=now,
                            )
                            .returning(OnboardingRequestRow.number)
                        )
                    ).scalar_one()
                    request, plan = make(number)
                    if request.number != number:
                        raise ValueError(f"make() built request {request.number} for number {number}")
                    await conn.execute(
                        update(OnboardingRequestRow)
                        .where(OnboardingRequestRow.number == number)
                        .values(
                            status=request.status.value,
                            version=1,
                            requester_aad_id=request.requester.aad_object_id.strip().lower(),
                            upn=plan.upn.lower(),
                            request_json=request.model_dump_json(),
                            plan_json=plan.model_dump_json(),
                        )
                    )
                    await conn.execute(
                        insert(BulkRowRow).values(
                            batch_id=batch_id, row=spreadsheet_row, request_number=number
                        )
                    )
                stored = (
                    await conn.execute(select(*_BATCH_COLUMNS).where(BulkBatchRow.id == batch_id))
                ).one()
        except IntegrityError as err:
            if plan is not None and "upn" in str(err.orig).lower():
                raise UpnAlreadyPlanned(plan.upn) from err
            raise
        return _stored(stored)

    async def get(self, batch_id: int) -> StoredBatch | None:
        """The batch, or ``None``."""
        async with self._db.transaction(write=False) as conn:
            row = (await conn.execute(select(*_BATCH_COLUMNS).where(BulkBatchRow.id == batch_id))).first()
        return None if row is None else _stored(row)

    async def replace_status(
        self, batch_id: int, expected_version: int, status: BatchStatus, *, decision: Decision | None = None
    ) -> StoredBatch:
        """Move the batch to ``status`` (and record ``decision``) if it is still at ``expected_version``.

        Raises :class:`~storage.errors.ConcurrencyError` when it changed meanwhile.
        """
        values: dict[str, Any] = {
            "status": BatchStatus(status).value,
            "version": BulkBatchRow.version + 1,
            "updated_at": self._clock(),
        }
        if decision is not None:
            values["decision_json"] = decision.model_dump_json()
        statement = (
            update(BulkBatchRow)
            .where(BulkBatchRow.id == batch_id, BulkBatchRow.version == expected_version)
            .values(values)
            .returning(*_BATCH_COLUMNS)
        )
        async with self._db.transaction(write=True) as conn:
            row = (await conn.execute(statement)).first()
        if row is None:
            raise ConcurrencyError(f"bulk batch {batch_id}", str(expected_version))
        return _stored(row)

    async def set_card(self, batch_id: int, activity_id: str, conversation: dict[str, Any]) -> None:
        """Remember where the batch's approval card was posted (not a state change: the version stays)."""
        if not activity_id or len(activity_id) > 255:
            raise ValueError("an activity id must be 1-255 characters")
        statement = (
            update(BulkBatchRow)
            .where(BulkBatchRow.id == batch_id)
            .values(
                card_activity_id=activity_id,
                card_conversation_json=json.dumps(conversation, sort_keys=True),
                updated_at=self._clock(),
            )
            .returning(BulkBatchRow.id)
        )
        async with self._db.transaction(write=True) as conn:
            if (await conn.execute(statement)).first() is None:
                raise BatchNotFound(batch_id)

    async def rows(self, batch_id: int) -> list[BatchRow]:
        """The batch's good rows in file order."""
        statement = (
            select(BulkRowRow.row, BulkRowRow.request_number, BulkRowRow.user_id)
            .where(BulkRowRow.batch_id == batch_id)
            .order_by(BulkRowRow.row)
        )
        async with self._db.transaction(write=False) as conn:
            found = (await conn.execute(statement)).all()
        return [BatchRow(row.row, row.request_number, row.user_id) for row in found]

    async def set_user_ids(self, batch_id: int, user_ids: Mapping[int, str]) -> None:
        """Record the account object id of each request number (one transaction for many rows)."""
        if not user_ids:
            return
        async with self._db.transaction(write=True) as conn:
            for number, user_id in user_ids.items():
                await conn.execute(
                    update(BulkRowRow)
                    .where(BulkRowRow.batch_id == batch_id, BulkRowRow.request_number == number)
                    .values(user_id=user_id)
                )

    async def done_steps(self, numbers: Sequence[int]) -> dict[int, set[str]]:
        """The steps the step log records as done, for many requests in one query per 500."""
        found: dict[int, set[str]] = {}
        async with self._db.transaction(write=False) as conn:
            for start in range(0, len(numbers), 500):
                statement = select(ProvisioningStepRow.request_number, ProvisioningStepRow.step).where(
                    ProvisioningStepRow.request_number.in_(numbers[start : start + 500]),
                    ProvisioningStepRow.state == StepState.DONE.value,
                )
                for number, step in (await conn.execute(statement)).all():
                    found.setdefault(number, set()).add(step)
        return found

    async def batch_of_request(self, number: int) -> int | None:
        """The batch request ``number`` belongs to, or None (a wizard's request)."""
        statement = select(BulkRowRow.batch_id).where(BulkRowRow.request_number == number)
        async with self._db.transaction(write=False) as conn:
            return (await conn.execute(statement)).scalar_one_or_none()

    async def status_counts(self, batch_id: int) -> Counter[RequestStatus]:
        """How many of the batch's requests are in each status (the card's ``12 / 50``)."""
        statement = (
            select(OnboardingRequestRow.status, func.count())
            .join(BulkRowRow, BulkRowRow.request_number == OnboardingRequestRow.number)
            .where(BulkRowRow.batch_id == batch_id)
            .group_by(OnboardingRequestRow.status)
        )
        async with self._db.transaction(write=False) as conn:
            found = (await conn.execute(statement)).all()
        return Counter({RequestStatus(status): count for status, count in found})

    async def open_requests_by_email(self, emails: Collection[str]) -> dict[str, str]:
        """Lower-cased contractor email -> request id, for open requests of any of ``emails``."""
        wanted = {email.strip().lower() for email in emails}
        if not wanted:
            return {}
        # The email lives inside the request JSON; open requests are few, so they are read and filtered here.
        statement = select(OnboardingRequestRow.request_json).where(
            OnboardingRequestRow.status.in_([s.value for s in OPEN_REQUEST_STATUSES])
        )
        found: dict[str, str] = {}
        async with self._db.transaction(write=False) as conn:
            async for (request_json,) in await conn.stream(statement):
                try:
                    request = OnboardingRequest.model_validate_json(request_json)
                except ValueError:
                    continue
                email = request.contractor.email.lower()
                if email in wanted:
                    found.setdefault(email, request.request_id)
        return found

    async def reserved_upns(self, prefixes: Collection[str], upns: Collection[str] = ()) -> set[str]:
        """Account names live requests hold that start with one of ``prefixes`` or equal one of ``upns``."""
        conditions = [
            OnboardingRequestRow.upn.startswith(prefix.lower(), autoescape=True) for prefix in prefixes
        ]
        if upns:
            conditions.append(OnboardingRequestRow.upn.in_([upn.lower() for upn in upns]))
        if not conditions:
            return set()
        statement = select(OnboardingRequestRow.upn).where(
            or_(*conditions), OnboardingRequestRow.status.not_in(UPN_RELEASING_STATUSES)
        )
        async with self._db.transaction(write=False) as conn:
            return {upn for (upn,) in (await conn.execute(statement)).all() if upn}


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit record to append with a journal (``detail`` built by ``onboarding.audit.audit_detail``)."""

    action: str
    request_id: str | None
    actor_aad_id: str | None
    actor_name: str | None
    target: str | None
    detail: Mapping[str, Any]
    graph_request_id: str | None = None


@dataclass(frozen=True, slots=True)
class StepMark:
    """One step-log write of a journal."""

    number: int
    step: str
    state: StepState
    detail: str | None = None
    graph_request_id: str | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    """A request's compare-and-set of a journal: store ``request`` if the version is still ``expected``."""

    request: OnboardingRequest
    expected_version: int


@dataclass
class Journal:
    """What a bulk run learnt from one ``$batch`` answer, written in one transaction (see :meth:`commit`)."""

    transitions: list[Transition] = field(default_factory=list)
    steps: list[StepMark] = field(default_factory=list)
    audits: list[AuditEntry] = field(default_factory=list)
    user_ids: dict[int, str] = field(default_factory=dict)
    accounts: list[ServiceAccount] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.transitions or self.steps or self.audits or self.user_ids or self.accounts)


async def commit_journal(
    database: Database, batch_id: int, journal: Journal, *, clock: Clock = utc_now
) -> dict[int, int | None]:
    """Write ``journal`` in one transaction; return each transition's new version (None: it lost the race).

    One transaction per ``$batch`` answer instead of one per record keeps a 300-row run's bookkeeping to a
    few dozen commits. What it writes is what :class:`~storage.requests.RequestStore`,
    :class:`~storage.requests.StepLog`, :class:`~storage.audit.AuditLog` and
    :class:`~storage.accounts.ServiceAccounts` write one by one.
    """
    now = clock()
    versions: dict[int, int | None] = {}
    for entry in journal.audits:
        check_no_secret_keys(entry.detail)
    async with database.transaction(write=True) as conn:
        for change in journal.transitions:
            request = change.request
            found = (
                await conn.execute(
                    update(OnboardingRequestRow)
                    .where(
                        OnboardingRequestRow.number == request.number,
                        OnboardingRequestRow.version == change.expected_version,
                    )
                    .values(
                        status=request.status.value,
                        request_json=request.model_dump_json(),
                        version=OnboardingRequestRow.version + 1,
                        updated_at=now,
                    )
                    .returning(OnboardingRequestRow.version)
                )
            ).first()
            versions[request.number] = None if found is None else found[0]
        for mark in journal.steps:
            values = {
                "state": StepState(mark.state).value,
                "detail": None if mark.detail is None else mark.detail[:_MAX_DETAIL_CHARS],
                "graph_request_id": mark.graph_request_id,
                "updated_at": now,
            }
            await conn.execute(
                dialect_insert(database.dialect_name, ProvisioningStepRow)
                .values(request_number=mark.number, step=mark.step, **values)
                .on_conflict_do_update(
                    index_elements=[ProvisioningStepRow.request_number, ProvisioningStepRow.step], set_=values
                )
            )
        if journal.audits:
            await conn.execute(
                insert(AuditEventRow),
                [
                    {
                        "at": now,
                        "actor_aad_id": entry.actor_aad_id,
                        "actor_name": None if entry.actor_name is None else entry.actor_name[:256],
                        "action": str(entry.action),
                        "request_id": entry.request_id,
                        "target": None if entry.target is None else entry.target[:512],
                        "detail_json": json.dumps(
                            dict(entry.detail), sort_keys=True, default=str, ensure_ascii=False
                        ),
                        "graph_request_id": entry.graph_request_id,
                        "correlation_id": None,
                    }
                    for entry in journal.audits
                ],
            )
        for number, user_id in journal.user_ids.items():
            await conn.execute(
                update(BulkRowRow)
                .where(BulkRowRow.batch_id == batch_id, BulkRowRow.request_number == number)
                .values(user_id=user_id)
            )
        for account in journal.accounts:
            values = account_values(account)
            changed = {key: value for key, value in values.items() if key not in ("upn", "created_at")}
            await conn.execute(
                dialect_insert(database.dialect_name, ServiceAccountRow)
                .values(**values, updated_at=now)
                .on_conflict_do_update(
                    index_elements=[ServiceAccountRow.upn], set_={**changed, "updated_at": now}
                )
            )
    return versions


def _stored(row: Row[*tuple[Any, ...]]) -> StoredBatch:
    summary = json.loads(row.summary_json)
    return StoredBatch(
        id=row.id,
        status=BatchStatus(row.status),
        version=row.version,
        submitted_by=Person(aad_object_id=row.submitted_by_aad_id, display_name=row.submitted_by_name),
        source_name=row.source_name,
        total_rows=row.total_rows,
        problems=tuple(
            BatchProblem(p["row"], p.get("column"), p["code"], p["message"])
            for p in summary.get("problems", [])
        ),
        seats_needed=dict(summary.get("seatsNeeded", {})),
        decision=Decision.model_validate_json(row.decision_json) if row.decision_json else None,
        card_activity_id=row.card_activity_id,
        card_conversation=json.loads(row.card_conversation_json) if row.card_conversation_json else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
