"""Group membership through the gateway: add, remove (both idempotent) and role checks."""

from __future__ import annotations

from uuid import uuid4

import pytest

from provisioning.errors import InvalidRequest, NotFound
from provisioning.graph import GraphGateway
from sandbox.seed import SEGMENT_GROUP_IDS
from sandbox.testing import RunningSandbox
from settings import (
    SANDBOX_ADMINS_GROUP_ID,
    SANDBOX_APPROVERS_GROUP_ID,
    SANDBOX_REQUESTERS_GROUP_ID,
    SANDBOX_VENDOR_ACCOUNTS_GROUP_ID,
)
from tests.provisioning.conftest import new_user

ADAM_ID = "adaa0000-0000-4000-8000-000000000003"
NORA_ID = "0b0a0000-0000-4000-8000-000000000005"
ROLE_GROUPS = (SANDBOX_REQUESTERS_GROUP_ID, SANDBOX_APPROVERS_GROUP_ID, SANDBOX_ADMINS_GROUP_ID)


async def test_add_group_member(gateway: GraphGateway, sandbox: RunningSandbox) -> None:
    user = await gateway.create_user(new_user())
    await gateway.add_group_member(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID, user.id)
    assert user.id in sandbox.tenant.members[SANDBOX_VENDOR_ACCOUNTS_GROUP_ID]


async def test_adding_a_member_twice_is_done_once(gateway: GraphGateway, sandbox: RunningSandbox) -> None:
    user = await gateway.create_user(new_user())
    await gateway.add_group_member(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID, user.id)
    await gateway.add_group_member(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID, user.id)
    assert sandbox.tenant.members[SANDBOX_VENDOR_ACCOUNTS_GROUP_ID].count(user.id) == 1
    # The second add was answered with Graph's "already exist" 400, which the gateway took as success.
    assert sandbox.tenant.requests.count("POST /groups/{id}/members/$ref", status=400) == 1


async def test_remove_group_member_and_removing_again(gateway: GraphGateway, sandbox: RunningSandbox) -> None:
    user = await gateway.create_user(new_user())
    await gateway.add_group_member(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID, user.id)
    await gateway.remove_group_member(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID, user.id)
    await gateway.remove_group_member(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID, user.id)
    assert user.id not in sandbox.tenant.members[SANDBOX_VENDOR_ACCOUNTS_GROUP_ID]


REMOVE_MEMBER = "DELETE /groups/{id}/members/{id}/$ref"


async def test_a_removal_404_while_the_account_replicates_is_retried_until_it_is_out(
    gateway: GraphGateway, sandbox: RunningSandbox
) -> None:
    # Graph answers a removal with 404 both for "not a member" and while the account replicates; the
    # gateway asks checkMemberGroups which one it is before calling the removal done.
    sandbox.tenant.faults.inject("replication_lag", route=REMOVE_MEMBER, times=1, seconds=0.3)
    user = await gateway.create_user(new_user())
    await gateway.add_group_member(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID, user.id)
    await gateway.remove_group_member(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID, user.id)
    assert user.id not in sandbox.tenant.members[SANDBOX_VENDOR_ACCOUNTS_GROUP_ID]
    statuses = [request.status for request in sandbox.tenant.requests.for_route(REMOVE_MEMBER)]
    assert statuses[0] == 404
    assert statuses[-1] == 204


async def test_a_removal_that_404s_for_longer_than_the_wait_is_not_found(
    make_gateway, sandbox: RunningSandbox
) -> None:
    gateway = make_gateway(replication_wait=0.2)
    sandbox.tenant.faults.inject("replication_lag", route=REMOVE_MEMBER, times=1, seconds=30)
    user = await gateway.create_user(new_user())
    await gateway.add_group_member(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID, user.id)
    with pytest.raises(NotFound):
        await gateway.remove_group_member(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID, user.id)
    assert user.id in sandbox.tenant.members[SANDBOX_VENDOR_ACCOUNTS_GROUP_ID]


async def test_adding_to_a_group_that_does_not_exist_is_not_found(make_gateway) -> None:
    gateway = make_gateway(replication_wait=0.0)
    with pytest.raises(NotFound):
        await gateway.add_group_member(str(uuid4()), ADAM_ID)


async def test_a_member_id_that_is_not_a_guid_is_refused_before_sending(
    gateway: GraphGateway, sandbox: RunningSandbox
) -> None:
    with pytest.raises(InvalidRequest):
        await gateway.add_group_member(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID, "../../users/x")
    assert len(sandbox.tenant.requests) == 0


async def test_check_member_groups_finds_the_roles(gateway: GraphGateway) -> None:
    assert await gateway.check_member_groups(ADAM_ID, ROLE_GROUPS) == {
        SANDBOX_APPROVERS_GROUP_ID,
        SANDBOX_ADMINS_GROUP_ID,
    }
    assert await gateway.check_member_groups(NORA_ID, ROLE_GROUPS) == frozenset()


async def test_check_member_groups_splits_more_than_twenty_ids(
    gateway: GraphGateway, sandbox: RunningSandbox
) -> None:
    # Graph takes at most 20 ids per checkMemberGroups; 25 go in two requests.
    many = [*ROLE_GROUPS, *SEGMENT_GROUP_IDS.values(), *(str(uuid4()) for _ in range(19))]
    assert await gateway.check_member_groups(ADAM_ID, many) == {
        SANDBOX_APPROVERS_GROUP_ID,
        SANDBOX_ADMINS_GROUP_ID,
    }
    assert sandbox.tenant.requests.count("POST /users/{id}/checkMemberGroups", status=200) == 2


async def test_a_new_member_shows_in_check_member_groups(gateway: GraphGateway) -> None:
    segment = SEGMENT_GROUP_IDS["IB Vendor - Contoso"]
    await gateway.add_group_member(segment, NORA_ID)
    assert await gateway.check_member_groups(NORA_ID, [segment]) == {segment}


async def test_group_member_ids_lists_direct_members_and_follows_removals(
    gateway: GraphGateway, sandbox: RunningSandbox
) -> None:
    approvers = await gateway.group_member_ids(SANDBOX_APPROVERS_GROUP_ID)
    assert approvers == {"adaa0000-0000-4000-8000-000000000003", "0a01a000-0000-4000-8000-000000000004"}
    await gateway.remove_group_member(SANDBOX_APPROVERS_GROUP_ID, "0a01a000-0000-4000-8000-000000000004")
    assert await gateway.group_member_ids(SANDBOX_APPROVERS_GROUP_ID) == {
        "adaa0000-0000-4000-8000-000000000003"
    }
