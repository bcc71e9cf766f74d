"""Every fault kind the sandbox injects, met by the gateway with the right result or error type.

Faults come from the sandbox tenant (``tenant.faults.inject``); every request it served is in
``tenant.requests``, which is how these tests prove what went over the wire (retries, replays).
"""

from __future__ import annotations

from uuid import UUID

import pytest

from provisioning.directory import LicenseAssignment
from provisioning.errors import AlreadyExists, NotFound, Throttled, Unavailable
from provisioning.graph import GraphGateway
from sandbox.seed import REMOTE_ASSIST_SKU_ID
from sandbox.testing import RunningSandbox
from settings import SANDBOX_VENDOR_ACCOUNTS_GROUP_ID
from tests.provisioning.conftest import new_user

ALICE_ID = "a11ce000-0000-4000-8000-000000000001"
GET_USER = "GET /users/{id}"
POST_USERS = "POST /users"
ASSIGN = "POST /users/{id}/assignLicense"
REMOTE_ASSIST = LicenseAssignment(UUID(REMOTE_ASSIST_SKU_ID))


# ------------------------------------------------------------------------- reads and idempotent writes


@pytest.mark.parametrize("kind", ["throttle", "unavailable", "gateway_timeout"])
async def test_a_passing_429_503_504_is_retried_by_the_sdk(
    gateway: GraphGateway, sandbox: RunningSandbox, kind: str
) -> None:
    sandbox.tenant.faults.inject(kind, route=GET_USER, times=1, retry_after=1)
    user = await gateway.get_user(ALICE_ID)
    assert user.id == ALICE_ID
    assert [r.status for r in sandbox.tenant.requests.for_route(GET_USER)] == [
        {"throttle": 429, "unavailable": 503, "gateway_timeout": 504}[kind],
        200,
    ]


async def test_a_429_storm_on_license_assignment_is_waited_out(
    gateway: GraphGateway, sandbox: RunningSandbox
) -> None:
    user = await gateway.create_user(new_user())
    # Three 429s in a row with Retry-After 1: the SDK waits each one out and the fourth try succeeds.
    sandbox.tenant.faults.inject("throttle", route=ASSIGN, times=3, retry_after=1)
    await gateway.assign_licenses(user.id, add=[REMOTE_ASSIST])
    assert sandbox.tenant.seats("MICROSOFT_REMOTE_ASSIST") == (1, 25)
    assert [r.status for r in sandbox.tenant.requests.for_route(ASSIGN)] == [429, 429, 429, 200]


async def test_endless_429_ends_in_throttled_with_retry_after(make_gateway, sandbox: RunningSandbox) -> None:
    gateway = make_gateway(max_retries=1)
    sandbox.tenant.faults.inject("throttle", route=GET_USER, times=None, retry_after=1)
    with pytest.raises(Throttled) as raised:
        await gateway.get_user(ALICE_ID)
    assert raised.value.retry_after == 1
    assert raised.value.status == 429
    assert sandbox.tenant.requests.count(GET_USER) == 2  # the first try and one SDK retry


@pytest.mark.parametrize(("kind", "status"), [("unavailable", 503), ("gateway_timeout", 504)])
async def test_endless_5xx_ends_in_unavailable(
    make_gateway, sandbox: RunningSandbox, kind: str, status: int
) -> None:
    gateway = make_gateway(max_retries=1)
    sandbox.tenant.faults.inject(kind, route=GET_USER, times=None, retry_after=1)
    with pytest.raises(Unavailable) as raised:
        await gateway.get_user(ALICE_ID)
    assert raised.value.status == status
    assert raised.value.request_id


async def test_a_dropped_connection_on_a_read_is_sent_again(
    gateway: GraphGateway, sandbox: RunningSandbox
) -> None:
    sandbox.tenant.faults.inject("drop", route=GET_USER, times=1)
    assert (await gateway.get_user(ALICE_ID)).id == ALICE_ID
    assert [r.status for r in sandbox.tenant.requests.for_route(GET_USER)] == [0, 200]


async def test_connections_that_keep_dropping_end_in_unavailable(
    gateway: GraphGateway, sandbox: RunningSandbox
) -> None:
    sandbox.tenant.faults.inject("drop", route=GET_USER, times=None)
    with pytest.raises(Unavailable) as raised:
        await gateway.get_user(ALICE_ID)
    assert raised.value.status is None
    assert sandbox.tenant.requests.count(GET_USER) == 3  # first try + transport_retries=2


async def test_a_dropped_license_assignment_that_went_through_is_not_doubled(
    gateway: GraphGateway, sandbox: RunningSandbox
) -> None:
    user = await gateway.create_user(new_user())
    sandbox.tenant.faults.inject("drop", route=ASSIGN, times=1, after_effect=True)
    await gateway.assign_licenses(user.id, add=[REMOTE_ASSIST])
    assert sandbox.tenant.requests.count(ASSIGN) == 2
    assert sandbox.tenant.seats("MICROSOFT_REMOTE_ASSIST") == (1, 25)


async def test_a_removal_replayed_after_a_lost_answer_is_done(
    gateway: GraphGateway, sandbox: RunningSandbox
) -> None:
    user = await gateway.create_user(new_user())
    await gateway.assign_licenses(user.id, add=[REMOTE_ASSIST])
    # The removal happens, its answer is a 504, the SDK sends it again and Graph says "not held".
    sandbox.tenant.faults.inject("gateway_timeout", route=ASSIGN, times=1, after_effect=True)
    await gateway.remove_licenses(user.id, [REMOTE_ASSIST.sku_id])
    assert sandbox.tenant.seats("MICROSOFT_REMOTE_ASSIST") == (0, 25)
    assert [r.status for r in sandbox.tenant.requests.for_route(ASSIGN)][-2:] == [504, 400]


async def test_a_group_add_replayed_after_a_lost_answer_is_done(
    gateway: GraphGateway, sandbox: RunningSandbox
) -> None:
    user = await gateway.create_user(new_user())
    sandbox.tenant.faults.inject(
        "unavailable", route="POST /groups/{id}/members/$ref", times=1, after_effect=True
    )
    await gateway.add_group_member(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID, user.id)
    assert sandbox.tenant.members[SANDBOX_VENDOR_ACCOUNTS_GROUP_ID].count(user.id) == 1


async def test_latency_beyond_the_timeout_once_is_sent_again(make_gateway, sandbox: RunningSandbox) -> None:
    gateway = make_gateway(read_timeout=0.3)
    sandbox.tenant.faults.inject("latency", route=GET_USER, times=1, seconds=1.0)
    assert (await gateway.get_user(ALICE_ID)).id == ALICE_ID


async def test_latency_beyond_the_timeout_every_time_is_unavailable(
    make_gateway, sandbox: RunningSandbox
) -> None:
    gateway = make_gateway(read_timeout=0.3, transport_retries=1)
    sandbox.tenant.faults.inject("latency", route=GET_USER, times=None, seconds=1.0)
    with pytest.raises(Unavailable, match="did not answer in time"):
        await gateway.get_user(ALICE_ID)


async def test_latency_within_the_timeout_is_just_slow(make_gateway, sandbox: RunningSandbox) -> None:
    gateway = make_gateway(read_timeout=2.0)
    sandbox.tenant.faults.inject("latency", route=GET_USER, times=1, seconds=0.2)
    assert (await gateway.get_user(ALICE_ID)).id == ALICE_ID
    assert sandbox.tenant.requests.count(GET_USER) == 1


async def test_the_write_quota_is_waited_out(gateway: GraphGateway, sandbox: RunningSandbox) -> None:
    # Two writes per two seconds: the third write is answered 429 by the quota until a token refills.
    sandbox.tenant.faults.write_quota.configure(limit=2, window_seconds=2.0)
    user = await gateway.create_user(new_user())
    await gateway.assign_licenses(user.id, add=[REMOTE_ASSIST])
    await gateway.add_group_member(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID, user.id)
    assert user.id in sandbox.tenant.members[SANDBOX_VENDOR_ACCOUNTS_GROUP_ID]
    assert sandbox.tenant.requests.count("POST /groups/{id}/members/$ref", status=429) >= 1


# ------------------------------------------------------------------------------------ replication lag


async def test_a_write_right_after_create_waits_for_replication(
    gateway: GraphGateway, sandbox: RunningSandbox
) -> None:
    sandbox.tenant.faults.inject("replication_lag", times=1, seconds=0.5)
    user = await gateway.create_user(new_user())
    await gateway.assign_licenses(user.id, add=[REMOTE_ASSIST])
    await gateway.add_group_member(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID, user.id)
    assert sandbox.tenant.seats("MICROSOFT_REMOTE_ASSIST") == (1, 25)
    assert sandbox.tenant.requests.for_route(ASSIGN)[0].status == 404
    assert user.id in sandbox.tenant.members[SANDBOX_VENDOR_ACCOUNTS_GROUP_ID]


async def test_a_read_right_after_create_reports_not_found(
    gateway: GraphGateway, sandbox: RunningSandbox
) -> None:
    # Reads do not wait: "not there (yet)" is the caller's answer to act on.
    sandbox.tenant.faults.inject("replication_lag", times=1, seconds=30)
    user = await gateway.create_user(new_user())
    with pytest.raises(NotFound):
        await gateway.get_user(user.id)


async def test_replication_longer_than_the_wait_ends_in_not_found(
    make_gateway, sandbox: RunningSandbox
) -> None:
    gateway = make_gateway(replication_wait=0.3)
    sandbox.tenant.faults.inject("replication_lag", times=1, seconds=30)
    user = await gateway.create_user(new_user())
    with pytest.raises(NotFound):
        await gateway.assign_licenses(user.id, add=[REMOTE_ASSIST])
    assert sandbox.tenant.seats("MICROSOFT_REMOTE_ASSIST") == (0, 25)


# ------------------------------------------------------------------------------- POST /users replays


def holders_of(sandbox: RunningSandbox, marker: str) -> list[str]:
    return [u["id"] for u in sandbox.tenant.users.values() if u.get("employeeId") == marker]


@pytest.mark.parametrize("kind", ["drop", "gateway_timeout", "unavailable", "throttle"])
async def test_a_create_whose_answer_is_lost_returns_the_account_and_is_not_replayed(
    gateway: GraphGateway, sandbox: RunningSandbox, kind: str
) -> None:
    spec = new_user()
    sandbox.tenant.faults.inject(kind, route=POST_USERS, times=1, after_effect=True, retry_after=1)
    created = await gateway.create_user(spec)
    assert holders_of(sandbox, spec.marker) == [created.id]
    assert created.employee_id == spec.marker
    # The SDK's retry handler did not replay the POST: the gateway looked the UPN up instead.
    assert sandbox.tenant.requests.count(POST_USERS) == 1


@pytest.mark.parametrize("kind", ["drop", "gateway_timeout", "unavailable", "throttle"])
async def test_a_create_that_failed_before_taking_effect_is_sent_again(
    gateway: GraphGateway, sandbox: RunningSandbox, kind: str
) -> None:
    spec = new_user()
    sandbox.tenant.faults.inject(kind, route=POST_USERS, times=1, retry_after=1)
    created = await gateway.create_user(spec)
    assert holders_of(sandbox, spec.marker) == [created.id]
    assert [r.status for r in sandbox.tenant.requests.for_route(POST_USERS)][-1] == 201


async def test_a_create_that_timed_out_but_went_through_later_is_one_account(
    make_gateway, sandbox: RunningSandbox
) -> None:
    # The first POST is answered after 1 s, past the 0.3 s timeout; the server still creates the user.
    gateway = make_gateway(read_timeout=0.3, create_backoff=1.5)
    spec = new_user()
    sandbox.tenant.faults.inject("latency", route=POST_USERS, times=1, seconds=1.0)
    created = await gateway.create_user(spec)
    assert holders_of(sandbox, spec.marker) == [created.id]


async def test_a_lost_answer_and_replication_lag_together_still_make_one_account(
    gateway: GraphGateway, sandbox: RunningSandbox
) -> None:
    # Created, answer lost, and the new account 404s for a while: the gateway's look-up misses it,
    # the re-sent create is refused as a duplicate, and the gateway waits until it can see its account.
    spec = new_user()
    sandbox.tenant.faults.inject("replication_lag", times=1, seconds=0.5)
    sandbox.tenant.faults.inject("gateway_timeout", route=POST_USERS, times=1, after_effect=True)
    created = await gateway.create_user(spec)
    assert holders_of(sandbox, spec.marker) == [created.id]
    assert [r.status for r in sandbox.tenant.requests.for_route(POST_USERS)] == [504, 400]


async def test_a_lost_answer_for_someone_elses_upn_is_already_exists(
    gateway: GraphGateway, sandbox: RunningSandbox
) -> None:
    taken = await gateway.create_user(new_user())
    sandbox.tenant.faults.inject("gateway_timeout", route=POST_USERS, times=1)
    with pytest.raises(AlreadyExists):
        await gateway.create_user(new_user(user_principal_name=taken.user_principal_name))
    assert sandbox.tenant.requests.count(POST_USERS) == 2


async def test_create_gives_up_after_its_attempts_with_unavailable(
    make_gateway, sandbox: RunningSandbox
) -> None:
    gateway = make_gateway(create_attempts=2)
    spec = new_user()
    sandbox.tenant.faults.inject("unavailable", route=POST_USERS, times=None, retry_after=1)
    with pytest.raises(Unavailable):
        await gateway.create_user(spec)
    assert sandbox.tenant.requests.count(POST_USERS) == 2
    assert holders_of(sandbox, spec.marker) == []


async def test_reachable_answers_false_within_its_bound_when_graph_is_slow(
    make_gateway, sandbox: RunningSandbox
) -> None:
    gateway = make_gateway(reachable_timeout=0.3)
    sandbox.tenant.faults.inject("latency", route="GET /subscribedSkus", times=1, seconds=2.0)
    assert await gateway.reachable() is False
