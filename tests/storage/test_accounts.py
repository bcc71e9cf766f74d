"""ServiceAccounts: upsert by UPN (any case), listing by vendor, state changes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from storage.accounts import AccountState, ServiceAccount, ServiceAccounts
from storage.database import Database
from tests.storage.conftest import FakeClock

CREATED = datetime(2030, 1, 1, 9, 30, tzinfo=UTC)


def account(
    upn: str = "sa-contoso1-bob.smith@abc.com", vendor: str = "Contoso1", **changes: object
) -> ServiceAccount:
    base = ServiceAccount(
        upn=upn,
        user_id="9f0c0000-0000-4000-8000-000000000001",
        request_number=42,
        vendor=vendor,
        contractor_name="Bob Smith",
        contractor_email="bob@contoso1.com",
        sponsor_aad_id="a11ce000-0000-4000-8000-000000000001",
        sponsor_name="Alice Requester",
        license_part_numbers=("MICROSOFT_REMOTE_ASSIST", "SPE_E5"),
        segment="Vendor - Contoso",
        end_date=date(2030, 2, 1),
        state=AccountState.ACTIVE,
        created_at=CREATED,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def accounts(database: Database, clock: FakeClock) -> ServiceAccounts:
    return ServiceAccounts(database, clock=clock)


async def test_a_recorded_account_is_read_back(accounts: ServiceAccounts) -> None:
    await accounts.record(account())
    assert await accounts.get("sa-contoso1-bob.smith@abc.com") == account()


async def test_upns_compare_case_insensitively(accounts: ServiceAccounts) -> None:
    await accounts.record(account(upn="SA-Contoso1-Bob.Smith@ABC.com"))
    found = await accounts.get("sa-contoso1-bob.smith@abc.com")
    assert found is not None
    assert found.upn == "sa-contoso1-bob.smith@abc.com"


async def test_recording_again_updates_but_keeps_the_creation_time(accounts: ServiceAccounts) -> None:
    await accounts.record(account())
    later = datetime(2030, 1, 5, tzinfo=UTC)
    await accounts.record(account(end_date=date(2030, 3, 1), created_at=later, segment=None))
    found = await accounts.get("sa-contoso1-bob.smith@abc.com")
    assert found == account(end_date=date(2030, 3, 1), segment=None)


async def test_an_unknown_account_is_none(accounts: ServiceAccounts) -> None:
    assert await accounts.get("nobody@abc.com") is None


async def test_list_orders_by_vendor_then_upn(accounts: ServiceAccounts) -> None:
    await accounts.record(account(upn="sa-fabrikam-eve@abc.com", vendor="Fabrikam"))
    await accounts.record(account(upn="sa-contoso1-zed@abc.com"))
    await accounts.record(account(upn="sa-contoso1-ann@abc.com"))
    listed = [a.upn for a in await accounts.list()]
    assert listed == ["sa-contoso1-ann@abc.com", "sa-contoso1-zed@abc.com", "sa-fabrikam-eve@abc.com"]


async def test_list_filters_by_vendor_and_pages(accounts: ServiceAccounts) -> None:
    for name in ("ann", "bob", "cid"):
        await accounts.record(account(upn=f"sa-contoso1-{name}@abc.com"))
    await accounts.record(account(upn="sa-fabrikam-eve@abc.com", vendor="Fabrikam"))
    page = await accounts.list(vendor="Contoso1", limit=2, offset=1)
    assert [a.upn for a in page] == ["sa-contoso1-bob@abc.com", "sa-contoso1-cid@abc.com"]


async def test_license_order_is_kept(accounts: ServiceAccounts) -> None:
    await accounts.record(account(license_part_numbers=("SPE_E5", "MICROSOFT_REMOTE_ASSIST")))
    found = await accounts.get("sa-contoso1-bob.smith@abc.com")
    assert found is not None
    assert found.license_part_numbers == ("SPE_E5", "MICROSOFT_REMOTE_ASSIST")


async def test_get_by_request_finds_the_account_it_created(accounts: ServiceAccounts) -> None:
    await accounts.record(account(request_number=7))
    found = await accounts.get_by_request(7)
    assert found is not None
    assert found.upn == "sa-contoso1-bob.smith@abc.com"
    assert await accounts.get_by_request(8) is None


async def test_set_state_changes_only_that_account(accounts: ServiceAccounts) -> None:
    await accounts.record(account())
    await accounts.record(account(upn="sa-contoso1-ann@abc.com"))
    assert await accounts.set_state("SA-Contoso1-Bob.Smith@abc.com", AccountState.OFFBOARDED)
    states = {a.upn: a.state for a in await accounts.list()}
    assert states == {"sa-contoso1-ann@abc.com": "active", "sa-contoso1-bob.smith@abc.com": "offboarded"}


async def test_set_state_of_an_unknown_account_is_false(accounts: ServiceAccounts) -> None:
    assert not await accounts.set_state("nobody@abc.com", AccountState.DELETED)
