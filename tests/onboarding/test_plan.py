"""The provisioning plan: built from the wizard's decisions, exactly what the cards show and Graph gets."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from onboarding.licensing import LicensePlan
from onboarding.naming import NamingPolicy, plan_upn
from onboarding.plan import ProvisioningPlan, build_plan, end_of_day_utc
from onboarding.requests import Contractor, OnboardingRequest, Person
from onboarding.segments import AttributePlacement, GroupPlacement

T0 = datetime(2030, 1, 2, 9, 0, tzinfo=UTC)
ALICE = Person(aad_object_id="a11ce000-0000-4000-8000-000000000001", display_name="Alice Requester")
VENDOR_GROUP = "6A000000-0000-4000-8000-000000000004"
SEGMENT_GROUP = "6a000000-0000-4000-8000-000000000010"
POLICY = NamingPolicy(domain="abc.com")
REMOTE_ASSIST = LicensePlan(part_numbers=("MICROSOFT_REMOTE_ASSIST",))


def make_request(*, segment: str | None = None, number: int = 42) -> OnboardingRequest:
    return OnboardingRequest(
        number=number,
        contractor=Contractor(first_name="José", last_name="Müller", email="jose@contoso1.com"),
        vendor_company="Contoso1",
        usage_location="DE",
        license_profile="remote-assist-technician",
        end_date=date(2030, 2, 1),
        sponsor=ALICE,
        requester=ALICE,
        segment=segment,
        created_at=T0,
    )


def plan_for(
    request: OnboardingRequest,
    placement: AttributePlacement | GroupPlacement | None = None,
    *,
    licenses: LicensePlan = REMOTE_ASSIST,
    vendor_group: str | None = VENDOR_GROUP,
) -> ProvisioningPlan:
    names = plan_upn("José", "Müller", "Contoso1", policy=POLICY)
    return build_plan(
        request, upn=names, licenses=licenses, placement=placement, vendor_accounts_group_id=vendor_group
    )


def test_plan_takes_names_from_the_upn_plan() -> None:
    plan = plan_for(make_request())
    assert (plan.upn, plan.mail_nickname) == ("sa-contoso1-jose.muller@abc.com", "sa-contoso1-jose.muller")
    assert plan.display_name == "José Müller (Contoso1) – Vendor"


def test_plan_keeps_the_contractor_names_in_their_own_alphabet() -> None:
    plan = plan_for(make_request())
    assert (plan.given_name, plan.surname) == ("José", "Müller")


def test_the_marker_is_the_request_id() -> None:
    assert plan_for(make_request(number=123456789)).employee_id == "VND-123456789"


def test_the_contractor_email_goes_to_other_mails() -> None:
    assert plan_for(make_request()).other_mails == ("jose@contoso1.com",)


def test_leave_date_is_the_end_of_the_end_date_in_utc() -> None:
    assert plan_for(make_request()).employee_leave_at == datetime(2030, 2, 1, 23, 59, 59, tzinfo=UTC)


def test_end_of_day_is_aware() -> None:
    assert end_of_day_utc(date(2030, 1, 1)).tzinfo is UTC


def test_vendor_company_and_usage_location_come_from_the_request() -> None:
    plan = plan_for(make_request())
    assert (plan.company_name, plan.usage_location, plan.employee_type) == ("Contoso1", "DE", "Vendor")


def test_without_segment_only_the_vendor_group_is_planned() -> None:
    plan = plan_for(make_request())
    assert plan.group_ids == (VENDOR_GROUP.lower(),)
    assert plan.attributes == {}
    assert plan.segment is None


def test_without_vendor_group_no_group_is_planned() -> None:
    assert plan_for(make_request(), vendor_group=None).group_ids == ()


def test_attribute_placement_becomes_a_plan_attribute() -> None:
    placement = AttributePlacement("onPremisesExtensionAttributes.extensionAttribute1", "Vendor-Contoso")
    plan = plan_for(make_request(segment="Vendor - Contoso"), placement)
    assert plan.attributes == {"onPremisesExtensionAttributes.extensionAttribute1": "Vendor-Contoso"}
    assert plan.segment == "Vendor - Contoso"


def test_group_placement_adds_the_segment_group_after_the_vendor_group() -> None:
    placement = GroupPlacement(group_id=SEGMENT_GROUP, group_label="IB Vendor - Contoso")
    plan = plan_for(make_request(segment="Vendor - Contoso"), placement)
    assert plan.group_ids == (VENDOR_GROUP.lower(), SEGMENT_GROUP)


def test_a_segment_group_equal_to_the_vendor_group_is_planned_once() -> None:
    placement = GroupPlacement(group_id=VENDOR_GROUP.lower(), group_label="Vendors")
    plan = plan_for(make_request(segment="Vendors"), placement)
    assert plan.group_ids == (VENDOR_GROUP.lower(),)


def test_usage_location_placement_replaces_the_wizard_value() -> None:
    plan = plan_for(make_request(segment="Vendors in France"), AttributePlacement("usageLocation", "FR"))
    assert plan.usage_location == "FR"
    assert plan.attributes == {}


def test_company_placement_replaces_the_vendor_company() -> None:
    plan = plan_for(make_request(segment="Contoso"), AttributePlacement("companyName", "Contoso Ltd"))
    assert plan.company_name == "Contoso Ltd"
    assert plan.attributes == {}


def test_licenses_come_from_the_license_plan_in_order() -> None:
    licenses = LicensePlan(part_numbers=("MICROSOFT_REMOTE_ASSIST", "SPE_E5"), ib_part_number="SPE_E5")
    placement = AttributePlacement("department", "Vendor - Contoso")
    plan = plan_for(make_request(segment="Vendor - Contoso"), placement, licenses=licenses)
    assert plan.license_part_numbers == ("MICROSOFT_REMOTE_ASSIST", "SPE_E5")
    assert plan.product_names == ("Dynamics 365 Remote Assist", "Microsoft 365 E5")


def test_a_segment_without_placement_is_refused() -> None:
    with pytest.raises(ValueError, match="must go together"):
        plan_for(make_request(segment="Vendor - Contoso"), None)


def test_a_placement_without_segment_is_refused() -> None:
    with pytest.raises(ValueError, match="must go together"):
        plan_for(make_request(), AttributePlacement("department", "X"))


def test_describe_lists_every_attribute_the_account_gets() -> None:
    placement = AttributePlacement("onPremisesExtensionAttributes.extensionAttribute1", "Vendor-Contoso")
    rows = plan_for(make_request(segment="Vendor - Contoso"), placement).describe()
    assert rows == [
        ("Given name", "José"),
        ("Surname", "Müller"),
        ("Mail nickname", "sa-contoso1-jose.muller"),
        ("Company", "Contoso1"),
        ("Employee type", "Vendor"),
        ("Employee ID", "VND-000042"),
        ("Usage location", "DE (Germany)"),
        ("Contact email", "jose@contoso1.com"),
        ("Extension attribute 1", "Vendor-Contoso"),
    ]


def test_describe_names_unknown_attributes_by_their_property() -> None:
    plan = plan_for(make_request(segment="S"), AttributePlacement("department", "Field"))
    assert plan.describe()[-1] == ("Department", "Field")


def test_plan_survives_a_json_round_trip() -> None:
    placement = AttributePlacement("department", "Vendor - Contoso")
    plan = plan_for(make_request(segment="Vendor - Contoso"), placement)
    assert ProvisioningPlan.model_validate_json(plan.model_dump_json(by_alias=True)) == plan


def test_plan_is_camel_case_at_the_wire() -> None:
    dumped = plan_for(make_request()).model_dump(by_alias=True)
    assert {"mailNickname", "employeeId", "otherMails", "employeeLeaveAt", "licensePartNumbers"} <= set(
        dumped
    )


def test_a_marker_longer_than_graph_allows_is_refused() -> None:
    plan = plan_for(make_request())
    with pytest.raises(ValidationError):
        ProvisioningPlan.model_validate({**plan.model_dump(), "employee_id": "VND-0000000000042"})


def test_an_invalid_upn_is_refused() -> None:
    plan = plan_for(make_request())
    with pytest.raises(ValidationError):
        ProvisioningPlan.model_validate({**plan.model_dump(), "upn": "sa-contoso.@abc.com"})


def test_a_naive_leave_date_is_refused() -> None:
    plan = plan_for(make_request())
    with pytest.raises(ValidationError):
        ProvisioningPlan.model_validate({**plan.model_dump(), "employee_leave_at": datetime(2030, 2, 1)})


def test_a_license_listed_twice_is_refused() -> None:
    plan = plan_for(make_request())
    with pytest.raises(ValidationError):
        ProvisioningPlan.model_validate({**plan.model_dump(), "license_part_numbers": ("SPE_E5", "SPE_E5")})


def test_plan_is_immutable() -> None:
    plan = plan_for(make_request())
    with pytest.raises(ValidationError):
        plan.upn = "other@abc.com"  # type: ignore[misc]
