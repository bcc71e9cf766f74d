"""The lifecycle scheduler: a periodic sweep in the background worker that reminds, offboards and deletes.

The sweep is a job of kind ``lifecycle_sweep`` in the durable queue, so it survives restarts and runs on
whichever instance claims it. Each sweep job carries its *slot* (a time aligned to ``sweep_minutes``) and is
enqueued with the dedupe key ``lifecycle_sweep:<slot>``; before sweeping, a job enqueues the next slot. So
however many instances call :meth:`LifecycleScheduler.ensure_scheduled` at start-up, and however often a
sweep is retried, one sweep per slot is pending at a time (a partial unique index decides).

One sweep, at the injected clock's ``now``:

1. every active account whose end date has passed gets an ``offboard`` job (dedupe key ``offboard:<upn>``;
   the runner moves the account out of ``active`` first, so it is offboarded exactly once);
2. every active account within a reminder window gets that reminder, once per (account, end date, reminder
   day) whatever the number of instances: a once-mark ``reminder:<upn>:<end date>:<days>`` is claimed before
   sending (and released if sending failed, so the next sweep tries again);
3. every offboarded account whose retention ended gets a ``delete_account`` job;
4. temporary passwords nobody revealed in time are erased from the vault.

A tenant that lets Entra Lifecycle Workflows run leaver tasks sets ``automatic_offboarding = false``: steps 1
and 3 are skipped, reminders and extensions still work (see :mod:`onboarding.lifecycle`).

Wiring (app.py)::

    scheduler = LifecycleScheduler(jobs=..., ..., policy=config.lifecycle, reminders=lifecycle_notifier)
    worker = JobWorker(jobs, {**runner.job_handlers(), **offboarding.job_handlers(),
                              **scheduler.job_handlers(), **resetter.job_handlers()}, ...)
    await scheduler.ensure_scheduled()
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

from onboarding.audit import AuditAction, audit_detail
from onboarding.lifecycle import LifecyclePolicy, is_expired, reminder_due
from onboarding.requests import format_request_id
from provisioning.offboarding import (
    JOB_DELETE_ACCOUNT,
    JOB_OFFBOARD,
    delete_payload,
    offboard_payload,
)
from provisioning.worker import BOT_ACTOR, BadJobPayload
from storage.accounts import ServiceAccount
from storage.audit import AuditLog
from storage.clock import utc_now
from storage.jobs import Job, JobQueue
from storage.lifecycle import AccountLifecycle, Offboardings
from storage.once import OnceMarks
from storage.vault import CredentialVault

__all__ = ["JOB_LIFECYCLE_SWEEP", "LifecycleScheduler", "ReminderSender", "SweepReport", "reminder_mark"]

log = logging.getLogger(__name__)

JOB_LIFECYCLE_SWEEP: Final = "lifecycle_sweep"
_EPOCH: Final = datetime(2000, 1, 1, tzinfo=UTC)


class ReminderSender(Protocol):
    """Sends the sponsor an expiry reminder with its actions (the bot's lifecycle notifier implements it)."""

    async def send_reminder(self, account: ServiceAccount, days_left: int) -> bool:
        """Send it; False when the sponsor cannot be reached (never talked to the bot). May raise."""
        ...


@dataclass(frozen=True)
class SweepReport:
    """What one sweep did."""

    offboards_enqueued: int = 0
    reminders_sent: int = 0
    deletions_enqueued: int = 0
    passwords_purged: int = 0


def reminder_mark(account: ServiceAccount, days: int) -> str:
    """The once-mark key of one reminder for one end date (an extension makes new reminders due)."""
    return f"reminder:{account.upn}:{account.end_date.isoformat()}:{days}"


class LifecycleScheduler:
    """Reminders, automatic offboarding and deletion after retention, from one periodic sweep."""

    def __init__(
        self,
        *,
        jobs: JobQueue,
        lifecycle: AccountLifecycle,
        offboardings: Offboardings,
        vault: CredentialVault,
        marks: OnceMarks,
        audit: AuditLog,
        policy: LifecyclePolicy,
        instance_id: str,
        reminders: ReminderSender | None = None,
        clock: Callable[[], datetime] = utc_now,
        on_enqueued: Callable[[], None] = lambda: None,
    ) -> None:
        """Wire the sweep; ``clock`` is when it acts (tests move it), ``on_enqueued`` wakes a worker."""
        self._jobs = jobs
        self._lifecycle = lifecycle
        self._offboardings = offboardings
        self._vault = vault
        self._marks = marks
        self._audit = audit
        self._policy = policy
        self._instance_id = instance_id
        self._reminders = reminders
        self._clock = clock
        self._on_enqueued = on_enqueued
        self._interval = timedelta(minutes=policy.sweep_minutes)

    def job_handlers(self) -> dict[str, Callable[[Job], Awaitable[None]]]:
        """The worker handler for ``lifecycle_sweep``."""
        return {JOB_LIFECYCLE_SWEEP: self.sweep_job}

    # ------------------------------------------------------------------------------- scheduling

    def next_slot(self, after: datetime) -> datetime:
        """The first sweep slot strictly after ``after`` (slots are aligned to ``sweep_minutes``)."""
        periods = (after - _EPOCH) // self._interval
        return _EPOCH + (periods + 1) * self._interval

    async def ensure_scheduled(self) -> None:
        """Sweep now (as the current slot) and chain on from there; call at start-up on every instance.

        Instances starting together share the current slot's dedupe key, so one sweep runs; its job then
        enqueues the next slot, which any later chain link or restart joins rather than duplicates.
        """
        now = self._clock()
        await self._enqueue_slot(self.next_slot(now) - self._interval, run_after=now)

    async def _enqueue_slot(self, slot: datetime, *, run_after: datetime) -> None:
        stamp = slot.astimezone(UTC).isoformat()
        enqueued = await self._jobs.enqueue(
            JOB_LIFECYCLE_SWEEP,
            json.dumps({"slot": stamp}),
            dedupe_key=f"{JOB_LIFECYCLE_SWEEP}:{stamp}",
            run_after=run_after,
            # A failed sweep is not retried: the next slot sweeps again anyway.
            max_attempts=1,
        )
        if enqueued.created:
            self._on_enqueued()

    async def sweep_job(self, job: Job) -> None:
        """Run a ``lifecycle_sweep`` job: enqueue the next slot first (the chain never breaks), then sweep."""
        try:
            slot = datetime.fromisoformat(json.loads(job.payload_json)["slot"])
        except (ValueError, KeyError, TypeError):
            raise BadJobPayload(f"job {job.id} ({job.kind}): the payload has no slot") from None
        if slot.tzinfo is None:
            raise BadJobPayload(f"job {job.id} ({job.kind}): the slot has no time zone")
        now = self._clock()
        following = self.next_slot(max(now, slot))
        await self._enqueue_slot(following, run_after=following)
        report = await self.sweep()
        log.info("lifecycle sweep", extra={"slot": slot.isoformat(), **report.__dict__})

    # ------------------------------------------------------------------------------------ sweep

    async def sweep(self) -> SweepReport:
        """One pass over the accounts at the clock's ``now``; safe to run concurrently on any instance."""
        now = self._clock()
        today = now.astimezone(UTC).date()
        horizon = today + timedelta(days=max(self._policy.reminder_days))
        offboards = reminders = deletions = 0
        for account in await self._lifecycle.active_ending_by(horizon):
            if is_expired(account.end_date, now):
                if self._policy.automatic_offboarding:
                    offboards += await self._enqueue_offboard(account)
                continue
            days = reminder_due(account.end_date, today, self._policy)
            if days is not None and await self._remind(account, days, (account.end_date - today).days):
                reminders += 1
        if self._policy.automatic_offboarding:
            for upn in await self._offboardings.due_for_deletion(now):
                enqueued = await self._jobs.enqueue(
                    JOB_DELETE_ACCOUNT, delete_payload(upn), dedupe_key=f"{JOB_DELETE_ACCOUNT}:{upn}"
                )
                deletions += int(enqueued.created)
        purged = await self._vault.purge_expired()
        if offboards or deletions:
            self._on_enqueued()
        return SweepReport(offboards, reminders, deletions, purged)

    async def _enqueue_offboard(self, account: ServiceAccount) -> int:
        enqueued = await self._jobs.enqueue(
            JOB_OFFBOARD,
            offboard_payload(account.upn, reason="expired", by=None),
            dedupe_key=f"{JOB_OFFBOARD}:{account.upn}",
        )
        return int(enqueued.created)

    async def _remind(self, account: ServiceAccount, days: int, days_left: int) -> bool:
        if self._reminders is None:
            return False
        key = reminder_mark(account, days)
        if not await self._marks.claim(key, owner=self._instance_id):
            return False
        try:
            delivered = await self._reminders.send_reminder(account, days_left)
        except Exception:
            # Not delivered: let the next sweep (any instance) try again.
            await self._marks.release(key)
            log.exception("could not send an expiry reminder", extra={"upn": account.upn})
            return False
        if not delivered:
            log.warning(
                "the sponsor never talked to the bot: reminder not delivered", extra={"upn": account.upn}
            )
        await self._audit.append(
            AuditAction.LIFECYCLE_REMINDER_SENT,
            actor_name=BOT_ACTOR,
            request_id=format_request_id(account.request_number),
            target=account.upn,
            detail=audit_detail(
                reminder_days=days,
                days_left=days_left,
                end_date=account.end_date,
                delivered=delivered,
            ),
        )
        return delivered
