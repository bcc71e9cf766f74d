"""The /_sandbox control endpoint: off unless enabled; when on, drives faults that msgraph-sdk then sees."""

from __future__ import annotations

import aiohttp
import pytest
from msgraph.generated.models.o_data_errors.o_data_error import ODataError

from sandbox.seed import seed_tenant
from sandbox.testing import running_sandbox
from tests.sandbox.conftest import make_client, new_user, no_retry, odata


async def test_control_endpoint_is_off_by_default():
    async with running_sandbox(seed_tenant(), control=False) as sb, aiohttp.ClientSession() as http:
        for method, path in [
            ("GET", "/_sandbox/faults"),
            ("POST", "/_sandbox/reset"),
            ("GET", "/_sandbox/requests"),
        ]:
            async with http.request(method, sb.origin + path, json={}) as resp:
                assert resp.status == 404


def test_create_app_defaults_to_control_off():
    import inspect

    from sandbox.server import create_app

    assert inspect.signature(create_app).parameters["control"].default is False


async def test_fault_injected_over_http_reaches_the_sdk(sb, client):
    async with aiohttp.ClientSession() as http:
        spec = {"kind": "unavailable", "route": "GET /organization", "times": 1, "retryAfter": 2}
        async with http.post(sb.origin + "/_sandbox/faults", json=spec) as resp:
            assert resp.status == 201
            assert (await resp.json())["route"] == "GET /organization"
    with pytest.raises(ODataError) as err:
        await client.organization.get(no_retry())
    assert odata(err)[0] == 503


async def test_bad_fault_spec_is_400(sb):
    async with (
        aiohttp.ClientSession() as http,
        http.post(sb.origin + "/_sandbox/faults", json={"kind": "meteor"}) as resp,
    ):
        assert resp.status == 400


async def test_requests_seats_reset_and_quota_over_http(sb):
    client = make_client(sb.base_url)
    await client.users.post(new_user("viahttp"))
    async with aiohttp.ClientSession() as http:
        async with http.get(sb.origin + "/_sandbox/requests") as resp:
            recorded = await resp.json()
        assert recorded[-1]["route"] == "POST /users"
        assert recorded[-1]["body"]["passwordProfile"]["password"] == "***"
        async with http.put(
            sb.origin + "/_sandbox/skus/MICROSOFT_REMOTE_ASSIST", json={"enabled": 3}
        ) as resp:
            assert resp.status == 204
        async with http.get(sb.origin + "/_sandbox/seats") as resp:
            assert (await resp.json())["MICROSOFT_REMOTE_ASSIST"] == {"consumed": 0, "enabled": 3}
        async with http.put(sb.origin + "/_sandbox/quota", json={"limit": 1, "windowSeconds": 60}) as resp:
            assert resp.status == 204
        async with http.post(sb.origin + "/_sandbox/reset") as resp:
            assert resp.status == 204
    assert not any(u["userPrincipalName"] == "viahttp@abc.com" for u in sb.tenant.users.values())
    assert sb.tenant.seats("MICROSOFT_REMOTE_ASSIST") == (0, 25)
    await client.users.post(new_user("one"))
    with pytest.raises(ODataError) as err:
        await client.users.post(new_user("two"), no_retry())
    assert odata(err)[0] == 429


async def test_latency_and_clear_over_http(sb):
    async with aiohttp.ClientSession() as http:
        async with http.put(
            sb.origin + "/_sandbox/latency", json={"everyCall": 0.01, "perWrite": 0.02}
        ) as resp:
            assert await resp.json() == {"everyCall": 0.01, "perWrite": 0.02}
        async with http.delete(sb.origin + "/_sandbox/faults") as resp:
            assert resp.status == 204
    assert sb.tenant.faults.every_call_latency == 0.0
