"""JobQueue: enqueue, claim, leases, retries, dedupe, and concurrent claimers across engines."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from storage.database import Database
from storage.errors import LeaseLostError
from storage.jobs import JobQueue, JobState, RetryPolicy
from tests.storage.conftest import FakeClock

LEASE = 60.0
RETRY = RetryPolicy(max_attempts=3, backoff_base_seconds=10, backoff_max_seconds=25)


@pytest.fixture
def queue(database: Database, clock: FakeClock) -> JobQueue:
    return JobQueue(database, clock=clock, retry=RETRY)


async def test_enqueued_job_is_claimed_with_its_payload(queue: JobQueue, clock: FakeClock) -> None:
    await queue.enqueue("provision", json.dumps({"request": "VND-000001"}))
    job = await queue.claim("w1", ["provision"], LEASE)
    assert job is not None
    assert json.loads(job.payload_json) == {"request": "VND-000001"}
    assert job.state is JobState.RUNNING
    assert job.lease_owner == "w1"
    assert job.attempts == 1
    assert job.lease_expires_at == clock.now + timedelta(seconds=LEASE)


async def test_claim_returns_none_when_queue_is_empty(queue: JobQueue) -> None:
    assert await queue.claim("w1", None, LEASE) is None


async def test_claimed_job_is_not_claimed_again_while_leased(queue: JobQueue) -> None:
    await queue.enqueue("provision", "{}")
    await queue.claim("w1", None, LEASE)
    assert await queue.claim("w2", None, LEASE) is None


async def test_claim_only_takes_requested_kinds(queue: JobQueue) -> None:
    await queue.enqueue("offboard", "{}")
    assert await queue.claim("w1", ["provision"], LEASE) is None
    job = await queue.claim("w1", ["offboard"], LEASE)
    assert job is not None
    assert job.kind == "offboard"


async def test_job_is_not_due_before_run_after(queue: JobQueue, clock: FakeClock) -> None:
    await queue.enqueue("remind", "{}", run_after=clock.now + timedelta(hours=1))
    assert await queue.claim("w1", None, LEASE) is None
    clock.advance(3600)
    assert await queue.claim("w1", None, LEASE) is not None


async def test_jobs_are_claimed_oldest_due_first(queue: JobQueue, clock: FakeClock) -> None:
    later = await queue.enqueue("k", '"later"', run_after=clock.now + timedelta(seconds=5))
    sooner = await queue.enqueue("k", '"sooner"')
    clock.advance(10)
    first = await queue.claim("w1", None, LEASE)
    second = await queue.claim("w1", None, LEASE)
    assert first is not None
    assert second is not None
    assert (first.id, second.id) == (sooner.job.id, later.job.id)


async def test_completed_job_is_done_and_not_claimable(queue: JobQueue, clock: FakeClock) -> None:
    await queue.enqueue("k", "{}")
    job = await queue.claim("w1", None, LEASE)
    assert job is not None
    done = await queue.complete(job.id, "w1")
    assert done.state is JobState.DONE
    assert done.finished_at == clock.now
    clock.advance(10 * LEASE)
    assert await queue.claim("w2", None, LEASE) is None


async def test_expired_lease_hands_the_job_to_another_worker(queue: JobQueue, clock: FakeClock) -> None:
    enqueued = await queue.enqueue("k", "{}")
    await queue.claim("w1", None, LEASE)
    clock.advance(LEASE)
    taken = await queue.claim("w2", None, LEASE)
    assert taken is not None
    assert taken.id == enqueued.job.id
    assert taken.lease_owner == "w2"
    assert taken.attempts == 2


async def test_worker_whose_lease_was_taken_cannot_complete(queue: JobQueue, clock: FakeClock) -> None:
    job = (await queue.enqueue("k", "{}")).job
    await queue.claim("w1", None, LEASE)
    clock.advance(LEASE + 1)
    await queue.claim("w2", None, LEASE)
    with pytest.raises(LeaseLostError):
        await queue.complete(job.id, "w1")


async def test_heartbeat_keeps_the_lease(queue: JobQueue, clock: FakeClock) -> None:
    await queue.enqueue("k", "{}")
    job = await queue.claim("w1", None, LEASE)
    assert job is not None
    clock.advance(LEASE - 1)
    extended = await queue.heartbeat(job.id, "w1", LEASE)
    assert extended.lease_expires_at == clock.now + timedelta(seconds=LEASE)
    clock.advance(LEASE - 1)
    assert await queue.claim("w2", None, LEASE) is None


async def test_heartbeat_after_losing_the_lease_raises(queue: JobQueue, clock: FakeClock) -> None:
    job = (await queue.enqueue("k", "{}")).job
    await queue.claim("w1", None, LEASE)
    clock.advance(LEASE)
    await queue.claim("w2", None, LEASE)
    with pytest.raises(LeaseLostError):
        await queue.heartbeat(job.id, "w1", LEASE)


async def test_failed_job_retries_after_backoff(queue: JobQueue, clock: FakeClock) -> None:
    await queue.enqueue("k", "{}")
    job = await queue.claim("w1", None, LEASE)
    assert job is not None
    failed = await queue.fail(job.id, "w1", "Graph answered 503")
    assert failed.state is JobState.PENDING
    assert failed.last_error == "Graph answered 503"
    assert failed.run_after == clock.now + timedelta(seconds=10)
    clock.advance(9)
    assert await queue.claim("w1", None, LEASE) is None
    clock.advance(1)
    assert await queue.claim("w1", None, LEASE) is not None


async def test_backoff_doubles_and_is_capped(queue: JobQueue, clock: FakeClock) -> None:
    await queue.enqueue("k", "{}", max_attempts=10)
    delays = []
    for _ in range(3):
        job = await queue.claim("w1", None, LEASE)
        assert job is not None
        failed = await queue.fail(job.id, "w1", "again")
        delays.append((failed.run_after - clock.now).total_seconds())
        clock.now = failed.run_after
    assert delays == [10, 20, 25]


async def test_job_is_dead_after_its_last_attempt_fails(queue: JobQueue, clock: FakeClock) -> None:
    await queue.enqueue("k", "{}")
    for _ in range(RETRY.max_attempts):
        job = await queue.claim("w1", None, LEASE)
        assert job is not None
        last = await queue.fail(job.id, "w1", "no free seats")
        clock.advance(3600)
    assert last.state is JobState.DEAD
    assert last.attempts == RETRY.max_attempts
    assert await queue.claim("w1", None, LEASE) is None


async def test_fail_without_retry_is_dead_at_once(queue: JobQueue) -> None:
    await queue.enqueue("k", "{}")
    job = await queue.claim("w1", None, LEASE)
    assert job is not None
    failed = await queue.fail(job.id, "w1", "invalid request", retry=False)
    assert failed.state is JobState.DEAD
    assert failed.finished


async def test_job_whose_worker_dies_on_every_attempt_ends_dead(queue: JobQueue, clock: FakeClock) -> None:
    job = (await queue.enqueue("k", "{}")).job
    for n in range(RETRY.max_attempts):
        assert await queue.claim(f"w{n}", None, LEASE) is not None
        clock.advance(LEASE)
    assert await queue.claim("survivor", None, LEASE) is None
    buried = await queue.get(job.id)
    assert buried is not None
    assert buried.state is JobState.DEAD
    assert buried.last_error is not None


async def test_same_dedupe_key_while_unfinished_gives_the_same_job(queue: JobQueue) -> None:
    first = await queue.enqueue("provision", '{"n": 1}', dedupe_key="VND-000001")
    second = await queue.enqueue("provision", '{"n": 2}', dedupe_key="VND-000001")
    assert first.created
    assert not second.created
    assert second.job.id == first.job.id
    assert (await queue.counts())[JobState.PENDING] == 1


async def test_dedupe_key_holds_while_the_job_runs(queue: JobQueue) -> None:
    first = await queue.enqueue("provision", "{}", dedupe_key="VND-000001")
    await queue.claim("w1", None, LEASE)
    again = await queue.enqueue("provision", "{}", dedupe_key="VND-000001")
    assert again.job.id == first.job.id
    assert not again.created


async def test_dedupe_key_is_free_again_once_the_job_finished(queue: JobQueue) -> None:
    first = await queue.enqueue("provision", "{}", dedupe_key="VND-000001")
    job = await queue.claim("w1", None, LEASE)
    assert job is not None
    await queue.complete(job.id, "w1")
    again = await queue.enqueue("provision", "{}", dedupe_key="VND-000001")
    assert again.created
    assert again.job.id != first.job.id


async def test_concurrent_enqueues_with_one_dedupe_key_make_one_job(
    database: Database, second_database: Database, clock: FakeClock
) -> None:
    queues = [JobQueue(database, clock=clock), JobQueue(second_database, clock=clock)]
    results = await asyncio.gather(
        *(queues[n % 2].enqueue("provision", "{}", dedupe_key="VND-000007") for n in range(12))
    )
    assert sum(result.created for result in results) == 1
    assert len({result.job.id for result in results}) == 1


async def test_cancel_ends_a_pending_job(queue: JobQueue) -> None:
    job = (await queue.enqueue("k", "{}")).job
    cancelled = await queue.cancel(job.id, "request cancelled")
    assert cancelled is not None
    assert cancelled.state is JobState.DEAD
    assert await queue.claim("w1", None, LEASE) is None


async def test_cancel_leaves_a_running_job_alone(queue: JobQueue) -> None:
    job = (await queue.enqueue("k", "{}")).job
    await queue.claim("w1", None, LEASE)
    assert await queue.cancel(job.id, "too late") is None


async def test_payload_must_be_json(queue: JobQueue) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - json.JSONDecodeError is a ValueError
        await queue.enqueue("k", "not json")


async def test_concurrent_claimers_on_two_engines_never_share_a_job(
    database: Database, second_database: Database, clock: FakeClock
) -> None:
    queues = [JobQueue(database, clock=clock), JobQueue(second_database, clock=clock)]
    for n in range(30):
        await queues[0].enqueue("k", json.dumps(n))

    async def worker(n: int) -> list[int]:
        queue = queues[n % 2]
        taken: list[int] = []
        while (job := await queue.claim(f"w{n}", None, LEASE)) is not None:
            taken.append(job.id)
            await queue.complete(job.id, f"w{n}")
        return taken

    per_worker = await asyncio.gather(*(worker(n) for n in range(6)))
    claimed = [job_id for taken in per_worker for job_id in taken]
    assert len(claimed) == 30
    assert len(set(claimed)) == 30
    assert (await queues[1].counts())[JobState.DONE] == 30
