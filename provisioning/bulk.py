"""Bulk onboarding: import a CSV as one batch of requests, and provision an approved batch through ``$batch``.

Import (:func:`import_csv`)
    The file is checked row by row (:mod:`onboarding.bulk`), every problem at once. Account names are
    planned against the directory with one ``startswith`` query per vendor prefix (not one look-up per
    row), against live requests, and across the file's own rows. The good rows become ordinary
    :class:`~onboarding.requests.OnboardingRequest` s, pending approval, stored with the batch in one
    transaction; the refused rows are the batch's problems, shown on its approval card.

Provisioning (:class:`BulkRunner`, job kind ``bulk_provision``)
    Each row keeps the single runner's guarantees (:mod:`provisioning.runner`): the same step log
    (``check``, ``create``, ``license``, ``groups``, ``record``), the password stored in the vault
    before the account is created, the request id as ``employeeId`` marker, a step that is done never
    runs again, and a failed row is failed with one catalogue sentence without stopping the others and
    can be retried (failed -> provisioning, then the job again).

    What differs is how Graph is driven. Writes travel in JSON batches of up to 20 (creates, license
    assignments and group additions mixed, each row's next write queued as soon as its previous one
    answered), several batches in flight, paced by a token bucket (:class:`WritePacer`) kept under
    Graph's identity write quota (3,000 writes per 150 s per app per tenant) that also waits out every
    ``Retry-After`` it is given. Reads are avoided: seats are read once per run, the account's object
    id comes from the create's answer and is recorded with the row, a replayed create is recognised by
    Graph's duplicate-UPN answer (then one look-up compares the marker), and "already a member" counts
    as done. So a row costs 3 writes (create, license, one group) and about 0.15 reads (its share of
    the ``$batch`` envelopes).

    Bookkeeping is written once per ``$batch`` answer (:func:`storage.bulk.commit_journal`): step
    marks, transitions and one audit record per Graph write (with the envelope's request-id) in one
    transaction. A crash between Graph's answer and that commit leaves steps not marked done; the next
    run sends them again and they reconcile (creates by UPN and marker, licenses and groups idempotently).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final, Protocol

from pydantic import SecretStr

from onboarding import requests as domain
from onboarding.audit import AuditAction, audit_detail
from onboarding.bulk import (
    BulkCode,
    BulkPlan,
    PlannedRow,
    RowError,
    parse_bulk_csv,
    plan_bulk,
    uncovered_upns,
    upn_prefixes,
)
from onboarding.config import OnboardingConfig
from onboarding.errors import NoFreeSeats as NoFreeSeatsError
from onboarding.licensing import SeatCount
from onboarding.messages import user_message
from onboarding.passwords import generate_temporary_password
from onboarding.plan import ProvisioningPlan, build_plan
from onboarding.requests import Decision, OnboardingRequest, Person, RequestStatus
from onboarding.segments import SegmentCatalog
from provisioning.accounts import (
    is_password_refusal,
    new_user,
    seat_count,
    service_account,
    unsupported_attributes,
)
from provisioning.batch import MAX_BATCH_REQUESTS, BatchResult, GraphBatch
from provisioning.directory import DirectoryUser, LicenseAssignment, SkuSeats
from provisioning.errors import (
    AlreadyExists,
    GraphError,
    InvalidRequest,
    NoFreeSeats,
    NotFound,
    Throttled,
)
from provisioning.graph import GraphGateway, odata_quote
from provisioning.graph_calls import capture_graph_calls
from provisioning.progress import STEP_CHECK, STEP_CREATE, STEP_GROUPS, STEP_LICENSE, STEP_RECORD
from provisioning.reasons import failure_reason
from provisioning.worker import BOT_ACTOR, BadJobPayload
from storage.bulk import (
    AuditEntry,
    BatchProblem,
    BatchRow,
    BatchStatus,
    BulkBatches,
    Journal,
    StepMark,
    StoredBatch,
    Transition,
    commit_journal,
)
from storage.clock import utc_now
from storage.database import Database
from storage.errors import ConcurrencyError
from storage.jobs import Job, JobQueue
from storage.requests import RequestStore, StepLog, StepState, StoredRequest
from storage.vault import CredentialVault

__all__ = [
    "BULK_CHECKPOINTS",
    "JOB_BULK_POST_CARD",
    "JOB_BULK_PROVISION",
    "BatchNotPending",
    "BatchProgressSink",
    "BulkOutcome",
    "BulkRunner",
    "ImportResult",
    "NullBatchProgress",
    "WritePacer",
    "batch_of_job",
    "bulk_payload",
    "decide_batch",
    "import_csv",
    "retry_failed_rows",
]

log = logging.getLogger(__name__)

JOB_BULK_PROVISION: Final = "bulk_provision"
#: Posts a freshly imported batch's approval card (the import may run in the command line, where no
#: Teams adapter exists: the bot's worker posts it).
JOB_BULK_POST_CARD: Final = "bulk_post_card"

#: Graph's identity write quota per app per tenant ("Microsoft Graph service-specific throttling limits").
GRAPH_WRITES_PER_WINDOW: Final = 3000
GRAPH_WRITE_WINDOW_SECONDS: Final = 150.0

#: Where the ``checkpoint`` test hook is called: after a ``$batch`` answered (nothing recorded yet), and
#: after its bookkeeping was committed.
BULK_CHECKPOINTS: Final = ("bulk:answered", "bulk:recorded")

_MAX_ATTEMPTS: Final = 6
_MAX_BACKOFF_SECONDS: Final = 15.0
_MAX_PASSWORD_ATTEMPTS: Final = 3
_DIRECTORY_PAGE: Final = 999


def bulk_payload(batch_id: int) -> str:
    """The payload of a ``bulk_provision`` or ``bulk_post_card`` job."""
    return json.dumps({"batch": batch_id})


def batch_of_job(job: Job) -> int:
    """The batch id of a job made with :func:`bulk_payload`; :class:`BadJobPayload` otherwise."""
    try:
        payload = json.loads(job.payload_json)
    except json.JSONDecodeError:
        raise BadJobPayload(f"job {job.id} ({job.kind}): the payload is not JSON") from None
    batch_id = payload.get("batch") if isinstance(payload, dict) else None
    if not isinstance(batch_id, int) or isinstance(batch_id, bool) or batch_id < 1:
        raise BadJobPayload(f"job {job.id} ({job.kind}): the payload has no batch id")
    return batch_id


class BatchProgressSink(Protocol):
    """Told after every change of a batch's rows (the notifier coalesces and updates the batch's card)."""

    async def batch_changed(self, batch_id: int) -> None:
        """Batch ``batch_id`` changed: re-read it and update its card."""
        ...


class NullBatchProgress:
    """A sink that tells nobody (command line, benchmarks)."""

    async def batch_changed(self, batch_id: int) -> None:
        """Do nothing."""


# ------------------------------------------------------------------------------------------ pacing


class WritePacer:
    """A token bucket for Graph writes: ``writes`` per ``window_seconds``, started full, shared by a run.

    ``headroom`` (0..1] keeps the rate a little under the quota, so clocks that disagree slightly with
    Graph's do not cost a 429. :meth:`hold_off` is how a ``Retry-After`` is honoured: no write is let
    through before it has passed, and the bucket is emptied (Graph said the quota is spent).
    """

    def __init__(
        self,
        writes: int = GRAPH_WRITES_PER_WINDOW,
        window_seconds: float = GRAPH_WRITE_WINDOW_SECONDS,
        *,
        headroom: float = 0.97,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if writes < 1 or window_seconds <= 0 or not 0 < headroom <= 1:
            raise ValueError("a write pacer needs writes >= 1, a positive window and 0 < headroom <= 1")
        self.capacity = max(1.0, writes * headroom)
        self.rate = writes * headroom / window_seconds
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._updated = clock()
        self._not_before = 0.0
        self._lock = asyncio.Lock()
        #: Seconds spent waiting for tokens or Retry-After (for the benchmark's explanation).
        self.waited = 0.0

    def _refill(self, now: float) -> None:
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    async def acquire(self, count: int) -> None:
        """Wait until ``count`` writes may be sent (callers are served in arrival order)."""
        need = min(float(count), self.capacity)
        async with self._lock:
            while True:
                now = self._clock()
                self._refill(now)
                wait = max(
                    self._not_before - now, (need - self._tokens) / self.rate if self._tokens < need else 0.0
                )
                if wait <= 0:
                    self._tokens -= need
                    return
                self.waited += wait
                await self._sleep(wait)

    def hold_off(self, seconds: float) -> None:
        """Graph answered 429 with ``Retry-After: seconds``: send no write before that."""
        now = self._clock()
        self._not_before = max(self._not_before, now + max(0.0, seconds))
        self._refill(now)
        self._tokens = 0.0


# ------------------------------------------------------------------------------------------ import


@dataclass(frozen=True)
class ImportResult:
    """What an import did: the stored batch (None when nothing was stored) and every row problem."""

    batch: StoredBatch | None
    plan: BulkPlan | None
    errors: tuple[RowError, ...]
    total_rows: int
    #: Graph reads the import made (directory prefix queries, sponsor and name look-ups, seats).
    graph_reads: int = 0

    @property
    def accepted(self) -> int:
        """Rows that became requests."""
        return len(self.plan.planned) if self.plan is not None and self.batch is not None else 0


async def import_csv(
    path: Path,
    *,
    submitted_by: Person,
    config: OnboardingConfig,
    catalog: SegmentCatalog | None,
    graph: GraphGateway,
    batches: BulkBatches,
    audit_database: Database | None = None,
    vendor_accounts_group_id: str | None = None,
    clock: Callable[[], datetime] = utc_now,
    source_name: str | None = None,
    dry_run: bool = False,
    jobs: JobQueue | None = None,
) -> ImportResult:
    """Read the CSV at ``path``, check every row, and store the good rows as one batch pending approval.

    The batch is stored even when some rows have problems (they are listed on its approval card and
    are not onboarded); nothing is stored when no row is good, the file itself is unreadable, or
    ``dry_run``. ``audit_database`` (the bot's database) receives a ``request.created`` and a
    ``request.submitted`` record per request, in the batch's transaction's wake. With ``jobs``, a
    ``bulk_post_card`` job asks the bot to post the batch's approval card. Graph is only read.
    """
    name = source_name or path.name
    try:
        text = await asyncio.to_thread(path.read_text, encoding="utf-8-sig")
    except UnicodeDecodeError:
        error = RowError(1, None, BulkCode.NOT_CSV, "The file is not UTF-8 text; save it as CSV UTF-8.")
        return ImportResult(None, None, (error,), 0)
    now = clock()
    parsed = parse_bulk_csv(text, config=config, today=now.date())
    if not parsed.rows:
        return ImportResult(None, None, parsed.errors, parsed.total_rows)
    with capture_graph_calls() as calls:
        seats = {sku.part_number: seat_count(sku) for sku in await graph.list_skus()}
        sponsors, unknown = await _sponsors(graph, {r.sponsor_upn for r in parsed.rows if r.sponsor_upn})
        prefixes = upn_prefixes(parsed.rows, config)
        taken = await _taken_under(graph, batches, prefixes)
        open_by_email = await batches.open_requests_by_email([r.contractor.email for r in parsed.rows])
        plan = plan_bulk(
            parsed,
            config=config,
            catalog=catalog,
            taken_upns=taken,
            open_requests_by_email=open_by_email,
            seats=seats,
            unknown_sponsors=unknown,
        )
        # Names a prefix query did not cover (a template starting with the person's name, or a vendor
        # name shortened differently) are looked up one by one, then the file is planned again.
        for _ in range(3):
            uncovered = [upn for upn in uncovered_upns(plan, prefixes) if upn not in taken]
            if not uncovered:
                break
            newly = await _taken_among(graph, batches, uncovered)
            if not newly:
                break
            taken |= newly
            plan = plan_bulk(
                parsed,
                config=config,
                catalog=catalog,
                taken_upns=taken,
                open_requests_by_email=open_by_email,
                seats=seats,
                unknown_sponsors=unknown,
            )
    reads = sum(1 for call in calls if not call.is_write)
    if dry_run or not plan.planned:
        return ImportResult(None, plan, plan.errors, plan.total_rows, reads)
    submitter = submitted_by

    def maker(item: PlannedRow) -> Callable[[int], tuple[OnboardingRequest, ProvisioningPlan]]:
        def make(number: int) -> tuple[OnboardingRequest, ProvisioningPlan]:
            row = item.row
            sponsor = sponsors.get(row.sponsor_upn, submitter) if row.sponsor_upn else submitter
            draft = domain.draft_request(
                number,
                row.contractor,
                row.access,
                requester=submitter,
                sponsor=sponsor,
                segment=row.segment,
                created_at=now,
            )
            request = domain.submit(draft, at=now)
            return request, build_plan(
                request,
                upn=item.upn,
                licenses=item.licenses,
                placement=item.placement,
                vendor_accounts_group_id=vendor_accounts_group_id,
            )

        return make

    batch = await batches.create(
        submitted_by=submitter,
        source_name=name,
        total_rows=plan.total_rows,
        problems=[BatchProblem(e.row, e.column, e.code, e.message) for e in plan.errors],
        seats_needed=plan.seats_needed,
        rows=[(item.row.row, maker(item)) for item in plan.planned],
    )
    if audit_database is not None:
        await _audit_import(audit_database, batches, batch, submitter)
    if jobs is not None:
        await jobs.enqueue(
            JOB_BULK_POST_CARD, bulk_payload(batch.id), dedupe_key=f"{JOB_BULK_POST_CARD}:{batch.id}"
        )
    log.info(
        "bulk batch imported",
        extra={
            "batch_id": batch.id,
            "rows": plan.total_rows,
            "accepted": len(plan.planned),
            "graph_reads": reads,
        },
    )
    return ImportResult(batch, plan, plan.errors, plan.total_rows, reads)


async def _audit_import(database: Database, batches: BulkBatches, batch: StoredBatch, by: Person) -> None:
    journal = Journal()
    for row in await batches.rows(batch.id):
        request_id = domain.format_request_id(row.request_number)
        detail = audit_detail(bulk_batch=batch.id, row=row.row, source=batch.source_name)
        for action in (AuditAction.REQUEST_CREATED, AuditAction.REQUEST_SUBMITTED):
            journal.audits.append(
                AuditEntry(action, request_id, by.aad_object_id, by.display_name, None, detail)
            )
    await commit_journal(database, batch.id, journal)


async def _sponsors(graph: GraphGateway, upns: set[str | None]) -> tuple[dict[str, Person], set[str]]:
    found: dict[str, Person] = {}
    unknown: set[str] = set()
    for upn in sorted(u for u in upns if u):
        user = await graph.find_user_by_upn(upn)
        if user is None or user.account_enabled is False:
            unknown.add(upn)
        else:
            found[upn] = Person(aad_object_id=user.id, display_name=user.display_name or upn)
    return found, unknown


async def _taken_under(graph: GraphGateway, batches: BulkBatches, prefixes: Sequence[str]) -> set[str]:
    """Account names under ``prefixes`` used in the directory or held by live requests (lower-cased)."""
    taken = await batches.reserved_upns(prefixes)
    for prefix in prefixes:
        users = await graph._list_users(  # package-internal: one filtered page of users
            f"startswith(userPrincipalName,{odata_quote(prefix)})",
            top=_DIRECTORY_PAGE,
            what=f"list accounts starting {prefix}",
        )
        taken |= {user.user_principal_name.lower() for user in users}
        if len(users) >= _DIRECTORY_PAGE:
            log.warning("more accounts under a prefix than one page holds", extra={"prefix": prefix})
    return taken


async def _taken_among(graph: GraphGateway, batches: BulkBatches, upns: Sequence[str]) -> set[str]:
    taken = await batches.reserved_upns((), upns)
    for upn in upns:
        if upn not in taken and await graph.find_user_by_upn(upn) is not None:
            taken.add(upn)
    return taken


# ------------------------------------------------------------------------------------------ decisions


class BatchNotPending(Exception):
    """The batch was already decided (a second click, a stale card): ``batch`` is how it stands now."""

    def __init__(self, batch: StoredBatch) -> None:
        super().__init__(f"bulk batch {batch.id} is {batch.status.value}")
        self.batch = batch


async def decide_batch(
    database: Database,
    batches: BulkBatches,
    requests: RequestStore,
    batch_id: int,
    by: Person,
    *,
    approve: bool,
    comment: str | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> StoredBatch:
    """Approve (or reject, with a comment) batch ``batch_id`` and every one of its pending requests.

    The batch moves first, by compare-and-set, so of two approvers clicking at once exactly one decides;
    the other gets :class:`BatchNotPending`. The submitter can never decide their own batch
    (:class:`~onboarding.errors.SelfApprovalRefused`, raised before anything changes). Role checks are the
    caller's. Each request's transition is audited like a single approval.
    """
    batch = await batches.get(batch_id)
    if batch is None:
        raise LookupError(f"there is no bulk batch {batch_id}")
    if batch.status is not BatchStatus.PENDING_APPROVAL:
        raise BatchNotPending(batch)
    at = clock()
    rows = await batches.rows(batch_id)
    journal = Journal()
    for row in rows:
        stored = await requests.get(row.request_number)
        if stored is None or stored.request.status is not RequestStatus.PENDING_APPROVAL:
            continue
        decided = (
            domain.approve(stored.request, by, at, comment)
            if approve
            else domain.reject(stored.request, by, at, comment or "")
        )
        journal.transitions.append(Transition(decided, stored.version))
        journal.audits.append(
            AuditEntry(
                AuditAction.REQUEST_APPROVED if approve else AuditAction.REQUEST_REJECTED,
                decided.request_id,
                by.aad_object_id,
                by.display_name,
                stored.plan.upn,
                audit_detail(
                    bulk_batch=batch_id, comment=decided.decision.comment if decided.decision else None
                ),
            )
        )
    decision = Decision(by=by, at=at, comment=comment.strip() if comment and comment.strip() else None)
    status = BatchStatus.APPROVED if approve else BatchStatus.REJECTED
    try:
        decided_batch = await batches.replace_status(batch_id, batch.version, status, decision=decision)
    except ConcurrencyError:
        current = await batches.get(batch_id)
        raise BatchNotPending(current or batch) from None
    await commit_journal(database, batch_id, journal, clock=clock)
    return decided_batch


async def retry_failed_rows(
    database: Database,
    batches: BulkBatches,
    requests: RequestStore,
    batch_id: int,
    by: Person,
    *,
    clock: Callable[[], datetime] = utc_now,
) -> int:
    """Move the batch's failed requests back to provisioning (run :class:`BulkRunner` next); how many."""
    journal = Journal()
    for row in await batches.rows(batch_id):
        stored = await requests.get(row.request_number)
        if stored is None or stored.request.status is not RequestStatus.FAILED:
            continue
        retried = domain.retry(stored.request, at=clock())
        journal.transitions.append(Transition(retried, stored.version))
        journal.audits.append(
            AuditEntry(
                AuditAction.PROVISIONING_RETRIED,
                retried.request_id,
                by.aad_object_id,
                by.display_name,
                stored.plan.upn,
                audit_detail(bulk_batch=batch_id, attempt=retried.attempts),
            )
        )
    versions = await commit_journal(database, batch_id, journal, clock=clock)
    return sum(1 for version in versions.values() if version is not None)


# ------------------------------------------------------------------------------------ provisioning


@dataclass(frozen=True)
class BulkOutcome:
    """How a run ended: requests provisioned, failed, and still provisioning (a transient wait)."""

    provisioned: int
    failed: int
    unfinished: int
    writes: int
    envelopes: int


@dataclass
class _Row:
    """One request of the batch while the run drives it."""

    stored: StoredRequest
    user_id: str | None
    done: set[str]
    group_ids_left: list[str]
    password: SecretStr | None = None
    attempts: int = 0
    password_attempts: int = 0
    ready_at: float = 0.0
    in_flight: bool = False
    finished: bool = False

    @property
    def number(self) -> int:
        return self.stored.request.number

    @property
    def plan(self) -> ProvisioningPlan:
        return self.stored.plan

    @property
    def request_id(self) -> str:
        return self.stored.request.request_id

    def next_step(self) -> str | None:
        for step in (STEP_CREATE, STEP_LICENSE, STEP_GROUPS, STEP_RECORD):
            if step not in self.done:
                return step
        return None


@dataclass(frozen=True)
class _Op:
    row: _Row
    step: str
    group_id: str | None = None


@dataclass
class _Envelope:
    ops: list[_Op]
    results: dict[int, BatchResult] = field(default_factory=dict)
    error: GraphError | None = None
    graph_request_id: str | None = None


class BulkRunner:
    """Provisions an approved batch's requests through JSON batches, paced under the write quota."""

    def __init__(
        self,
        graph: GraphGateway,
        database: Database,
        requests: RequestStore,
        steps: StepLog,
        vault: CredentialVault,
        batches: BulkBatches,
        progress: BatchProgressSink,
        *,
        pacer: WritePacer | None = None,
        clock: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        password_ttl: timedelta = timedelta(hours=24),
        max_in_flight: int = 8,
        replication_wait: float = 120.0,
        checkpoint: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        """Wire the run. ``pacer`` defaults to Graph's quota (3,000 writes / 150 s); ``max_in_flight``
        bounds the ``$batch`` envelopes sent at once; ``checkpoint`` is a test hook called at each of
        :data:`BULK_CHECKPOINTS` (raise from it to simulate a crash there)."""
        self._graph = graph
        self._db = database
        self._requests = requests
        self._steps = steps
        self._vault = vault
        self._batches = batches
        self._progress = progress
        self.pacer = pacer if pacer is not None else WritePacer()
        self._clock = clock
        self._monotonic = monotonic
        self._password_ttl = password_ttl
        self._max_in_flight = max(1, max_in_flight)
        self._replication_wait = replication_wait
        self._checkpoint = checkpoint

    def job_handlers(self) -> dict[str, Callable[[Job], Awaitable[None]]]:
        """The handler for :class:`~provisioning.worker.JobWorker`: ``bulk_provision``."""
        return {JOB_BULK_PROVISION: self.provision_job}

    async def provision_job(self, job: Job) -> None:
        """Run a ``bulk_provision`` job (payload from :func:`bulk_payload`)."""
        batch_id = batch_of_job(job)
        outcome = await self.provision(batch_id, last_attempt=job.attempts >= job.max_attempts)
        if outcome.unfinished:
            # Rows still waiting on Graph (throttled or unavailable too long): the queue retries the job.
            raise _Unfinished(f"batch {batch_id}: {outcome.unfinished} row(s) still provisioning")

    async def provision(self, batch_id: int, *, last_attempt: bool = True) -> BulkOutcome:
        """Provision every approved or provisioning request of batch ``batch_id``; resume where it stopped.

        Rows failed for good are marked failed (Retry moves them back to provisioning, then run this again).
        ``last_attempt`` False leaves rows that ran out of attempts on a transient error provisioning (a
        later job resumes them) instead of failing them.
        """
        batch = await self._batches.get(batch_id)
        if batch is None or batch.status is not BatchStatus.APPROVED:
            log.info("bulk provision: nothing to do", extra={"batch_id": batch_id})
            return BulkOutcome(0, 0, 0, 0, 0)
        rows = await self._start(batch_id, await self._batches.rows(batch_id))
        skus: dict[str, SkuSeats] = {}
        if any(STEP_LICENSE not in row.done for row in rows):
            # The run's one read of the seats: the check gives them out, the license step needs the ids.
            skus = {sku.part_number: sku for sku in await self._graph.list_skus()}
        await self._check(batch_id, rows, skus)
        run = _Run(self, batch_id, rows, skus, last_attempt)
        await run.drive()
        provisioned = failed = unfinished = 0
        for row in rows:
            status = row.stored.request.status
            provisioned += status is RequestStatus.PROVISIONED
            failed += status is RequestStatus.FAILED
            unfinished += status is RequestStatus.PROVISIONING
        await self._maybe_complete(batch_id)
        await self._notify(batch_id)
        log.info(
            "bulk provision run ended",
            extra={
                "batch_id": batch_id,
                "provisioned": provisioned,
                "failed": failed,
                "unfinished": unfinished,
                "writes": run.writes,
                "envelopes": run.envelopes,
            },
        )
        return BulkOutcome(provisioned, failed, unfinished, run.writes, run.envelopes)

    # ------------------------------------------------------------------------------------ phases

    async def _start(self, batch_id: int, batch_rows: list[BatchRow]) -> list[_Row]:
        """Load the rows to drive; approved ones move to provisioning (one transaction)."""
        journal = Journal()
        loaded: list[tuple[BatchRow, StoredRequest]] = []
        for batch_row in batch_rows:
            stored = await self._requests.get(batch_row.request_number)
            if stored is None or stored.request.status not in (
                RequestStatus.APPROVED,
                RequestStatus.PROVISIONING,
            ):
                continue
            if stored.request.status is RequestStatus.APPROVED:
                started = domain.start_provisioning(stored.request, at=self._clock())
                journal.transitions.append(Transition(started, stored.version))
                journal.audits.append(
                    _audit(AuditAction.PROVISIONING_STARTED, started, detail={"attempt": started.attempts})
                )
                stored = replace(stored, request=started, version=stored.version + 1)
            loaded.append((batch_row, stored))
        versions = await commit_journal(self._db, batch_id, journal, clock=self._clock)
        done_steps = await self._batches.done_steps([stored.request.number for _, stored in loaded])
        rows: list[_Row] = []
        for batch_row, stored in loaded:
            number = stored.request.number
            if number in versions and versions[number] is None:
                continue  # another run started it meanwhile; that run drives it
            done = done_steps.get(number, set())
            rows.append(_Row(stored, batch_row.user_id, done, list(stored.plan.group_ids)))
        if journal:
            await self._notify(batch_id)
        return rows

    async def _check(self, batch_id: int, rows: list[_Row], skus: dict[str, SkuSeats]) -> None:
        """The ``check`` step for every row at once: the seats read once, given out in file order."""
        journal = Journal()
        pending = [row for row in rows if STEP_CHECK not in row.done]
        needing = [row for row in rows if STEP_LICENSE not in row.done]
        free = {part: sku.free for part, sku in skus.items()}
        # Rows past their check already hold their seat claim; they are served first.
        for row in needing:
            if STEP_CHECK in row.done:
                for part in row.plan.license_part_numbers:
                    free[part] = free.get(part, 0) - 1
        for row in pending:
            unsupported = unsupported_attributes(row.plan)
            if unsupported:
                self._fail(
                    journal, row, STEP_CHECK, failure_reason("unsupported_attribute", property=unsupported[0])
                )
                continue
            short = [
                seat_count(skus[part]).describe()
                if part in skus
                else f"the tenant has no {part} subscription"
                for part in row.plan.license_part_numbers
                if free.get(part, 0) < 1
            ]
            if short:
                reasons = [f"no free seat left for this row ({text})" for text in short]
                self._fail(journal, row, STEP_CHECK, user_message(NoFreeSeatsError(reasons)))
                continue
            for part in row.plan.license_part_numbers:
                free[part] -= 1
            self._done(journal, row, STEP_CHECK, "a seat of every planned license is reserved for this row")
        await self._commit(batch_id, journal, rows)

    async def _maybe_complete(self, batch_id: int) -> None:
        counts = await self._batches.status_counts(batch_id)
        if sum(counts.values()) and counts.get(RequestStatus.PROVISIONED, 0) == sum(counts.values()):
            batch = await self._batches.get(batch_id)
            if batch is not None and batch.status is BatchStatus.APPROVED:
                with contextlib.suppress(ConcurrencyError):
                    await self._batches.replace_status(batch_id, batch.version, BatchStatus.COMPLETED)

    # ----------------------------------------------------------------------------- bookkeeping

    def _done(
        self, journal: Journal, row: _Row, step: str, detail: str, graph_request_id: str | None = None
    ) -> None:
        row.done.add(step)
        journal.steps.append(StepMark(row.number, step, StepState.DONE, detail, graph_request_id))
        journal.audits.append(
            _audit(
                AuditAction.PROVISIONING_STEP_COMPLETED,
                row.stored.request,
                detail={"step": step, "detail": detail},
                graph_request_id=graph_request_id,
            )
        )

    def _fail(
        self, journal: Journal, row: _Row, step: str, reason: str, graph_request_id: str | None = None
    ) -> None:
        row.finished = True
        journal.steps.append(StepMark(row.number, step, StepState.FAILED, reason, graph_request_id))
        failed = domain.mark_failed(row.stored.request, step, reason, at=self._clock())
        journal.transitions.append(Transition(failed, row.stored.version))
        journal.audits.append(
            _audit(
                AuditAction.PROVISIONING_FAILED,
                failed,
                detail={"step": step, "reason": reason},
                graph_request_id=graph_request_id,
            )
        )
        row.stored = replace(row.stored, request=failed, version=row.stored.version + 1)
        log.warning("bulk row failed", extra={"request_id": row.request_id, "step": step, "reason": reason})

    async def _record(self, journal: Journal, row: _Row) -> None:
        """The ``record`` step: the service-account row, the reveal window, the request provisioned."""
        request, plan = row.stored.request, row.plan
        assert row.user_id is not None  # the create answered (or was reconciled) before this step
        renewed = await self._vault.renew(row.number, ttl=self._password_ttl)
        journal.accounts.append(
            service_account(request, plan, number=row.number, user_id=row.user_id, created_at=self._clock())
        )
        self._done(
            journal,
            row,
            STEP_RECORD,
            "recorded" if renewed else "recorded; the temporary password had expired",
        )
        finished = domain.mark_provisioned(request, at=self._clock())
        journal.transitions.append(Transition(finished, row.stored.version))
        journal.audits.append(
            _audit(AuditAction.PROVISIONING_SUCCEEDED, finished, detail={}, target=plan.upn)
        )
        row.stored = replace(row.stored, request=finished, version=row.stored.version + 1)
        row.finished = True

    async def _commit(self, batch_id: int, journal: Journal, rows: Sequence[_Row]) -> None:
        if not journal:
            return
        versions = await commit_journal(self._db, batch_id, journal, clock=self._clock)
        lost = [number for number, version in versions.items() if version is None]
        if lost:
            # Someone else changed these requests meanwhile (not expected while provisioning): re-read them.
            for row in rows:
                if row.number in lost:
                    fresh = await self._requests.get(row.number)
                    if fresh is not None:
                        row.stored = fresh
                    row.finished = True
        else:
            # Our own view of each request already carries the new version (version + 1 per transition).
            pass
        await self._notify(batch_id)

    async def _password(self, row: _Row, *, replace_held: bool = False) -> SecretStr:
        """The row's temporary password, stored in the vault before any create carries it.

        Without ``replace_held`` a password the vault still holds (an earlier run's, whose create may have
        gone through) wins over the new one, so the account and the vault always agree.
        """
        await self._vault.store(
            row.number,
            row.plan.upn,
            row.stored.request.requester.aad_object_id,
            generate_temporary_password(),
            ttl=self._password_ttl,
            replace=replace_held,
        )
        held = await self._vault.pending_password(row.number)
        if held is None:  # pragma: no cover - stored a moment ago with a positive ttl
            raise RuntimeError(f"{row.request_id}: the vault did not keep the temporary password")
        return held

    async def _notify(self, batch_id: int) -> None:
        try:
            await self._progress.batch_changed(batch_id)
        except Exception:
            # A card that cannot be updated must never stop (or repeat) the Graph work.
            log.exception("batch progress sink failed", extra={"batch_id": batch_id})

    async def _reached(self, point: str) -> None:
        if self._checkpoint is not None:
            await self._checkpoint(point)


class _LeanBatch(GraphBatch):
    """A :class:`GraphBatch` that reads a successful create's answer without the SDK's model parser.

    msgraph's ``User`` deserializer costs about 10 ms per call (its field table is rebuilt, with ~1,300
    lazy imports looked up, on every parse: measured in the bulk profile), which at 20 creates per second
    would eat a fifth of the event loop. The run needs only the new id, so it takes it from the JSON.
    """

    async def _result(self, step: Any, answer: dict[str, Any] | None) -> BatchResult:
        status = int((answer or {}).get("status") or 0)
        body = (answer or {}).get("body")
        spec = getattr(step, "spec", None)
        if step.kind == "create_user" and spec is not None and 200 <= status < 300 and isinstance(body, dict):
            user_id = body.get("id")
            if isinstance(user_id, str) and user_id:
                user = DirectoryUser(
                    id=user_id,
                    user_principal_name=str(body.get("userPrincipalName") or spec.user_principal_name),
                    display_name=spec.display_name,
                    employee_id=spec.marker,
                    usage_location=spec.usage_location,
                )
                return BatchResult(step.step_id, step.kind, status, user=user)
        return await super()._result(step, answer)


class _Unfinished(Exception):
    """Some rows still wait on Graph; the job queue runs the job again later."""

    retryable = True


class _Run:
    """One pass over a batch: the dispatcher of ``$batch`` envelopes and the handling of their answers."""

    def __init__(
        self,
        runner: BulkRunner,
        batch_id: int,
        rows: list[_Row],
        skus: dict[str, SkuSeats],
        last_attempt: bool,
    ) -> None:
        self.r = runner
        self.skus = {part: sku.sku_id for part, sku in skus.items()}
        self.batch_id = batch_id
        self.rows = rows
        self.last_attempt = last_attempt
        self.writes = 0
        self.envelopes = 0
        self._ready: deque[_Op] = deque()
        self._waiting: list[_Op] = []

    async def drive(self) -> None:
        """Queue each row's next write, send envelopes until every row is finished or out of attempts."""
        journal = Journal()
        for row in self.rows:
            if not row.finished:
                await self._advance(journal, row)
        await self.r._commit(self.batch_id, journal, self.rows)
        in_flight: set[asyncio.Task[_Envelope]] = set()
        try:
            await self._loop(in_flight)
        finally:
            # A crash (or a cancelled job) must not leave envelopes running unseen in the background.
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)

    async def _loop(self, in_flight: set[asyncio.Task[_Envelope]]) -> None:
        while self._ready or self._waiting or in_flight:
            self._release_due()
            # Fill envelopes: a partial one only goes when nothing in flight could add more ops to it.
            while self._ready and len(in_flight) < self.r._max_in_flight:
                if len(self._ready) < MAX_BATCH_REQUESTS and in_flight:
                    break
                ops = [self._ready.popleft() for _ in range(min(MAX_BATCH_REQUESTS, len(self._ready)))]
                for op in ops:
                    op.row.in_flight = True
                in_flight.add(asyncio.create_task(self._send(ops)))
            if not in_flight:
                if self._waiting:
                    await asyncio.sleep(
                        max(0.0, min(op.row.ready_at for op in self._waiting) - self.r._monotonic())
                    )
                continue
            timeout = None
            if self._waiting:
                timeout = max(0.0, min(op.row.ready_at for op in self._waiting) - self.r._monotonic())
            finished, _ = await asyncio.wait(in_flight, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            for task in finished:
                in_flight.discard(task)
                await self._handle(task.result())

    def _release_due(self) -> None:
        now = self.r._monotonic()
        due = [op for op in self._waiting if op.row.ready_at <= now]
        if due:
            self._waiting = [op for op in self._waiting if op.row.ready_at > now]
            self._ready.extend(due)

    async def _advance(self, journal: Journal, row: _Row) -> None:
        """Queue the row's next Graph write, or record it when only the record step is left."""
        step = row.next_step()
        if step is None or row.finished:
            row.finished = True
            return
        if step == STEP_GROUPS and not row.group_ids_left:
            self.r._done(journal, row, STEP_GROUPS, "no groups planned")
            step = STEP_RECORD
        if step in (STEP_LICENSE, STEP_GROUPS, STEP_RECORD) and row.user_id is None:
            # Created by an earlier run that stopped before recording the id: one look-up finds it.
            user = await self.r._graph.find_user_by_upn(row.plan.upn)
            if user is None or user.employee_id != row.plan.employee_id:
                missing = failure_reason("account_missing", upn=row.plan.upn, seconds=0)
                self.r._fail(journal, row, step, missing)
                return
            row.user_id = user.id
            journal.user_ids[row.number] = user.id
        if step == STEP_RECORD:
            await self.r._record(journal, row)
            return
        if step == STEP_GROUPS:
            for group_id in row.group_ids_left:
                self._ready.append(_Op(row, step, group_id))
        else:
            self._ready.append(_Op(row, step))

    async def _send(self, ops: list[_Op]) -> _Envelope:
        envelope = _Envelope(ops)
        for op in ops:
            if op.step == STEP_CREATE and op.row.password is None:
                # The vault holds the password before any create carries it (and a re-run reuses it).
                op.row.password = await self.r._password(op.row)
        await self.r.pacer.acquire(len(ops))
        batch = _LeanBatch(self.r._graph)
        ids: list[str] = []
        skus = self.skus
        for op in ops:
            row, plan = op.row, op.row.plan
            if op.step == STEP_CREATE:
                assert row.password is not None
                ids.append(batch.create_user(new_user(plan, row.password)))
            elif op.step == STEP_LICENSE:
                add = [
                    LicenseAssignment(sku_id=skus[part]) for part in plan.license_part_numbers if part in skus
                ]
                ids.append(batch.assign_licenses(row.user_id or plan.upn, add=add))
            else:
                assert op.group_id is not None
                assert row.user_id is not None
                ids.append(batch.add_group_member(op.group_id, row.user_id))
        try:
            with capture_graph_calls() as calls:
                answers = await batch.send()
        except GraphError as err:
            envelope.error = err
            return envelope
        envelope.graph_request_id = next(
            (c.request_id[:64] for c in reversed(calls) if c.path.endswith("/$batch") and c.request_id), None
        )
        for index, step_id in enumerate(ids):
            envelope.results[index] = answers[step_id]
        return envelope

    async def _handle(self, envelope: _Envelope) -> None:
        self.envelopes += 1
        await self.r._reached("bulk:answered")
        journal = Journal()
        now = self.r._monotonic()
        for index, op in enumerate(envelope.ops):
            op.row.in_flight = False
            result = envelope.results.get(index)
            error = envelope.error if result is None else result.error
            if error is None and result is not None:
                self.writes += 1
                await self._succeeded(journal, op, result, envelope.graph_request_id)
            elif error is not None:
                await self._failed(journal, op, error, now)
        await self.r._commit(self.batch_id, journal, self.rows)
        await self.r._reached("bulk:recorded")

    async def _succeeded(
        self, journal: Journal, op: _Op, result: BatchResult, request_id: str | None
    ) -> None:
        row, plan = op.row, op.row.plan
        request = row.stored.request
        row.attempts = 0
        if op.step == STEP_CREATE:
            assert result.user is not None
            row.user_id = result.user.id
            journal.user_ids[row.number] = result.user.id
            journal.audits.append(
                _audit(
                    AuditAction.ACCOUNT_CREATED,
                    request,
                    target=plan.upn,
                    detail={
                        "user_id": result.user.id,
                        "upn": plan.upn,
                        "marker": plan.employee_id,
                        "bulk": True,
                    },
                    graph_request_id=request_id,
                )
            )
            text = (
                f"{plan.upn} already existed (created by an earlier attempt)"
                if result.reconciled
                else f"created {plan.upn}"
            )
            self.r._done(journal, row, STEP_CREATE, text, request_id)
        elif op.step == STEP_LICENSE:
            journal.audits.append(
                _audit(
                    AuditAction.LICENSES_ASSIGNED,
                    request,
                    target=plan.upn,
                    detail={"user_id": row.user_id, "skus": list(plan.license_part_numbers)},
                    graph_request_id=request_id,
                )
            )
            self.r._done(
                journal, row, STEP_LICENSE, f"assigned {', '.join(plan.license_part_numbers)}", request_id
            )
        else:
            assert op.group_id is not None
            if op.group_id in row.group_ids_left:
                row.group_ids_left.remove(op.group_id)
            journal.audits.append(
                _audit(
                    AuditAction.GROUP_MEMBER_ADDED,
                    request,
                    target=op.group_id,
                    detail={"user_id": row.user_id, "group_id": op.group_id},
                    graph_request_id=request_id,
                )
            )
            if row.group_ids_left:
                return
            self.r._done(journal, row, STEP_GROUPS, f"added to {len(plan.group_ids)} group(s)", request_id)
        await self._advance(journal, row)

    async def _failed(self, journal: Journal, op: _Op, error: GraphError, now: float) -> None:
        row, plan = op.row, op.row.plan
        if row.finished:
            return  # another op of the same row (a second group) already failed it
        if isinstance(error, AlreadyExists) and op.step == STEP_CREATE:
            taken = failure_reason("upn_taken", upn=plan.upn)
            self.r._fail(journal, row, STEP_CREATE, taken, error.request_id)
            return
        if isinstance(error, InvalidRequest) and op.step == STEP_CREATE and is_password_refusal(error):
            row.password_attempts += 1
            if row.password_attempts >= _MAX_PASSWORD_ATTEMPTS:
                self.r._fail(journal, row, STEP_CREATE, failure_reason("weak_password"), error.request_id)
                return
            # Nothing was created (a 400): the refused password is replaced in the vault first.
            row.password = await self.r._password(row, replace_held=True)
            self._ready.append(op)
            return
        if isinstance(error, NoFreeSeats):
            fresh = {sku.part_number: sku for sku in await self.r._graph.list_skus()}
            reasons = [
                seat_count(fresh[p]).describe() if p in fresh else f"no {p} subscription"
                for p in plan.license_part_numbers
            ]
            self.r._fail(
                journal, row, STEP_LICENSE, user_message(NoFreeSeatsError(reasons)), error.request_id
            )
            return
        waited_out = isinstance(error, NotFound) and op.step != STEP_CREATE
        if error.retryable or waited_out:
            row.attempts += 1
            limit = _MAX_ATTEMPTS if not waited_out else max(_MAX_ATTEMPTS, int(self.r._replication_wait))
            if row.attempts > limit:
                if self.last_attempt or waited_out:
                    code = "not_found" if waited_out else "graph.gave_up"
                    action = _ACTIONS[op.step]
                    self.r._fail(
                        journal,
                        row,
                        op.step,
                        failure_reason(code, action=action, seconds=self.r._replication_wait),
                        error.request_id,
                    )
                else:
                    row.finished = True  # left provisioning: the job runs again later
                return
            delay = min(_MAX_BACKOFF_SECONDS, 0.5 * 2 ** (row.attempts - 1))
            if isinstance(error, Throttled):
                delay = error.retry_after if error.retry_after is not None else delay
                self.r.pacer.hold_off(delay)
            row.ready_at = now + delay
            self._waiting.append(op)
            return
        reason = failure_reason(
            "graph.invalid_request" if error.code not in _PERMISSION_CODES else error.code,
            upn=plan.upn,
            action=_ACTIONS[op.step],
            graph_code=error.graph_code or error.code,
            request_id=error.request_id or "none",
        )
        self.r._fail(journal, row, op.step, reason, error.request_id)


_PERMISSION_CODES: Final = frozenset({"graph.permission_denied"})
_ACTIONS: Final = {
    STEP_CREATE: "create the account",
    STEP_LICENSE: "assign licenses",
    STEP_GROUPS: "add the account to its groups",
}


def _audit(
    action: AuditAction,
    request: OnboardingRequest,
    *,
    detail: dict[str, object],
    target: str | None = None,
    graph_request_id: str | None = None,
) -> AuditEntry:
    return AuditEntry(
        action=action,
        request_id=request.request_id,
        actor_aad_id=None,
        actor_name=BOT_ACTOR,
        target=target,
        detail=audit_detail(**detail),
        graph_request_id=graph_request_id,
    )


def seat_counts(skus: Sequence[SkuSeats]) -> dict[str, SeatCount]:
    """Seat counts by part number, as the domain reads them."""
    return {sku.part_number: seat_count(sku) for sku in skus}
