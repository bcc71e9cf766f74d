"""Licenses and seats through the gateway, against the sandbox's seat accounting."""

from __future__ import annotations

from uuid import UUID

import pytest

from provisioning.directory import LicenseAssignment, SkuSeats
from provisioning.errors import InvalidRequest, NoFreeSeats
from provisioning.graph import GraphGateway
from sandbox.seed import OFFICE_E5_SKU_ID, REMOTE_ASSIST_SKU_ID
from sandbox.testing import RunningSandbox
from tests.provisioning.conftest import new_user

REMOTE_ASSIST = UUID(REMOTE_ASSIST_SKU_ID)
OFFICE_E5 = UUID(OFFICE_E5_SKU_ID)
TEAMS_PLAN = UUID("57ff2da0-773e-42df-b2af-ffb7a2317929")


async def test_list_skus_reports_the_seeded_seats(gateway: GraphGateway) -> None:
    skus = {sku.part_number: sku for sku in await gateway.list_skus()}
    assert skus["MICROSOFT_REMOTE_ASSIST"] == SkuSeats(
        sku_id=REMOTE_ASSIST,
        part_number="MICROSOFT_REMOTE_ASSIST",
        enabled=25,
        consumed=0,
        capability_status="Enabled",
    )
    assert {"SPE_E5", "ENTERPRISEPREMIUM", "INFORMATION_PROTECTION_COMPLIANCE"} <= set(skus)


async def test_assigning_a_license_takes_a_seat(gateway: GraphGateway, sandbox: RunningSandbox) -> None:
    user = await gateway.create_user(new_user())
    await gateway.assign_licenses(user.id, add=[LicenseAssignment(REMOTE_ASSIST)])
    assert (await gateway.get_user(user.id)).assigned_sku_ids == {REMOTE_ASSIST}
    seats = {sku.sku_id: sku for sku in await gateway.list_skus()}[REMOTE_ASSIST]
    assert (seats.consumed, seats.free) == (1, 24)


async def test_disabled_plans_reach_the_directory(gateway: GraphGateway, sandbox: RunningSandbox) -> None:
    user = await gateway.create_user(new_user())
    await gateway.assign_licenses(user.id, add=[LicenseAssignment(OFFICE_E5, frozenset({TEAMS_PLAN}))])
    [held] = sandbox.tenant.users[user.id]["assignedLicenses"]
    assert held["disabledPlans"] == [str(TEAMS_PLAN)]


async def test_assigning_the_same_license_again_takes_no_second_seat(
    gateway: GraphGateway, sandbox: RunningSandbox
) -> None:
    user = await gateway.create_user(new_user())
    await gateway.assign_licenses(user.id, add=[LicenseAssignment(REMOTE_ASSIST)])
    await gateway.assign_licenses(user.id, add=[LicenseAssignment(REMOTE_ASSIST)])
    assert sandbox.tenant.seats("MICROSOFT_REMOTE_ASSIST") == (1, 25)


async def test_removing_a_license_frees_its_seat(gateway: GraphGateway, sandbox: RunningSandbox) -> None:
    user = await gateway.create_user(new_user())
    await gateway.assign_licenses(user.id, add=[LicenseAssignment(REMOTE_ASSIST)])
    await gateway.remove_licenses(user.id, [REMOTE_ASSIST])
    assert sandbox.tenant.seats("MICROSOFT_REMOTE_ASSIST") == (0, 25)
    assert (await gateway.get_user(user.id)).assigned_sku_ids == frozenset()


async def test_removing_a_license_the_user_does_not_hold_is_done(gateway: GraphGateway) -> None:
    user = await gateway.create_user(new_user())
    await gateway.remove_licenses(user.id, [REMOTE_ASSIST])
    assert (await gateway.get_user(user.id)).assigned_sku_ids == frozenset()


async def test_a_swap_with_an_already_removed_license_still_adds(gateway: GraphGateway) -> None:
    user = await gateway.create_user(new_user())
    await gateway.assign_licenses(user.id, add=[LicenseAssignment(OFFICE_E5)], remove=[REMOTE_ASSIST])
    assert (await gateway.get_user(user.id)).assigned_sku_ids == {OFFICE_E5}


async def test_no_usage_location_is_graphs_invalid_request(gateway: GraphGateway) -> None:
    user = await gateway.create_user(new_user(usage_location=None))
    with pytest.raises(InvalidRequest) as raised:
        await gateway.assign_licenses(user.id, add=[LicenseAssignment(REMOTE_ASSIST)])
    assert type(raised.value) is InvalidRequest
    assert (
        raised.value.graph_message
        == "License assignment cannot be done for user with invalid usage location."
    )


async def test_an_unknown_sku_is_an_invalid_request(gateway: GraphGateway) -> None:
    user = await gateway.create_user(new_user())
    with pytest.raises(InvalidRequest, match="does not correspond to a valid company License"):
        await gateway.assign_licenses(user.id, add=[LicenseAssignment(UUID(int=7))])


async def test_a_license_without_a_free_seat_is_no_free_seats(
    gateway: GraphGateway, sandbox: RunningSandbox
) -> None:
    # One seat in all: the first account takes it, the second is refused.
    sandbox.tenant.set_prepaid_units("MICROSOFT_REMOTE_ASSIST", 1)
    first = await gateway.create_user(new_user())
    second = await gateway.create_user(new_user())
    await gateway.assign_licenses(first.id, add=[LicenseAssignment(REMOTE_ASSIST)])
    with pytest.raises(NoFreeSeats) as raised:
        await gateway.assign_licenses(second.id, add=[LicenseAssignment(REMOTE_ASSIST)])
    assert raised.value.sku_id == REMOTE_ASSIST
    assert not raised.value.retryable
    assert sandbox.tenant.seats("MICROSOFT_REMOTE_ASSIST") == (1, 1)


async def test_25_accounts_fill_remote_assist_and_a_removal_frees_one(
    gateway: GraphGateway, sandbox: RunningSandbox
) -> None:
    users = [await gateway.create_user(new_user()) for _ in range(26)]
    for user in users[:25]:
        await gateway.assign_licenses(user.id, add=[LicenseAssignment(REMOTE_ASSIST)])
    with pytest.raises(NoFreeSeats):
        await gateway.assign_licenses(users[25].id, add=[LicenseAssignment(REMOTE_ASSIST)])
    assert {s.sku_id: s for s in await gateway.list_skus()}[REMOTE_ASSIST].consumed == 25
    await gateway.remove_licenses(users[0].id, [REMOTE_ASSIST])
    await gateway.assign_licenses(users[25].id, add=[LicenseAssignment(REMOTE_ASSIST)])
    assert sandbox.tenant.seats("MICROSOFT_REMOTE_ASSIST") == (25, 25)
