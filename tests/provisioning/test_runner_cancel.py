"""ProvisioningRunner.cancel: a failed run is undone in the sandbox (licenses back, groups left, account
deleted), only ever for the account this request created; the request is cancelled once."""

# Fixtures are imported, then requested by name as parameters: pytest's pattern, not a redefinition.
# ruff: noqa: F811

from __future__ import annotations

import pytest
from pydantic import SecretStr

from onboarding.audit import AuditAction
from onboarding.requests import RequestStatus
from provisioning.directory import NewUser
from provisioning.errors import Unavailable
from provisioning.runner import cancel_payload
from storage.requests import StepState
from storage.vault import RevealRefused
from tests.provisioning.pipeline_fixtures import (  # noqa: F401  (fixtures)
    ALICE,
    PAULA,
    REMOTE_ASSIST,
    Pipeline,
    pipeline,
)
from tests.provisioning.test_runner import job
from tests.support.postgres import any_migrated_database_url, postgres_url  # noqa: F401  (fixtures)

#: A group id that does not exist in the sandbox: the groups step fails for good on it.
MISSING_GROUP = "6a000000-0000-4000-8000-0000000000ff"


async def failed_at_groups(pipeline: Pipeline) -> int:
    """A request whose account was created and licensed, then failed adding it to a missing group."""
    stored = await pipeline.approved(vendor_group=MISSING_GROUP)
    await pipeline.runner().provision(stored.request.number)
    request = (await pipeline.current(stored.request.number)).request
    assert request.failure is not None
    assert request.failure.step == "groups"
    return stored.request.number


async def test_cancel_after_a_failure_deletes_the_account_and_frees_the_seat(pipeline: Pipeline) -> None:
    consumed_before, _ = pipeline.seats()
    number = await failed_at_groups(pipeline)
    assert pipeline.seats()[0] == consumed_before + 1
    await pipeline.runner().cancel(number, PAULA)
    assert pipeline.users_with_marker("VND-000001") == []
    assert pipeline.seats()[0] == consumed_before


async def test_cancel_marks_the_request_cancelled_by_whoever_cancelled(pipeline: Pipeline) -> None:
    number = await failed_at_groups(pipeline)
    await pipeline.runner().cancel(number, PAULA)
    request = (await pipeline.current(number)).request
    assert request.status is RequestStatus.CANCELLED
    assert request.cancellation is not None
    assert request.cancellation.by == PAULA


async def test_cancel_removes_the_licenses_before_deleting(pipeline: Pipeline) -> None:
    number = await failed_at_groups(pipeline)
    await pipeline.runner().cancel(number, PAULA)
    [removal] = [
        r
        for r in pipeline.sandbox.tenant.requests.for_route("POST /users/{id}/assignLicense")
        if r.body.get("removeLicenses")
    ]
    [deletion] = pipeline.sandbox.tenant.requests.for_route("DELETE /users/{id}")
    assert removal.time <= deletion.time


async def test_cancel_discards_the_password(pipeline: Pipeline) -> None:
    number = await failed_at_groups(pipeline)
    await pipeline.runner().cancel(number, PAULA)
    assert await pipeline.vault.reveal(number, ALICE.aad_object_id) is RevealRefused.NOT_FOUND


async def test_cancel_marks_the_undone_steps(pipeline: Pipeline) -> None:
    number = await failed_at_groups(pipeline)
    await pipeline.runner().cancel(number, PAULA)
    steps = await pipeline.steps.steps(number)
    assert {name: steps[name].state for name in ("create", "license", "groups", "undo")} == {
        "create": StepState.UNDONE,
        "license": StepState.UNDONE,
        "groups": StepState.UNDONE,
        "undo": StepState.DONE,
    }


async def test_cancel_audits_the_transition_and_each_undo_with_the_canceller(pipeline: Pipeline) -> None:
    number = await failed_at_groups(pipeline)
    pipeline_audit_before = len(await pipeline.audit.for_request("VND-000001"))
    await pipeline.runner().cancel(number, PAULA)
    records = (await pipeline.audit.for_request("VND-000001"))[pipeline_audit_before:]
    assert [r.action for r in records] == [
        AuditAction.REQUEST_CANCELLED,
        AuditAction.LICENSES_REMOVED,
        AuditAction.GROUP_MEMBER_REMOVED,
        AuditAction.ACCOUNT_DELETED,
    ]
    assert {r.actor_aad_id for r in records} == {PAULA.aad_object_id}
    [deletion] = pipeline.sandbox.tenant.requests.for_route("DELETE /users/{id}")
    assert records[-1].graph_request_id == deletion.request_id


async def test_cancel_frees_the_upn_for_a_new_request(pipeline: Pipeline) -> None:
    number = await failed_at_groups(pipeline)
    stored = await pipeline.current(number)
    await pipeline.runner().cancel(number, PAULA)
    assert not await pipeline.requests.is_upn_reserved(stored.plan.upn)


async def test_cancelling_again_does_nothing_more(pipeline: Pipeline) -> None:
    number = await failed_at_groups(pipeline)
    await pipeline.runner().cancel(number, PAULA)
    writes = pipeline.sandbox.tenant.requests.writes
    audited = len(await pipeline.audit.for_request("VND-000001"))
    await pipeline.runner().cancel(number, PAULA)
    assert pipeline.sandbox.tenant.requests.writes == writes
    assert len(await pipeline.audit.for_request("VND-000001")) == audited


async def test_an_undo_interrupted_by_graph_is_finished_by_the_next_attempt(pipeline: Pipeline) -> None:
    consumed_before, _ = pipeline.seats()
    number = await failed_at_groups(pipeline)
    pipeline.sandbox.tenant.faults.inject("unavailable", route="DELETE /users/{id}", times=2, retry_after=0)
    with pytest.raises(Unavailable):
        await pipeline.runner().cancel(number, PAULA)
    assert (await pipeline.current(number)).request.status is RequestStatus.CANCELLED
    await pipeline.runner().cancel(number, PAULA)
    assert pipeline.users_with_marker("VND-000001") == []
    assert pipeline.seats()[0] == consumed_before
    assert (await pipeline.steps.steps(number))["undo"].state is StepState.DONE


async def test_cancel_never_touches_an_account_this_request_did_not_create(pipeline: Pipeline) -> None:
    await pipeline.graph.create_user(
        NewUser(
            user_principal_name="sa-contoso1-bob.builder@abc.com",
            display_name="Someone else",
            mail_nickname="someone",
            password=SecretStr("Vq8#lantern-Orbit"),
            marker="MANUAL-1",
        )
    )
    stored = await pipeline.approved()
    await pipeline.runner().provision(stored.request.number)
    await pipeline.runner().cancel(stored.request.number, PAULA)
    assert len(pipeline.users_with_marker("MANUAL-1")) == 1
    assert pipeline.writes("DELETE /users/{id}") == 0
    assert (await pipeline.current(stored.request.number)).request.status is RequestStatus.CANCELLED


async def test_cancel_after_failing_the_check_makes_no_graph_writes(pipeline: Pipeline) -> None:
    pipeline.fill_seats()
    stored = await pipeline.approved()
    await pipeline.runner().provision(stored.request.number)
    writes = pipeline.sandbox.tenant.requests.writes
    await pipeline.runner().cancel(stored.request.number, PAULA)
    assert pipeline.sandbox.tenant.requests.writes == writes
    assert (await pipeline.current(stored.request.number)).request.status is RequestStatus.CANCELLED


async def test_cancel_of_a_pending_request_just_cancels_it(pipeline: Pipeline) -> None:
    stored = await pipeline.approved()
    pending = stored.request.model_copy(update={"status": RequestStatus.PENDING_APPROVAL, "decision": None})
    await pipeline.requests.replace(stored.request.number, stored.version, pending)
    await pipeline.runner().cancel(stored.request.number, ALICE)
    assert (await pipeline.current(stored.request.number)).request.status is RequestStatus.CANCELLED
    assert len(pipeline.sandbox.tenant.requests) == 0


@pytest.mark.parametrize("status", [RequestStatus.PROVISIONING, RequestStatus.APPROVED])
async def test_cancel_leaves_a_request_that_cannot_be_cancelled_alone(
    pipeline: Pipeline, status: RequestStatus
) -> None:
    stored = await pipeline.approved()
    forced = stored.request.model_copy(update={"status": status})
    await pipeline.requests.replace(stored.request.number, stored.version, forced)
    await pipeline.runner().cancel(stored.request.number, PAULA)
    assert (await pipeline.current(stored.request.number)).request.status is status
    assert len(pipeline.sandbox.tenant.requests) == 0


async def test_cancel_of_a_provisioned_request_changes_nothing(pipeline: Pipeline) -> None:
    stored = await pipeline.approved()
    await pipeline.runner().provision(stored.request.number)
    writes = pipeline.sandbox.tenant.requests.writes
    await pipeline.runner().cancel(stored.request.number, PAULA)
    assert (await pipeline.current(stored.request.number)).request.status is RequestStatus.PROVISIONED
    assert pipeline.sandbox.tenant.requests.writes == writes
    assert pipeline.seats(REMOTE_ASSIST)[0] == 1


async def test_the_cancel_job_cancels_for_the_person_in_its_payload(pipeline: Pipeline) -> None:
    number = await failed_at_groups(pipeline)
    await pipeline.runner().cancel_job(job(cancel_payload(number, PAULA)))
    request = (await pipeline.current(number)).request
    assert request.cancellation is not None
    assert request.cancellation.by == PAULA
    assert pipeline.users_with_marker("VND-000001") == []


async def test_the_last_attempt_of_a_cancel_job_records_the_undo_as_failed(pipeline: Pipeline) -> None:
    number = await failed_at_groups(pipeline)
    pipeline.sandbox.tenant.faults.inject(
        "unavailable", route="DELETE /users/{id}", times=None, retry_after=0
    )
    await pipeline.runner().cancel_job(job(cancel_payload(number, PAULA), attempts=5, max_attempts=5))
    undo = (await pipeline.steps.steps(number))["undo"]
    assert undo.state is StepState.FAILED
    assert "did not answer" in (undo.detail or "")
    assert (await pipeline.current(number)).request.status is RequestStatus.CANCELLED
