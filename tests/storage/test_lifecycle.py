"""Lifecycle repositories on SQLite and PostgreSQL: one pending request per account and action, decisions by
compare-and-set, the lifecycle step log, offboardings, and end dates moved only from the date seen."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest

from storage.accounts import AccountState, ServiceAccounts
from storage.database import Database
from storage.errors import ConcurrencyError
from storage.lifecycle import (
    AccountLifecycle,
    LifecycleRequests,
    LifecycleSteps,
    Offboardings,
    PendingRequestExists,
    format_lifecycle_id,
    parse_lifecycle_id,
)
from storage.requests import StepState
from tests.storage.conftest import FakeClock
from tests.storage.test_accounts import account

UPN = "sa-contoso1-bob.smith@abc.com"
ALICE = "a11ce000-0000-4000-8000-000000000001"
ADAM = "adaa0000-0000-4000-8000-000000000003"


@pytest.fixture
def requests(database: Database, clock: FakeClock) -> LifecycleRequests:
    return LifecycleRequests(database, clock=clock)


async def _pending(requests: LifecycleRequests, action: str = "extend") -> int:
    created = await requests.create(
        action, UPN, requested_by_aad_id=ALICE, requested_by_name="Alice", new_end_date=date(2030, 6, 1)
    )
    return created.id


def test_lifecycle_ids_read_and_parse_back() -> None:
    assert parse_lifecycle_id(format_lifecycle_id(12)) == 12


@pytest.mark.parametrize("text", ["VND-000012", "LC-", "LC-abc", "LC-0"])
def test_other_text_is_not_a_lifecycle_id(text: str) -> None:
    assert parse_lifecycle_id(text) is None


async def test_a_created_request_is_pending(requests: LifecycleRequests) -> None:
    stored = await requests.get(await _pending(requests))
    assert stored is not None
    assert (stored.status, stored.new_end_date, stored.upn) == ("pending", date(2030, 6, 1), UPN)


async def test_a_second_pending_request_for_the_same_account_and_action_is_refused(
    requests: LifecycleRequests,
) -> None:
    await _pending(requests)
    with pytest.raises(PendingRequestExists):
        await _pending(requests)


async def test_another_action_for_the_same_account_may_be_pending(requests: LifecycleRequests) -> None:
    await _pending(requests, "extend")
    assert await _pending(requests, "offboard") > 0


async def test_of_two_decisions_exactly_one_wins(requests: LifecycleRequests) -> None:
    stored = await requests.get(await _pending(requests))
    assert stored is not None
    results = await asyncio.gather(
        requests.decide(
            stored.id, stored.version, approved=True, by_aad_id=ADAM, by_name="Adam", comment=None
        ),
        requests.decide(
            stored.id, stored.version, approved=False, by_aad_id=ADAM, by_name="Adam", comment="no"
        ),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["ConcurrencyError", "StoredLifecycleRequest"]


async def test_a_decided_request_frees_the_account_for_a_new_one(requests: LifecycleRequests) -> None:
    stored = await requests.get(await _pending(requests))
    assert stored is not None
    await requests.decide(stored.id, stored.version, approved=False, by_aad_id=ADAM, by_name="A", comment="")
    assert await _pending(requests) != stored.id


async def test_a_decision_on_a_stale_version_is_refused(requests: LifecycleRequests) -> None:
    stored = await requests.get(await _pending(requests))
    assert stored is not None
    with pytest.raises(ConcurrencyError):
        await requests.decide(
            stored.id, stored.version + 1, approved=True, by_aad_id=ADAM, by_name="A", comment=None
        )


async def test_the_approval_card_location_is_kept(requests: LifecycleRequests) -> None:
    number = await _pending(requests)
    await requests.set_approval_card(number, "activity-1", {"conversation": {"id": "19:x"}})
    stored = await requests.get(number)
    assert stored is not None
    assert (stored.approval_activity_id, stored.approval_conversation) == (
        "activity-1",
        {"conversation": {"id": "19:x"}},
    )


async def test_the_step_log_keeps_the_last_state_per_step(database: Database, clock: FakeClock) -> None:
    steps = LifecycleSteps(database, clock=clock)
    await steps.mark("offboard:x@abc.com", "disable", StepState.RUNNING)
    await steps.mark(
        "offboard:x@abc.com", "disable", StepState.DONE, detail="blocked", graph_request_id="r-1"
    )
    recorded = await steps.steps("offboard:x@abc.com")
    assert (recorded["disable"].state, recorded["disable"].detail) == (StepState.DONE, "blocked")


async def test_an_offboarding_started_twice_keeps_the_first(database: Database, clock: FakeClock) -> None:
    offboardings = Offboardings(database, clock=clock)
    first = await offboardings.start(UPN, reason="expired", requested_by_aad_id=None, requested_by_name="bot")
    clock.advance(60)
    second = await offboardings.start(
        UPN, reason="manual", requested_by_aad_id=ADAM, requested_by_name="Adam"
    )
    assert second == first


async def test_deletion_is_due_only_after_delete_after(database: Database, clock: FakeClock) -> None:
    offboardings = Offboardings(database, clock=clock)
    await offboardings.start(UPN, reason="expired", requested_by_aad_id=None, requested_by_name="bot")
    await offboardings.mark_offboarded(UPN, delete_after=clock.now + timedelta(days=30))
    assert await offboardings.due_for_deletion(clock.now + timedelta(days=29)) == []
    assert await offboardings.due_for_deletion(clock.now + timedelta(days=30)) == [UPN]


async def test_a_deleted_account_is_no_longer_due(database: Database, clock: FakeClock) -> None:
    offboardings = Offboardings(database, clock=clock)
    await offboardings.start(UPN, reason="expired", requested_by_aad_id=None, requested_by_name="bot")
    await offboardings.mark_offboarded(UPN, delete_after=clock.now)
    await offboardings.mark_deleted(UPN)
    assert await offboardings.due_for_deletion(clock.now + timedelta(days=1)) == []


async def test_active_accounts_ending_by_a_day_are_listed(database: Database, clock: FakeClock) -> None:
    accounts = ServiceAccounts(database, clock=clock)
    await accounts.record(account(upn="a@abc.com", end_date=date(2030, 2, 1)))
    await accounts.record(account(upn="b@abc.com", end_date=date(2030, 3, 1)))
    await accounts.record(account(upn="c@abc.com", end_date=date(2030, 1, 15), state=AccountState.OFFBOARDED))
    listed = await AccountLifecycle(database, clock=clock).active_ending_by(date(2030, 2, 15))
    assert [a.upn for a in listed] == ["a@abc.com"]


async def test_the_end_date_moves_only_from_the_date_the_clicker_saw(
    database: Database, clock: FakeClock
) -> None:
    await ServiceAccounts(database, clock=clock).record(account())
    lifecycle = AccountLifecycle(database, clock=clock)
    moves = await asyncio.gather(
        lifecycle.move_end_date(UPN, expected=date(2030, 2, 1), new=date(2030, 3, 3)),
        lifecycle.move_end_date(UPN, expected=date(2030, 2, 1), new=date(2030, 5, 2)),
    )
    assert sorted(moves) == [False, True]


async def test_a_state_moves_only_from_the_states_given(database: Database, clock: FakeClock) -> None:
    await ServiceAccounts(database, clock=clock).record(account())
    lifecycle = AccountLifecycle(database, clock=clock)
    first = await lifecycle.move_state(UPN, from_states=(AccountState.ACTIVE,), to=AccountState.DISABLED)
    second = await lifecycle.move_state(UPN, from_states=(AccountState.ACTIVE,), to=AccountState.DISABLED)
    assert (first, second) == (True, False)
