"""``jobs``: a durable job queue that several bot instances share without running a job twice.

Life of a job::

    enqueue ──> pending ──claim──> running ──complete──> done
                   ^                  │ │
                   └──fail (retry)────┘ └──fail (no retry, or last attempt)──> dead
                   (after a backoff)     lease expired: claimable again (dead if it was the last attempt)

A claim leases the job to one worker for ``lease_seconds``; the worker extends the lease with
:meth:`JobQueue.heartbeat` while it works. If the worker dies, the lease runs out and another worker
claims the job. Claiming is one atomic statement: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, one
conditional ``UPDATE`` under SQLite's write lock. Every time comes from the injected clock.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, Update, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage._sql import dialect_insert
from storage.clock import Clock, as_utc, utc_now
from storage.database import Database
from storage.errors import LeaseLostError, StorageError
from storage.models import JobRow

_MAX_ERROR_CHARS = 2000
_COLUMNS = tuple(JobRow.__table__.c)


class JobState(StrEnum):
    """Where a job is in its life. ``done`` and ``dead`` are final."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class Job:
    """A snapshot of one job row."""

    id: int
    kind: str
    payload_json: str
    dedupe_key: str | None
    state: JobState
    attempts: int
    max_attempts: int
    run_after: datetime
    lease_owner: str | None
    lease_expires_at: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        """Whether the job is done or dead (its dedupe key is free again)."""
        return self.state in (JobState.DONE, JobState.DEAD)


@dataclass(frozen=True, slots=True)
class Enqueued:
    """What :meth:`JobQueue.enqueue` did: the job, and whether it was created (False: deduplicated)."""

    job: Job
    created: bool


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often a failing job is tried and how long it waits in between (exponential, capped)."""

    max_attempts: int = 5
    backoff_base_seconds: float = 10.0
    backoff_max_seconds: float = 900.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.backoff_base_seconds < 0 or self.backoff_max_seconds < 0:
            raise ValueError("backoff seconds cannot be negative")

    def delay(self, attempts: int) -> timedelta:
        """Wait after the ``attempts``-th failed attempt: base, 2x base, 4x base, ... up to the cap."""
        exponent = max(attempts - 1, 0)
        # Cap the exponent before computing so a large attempt count cannot overflow a float.
        seconds = self.backoff_base_seconds * 2 ** min(exponent, 62)
        return timedelta(seconds=min(seconds, self.backoff_max_seconds))


class JobQueue:
    """Enqueue, claim, heartbeat, complete and fail jobs. Worker ids must be unique per running worker."""

    def __init__(
        self, database: Database, *, clock: Clock = utc_now, retry: RetryPolicy | None = None
    ) -> None:
        """Use ``database``; every timestamp and due time comes from ``clock``."""
        self._db = database
        self._clock = clock
        self._retry = retry or RetryPolicy()

    async def enqueue(
        self,
        kind: str,
        payload_json: str,
        *,
        dedupe_key: str | None = None,
        run_after: datetime | None = None,
        max_attempts: int | None = None,
    ) -> Enqueued:
        """Add a job, due at ``run_after`` (default now).

        With a ``dedupe_key``, while an unfinished (pending or running) job has the same key no second job
        is created: the existing one is returned with ``created=False``. This holds across instances (a
        partial unique index decides).
        """
        if not kind or len(kind) > 64:
            raise ValueError("job kind must be 1-64 characters")
        if dedupe_key is not None and not 0 < len(dedupe_key) <= 255:
            raise ValueError("dedupe_key must be 1-255 characters")
        json.loads(payload_json)  # refuse a payload the worker could never parse
        attempts_allowed = self._retry.max_attempts if max_attempts is None else max_attempts
        if attempts_allowed < 1:
            raise ValueError("max_attempts must be at least 1")
        now = self._clock()
        due = now if run_after is None else as_utc(run_after)
        insert = (
            dialect_insert(self._db.dialect_name, JobRow)
            .values(
                kind=kind,
                payload_json=payload_json,
                dedupe_key=dedupe_key,
                state=JobState.PENDING.value,
                attempts=0,
                max_attempts=attempts_allowed,
                run_after=due,
                created_at=now,
                updated_at=now,
            )
            # No conflict target: the only unique index that can conflict is the active-dedupe-key one.
            .on_conflict_do_nothing()
            .returning(*_COLUMNS)
        )
        async with self._db.transaction(write=True) as conn:
            # A conflicting job can finish between the insert and the look-up; then insert again.
            for _ in range(5):
                row = (await conn.execute(insert)).first()
                if row is not None:
                    return Enqueued(_job(row), created=True)
                existing = await self._active_by_dedupe_key(conn, dedupe_key)
                if existing is not None:
                    return Enqueued(existing, created=False)
        raise StorageError(f"could not enqueue {kind!r}: dedupe key {dedupe_key!r} kept changing hands")

    async def claim(self, worker_id: str, kinds: Collection[str] | None, lease_seconds: float) -> Job | None:
        """Lease the next due job of one of ``kinds`` (all kinds when ``None``) to ``worker_id``.

        Due means pending with ``run_after`` reached, or running with an expired lease (its worker is
        gone). Each claim counts as an attempt. Returns ``None`` when nothing is due.
        """
        if not worker_id or len(worker_id) > 255:
            raise ValueError("worker_id must be 1-255 characters")
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        now = self._clock()
        pg = self._db.is_postgresql
        due = or_(
            and_(JobRow.state == JobState.PENDING.value, JobRow.run_after <= now),
            and_(JobRow.state == JobState.RUNNING.value, JobRow.lease_expires_at <= now),
        )
        candidate = (
            select(JobRow.id)
            .where(due, JobRow.attempts < JobRow.max_attempts)
            .order_by(JobRow.run_after, JobRow.id)
            .limit(1)
        )
        if kinds is not None:
            if not kinds:
                return None
            candidate = candidate.where(JobRow.kind.in_(list(kinds)))
        if pg:
            candidate = candidate.with_for_update(skip_locked=True)
        claim = (
            update(JobRow)
            .where(JobRow.id == candidate.scalar_subquery())
            .values(
                state=JobState.RUNNING.value,
                lease_owner=worker_id,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                attempts=JobRow.attempts + 1,
                updated_at=now,
            )
            .returning(*_COLUMNS)
        )
        bury = self._bury_exhausted(now)

        def claim_next(conn: Connection) -> Row[Any] | None:
            conn.execute(bury)
            return conn.execute(claim).first()

        # The worker polls twice a second: on SQLite this runs without a thread hop (run_transaction).
        row = await self._db.run_transaction(claim_next)
        return None if row is None else _job(row)

    async def heartbeat(self, job_id: int, worker_id: str, lease_seconds: float) -> Job:
        """Extend the lease to ``lease_seconds`` from now; raise :class:`LeaseLostError` if it is not ours."""
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        now = self._clock()
        statement = (
            update(JobRow)
            .where(*_held_by(job_id, worker_id))
            .values(lease_expires_at=now + timedelta(seconds=lease_seconds), updated_at=now)
            .returning(*_COLUMNS)
        )
        async with self._db.transaction(write=True) as conn:
            row = (await conn.execute(statement)).first()
        if row is None:
            raise LeaseLostError(job_id, worker_id)
        return _job(row)

    async def complete(self, job_id: int, worker_id: str) -> Job:
        """Mark the job done; raise :class:`LeaseLostError` if this worker no longer holds it."""
        now = self._clock()
        statement = (
            update(JobRow)
            .where(*_held_by(job_id, worker_id))
            .values(state=JobState.DONE.value, lease_expires_at=None, finished_at=now, updated_at=now)
            .returning(*_COLUMNS)
        )
        async with self._db.transaction(write=True) as conn:
            row = (await conn.execute(statement)).first()
        if row is None:
            raise LeaseLostError(job_id, worker_id)
        return _job(row)

    async def fail(self, job_id: int, worker_id: str, reason: str, *, retry: bool = True) -> Job:
        """Record a failed attempt with ``reason`` (no secrets in it).

        With ``retry`` and attempts left, the job goes back to pending, due after the policy's backoff;
        otherwise it is dead. Returns the job as it now is. Raises :class:`LeaseLostError` if this worker
        no longer holds it.
        """
        now = self._clock()
        async with self._db.transaction(write=True) as conn:
            current = select(JobRow.attempts, JobRow.max_attempts).where(*_held_by(job_id, worker_id))
            if self._db.is_postgresql:
                current = current.with_for_update()
            held = (await conn.execute(current)).first()
            if held is None:
                raise LeaseLostError(job_id, worker_id)
            attempts, max_attempts = held
            values: dict[str, object] = {
                "last_error": reason[:_MAX_ERROR_CHARS],
                "lease_expires_at": None,
                "updated_at": now,
            }
            if retry and attempts < max_attempts:
                values |= {"state": JobState.PENDING.value, "run_after": now + self._retry.delay(attempts)}
            else:
                values |= {"state": JobState.DEAD.value, "finished_at": now}
            row = (
                await conn.execute(
                    update(JobRow).where(JobRow.id == job_id).values(values).returning(*_COLUMNS)
                )
            ).one()
        return _job(row)

    async def cancel(self, job_id: int, reason: str) -> Job | None:
        """End a pending job without running it (it becomes dead with ``reason``).

        Returns the job, or ``None`` if it was not pending (already running or finished).
        """
        now = self._clock()
        statement = (
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.state == JobState.PENDING.value)
            .values(
                state=JobState.DEAD.value,
                last_error=reason[:_MAX_ERROR_CHARS],
                finished_at=now,
                updated_at=now,
            )
            .returning(*_COLUMNS)
        )
        async with self._db.transaction(write=True) as conn:
            row = (await conn.execute(statement)).first()
        return None if row is None else _job(row)

    async def get(self, job_id: int) -> Job | None:
        """The job with ``job_id``, or ``None``."""
        async with self._db.transaction(write=False) as conn:
            row = (await conn.execute(select(*_COLUMNS).where(JobRow.id == job_id))).first()
        return None if row is None else _job(row)

    async def find_active(self, dedupe_key: str) -> Job | None:
        """The unfinished job holding ``dedupe_key``, or ``None``."""
        async with self._db.transaction(write=False) as conn:
            return await self._active_by_dedupe_key(conn, dedupe_key)

    async def counts(self) -> dict[JobState, int]:
        """How many jobs are in each state (every state present, zero included)."""
        async with self._db.transaction(write=False) as conn:
            rows = (await conn.execute(select(JobRow.state, func.count()).group_by(JobRow.state))).all()
        found = {JobState(state): count for state, count in rows}
        return {state: found.get(state, 0) for state in JobState}

    async def _active_by_dedupe_key(self, conn: AsyncConnection, dedupe_key: str | None) -> Job | None:
        if dedupe_key is None:
            return None
        row = (
            await conn.execute(
                select(*_COLUMNS).where(
                    JobRow.dedupe_key == dedupe_key,
                    JobRow.state.in_([JobState.PENDING.value, JobState.RUNNING.value]),
                )
            )
        ).first()
        return None if row is None else _job(row)

    def _bury_exhausted(self, now: datetime) -> Update:
        """Jobs whose lease ran out on their last allowed attempt: the worker died each time, so stop."""
        exhausted = select(JobRow.id).where(
            JobRow.state == JobState.RUNNING.value,
            JobRow.lease_expires_at <= now,
            JobRow.attempts >= JobRow.max_attempts,
        )
        if self._db.is_postgresql:
            # Skip rows another claimer is burying right now instead of waiting on (or deadlocking with) it.
            exhausted = exhausted.with_for_update(skip_locked=True)
        return (
            update(JobRow)
            .where(JobRow.id.in_(exhausted))
            .values(
                state=JobState.DEAD.value,
                last_error="lease expired on the last allowed attempt (the worker stopped)",
                lease_expires_at=None,
                finished_at=now,
                updated_at=now,
            )
        )


def _held_by(job_id: int, worker_id: str) -> tuple[ColumnElement[bool], ...]:
    return (JobRow.id == job_id, JobRow.lease_owner == worker_id, JobRow.state == JobState.RUNNING.value)


def _job(row: Row[tuple[object, ...]]) -> Job:
    fields = row._asdict()
    fields["state"] = JobState(fields["state"])
    return Job(**fields)
