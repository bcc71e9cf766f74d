"""Error translation and wire shape, through the real SDK over an httpx transport seam.

The sandbox cannot answer 401/403 or an HTML 502, and cannot show what exactly went over the wire for
a $filter; a scripted transport can. Everything else about faults is tested against the sandbox
(test_graph_faults.py).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from uuid import UUID

import httpx
import pytest
from pydantic import SecretStr

from provisioning.directory import LicenseAssignment, NewUser, UserChanges
from provisioning.errors import (
    AlreadyExists,
    DependencyFailed,
    GraphError,
    InvalidRequest,
    NoFreeSeats,
    NotFound,
    PermissionDenied,
    Throttled,
    Unavailable,
)
from provisioning.graph import GraphGateway, GraphGatewayOptions, StaticTokenCredential

BASE = "http://127.0.0.1:9/v1.0"  # never connected: the transport answers
USER_ID = "4f1c2d3e-0000-4000-8000-000000000001"
SKU = "7a551360-26c4-4f61-84e6-ef715673e083"


class ScriptedTransport(httpx.AsyncBaseTransport):
    """Answers each request with the next scripted answer and records what it was sent."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def graph_error(status: int, code: str, message: str, **headers: str) -> httpx.Response:
    body = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {"date": "2026-01-01T00:00:00", "request-id": "rid-body", "client-request-id": "c"},
        }
    }
    return httpx.Response(status, json=body, headers={"request-id": "rid-header", **headers})


def user_json(**extra: object) -> dict[str, object]:
    return {"id": USER_ID, "userPrincipalName": "sa-a@abc.example", **extra}


OPTIONS = GraphGatewayOptions(
    max_retries=0,
    retry_delay=0,
    transport_retries=0,
    replication_wait=0,
    create_attempts=1,
    reachable_timeout=1,
)


@pytest.fixture
async def scripted() -> AsyncIterator[Callable[..., tuple[GraphGateway, ScriptedTransport]]]:
    opened: list[GraphGateway] = []

    def make(*answers: httpx.Response | Exception, options: GraphGatewayOptions = OPTIONS):
        transport = ScriptedTransport(*answers)
        gateway = GraphGateway(BASE, StaticTokenCredential(), options=options, transport=transport)
        opened.append(gateway)
        return gateway, transport

    yield make
    for gateway in opened:
        await gateway.close()


# ------------------------------------------------------------------------------------ status mapping


@pytest.mark.parametrize(
    ("status", "code", "message", "expected"),
    [
        (404, "Request_ResourceNotFound", "Resource 'x' does not exist.", NotFound),
        (401, "InvalidAuthenticationToken", "Access token is empty.", PermissionDenied),
        (
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
            PermissionDenied,
        ),
        (400, "Request_BadRequest", "Invalid value specified for property 'usageLocation'.", InvalidRequest),
        (409, "Request_MultipleObjectsWithSameKeyValue", "Conflict.", InvalidRequest),
        (500, "generalException", "General exception while processing.", Unavailable),
        (503, "serviceNotAvailable", "Service unavailable.", Unavailable),
        (504, "UnknownError", "Gateway timeout.", Unavailable),
    ],
)
async def test_graph_statuses_map_onto_the_tree(scripted, status, code, message, expected) -> None:
    gateway, _ = scripted(graph_error(status, code, message))
    with pytest.raises(expected) as raised:
        await gateway.get_user(USER_ID)
    assert type(raised.value) is expected
    assert (raised.value.status, raised.value.graph_code, raised.value.graph_message) == (
        status,
        code,
        message,
    )


async def test_the_graph_request_id_is_kept_for_audit(scripted) -> None:
    gateway, _ = scripted(graph_error(404, "Request_ResourceNotFound", "gone"))
    with pytest.raises(NotFound) as raised:
        await gateway.get_user(USER_ID)
    assert raised.value.request_id == "rid-body"
    assert "rid-body" in str(raised.value)


async def test_duplicate_value_message_means_already_exists(scripted) -> None:
    message = "Another object with the same value for property proxyAddresses already exists."
    gateway, _ = scripted(graph_error(400, "Request_BadRequest", message))
    with pytest.raises(AlreadyExists):
        await gateway.update_user(USER_ID, UserChanges(department="x"))


async def test_no_seats_is_its_own_invalid_request_naming_the_sku(scripted) -> None:
    message = f"Subscription with SKU {SKU} does not have any available licenses."
    gateway, _ = scripted(graph_error(400, "Request_BadRequest", message))
    with pytest.raises(NoFreeSeats) as raised:
        await gateway.assign_licenses(USER_ID, add=[LicenseAssignment(UUID(SKU))])
    assert isinstance(raised.value, InvalidRequest)
    assert raised.value.sku_id == UUID(SKU)
    assert raised.value.code == "graph.no_free_seats"


async def test_429_carries_retry_after_seconds(scripted) -> None:
    gateway, _ = scripted(graph_error(429, "TooManyRequests", "Too many requests.", **{"Retry-After": "7"}))
    with pytest.raises(Throttled) as raised:
        await gateway.list_skus()
    assert raised.value.retry_after == 7
    assert raised.value.retryable


async def test_429_retry_after_as_an_http_date_is_understood(scripted) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    gateway, _ = scripted(graph_error(429, "TooManyRequests", "Too many requests.", **{"Retry-After": when}))
    with pytest.raises(Throttled) as raised:
        await gateway.list_skus()
    assert raised.value.retry_after is not None
    assert 0 < raised.value.retry_after <= 90


async def test_a_gateway_html_page_is_unavailable_not_a_crash(scripted) -> None:
    page = httpx.Response(
        502, text="<html><body>Bad Gateway</body></html>", headers={"Content-Type": "text/html"}
    )
    gateway, _ = scripted(page)
    with pytest.raises(Unavailable) as raised:
        await gateway.verified_domains()
    assert raised.value.status == 502


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("dropped")],
    ids=["refused", "timeout", "dropped"],
)
async def test_transport_failures_are_unavailable_without_a_request_id(scripted, failure) -> None:
    gateway, _ = scripted(failure)
    with pytest.raises(Unavailable) as raised:
        await gateway.get_user(USER_ID)
    assert (raised.value.status, raised.value.request_id) == (None, None)


async def test_idempotent_calls_are_sent_again_after_a_dropped_connection(scripted) -> None:
    options = GraphGatewayOptions(max_retries=0, transport_retries=2, transport_retry_delay=0)
    gateway, transport = scripted(
        httpx.RemoteProtocolError("dropped"), httpx.Response(200, json=user_json()), options=options
    )
    user = await gateway.get_user(USER_ID)
    assert user.id == USER_ID
    assert len(transport.requests) == 2


def test_every_error_code_is_distinct_and_stable() -> None:
    classes = [
        GraphError,
        NotFound,
        AlreadyExists,
        PermissionDenied,
        InvalidRequest,
        NoFreeSeats,
        Throttled,
        Unavailable,
        DependencyFailed,
    ]
    codes = [cls.code for cls in classes]
    assert len(set(codes)) == len(codes)
    assert all(code.startswith("graph.") for code in codes)
    assert [cls for cls in classes if cls.retryable] == [Throttled, Unavailable, DependencyFailed]


# ---------------------------------------------------------------------------------------- wire shape


async def test_reads_select_exactly_the_properties_they_map(scripted) -> None:
    gateway, transport = scripted(httpx.Response(200, json=user_json()))
    await gateway.get_user(USER_ID)
    [request] = transport.requests
    assert request.url.path == f"/v1.0/users/{USER_ID}"
    selected = set(request.url.params["$select"].split(","))
    assert {"id", "userPrincipalName", "employeeId", "usageLocation", "assignedLicenses"} <= selected
    assert "passwordProfile" not in selected


async def test_marker_lookup_sends_one_quoted_literal(scripted) -> None:
    gateway, transport = scripted(httpx.Response(200, json={"value": []}))
    hostile = "x' or employeeId eq 'y"
    assert await gateway.find_user_by_marker(hostile) is None
    [request] = transport.requests
    assert request.url.params["$filter"] == "employeeId eq 'x'' or employeeId eq ''y'"
    # The literal is percent-encoded on the wire: no raw quote or space can end the query parameter.
    assert b"'" not in request.url.query
    assert b" " not in request.url.query


async def test_a_filter_value_with_control_characters_is_refused_before_sending(scripted) -> None:
    gateway, transport = scripted(httpx.Response(200, json={"value": []}))
    with pytest.raises(InvalidRequest):
        await gateway.find_user_by_marker("VND\x00-1")
    assert transport.requests == []


async def test_create_body_carries_every_property_and_the_marker(scripted) -> None:
    gateway, transport = scripted(httpx.Response(201, json=user_json()))
    spec = NewUser(
        user_principal_name="sa-a@abc.example",
        display_name="A (Contoso)",
        mail_nickname="sa-a",
        password=SecretStr("Xq7!vendor-Pass"),
        marker="VND-000042",
        usage_location="DE",
        company_name="Contoso",
        other_mails=("a@contoso.example",),
        extension_attributes=((3, "Vendors-A"),),
    )
    created = await gateway.create_user(spec)
    [request] = transport.requests
    body = json.loads(request.content)
    assert (request.method, request.url.path) == ("POST", "/v1.0/users")
    assert body["employeeId"] == "VND-000042"
    assert body["passwordProfile"] == {"password": "Xq7!vendor-Pass", "forceChangePasswordNextSignIn": True}
    assert body["onPremisesExtensionAttributes"]["extensionAttribute3"] == "Vendors-A"
    assert (body["usageLocation"], body["companyName"], body["employeeType"]) == ("DE", "Contoso", "Vendor")
    assert created.employee_id == "VND-000042"
    assert created.id == USER_ID


async def test_patch_sends_only_the_given_properties_and_null_to_clear(scripted) -> None:
    gateway, transport = scripted(httpx.Response(204))
    await gateway.update_user(
        USER_ID, UserChanges(department=None, company_name="Fabrikam", extension_attributes=((2, None),))
    )
    body = json.loads(transport.requests[0].content)
    body.pop("@odata.type", None)
    assert body == {
        "companyName": "Fabrikam",
        "department": None,
        "onPremisesExtensionAttributes": {"extensionAttribute2": None},
    }


async def test_reachable_is_false_instead_of_raising(scripted) -> None:
    gateway, _ = scripted(httpx.ConnectError("refused"))
    assert await gateway.reachable() is False


async def test_reachable_is_true_when_graph_answers(scripted) -> None:
    gateway, transport = scripted(httpx.Response(200, json={"value": [{"id": "t"}]}))
    assert await gateway.reachable() is True
    assert transport.requests[0].url.path == "/v1.0/subscribedSkus"


async def test_a_upn_starting_with_dollar_is_looked_up_by_filter(scripted) -> None:
    # Graph would read '/users/$x...' as a system query option.
    gateway, transport = scripted(
        httpx.Response(200, json={"value": [user_json(userPrincipalName="$ops@abc.example")]})
    )
    user = await gateway.get_user("$ops@abc.example")
    [request] = transport.requests
    assert request.url.path == "/v1.0/users"
    assert request.url.params["$filter"] == "userPrincipalName eq '$ops@abc.example'"
    assert user.user_principal_name == "$ops@abc.example"
