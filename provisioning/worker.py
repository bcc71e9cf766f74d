"""The background worker: drains the durable job queue in the bot process, one job at a time.

Several workers (one per bot instance, or more) can share one queue: a claim leases a job to one worker
(:meth:`storage.jobs.JobQueue.claim` is atomic on both databases), the worker heartbeats while the handler
runs, and a job whose worker died is claimed again by another once its lease has run out. A handler that
raises fails its job (retried with the queue's backoff unless the error says ``retryable = False``); the
worker logs it with the job id and goes on with the next job. It never dies on one bad job.

::

    worker = JobWorker(queue, runner.job_handlers(), worker_id=f"{hostname}:{pid}")
    task = asyncio.create_task(worker.run_forever())
    ...
    await worker.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

from storage.errors import LeaseLostError, StorageError
from storage.jobs import Job, JobQueue

__all__ = ["BOT_ACTOR", "BadJobPayload", "JobWorker"]

log = logging.getLogger(__name__)

_MAX_REASON_CHARS: Final = 1000
#: After the queue itself failed (database unreachable), wait this many poll intervals at most.
_MAX_IDLE_FACTOR: Final = 20

#: The audit actor name for what the bot does on its own (its Graph identity acts, nobody clicked).
BOT_ACTOR: Final = "Vendor onboarding bot"


class BadJobPayload(ValueError):
    """A job's payload is not what its kind needs; retrying cannot help."""

    retryable = False


class JobWorker:
    """Claims due jobs of the kinds it has handlers for and runs them, heartbeating their leases."""

    def __init__(
        self,
        queue: JobQueue,
        handlers: Mapping[str, Callable[[Job], Awaitable[None]]],
        *,
        worker_id: str,
        lease_seconds: float = 60,
        poll_seconds: float = 0.5,
    ) -> None:
        """Run ``handlers[job.kind](job)`` for jobs claimed from ``queue`` as ``worker_id`` (unique per
        running worker). The lease is renewed every third of ``lease_seconds`` while a handler runs; an
        idle worker looks for work every ``poll_seconds`` (or at once after :meth:`wake`)."""
        if not handlers:
            raise ValueError("a worker needs at least one handler")
        if lease_seconds <= 0 or poll_seconds <= 0:
            raise ValueError("lease_seconds and poll_seconds must be positive")
        self._queue = queue
        self._handlers = dict(handlers)
        self._worker_id = worker_id
        self._lease_seconds = lease_seconds
        self._poll_seconds = poll_seconds
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._stopped = asyncio.Event()
        self._stopped.set()
        self._current: asyncio.Task[None] | None = None

    @property
    def worker_id(self) -> str:
        """Who this worker is in the queue's leases."""
        return self._worker_id

    def wake(self) -> None:
        """Look for work now instead of at the next poll (call after enqueueing)."""
        self._wake.set()

    async def run_once(self) -> bool:
        """Claim one due job and run it to the end; False when nothing was due."""
        job = await self._queue.claim(self._worker_id, list(self._handlers), self._lease_seconds)
        if job is None:
            return False
        await self._run(job)
        return True

    async def run_forever(self) -> None:
        """Run jobs until :meth:`stop`; errors of the queue itself are logged and waited out."""
        self._stopping.clear()
        self._stopped.clear()
        failures = 0
        try:
            while not self._stopping.is_set():
                try:
                    ran = await self.run_once()
                    failures = 0
                except asyncio.CancelledError:
                    raise
                except Exception:
                    failures += 1
                    log.exception("job queue unavailable", extra={"worker_id": self._worker_id})
                    ran = False
                if not ran:
                    await self._idle(min(failures, _MAX_IDLE_FACTOR) or 1)
        finally:
            self._stopped.set()

    async def stop(self, *, grace_seconds: float = 30.0) -> None:
        """Stop after the job that is running, waiting ``grace_seconds`` for it; then cancel it.

        A cancelled job keeps its lease until it runs out, then another worker claims it again; provisioning
        steps are idempotent, so running one again is safe.
        """
        self._stopping.set()
        self._wake.set()
        current = self._current
        if current is not None and not current.done():
            done, _ = await asyncio.wait({current}, timeout=grace_seconds)
            if not done:
                current.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await current
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), timeout=grace_seconds)

    async def _idle(self, factor: int) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=self._poll_seconds * factor)

    async def _run(self, job: Job) -> None:
        context = {
            "job_id": job.id,
            "job_kind": job.kind,
            "attempt": job.attempts,
            "worker_id": self._worker_id,
        }
        handler = self._handlers[job.kind]

        async def handle() -> None:
            await handler(job)

        self._current = asyncio.create_task(handle(), name=f"job-{job.id}-{job.kind}")
        heartbeat = asyncio.create_task(self._heartbeat(job, self._current), name=f"heartbeat-{job.id}")
        try:
            await self._current
        except asyncio.CancelledError:
            worker = asyncio.current_task()
            if worker is not None and worker.cancelling():
                raise  # the worker itself is being cancelled (its awaited job with it): let it end
            # The job alone was cancelled (by stop(), by its heartbeat when the lease was lost, or from
            # outside, as a crash of the job would): the next worker to claim it runs it; this one goes on.
            log.warning("job interrupted", extra=context)
            return
        except Exception as err:
            log.exception("job failed", extra=context)
            await self._fail(job, err, context)
            return
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            self._current = None
        try:
            await self._queue.complete(job.id, self._worker_id)
        except LeaseLostError:
            log.warning("job finished after its lease was lost", extra=context)

    async def _fail(self, job: Job, err: Exception, context: dict[str, object]) -> None:
        retry = bool(getattr(err, "retryable", True))
        try:
            updated = await self._queue.fail(job.id, self._worker_id, _reason(err), retry=retry)
        except LeaseLostError:
            log.warning("failed job's lease was already lost", extra=context)
            return
        log.info("job will be retried" if not updated.finished else "job is dead", extra=context)

    async def _heartbeat(self, job: Job, task: asyncio.Task[None]) -> None:
        """Renew the lease while ``task`` runs; if the lease is lost, stop the task (someone else has it)."""
        interval = self._lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            try:
                await self._queue.heartbeat(job.id, self._worker_id, self._lease_seconds)
            except LeaseLostError:
                log.warning(
                    "job lease lost; stopping it", extra={"job_id": job.id, "worker_id": self._worker_id}
                )
                task.cancel()
                return
            except Exception:
                # A failed heartbeat is retried at the next interval; the lease has two more to go.
                log.exception("job heartbeat failed", extra={"job_id": job.id})


def _reason(err: Exception) -> str:
    """What the job row records: the type and code, and the message of this project's own errors only
    (they are written never to contain secrets; a third-party message might)."""
    code = getattr(err, "code", None)
    head = f"{type(err).__name__}" + (f" [{code}]" if isinstance(code, str) else "")
    if isinstance(err, StorageError) or type(err).__module__.startswith(("provisioning.", "onboarding.")):
        return f"{head}: {err}"[:_MAX_REASON_CHARS]
    return head
