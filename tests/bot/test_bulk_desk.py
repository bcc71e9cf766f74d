"""The bulk batch card's clicks: approvers only, never the submitter, one decision, one job, one card."""

# Fixtures are imported, then requested by name as parameters: pytest's pattern, not a redefinition.
# ruff: noqa: F811

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from bot.approvals import Clicker
from bot.bulk_desk import BulkDesk
from bot.roles import RoleDirectory, RoleGroups
from cards.actions import BulkApprovePayload, BulkRejectPayload, BulkRetryFailedPayload
from onboarding.requests import RequestStatus
from provisioning.bulk import JOB_BULK_PROVISION
from storage.audit import AuditLog
from storage.bulk import BatchStatus
from storage.jobs import JobQueue
from tests.bot.test_approvals import APPROVERS, NORA_ID, REQUESTERS, Membership
from tests.provisioning.bulk_fixtures import REMOTE_ASSIST, Bulk, bulk, crew, fixed_clock  # noqa: F401
from tests.provisioning.pipeline_fixtures import ADAM, ALICE, PAULA

ADAM_CLICK = Clicker(ADAM.aad_object_id, ADAM.display_name)
PAULA_CLICK = Clicker(PAULA.aad_object_id, PAULA.display_name)
ALICE_CLICK = Clicker(ALICE.aad_object_id, ALICE.display_name)
NORA_CLICK = Clicker(NORA_ID, "Nora")


class RecordingChannel:
    """Stands in for the notifier's card methods: records what would be posted and updated."""

    def __init__(self) -> None:
        self.posted: list[dict[str, Any]] = []
        self.updated: list[dict[str, Any]] = []

    async def post_to_approvals_channel(self, card: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        self.posted.append(card)
        return f"activity-{len(self.posted)}", {"conversation": {"id": "channel"}}

    async def update_posted_card(
        self, reference: dict[str, Any], activity_id: str, card: dict[str, Any]
    ) -> None:
        self.updated.append(card)


def desk_for(wired: Bulk, channel: RecordingChannel, jobs: JobQueue) -> BulkDesk:
    roles = RoleDirectory(
        Membership(
            {
                ADAM.aad_object_id: {APPROVERS},
                PAULA.aad_object_id: {APPROVERS},
                ALICE.aad_object_id: {REQUESTERS, APPROVERS},
            }
        ),
        RoleGroups(requesters=REQUESTERS, approvers=APPROVERS, administrators="g-admins"),
        ttl_seconds=60,
    )

    async def free_seats() -> dict[str, int]:
        return {REMOTE_ASSIST: 2}

    return BulkDesk(
        database=wired.database,
        batches=wired.batches,
        requests=wired.requests,
        jobs=jobs,
        audit=AuditLog(wired.database),
        roles=roles,
        notifier=channel,  # type: ignore[arg-type]
        free_seats=free_seats,
        clock=fixed_clock,
        min_interval=0.0,
    )


async def pending_batch(bulk: Bulk, rows: int = 3) -> int:
    result = await bulk.imported(crew(rows))
    assert result.batch is not None
    return result.batch.id


async def test_the_card_shows_the_count_the_seats_and_the_refused_rows(bulk: Bulk) -> None:
    rows = crew(4)
    rows[2]["usage_location"] = "XX"
    result = await bulk.imported(rows)
    assert result.batch is not None
    channel = RecordingChannel()
    desk = desk_for(bulk, channel, JobQueue(bulk.database))
    assert await desk.post_card(result.batch.id)
    text = json.dumps(channel.posted[0])
    assert "3 to onboard of 4 rows" in text
    assert "3 needed, 2 free" in text
    assert "Row 4, usage_location" in text


async def test_an_approver_approves_once_and_one_job_is_enqueued(bulk: Bulk) -> None:
    batch_id = await pending_batch(bulk)
    jobs = JobQueue(bulk.database)
    desk = desk_for(bulk, RecordingChannel(), jobs)
    await desk.approve(ADAM_CLICK, BulkApprovePayload(batch_id=batch_id, card_version=1))
    second = await desk.approve(PAULA_CLICK, BulkApprovePayload(batch_id=batch_id, card_version=1))
    assert "Already approved by Adam Approver" in json.dumps(second)
    assert await bulk.batches.status_counts(batch_id) == Counter({RequestStatus.APPROVED: 3})
    job = await jobs.find_active(f"{JOB_BULK_PROVISION}:{batch_id}")
    assert job is not None


async def test_the_submitter_cannot_approve_their_own_batch(bulk: Bulk) -> None:
    batch_id = await pending_batch(bulk)
    desk = desk_for(bulk, RecordingChannel(), JobQueue(bulk.database))
    answer = await desk.approve(ALICE_CLICK, BulkApprovePayload(batch_id=batch_id, card_version=1))
    assert "another approver must decide" in json.dumps(answer)
    assert (await bulk.batches.get(batch_id)).status is BatchStatus.PENDING_APPROVAL  # type: ignore[union-attr]


async def test_someone_without_the_approver_role_changes_nothing(bulk: Bulk) -> None:
    batch_id = await pending_batch(bulk)
    desk = desk_for(bulk, RecordingChannel(), JobQueue(bulk.database))
    await desk.approve(NORA_CLICK, BulkApprovePayload(batch_id=batch_id, card_version=1))
    assert (await bulk.batches.get(batch_id)).status is BatchStatus.PENDING_APPROVAL  # type: ignore[union-attr]


async def test_rejecting_needs_a_comment(bulk: Bulk) -> None:
    batch_id = await pending_batch(bulk)
    desk = desk_for(bulk, RecordingChannel(), JobQueue(bulk.database))
    answer = await desk.reject(ADAM_CLICK, BulkRejectPayload(batch_id=batch_id, card_version=1))
    assert "comment" in json.dumps(answer)
    await desk.reject(
        ADAM_CLICK, BulkRejectPayload(batch_id=batch_id, card_version=1, comment="wrong vendor")
    )
    assert await bulk.batches.status_counts(batch_id) == Counter({RequestStatus.REJECTED: 3})


async def test_progress_updates_the_one_posted_card(bulk: Bulk) -> None:
    batch_id = await pending_batch(bulk)
    channel = RecordingChannel()
    desk = desk_for(bulk, channel, JobQueue(bulk.database))
    await desk.post_card(batch_id)
    await desk.approve(ADAM_CLICK, BulkApprovePayload(batch_id=batch_id, card_version=1))
    runner = bulk.runner()
    runner._progress = desk  # the desk is the runner's progress sink in the bot
    await runner.provision(batch_id)
    await desk.batch_changed(batch_id)
    await desk.flush()
    assert len(channel.posted) == 1
    assert "3 / 3 provisioned" in json.dumps(channel.updated[-1])


async def test_retry_failed_rows_moves_only_the_failed_ones(bulk: Bulk) -> None:
    bulk.sandbox.tenant.set_prepaid_units(REMOTE_ASSIST, 2)
    batch_id = await pending_batch(bulk)
    jobs = JobQueue(bulk.database)
    desk = desk_for(bulk, RecordingChannel(), jobs)
    await desk.approve(ADAM_CLICK, BulkApprovePayload(batch_id=batch_id, card_version=1))
    await bulk.runner().provision(batch_id)
    answer = await desk.retry_failed(ADAM_CLICK, BulkRetryFailedPayload(batch_id=batch_id, card_version=2))
    assert "Retrying 1 row(s)." in json.dumps(answer)
    assert await bulk.batches.status_counts(batch_id) == Counter(
        {RequestStatus.PROVISIONED: 2, RequestStatus.PROVISIONING: 1}
    )


async def test_an_import_with_a_job_queue_gets_its_card_posted_once_by_the_worker_job(bulk: Bulk) -> None:
    from provisioning.bulk import JOB_BULK_POST_CARD, import_csv
    from settings import SANDBOX_VENDOR_ACCOUNTS_GROUP_ID
    from tests.onboarding.test_bulk import to_csv
    from tests.provisioning.bulk_fixtures import CATALOG, CONFIG

    jobs = JobQueue(bulk.database)
    path = bulk.tmp / "cli.csv"
    path.write_text(to_csv(crew(2)), encoding="utf-8")
    result = await import_csv(
        path,
        submitted_by=ALICE,
        config=CONFIG,
        catalog=CATALOG,
        graph=bulk.graph,
        batches=bulk.batches,
        vendor_accounts_group_id=SANDBOX_VENDOR_ACCOUNTS_GROUP_ID,
        clock=fixed_clock,
        jobs=jobs,
    )
    assert result.batch is not None
    channel = RecordingChannel()
    desk = desk_for(bulk, channel, jobs)
    job = await jobs.claim("w1", [JOB_BULK_POST_CARD], 30)
    assert job is not None
    await desk.job_handlers()[JOB_BULK_POST_CARD](job)
    await desk.job_handlers()[JOB_BULK_POST_CARD](job)
    assert len(channel.posted) == 1
    assert (await bulk.batches.get(result.batch.id)).card_activity_id == "activity-1"  # type: ignore[union-attr]
