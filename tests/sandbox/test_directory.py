"""domains, organization, revokeSignInSessions and accountEnabled through msgraph-sdk."""

from __future__ import annotations

import pytest
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.user import User

from settings import SANDBOX_TENANT_ID
from tests.sandbox.conftest import odata


async def test_domains_list_the_verified_and_the_unverified_domain(client):
    page = await client.domains.get()
    got = {d.id: (d.is_verified, d.is_default, d.is_initial) for d in page.value}
    assert got == {
        "abc.onmicrosoft.com": (True, True, True),
        "abc.com": (True, False, False),
        "contoso-unverified.com": (False, False, False),
    }


async def test_get_one_domain(client):
    domain = await client.domains.by_domain_id("abc.com").get()
    assert domain.is_verified is True


async def test_unknown_domain_is_404(client):
    with pytest.raises(ODataError) as err:
        await client.domains.by_domain_id("nowhere.example").get()
    assert odata(err)[0] == 404


async def test_organization_is_abc_corp_with_its_verified_domains(client):
    page = await client.organization.get()
    [org] = page.value
    assert (org.id, org.display_name) == (SANDBOX_TENANT_ID, "ABC Corp")
    assert sorted(d.name for d in org.verified_domains) == ["abc.com", "abc.onmicrosoft.com"]


async def test_get_organization_by_tenant_id(client):
    org = await client.organization.by_organization_id(SANDBOX_TENANT_ID).get()
    assert org.display_name == "ABC Corp"


async def test_revoke_sign_in_sessions_answers_true_and_moves_the_valid_from_time(client, create, sb, clock):
    user = await create()
    before = sb.tenant.users[user.id]["signInSessionsValidFromDateTime"]
    clock.advance(3600)
    result = await client.users.by_user_id(user.id).revoke_sign_in_sessions.post()
    assert result.value is True
    assert sb.tenant.users[user.id]["signInSessionsValidFromDateTime"] > before


async def test_revoke_for_unknown_user_is_404(client):
    with pytest.raises(ODataError) as err:
        await client.users.by_user_id("ghost@abc.com").revoke_sign_in_sessions.post()
    assert odata(err)[0] == 404


async def test_disable_and_enable_an_account(client, create, sb):
    user = await create()
    await client.users.by_user_id(user.id).patch(User(account_enabled=False))
    assert sb.tenant.users[user.id]["accountEnabled"] is False
    await client.users.by_user_id(user.id).patch(User(account_enabled=True))
    assert sb.tenant.users[user.id]["accountEnabled"] is True
