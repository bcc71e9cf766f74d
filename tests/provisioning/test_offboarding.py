"""OffboardingRunner through the real msgraph-sdk gateway against the sandbox tenant: what offboarding
leaves in the tenant, the step log, resuming after a crash at every checkpoint, deletion, leave dates."""

# Fixtures are imported, then requested by name as parameters: pytest's pattern, not a redefinition.
# ruff: noqa: F811

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest

from onboarding.audit import AuditAction
from onboarding.lifecycle import LifecyclePolicy, access_ends_at
from provisioning.offboarding import CHECKPOINTS, OFFBOARDING_STEPS, offboarding_subject
from provisioning.worker import BadJobPayload
from settings import SANDBOX_VENDOR_ACCOUNTS_GROUP_ID
from storage.accounts import AccountState
from storage.requests import StepState
from tests.provisioning.lifecycle_support import UPN, lifecycle_on, provisioned
from tests.provisioning.pipeline_fixtures import (  # noqa: F401  (fixtures)
    ADAM,
    REMOTE_ASSIST,
    Pipeline,
    pipeline,
)
from tests.support.postgres import any_migrated_database_url, postgres_url  # noqa: F401  (fixtures)


class Crash(Exception):
    """Raised from a checkpoint: the process dies there."""


def _user(pipeline: Pipeline) -> dict[str, object]:
    [user] = pipeline.users_with_marker("VND-000001")
    return user


async def test_offboarding_leaves_the_account_disabled_unlicensed_out_of_its_groups(
    pipeline: Pipeline,
) -> None:
    await provisioned(pipeline)
    used_before, _ = pipeline.seats(REMOTE_ASSIST)
    life = lifecycle_on(pipeline)

    assert await life.runner().offboard(UPN, reason="manual", by=ADAM)

    user = _user(pipeline)
    assert user["accountEnabled"] is False
    assert user["assignedLicenses"] == []
    assert user["id"] not in pipeline.group_members(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID)
    assert pipeline.seats(REMOTE_ASSIST)[0] == used_before - 1


async def test_offboarding_revokes_the_sign_in_sessions(pipeline: Pipeline) -> None:
    await provisioned(pipeline)
    await lifecycle_on(pipeline).runner().offboard(UPN, reason="manual", by=ADAM)
    assert pipeline.writes("POST /users/{id}/revokeSignInSessions") == 1


async def test_offboarding_records_every_step_done_and_the_account_offboarded(pipeline: Pipeline) -> None:
    await provisioned(pipeline)
    life = lifecycle_on(pipeline)
    await life.runner().offboard(UPN, reason="manual", by=ADAM)
    steps = await life.steps.steps(offboarding_subject(UPN))
    account = await life.accounts.get(UPN)
    assert {step: steps[step].state for step in OFFBOARDING_STEPS} == dict.fromkeys(
        OFFBOARDING_STEPS, StepState.DONE
    )
    assert account is not None
    assert account.state == AccountState.OFFBOARDED


async def test_offboarding_schedules_deletion_after_the_retention(pipeline: Pipeline) -> None:
    await provisioned(pipeline)
    life = lifecycle_on(pipeline, policy=LifecyclePolicy(retention_days=30))
    await life.runner().offboard(UPN, reason="manual", by=ADAM)
    offboarding = await life.offboardings.get(UPN)
    assert offboarding is not None
    assert offboarding.offboarded_at is not None
    assert offboarding.delete_after == offboarding.offboarded_at + timedelta(days=30)


async def test_every_graph_write_of_offboarding_is_audited_with_its_request_id(pipeline: Pipeline) -> None:
    await provisioned(pipeline)
    life = lifecycle_on(pipeline)
    await life.runner().offboard(UPN, reason="manual", by=ADAM)
    records = await life.audit.for_request("VND-000001")
    writes = {
        r.action: r.graph_request_id
        for r in records
        if r.action
        in (
            AuditAction.ACCOUNT_DISABLED,
            AuditAction.SESSIONS_REVOKED,
            AuditAction.LICENSES_REMOVED,
            AuditAction.GROUP_MEMBER_REMOVED,
        )
    }
    assert set(writes) == {
        AuditAction.ACCOUNT_DISABLED,
        AuditAction.SESSIONS_REVOKED,
        AuditAction.LICENSES_REMOVED,
        AuditAction.GROUP_MEMBER_REMOVED,
    }
    assert all(writes.values()), f"a write without Graph's request-id: {writes}"


async def test_the_sponsor_is_told_once_that_the_account_was_offboarded(pipeline: Pipeline) -> None:
    await provisioned(pipeline)
    life = lifecycle_on(pipeline)
    await life.runner().offboard(UPN, reason="expired", by=None)
    await life.runner().offboard(UPN, reason="expired", by=None)
    assert life.notices.offboarded == [(UPN, "expired")]


async def test_offboarding_twice_writes_to_graph_once(pipeline: Pipeline) -> None:
    await provisioned(pipeline)
    life = lifecycle_on(pipeline)
    await life.runner().offboard(UPN, reason="manual", by=ADAM)
    await life.runner().offboard(UPN, reason="manual", by=ADAM)
    assert pipeline.writes("POST /users/{id}/assignLicense") == 2  # one assign at provisioning, one removal


@pytest.mark.parametrize("checkpoint", [c for c in CHECKPOINTS if not c.startswith("delete")])
async def test_a_crash_at_any_checkpoint_resumes_to_the_same_end_state(
    pipeline: Pipeline, checkpoint: str
) -> None:
    await provisioned(pipeline)
    life = lifecycle_on(pipeline)

    async def crash(reached: str) -> None:
        if reached == checkpoint:
            raise Crash(reached)

    with pytest.raises(Crash):
        await life.runner(checkpoint=crash).offboard(UPN, reason="manual", by=ADAM)
    assert await life.runner().offboard(UPN, reason="manual", by=ADAM)

    user = _user(pipeline)
    account = await life.accounts.get(UPN)
    assert (user["accountEnabled"], user["assignedLicenses"]) == (False, [])
    assert user["id"] not in pipeline.group_members(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID)
    assert account is not None
    assert account.state == AccountState.OFFBOARDED
    assert pipeline.writes("POST /users/{id}/assignLicense") == 2


async def test_an_account_whose_marker_changed_is_left_alone(pipeline: Pipeline) -> None:
    await provisioned(pipeline)
    tenant = pipeline.sandbox.tenant
    with tenant.lock:
        next(u for u in tenant.users.values() if u.get("employeeId") == "VND-000001")["employeeId"] = "OTHER"
    life = lifecycle_on(pipeline)

    assert not await life.runner().offboard(UPN, reason="manual", by=ADAM)

    [user] = pipeline.users_with_marker("OTHER")
    assert user["accountEnabled"] is True
    assert life.notices.failures
    assert life.notices.failures[0][1] == "Block sign-in"


async def test_an_account_deleted_outside_the_bot_is_offboarded_without_graph_writes(
    pipeline: Pipeline,
) -> None:
    await provisioned(pipeline)
    user_id = str(_user(pipeline)["id"])
    with pipeline.sandbox.tenant.lock:
        pipeline.sandbox.tenant.delete_user(pipeline.sandbox.tenant.users[user_id])
    life = lifecycle_on(pipeline)
    assert await life.runner().offboard(UPN, reason="expired", by=None)
    account = await life.accounts.get(UPN)
    assert account is not None
    assert account.state == AccountState.OFFBOARDED


# ------------------------------------------------------------------------------------------ delete


async def test_deletion_waits_for_the_retention(pipeline: Pipeline) -> None:
    await provisioned(pipeline)
    life = lifecycle_on(pipeline, policy=LifecyclePolicy(retention_days=30))
    await life.runner().offboard(UPN, reason="manual", by=ADAM)
    life.clock.advance(days=29)
    assert not await life.runner().delete(UPN)
    assert len(pipeline.users_with_marker("VND-000001")) == 1


async def test_after_the_retention_the_account_is_deleted(pipeline: Pipeline) -> None:
    await provisioned(pipeline)
    life = lifecycle_on(pipeline, policy=LifecyclePolicy(retention_days=30))
    await life.runner().offboard(UPN, reason="manual", by=ADAM)
    life.clock.advance(days=30)
    assert await life.runner().delete(UPN)
    account = await life.accounts.get(UPN)
    assert pipeline.users_with_marker("VND-000001") == []
    assert account is not None
    assert account.state == AccountState.DELETED


async def test_an_active_account_is_never_deleted(pipeline: Pipeline) -> None:
    await provisioned(pipeline)
    life = lifecycle_on(pipeline)
    life.clock.advance(days=400)
    assert not await life.runner().delete(UPN)
    assert len(pipeline.users_with_marker("VND-000001")) == 1


# -------------------------------------------------------------------------------------- leave date


async def test_stamping_writes_the_current_end_date_as_the_leave_date(pipeline: Pipeline) -> None:
    await provisioned(pipeline)
    life = lifecycle_on(pipeline)
    assert await life.lifecycle.move_end_date(UPN, expected=date(2030, 3, 31), new=date(2030, 4, 30))
    assert await life.runner().stamp_leave_date(UPN)
    user = _user(pipeline)
    stamped = datetime.fromisoformat(str(user["employeeLeaveDateTime"]).replace("Z", "+00:00"))
    assert stamped == access_ends_at(date(2030, 4, 30))
    assert user["employeeType"] == "Vendor"


async def test_a_job_payload_without_an_account_name_is_refused(pipeline: Pipeline) -> None:
    life = lifecycle_on(pipeline)
    enqueued = await life.jobs.enqueue("offboard", json.dumps({"reason": "manual"}))
    job = await life.jobs.claim("w", ["offboard"], 60)
    assert job is not None
    assert job.id == enqueued.job.id
    with pytest.raises(BadJobPayload):
        await life.runner().offboard_job(job)
