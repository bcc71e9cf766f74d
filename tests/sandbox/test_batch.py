"""POST /$batch through msgraph-sdk's request adapter (auth, retries, base URL all the SDK's).

msgraph-core's own batch classes send ``depends_on`` and drop JSON bodies (FACTS.md), so these tests
write the batch JSON themselves and post it through the SDK adapter, as the gateway would.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from msgraph.generated.models.o_data_errors.o_data_error import ODataError

from sandbox.seed import REMOTE_ASSIST_SKU_ID
from tests.sandbox.conftest import STRONG_PASSWORD, odata


async def post_batch(client, requests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    info = RequestInformation()
    info.http_method = Method.POST
    info.url = f"{client.request_adapter.base_url}/$batch"
    info.headers.try_add("Accept", "application/json")
    info.set_stream_content(json.dumps({"requests": requests}).encode(), "application/json")
    raw = await client.request_adapter.send_primitive_async(info, "bytes", {"XXX": ODataError})
    return {r["id"]: r for r in json.loads(raw)["responses"]}


def create_step(step_id: str, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": step_id,
        "method": "POST",
        "url": "/users",
        "headers": {"Content-Type": "application/json"},
        "body": {
            "accountEnabled": True,
            "displayName": name,
            "mailNickname": name,
            "userPrincipalName": f"{name}@abc.com",
            "usageLocation": "US",
            "passwordProfile": {"password": STRONG_PASSWORD},
        },
        **extra,
    }


async def test_batch_runs_dependent_requests_in_order(client, sb):
    responses = await post_batch(
        client,
        [
            {
                "id": "2",
                "method": "POST",
                "url": "/users/batched@abc.com/assignLicense",
                "headers": {"Content-Type": "application/json"},
                "body": {
                    "addLicenses": [{"skuId": REMOTE_ASSIST_SKU_ID, "disabledPlans": []}],
                    "removeLicenses": [],
                },
                "dependsOn": ["1"],
            },
            create_step("1", "batched"),
            {
                "id": "3",
                "method": "GET",
                "url": "/users/batched@abc.com?$select=id,usageLocation",
                "dependsOn": ["2"],
            },
        ],
    )
    assert {k: v["status"] for k, v in responses.items()} == {"1": 201, "2": 200, "3": 200}
    assert responses["3"]["body"]["usageLocation"] == "US"
    assert sb.tenant.seats("MICROSOFT_REMOTE_ASSIST") == (1, 25)


async def test_failed_dependency_answers_424_and_is_not_run(client, sb):
    responses = await post_batch(
        client,
        [
            {"id": "a", "method": "GET", "url": "/users/ghost@abc.com"},
            create_step("b", "never", dependsOn=["a"]),
        ],
    )
    assert (responses["a"]["status"], responses["b"]["status"]) == (404, 424)
    assert responses["a"]["body"]["error"]["code"] == "Request_ResourceNotFound"
    assert not any(u["userPrincipalName"] == "never@abc.com" for u in sb.tenant.users.values())


async def test_more_than_20_requests_is_400(client):
    steps = [{"id": str(n), "method": "GET", "url": "/organization"} for n in range(21)]
    with pytest.raises(ODataError) as err:
        await post_batch(client, steps)
    assert odata(err)[:2] == (400, "BadRequest")


async def test_twenty_requests_are_fine(client):
    steps = [{"id": str(n), "method": "GET", "url": "/organization"} for n in range(20)]
    responses = await post_batch(client, steps)
    assert {r["status"] for r in responses.values()} == {200}


async def test_absolute_urls_are_refused_per_request(client):
    responses = await post_batch(
        client,
        [
            {"id": "1", "method": "GET", "url": "https://graph.microsoft.com/v1.0/organization"},
            {"id": "2", "method": "GET", "url": "organization"},
        ],
    )
    assert (responses["1"]["status"], responses["2"]["status"]) == (400, 200)


async def test_duplicate_ids_are_400(client):
    with pytest.raises(ODataError) as err:
        await post_batch(client, [{"id": "1", "method": "GET", "url": "/domains"}] * 2)
    assert odata(err)[0] == 400


async def test_unknown_depends_on_is_400(client):
    with pytest.raises(ODataError) as err:
        await post_batch(client, [{"id": "1", "method": "GET", "url": "/domains", "dependsOn": ["9"]}])
    assert odata(err)[0] == 400


async def test_requests_inside_a_batch_are_throttled_one_by_one(client, sb):
    sb.tenant.faults.inject("throttle", route="GET /domains", retry_after=3)
    responses = await post_batch(
        client,
        [
            {"id": "1", "method": "GET", "url": "/domains"},
            {"id": "2", "method": "GET", "url": "/organization"},
        ],
    )
    assert (responses["1"]["status"], responses["2"]["status"]) == (429, 200)
    assert responses["1"]["headers"]["Retry-After"] == "3"


async def test_inner_requests_are_recorded_under_the_envelope(client, sb):
    await post_batch(client, [create_step("1", "recorded")])
    envelope, inner = sb.tenant.requests[-1], sb.tenant.requests[-2]
    assert envelope.matches("POST /$batch")
    assert inner.matches("POST /users")
    assert inner.batch_request_id == envelope.request_id
    assert inner.body["passwordProfile"]["password"] == "***"
    assert (envelope.is_write, inner.is_write) == (False, True)


async def test_consistency_level_header_inside_a_batch_request(client, create):
    await create("bob", company_name="Contoso")
    responses = await post_batch(
        client,
        [
            {
                "id": "1",
                "method": "GET",
                "url": "/users?$filter=companyName eq 'Contoso'&$count=true&$select=userPrincipalName",
                "headers": {"ConsistencyLevel": "eventual"},
            },
            {"id": "2", "method": "GET", "url": "/users?$filter=companyName eq 'Contoso'"},
        ],
    )
    assert responses["1"]["body"]["value"] == [{"userPrincipalName": "bob@abc.com"}]
    assert responses["1"]["body"]["@odata.count"] == 1
    assert responses["2"]["status"] == 400
