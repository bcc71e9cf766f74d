"""LifecycleScheduler with a controllable clock: reminders on the configured days (once each), offboarding at
the end date exactly once (also with two workers on two database handles), deletion after retention, the
sweep chain in the job queue."""

# Fixtures are imported, then requested by name as parameters: pytest's pattern, not a redefinition.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from onboarding.audit import AuditAction
from onboarding.lifecycle import LifecyclePolicy
from provisioning.lifecycle import JOB_LIFECYCLE_SWEEP
from provisioning.worker import JobWorker
from storage.accounts import AccountState
from storage.database import Database
from storage.jobs import JobState
from tests.provisioning.lifecycle_support import (
    UPN,
    Lifecycle,
    MovableClock,
    RecordingNotices,
    lifecycle_on,
    provisioned,
)
from tests.provisioning.pipeline_fixtures import (  # noqa: F401  (fixtures)
    Pipeline,
    pipeline,
)
from tests.support.postgres import any_migrated_database_url, postgres_url  # noqa: F401  (fixtures)

# Bob's account ends on 2030-03-31: access ends 2030-03-31T23:59:59Z.
DAY_14_BEFORE = datetime(2030, 3, 17, 8, 0, tzinfo=UTC)
DAY_10_BEFORE = datetime(2030, 3, 21, 8, 0, tzinfo=UTC)
DAY_3_BEFORE = datetime(2030, 3, 28, 8, 0, tzinfo=UTC)
LAST_DAY = datetime(2030, 3, 31, 23, 0, tzinfo=UTC)
AFTER_END = datetime(2030, 4, 1, 0, 0, 1, tzinfo=UTC)


async def _drain(life: Lifecycle, worker_id: str = "worker-1") -> None:
    """Run every due job on this instance (offboarding and sweeps)."""
    handlers = {**life.runner().job_handlers(), **life.scheduler().job_handlers()}
    worker = JobWorker(life.jobs, handlers, worker_id=worker_id)
    while await worker.run_once():
        pass


# -------------------------------------------------------------------------------------- reminders


async def test_no_reminder_before_the_first_reminder_day(pipeline: Pipeline) -> None:
    await provisioned(pipeline)
    life = lifecycle_on(pipeline, clock=MovableClock(datetime(2030, 3, 16, 8, 0, tzinfo=UTC)))
    await life.scheduler().sweep()
    assert life.notices.reminders == []


async def test_the_14_day_reminder_arrives_14_days_before_the_end(pipeline: Pipeline) -> None:
    await provisioned(pipeline)
    life = lifecycle_on(pipeline, clock=MovableClock(DAY_14_BEFORE))
    await life.scheduler().sweep()
    assert life.notices.reminders == [(UPN, 14)]


async def test_a_reminder_is_sent_once_however_many_sweeps(pipeline: Pipeline) -> None:
    await provisioned(pipeline)
    life = lifecycle_on(pipeline, clock=MovableClock(DAY_14_BEFORE))
    await life.scheduler().sweep()
    life.clock.set(DAY_10_BEFORE)
    await life.scheduler().sweep()
    assert life.notices.reminders == [(UPN, 14)]


async def test_the_3_day_reminder_arrives_3_days_before_the_end(pipeline: Pipeline) -> None:
    await provisioned(pipeline)
    life = lifecycle_on(pipeline, clock=MovableClock(DAY_14_BEFORE))
    await life.scheduler().sweep()
    life.clock.set(DAY_3_BEFORE)
    await life.scheduler().sweep()
    assert life.notices.reminders == [(UPN, 14), (UPN, 3)]


async def test_reminder_days_come_from_the_policy(pipeline: Pipeline) -> None:
    await provisioned(pipeline)
    life = lifecycle_on(
        pipeline,
        clock=MovableClock(datetime(2030, 3, 24, 8, 0, tzinfo=UTC)),
        policy=LifecyclePolicy(reminder_days=(7,)),
    )
    await life.scheduler().sweep()
    assert life.notices.reminders == [(UPN, 7)]


async def test_a_reminder_that_failed_to_send_is_tried_again(pipeline: Pipeline) -> None:
    await provisioned(pipeline)

    class Flaky(RecordingNotices):
        calls = 0

        async def send_reminder(self, account: object, days_left: int) -> bool:
            Flaky.calls += 1
            if Flaky.calls == 1:
                raise ConnectionError("Bot Connector unreachable")
            return True

    life = lifecycle_on(pipeline, clock=MovableClock(DAY_14_BEFORE), notices=Flaky())
    await life.scheduler().sweep()
    await life.scheduler().sweep()
    assert Flaky.calls == 2


async def test_an_extension_makes_the_reminders_due_again_for_the_new_end_date(pipeline: Pipeline) -> None:
    from datetime import date

    await provisioned(pipeline)
    life = lifecycle_on(pipeline, clock=MovableClock(DAY_3_BEFORE))
    await life.scheduler().sweep()
    await life.lifecycle.move_end_date(UPN, expected=date(2030, 3, 31), new=date(2030, 4, 30))
    life.clock.set(datetime(2030, 4, 27, 8, 0, tzinfo=UTC))
    await life.scheduler().sweep()
    assert life.notices.reminders == [(UPN, 3), (UPN, 3)]


async def test_each_reminder_is_audited(pipeline: Pipeline) -> None:
    await provisioned(pipeline)
    life = lifecycle_on(pipeline, clock=MovableClock(DAY_14_BEFORE))
    await life.scheduler().sweep()
    records = await life.audit.for_request("VND-000001")
    assert [
        r.detail.get("reminder_days") for r in records if r.action == AuditAction.LIFECYCLE_REMINDER_SENT
    ] == [14]


# ------------------------------------------------------------------------------------- expiry


async def test_the_account_is_not_offboarded_on_its_last_day(pipeline: Pipeline) -> None:
    await provisioned(pipeline)
    life = lifecycle_on(pipeline, clock=MovableClock(LAST_DAY))
    await life.scheduler().sweep()
    await _drain(life)
    account = await life.accounts.get(UPN)
    assert account is not None
    assert account.state == AccountState.ACTIVE


async def test_at_the_end_date_the_account_is_offboarded_and_the_sponsor_told(pipeline: Pipeline) -> None:
    await provisioned(pipeline)
    life = lifecycle_on(pipeline, clock=MovableClock(AFTER_END))
    await life.scheduler().sweep()
    await _drain(life)
    account = await life.accounts.get(UPN)
    [user] = pipeline.users_with_marker("VND-000001")
    assert account is not None
    assert account.state == AccountState.OFFBOARDED
    assert (user["accountEnabled"], user["assignedLicenses"]) == (False, [])
    assert life.notices.offboarded == [(UPN, "expired")]


async def test_sweeping_again_after_the_end_offboards_nothing_more(pipeline: Pipeline) -> None:
    await provisioned(pipeline)
    life = lifecycle_on(pipeline, clock=MovableClock(AFTER_END))
    await life.scheduler().sweep()
    await _drain(life)
    life.clock.advance(hours=2)
    report = await life.scheduler().sweep()
    assert report.offboards_enqueued == 0
    assert pipeline.writes("POST /users/{id}/revokeSignInSessions") == 1


async def test_with_automatic_offboarding_off_the_account_stays_for_lifecycle_workflows(
    pipeline: Pipeline,
) -> None:
    await provisioned(pipeline)
    life = lifecycle_on(
        pipeline, clock=MovableClock(AFTER_END), policy=LifecyclePolicy(automatic_offboarding=False)
    )
    report = await life.scheduler().sweep()
    assert report.offboards_enqueued == 0


async def test_after_retention_the_sweep_deletes_the_account(pipeline: Pipeline) -> None:
    await provisioned(pipeline)
    life = lifecycle_on(pipeline, clock=MovableClock(AFTER_END), policy=LifecyclePolicy(retention_days=30))
    await life.scheduler().sweep()
    await _drain(life)
    life.clock.advance(days=30, hours=1)
    report = await life.scheduler().sweep()
    handlers = life.runner().job_handlers()
    worker = JobWorker(life.jobs, handlers, worker_id="w")
    while await worker.run_once():
        pass
    account = await life.accounts.get(UPN)
    assert report.deletions_enqueued == 1
    assert account is not None
    assert account.state == AccountState.DELETED
    assert pipeline.users_with_marker("VND-000001") == []


async def test_two_workers_on_two_database_handles_offboard_exactly_once(pipeline: Pipeline) -> None:
    await provisioned(pipeline)
    second_db = await Database.connect(pipeline.database.engine.url)
    try:
        clock = MovableClock(AFTER_END)
        first = lifecycle_on(pipeline, clock=clock, instance_id="instance-1")
        second = lifecycle_on(pipeline, database=second_db, clock=clock, instance_id="instance-2")
        await asyncio.gather(first.scheduler().sweep(), second.scheduler().sweep())
        await asyncio.gather(_drain(first, "worker-1"), _drain(second, "worker-2"))
        await asyncio.gather(first.scheduler().sweep(), second.scheduler().sweep())
        await asyncio.gather(_drain(first, "worker-1"), _drain(second, "worker-2"))
        records = await first.audit.for_request("VND-000001")
    finally:
        await second_db.close()
    assert pipeline.writes("PATCH /users/{id}") == 1
    assert pipeline.writes("POST /users/{id}/revokeSignInSessions") == 1
    assert [r.action for r in records].count(AuditAction.ACCOUNT_OFFBOARDED) == 1
    assert first.notices.offboarded + second.notices.offboarded == [(UPN, "expired")]


async def test_two_instances_sweeping_at_once_send_each_reminder_once(pipeline: Pipeline) -> None:
    await provisioned(pipeline)
    second_db = await Database.connect(pipeline.database.engine.url)
    try:
        clock = MovableClock(DAY_14_BEFORE)
        first = lifecycle_on(pipeline, clock=clock, instance_id="instance-1")
        second = lifecycle_on(pipeline, database=second_db, clock=clock, instance_id="instance-2")
        await asyncio.gather(first.scheduler().sweep(), second.scheduler().sweep())
    finally:
        await second_db.close()
    assert first.notices.reminders + second.notices.reminders == [(UPN, 14)]


# ---------------------------------------------------------------------------------- the sweep chain


async def test_ensure_scheduled_on_every_instance_leaves_one_sweep_pending(pipeline: Pipeline) -> None:
    life = lifecycle_on(pipeline)
    await life.scheduler().ensure_scheduled()
    await life.scheduler().ensure_scheduled()
    assert (await life.jobs.counts())[JobState.PENDING] == 1


async def test_a_sweep_job_enqueues_the_next_slot(pipeline: Pipeline) -> None:
    life = lifecycle_on(pipeline, policy=LifecyclePolicy(sweep_minutes=60))
    await life.scheduler().ensure_scheduled()
    await _drain(life)
    following = life.scheduler().next_slot(life.clock())
    pending = await life.jobs.find_active(f"{JOB_LIFECYCLE_SWEEP}:{following.isoformat()}")
    assert pending is not None
    assert pending.run_after == following


async def test_the_chain_keeps_one_sweep_pending_as_time_passes(pipeline: Pipeline) -> None:
    life = lifecycle_on(pipeline, policy=LifecyclePolicy(sweep_minutes=60))
    await life.scheduler().ensure_scheduled()
    for _ in range(3):
        await _drain(life)
        life.clock.advance(minutes=61)
    await _drain(life)
    assert (await life.jobs.counts())[JobState.PENDING] == 1
