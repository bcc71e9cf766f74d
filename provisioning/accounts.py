"""A plan's account as Graph sees it: the create body, what it cannot carry, and seat counts.

Shared by the single-request runner (:mod:`provisioning.runner`) and the bulk runner
(:mod:`provisioning.bulk`), which must create exactly the same account from the same plan.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final

from pydantic import SecretStr

from onboarding.licensing import SeatCount
from onboarding.plan import ProvisioningPlan
from onboarding.requests import OnboardingRequest
from provisioning.directory import NewUser, SkuSeats
from provisioning.errors import InvalidRequest
from storage.accounts import AccountState, ServiceAccount

__all__ = ["is_password_refusal", "new_user", "seat_count", "service_account", "unsupported_attributes"]

# Graph's text for a password the policy refuses: "The specified password does not comply with password
# complexity requirements." Matched on the message because Graph gives it no code of its own.
_POLICY_REFUSAL: Final = re.compile(r"password complexity", re.IGNORECASE)


def is_password_refusal(err: InvalidRequest) -> bool:
    """Whether Graph refused the create because the password does not meet the tenant's policy."""
    return _POLICY_REFUSAL.search(err.graph_message or "") is not None


def seat_count(sku: SkuSeats) -> SeatCount:
    """The domain's view of a subscribed SKU's seats (for :func:`onboarding.licensing.decide_licenses`)."""
    return SeatCount(
        part_number=sku.part_number,
        enabled=sku.enabled,
        consumed=sku.consumed,
        capability_status=sku.capability_status or "Enabled",
    )


_EXTENSION_PREFIX: Final = "onPremisesExtensionAttributes.extensionAttribute"


def unsupported_attributes(plan: ProvisioningPlan) -> list[str]:
    """Plan attributes the gateway's create body cannot carry (it has department and extension attributes)."""
    return [name for name in plan.attributes if _extension_index(name) is None and name != "department"]


def _extension_index(name: str) -> int | None:
    if not name.startswith(_EXTENSION_PREFIX):
        return None
    suffix = name.removeprefix(_EXTENSION_PREFIX)
    return int(suffix) if suffix.isdigit() and 1 <= int(suffix) <= 15 else None


def new_user(plan: ProvisioningPlan, password: SecretStr) -> NewUser:
    """The ``POST /users`` of the plan: every attribute in one request, the marker in ``employeeId``."""
    extensions = tuple(
        sorted(
            (index, value)
            for name, value in plan.attributes.items()
            if (index := _extension_index(name)) is not None
        )
    )
    return NewUser(
        user_principal_name=plan.upn,
        display_name=plan.display_name,
        mail_nickname=plan.mail_nickname,
        password=password,
        marker=plan.employee_id,
        usage_location=plan.usage_location,
        given_name=plan.given_name,
        surname=plan.surname,
        company_name=plan.company_name,
        department=plan.attributes.get("department"),
        employee_type=plan.employee_type,
        other_mails=plan.other_mails,
        extension_attributes=extensions,
        employee_leave_date_time=plan.employee_leave_at,
        force_change_password_next_sign_in=True,
    )


def service_account(
    request: OnboardingRequest, plan: ProvisioningPlan, *, number: int, user_id: str, created_at: datetime
) -> ServiceAccount:
    """The bot's record of the account a request's plan created (the ``record`` step of both runners)."""
    return ServiceAccount(
        upn=plan.upn,
        user_id=user_id,
        request_number=number,
        vendor=request.vendor_company,
        contractor_name=f"{request.contractor.first_name} {request.contractor.last_name}",
        contractor_email=request.contractor.email,
        sponsor_aad_id=request.sponsor.aad_object_id,
        sponsor_name=request.sponsor.display_name,
        license_part_numbers=plan.license_part_numbers,
        segment=plan.segment,
        end_date=request.end_date,
        state=AccountState.ACTIVE,
        created_at=created_at,
    )
