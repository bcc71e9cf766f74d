"""Groups, membership through $ref, and the role checks (checkMemberGroups & co) through msgraph-sdk."""

from __future__ import annotations

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.groups.groups_request_builder import GroupsRequestBuilder
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.reference_create import ReferenceCreate
from msgraph.generated.users.item.check_member_groups.check_member_groups_post_request_body import (
    CheckMemberGroupsPostRequestBody,
)
from msgraph.generated.users.item.get_member_groups.get_member_groups_post_request_body import (
    GetMemberGroupsPostRequestBody,
)

from sandbox.seed import PEOPLE, SEGMENT_GROUP_IDS
from settings import (
    SANDBOX_ADMINS_GROUP_ID,
    SANDBOX_APPROVERS_GROUP_ID,
    SANDBOX_REQUESTERS_GROUP_ID,
    SANDBOX_VENDOR_ACCOUNTS_GROUP_ID,
)
from tests.sandbox.conftest import odata

ID = {given: object_id for _, _, object_id, given, _ in PEOPLE}
ROLE_GROUPS = [SANDBOX_REQUESTERS_GROUP_ID, SANDBOX_APPROVERS_GROUP_ID, SANDBOX_ADMINS_GROUP_ID]


def ref(object_id: str) -> ReferenceCreate:
    return ReferenceCreate(odata_id=f"https://graph.microsoft.com/v1.0/directoryObjects/{object_id}")


async def member_ids(client, group_id: str) -> list[str]:
    page = await client.groups.by_group_id(group_id).members.get()
    return sorted(m.id for m in page.value)


async def test_seed_memberships_match_the_playground_roles(client):
    assert await member_ids(client, SANDBOX_REQUESTERS_GROUP_ID) == sorted([ID["Alice"], ID["Rita"]])
    assert await member_ids(client, SANDBOX_APPROVERS_GROUP_ID) == sorted([ID["Adam"], ID["Paula"]])
    assert await member_ids(client, SANDBOX_ADMINS_GROUP_ID) == sorted([ID["Adam"], ID["Omar"]])
    assert await member_ids(client, SANDBOX_VENDOR_ACCOUNTS_GROUP_ID) == []


async def test_members_come_back_typed_as_users(client):
    page = await client.groups.by_group_id(SANDBOX_REQUESTERS_GROUP_ID).members.get()
    assert {type(m).__name__ for m in page.value} == {"User"}
    assert {m.user_principal_name for m in page.value} == {
        "alice@abc.onmicrosoft.com",
        "rita@abc.onmicrosoft.com",
    }


async def test_get_group_and_list_segment_groups(client):
    group = await client.groups.by_group_id(SEGMENT_GROUP_IDS["IB Vendor - Contoso"]).get()
    assert (group.display_name, group.security_enabled) == ("IB Vendor - Contoso", True)
    config = RequestConfiguration(
        query_parameters=GroupsRequestBuilder.GroupsRequestBuilderGetQueryParameters(
            filter="startswith(displayName,'IB Vendor')"
        )
    )
    page = await client.groups.get(config)
    assert sorted(g.display_name for g in page.value) == sorted(SEGMENT_GROUP_IDS)


async def test_unknown_group_is_404(client):
    with pytest.raises(ODataError) as err:
        await client.groups.by_group_id("6a000000-0000-4000-8000-0000000000ff").get()
    assert odata(err)[:2] == (404, "Request_ResourceNotFound")


async def test_add_member_answers_204_and_membership_shows(client, create, sb):
    user = await create()
    await client.groups.by_group_id(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID).members.ref.post(ref(user.id))
    assert sb.tenant.requests[-1].status == 204
    assert await member_ids(client, SANDBOX_VENDOR_ACCOUNTS_GROUP_ID) == [user.id]


async def test_adding_an_existing_member_is_400_with_graphs_message(client, create):
    user = await create()
    await client.groups.by_group_id(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID).members.ref.post(ref(user.id))
    with pytest.raises(ODataError) as err:
        await client.groups.by_group_id(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID).members.ref.post(ref(user.id))
    assert odata(err) == (
        400,
        "Request_BadRequest",
        "One or more added object references already exist for the following modified properties: 'members'.",
    )


async def test_adding_an_unknown_object_is_404(client):
    with pytest.raises(ODataError) as err:
        await client.groups.by_group_id(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID).members.ref.post(
            ref("00000000-0000-4000-8000-00000000dead")
        )
    assert odata(err)[:2] == (404, "Request_ResourceNotFound")


async def test_remove_member_answers_204(client, create, sb):
    user = await create()
    await client.groups.by_group_id(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID).members.ref.post(ref(user.id))
    await (
        client.groups.by_group_id(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID)
        .members.by_directory_object_id(user.id)
        .ref.delete()
    )
    assert sb.tenant.requests[-1].status == 204
    assert await member_ids(client, SANDBOX_VENDOR_ACCOUNTS_GROUP_ID) == []


async def test_removing_a_non_member_is_404(client, create):
    user = await create()
    with pytest.raises(ODataError) as err:
        await (
            client.groups.by_group_id(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID)
            .members.by_directory_object_id(user.id)
            .ref.delete()
        )
    assert odata(err)[:2] == (404, "Request_ResourceNotFound")


@pytest.mark.parametrize(
    ("person", "expected"),
    [
        ("Alice", [SANDBOX_REQUESTERS_GROUP_ID]),
        ("Adam", [SANDBOX_APPROVERS_GROUP_ID, SANDBOX_ADMINS_GROUP_ID]),
        ("Omar", [SANDBOX_ADMINS_GROUP_ID]),
        ("Nora", []),
    ],
)
async def test_check_member_groups_answers_the_roles(client, person, expected):
    body = CheckMemberGroupsPostRequestBody(group_ids=ROLE_GROUPS)
    result = await client.users.by_user_id(ID[person]).check_member_groups.post(body)
    assert result.value == expected


async def test_check_member_groups_is_transitive(client, sb):
    # Nest the admins group inside the approvers group: admins become approvers transitively.
    sb.tenant.members[SANDBOX_APPROVERS_GROUP_ID].append(SANDBOX_ADMINS_GROUP_ID)
    body = CheckMemberGroupsPostRequestBody(group_ids=[SANDBOX_APPROVERS_GROUP_ID])
    result = await client.users.by_user_id(ID["Omar"]).check_member_groups.post(body)
    assert result.value == [SANDBOX_APPROVERS_GROUP_ID]


async def test_check_member_groups_takes_at_most_20_ids(client):
    body = CheckMemberGroupsPostRequestBody(group_ids=[SANDBOX_ADMINS_GROUP_ID] * 21)
    with pytest.raises(ODataError) as err:
        await client.users.by_user_id(ID["Adam"]).check_member_groups.post(body)
    assert odata(err)[0] == 400


async def test_get_member_groups(client):
    result = await client.users.by_user_id(ID["Adam"]).get_member_groups.post(
        GetMemberGroupsPostRequestBody(security_enabled_only=True)
    )
    assert sorted(result.value) == sorted([SANDBOX_APPROVERS_GROUP_ID, SANDBOX_ADMINS_GROUP_ID])


async def test_transitive_member_of_returns_groups(client):
    page = await client.users.by_user_id(ID["Paula"]).transitive_member_of.get()
    assert [(type(g).__name__, g.id) for g in page.value] == [("Group", SANDBOX_APPROVERS_GROUP_ID)]


async def test_transitive_member_of_cast_to_group(client):
    page = await client.users.by_user_id(ID["Adam"]).transitive_member_of.graph_group.get()
    assert sorted(g.display_name for g in page.value) == [
        "Vendor onboarding approvers",
        "Vendor onboarding bot administrators",
    ]


async def test_member_of_unknown_user_is_404(client):
    with pytest.raises(ODataError) as err:
        await client.users.by_user_id("ghost@abc.com").transitive_member_of.get()
    assert odata(err)[0] == 404


async def test_deleted_user_leaves_its_groups(client, create):
    user = await create()
    await client.groups.by_group_id(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID).members.ref.post(ref(user.id))
    await client.users.by_user_id(user.id).delete()
    assert await member_ids(client, SANDBOX_VENDOR_ACCOUNTS_GROUP_ID) == []
