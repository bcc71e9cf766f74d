"""WizardService against the sandbox tenant through the real Graph gateway, on a real SQLite database.

Each test gets a freshly seeded tenant (25 Remote Assist seats, 10 Microsoft 365 E5, 5 Office 365 E5,
10 E5 Compliance; Alice and Rita requesters, Adam and Paula approvers), the example segment catalog,
and the default onboarding configuration over ``abc.com``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from bot.seats import SeatSnapshot
from bot.wizard_service import WizardService
from cards.actions import InputId, WizardStep
from dialogs.wizard_state import Requester, Sponsor, SubmitRefused, Submitted, WizardState, WizardUnavailable
from onboarding.audit import AuditAction
from onboarding.requests import RequestStatus
from onboarding.segments import SegmentCatalog, load_catalog, parse_catalog
from provisioning.directory import DirectoryUser
from provisioning.graph import GraphGateway
from sandbox.seed import SEGMENT_GROUP_IDS
from settings import SANDBOX_VENDOR_ACCOUNTS_GROUP_ID
from storage import OnceMarks
from tests.dialogs.world import EXAMPLE_CATALOG, IB_SKUS, NOW, World, open_world
from tests.provisioning.conftest import new_user

ALICE = Requester(aad_object_id="a11ce000-0000-4000-8000-000000000001", name="Alice Requester")
ALICE_SPONSOR = Sponsor(
    aad_object_id=ALICE.aad_object_id, name="Alice Requester", upn="alice@abc.onmicrosoft.com"
)
ADAM_ID = "adaa0000-0000-4000-8000-000000000003"
RITA_ID = "01da0000-0000-4000-8000-000000000002"
CONTRACTOR = {
    InputId.VENDOR_COMPANY: "Contoso",
    InputId.FIRST_NAME: "Bob",
    InputId.LAST_NAME: "Builder",
    InputId.CONTRACTOR_EMAIL: "bob@contoso.example",
    InputId.USAGE_LOCATION: "DE",
}
ACCESS = {
    InputId.LICENSE_PROFILE: "remote-assist-technician",
    InputId.END_DATE: "2030-02-09",
    InputId.SPONSOR: "alice@abc.onmicrosoft.com",
}
NO_BARRIER = {InputId.REACH_EVERYONE: "yes", InputId.SEGMENT: ""}
CONTOSO_SEGMENT = {InputId.REACH_EVERYONE: "no", InputId.SEGMENT: "Vendor - Contoso"}


@pytest.fixture
async def world(any_migrated_database_url: str) -> AsyncIterator[World]:
    async with open_world(any_migrated_database_url) as opened:
        yield opened


@pytest.fixture
def service(world: World) -> WizardService:
    return world.service()


def state(*steps: dict[InputId, str], sponsor: Sponsor | None = ALICE_SPONSOR, **changes: Any) -> WizardState:
    """A wizard whose inputs are the merged ``steps``."""
    merged: dict[InputId, str] = {}
    for values in steps:
        merged.update(values)
    return WizardState.start(ALICE).with_inputs(merged).model_copy(update={"sponsor": sponsor, **changes})


def fields(errors: tuple[Any, ...]) -> list[InputId | None]:
    return [error.field for error in errors]


# ------------------------------------------------------------------------------------------- choices


async def test_access_options_show_the_live_free_seats_of_each_profile(
    world: World, service: WizardService
) -> None:
    world.sandbox.tenant.set_prepaid_units("MICROSOFT_REMOTE_ASSIST", 4)

    options = await service.access_options()

    (profile,) = options.profiles
    assert profile.value == "remote-assist-technician"
    assert [(s.part_number, s.free, s.total) for s in profile.seats] == [("MICROSOFT_REMOTE_ASSIST", 4, 4)]


async def test_access_options_offer_the_configured_end_date_window(service: WizardService) -> None:
    options = await service.access_options()

    assert (options.min_end_date, options.default_end_date, options.max_end_date) == (
        date(2030, 1, 10),
        date(2030, 2, 9),
        date(2030, 4, 10),
    )


async def test_the_default_sponsor_is_the_requesters_sign_in_address(service: WizardService) -> None:
    assert await service.default_sponsor(ALICE) == "alice@abc.onmicrosoft.com"


class RecordingDirectory:
    """The real gateway, recording each ``get_user``; ``fail_next`` makes the next one time out."""

    def __init__(self, gateway: GraphGateway) -> None:
        self.gateway = gateway
        self.get_user_calls: list[str] = []
        self.fail_next = False

    async def find_user_by_upn(self, user_principal_name: str) -> DirectoryUser | None:
        return await self.gateway.find_user_by_upn(user_principal_name)

    async def get_user(self, id_or_upn: str) -> DirectoryUser:
        self.get_user_calls.append(id_or_upn)
        if self.fail_next:
            self.fail_next = False
            raise TimeoutError
        return await self.gateway.get_user(id_or_upn)


class MovableClock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


async def test_the_default_sponsor_is_looked_up_once_per_requester_within_the_ttl(world: World) -> None:
    directory = RecordingDirectory(world.gateway)
    service = world.service(directory=directory, requester_upn_ttl=timedelta(minutes=10))

    first = await service.default_sponsor(ALICE)
    second = await service.default_sponsor(ALICE)

    assert (first, second) == ("alice@abc.onmicrosoft.com", "alice@abc.onmicrosoft.com")
    assert directory.get_user_calls == [ALICE.aad_object_id]


async def test_the_default_sponsor_is_looked_up_again_after_the_ttl(world: World) -> None:
    directory, clock = RecordingDirectory(world.gateway), MovableClock()
    service = world.service(directory=directory, clock=clock, requester_upn_ttl=timedelta(minutes=10))
    await service.default_sponsor(ALICE)

    clock.now += timedelta(minutes=10)
    await service.default_sponsor(ALICE)

    assert directory.get_user_calls == [ALICE.aad_object_id, ALICE.aad_object_id]


async def test_a_failed_requester_look_up_is_not_remembered(world: World) -> None:
    directory = RecordingDirectory(world.gateway)
    service = world.service(directory=directory)
    directory.fail_next = True

    failed = await service.default_sponsor(ALICE)
    retried = await service.default_sponsor(ALICE)

    assert (failed, retried) == ("", "alice@abc.onmicrosoft.com")
    assert len(directory.get_user_calls) == 2


async def test_each_requester_gets_their_own_default_sponsor(world: World) -> None:
    directory = RecordingDirectory(world.gateway)
    service = world.service(directory=directory)
    rita = Requester(aad_object_id=RITA_ID, name="Rita Requester")

    await service.default_sponsor(ALICE)
    rita_sponsor = await service.default_sponsor(rita)

    assert rita_sponsor == "rita@abc.onmicrosoft.com"
    assert directory.get_user_calls == [ALICE.aad_object_id, RITA_ID]


def test_countries_are_iso_codes_with_names(service: WizardService) -> None:
    countries = dict((option.value, option.title) for option in service.countries())

    assert countries["DE"] == "Germany"
    assert len(countries) > 240


# ------------------------------------------------------------------------------------------- checks


async def test_the_contractor_step_reports_every_error_at_once(service: WizardService) -> None:
    bad = {
        InputId.VENDOR_COMPANY: "<b>Contoso</b>",
        InputId.FIRST_NAME: "",
        InputId.LAST_NAME: "Builder",
        InputId.CONTRACTOR_EMAIL: "bob-at-contoso",
        InputId.USAGE_LOCATION: "ZZ",
    }

    check = await service.check_step(WizardStep.CONTRACTOR, state(bad))

    assert fields(check.errors) == [
        InputId.VENDOR_COMPANY,
        InputId.FIRST_NAME,
        InputId.CONTRACTOR_EMAIL,
        InputId.USAGE_LOCATION,
    ]


async def test_the_contractor_step_keeps_cleaned_values(service: WizardService) -> None:
    typed = {**CONTRACTOR, InputId.VENDOR_COMPANY: "  Contoso   Ltd ", InputId.USAGE_LOCATION: "de"}

    check = await service.check_step(WizardStep.CONTRACTOR, state(typed))

    assert check.ok
    assert (check.values[InputId.VENDOR_COMPANY], check.values[InputId.USAGE_LOCATION]) == (
        "Contoso Ltd",
        "DE",
    )


async def test_a_name_that_cannot_make_an_account_name_is_refused_on_its_field(
    service: WizardService,
) -> None:
    check = await service.check_step(WizardStep.CONTRACTOR, state({**CONTRACTOR, InputId.LAST_NAME: "々"}))

    assert fields(check.errors) == [InputId.LAST_NAME]
    assert "no letters or digits that can be used in an account name" in check.errors[0].message


async def test_the_access_step_resolves_the_sponsor_in_the_directory(service: WizardService) -> None:
    typed = {**ACCESS, InputId.SPONSOR: "ADAM@abc.onmicrosoft.com"}

    check = await service.check_step(WizardStep.ACCESS, state(CONTRACTOR, typed, sponsor=None))

    assert check.sponsor == Sponsor(
        aad_object_id=ADAM_ID, name="Adam Approver", upn="adam@abc.onmicrosoft.com"
    )
    assert check.values[InputId.SPONSOR] == "adam@abc.onmicrosoft.com"


async def test_an_unknown_sponsor_and_a_far_end_date_are_reported_together(service: WizardService) -> None:
    typed = {**ACCESS, InputId.END_DATE: "2031-01-01", InputId.SPONSOR: "nobody@abc.com"}

    check = await service.check_step(WizardStep.ACCESS, state(CONTRACTOR, typed, sponsor=None))

    assert fields(check.errors) == [InputId.END_DATE, InputId.SPONSOR]
    assert "No one in the directory signs in as nobody@abc.com" in check.errors[1].message


async def test_a_vendor_service_account_cannot_sponsor(world: World, service: WizardService) -> None:
    vendor = await world.gateway.create_user(new_user())
    typed = {**ACCESS, InputId.SPONSOR: vendor.user_principal_name}

    check = await service.check_step(WizardStep.ACCESS, state(CONTRACTOR, typed, sponsor=None))

    assert fields(check.errors) == [InputId.SPONSOR]
    assert "vendor service account" in check.errors[0].message


async def test_answering_yes_clears_the_segment(service: WizardService) -> None:
    check = await service.check_step(
        WizardStep.BARRIERS, state({InputId.REACH_EVERYONE: "yes", InputId.SEGMENT: "Vendor - Contoso"})
    )

    assert dict(check.values) == {InputId.REACH_EVERYONE: "yes", InputId.SEGMENT: ""}


async def test_answering_no_needs_a_vendor_segment(service: WizardService) -> None:
    missing = await service.check_step(WizardStep.BARRIERS, state({InputId.REACH_EVERYONE: "no"}))
    internal = await service.check_step(
        WizardStep.BARRIERS, state({InputId.REACH_EVERYONE: "no", InputId.SEGMENT: "Finance"})
    )

    assert fields(missing.errors) == [InputId.SEGMENT]
    assert fields(internal.errors) == [InputId.SEGMENT]


async def test_the_barriers_question_must_be_answered(service: WizardService) -> None:
    check = await service.check_step(WizardStep.BARRIERS, state({InputId.REACH_EVERYONE: ""}))

    assert fields(check.errors) == [InputId.REACH_EVERYONE]


# ------------------------------------------------------------------------------------------- barriers


async def test_a_segment_adds_the_first_preferred_ib_license_with_a_free_seat(
    world: World, service: WizardService
) -> None:
    first = await service.barriers_options(state(CONTRACTOR, ACCESS))
    world.sandbox.tenant.set_prepaid_units("SPE_E5", 0)
    second = await service.barriers_options(state(CONTRACTOR, ACCESS))

    assert first.ib_license is not None
    assert (first.ib_license.part_number, first.ib_license.free) == ("SPE_E5", 10)
    assert second.ib_license is not None
    assert second.ib_license.part_number == "ENTERPRISEPREMIUM"
    assert [segment.value for segment in first.segments] == [
        "Vendor - Contoso",
        "Vendor - Fabrikam",
        "O'Brien Field Services",
    ]


async def test_with_no_ib_seat_free_the_barriers_step_says_so_and_refuses_a_segment(
    world: World, service: WizardService
) -> None:
    for part in IB_SKUS:
        world.sandbox.tenant.set_prepaid_units(part, 0)

    options = await service.barriers_options(state(CONTRACTOR, ACCESS))
    check = await service.check_step(WizardStep.BARRIERS, state(CONTRACTOR, ACCESS, CONTOSO_SEGMENT))

    assert options.segments == ()
    assert options.unavailable_reason is not None
    assert "no license that includes information barriers has a free seat" in options.unavailable_reason
    assert fields(check.errors) == [InputId.SEGMENT]


async def test_an_invalid_catalog_makes_segments_unavailable(world: World) -> None:
    broken = parse_catalog(
        'version = 1\n[[segments]]\nname = "V"\nkind = "vendor"\nattribute = "Department"\nvalue = "V"\n'
        '[[policies]]\nsegment = "V"\nblocks = ["Nowhere"]\n'
    )
    service = world.service(catalog=broken)

    options = await service.barriers_options(state(CONTRACTOR, ACCESS))

    assert options.segments == ()
    assert options.unavailable_reason is not None
    assert "onboarding into a segment is paused" in options.unavailable_reason


async def test_without_a_catalog_segments_are_unavailable(world: World) -> None:
    options = await world.service(catalog=None).barriers_options(state(CONTRACTOR, ACCESS))

    assert options.unavailable_reason == "no information-barrier segment catalog is configured"


# ------------------------------------------------------------------------------------------- review


async def test_the_review_shows_the_exact_plan_with_a_segment(service: WizardService) -> None:
    plan = await service.review(state(CONTRACTOR, ACCESS, CONTOSO_SEGMENT))

    assert plan.upn == "sa-contoso-bob.builder@abc.com"
    assert plan.display_name == "Bob Builder (Contoso) – Vendor"
    assert plan.licenses == ("Dynamics 365 Remote Assist", "Microsoft 365 E5")
    assert plan.groups == ("Vendor service accounts",)
    assert (plan.segment, plan.segment_placement) == (
        "Vendor - Contoso",
        "extensionAttribute1 = Vendor-Contoso",
    )
    assert ("Extension attribute 1", "Vendor-Contoso") in [(a.label, a.value) for a in plan.attributes]
    assert ("Usage location", "DE (Germany)") in [(a.label, a.value) for a in plan.attributes]
    assert plan.end_date == date(2030, 2, 9)
    assert plan.blockers == ()


async def test_the_review_names_the_segment_group_of_a_member_of_segment(service: WizardService) -> None:
    plan = await service.review(
        state(CONTRACTOR, ACCESS, {InputId.REACH_EVERYONE: "no", InputId.SEGMENT: "Vendor - Fabrikam"})
    )

    assert plan.groups == ("Vendor service accounts", "IB Vendor - Fabrikam")
    assert plan.segment_placement == "member of IB Vendor - Fabrikam"


async def test_the_review_without_a_barrier_adds_no_ib_license(service: WizardService) -> None:
    plan = await service.review(state(CONTRACTOR, ACCESS, NO_BARRIER))

    assert plan.licenses == ("Dynamics 365 Remote Assist",)
    assert (plan.segment, plan.segment_placement) == (None, None)


async def test_a_name_taken_in_the_directory_gets_a_suffix(world: World, service: WizardService) -> None:
    await world.gateway.create_user(new_user(user_principal_name="sa-contoso-bob.builder@abc.com"))

    plan = await service.review(state(CONTRACTOR, ACCESS, NO_BARRIER))

    assert plan.upn == "sa-contoso-bob.builder2@abc.com"


async def test_a_name_planned_by_an_open_request_gets_a_suffix(service: WizardService) -> None:
    await service.submit(state(CONTRACTOR, ACCESS, NO_BARRIER))

    plan = await service.review(state(CONTRACTOR, ACCESS, NO_BARRIER))

    assert plan.upn == "sa-contoso-bob.builder2@abc.com"


async def test_no_free_seat_blocks_the_review(world: World, service: WizardService) -> None:
    world.sandbox.tenant.set_prepaid_units("MICROSOFT_REMOTE_ASSIST", 0)

    plan = await service.review(state(CONTRACTOR, ACCESS, NO_BARRIER))

    assert len(plan.blockers) == 1
    assert "no free seats of Dynamics 365 Remote Assist (0 of 0 used)" in plan.blockers[0]


async def test_a_directory_outage_makes_the_review_unavailable(world: World, service: WizardService) -> None:
    world.sandbox.tenant.faults.inject("drop", route="GET /users/{id}", times=None)

    with pytest.raises(WizardUnavailable):
        await service.review(state(CONTRACTOR, ACCESS, NO_BARRIER))


# ------------------------------------------------------------------------------------------- submit


async def test_submit_stores_the_request_pending_approval_with_its_plan(
    world: World, service: WizardService
) -> None:
    outcome = await service.submit(
        state(CONTRACTOR, ACCESS, CONTOSO_SEGMENT, reviewed_upn="sa-contoso-bob.builder@abc.com")
    )

    assert outcome == Submitted(request_id="VND-000001", approvals_channel="Vendor approvals")
    stored = await world.requests.get(1)
    assert stored is not None
    request, plan = stored.request, stored.plan
    assert request.status is RequestStatus.PENDING_APPROVAL
    assert (request.contractor.first_name, request.vendor_company, request.usage_location) == (
        "Bob",
        "Contoso",
        "DE",
    )
    assert (request.requester.aad_object_id, request.sponsor.aad_object_id) == (ALICE.aad_object_id,) * 2
    assert (request.segment, request.end_date) == ("Vendor - Contoso", date(2030, 2, 9))
    assert plan.upn == "sa-contoso-bob.builder@abc.com"
    assert plan.employee_id == "VND-000001"
    assert plan.license_part_numbers == ("MICROSOFT_REMOTE_ASSIST", "SPE_E5")
    assert plan.attributes == {"onPremisesExtensionAttributes.extensionAttribute1": "Vendor-Contoso"}
    assert plan.group_ids == (SANDBOX_VENDOR_ACCOUNTS_GROUP_ID,)
    assert world.poster.numbers == [1]


async def test_submit_audits_creation_and_submission(world: World, service: WizardService) -> None:
    await service.submit(state(CONTRACTOR, ACCESS, NO_BARRIER))

    events = await world.audit.for_request("VND-000001")

    assert [event.action for event in events] == [AuditAction.REQUEST_CREATED, AuditAction.REQUEST_SUBMITTED]
    assert {event.actor_aad_id for event in events} == {ALICE.aad_object_id}
    assert events[0].detail["upn"] == "sa-contoso-bob.builder@abc.com"


async def test_a_member_of_segment_plans_its_group(world: World, service: WizardService) -> None:
    await service.submit(
        state(CONTRACTOR, ACCESS, {InputId.REACH_EVERYONE: "no", InputId.SEGMENT: "Vendor - Fabrikam"})
    )

    stored = await world.requests.get(1)

    assert stored is not None
    assert stored.plan.group_ids == (
        SANDBOX_VENDOR_ACCOUNTS_GROUP_ID,
        SEGMENT_GROUP_IDS["IB Vendor - Fabrikam"],
    )


async def test_without_an_approvals_channel_the_request_waits(world: World) -> None:
    world.poster.channel = None

    outcome = await world.service().submit(state(CONTRACTOR, ACCESS, NO_BARRIER))

    assert outcome == Submitted(request_id="VND-000001", approvals_channel=None)


async def test_a_failing_approval_poster_does_not_lose_the_request(world: World) -> None:
    world.poster.fail = True

    outcome = await world.service().submit(state(CONTRACTOR, ACCESS, NO_BARRIER))

    assert outcome == Submitted(request_id="VND-000001", approvals_channel=None)
    assert await world.requests.get(1) is not None


async def test_no_free_seat_refuses_submission_and_creates_nothing(
    world: World, service: WizardService
) -> None:
    world.sandbox.tenant.set_prepaid_units("MICROSOFT_REMOTE_ASSIST", 0)

    outcome = await service.submit(state(CONTRACTOR, ACCESS, NO_BARRIER))

    assert isinstance(outcome, SubmitRefused)
    assert "no free seats of Dynamics 365 Remote Assist" in outcome.reasons[0]
    assert await world.requests.get(1) is None
    assert world.poster.numbers == []


async def test_no_free_ib_seat_refuses_a_segment_submission(world: World, service: WizardService) -> None:
    for part in IB_SKUS:
        world.sandbox.tenant.set_prepaid_units(part, 0)

    outcome = await service.submit(state(CONTRACTOR, ACCESS, CONTOSO_SEGMENT))

    assert isinstance(outcome, SubmitRefused)
    assert "information barriers" in outcome.reasons[0]
    assert await world.requests.get(1) is None


async def test_a_name_taken_after_the_review_is_not_submitted_silently(
    world: World, service: WizardService
) -> None:
    reviewed = await service.review(state(CONTRACTOR, ACCESS, NO_BARRIER))
    await world.gateway.create_user(new_user(user_principal_name=reviewed.upn))

    outcome = await service.submit(state(CONTRACTOR, ACCESS, NO_BARRIER, reviewed_upn=reviewed.upn))

    assert isinstance(outcome, SubmitRefused)
    assert "sa-contoso-bob.builder2@abc.com" in outcome.reasons[0]
    assert await world.requests.get(1) is None


async def test_one_wizard_is_submitted_once(world: World) -> None:
    service = world.service(marks=OnceMarks(world.database))
    wizard = state(CONTRACTOR, ACCESS, NO_BARRIER)

    first = await service.submit(wizard)
    second = await service.submit(wizard)

    assert isinstance(first, Submitted)
    assert isinstance(second, SubmitRefused)
    assert await world.requests.get(2) is None


async def test_a_requester_removed_from_the_group_cannot_submit(world: World) -> None:
    async def not_a_requester(aad_object_id: str) -> bool:
        return False

    outcome = await world.service(may_request=not_a_requester).submit(state(CONTRACTOR, ACCESS, NO_BARRIER))

    assert isinstance(outcome, SubmitRefused)
    assert await world.requests.get(1) is None


def test_the_example_catalog_is_what_these_tests_expect() -> None:
    catalog: SegmentCatalog = load_catalog(EXAMPLE_CATALOG)

    assert [segment.name for segment in catalog.vendor_segments][:2] == [
        "Vendor - Contoso",
        "Vendor - Fabrikam",
    ]


class DownSource:
    """A seat source that never answers (Graph is down)."""

    async def list_skus(self) -> tuple[Any, ...]:
        raise ConnectionError("graph is down")


async def test_unknown_seats_are_shown_as_unknown_and_block_submission(world: World) -> None:
    service = world.service(seats=SeatSnapshot(DownSource()))

    options = await service.access_options()
    outcome = await service.submit(state(CONTRACTOR, ACCESS, NO_BARRIER))

    assert options.profiles[0].title == "Remote Assist technician (free seats unknown right now)"
    assert options.profiles[0].seats == ()
    assert isinstance(outcome, SubmitRefused)
    assert "couldn't read the free license seats" in outcome.reasons[0]


async def test_a_slow_directory_does_not_hold_the_click(world: World) -> None:
    world.sandbox.tenant.faults.inject("latency", route="GET /users/{id}", seconds=1, times=None)
    service = world.service(directory_timeout_seconds=0.05)

    check = await service.check_step(WizardStep.ACCESS, state(CONTRACTOR, ACCESS, sponsor=None))

    assert fields(check.errors) == [None]
    assert "couldn't reach the directory" in check.errors[0].message
