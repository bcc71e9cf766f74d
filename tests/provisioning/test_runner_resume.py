"""A provisioning run stopped anywhere (crash, replication lag, throttling) resumes to one single account:
one user, licenses assigned once, seats consumed once, and the password the vault holds."""

# Fixtures are imported, then requested by name as parameters: pytest's pattern, not a redefinition.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from onboarding.audit import AuditAction
from onboarding.requests import RequestStatus
from provisioning.errors import Throttled, Unavailable
from provisioning.progress import PROVISIONING_STEPS
from provisioning.runner import CHECKPOINTS
from settings import SANDBOX_VENDOR_ACCOUNTS_GROUP_ID
from storage.requests import StepState
from tests.provisioning.pipeline_fixtures import (  # noqa: F401  (fixtures)
    ALICE,
    REPLICATION_WAIT,
    Pipeline,
    pipeline,
)
from tests.provisioning.test_runner import job
from tests.support.postgres import any_migrated_database_url, postgres_url  # noqa: F401  (fixtures)


class Crash(Exception):
    """The process died here."""


def crash_at(point: str) -> Callable[[str], Awaitable[None]]:
    async def checkpoint(reached: str) -> None:
        if reached == point:
            raise Crash(point)

    return checkpoint


async def assert_one_complete_account(pipeline: Pipeline, number: int, consumed_before: int) -> None:
    request = (await pipeline.current(number)).request
    users = pipeline.users_with_marker(request.request_id)
    assert request.status is RequestStatus.PROVISIONED
    assert len(users) == 1
    assert pipeline.writes("POST /users") == 1
    assert pipeline.writes("POST /users/{id}/assignLicense") == 1
    assert pipeline.seats()[0] == consumed_before + 1
    assert pipeline.group_members(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID).count(users[0]["id"]) == 1
    steps = await pipeline.steps.steps(number)
    assert all(steps[name].state is StepState.DONE for name in PROVISIONING_STEPS)


@pytest.mark.parametrize("point", CHECKPOINTS)
async def test_a_crash_at_any_point_resumes_to_one_account(pipeline: Pipeline, point: str) -> None:
    consumed_before, _ = pipeline.seats()
    stored = await pipeline.approved()
    number = stored.request.number
    with pytest.raises(Crash):
        await pipeline.runner(checkpoint=crash_at(point)).provision(number)
    assert (await pipeline.current(number)).request.status is RequestStatus.PROVISIONING
    await pipeline.runner().provision(number)
    await assert_one_complete_account(pipeline, number, consumed_before)


@pytest.mark.parametrize("point", ["create:password_stored", "create:account_created", "license:done"])
async def test_after_a_crash_the_vault_holds_the_password_the_account_got(
    pipeline: Pipeline, point: str
) -> None:
    stored = await pipeline.approved()
    number = stored.request.number
    with pytest.raises(Crash):
        await pipeline.runner(checkpoint=crash_at(point)).provision(number)
    await pipeline.runner().provision(number)
    [body] = pipeline.create_bodies.bodies
    assert await pipeline.vault.reveal(number, ALICE.aad_object_id) == body["passwordProfile"]["password"]


async def test_crashes_at_every_point_in_turn_still_make_one_account(pipeline: Pipeline) -> None:
    consumed_before, _ = pipeline.seats()
    stored = await pipeline.approved()
    number = stored.request.number
    for point in CHECKPOINTS:
        try:
            await pipeline.runner(checkpoint=crash_at(point)).provision(number)
        except Crash:
            continue
    await pipeline.runner().provision(number)
    await assert_one_complete_account(pipeline, number, consumed_before)


async def test_a_step_running_when_the_worker_died_is_run_again(pipeline: Pipeline) -> None:
    stored = await pipeline.approved()
    number = stored.request.number
    with pytest.raises(Crash):
        await pipeline.runner(checkpoint=crash_at("license:assigned")).provision(number)
    steps = await pipeline.steps.steps(number)
    assert steps["license"].state is StepState.RUNNING
    await pipeline.runner().provision(number)
    assert (await pipeline.steps.steps(number))["license"].state is StepState.DONE


async def test_a_resumed_run_skips_the_steps_already_done(pipeline: Pipeline) -> None:
    stored = await pipeline.approved()
    number = stored.request.number
    with pytest.raises(Crash):
        await pipeline.runner(checkpoint=crash_at("license:done")).provision(number)
    pipeline.sandbox.tenant.requests.clear()
    await pipeline.runner().provision(number)
    routes = {str(r.route) for r in pipeline.sandbox.tenant.requests}
    assert not any("assignLicense" in route or route.endswith("/subscribedSkus") for route in routes)
    assert pipeline.writes("POST /users") == 0


async def test_a_lost_answer_to_the_create_does_not_make_a_second_account(pipeline: Pipeline) -> None:
    pipeline.sandbox.tenant.faults.inject("drop", route="POST /users", times=1, after_effect=True)
    consumed_before, _ = pipeline.seats()
    stored = await pipeline.approved()
    await pipeline.runner().provision(stored.request.number)
    request = (await pipeline.current(stored.request.number)).request
    assert request.status is RequestStatus.PROVISIONED
    assert len(pipeline.users_with_marker(request.request_id)) == 1
    assert pipeline.seats()[0] == consumed_before + 1


# ------------------------------------------------------------------------------------ replication


async def test_replication_404s_after_create_are_waited_out(pipeline: Pipeline) -> None:
    pipeline.sandbox.tenant.faults.inject("replication_lag", seconds=5)
    consumed_before, _ = pipeline.seats()
    stored = await pipeline.approved()
    await pipeline.runner().provision(stored.request.number)
    await assert_one_complete_account(pipeline, stored.request.number, consumed_before)
    assert 5 <= sum(pipeline.sleeps) <= REPLICATION_WAIT


async def test_replication_waits_back_off(pipeline: Pipeline) -> None:
    pipeline.sandbox.tenant.faults.inject("replication_lag", seconds=10)
    stored = await pipeline.approved()
    await pipeline.runner().provision(stored.request.number)
    assert pipeline.sleeps[:4] == [1.0, 2.0, 4.0, 8.0]


async def test_replication_longer_than_the_wait_fails_the_step_and_retry_finishes(pipeline: Pipeline) -> None:
    pipeline.sandbox.tenant.faults.inject("replication_lag", seconds=REPLICATION_WAIT + 60)
    consumed_before, _ = pipeline.seats()
    stored = await pipeline.approved()
    number = stored.request.number
    await pipeline.runner().provision(number)
    request = (await pipeline.current(number)).request
    assert request.status is RequestStatus.FAILED
    assert request.failure is not None
    assert request.failure.step == "license"
    assert sum(pipeline.sleeps) == REPLICATION_WAIT
    pipeline.tenant_clock.advance(120)
    await pipeline.retried(number)
    await pipeline.runner().provision(number)
    await assert_one_complete_account(pipeline, number, consumed_before)


# -------------------------------------------------------------------------------------- transient


async def test_throttling_defers_the_run_and_keeps_the_request_provisioning(pipeline: Pipeline) -> None:
    pipeline.sandbox.tenant.faults.inject(
        "throttle", route="POST /users/{id}/assignLicense", times=2, retry_after=0
    )
    stored = await pipeline.approved()
    number = stored.request.number
    with pytest.raises(Throttled):
        await pipeline.runner().provision(number)
    assert (await pipeline.current(number)).request.status is RequestStatus.PROVISIONING
    license_step = (await pipeline.steps.steps(number))["license"]
    assert license_step.state is StepState.RUNNING
    assert "busy" in (license_step.detail or "")


async def test_a_deferred_run_completes_when_run_again(pipeline: Pipeline) -> None:
    pipeline.sandbox.tenant.faults.inject(
        "unavailable", route="POST /groups/{id}/members/$ref", times=2, retry_after=0
    )
    consumed_before, _ = pipeline.seats()
    stored = await pipeline.approved()
    number = stored.request.number
    with pytest.raises(Unavailable):
        await pipeline.runner().provision(number)
    await pipeline.runner().provision(number)
    await assert_one_complete_account(pipeline, number, consumed_before)


async def test_the_last_attempt_of_a_job_marks_a_transient_failure_failed(pipeline: Pipeline) -> None:
    pipeline.sandbox.tenant.faults.inject(
        "unavailable", route="POST /users/{id}/assignLicense", times=None, retry_after=0
    )
    stored = await pipeline.approved()
    number = stored.request.number
    await pipeline.runner().provision_job(job(f'{{"number": {number}}}', attempts=5, max_attempts=5))
    request = (await pipeline.current(number)).request
    assert request.status is RequestStatus.FAILED
    assert request.failure is not None
    assert request.failure.step == "license"
    assert "did not answer" in request.failure.reason


async def test_an_earlier_attempt_of_a_job_leaves_a_transient_failure_to_the_queue(
    pipeline: Pipeline,
) -> None:
    pipeline.sandbox.tenant.faults.inject(
        "unavailable", route="POST /users/{id}/assignLicense", times=None, retry_after=0
    )
    stored = await pipeline.approved()
    with pytest.raises(Unavailable):
        await pipeline.runner().provision_job(job(f'{{"number": {stored.request.number}}}', attempts=2))
    assert (await pipeline.current(stored.request.number)).request.status is RequestStatus.PROVISIONING


async def test_a_license_refused_for_lack_of_seats_fails_the_license_step(pipeline: Pipeline) -> None:
    stored = await pipeline.approved()
    number = stored.request.number

    async def seats_run_out(point: str) -> None:
        if point == "create:done":
            pipeline.fill_seats()

    await pipeline.runner(checkpoint=seats_run_out).provision(number)
    request = (await pipeline.current(number)).request
    assert request.failure is not None
    assert request.failure.step == "license"
    assert "no free seats of Dynamics 365 Remote Assist (25 of 25 used)" in request.failure.reason
    [failed] = await pipeline.audit.query(
        request_id=request.request_id, action=AuditAction.PROVISIONING_FAILED
    )
    assert failed.graph_request_id is not None


# ------------------------------------------------------------------------------------- passwords


async def test_a_password_entra_refuses_is_replaced_in_the_vault(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted = iter(["Password#2024abcdef", "Kx7#mQ2p!Rt9wLz4"])  # the first is on Entra's banned list
    monkeypatch.setattr("provisioning.runner.generate_temporary_password", lambda: next(scripted))
    stored = await pipeline.approved()
    await pipeline.runner().provision(stored.request.number)
    assert (await pipeline.current(stored.request.number)).request.status is RequestStatus.PROVISIONED
    assert [body["passwordProfile"]["password"] for body in pipeline.create_bodies.bodies] == [
        "Password#2024abcdef",
        "Kx7#mQ2p!Rt9wLz4",
    ]
    assert await pipeline.vault.reveal(stored.request.number, ALICE.aad_object_id) == "Kx7#mQ2p!Rt9wLz4"


async def test_two_runs_racing_on_one_request_make_one_account_with_the_vault_password(
    pipeline: Pipeline,
) -> None:
    consumed_before, _ = pipeline.seats()
    stored = await pipeline.approved()
    number = stored.request.number
    await asyncio.gather(pipeline.runner().provision(number), pipeline.runner().provision(number))
    assert (await pipeline.current(number)).request.status is RequestStatus.PROVISIONED
    assert len(pipeline.users_with_marker("VND-000001")) == 1
    assert pipeline.seats()[0] == consumed_before + 1
    sent = {body["passwordProfile"]["password"] for body in pipeline.create_bodies.bodies}
    assert sent == {await pipeline.vault.reveal(number, ALICE.aad_object_id)}
