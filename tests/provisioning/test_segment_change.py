"""The segment-change run against the sandbox tenant and a real (SQLite) database."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from onboarding.licensing import DEFAULT_IB_CAPABLE_PREFERENCE
from onboarding.segments import load_catalog
from provisioning.errors import Throttled
from provisioning.segment_change import SegmentChangeRunner
from sandbox.seed import REMOTE_ASSIST_SKU_ID, SEGMENT_GROUP_IDS, SPE_E5_SKU_ID
from settings import SANDBOX_SEGMENTS_CATALOG
from storage.accounts import ServiceAccount
from storage.segment_changes import ChangeDecision, ChangeStatus, SegmentChanges
from tests.provisioning.pipeline_fixtures import Pipeline, pipeline  # noqa: F401

UPN = "sa-bob@abc.onmicrosoft.com"
FABRIKAM_GROUP = SEGMENT_GROUP_IDS["IB Vendor - Fabrikam"]


async def _contoso_account(p: Pipeline) -> str:
    """An account in "Vendor - Contoso" (extensionAttribute1) with Remote Assist only."""
    tenant = p.sandbox.tenant
    with tenant.lock:
        user = tenant.create_user(
            {
                "accountEnabled": True,
                "displayName": "Bob",
                "mailNickname": "sa-bob",
                "userPrincipalName": UPN,
                "usageLocation": "US",
                "passwordProfile": {"password": "Xy7!kq2#Lm9$", "forceChangePasswordNextSignIn": True},
                "onPremisesExtensionAttributes": {"extensionAttribute1": "Vendor-Contoso"},
            }
        )
        tenant.assign_license(user, {"addLicenses": [{"skuId": REMOTE_ASSIST_SKU_ID}], "removeLicenses": []})
    await p.accounts.record(
        ServiceAccount(
            upn=UPN,
            user_id=user["id"],
            request_number=1,
            vendor="Contoso",
            contractor_name="Bob",
            contractor_email="bob@contoso.example",
            sponsor_aad_id="a11ce000-0000-4000-8000-000000000001",
            sponsor_name="Alice Requester",
            license_part_numbers=("MICROSOFT_REMOTE_ASSIST",),
            segment="Vendor - Contoso",
            end_date=date(2030, 6, 30),
            state="active",
            created_at=datetime(2030, 1, 1, tzinfo=UTC),
        )
    )
    return str(user["id"])


async def _approved_move(p: Pipeline, user_id: str, changes: SegmentChanges) -> int:
    change = await changes.propose(
        upn=UPN,
        user_id=user_id,
        from_segment="Vendor - Contoso",
        to_segment="Vendor - Fabrikam",
        proposed_by_aad_id="a11ce000-0000-4000-8000-000000000001",
        proposed_by_name="Alice Requester",
    )
    decision = ChangeDecision("adaa0000-0000-4000-8000-000000000003", "Adam Approver", datetime.now(UTC))
    await changes.transition(
        change.number, expected_version=change.version, status=ChangeStatus.APPROVED, decision=decision
    )
    return change.number


def _runner(p: Pipeline, changes: SegmentChanges) -> SegmentChangeRunner:
    return SegmentChangeRunner(
        gateway=p.graph,
        changes=changes,
        accounts=p.accounts,
        audit=p.audit,
        catalog=load_catalog(SANDBOX_SEGMENTS_CATALOG),
        ib_capable_preference=DEFAULT_IB_CAPABLE_PREFERENCE,
    )


async def test_move_to_group_segment_leaves_the_attribute_and_adds_an_ib_license(pipeline: Pipeline) -> None:  # noqa: F811
    changes = SegmentChanges(pipeline.database)
    user_id = await _contoso_account(pipeline)
    number = await _approved_move(pipeline, user_id, changes)

    done = await _runner(pipeline, changes).run(number)

    assert done is not None
    assert done.status is ChangeStatus.APPLIED, done.failure
    user = pipeline.sandbox.tenant.users[user_id]
    assert user_id in pipeline.sandbox.tenant.members.get(FABRIKAM_GROUP, set())
    assert not (user.get("onPremisesExtensionAttributes") or {}).get("extensionAttribute1")
    assert {lic["skuId"] for lic in user["assignedLicenses"]} == {REMOTE_ASSIST_SKU_ID, SPE_E5_SKU_ID}
    account = await pipeline.accounts.get(UPN)
    assert account is not None
    assert account.segment == "Vendor - Fabrikam"
    assert "SPE_E5" in account.license_part_numbers


async def test_a_second_run_changes_nothing(pipeline: Pipeline) -> None:  # noqa: F811
    changes = SegmentChanges(pipeline.database)
    user_id = await _contoso_account(pipeline)
    number = await _approved_move(pipeline, user_id, changes)
    runner = _runner(pipeline, changes)
    await runner.run(number)
    writes = pipeline.sandbox.tenant.requests.writes

    again = await runner.run(number)

    assert again is not None
    assert again.status is ChangeStatus.APPLIED
    assert pipeline.sandbox.tenant.requests.writes == writes


async def test_no_free_ib_seat_fails_with_the_reason(pipeline: Pipeline) -> None:  # noqa: F811
    changes = SegmentChanges(pipeline.database)
    user_id = await _contoso_account(pipeline)
    for part in ("SPE_E5", "ENTERPRISEPREMIUM", "INFORMATION_PROTECTION_COMPLIANCE"):
        consumed, _ = pipeline.sandbox.tenant.seats(part)
        pipeline.sandbox.tenant.set_prepaid_units(part, consumed)
    number = await _approved_move(pipeline, user_id, changes)

    failed = await _runner(pipeline, changes).run(number)

    assert failed is not None
    assert failed.status is ChangeStatus.FAILED
    assert failed.failure is not None
    assert "free seat" in failed.failure


ADD_MEMBER = "POST /groups/{id}/members/$ref"
ASSIGN_LICENSE = "POST /users/{id}/assignLicense"


async def test_a_transient_error_is_the_queues_until_the_last_attempt(pipeline: Pipeline) -> None:  # noqa: F811
    changes = SegmentChanges(pipeline.database)
    user_id = await _contoso_account(pipeline)
    number = await _approved_move(pipeline, user_id, changes)
    pipeline.sandbox.tenant.faults.inject("throttle", route=ADD_MEMBER, times=None, retry_after=0)
    runner = _runner(pipeline, changes)

    with pytest.raises(Throttled):
        await runner.run(number, last_attempt=False)
    still = await changes.get(number)
    assert still is not None
    assert still.status is ChangeStatus.APPROVED

    failed = await runner.run(number, last_attempt=True)
    assert failed is not None
    assert failed.status is ChangeStatus.FAILED
    assert failed.failure is not None
    assert "place the account in its new segment" in failed.failure
    assert "Retry later" in failed.failure
    assert user_id not in pipeline.sandbox.tenant.members.get(FABRIKAM_GROUP, set())


async def test_a_graph_error_retrying_cannot_help_fails_the_change_at_once(pipeline: Pipeline) -> None:  # noqa: F811
    changes = SegmentChanges(pipeline.database)
    user_id = await _contoso_account(pipeline)
    number = await _approved_move(pipeline, user_id, changes)
    # The target segment's group was deleted in the tenant after the catalog was written.
    with pipeline.sandbox.tenant.lock:
        del pipeline.sandbox.tenant.groups[FABRIKAM_GROUP]

    failed = await _runner(pipeline, changes).run(number, last_attempt=False)

    assert failed is not None
    assert failed.status is ChangeStatus.FAILED
    assert failed.failure is not None
    assert "place the account in its new segment" in failed.failure
    assert "Graph request-id" in failed.failure
    account = await pipeline.accounts.get(UPN)
    assert account is not None
    assert account.segment == "Vendor - Contoso"


async def test_a_failed_change_run_again_completes_where_it_stopped(pipeline: Pipeline) -> None:  # noqa: F811
    changes = SegmentChanges(pipeline.database)
    user_id = await _contoso_account(pipeline)
    number = await _approved_move(pipeline, user_id, changes)
    pipeline.sandbox.tenant.faults.inject("throttle", route=ASSIGN_LICENSE, times=None, retry_after=0)
    runner = _runner(pipeline, changes)
    failed = await runner.run(number)
    assert failed is not None
    assert failed.status is ChangeStatus.FAILED
    assert failed.steps_done == ("place", "unplace")
    pipeline.sandbox.tenant.faults.clear()

    done = await runner.run(number)

    assert done is not None
    assert done.status is ChangeStatus.APPLIED, done.failure
    assert pipeline.sandbox.tenant.requests.count(ADD_MEMBER, status=204) == 1


async def test_a_target_no_longer_in_the_catalog_fails_the_change_with_the_reason(pipeline: Pipeline) -> None:  # noqa: F811
    changes = SegmentChanges(pipeline.database)
    user_id = await _contoso_account(pipeline)
    number = await _approved_move(pipeline, user_id, changes)
    catalog = load_catalog(SANDBOX_SEGMENTS_CATALOG)
    without_target = catalog.model_copy(
        update={"segments": tuple(s for s in catalog.segments if s.name != "Vendor - Fabrikam")}
    )
    runner = SegmentChangeRunner(
        gateway=pipeline.graph,
        changes=changes,
        accounts=pipeline.accounts,
        audit=pipeline.audit,
        catalog=without_target,
        ib_capable_preference=DEFAULT_IB_CAPABLE_PREFERENCE,
    )
    writes = pipeline.sandbox.tenant.requests.writes

    failed = await runner.run(number, last_attempt=False)

    assert failed is not None
    assert failed.status is ChangeStatus.FAILED
    assert failed.failure is not None
    assert "Vendor - Fabrikam" in failed.failure
    assert "segment catalog" in failed.failure
    assert pipeline.sandbox.tenant.requests.writes == writes
