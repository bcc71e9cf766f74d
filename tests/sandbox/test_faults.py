"""Faults on demand, replication lag, the write quota, authentication, error shape and recording,
all observed through msgraph-sdk."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Any

import httpx
import pytest
from kiota_abstractions.authentication import AnonymousAuthenticationProvider
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.assigned_license import AssignedLicense
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.password_profile import PasswordProfile
from msgraph.generated.models.reference_create import ReferenceCreate
from msgraph.generated.models.user import User
from msgraph.generated.users.item.assign_license.assign_license_post_request_body import (
    AssignLicensePostRequestBody,
)
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_service_client import GraphServiceClient

from sandbox.recording import REDACTED
from sandbox.seed import REMOTE_ASSIST_SKU_ID
from settings import SANDBOX_VENDOR_ACCOUNTS_GROUP_ID
from tests.sandbox.conftest import STRONG_PASSWORD, headers, make_client, new_user, no_retry, odata


def license_body() -> AssignLicensePostRequestBody:
    return AssignLicensePostRequestBody(
        add_licenses=[AssignedLicense(sku_id=uuid.UUID(REMOTE_ASSIST_SKU_ID))], remove_licenses=[]
    )


def statuses(sb, route: str) -> list[int]:
    return [r.status for r in sb.tenant.requests.for_route(route)]


def users_named(sb, upn: str) -> int:
    return sum(1 for u in sb.tenant.users.values() if u["userPrincipalName"] == upn)


# -------------------------------------------------------------------------------------- throttling


async def test_a_429_storm_is_waited_out_by_the_sdk_retry_handler(client, sb):
    sb.tenant.faults.inject("throttle", route="POST /users", times=2, retry_after=1)
    created = await client.users.post(new_user("storm"))
    assert created.user_principal_name == "storm@abc.com"
    assert statuses(sb, "POST /users") == [429, 429, 201]
    assert users_named(sb, "storm@abc.com") == 1


async def test_throttle_answers_429_with_retry_after_and_graph_error_json(client, sb):
    sb.tenant.faults.inject("throttle", route="GET /users/{id}", retry_after=7)
    with pytest.raises(ODataError) as err:
        await client.users.by_user_id("alice@abc.onmicrosoft.com").get(no_retry())
    assert odata(err)[:2] == (429, "TooManyRequests")
    assert headers(err)["retry-after"] == "7"


async def test_replayed_post_after_a_lost_answer_never_creates_a_second_user(client, sb):
    # The first POST really creates the user, then answers 429; the SDK replays the POST.
    sb.tenant.faults.inject("throttle", route="POST /users", retry_after=1, after_effect=True)
    with pytest.raises(ODataError) as err:
        await client.users.post(new_user("replayed"))
    assert (
        odata(err)[2] == "Another object with the same value for property userPrincipalName already exists."
    )
    assert statuses(sb, "POST /users") == [429, 400]
    assert users_named(sb, "replayed@abc.com") == 1


async def test_unavailable_is_503_with_retry_after(client, sb):
    sb.tenant.faults.inject("unavailable", route="GET /subscribedSkus", retry_after=2)
    with pytest.raises(ODataError) as err:
        await client.subscribed_skus.get(no_retry())
    assert odata(err)[:2] == (503, "serviceNotAvailable")
    assert headers(err)["retry-after"] == "2"


async def test_gateway_timeout_is_504(client, sb):
    sb.tenant.faults.inject("gateway_timeout", route="POST /users/{id}/assignLicense")
    with pytest.raises(ODataError) as err:
        await client.users.by_user_id("alice@abc.onmicrosoft.com").assign_license.post(
            license_body(), no_retry()
        )
    assert odata(err)[0] == 504
    assert sb.tenant.seats("MICROSOFT_REMOTE_ASSIST") == (0, 25)


async def test_gateway_timeout_after_effect_did_the_work(client, sb):
    sb.tenant.faults.inject("gateway_timeout", route="POST /users/{id}/assignLicense", after_effect=True)
    with pytest.raises(ODataError):
        await client.users.by_user_id("alice@abc.onmicrosoft.com").assign_license.post(
            license_body(), no_retry()
        )
    assert sb.tenant.seats("MICROSOFT_REMOTE_ASSIST") == (1, 25)


async def test_dropped_connection_surfaces_as_an_httpx_error(client, sb):
    sb.tenant.faults.inject("drop", route="GET /organization")
    with pytest.raises(httpx.RemoteProtocolError):
        await client.organization.get()
    assert statuses(sb, "GET /organization") == [0]
    assert (await client.organization.get()).value[0].display_name == "ABC Corp"


async def test_dropped_answer_after_the_user_was_created(client, sb):
    sb.tenant.faults.inject("drop", route="POST /users", after_effect=True)
    with pytest.raises(httpx.RemoteProtocolError):
        await client.users.post(new_user("lostanswer"))
    assert users_named(sb, "lostanswer@abc.com") == 1


async def test_fault_hits_only_its_route(client, sb):
    sb.tenant.faults.inject("gateway_timeout", route="POST /groups/{id}/members/$ref")
    assert (
        await client.users.by_user_id("alice@abc.onmicrosoft.com").get(no_retry())
    ).display_name == "Alice Requester"
    with pytest.raises(ODataError):
        await client.groups.by_group_id(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID).members.ref.post(
            ReferenceCreate(
                odata_id="https://graph.microsoft.com/v1.0/directoryObjects/a11ce000-0000-4000-8000-000000000001"
            ),
            no_retry(),
        )


async def test_fault_without_route_hits_every_route(client, sb):
    sb.tenant.faults.inject("unavailable", times=2)
    for call in (client.organization.get(no_retry()), client.domains.get(no_retry())):
        with pytest.raises(ODataError) as err:
            await call
        assert odata(err)[0] == 503
    assert (await client.domains.get(no_retry())).value


async def test_times_none_lasts_until_cleared(client, sb):
    sb.tenant.faults.inject("unavailable", route="GET /domains", times=None)
    for _ in range(3):
        with pytest.raises(ODataError):
            await client.domains.get(no_retry())
    sb.tenant.faults.clear()
    assert (await client.domains.get(no_retry())).value


def test_unknown_route_is_refused_at_injection(tenant):
    with pytest.raises(ValueError, match="serves no route"):
        tenant.faults.inject("throttle", route="POST /userz")


def test_after_effect_needs_a_failing_kind(tenant):
    with pytest.raises(ValueError, match="after_effect"):
        tenant.faults.inject("latency", seconds=1, after_effect=True)


async def test_latency_delays_only_its_route(client, sb):
    sb.tenant.faults.inject("latency", route="GET /domains", seconds=0.5)
    slow = asyncio.create_task(client.domains.get())
    await asyncio.sleep(0.05)
    fast = asyncio.create_task(client.organization.get())
    await asyncio.gather(slow, fast)
    served = [r.route for r in sb.tenant.requests if r.status == 200]
    assert [str(route.segments[0]) for route in served] == ["organization", "domains"]


async def test_global_latency_knobs_still_answer(client, sb):
    sb.tenant.faults.set_latency(every_call=0.01, per_write=0.01)
    assert (await client.users.post(new_user("slow"))).id
    assert (sb.tenant.faults.every_call_latency, sb.tenant.faults.per_write_latency) == (0.01, 0.01)


# -------------------------------------------------------------------------------- replication lag


async def test_replication_lag_hides_a_new_user_until_the_clock_moves(client, sb, clock):
    sb.tenant.faults.inject("replication_lag", seconds=30)
    created = await client.users.post(new_user("lagging"))
    for key in (created.id, "lagging@abc.com"):
        with pytest.raises(ODataError) as err:
            await client.users.by_user_id(key).get()
        assert odata(err)[:2] == (404, "Request_ResourceNotFound")
    with pytest.raises(ODataError):
        await client.users.by_user_id(created.id).assign_license.post(license_body())
    with pytest.raises(ODataError) as err:
        await client.groups.by_group_id(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID).members.ref.post(
            ReferenceCreate(odata_id=f"https://graph.microsoft.com/v1.0/directoryObjects/{created.id}")
        )
    assert odata(err)[0] == 404
    clock.advance(30)
    assert (await client.users.by_user_id(created.id).get()).id == created.id


async def test_lagging_user_is_missing_from_filtered_lists(client, sb, clock):
    sb.tenant.faults.inject("replication_lag", seconds=5)
    await client.users.post(new_user("lagging"))
    config = RequestConfiguration(
        query_parameters=UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            filter="userPrincipalName eq 'lagging@abc.com'"
        )
    )
    assert (await client.users.get(config)).value == []
    clock.advance(5)
    assert len((await client.users.get(config)).value) == 1


async def test_lagging_user_still_blocks_a_second_create(client, sb):
    # Writes go to the primary replica: the duplicate check sees the user that reads cannot.
    sb.tenant.faults.inject("replication_lag", seconds=60)
    await client.users.post(new_user("lagging"))
    with pytest.raises(ODataError) as err:
        await client.users.post(new_user("lagging"))
    assert (
        odata(err)[2] == "Another object with the same value for property userPrincipalName already exists."
    )


async def test_replication_lag_on_one_route_only(client, sb, clock):
    sb.tenant.faults.inject("replication_lag", route="POST /users/{id}/assignLicense", seconds=10)
    created = await client.users.post(new_user("partial"))
    assert (await client.users.by_user_id(created.id).get()).id == created.id
    with pytest.raises(ODataError):
        await client.users.by_user_id(created.id).assign_license.post(license_body())
    clock.advance(10)
    await client.users.by_user_id(created.id).assign_license.post(license_body())
    assert sb.tenant.seats("MICROSOFT_REMOTE_ASSIST") == (1, 25)


async def test_replication_lag_applies_to_the_next_user_only_by_default(client, sb):
    sb.tenant.faults.inject("replication_lag", seconds=60)
    first = await client.users.post(new_user("first"))
    second = await client.users.post(new_user("second"))
    assert (await client.users.by_user_id(second.id).get()).id == second.id
    assert not sb.tenant.is_replicated(first.id)


# ------------------------------------------------------------------------------------- write quota


def jwt_for(app_id: str) -> str:
    def part(obj: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part({'appid': app_id})}.sig"


async def test_write_quota_answers_429_with_retry_after_when_exhausted(client, sb, clock):
    sb.tenant.faults.write_quota.configure(limit=2, window_seconds=150)
    await client.users.post(new_user("q1"))
    await client.users.post(new_user("q2"))
    with pytest.raises(ODataError) as err:
        await client.users.post(new_user("q3"), no_retry())
    assert odata(err)[:2] == (429, "TooManyRequests")
    assert headers(err)["retry-after"] == "75"
    assert headers(err)["x-ms-throttle-information"] == "WriteLimitExceeded"
    assert users_named(sb, "q3@abc.com") == 0
    clock.advance(75)
    assert (await client.users.post(new_user("q3"), no_retry())).id


async def test_write_quota_does_not_limit_reads(client, sb):
    sb.tenant.faults.write_quota.configure(limit=1, window_seconds=150)
    await client.users.post(new_user("q1"))
    for _ in range(3):
        assert (await client.organization.get(no_retry())).value


async def test_write_quota_is_per_app(sb):
    sb.tenant.faults.write_quota.configure(limit=1, window_seconds=150)
    app_a = make_client(sb.base_url, token=jwt_for("app-a"))
    app_b = make_client(sb.base_url, token=jwt_for("app-b"))
    await app_a.users.post(new_user("a1"))
    await app_b.users.post(new_user("b1"))
    with pytest.raises(ODataError) as err:
        await app_a.users.post(new_user("a2"), no_retry())
    assert odata(err)[0] == 429
    assert {r.app_id for r in sb.tenant.requests} == {"app-a", "app-b"}


# ------------------------------------------------------------------------- auth, errors, recording


async def test_request_without_a_token_is_401(sb):
    adapter = GraphRequestAdapter(AnonymousAuthenticationProvider())
    adapter.base_url = sb.base_url
    with pytest.raises(ODataError) as err:
        await GraphServiceClient(request_adapter=adapter).organization.get()
    assert odata(err) == (401, "InvalidAuthenticationToken", "Access token is empty.")


async def test_error_json_has_inner_error_with_request_ids(client):
    config: RequestConfiguration[Any] = RequestConfiguration()
    config.headers.add("client-request-id", "7e57c11e-0000-4000-8000-000000000001")
    with pytest.raises(ODataError) as err:
        await client.users.by_user_id("ghost@abc.com").get(config)
    assert err.value.error is not None
    inner = err.value.error.inner_error
    assert inner is not None
    assert inner.client_request_id == "7e57c11e-0000-4000-8000-000000000001"
    assert inner.request_id == headers(err)["request-id"]
    assert inner.date is not None


async def test_every_answer_carries_a_request_id_header(client, sb):
    await client.organization.get()
    assert len(sb.tenant.requests[-1].request_id) == 36


async def test_recorded_bodies_never_contain_the_password(client, sb):
    await client.users.post(new_user("recorded"))
    await client.users.by_user_id("recorded@abc.com").patch(
        User(password_profile=PasswordProfile(password=STRONG_PASSWORD + "x"))
    )
    bodies = [r.body for r in sb.tenant.requests if r.body]
    assert all(b["passwordProfile"]["password"] == REDACTED for b in bodies)
    assert STRONG_PASSWORD not in repr(bodies)


async def test_reads_and_writes_are_counted(client, sb):
    await client.users.post(new_user("counted"))
    await client.users.by_user_id("counted@abc.com").get()
    await client.subscribed_skus.get()
    await client.users.by_user_id("counted@abc.com").assign_license.post(license_body())
    assert (sb.tenant.requests.reads, sb.tenant.requests.writes) == (2, 2)
    assert sb.tenant.requests.count("POST /users", status=201) == 1
