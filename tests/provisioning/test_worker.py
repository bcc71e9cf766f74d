"""JobWorker on the real job queue: runs each job once across workers, takes over dead workers' jobs, keeps
its lease alive, survives failing handlers, stops cleanly; and drives the provisioning runner."""

# Fixtures are imported, then requested by name as parameters: pytest's pattern, not a redefinition.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from onboarding.requests import RequestStatus
from provisioning.runner import JOB_PROVISION, provision_payload
from provisioning.worker import JobWorker
from storage.database import Database
from storage.jobs import Job, JobQueue, JobState, RetryPolicy
from tests.provisioning.pipeline_fixtures import (  # noqa: F401  (fixtures)
    Pipeline,
    pipeline,
)
from tests.storage.conftest import FakeClock
from tests.support.postgres import any_migrated_database_url, postgres_url  # noqa: F401  (fixtures)

RETRY = RetryPolicy(max_attempts=3, backoff_base_seconds=10, backoff_max_seconds=60)
KIND = "test_job"


class Boom(Exception):
    """A handler bug."""


class Permanent(Exception):
    """An error that says retrying cannot help."""

    retryable = False


@pytest.fixture
async def database(any_migrated_database_url: str) -> AsyncIterator[Database]:
    db = await Database.connect(any_migrated_database_url)
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
async def second_database(any_migrated_database_url: str, database: Database) -> AsyncIterator[Database]:
    db = await Database.connect(any_migrated_database_url)
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def queue(database: Database, clock: FakeClock) -> JobQueue:
    return JobQueue(database, clock=clock, retry=RETRY)


def recording(seen: list[Job]) -> Callable[[Job], Awaitable[None]]:
    async def handle(job: Job) -> None:
        seen.append(job)

    return handle


class Endless:
    """A handler that runs until cancelled, recording that it started and that it was cancelled."""

    def __init__(self) -> None:
        self.started, self.cancelled = asyncio.Event(), asyncio.Event()

    async def __call__(self, job: Job) -> None:
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


async def wait_for(condition: Callable[[], bool], *, rounds: int = 400) -> None:
    """Yield to the workers until ``condition`` holds (bounded, so a broken worker fails the test)."""
    for _ in range(rounds):
        if condition():
            return
        await asyncio.sleep(0.025)
    raise AssertionError("the condition never became true")


async def test_run_once_without_a_due_job_returns_false(queue: JobQueue) -> None:
    worker = JobWorker(queue, {KIND: recording([])}, worker_id="w1")
    assert await worker.run_once() is False


async def test_run_once_runs_the_handler_and_completes_the_job(queue: JobQueue) -> None:
    seen: list[Job] = []
    enqueued = await queue.enqueue(KIND, json.dumps({"n": 1}))
    worker = JobWorker(queue, {KIND: recording(seen)}, worker_id="w1")
    assert await worker.run_once() is True
    assert [json.loads(job.payload_json) for job in seen] == [{"n": 1}]
    finished = await queue.get(enqueued.job.id)
    assert finished is not None
    assert finished.state is JobState.DONE


async def test_jobs_of_kinds_without_a_handler_are_left_alone(queue: JobQueue) -> None:
    enqueued = await queue.enqueue("other_kind", "{}")
    worker = JobWorker(queue, {KIND: recording([])}, worker_id="w1")
    assert await worker.run_once() is False
    untouched = await queue.get(enqueued.job.id)
    assert untouched is not None
    assert untouched.state is JobState.PENDING


async def test_a_failing_handler_fails_the_job_for_a_retry(queue: JobQueue) -> None:
    async def broken(job: Job) -> None:
        raise Boom("bug")

    enqueued = await queue.enqueue(KIND, "{}")
    await JobWorker(queue, {KIND: broken}, worker_id="w1").run_once()
    failed = await queue.get(enqueued.job.id)
    assert failed is not None
    assert (failed.state, failed.attempts) == (JobState.PENDING, 1)
    assert failed.last_error == "Boom"


async def test_an_error_that_is_not_retryable_kills_the_job(queue: JobQueue) -> None:
    async def refuse(job: Job) -> None:
        raise Permanent

    enqueued = await queue.enqueue(KIND, "{}")
    await JobWorker(queue, {KIND: refuse}, worker_id="w1").run_once()
    dead = await queue.get(enqueued.job.id)
    assert dead is not None
    assert dead.state is JobState.DEAD


async def test_a_failing_handler_is_logged_with_the_job_id(
    queue: JobQueue, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(job: Job) -> None:
        raise Boom("bug")

    enqueued = await queue.enqueue(KIND, "{}")
    with caplog.at_level(logging.ERROR, logger="provisioning.worker"):
        await JobWorker(queue, {KIND: broken}, worker_id="w1").run_once()
    [record] = [r for r in caplog.records if r.getMessage() == "job failed"]
    assert getattr(record, "job_id", None) == enqueued.job.id
    assert record.exc_info is not None


async def test_the_worker_keeps_going_after_a_bad_job(queue: JobQueue) -> None:
    handled: list[int] = []

    async def handle(job: Job) -> None:
        if json.loads(job.payload_json)["bad"]:
            raise Boom("bug")
        handled.append(job.id)

    bad = await queue.enqueue(KIND, json.dumps({"bad": True}))
    good = await queue.enqueue(KIND, json.dumps({"bad": False}))
    worker = JobWorker(queue, {KIND: handle}, worker_id="w1", poll_seconds=0.02)
    task = asyncio.create_task(worker.run_forever())
    await wait_for(lambda: handled == [good.job.id])
    await worker.stop()
    await task
    failed = await queue.get(bad.job.id)
    assert failed is not None
    assert failed.state is JobState.PENDING


async def test_two_workers_on_one_queue_never_run_a_job_twice(
    database: Database, second_database: Database, clock: FakeClock
) -> None:
    queues = [JobQueue(database, clock=clock), JobQueue(second_database, clock=clock)]
    for n in range(20):
        await queues[0].enqueue(KIND, json.dumps({"n": n}))
    runs: Counter[int] = Counter()

    async def handle(job: Job) -> None:
        runs[job.id] += 1
        await asyncio.sleep(0)  # let the other worker try to claim in between

    workers = [
        JobWorker(queue, {KIND: handle}, worker_id=f"w{n}", poll_seconds=0.02)
        for n, queue in enumerate(queues)
    ]
    tasks = [asyncio.create_task(worker.run_forever()) for worker in workers]
    await wait_for(lambda: len(runs) == 20)
    for worker in workers:
        await worker.stop()
    await asyncio.gather(*tasks)
    assert set(runs.values()) == {1}
    assert (await queues[0].counts())[JobState.DONE] == 20


async def test_a_job_whose_worker_died_is_run_by_another(queue: JobQueue, clock: FakeClock) -> None:
    seen: list[Job] = []
    enqueued = await queue.enqueue(KIND, "{}")
    assert await queue.claim("dead-worker", [KIND], 60) is not None
    survivor = JobWorker(queue, {KIND: recording(seen)}, worker_id="survivor", lease_seconds=60)
    assert await survivor.run_once() is False
    clock.advance(61)
    assert await survivor.run_once() is True
    assert [(job.id, job.attempts) for job in seen] == [(enqueued.job.id, 2)]
    done = await queue.get(enqueued.job.id)
    assert done is not None
    assert done.state is JobState.DONE


async def test_the_lease_is_renewed_while_a_job_runs(queue: JobQueue, clock: FakeClock) -> None:
    release = asyncio.Event()
    enqueued = await queue.enqueue(KIND, "{}")

    async def long_job(job: Job) -> None:
        await release.wait()

    worker = JobWorker(queue, {KIND: long_job}, worker_id="w1", lease_seconds=0.3)
    running = asyncio.create_task(worker.run_once())
    for _ in range(3):
        # Time passes for the queue; the worker's heartbeat must push the lease past it each time.
        clock.advance(0.2)
        await wait_for_lease_after(queue, enqueued.job.id, clock)
    assert await queue.claim("thief", [KIND], 60) is None
    release.set()
    assert await running is True


async def wait_for_lease_after(queue: JobQueue, job_id: int, clock: FakeClock) -> None:
    for _ in range(400):
        job = await queue.get(job_id)
        if job is not None and job.lease_expires_at is not None and job.lease_expires_at > clock.now:
            return
        await asyncio.sleep(0.025)
    raise AssertionError("the lease was never renewed")


async def test_a_job_whose_lease_was_taken_is_stopped(queue: JobQueue, clock: FakeClock) -> None:
    handler = Endless()
    enqueued = await queue.enqueue(KIND, "{}")
    worker = JobWorker(queue, {KIND: handler}, worker_id="w1", lease_seconds=0.3)
    running = asyncio.create_task(worker.run_once())
    await handler.started.wait()
    clock.advance(10)
    assert await queue.claim("thief", [KIND], 60) is not None
    assert await running is True
    assert handler.cancelled.is_set()
    taken = await queue.get(enqueued.job.id)
    assert taken is not None
    assert (taken.state, taken.lease_owner) == (JobState.RUNNING, "thief")


async def test_stop_ends_an_idle_worker(queue: JobQueue) -> None:
    worker = JobWorker(queue, {KIND: recording([])}, worker_id="w1", poll_seconds=10)
    task = asyncio.create_task(worker.run_forever())
    await asyncio.sleep(0.05)
    await worker.stop()
    await asyncio.wait_for(task, timeout=5)


async def test_stop_interrupts_a_job_that_outlives_the_grace_period(queue: JobQueue) -> None:
    handler = Endless()
    enqueued = await queue.enqueue(KIND, "{}")
    worker = JobWorker(queue, {KIND: handler}, worker_id="w1", poll_seconds=0.02)
    task = asyncio.create_task(worker.run_forever())
    await handler.started.wait()
    await worker.stop(grace_seconds=0.05)
    await asyncio.wait_for(task, timeout=5)
    assert handler.cancelled.is_set()
    interrupted = await queue.get(enqueued.job.id)
    assert interrupted is not None
    assert interrupted.state is JobState.RUNNING  # leased until it runs out, then claimed again


async def test_a_job_cancelled_from_outside_is_let_go_and_the_worker_goes_on(
    queue: JobQueue, caplog: pytest.LogCaptureFixture
) -> None:
    # The job alone is cancelled, its heartbeat still running (as when a cut-off catches the heartbeat in the
    # middle of a renewal): the worker must not mistake that for its own cancellation and die.
    started = asyncio.Event()
    seen: list[Job] = []
    first = await queue.enqueue(KIND, json.dumps({"n": 1}))

    async def handle(job: Job) -> None:
        if job.id == first.job.id:
            started.set()
            await asyncio.Event().wait()
        seen.append(job)

    worker = JobWorker(queue, {KIND: handle}, worker_id="w1", poll_seconds=0.02)
    task = asyncio.create_task(worker.run_forever(), name="job-worker")
    await started.wait()
    for running in asyncio.all_tasks():
        if running.get_name().startswith(f"job-{first.job.id}-"):
            running.cancel()
    second = await queue.enqueue(KIND, json.dumps({"n": 2}))
    worker.wake()
    await wait_for(lambda: [job.id for job in seen] == [second.job.id])
    assert not task.done()
    assert any(r.getMessage() == "job interrupted" for r in caplog.records)
    let_go = await queue.get(first.job.id)
    assert let_go is not None
    assert let_go.state is JobState.RUNNING  # leased until it runs out, then claimed again
    await worker.stop()
    await asyncio.wait_for(task, timeout=5)


async def test_cancelling_the_worker_while_a_job_runs_ends_the_worker(queue: JobQueue) -> None:
    handler = Endless()
    await queue.enqueue(KIND, "{}")
    worker = JobWorker(queue, {KIND: handler}, worker_id="w1", poll_seconds=0.02)
    task = asyncio.create_task(worker.run_forever())
    await handler.started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=5)
    assert handler.cancelled.is_set()
    assert task.cancelled()  # the cancellation reached the worker, not swallowed as the job's own


def test_a_worker_needs_a_handler(queue: JobQueue) -> None:
    with pytest.raises(ValueError, match="handler"):
        JobWorker(queue, {}, worker_id="w1")


# ------------------------------------------------------------------------------- with the runner


async def test_a_provision_job_run_by_the_worker_provisions_the_request(pipeline: Pipeline) -> None:
    stored = await pipeline.approved()
    queue = JobQueue(pipeline.database)
    await queue.enqueue(JOB_PROVISION, provision_payload(stored.request.number))
    worker = JobWorker(queue, pipeline.runner().job_handlers(), worker_id="w1")
    assert await worker.run_once() is True
    assert (await pipeline.current(stored.request.number)).request.status is RequestStatus.PROVISIONED
    assert (await queue.counts())[JobState.DONE] == 1


async def test_a_throttled_provision_job_is_retried_later(pipeline: Pipeline) -> None:
    pipeline.sandbox.tenant.faults.inject("throttle", route="POST /users", times=None, retry_after=0)
    stored = await pipeline.approved()
    queue = JobQueue(pipeline.database)
    enqueued = await queue.enqueue(JOB_PROVISION, provision_payload(stored.request.number))
    await JobWorker(queue, pipeline.runner().job_handlers(), worker_id="w1").run_once()
    job = await queue.get(enqueued.job.id)
    assert job is not None
    assert job.state is JobState.PENDING
    assert job.last_error is not None
    assert "graph.throttled" in job.last_error
    assert (await pipeline.current(stored.request.number)).request.status is RequestStatus.PROVISIONING
