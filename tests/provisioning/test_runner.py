"""ProvisioningRunner.provision through the real msgraph-sdk gateway against the sandbox tenant: the account,
its licenses and groups, the step log, the audit trail, the vault, and the failures found by the check."""

# Fixtures are imported, then requested by name as parameters: pytest's pattern, not a redefinition.
# ruff: noqa: F811

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from onboarding.audit import AuditAction
from onboarding.requests import RequestStatus
from onboarding.segments import AttributePlacement, GroupPlacement
from provisioning.directory import NewUser
from provisioning.progress import PROVISIONING_STEPS
from provisioning.worker import BadJobPayload
from sandbox.seed import REMOTE_ASSIST_SKU_ID
from settings import SANDBOX_VENDOR_ACCOUNTS_GROUP_ID
from storage.jobs import Job, JobState
from storage.requests import StepState
from tests.provisioning.pipeline_fixtures import (  # noqa: F401  (fixtures)
    ALICE,
    PASSWORD_TTL,
    REMOTE_ASSIST,
    SEGMENT_GROUP,
    T0,
    Pipeline,
    pipeline,
)
from tests.security.leaks import stored_texts
from tests.support.postgres import any_migrated_database_url, postgres_url  # noqa: F401  (fixtures)


async def provisioned(pipeline: Pipeline, **kwargs: object) -> int:
    stored = await pipeline.approved(**kwargs)  # type: ignore[arg-type]
    await pipeline.runner().provision(stored.request.number)
    return stored.request.number


# ------------------------------------------------------------------------------------- the account


async def test_provision_creates_exactly_one_account_with_every_planned_attribute(
    pipeline: Pipeline,
) -> None:
    number = await provisioned(pipeline)
    stored = await pipeline.current(number)
    [user] = pipeline.users_with_marker("VND-000001")
    assert stored.request.status is RequestStatus.PROVISIONED
    assert {
        key: user[key]
        for key in (
            "userPrincipalName",
            "mailNickname",
            "displayName",
            "givenName",
            "surname",
            "usageLocation",
            "companyName",
            "employeeType",
            "employeeId",
            "otherMails",
            "accountEnabled",
        )
    } == {
        "userPrincipalName": "sa-contoso1-bob.builder@abc.com",
        "mailNickname": "sa-contoso1-bob.builder",
        "displayName": "Bob Builder (Contoso1) – Vendor",
        "givenName": "Bob",
        "surname": "Builder",
        "usageLocation": "DE",
        "companyName": "Contoso1",
        "employeeType": "Vendor",
        "employeeId": "VND-000001",
        "otherMails": ["bob@contoso1.com"],
        "accountEnabled": True,
    }
    leave = datetime.fromisoformat(user["employeeLeaveDateTime"].replace("Z", "+00:00"))
    assert leave == datetime(2030, 3, 31, 23, 59, 59, tzinfo=UTC)


async def test_the_account_must_change_its_password_at_first_sign_in(pipeline: Pipeline) -> None:
    await provisioned(pipeline)
    [user] = pipeline.users_with_marker("VND-000001")
    assert user["passwordProfile"]["forceChangePasswordNextSignIn"] is True


async def test_the_account_is_created_in_one_request(pipeline: Pipeline) -> None:
    await provisioned(pipeline)
    assert pipeline.writes("POST /users") == 1
    assert pipeline.writes("PATCH /users/{id}") == 0


async def test_the_planned_license_is_assigned_and_consumes_one_seat(pipeline: Pipeline) -> None:
    consumed_before, _ = pipeline.seats()
    await provisioned(pipeline)
    [user] = pipeline.users_with_marker("VND-000001")
    assert [lic["skuId"] for lic in user["assignedLicenses"]] == [REMOTE_ASSIST_SKU_ID]
    assert pipeline.seats()[0] == consumed_before + 1


async def test_the_account_joins_the_vendor_accounts_group(pipeline: Pipeline) -> None:
    await provisioned(pipeline)
    [user] = pipeline.users_with_marker("VND-000001")
    assert user["id"] in pipeline.group_members(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID)


async def test_an_extension_attribute_placement_is_set_at_creation(pipeline: Pipeline) -> None:
    placement = AttributePlacement("onPremisesExtensionAttributes.extensionAttribute1", "Vendor-Contoso")
    await provisioned(pipeline, segment="Vendor - Contoso", placement=placement)
    [user] = pipeline.users_with_marker("VND-000001")
    assert user["onPremisesExtensionAttributes"]["extensionAttribute1"] == "Vendor-Contoso"


async def test_a_department_placement_is_set_at_creation(pipeline: Pipeline) -> None:
    await provisioned(
        pipeline, segment="Vendor - Contoso", placement=AttributePlacement("department", "Vendors")
    )
    [user] = pipeline.users_with_marker("VND-000001")
    assert user["department"] == "Vendors"


async def test_a_group_placement_adds_the_account_to_the_segment_group(pipeline: Pipeline) -> None:
    placement = GroupPlacement(group_id=SEGMENT_GROUP, group_label="IB Vendor - Contoso")
    await provisioned(pipeline, segment="Vendor - Contoso", placement=placement)
    [user] = pipeline.users_with_marker("VND-000001")
    assert user["id"] in pipeline.group_members(SEGMENT_GROUP)
    assert user["id"] in pipeline.group_members(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID)


async def test_an_ib_license_in_the_plan_is_assigned_too(pipeline: Pipeline) -> None:
    placement = AttributePlacement("department", "Vendors")
    await provisioned(pipeline, segment="Vendors", placement=placement, extra_licenses=("SPE_E5",))
    assert pipeline.seats("SPE_E5")[0] == 1
    assert pipeline.seats(REMOTE_ASSIST)[0] == 1


# ----------------------------------------------------------------------------- records and hand-off


async def test_the_request_is_marked_provisioned_after_one_attempt(pipeline: Pipeline) -> None:
    number = await provisioned(pipeline)
    request = (await pipeline.current(number)).request
    assert request.status is RequestStatus.PROVISIONED
    assert request.attempts == 1
    assert request.provisioned_at is not None


async def test_every_step_is_logged_done(pipeline: Pipeline) -> None:
    number = await provisioned(pipeline)
    steps = await pipeline.steps.steps(number)
    assert {name: record.state for name, record in steps.items()} == dict.fromkeys(
        PROVISIONING_STEPS, StepState.DONE
    )


async def test_graph_writes_carry_graph_request_ids_in_the_step_log(pipeline: Pipeline) -> None:
    number = await provisioned(pipeline)
    steps = await pipeline.steps.steps(number)
    tenant_requests = pipeline.sandbox.tenant.requests
    [create] = tenant_requests.for_route("POST /users")
    [assign] = tenant_requests.for_route("POST /users/{id}/assignLicense")
    [member] = tenant_requests.for_route("POST /groups/{id}/members/$ref")
    assert steps["create"].graph_request_id == create.request_id
    assert steps["license"].graph_request_id == assign.request_id
    assert steps["groups"].graph_request_id == member.request_id


async def test_the_service_account_is_recorded(pipeline: Pipeline) -> None:
    number = await provisioned(pipeline)
    account = await pipeline.accounts.get("sa-contoso1-bob.builder@abc.com")
    [user] = pipeline.users_with_marker("VND-000001")
    assert account is not None
    assert (account.user_id, account.request_number, account.state) == (user["id"], number, "active")
    assert (account.vendor, account.contractor_name, account.sponsor_aad_id) == (
        "Contoso1",
        "Bob Builder",
        ALICE.aad_object_id,
    )
    assert account.license_part_numbers == (REMOTE_ASSIST,)


async def test_the_requester_reveals_the_password_the_account_was_created_with(pipeline: Pipeline) -> None:
    number = await provisioned(pipeline)
    [body] = pipeline.create_bodies.bodies
    assert await pipeline.vault.reveal(number, ALICE.aad_object_id) == body["passwordProfile"]["password"]


async def test_the_reveal_window_starts_when_the_account_is_provisioned(pipeline: Pipeline) -> None:
    number = await provisioned(pipeline)
    entry = await pipeline.vault.entry(number)
    provisioned_at = (await pipeline.current(number)).request.provisioned_at
    assert entry is not None
    assert provisioned_at is not None
    assert abs(entry.expires_at - (provisioned_at + PASSWORD_TTL)) < timedelta(seconds=5)


async def test_progress_is_reported_for_every_change(pipeline: Pipeline) -> None:
    number = await provisioned(pipeline)
    # started, then running and done for each of the five steps, then provisioned
    assert pipeline.progress.changes == [number] * (1 + 2 * len(PROVISIONING_STEPS) + 1)


async def test_every_transition_and_graph_write_is_audited_in_order(pipeline: Pipeline) -> None:
    await provisioned(pipeline)
    actions = [record.action for record in await pipeline.audit.for_request("VND-000001")]
    A = AuditAction
    assert actions == [
        A.PROVISIONING_STARTED,
        A.PROVISIONING_STEP_COMPLETED,
        A.CREDENTIALS_ISSUED,
        A.ACCOUNT_CREATED,
        A.PROVISIONING_STEP_COMPLETED,
        A.LICENSES_ASSIGNED,
        A.PROVISIONING_STEP_COMPLETED,
        A.GROUP_MEMBER_ADDED,
        A.PROVISIONING_STEP_COMPLETED,
        A.PROVISIONING_STEP_COMPLETED,
        A.PROVISIONING_SUCCEEDED,
    ]


async def test_graph_write_audits_carry_graph_request_ids(pipeline: Pipeline) -> None:
    await provisioned(pipeline)
    records = {r.action: r for r in await pipeline.audit.for_request("VND-000001")}
    [create] = pipeline.sandbox.tenant.requests.for_route("POST /users")
    assert records[AuditAction.ACCOUNT_CREATED].graph_request_id == create.request_id
    assert records[AuditAction.LICENSES_ASSIGNED].graph_request_id is not None
    assert records[AuditAction.GROUP_MEMBER_ADDED].graph_request_id is not None


async def test_the_password_appears_in_no_log_audit_record_or_table(
    pipeline: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    number = await provisioned(pipeline)
    [body] = pipeline.create_bodies.bodies
    password = body["passwordProfile"]["password"]
    # Every row of every table, and the database's files (rows since overwritten linger there).
    cells = await stored_texts(pipeline.database.engine.url.render_as_string(hide_password=False))
    logged = [record.getMessage() + repr(record.__dict__) for record in caplog.records]
    audited = [repr(record) for record in await pipeline.audit.for_request("VND-000001")]
    recorded = [repr(r) for r in pipeline.sandbox.tenant.requests]
    assert any("VND-000001" in cell for cell in cells), "the database was read"
    for place, texts in {"db": cells, "log": logged, "audit": audited, "sandbox": recorded}.items():
        assert not any(password in t for t in texts), f"the password leaked into the {place}"
    assert await pipeline.vault.reveal(number, ALICE.aad_object_id) == password


# ------------------------------------------------------------------------------- the check step


async def test_no_free_seats_fails_at_the_check_before_anything_is_created(pipeline: Pipeline) -> None:
    pipeline.fill_seats()
    stored = await pipeline.approved()
    await pipeline.runner().provision(stored.request.number)
    request = (await pipeline.current(stored.request.number)).request
    assert request.status is RequestStatus.FAILED
    assert request.failure is not None
    assert request.failure.step == "check"
    assert "no free seats of Dynamics 365 Remote Assist (25 of 25 used)" in request.failure.reason
    assert pipeline.sandbox.tenant.requests.writes == 0
    assert await pipeline.vault.entry(stored.request.number) is None


async def test_the_failed_check_is_shown_in_the_step_log(pipeline: Pipeline) -> None:
    pipeline.fill_seats()
    stored = await pipeline.approved()
    await pipeline.runner().provision(stored.request.number)
    steps = await pipeline.steps.steps(stored.request.number)
    assert steps["check"].state is StepState.FAILED
    assert "25 of 25 used" in (steps["check"].detail or "")
    assert set(steps) == {"check"}


async def test_the_failure_is_audited_with_its_step(pipeline: Pipeline) -> None:
    pipeline.fill_seats()
    stored = await pipeline.approved()
    await pipeline.runner().provision(stored.request.number)
    [failed] = await pipeline.audit.query(request_id="VND-000001", action=AuditAction.PROVISIONING_FAILED)
    assert failed.detail["step"] == "check"


async def test_a_upn_held_by_another_account_fails_the_check(pipeline: Pipeline) -> None:
    from pydantic import SecretStr

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
    request = (await pipeline.current(stored.request.number)).request
    assert request.failure is not None
    assert request.failure.step == "check"
    assert "already used by an account this request did not create" in request.failure.reason


async def test_a_placement_the_gateway_cannot_set_fails_the_check(pipeline: Pipeline) -> None:
    stored = await pipeline.approved(segment="Germany", placement=AttributePlacement("country", "Germany"))
    await pipeline.runner().provision(stored.request.number)
    request = (await pipeline.current(stored.request.number)).request
    assert request.failure is not None
    assert (request.failure.step, "country" in request.failure.reason) == ("check", True)
    assert pipeline.sandbox.tenant.requests.writes == 0


async def test_retry_after_seats_were_added_completes(pipeline: Pipeline) -> None:
    pipeline.fill_seats()
    stored = await pipeline.approved()
    number = stored.request.number
    await pipeline.runner().provision(number)
    consumed, enabled = pipeline.seats()
    pipeline.sandbox.tenant.set_prepaid_units(REMOTE_ASSIST, enabled + 1)
    await pipeline.retried(number)
    await pipeline.runner().provision(number)
    request = (await pipeline.current(number)).request
    assert (request.status, request.attempts, request.failure) == (RequestStatus.PROVISIONED, 2, None)
    assert len(pipeline.users_with_marker("VND-000001")) == 1
    assert pipeline.seats() == (consumed + 1, enabled + 1)


# ------------------------------------------------------------------------------------ stale jobs


@pytest.mark.parametrize(
    "status",
    [RequestStatus.PENDING_APPROVAL, RequestStatus.FAILED, RequestStatus.REJECTED, RequestStatus.CANCELLED],
)
async def test_provision_of_a_request_that_is_not_approved_does_nothing(
    pipeline: Pipeline, status: RequestStatus
) -> None:
    stored = await pipeline.approved()
    forced = stored.request.model_copy(update={"status": status})
    await pipeline.requests.replace(stored.request.number, stored.version, forced)
    await pipeline.runner().provision(stored.request.number)
    assert (await pipeline.current(stored.request.number)).request.status is status
    assert len(pipeline.sandbox.tenant.requests) == 0
    assert await pipeline.steps.steps(stored.request.number) == {}


async def test_provision_again_after_success_changes_nothing(pipeline: Pipeline) -> None:
    number = await provisioned(pipeline)
    before = len(pipeline.sandbox.tenant.requests)
    await pipeline.runner().provision(number)
    assert len(pipeline.sandbox.tenant.requests) == before


async def test_provision_of_an_unknown_request_does_nothing(pipeline: Pipeline) -> None:
    await pipeline.runner().provision(404)
    assert len(pipeline.sandbox.tenant.requests) == 0


# ------------------------------------------------------------------------------------ job handler


def job(payload: str, *, attempts: int = 1, max_attempts: int = 5) -> Job:
    return Job(
        id=7,
        kind="provision",
        payload_json=payload,
        dedupe_key=None,
        state=JobState.RUNNING,
        attempts=attempts,
        max_attempts=max_attempts,
        run_after=T0,
        lease_owner="w",
        lease_expires_at=T0,
        last_error=None,
        created_at=T0,
        updated_at=T0,
        finished_at=None,
    )


async def test_the_provision_job_runs_the_request_in_its_payload(pipeline: Pipeline) -> None:
    stored = await pipeline.approved()
    await pipeline.runner().provision_job(job(f'{{"number": {stored.request.number}}}'))
    assert (await pipeline.current(stored.request.number)).request.status is RequestStatus.PROVISIONED


@pytest.mark.parametrize("payload", ["not json", "{}", '{"number": "1"}', '{"number": 0}', "[1]"])
async def test_a_job_without_a_request_number_is_refused_for_good(pipeline: Pipeline, payload: str) -> None:
    with pytest.raises(BadJobPayload) as caught:
        await pipeline.runner().provision_job(job(payload))
    assert caught.value.retryable is False


async def test_the_cancel_job_needs_who_cancelled(pipeline: Pipeline) -> None:
    with pytest.raises(BadJobPayload):
        await pipeline.runner().cancel_job(job('{"number": 1}'))
