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

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import pytest

from onboarding.audit import AuditAction
from onboarding.requests import RequestStatus
from provisioning.errors import GraphError
from provisioning.graph import GraphGateway, StaticTokenCredential
from provisioning.graph_calls import RequestIdCapture
from provisioning.offboarding import (
    JOB_OFFBOARD,
    OFFBOARDING_STEP_LABELS,
    OFFBOARDING_STEPS,
    OffboardingRunner,
    offboard_payload,
    offboarding_subject,
)
from provisioning.progress import PROVISIONING_STEPS
from sandbox.routes import known_route
from sandbox.tenant import _Lag
from settings import SANDBOX_VENDOR_ACCOUNTS_GROUP_ID
from storage.accounts import AccountState
from storage.requests import StepState
from tests.provisioning.lifecycle_support import UPN, Lifecycle, lifecycle_on, provisioned
from tests.provisioning.pipeline_fixtures import (  # noqa: F401
    ADAM,
    FAST,
    REMOTE_ASSIST,
    Pipeline,
    pipeline,
)
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


# Each kind of case is a class of its own: pytest-xdist (--dist loadscope) hands out classes, so the matrix
# runs on several workers at once.
class TestProvisioningWithAPassingFault:
    """A fault that passes: the run ends provisioned."""

    @pytest.mark.parametrize(("step", "fault"), CASES)
    async def test_a_passing_fault_ends_provisioned(self, wired: Pipeline, step: str, fault: Fault) -> None:
        consumed_before, _ = wired.seats()
        number = (await wired.approved()).request.number
        await run_like_the_queue(wired, number, injector(wired, step, fault, persistent=False))
        await assert_one_complete_account(wired, number, consumed_before)


class TestProvisioningWithAPersistentFault:
    """A fault that stays: the run fails at its step with its reason; Retry completes."""

    @pytest.mark.parametrize(("step", "fault"), CASES)
    async def test_a_persistent_fault_fails_at_its_step_and_retry_completes(
        self, wired: Pipeline, step: str, fault: Fault
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


# ------------------------------------------------------------------------------------------ offboarding
#
# The same faults on every offboarding step that calls Graph (disable, revoke, licenses, groups):
# a provisioned account is offboarded as the job queue runs an ``offboard`` job. A passing fault ends with
# the account offboarded; a persistent one either fails the step with its reason, after which
# ``offboard <upn>`` again completes, or is one the step gets through by design. Either way the end is one
# disabled account holding no license (the seat is back), in no planned group, disabled once.
#
# To keep these rows quick the SDK's own retries are off (they add 0.5-1.5 s of back-off each, and the
# provisioning rows above already show them, as they show the gateway's re-send of an idempotent call
# after a lost answer): the job queue's attempts are what retry, as they do for
# offboarding in production. The gateway waits out a 404 on a write the way production does
# (``replication_wait``), on a shorter clock.

#: Where each offboarding step writes to Graph (the route the fault goes on), and the checkpoint before it.
OFFBOARDING_ROUTE: dict[str, str | None] = {
    "disable": "PATCH /users/{id}",
    "revoke": "POST /users/{id}/revokeSignInSessions",
    "licenses": "POST /users/{id}/assignLicense",
    "groups": "DELETE /groups/{id}/members/{id}/$ref",
    "record": None,  # no Graph call: the fault goes on every route
}
OFFBOARDING_BEFORE: dict[str, str | None] = {
    "disable": None,
    "revoke": "disable:done",
    "licenses": "revoke:done",
    "groups": "licenses:done",
    "record": "groups:done",
}
#: Attempts of an offboard job in these rows: a passing fault hits the first two.
OFFBOARDING_ATTEMPTS = 3
#: Persistent faults an offboarding step gets through by design: the write took effect although its answer
#: was lost or late, and the next call finds it done.
OFFBOARDING_RECOVERS = {
    *((step, "dropped-after-effect") for step in ("disable", "revoke", "licenses", "groups")),
    *((step, "timeout") for step in ("disable", "revoke", "licenses", "groups")),
}


@pytest.fixture
async def offboarding_wired(pipeline: Pipeline) -> AsyncIterator[Pipeline]:
    """The pipeline with a gateway for the offboarding rows: SDK and transport retries off, short 404 wait."""
    gateway = GraphGateway(
        pipeline.sandbox.base_url,
        StaticTokenCredential(),
        options=replace(
            FAST,
            read_timeout=0.2,
            max_retries=0,
            transport_retries=0,
            replication_wait=0.5,
            replication_poll=0.01,
        ),
        transport=RequestIdCapture(),
    )
    async with gateway:
        pipeline.graph = gateway
        yield pipeline


def lag_existing_user(pipeline: Pipeline, user_id: str, route: str | None, seconds: float) -> None:
    """Make an existing account 404 on ``route`` (None: every route) for ``seconds`` of tenant time.

    The sandbox lags only users it is creating; an account offboarded minutes after it was created is in
    the same state, so the lag is put on it directly (the sandbox has no public switch for that).
    """
    tenant = pipeline.sandbox.tenant
    with tenant.lock:
        tenant._lag[user_id] = _Lag(tenant.clock.monotonic() + seconds, known_route(route) if route else None)


@asynccontextmanager
async def tenant_time_passing(pipeline: Pipeline) -> AsyncIterator[None]:
    """Tenant time runs fast while the block runs (5 s per 10 ms), so a short lag clears during a wait."""

    async def tick() -> None:
        while True:
            await asyncio.sleep(0.01)
            pipeline.tenant_clock.advance(5)

    ticker = asyncio.create_task(tick())
    try:
        yield
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker


def offboarding_injector(
    pipeline: Pipeline, user_id: str, step: str, fault: Fault, *, persistent: bool
) -> Callable[[str], Awaitable[None]]:
    """A checkpoint hook that injects ``fault`` once, when the offboarding run is about to start ``step``."""
    injected = False

    def inject() -> None:
        nonlocal injected
        if injected:
            return
        injected = True
        route = OFFBOARDING_ROUTE[step]
        if fault.kind == "replication_lag":
            lag_existing_user(pipeline, user_id, route, 1e12 if persistent else fault.seconds)
            return
        pipeline.sandbox.tenant.faults.inject(
            fault.kind,
            route=route,
            times=None if persistent else 2,
            retry_after=0,  # no SDK retry here to honour it; the queue's back-off stands in for it
            seconds=fault.seconds,
            after_effect=fault.after_effect,
        )

    before = OFFBOARDING_BEFORE[step]
    if before is None:
        inject()

    async def checkpoint(point: str) -> None:
        if point == before:
            inject()

    return checkpoint


async def offboard_like_the_queue(pipeline: Pipeline, runner: OffboardingRunner, *, job_id: int = 1) -> None:
    """The ``offboard`` job, attempted as the job queue attempts it (a transient error: try again later)."""
    payload = offboard_payload(UPN, reason="manual", by=ADAM)
    for attempt in range(1, OFFBOARDING_ATTEMPTS + 1):
        attempt_job = job(payload, attempts=attempt, max_attempts=OFFBOARDING_ATTEMPTS)
        try:
            await runner.offboard_job(replace(attempt_job, id=job_id, kind=JOB_OFFBOARD))
            return
        except GraphError as err:
            if not err.retryable:
                raise AssertionError(f"a non-retryable error escaped the run: {err!r}") from err


async def assert_offboarded_cleanly(
    pipeline: Pipeline, life: Lifecycle, user_id: str, consumed_before: int
) -> None:
    account = await life.accounts.get(UPN)
    assert account is not None
    assert account.state == AccountState.OFFBOARDED
    tenant = pipeline.sandbox.tenant
    with tenant.lock:
        user = dict(tenant.users[user_id])
    assert user["accountEnabled"] is False
    assert user.get("assignedLicenses", []) == [], "a license was left assigned"
    assert pipeline.seats()[0] == consumed_before, "the seat did not come back"
    assert user_id not in pipeline.group_members(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID)
    # A PATCH re-sent after a lost answer is idempotent; what must not happen is the step running twice.
    records = await life.audit.for_request("VND-000001")
    disables = [r for r in records if r.action is AuditAction.ACCOUNT_DISABLED]
    assert len(disables) <= 1, "sign-in was disabled twice"


def _offboarding_case(step: str, fault: Fault) -> Any:
    return pytest.param(step, fault, id=f"{step}-{fault.name}")


#: ``record`` makes no Graph call (its provisioning twin above shows faults everywhere do not reach such a
#: step), so the offboarding rows are the four steps that write to Graph.
GRAPH_STEPS = tuple(step for step in OFFBOARDING_STEPS if OFFBOARDING_ROUTE[step] is not None)
OFFBOARDING_CASES = [_offboarding_case(step, fault) for step in GRAPH_STEPS for fault in FAULTS]


def test_the_matrix_covers_every_offboarding_step() -> None:
    assert set(OFFBOARDING_ROUTE) == set(OFFBOARDING_STEPS)
    assert set(OFFBOARDING_STEPS) - set(GRAPH_STEPS) == {"record"}


class TestOffboardingWithAPassingFault:
    """A fault that passes: the account ends offboarded."""

    @pytest.mark.parametrize(("step", "fault"), OFFBOARDING_CASES)
    async def test_a_passing_fault_ends_offboarded(
        self, offboarding_wired: Pipeline, step: str, fault: Fault
    ) -> None:
        wired = offboarding_wired
        consumed_before, _ = wired.seats()
        await provisioned(wired)
        [user] = wired.users_with_marker("VND-000001")
        life = lifecycle_on(wired)
        injector = offboarding_injector(wired, user["id"], step, fault, persistent=False)
        async with tenant_time_passing(wired):
            await offboard_like_the_queue(wired, life.runner(checkpoint=injector))
        await assert_offboarded_cleanly(wired, life, user["id"], consumed_before)


class TestOffboardingWithAPersistentFault:
    """A fault that stays: offboarding fails at its step; offboarding again completes."""

    @pytest.mark.parametrize(("step", "fault"), OFFBOARDING_CASES)
    async def test_a_persistent_fault_fails_offboarding_at_its_step_and_offboarding_again_completes(
        self, offboarding_wired: Pipeline, step: str, fault: Fault
    ) -> None:
        wired = offboarding_wired
        consumed_before, _ = wired.seats()
        await provisioned(wired)
        [user] = wired.users_with_marker("VND-000001")
        life = lifecycle_on(wired)
        injector = offboarding_injector(wired, user["id"], step, fault, persistent=True)
        await offboard_like_the_queue(wired, life.runner(checkpoint=injector))
        recorded = await life.steps.steps(offboarding_subject(UPN))
        if recorded[step].state is StepState.FAILED:
            reason = recorded[step].detail
            assert reason
            assert "Error" not in reason
            assert life.notices.failures[-1][1] == OFFBOARDING_STEP_LABELS[step]
            wired.sandbox.tenant.faults.clear()
            lag_existing_user(wired, user["id"], None, 0)  # a lagging account has replicated by now
            await offboard_like_the_queue(wired, life.runner(), job_id=2)
        else:
            assert (step, fault.name) in OFFBOARDING_RECOVERS, recorded[step]
        wired.sandbox.tenant.faults.clear()
        await assert_offboarded_cleanly(wired, life, user["id"], consumed_before)
