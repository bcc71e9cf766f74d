"""assignLicense, seat accounting, subscribedSkus and licenseDetails through msgraph-sdk."""

from __future__ import annotations

import uuid

import pytest
from msgraph.generated.models.assigned_license import AssignedLicense
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.users.item.assign_license.assign_license_post_request_body import (
    AssignLicensePostRequestBody,
)

from sandbox.seed import E5_COMPLIANCE_SKU_ID, REMOTE_ASSIST_SKU_ID, SPE_E5_SKU_ID
from tests.sandbox.conftest import odata

IB_PLAN = "c4801e8a-cb58-4c35-aca6-f2dcc106f287"
LOCKBOX_PLAN = "9f431833-0334-42de-a7dc-70aa40db46db"


def licenses(
    add: list[str] | None = None, remove: list[str] | None = None, disabled: list[str] | None = None
):
    return AssignLicensePostRequestBody(
        add_licenses=[
            AssignedLicense(sku_id=uuid.UUID(s), disabled_plans=[uuid.UUID(p) for p in disabled or []])
            for s in add or []
        ],
        remove_licenses=[uuid.UUID(s) for s in remove or []],
    )


async def consumed(client, part_number: str) -> tuple[int, int]:
    skus = await client.subscribed_skus.get()
    sku = next(s for s in skus.value if s.sku_part_number == part_number)
    return sku.consumed_units, sku.prepaid_units.enabled


async def test_twenty_five_remote_assist_users_fit_the_twenty_sixth_does_not(client, create):
    users = [await create(f"ra{n:02d}") for n in range(26)]
    for user in users[:25]:
        result = await client.users.by_user_id(user.id).assign_license.post(licenses([REMOTE_ASSIST_SKU_ID]))
        assert result.id == user.id
    with pytest.raises(ODataError) as err:
        await client.users.by_user_id(users[25].id).assign_license.post(licenses([REMOTE_ASSIST_SKU_ID]))
    assert odata(err) == (
        400,
        "Request_BadRequest",
        f"Subscription with SKU {REMOTE_ASSIST_SKU_ID} does not have any available licenses.",
    )
    assert await consumed(client, "MICROSOFT_REMOTE_ASSIST") == (25, 25)
    await client.users.by_user_id(users[0].id).assign_license.post(licenses(remove=[REMOTE_ASSIST_SKU_ID]))
    assert await consumed(client, "MICROSOFT_REMOTE_ASSIST") == (24, 25)
    await client.users.by_user_id(users[25].id).assign_license.post(licenses([REMOTE_ASSIST_SKU_ID]))
    assert await consumed(client, "MICROSOFT_REMOTE_ASSIST") == (25, 25)


async def test_assign_without_usage_location_is_400_with_graphs_message(client, create):
    user = await create(usage_location=None)
    with pytest.raises(ODataError) as err:
        await client.users.by_user_id(user.id).assign_license.post(licenses([REMOTE_ASSIST_SKU_ID]))
    assert odata(err) == (
        400,
        "Request_BadRequest",
        "License assignment cannot be done for user with invalid usage location.",
    )


async def test_unknown_sku_is_400(client, create):
    user = await create()
    unknown = "11111111-2222-4333-8444-555555555555"
    with pytest.raises(ODataError) as err:
        await client.users.by_user_id(user.id).assign_license.post(licenses([unknown]))
    assert odata(err) == (
        400,
        "Request_BadRequest",
        f"License {unknown} does not correspond to a valid company License.",
    )


async def test_failed_assignment_changes_nothing(client, create, sb):
    user = await create()
    sb.tenant.set_prepaid_units("SPE_E5", 0)
    with pytest.raises(ODataError):
        await client.users.by_user_id(user.id).assign_license.post(
            licenses([REMOTE_ASSIST_SKU_ID, SPE_E5_SKU_ID])
        )
    assert sb.tenant.seats("MICROSOFT_REMOTE_ASSIST") == (0, 25)


async def test_assigned_licenses_and_license_details_show_the_sku_and_disabled_plans(client, create):
    user = await create()
    await client.users.by_user_id(user.id).assign_license.post(
        licenses([REMOTE_ASSIST_SKU_ID, E5_COMPLIANCE_SKU_ID], disabled=[])
    )
    await client.users.by_user_id(user.id).assign_license.post(
        licenses([E5_COMPLIANCE_SKU_ID], disabled=[LOCKBOX_PLAN])
    )
    details = await client.users.by_user_id(user.id).license_details.get()
    by_part = {d.sku_part_number: d for d in details.value}
    assert set(by_part) == {"MICROSOFT_REMOTE_ASSIST", "INFORMATION_PROTECTION_COMPLIANCE"}
    plans = {
        str(p.service_plan_id): p.provisioning_status
        for p in by_part["INFORMATION_PROTECTION_COMPLIANCE"].service_plans
    }
    assert plans == {IB_PLAN: "Success", LOCKBOX_PLAN: "Disabled"}


async def test_reassigning_a_held_sku_takes_no_new_seat(client, create, sb):
    user = await create()
    await client.users.by_user_id(user.id).assign_license.post(licenses([REMOTE_ASSIST_SKU_ID]))
    await client.users.by_user_id(user.id).assign_license.post(licenses([REMOTE_ASSIST_SKU_ID]))
    assert sb.tenant.seats("MICROSOFT_REMOTE_ASSIST") == (1, 25)


async def test_disabled_plan_outside_the_sku_is_400(client, create):
    user = await create()
    with pytest.raises(ODataError) as err:
        await client.users.by_user_id(user.id).assign_license.post(
            licenses([REMOTE_ASSIST_SKU_ID], disabled=[LOCKBOX_PLAN])
        )
    assert odata(err)[:2] == (400, "Request_BadRequest")


async def test_removing_a_license_the_user_lacks_is_400(client, create):
    user = await create()
    with pytest.raises(ODataError) as err:
        await client.users.by_user_id(user.id).assign_license.post(licenses(remove=[SPE_E5_SKU_ID]))
    assert odata(err) == (400, "Request_BadRequest", "User does not have a corresponding license.")


async def test_remove_licenses_is_required(client, create):
    user = await create()
    body = AssignLicensePostRequestBody(
        add_licenses=[AssignedLicense(sku_id=uuid.UUID(REMOTE_ASSIST_SKU_ID))]
    )
    with pytest.raises(ODataError) as err:
        await client.users.by_user_id(user.id).assign_license.post(body)
    assert odata(err)[:2] == (400, "Request_BadRequest")


async def test_assign_by_user_principal_name(client, create, sb):
    await create("byupn")
    await client.users.by_user_id("byupn@abc.com").assign_license.post(licenses([REMOTE_ASSIST_SKU_ID]))
    assert sb.tenant.seats("MICROSOFT_REMOTE_ASSIST") == (1, 25)


async def test_deleting_a_user_frees_its_seat(client, create, sb):
    user = await create()
    await client.users.by_user_id(user.id).assign_license.post(licenses([REMOTE_ASSIST_SKU_ID]))
    await client.users.by_user_id(user.id).delete()
    assert await consumed(client, "MICROSOFT_REMOTE_ASSIST") == (0, 25)


async def test_subscribed_skus_lists_the_seed_with_real_ids(client):
    skus = await client.subscribed_skus.get()
    got = {
        s.sku_part_number: (str(s.sku_id), s.prepaid_units.enabled, s.consumed_units, s.capability_status)
        for s in skus.value
    }
    assert got == {
        "MICROSOFT_REMOTE_ASSIST": (REMOTE_ASSIST_SKU_ID, 25, 0, "Enabled"),
        "SPE_E5": (SPE_E5_SKU_ID, 10, 0, "Enabled"),
        "ENTERPRISEPREMIUM": ("c7df2760-2c81-4ef7-b578-5b5392b571df", 5, 0, "Enabled"),
        "INFORMATION_PROTECTION_COMPLIANCE": (E5_COMPLIANCE_SKU_ID, 10, 0, "Enabled"),
    }


async def test_ib_capable_skus_carry_the_information_barriers_plan(client):
    skus = await client.subscribed_skus.get()
    with_ib = {
        s.sku_part_number
        for s in skus.value
        if any(str(p.service_plan_id) == IB_PLAN for p in s.service_plans)
    }
    assert with_ib == {"SPE_E5", "ENTERPRISEPREMIUM", "INFORMATION_PROTECTION_COMPLIANCE"}


async def test_get_one_subscribed_sku_by_id(client, sb):
    sku_id = f"{sb.tenant.tenant_id}_{SPE_E5_SKU_ID}"
    sku = await client.subscribed_skus.by_subscribed_sku_id(sku_id).get()
    assert sku.sku_part_number == "SPE_E5"


async def test_assigned_licenses_show_on_the_user_with_select(client, create):
    from kiota_abstractions.base_request_configuration import RequestConfiguration
    from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder

    user = await create()
    await client.users.by_user_id(user.id).assign_license.post(licenses([REMOTE_ASSIST_SKU_ID]))
    config = RequestConfiguration(
        query_parameters=UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(
            select=["assignedLicenses", "assignedPlans"]
        )
    )
    got = await client.users.by_user_id(user.id).get(config)
    assert [(str(lic.sku_id), lic.disabled_plans) for lic in got.assigned_licenses] == [
        (REMOTE_ASSIST_SKU_ID, [])
    ]
    assert {p.capability_status for p in got.assigned_plans} == {"Enabled"}
