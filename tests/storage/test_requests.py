"""RequestStore and StepLog: database-made numbers, compare-and-set across engines, listings, UPN holds."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest

from onboarding import requests as domain
from onboarding.plan import ProvisioningPlan, end_of_day_utc
from onboarding.requests import Contractor, OnboardingRequest, Person, RequestStatus
from storage.database import Database
from storage.errors import ConcurrencyError
from storage.models import REQUEST_STATUSES, STEP_STATES
from storage.requests import (
    RequestNotFound,
    RequestStore,
    StepLog,
    StepState,
    StoredRequest,
    UpnAlreadyPlanned,
)
from tests.storage.conftest import FakeClock

ALICE = Person(aad_object_id="A11CE000-0000-4000-8000-000000000001", display_name="Alice Requester")
RITA = Person(aad_object_id="01da0000-0000-4000-8000-000000000002", display_name="Rita Requester")
ADAM = Person(aad_object_id="adaa0000-0000-4000-8000-000000000003", display_name="Adam Approver")
T0 = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)


def build(
    number: int, *, first: str = "Bob", requester: Person = ALICE, upn: str | None = None
) -> tuple[OnboardingRequest, ProvisioningPlan]:
    request = OnboardingRequest(
        number=number,
        contractor=Contractor(first_name=first, last_name="Smith", email=f"{first.lower()}@contoso1.com"),
        vendor_company="Contoso1",
        usage_location="US",
        license_profile="remote-assist-technician",
        end_date=date(2030, 2, 1),
        sponsor=requester,
        requester=requester,
        created_at=T0,
    )
    account = upn or f"sa-contoso1-{first.lower()}.smith@abc.com"
    plan = ProvisioningPlan(
        upn=account,
        mail_nickname=account.split("@")[0],
        display_name=f"{first} Smith (Contoso1) – Vendor",
        given_name=first,
        surname="Smith",
        usage_location="US",
        company_name="Contoso1",
        employee_id=request.request_id,
        other_mails=(request.contractor.email,),
        employee_leave_at=end_of_day_utc(request.end_date),
        license_part_numbers=("MICROSOFT_REMOTE_ASSIST",),
    )
    return request, plan


def maker(
    *, first: str = "Bob", requester: Person = ALICE, upn: str | None = None
) -> Callable[[int], tuple[OnboardingRequest, ProvisioningPlan]]:
    return lambda number: build(number, first=first, requester=requester, upn=upn)


@pytest.fixture
def store(database: Database, clock: FakeClock) -> RequestStore:
    return RequestStore(database, clock=clock)


@pytest.fixture
def steps(database: Database, clock: FakeClock) -> StepLog:
    return StepLog(database, clock=clock)


async def submitted(store: RequestStore, *, first: str = "Bob") -> StoredRequest:
    stored = await store.create(maker(first=first))
    return await store.replace(stored.request.number, stored.version, domain.submit(stored.request, at=T0))


# ------------------------------------------------------------------------------------------- create


async def test_create_stores_request_and_plan_at_version_one(store: RequestStore) -> None:
    created = await store.create(maker())
    assert created.version == 1
    assert created.request.request_id == "VND-000001"
    assert created.plan.employee_id == "VND-000001"
    assert await store.get(created.request.number) == created


async def test_create_numbers_requests_one_after_another(store: RequestStore) -> None:
    first = await store.create(maker(first="Bob"))
    second = await store.create(maker(first="Eve"))
    assert second.request.number == first.request.number + 1


async def test_concurrent_creates_on_two_engines_get_distinct_numbers(
    database: Database, second_database: Database
) -> None:
    stores = [RequestStore(database), RequestStore(second_database)]
    names = [f"Person{chr(ord('a') + n)}" for n in range(12)]
    created = await asyncio.gather(*(stores[n % 2].create(maker(first=name)) for n, name in enumerate(names)))
    numbers = sorted(stored.request.number for stored in created)
    assert numbers == list(range(1, 13))


async def test_a_failing_make_stores_nothing(store: RequestStore) -> None:
    def broken(number: int) -> tuple[OnboardingRequest, ProvisioningPlan]:
        raise RuntimeError("the wizard changed its mind")

    with pytest.raises(RuntimeError):
        await store.create(broken)
    assert await store.list_by_status(*RequestStatus) == []


async def test_make_must_use_the_allocated_number(store: RequestStore) -> None:
    with pytest.raises(ValueError, match="number"):
        await store.create(lambda number: build(number + 1))
    assert await store.list_by_status(*RequestStatus) == []


async def test_create_stamps_the_clock(store: RequestStore, clock: FakeClock) -> None:
    created = await store.create(maker())
    assert created.updated_at == clock.now


async def test_get_unknown_request_is_none(store: RequestStore) -> None:
    assert await store.get(999) is None


# ------------------------------------------------------------------------------------------ replace


async def test_replace_stores_the_new_state_and_bumps_the_version(store: RequestStore) -> None:
    created = await store.create(maker())
    replaced = await store.replace(1, 1, domain.submit(created.request, at=T0))
    assert replaced.version == 2
    assert replaced.request.status is RequestStatus.PENDING_APPROVAL
    assert await store.get(1) == replaced


async def test_replace_with_a_stale_version_raises_concurrency_error(store: RequestStore) -> None:
    created = await store.create(maker())
    await store.replace(1, 1, domain.submit(created.request, at=T0))
    with pytest.raises(ConcurrencyError):
        await store.replace(1, 1, domain.submit(created.request, at=T0))


async def test_replace_of_an_unknown_request_raises_concurrency_error(store: RequestStore) -> None:
    request, _ = build(5)
    with pytest.raises(ConcurrencyError):
        await store.replace(5, 1, request)


async def test_replace_refuses_a_request_with_another_number(store: RequestStore) -> None:
    await store.create(maker())
    request, _ = build(2)
    with pytest.raises(ValueError, match="number"):
        await store.replace(1, 1, request)


async def test_twenty_concurrent_replaces_with_one_version_let_exactly_one_win(store: RequestStore) -> None:
    stored = await submitted(store)
    approvers = [
        Person(aad_object_id=f"ad{n:06d}-0000-4000-8000-000000000000", display_name=f"Approver {n}")
        for n in range(20)
    ]

    async def approve(person: Person) -> str | None:
        changed = domain.approve(stored.request, person, T0)
        try:
            await store.replace(stored.request.number, stored.version, changed)
        except ConcurrencyError:
            return None
        return person.aad_object_id

    winners = [w for w in await asyncio.gather(*(approve(p) for p in approvers)) if w is not None]
    assert len(winners) == 1
    final = await store.get(stored.request.number)
    assert final is not None
    assert final.version == stored.version + 1
    assert final.request.decision is not None
    assert final.request.decision.by.aad_object_id == winners[0]


async def test_twenty_concurrent_replaces_on_two_engines_let_exactly_one_win(
    database: Database, second_database: Database
) -> None:
    stores = [RequestStore(database), RequestStore(second_database)]
    stored = await submitted(stores[0])

    async def approve(n: int) -> bool:
        changed = domain.approve(stored.request, ADAM, T0, comment=f"click {n}")
        try:
            await stores[n % 2].replace(stored.request.number, stored.version, changed)
        except ConcurrencyError:
            return False
        return True

    outcomes = await asyncio.gather(*(approve(n) for n in range(20)))
    assert outcomes.count(True) == 1


async def test_replace_can_change_the_plan(store: RequestStore) -> None:
    created = await store.create(maker())
    _, new_plan = build(1, upn="sa-contoso1-bob.smith2@abc.com")
    replaced = await store.replace(1, created.version, created.request, plan=new_plan)
    assert replaced.plan.upn == "sa-contoso1-bob.smith2@abc.com"
    assert await store.is_upn_reserved("sa-contoso1-bob.smith2@abc.com")
    assert not await store.is_upn_reserved(created.plan.upn)


# ------------------------------------------------------------------------------------ approval card


async def test_set_approval_card_is_remembered_without_a_new_version(store: RequestStore) -> None:
    created = await store.create(maker())
    conversation = {"conversation": {"id": "19:abc@thread.tacv2"}, "serviceUrl": "https://smba.example/"}
    await store.set_approval_card(1, "1700000000000", conversation)
    stored = await store.get(1)
    assert stored is not None
    assert (stored.approval_activity_id, stored.approval_conversation) == ("1700000000000", conversation)
    assert stored.version == created.version


async def test_set_approval_card_of_an_unknown_request_raises(store: RequestStore) -> None:
    with pytest.raises(RequestNotFound):
        await store.set_approval_card(7, "1", {})


# ------------------------------------------------------------------------------------------ listings


async def test_list_for_requester_gives_their_requests_newest_first(store: RequestStore) -> None:
    for name in ("Bob", "Eve", "Dan"):
        await store.create(maker(first=name))
    await store.create(maker(first="Ron", requester=RITA))
    mine = await store.list_for_requester(ALICE.aad_object_id)
    assert [s.request.contractor.first_name for s in mine] == ["Dan", "Eve", "Bob"]


async def test_list_for_requester_ignores_the_case_of_the_object_id(store: RequestStore) -> None:
    await store.create(maker())
    assert len(await store.list_for_requester(ALICE.aad_object_id.lower())) == 1


async def test_list_for_requester_pages(store: RequestStore) -> None:
    for name in ("Bob", "Eve", "Dan", "Ann"):
        await store.create(maker(first=name))
    page = await store.list_for_requester(ALICE.aad_object_id, limit=2, offset=1)
    assert [s.request.contractor.first_name for s in page] == ["Dan", "Eve"]


async def test_list_by_status_gives_matching_requests_oldest_first(store: RequestStore) -> None:
    await submitted(store, first="Bob")
    await store.create(maker(first="Eve"))
    await submitted(store, first="Dan")
    pending = await store.list_by_status(RequestStatus.PENDING_APPROVAL)
    assert [s.request.contractor.first_name for s in pending] == ["Bob", "Dan"]


async def test_list_by_status_without_statuses_is_empty(store: RequestStore) -> None:
    await store.create(maker())
    assert await store.list_by_status() == []


# ------------------------------------------------------------------------------------------ UPN hold


async def test_a_live_request_reserves_its_upn_case_insensitively(store: RequestStore) -> None:
    await store.create(maker())
    assert await store.is_upn_reserved("SA-Contoso1-Bob.Smith@ABC.com")
    assert not await store.is_upn_reserved("sa-contoso1-eve.smith@abc.com")


async def test_a_cancelled_request_gives_its_upn_back(store: RequestStore) -> None:
    created = await store.create(maker())
    await store.replace(1, created.version, domain.cancel(created.request, ALICE, T0))
    assert not await store.is_upn_reserved(created.plan.upn)


async def test_a_rejected_request_gives_its_upn_back(store: RequestStore) -> None:
    stored = await submitted(store)
    await store.replace(1, stored.version, domain.reject(stored.request, ADAM, T0, "not this vendor"))
    assert not await store.is_upn_reserved(stored.plan.upn)


async def test_a_second_live_request_for_the_same_upn_is_refused(store: RequestStore) -> None:
    await store.create(maker())
    with pytest.raises(UpnAlreadyPlanned):
        await store.create(maker(requester=RITA))
    assert len(await store.list_by_status(*RequestStatus)) == 1


async def test_the_upn_of_a_cancelled_request_can_be_planned_again(store: RequestStore) -> None:
    created = await store.create(maker())
    await store.replace(1, created.version, domain.cancel(created.request, ALICE, T0))
    again = await store.create(maker())
    assert again.plan.upn == created.plan.upn


# ------------------------------------------------------------------------------------------ step log


async def test_a_marked_step_is_read_back(store: RequestStore, steps: StepLog, clock: FakeClock) -> None:
    await store.create(maker())
    await steps.mark(1, "create", StepState.DONE, detail="account created", graph_request_id="req-1")
    record = (await steps.steps(1))["create"]
    assert (record.state, record.detail, record.graph_request_id) == (
        StepState.DONE,
        "account created",
        "req-1",
    )
    assert record.updated_at == clock.now


async def test_marking_again_replaces_the_step(steps: StepLog, clock: FakeClock) -> None:
    await steps.mark(1, "license", StepState.RUNNING, detail="assigning")
    clock.advance(5)
    await steps.mark(1, "license", StepState.FAILED)
    record = (await steps.steps(1))["license"]
    assert (record.state, record.detail, record.graph_request_id) == (StepState.FAILED, None, None)
    assert record.updated_at == clock.now


async def test_steps_belong_to_their_request(steps: StepLog) -> None:
    await steps.mark(1, "check", StepState.DONE)
    await steps.mark(2, "create", StepState.RUNNING)
    assert set(await steps.steps(1)) == {"check"}
    assert await steps.steps(3) == {}


async def test_an_over_long_request_id_is_refused(steps: StepLog) -> None:
    with pytest.raises(ValueError, match="request-id"):
        await steps.mark(1, "check", StepState.DONE, graph_request_id="x" * 65)


def test_the_stored_statuses_are_the_domain_statuses() -> None:
    # The CHECK constraint of migration 0002 lists these; a new domain status needs a migration.
    assert set(REQUEST_STATUSES) == {status.value for status in RequestStatus}


def test_the_stored_step_states_are_the_step_log_states() -> None:
    assert set(STEP_STATES) == {state.value for state in StepState}
