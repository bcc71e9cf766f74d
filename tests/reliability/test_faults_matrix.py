"""Faults x steps: every provisioning step under every fault Graph produces, ending in the right state.

For each step (check, create, license, groups, record) and each fault kind the sandbox injects on that
step's Graph route (429 with Retry-After, 503, 504, a read timeout, a dropped connection before and after
the request took effect, replication 404), two cases run on the real msgraph-sdk gateway and the real
sandbox tenant:

* **passing**: the fault hits twice (more than the SDK's own retries), the job is run as the queue runs
  it (up to three attempts): the request ends provisioned;
* **persistent**: the fault never clears: after the queue's last attempt the request is failed *at that
  step* with a catalogue reason; the fault is then cleared, an approver clicks Retry, and the run ends
  provisioned.

Both end with exactly one account carrying the request's marker, the planned license once (seat count up
by exactly one: no orphan license), and one membership of the vendor-accounts group.

The fault is injected when the run reaches the step (at the checkpoint before it), so an earlier step
that uses the same route (``GET /subscribedSkus`` in check and license) is not hit. ``record`` makes no
Graph call; its cases inject on every route and show the step does not depend on Graph.
"""

# Fixtures are imported, then requested by name as parameters: pytest's pattern, not a redefinition.
# ruff: noqa: F811

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace

import pytest

from onboarding.requests import RequestStatus
from provisioning.errors import GraphError
from provisioning.graph import GraphGateway, StaticTokenCredential
from provisioning.progress import PROVISIONING_STEPS
from provisioning.runner import RequestIdCapture
from settings import SANDBOX_VENDOR_ACCOUNTS_GROUP_ID
from tests.provisioning.pipeline_fixtures import FAST, REMOTE_ASSIST, Pipeline, pipeline  # noqa: F401
from tests.provisioning.test_runner import job

#: The gateway's read timeout in these tests, and the latency that exceeds it.
READ_TIMEOUT = 0.4
SLOW = 1.0
#: Attempts of a job before the queue gives up (the product's default is higher; two show the behaviour).
ATTEMPTS = 2

#: Where each step calls Graph (the route the fault goes on), and the checkpoint just before the step.
STEP_ROUTE: dict[str, str | None] = {
    "check": "GET /subscribedSkus",
    "create": "POST /users",
    "license": "POST /users/{id}/assignLicense",
    "groups": "POST /groups/{id}/members/$ref",
    "record": None,  # no Graph call: the fault goes on every route
}
#: Replication lag makes the *created* account 404 for a while, on the route that addresses it in that step
#: (None: every route). It must be injected before the account is created, so it goes in before the create
#: step whatever the step under test; at the check (and at the create, which takes the account from the
#: POST's answer) no call addresses the new account yet, so the lag first shows where license reads it.
LAG_ROUTE: dict[str, str | None] = {
    "check": None,
    "create": None,
    "license": "POST /users/{id}/assignLicense",
    "groups": "POST /groups/{id}/members/$ref",
    "record": None,
}
FAILS_AT = {("check", "replication_lag"): "license", ("create", "replication_lag"): "license"}
BEFORE_STEP: dict[str, str | None] = {
    "check": None,
    "create": "check:done",
    "license": "create:done",
    "groups": "license:done",
    "record": "groups:done",
}


#: Persistent faults a step gets through without failing, by design: the request took effect although its
#: answer was lost (or came too late), and the step finds its own work on the next call instead of
#: repeating it. ``record`` makes no Graph call at all.
RECOVERS = {
    ("create", "timeout"),
    ("create", "dropped-after-effect"),
    ("license", "dropped-after-effect"),
    ("groups", "dropped-after-effect"),
    *(("record", fault) for fault in ("429-retry-after", "503", "504", "timeout", "dropped-connection")),
    ("record", "dropped-after-effect"),
    ("record", "replication-404"),
}


@dataclass(frozen=True)
class Fault:
    """A fault kind as the sandbox's ``Faults.inject`` takes it."""

    name: str
    kind: str
    retry_after: float = 0
    seconds: float = 0
    after_effect: bool = False


FAULTS = (
    # Retry-After 1 s on the passing case (the SDK honours it); 0 on the persistent one to keep it quick.
    Fault("429-retry-after", "throttle", retry_after=1),
    Fault("503", "unavailable"),
    Fault("504", "gateway_timeout"),
    Fault("timeout", "latency", seconds=SLOW),
    Fault("dropped-connection", "drop"),
    Fault("dropped-after-effect", "drop", after_effect=True),
    Fault("replication-404", "replication_lag", seconds=10.0),
)


@pytest.fixture
async def wired(pipeline: Pipeline) -> AsyncIterator[Pipeline]:
    """The pipeline with a gateway whose read timeout a slow answer can exceed."""
    gateway = GraphGateway(
        pipeline.sandbox.base_url,
        StaticTokenCredential(),
        options=replace(FAST, read_timeout=READ_TIMEOUT, max_retry_after=2.0),
        transport=RequestIdCapture(),
    )
    async with gateway:
        pipeline.graph = gateway
        yield pipeline


def injector(
    pipeline: Pipeline, step: str, fault: Fault, *, persistent: bool
) -> Callable[[str], Awaitable[None]]:
    """A checkpoint hook that injects ``fault`` once, when the run is about to start ``step``."""
    injected = False

    def inject() -> None:
        nonlocal injected
        if injected:
            return
        injected = True
        lagging = fault.kind == "replication_lag"
        retry_after = 0 if persistent else fault.retry_after
        seconds = 10_000.0 if lagging and persistent else fault.seconds
        times = 1 if lagging else (None if persistent else 2)
        pipeline.sandbox.tenant.faults.inject(
            fault.kind,
            route=(LAG_ROUTE if lagging else STEP_ROUTE)[step],
            times=times,
            retry_after=retry_after,
            seconds=seconds,
            after_effect=fault.after_effect,
        )

    lag_first = fault.kind == "replication_lag" and step in ("create", "license", "groups")
    before = "check:done" if lag_first else BEFORE_STEP[step]
    if before is None:
        inject()

    async def checkpoint(point: str) -> None:
        if point == before:
            inject()

    return checkpoint


async def no_fault(point: str) -> None:
    """The checkpoint hook of a run after the fault was cleared."""


async def run_like_the_queue(
    pipeline: Pipeline, number: int, checkpoint: Callable[[str], Awaitable[None]] = no_fault
) -> None:
    """The provision job, attempted as the job queue attempts it (a transient error: try again later)."""
    runner = pipeline.runner(checkpoint=checkpoint)
    for attempt in range(1, ATTEMPTS + 1):
        try:
            await runner.provision_job(
                job(f'{{"number": {number}}}', attempts=attempt, max_attempts=ATTEMPTS)
            )
            return
        except GraphError as err:
            if not err.retryable:
                raise AssertionError(f"a non-retryable error escaped the run: {err!r}") from err


async def assert_one_complete_account(pipeline: Pipeline, number: int, consumed_before: int) -> None:
    request = (await pipeline.current(number)).request
    assert request.status is RequestStatus.PROVISIONED
    [user] = pipeline.users_with_marker(request.request_id)
    tenant = pipeline.sandbox.tenant
    with tenant.lock:
        sku_id = tenant.sku_by_part_number(REMOTE_ASSIST)["skuId"]
        held = [lic["skuId"] for lic in tenant.users[user["id"]].get("assignedLicenses", [])]
    assert held == [sku_id]
    assert pipeline.seats()[0] == consumed_before + 1
    assert pipeline.group_members(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID).count(user["id"]) == 1


CASES = [
    pytest.param(step, fault, id=f"{step}-{fault.name}") for step in PROVISIONING_STEPS for fault in FAULTS
]


def test_the_matrix_covers_every_provisioning_step() -> None:
    assert set(STEP_ROUTE) == set(PROVISIONING_STEPS)


@pytest.mark.parametrize(("step", "fault"), CASES)
async def test_a_passing_fault_ends_provisioned(wired: Pipeline, step: str, fault: Fault) -> None:
    consumed_before, _ = wired.seats()
    number = (await wired.approved()).request.number
    await run_like_the_queue(wired, number, injector(wired, step, fault, persistent=False))
    await assert_one_complete_account(wired, number, consumed_before)


@pytest.mark.parametrize(("step", "fault"), CASES)
async def test_a_persistent_fault_fails_at_its_step_and_retry_completes(
    wired: Pipeline, step: str, fault: Fault
) -> None:
    consumed_before, _ = wired.seats()
    number = (await wired.approved()).request.number
    await run_like_the_queue(wired, number, injector(wired, step, fault, persistent=True))
    request = (await wired.current(number)).request
    if request.status is RequestStatus.FAILED:
        assert request.failure is not None
        assert request.failure.step == FAILS_AT.get((step, fault.kind), step)
        assert request.failure.reason
        assert "Error" not in request.failure.reason
        wired.sandbox.tenant.faults.clear()
        wired.tenant_clock.advance(20_000)  # a lagging account has replicated by now
        await wired.retried(number)
        await run_like_the_queue(wired, number)
    else:
        assert (step, fault.name) in RECOVERS, request.status
    wired.sandbox.tenant.faults.clear()
    await assert_one_complete_account(wired, number, consumed_before)
