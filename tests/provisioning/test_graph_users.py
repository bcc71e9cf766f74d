"""User operations of the gateway, through the real msgraph-sdk against the sandbox tenant."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from provisioning.directory import DirectoryUser, UserChanges
from provisioning.errors import AlreadyExists, InvalidRequest, NotFound
from provisioning.graph import GraphGateway, StaticTokenCredential
from sandbox.testing import RunningSandbox, running_sandbox
from tests.provisioning.conftest import DOMAIN, FAST, PASSWORD, new_user

ALICE_ID = "a11ce000-0000-4000-8000-000000000001"
ALICE_UPN = "alice@abc.onmicrosoft.com"


async def test_create_user_returns_the_account_with_every_property(gateway: GraphGateway) -> None:
    spec = new_user(employee_leave_date_time=datetime(2026, 12, 31, 17, 0, tzinfo=UTC))
    created = await gateway.create_user(spec)
    read = await gateway.get_user(created.id)
    assert read == DirectoryUser(
        id=created.id,
        user_principal_name=spec.user_principal_name,
        display_name=spec.display_name,
        given_name="Bob",
        surname="Builder",
        account_enabled=True,
        employee_id=spec.marker,
        employee_type="Vendor",
        company_name="Contoso",
        department="Vendors",
        usage_location="DE",
        mail=None,
        other_mails=("bob@contoso.example",),
        extension_attributes=((1, "Contoso"),),
        employee_leave_date_time=datetime(2026, 12, 31, 17, 0, tzinfo=UTC),
        assigned_sku_ids=frozenset(),
        created_date_time=read.created_date_time,
    )
    assert created.id == read.id
    assert created.employee_id == read.employee_id


async def test_the_new_account_must_change_its_password_and_the_sandbox_keeps_none(
    gateway: GraphGateway, sandbox: RunningSandbox
) -> None:
    created = await gateway.create_user(new_user())
    stored = sandbox.tenant.users[created.id]["passwordProfile"]
    assert stored == {
        "password": None,
        "forceChangePasswordNextSignIn": True,
        "forceChangePasswordNextSignInWithMfa": False,
    }


async def test_get_user_by_upn_and_by_id_agree(gateway: GraphGateway) -> None:
    by_upn = await gateway.get_user(ALICE_UPN)
    by_id = await gateway.get_user(ALICE_ID)
    assert by_upn == by_id
    assert (by_upn.id, by_upn.display_name) == (ALICE_ID, "Alice Requester")


async def test_get_user_of_nobody_is_not_found(gateway: GraphGateway) -> None:
    with pytest.raises(NotFound) as raised:
        await gateway.get_user(f"nobody@{DOMAIN}")
    assert raised.value.graph_code == "Request_ResourceNotFound"
    assert raised.value.request_id


async def test_find_user_by_upn_answers_none_for_nobody(gateway: GraphGateway) -> None:
    assert await gateway.find_user_by_upn(f"nobody@{DOMAIN}") is None


async def test_find_user_by_upn_finds_an_apostrophe_upn(gateway: GraphGateway) -> None:
    created = await gateway.create_user(new_user(user_principal_name=f"sa-o'brien@{DOMAIN}"))
    found = await gateway.find_user_by_upn(f"sa-o'brien@{DOMAIN}")
    assert found is not None
    assert found.id == created.id


async def test_find_user_by_marker(gateway: GraphGateway) -> None:
    created = await gateway.create_user(new_user(marker="VND-000777"))
    found = await gateway.find_user_by_marker("VND-000777")
    assert found is not None
    assert found.id == created.id
    assert await gateway.find_user_by_marker("VND-000778") is None


@pytest.mark.parametrize(
    "hostile",
    [
        "x' or employeeId eq 'VND-000777",
        "VND-000777' or '1' eq '1",
        "') or startswith(displayName,'",
        "VND-000777'&$top=999",
    ],
)
async def test_an_injected_marker_matches_nobody(gateway: GraphGateway, hostile: str) -> None:
    await gateway.create_user(new_user(marker="VND-000777"))
    assert await gateway.find_user_by_marker(hostile) is None


async def test_a_marker_on_two_accounts_is_reported_not_guessed(gateway: GraphGateway) -> None:
    await gateway.create_user(new_user(marker="VND-000900"))
    await gateway.create_user(new_user(marker="VND-000900"))
    with pytest.raises(AlreadyExists, match="2 users"):
        await gateway.find_user_by_marker("VND-000900")


async def test_creating_the_same_spec_twice_returns_the_same_account(
    gateway: GraphGateway, sandbox: RunningSandbox
) -> None:
    spec = new_user()
    first = await gateway.create_user(spec)
    again = await gateway.create_user(spec)
    assert again.id == first.id
    holders = [u for u in sandbox.tenant.users.values() if u.get("employeeId") == spec.marker]
    assert len(holders) == 1


async def test_a_upn_taken_by_another_request_is_already_exists(gateway: GraphGateway) -> None:
    first = new_user()
    await gateway.create_user(first)
    with pytest.raises(AlreadyExists) as raised:
        await gateway.create_user(new_user(user_principal_name=first.user_principal_name))
    assert raised.value.code == "graph.already_exists"


async def test_a_upn_held_by_an_internal_user_is_already_exists(gateway: GraphGateway) -> None:
    with pytest.raises(AlreadyExists):
        await gateway.create_user(new_user(user_principal_name=ALICE_UPN))


@pytest.mark.parametrize(
    ("overrides", "graph_text"),
    [
        ({"password": SecretStr("password")}, "password complexity"),
        ({"user_principal_name": "sa-x@contoso-unverified.com"}, "verified domain"),
        ({"user_principal_name": "sa-bad.@abc.com"}, "userPrincipalName"),
    ],
    ids=["weak-password", "unverified-domain", "bad-upn"],
)
async def test_graph_refusals_of_a_create_are_invalid_requests_with_graphs_text(
    gateway: GraphGateway, overrides: dict[str, object], graph_text: str
) -> None:
    with pytest.raises(InvalidRequest) as raised:
        await gateway.create_user(new_user(**overrides))
    assert type(raised.value) is InvalidRequest
    assert raised.value.graph_code == "Request_BadRequest"
    assert graph_text in (raised.value.graph_message or "")


async def test_a_refused_create_never_shows_the_password(gateway: GraphGateway) -> None:
    with pytest.raises(InvalidRequest) as raised:
        await gateway.create_user(new_user(user_principal_name="sa-x@contoso-unverified.com"))
    shown = f"{raised.value} {raised.value!r} {raised.value.graph_message}"
    assert PASSWORD not in shown


async def test_update_user_sets_and_clears_properties(gateway: GraphGateway) -> None:
    created = await gateway.create_user(new_user())
    await gateway.update_user(
        created.id,
        UserChanges(
            department=None,
            company_name="Fabrikam",
            extension_attributes=((1, None), (5, "Segment-B")),
            other_mails=("bob@fabrikam.example",),
        ),
    )
    read = await gateway.get_user(created.id)
    assert (read.department, read.company_name) == (None, "Fabrikam")
    assert read.extension_attributes == ((5, "Segment-B"),)
    assert read.other_mails == ("bob@fabrikam.example",)


async def test_an_empty_update_sends_nothing(gateway: GraphGateway, sandbox: RunningSandbox) -> None:
    before = len(sandbox.tenant.requests)
    await gateway.update_user(ALICE_ID, UserChanges())
    assert len(sandbox.tenant.requests) == before


async def test_disable_and_enable_user(gateway: GraphGateway) -> None:
    created = await gateway.create_user(new_user())
    await gateway.disable_user(created.id)
    assert (await gateway.get_user(created.id)).account_enabled is False
    await gateway.enable_user(created.id)
    assert (await gateway.get_user(created.id)).account_enabled is True


async def test_revoke_sessions_moves_the_sessions_valid_from_time(
    gateway: GraphGateway, sandbox: RunningSandbox
) -> None:
    before = sandbox.tenant.users[ALICE_ID]["signInSessionsValidFromDateTime"]
    await gateway.revoke_sessions(ALICE_ID)
    assert sandbox.tenant.users[ALICE_ID]["signInSessionsValidFromDateTime"] != before
    assert sandbox.tenant.requests.count("POST /users/{id}/revokeSignInSessions", status=200) == 1


async def test_delete_user_and_deleting_again_both_succeed(
    gateway: GraphGateway, sandbox: RunningSandbox
) -> None:
    created = await gateway.create_user(new_user())
    await gateway.delete_user(created.id)
    await gateway.delete_user(created.id)
    assert created.id not in sandbox.tenant.users
    assert await gateway.find_user_by_upn(created.user_principal_name) is None


async def test_verified_domains_leave_out_unverified_ones(gateway: GraphGateway) -> None:
    domains = {d.name: d for d in await gateway.verified_domains()}
    assert set(domains) == {"abc.onmicrosoft.com", "abc.com"}
    assert domains["abc.onmicrosoft.com"].is_default
    assert domains["abc.onmicrosoft.com"].is_initial


async def test_warm_up_reaches_the_sandbox(gateway: GraphGateway, sandbox: RunningSandbox) -> None:
    assert await gateway.warm_up() is True
    assert sandbox.tenant.requests.count("GET /subscribedSkus", status=200) == 1


async def test_reachable_is_false_once_the_sandbox_is_gone() -> None:
    async with running_sandbox() as short_lived:
        gateway = GraphGateway(short_lived.base_url, StaticTokenCredential(), options=FAST)
        assert await gateway.reachable() is True
    try:
        assert await gateway.reachable() is False
    finally:
        await gateway.close()


async def test_nothing_secret_reaches_the_logs(
    gateway: GraphGateway, sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox.tenant.faults.inject("gateway_timeout", route="POST /users", times=1, after_effect=True)
    await gateway.create_user(new_user())
    with pytest.raises(InvalidRequest):
        await gateway.create_user(new_user(user_principal_name="sa-x@contoso-unverified.com"))
    logged = "\n".join(f"{record.getMessage()} {vars(record)}" for record in caplog.records)
    assert "graph call failed" in logged  # the failures were logged ...
    assert PASSWORD not in logged  # ... without the password
    assert "sandbox-token" not in logged  # ... or the bearer token


async def test_every_read_selects_its_properties(gateway: GraphGateway, sandbox: RunningSandbox) -> None:
    created = await gateway.create_user(new_user())
    await gateway.get_user(created.id)
    await gateway.find_user_by_upn(created.user_principal_name)
    await gateway.find_user_by_marker(created.employee_id or "")
    await gateway.list_skus()
    await gateway.verified_domains()
    await gateway.reachable()
    reads = [r for r in sandbox.tenant.requests if r.method == "GET"]
    assert len(reads) == 6
    assert all("$select" in r.query for r in reads), [r.path for r in reads if "$select" not in r.query]
