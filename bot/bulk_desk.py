"""The bulk batch's approval card: posting it, its clicks (approve, reject, retry failed rows), its progress.

Every click is checked on the server: the clicker must be an approver, never the submitter (separation
of duties, enforced by the domain), and the batch's stored state decides (compare-and-set: of two
approvers clicking at once exactly one decides; the other sees "already approved by X at T"). A click only
changes the database and enqueues the ``bulk_provision`` job; Graph work never runs inside a Teams request.

Progress reaches the one card through :meth:`BulkDesk.batch_changed` (the runner's
:class:`~provisioning.bulk.BatchProgressSink`): updates are coalesced to one every ``min_interval`` seconds
per batch, within Teams' per-conversation rate limits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from bot.approvals import Clicker
from bot.notifier import TeamsNotifier
from bot.roles import Role, RoleDirectory
from cards.actions import BulkApprovePayload, BulkRejectPayload, BulkRetryFailedPayload
from cards.bulk import BulkCardView, SeatNeed, bulk_card, bulk_unknown_card
from cards.render import CardContent
from onboarding.errors import SelfApprovalRefused, ValidationFailed
from onboarding.licensing import friendly_product_name
from onboarding.requests import RequestStatus
from provisioning.bulk import (
    JOB_BULK_POST_CARD,
    JOB_BULK_PROVISION,
    BatchNotPending,
    batch_of_job,
    bulk_payload,
    decide_batch,
    retry_failed_rows,
)
from storage.bulk import BatchStatus, BulkBatches, StoredBatch
from storage.database import Database
from storage.jobs import Job
from storage.repositories import AuditLog, JobQueue
from storage.requests import RequestStore

log = logging.getLogger(__name__)

#: Free seats by SKU part number now (None when Graph cannot say): the card compares them with the need.
SeatReader = Callable[[], Awaitable[dict[str, int] | None]]


class BulkDesk:
    """The server side of the batch card's buttons, and the card's poster and updater."""

    def __init__(
        self,
        *,
        database: Database,
        batches: BulkBatches,
        requests: RequestStore,
        jobs: JobQueue,
        audit: AuditLog,
        roles: RoleDirectory,
        notifier: TeamsNotifier,
        free_seats: SeatReader,
        clock: Callable[[], datetime],
        on_enqueued: Callable[[], None] = lambda: None,
        min_interval: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = database
        self._batches = batches
        self._requests = requests
        self._jobs = jobs
        self._audit = audit
        self._roles = roles
        self._notifier = notifier
        self._free_seats = free_seats
        self._clock = clock
        self._on_enqueued = on_enqueued
        self._min_interval = min_interval
        self._monotonic = monotonic
        self._dirty: set[int] = set()
        self._flushers: dict[int, asyncio.Task[None]] = {}
        self._last: dict[int, float] = {}

    # ---------------------------------------------------------------------------------- the card

    async def post_card(self, batch_id: int) -> bool:
        """Post the batch's approval card into the approvals channel (once); False when none is bound."""
        batch = await self._batches.get(batch_id)
        if batch is None:
            return False
        if batch.card_activity_id:
            return True
        posted = await self._notifier.post_to_approvals_channel(await self.card(batch))
        if posted is None:
            return False
        await self._batches.set_card(batch_id, posted[0], posted[1])
        return True

    def job_handlers(self) -> dict[str, Callable[[Job], Awaitable[None]]]:
        """The handler for :class:`~provisioning.worker.JobWorker`: ``bulk_post_card`` (after an import)."""
        return {JOB_BULK_POST_CARD: self._post_card_job}

    async def _post_card_job(self, job: Job) -> None:
        if not await self.post_card(batch_of_job(job)):
            # No approvals channel is bound yet: the queue tries again later (an admin binds it meanwhile).
            raise _NoChannelYet(f"job {job.id}: no approvals channel to post the bulk batch card to")

    async def card(
        self, batch: StoredBatch, *, notice: str | None = None, may_act: bool = True
    ) -> CardContent:
        """The card of ``batch`` as it stands in the database now."""
        return bulk_card(await self._view(batch, notice=notice, may_act=may_act))

    async def batch_changed(self, batch_id: int) -> None:
        """The runner's progress sink: update the batch's card, at most once per ``min_interval``."""
        self._dirty.add(batch_id)
        task = self._flushers.get(batch_id)
        if task is None or task.done():
            self._flushers[batch_id] = asyncio.create_task(
                self._flush(batch_id), name=f"bulk-card-{batch_id}"
            )

    async def flush(self) -> None:
        """Wait for the scheduled card updates (tests, shutdown)."""
        await asyncio.gather(*self._flushers.values(), return_exceptions=True)

    async def close(self) -> None:
        """Cancel the scheduled card updates."""
        for task in self._flushers.values():
            task.cancel()
        await asyncio.gather(*self._flushers.values(), return_exceptions=True)

    async def _flush(self, batch_id: int) -> None:
        try:
            while batch_id in self._dirty:
                wait = self._last.get(batch_id, float("-inf")) + self._min_interval - self._monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                self._dirty.discard(batch_id)
                self._last[batch_id] = self._monotonic()
                batch = await self._batches.get(batch_id)
                if batch is None or not batch.card_activity_id or batch.card_conversation is None:
                    continue
                card = await self.card(batch)
                await self._notifier.update_posted_card(batch.card_conversation, batch.card_activity_id, card)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A card that cannot be updated must never stop the run; the next change tries again.
            log.exception("could not update a bulk batch card", extra={"batch_id": batch_id})

    # ----------------------------------------------------------------------------------- clicks

    async def approve(self, clicker: Clicker, payload: BulkApprovePayload) -> CardContent:
        """Approve the batch: every pending row approved, the provisioning job enqueued."""
        return await self._decide(clicker, payload.batch_id, approve=True, comment=payload.comment)

    async def reject(self, clicker: Clicker, payload: BulkRejectPayload) -> CardContent:
        """Reject the batch (a comment is required): no row is provisioned."""
        return await self._decide(clicker, payload.batch_id, approve=False, comment=payload.comment)

    async def retry_failed(self, clicker: Clicker, payload: BulkRetryFailedPayload) -> CardContent:
        """Move the failed rows back to provisioning and enqueue the job; the other rows are untouched."""
        batch = await self._batches.get(payload.batch_id)
        if batch is None:
            return bulk_unknown_card()
        person = clicker.person()
        if person is None or not await self._roles.has_role(clicker.aad_object_id, Role.APPROVER):
            return await self.card(batch, notice="Only approvers can retry failed rows.", may_act=False)
        if batch.status is not BatchStatus.APPROVED:
            return await self.card(batch, notice="This batch has no rows to retry.", may_act=False)
        count = await retry_failed_rows(
            self._db, self._batches, self._requests, batch.id, person, clock=self._clock
        )
        if count:
            await self._enqueue(batch.id)
        notice = f"Retrying {count} row(s)." if count else "No row is waiting for a retry."
        return await self.card(batch, notice=notice)

    async def _decide(
        self, clicker: Clicker, batch_id: int, *, approve: bool, comment: str | None
    ) -> CardContent:
        batch = await self._batches.get(batch_id)
        if batch is None:
            return bulk_unknown_card()
        person = clicker.person()
        if person is None or not await self._roles.has_role(clicker.aad_object_id, Role.APPROVER):
            return await self.card(
                batch, notice="Only members of the approvers group can decide.", may_act=False
            )
        if not approve and not (comment and comment.strip()):
            return await self.card(batch, notice="Say why in the comment box before rejecting.")
        try:
            decided = await decide_batch(
                self._db,
                self._batches,
                self._requests,
                batch_id,
                person,
                approve=approve,
                comment=comment,
                clock=self._clock,
            )
        except SelfApprovalRefused:
            return await self.card(
                batch, notice="You submitted this batch, so another approver must decide it.", may_act=False
            )
        except ValidationFailed as err:
            return await self.card(batch, notice=err.errors[0].message if err.errors else "Invalid comment.")
        except BatchNotPending as already:
            return await self.card(already.batch, notice=_already_notice(already.batch), may_act=False)
        if approve:
            await self._enqueue(decided.id)
        await self.batch_changed(decided.id)
        return await self.card(decided)

    async def _enqueue(self, batch_id: int) -> None:
        await self._jobs.enqueue(
            JOB_BULK_PROVISION, bulk_payload(batch_id), dedupe_key=f"{JOB_BULK_PROVISION}:{batch_id}"
        )
        self._on_enqueued()

    # ------------------------------------------------------------------------------------ views

    async def _view(self, batch: StoredBatch, *, notice: str | None, may_act: bool) -> BulkCardView:
        counts = await self._batches.status_counts(batch.id)
        free: dict[str, int] | None = None
        if batch.status is BatchStatus.PENDING_APPROVAL:
            try:
                free = await self._free_seats()
            except Exception:
                log.warning("free seats unknown for the bulk card", exc_info=True)
        seats = tuple(
            SeatNeed(friendly_product_name(part), needed, None if free is None else free.get(part, 0))
            for part, needed in batch.seats_needed.items()
        )
        decision = batch.decision
        return BulkCardView(
            batch_id=batch.id,
            status=batch.status.value,
            card_version=batch.version,
            source_name=batch.source_name,
            submitted_by=batch.submitted_by.display_name,
            submitted_at=batch.created_at,
            total_rows=batch.total_rows,
            accepted_rows=sum(counts.values()),
            problems=tuple(
                f"Row {p.row}" + (f", {p.column}" if p.column else "") + f": {p.message}"
                for p in batch.problems
            ),
            seats=seats if batch.status is BatchStatus.PENDING_APPROVAL else (),
            provisioned=counts.get(RequestStatus.PROVISIONED, 0),
            failed=counts.get(RequestStatus.FAILED, 0),
            in_progress=counts.get(RequestStatus.PROVISIONING, 0) + counts.get(RequestStatus.APPROVED, 0),
            decided_by=decision.by.display_name if decision is not None else None,
            decided_at=decision.at if decision is not None else None,
            comment=decision.comment if decision is not None else None,
            notice=notice,
            viewer_may_act=may_act,
        )


class _NoChannelYet(Exception):
    """The approvals channel is not bound yet; retrying later can succeed."""

    retryable = True


def _already_notice(batch: StoredBatch) -> str:
    if batch.decision is None:
        return f"This batch is {batch.status.value.replace('_', ' ')}."
    verb = "rejected" if batch.status is BatchStatus.REJECTED else "approved"
    return f"Already {verb} by {batch.decision.by.display_name} at {batch.decision.at:%Y-%m-%d %H:%M} UTC."
