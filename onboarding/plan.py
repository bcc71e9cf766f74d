"""The provisioning plan: exactly what the background run will create for one approved request.

The plan is computed once, when the requester submits (naming, licenses and segment placement are
decided then, with Graph's answers), shown on the review and approval cards, stored next to the request,
and executed as is by provisioning. Nothing in it is recomputed later, so what the approver approved is
what gets created.

``employee_id`` carries the request id (``VND-000042``): provisioning writes it to the account's
``employeeId`` and recognises an account it created itself by it (Graph has no idempotency key).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Final

from pydantic import AwareDatetime, Field, field_validator

from onboarding._model import DomainModel
from onboarding.licensing import LicensePlan, friendly_product_name
from onboarding.naming import UpnPlan, is_valid_upn
from onboarding.requests import OnboardingRequest
from onboarding.segments import AttributePlacement, GroupPlacement
from onboarding.validation import country_name

#: Graph's limit for ``employeeId`` (the idempotency marker).
MAX_EMPLOYEE_ID_LENGTH: Final = 16
#: Graph's limit for ``companyName``.
MAX_COMPANY_NAME_LENGTH: Final = 64
DEFAULT_EMPLOYEE_TYPE: Final = "Vendor"

# Placement properties that are first-class fields of the plan: a segment filtering on them replaces the
# wizard's value (the catalog validation warns about it) instead of adding a second, conflicting attribute.
_PLAN_FIELD_FOR_PROPERTY: Final = {"usageLocation": "usage_location", "companyName": "company_name"}

#: How attribute properties read on the cards; unknown ones are shown by their last path segment.
_ATTRIBUTE_LABELS: Final = {
    "department": "Department",
    "country": "Country",
    "officeLocation": "Office",
    "postalCode": "Postal code",
    "streetAddress": "Street address",
    **{
        f"onPremisesExtensionAttributes.extensionAttribute{n}": f"Extension attribute {n}"
        for n in range(1, 16)
    },
}


def end_of_day_utc(day: date) -> datetime:
    """The last second of ``day`` in UTC: access ends when the end date is over, not when it begins."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


class ProvisioningPlan(DomainModel):
    """What provisioning creates for one request: names, every attribute, licenses and groups."""

    upn: str = Field(min_length=3, max_length=113)
    mail_nickname: str = Field(min_length=1, max_length=64)
    display_name: str = Field(min_length=1, max_length=256)
    given_name: str = Field(min_length=1, max_length=64)
    surname: str = Field(min_length=1, max_length=64)
    usage_location: str = Field(pattern=r"^[A-Z]{2}$")
    company_name: str = Field(min_length=1, max_length=MAX_COMPANY_NAME_LENGTH)
    employee_type: str = Field(default=DEFAULT_EMPLOYEE_TYPE, min_length=1, max_length=64)
    #: The marker: the request id, e.g. ``VND-000042`` (Graph allows 16 characters).
    employee_id: str = Field(min_length=1, max_length=MAX_EMPLOYEE_ID_LENGTH)
    #: The contractor's own address(es).
    other_mails: tuple[str, ...]
    #: The end date, end of day UTC (``employeeLeaveDateTime``).
    employee_leave_at: AwareDatetime
    #: Extra Graph properties the segment placement sets, by dotted Graph name:
    #: ``{"department": "X"}`` or ``{"onPremisesExtensionAttributes.extensionAttribute1": "X"}``.
    attributes: dict[str, str] = Field(default_factory=dict)
    license_part_numbers: tuple[str, ...]
    #: The vendor-accounts group (if configured), then the segment's group (MemberOf placement).
    group_ids: tuple[str, ...] = ()
    segment: str | None = None

    @field_validator("upn")
    @classmethod
    def _valid_upn(cls, value: str) -> str:
        if not is_valid_upn(value):
            raise ValueError(f"{value!r} is not a user principal name Graph accepts")
        return value

    @field_validator("license_part_numbers", "group_ids")
    @classmethod
    def _no_repeats(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("lists an item twice")
        return value

    def describe(self) -> list[tuple[str, str]]:
        """(label, value) rows of the account's attributes for the review and approval cards.

        The cards show the UPN, display name, licenses, groups, segment, end date and sponsor in their own
        rows; these are the remaining properties the account is created with, in the order people read them.
        """
        country = country_name(self.usage_location)
        rows = [
            ("Given name", self.given_name),
            ("Surname", self.surname),
            ("Mail nickname", self.mail_nickname),
            ("Company", self.company_name),
            ("Employee type", self.employee_type),
            ("Employee ID", self.employee_id),
            ("Usage location", f"{self.usage_location} ({country})" if country else self.usage_location),
            ("Contact email", ", ".join(self.other_mails)),
        ]
        rows += [(attribute_label(name), value) for name, value in self.attributes.items()]
        return rows

    @property
    def product_names(self) -> tuple[str, ...]:
        """Friendly names of the planned licenses, in assignment order."""
        return tuple(friendly_product_name(part) for part in self.license_part_numbers)


def attribute_label(graph_property: str) -> str:
    """ "Department" for ``department``, "Extension attribute 1" for the dotted extension attribute."""
    return _ATTRIBUTE_LABELS.get(graph_property, graph_property.rpartition(".")[2])


def build_plan(
    request: OnboardingRequest,
    *,
    upn: UpnPlan,
    licenses: LicensePlan,
    placement: AttributePlacement | GroupPlacement | None,
    vendor_accounts_group_id: str | None,
) -> ProvisioningPlan:
    """The plan for ``request`` from the decisions the wizard made (names, licenses, segment placement).

    A segment and its placement go together: a request with a segment needs a placement and one without
    needs none (``ValueError`` otherwise). An attribute placement on ``usageLocation`` or ``companyName``
    replaces the wizard's value; any other property goes to ``attributes``. Group ids are lower-cased and
    de-duplicated, the vendor-accounts group first.
    """
    if (request.segment is None) != (placement is None):
        raise ValueError(
            f"{request.request_id}: segment {request.segment!r} and placement {placement!r} must go together"
        )
    fields: dict[str, str] = {
        "usage_location": request.usage_location,
        "company_name": request.vendor_company,
    }
    attributes: dict[str, str] = {}
    groups: list[str] = []
    if vendor_accounts_group_id:
        groups.append(vendor_accounts_group_id.strip().lower())
    if isinstance(placement, AttributePlacement):
        plan_field = _PLAN_FIELD_FOR_PROPERTY.get(placement.graph_property)
        if plan_field is not None:
            fields[plan_field] = placement.value
        else:
            attributes[placement.graph_property] = placement.value
    elif isinstance(placement, GroupPlacement):
        groups.append(placement.group_id.strip().lower())
    contractor = request.contractor
    return ProvisioningPlan(
        upn=upn.upn,
        mail_nickname=upn.mail_nickname,
        display_name=upn.display_name,
        given_name=contractor.first_name,
        surname=contractor.last_name,
        usage_location=fields["usage_location"],
        company_name=fields["company_name"],
        employee_id=request.request_id,
        other_mails=(contractor.email,),
        employee_leave_at=end_of_day_utc(request.end_date),
        attributes=attributes,
        license_part_numbers=licenses.part_numbers,
        group_ids=tuple(dict.fromkeys(groups)),
        segment=request.segment,
    )
