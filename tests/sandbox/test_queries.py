"""GET /users with $filter, $select, $top, $count, $search and paging, through msgraph-sdk."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.user_collection_response import UserCollectionResponse
from msgraph.generated.users.count.count_request_builder import CountRequestBuilder
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph_core import PageIterator

from tests.sandbox.conftest import odata

ADVANCED_HINT = (
    "is not supported because the required parameters might be missing. Try adding $count=true query "
    "parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for "
    "more information"
)


def query(*, advanced: bool = False, **params: Any) -> RequestConfiguration[Any]:
    parameters = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(**params)
    config = RequestConfiguration(query_parameters=parameters)
    if advanced:
        config.headers.add("ConsistencyLevel", "eventual")
        parameters.count = True
    return config


async def upns(client, **kwargs: Any) -> list[str]:
    page = await client.users.get(query(**kwargs))
    return sorted(u.user_principal_name for u in page.value)


@pytest.fixture
async def vendors(create):
    await create(
        "bob",
        company_name="Contoso",
        employee_type="Vendor",
        employee_id="REQ-1",
        other_mails=["bob@contoso1.com"],
        mail="bob@abc.com",
        display_name="Bob Vendor",
    )
    await create(
        "obrien",
        company_name="O'Brien & Sons",
        employee_type="Vendor",
        employee_id="REQ-2",
        other_mails=["pat@obrien.example"],
        display_name="Pat O'Brien",
    )
    await create(
        "carol",
        company_name="Fabrikam",
        employee_type="Contractor",
        employee_id="REQ-3",
        display_name="Carol Contractor",
    )


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ("userPrincipalName eq 'bob@abc.com'", ["bob@abc.com"]),
        ("userPrincipalName eq 'BOB@ABC.COM'", ["bob@abc.com"]),
        ("mail eq 'bob@abc.com'", ["bob@abc.com"]),
        ("employeeId eq 'REQ-2'", ["obrien@abc.com"]),
        ("otherMails/any(x:x eq 'bob@contoso1.com')", ["bob@abc.com"]),
        ("otherMails/any(x: startswith(x, 'pat@'))", ["obrien@abc.com"]),
        ("startswith(displayName,'Pat O''Brien')", ["obrien@abc.com"]),
        ("startsWith(displayName, 'c')", ["carol@abc.com"]),
        ("employeeId eq 'REQ-1' or employeeId eq 'REQ-3'", ["bob@abc.com", "carol@abc.com"]),
        ("employeeId in ('REQ-1', 'REQ-2')", ["bob@abc.com", "obrien@abc.com"]),
        ("startswith(userPrincipalName,'bob') and accountEnabled eq true", ["bob@abc.com"]),
        (
            "(employeeId eq 'REQ-1' or employeeId eq 'REQ-2') and startswith(displayName,'Pat')",
            ["obrien@abc.com"],
        ),
    ],
)
async def test_default_filters(client, vendors, flt, expected):
    assert await upns(client, filter=flt) == expected


async def test_company_name_filter_needs_advanced_query_parameters(client, vendors):
    with pytest.raises(ODataError) as err:
        await client.users.get(query(filter="companyName eq 'Contoso'"))
    assert odata(err) == (
        400,
        "Request_UnsupportedQuery",
        "Unsupported or invalid query filter clause specified for property 'companyName' of resource 'User'.",
    )


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ("companyName eq 'Contoso'", ["bob@abc.com"]),
        ("companyName eq 'O''Brien & Sons'", ["obrien@abc.com"]),
        ("employeeType eq 'Vendor'", ["bob@abc.com", "obrien@abc.com"]),
        ("employeeType ne 'Vendor' and employeeId eq 'REQ-3'", ["carol@abc.com"]),
        ("endswith(mail,'@abc.com') and employeeType eq 'Vendor'", ["bob@abc.com"]),
        ("not(employeeType eq 'Vendor') and startswith(userPrincipalName,'carol')", ["carol@abc.com"]),
    ],
)
async def test_advanced_filters_with_consistency_level_and_count(client, vendors, flt, expected):
    assert await upns(client, filter=flt, advanced=True) == expected


@pytest.mark.parametrize(
    ("flt", "operator"), [("employeeId ne 'x'", "ne"), ("endswith(mail,'.com')", "endsWith")]
)
async def test_advanced_operators_without_the_header_are_rejected(client, flt, operator):
    with pytest.raises(ODataError) as err:
        await client.users.get(query(filter=flt))
    assert odata(err) == (400, "Request_UnsupportedQuery", f"Operator '{operator}' {ADVANCED_HINT}")


@pytest.mark.parametrize(
    ("flt", "message"),
    [
        (
            "userPrincipalName eq 'unterminated",
            "Invalid filter clause: There is an unterminated string literal at position 21 in "
            "'userPrincipalName eq 'unterminated'.",
        ),
        (
            "userPrincipalName eq",
            "Invalid filter clause: Syntax error at position 20 in 'userPrincipalName eq'.",
        ),
        (
            "displayName eq 'a' and",
            "Invalid filter clause: Syntax error at position 22 in 'displayName eq 'a' and'.",
        ),
        (
            "shoeSize eq '42'",
            "Invalid filter clause: Could not find a property named 'shoeSize' on type "
            "'microsoft.graph.user'.",
        ),
    ],
)
async def test_malformed_filter_is_400_bad_request(client, flt, message):
    with pytest.raises(ODataError) as err:
        await client.users.get(query(filter=flt))
    assert odata(err) == (400, "BadRequest", message)


async def test_unquoted_quote_breaks_the_filter(client):
    # The quoting rule: a single quote inside a literal must be doubled, or the literal ends early.
    with pytest.raises(ODataError) as err:
        await client.users.get(query(filter="displayName eq 'Pat O'Brien'"))
    assert odata(err)[:2] == (400, "BadRequest")


async def test_select_returns_exactly_the_selected_properties(client, vendors, sb):
    page = await client.users.get(query(filter="employeeId eq 'REQ-1'", select=["id", "companyName"]))
    [user] = page.value
    assert user.company_name == "Contoso"
    assert user.id
    assert user.display_name is None  # not selected, not returned


async def test_select_of_unknown_property_is_400(client):
    with pytest.raises(ODataError) as err:
        await client.users.get(query(select=["shoeSize"]))
    assert odata(err) == (
        400,
        "BadRequest",
        "Parsing OData Select and Expand failed: Could not find a property named 'shoeSize' on type "
        "'microsoft.graph.user'.",
    )


async def test_count_true_with_consistency_level_returns_odata_count(client, vendors):
    page = await client.users.get(query(filter="employeeType eq 'Vendor'", advanced=True))
    assert page.odata_count == 2


async def test_count_true_without_consistency_level_is_silently_ignored(client, vendors):
    page = await client.users.get(query(count=True))
    assert page.odata_count is None
    assert len(page.value) == 6 + 3


async def test_count_segment_needs_consistency_level(client):
    with pytest.raises(ODataError) as err:
        await client.users.count.get()
    assert odata(err) == (400, "Request_BadRequest", "$count is not currently supported.")


async def test_count_segment_with_consistency_level_answers_a_number(client, vendors):
    config = RequestConfiguration(
        query_parameters=CountRequestBuilder.CountRequestBuilderGetQueryParameters(
            filter="employeeType eq 'Vendor'"
        )
    )
    config.headers.add("ConsistencyLevel", "eventual")
    assert await client.users.count.get(config) == 2


async def test_top_pages_with_a_next_link_back_to_this_server(client, vendors, sb):
    first = await client.users.get(query(top=4, select=["id", "userPrincipalName"]))
    assert len(first.value) == 4
    assert first.odata_next_link.startswith(sb.base_url + "/users?")
    second = await client.users.with_url(first.odata_next_link).get()
    assert len(second.value) == 4
    assert {u.id for u in first.value}.isdisjoint({u.id for u in second.value})


async def test_page_iterator_walks_every_page(client, vendors):
    first = await client.users.get(query(top=2, select=["id"]))
    seen: list[str] = []
    iterator = PageIterator(first, client.request_adapter)

    def collect(user: Any) -> bool:
        seen.append(user.id)
        return True

    await iterator.iterate(collect)
    assert len(seen) == len(set(seen)) == 9


async def test_next_link_keeps_the_filter(client, vendors):
    first = await client.users.get(query(top=1, filter="employeeType eq 'Vendor'", advanced=True))
    second = await client.users.with_url(first.odata_next_link).get()
    assert isinstance(second, UserCollectionResponse)
    assert [u.user_principal_name for u in first.value + second.value] == ["bob@abc.com", "obrien@abc.com"]


@pytest.mark.parametrize("top", [0, 1000])
async def test_top_outside_1_to_999_is_400(client, top):
    with pytest.raises(ODataError) as err:
        await client.users.get(query(top=top))
    assert odata(err) == (
        400,
        "Request_BadRequest",
        f"Invalid page size specified: '{top}'. Must be between 1 and 999 inclusive.",
    )


async def test_search_needs_consistency_level(client):
    with pytest.raises(ODataError) as err:
        await client.users.get(query(search='"displayName:Pat"'))
    assert odata(err)[:2] == (400, "Request_UnsupportedQuery")


async def test_search_with_consistency_level(client, vendors):
    config = query(search='"displayName:Pat"')
    config.headers.add("ConsistencyLevel", "eventual")
    page = await client.users.get(config)
    assert [u.user_principal_name for u in page.value] == ["obrien@abc.com"]


async def test_filter_on_assigned_license_sku(client, create):
    from msgraph.generated.models.assigned_license import AssignedLicense
    from msgraph.generated.users.item.assign_license.assign_license_post_request_body import (
        AssignLicensePostRequestBody,
    )

    from sandbox.seed import REMOTE_ASSIST_SKU_ID

    user = await create("licensed")
    await create("unlicensed")
    body = AssignLicensePostRequestBody(
        add_licenses=[AssignedLicense(sku_id=uuid.UUID(REMOTE_ASSIST_SKU_ID))], remove_licenses=[]
    )
    await client.users.by_user_id(user.id).assign_license.post(body)
    assert await upns(client, filter=f"assignedLicenses/any(s:s/skuId eq {REMOTE_ASSIST_SKU_ID})") == [
        "licensed@abc.com"
    ]


async def test_orderby_display_name_descending(client, vendors):
    page = await client.users.get(query(orderby=["displayName desc"], top=3, select=["displayName"]))
    assert [u.display_name for u in page.value] == ["Rita Requester", "Paula Approver", "Pat O'Brien"]


async def test_orderby_with_filter_needs_advanced_query_parameters(client, vendors):
    with pytest.raises(ODataError) as err:
        await client.users.get(query(orderby=["displayName"], filter="employeeId eq 'REQ-1'"))
    assert odata(err) == (400, "Request_UnsupportedQuery", "Sorting not supported for current query.")
