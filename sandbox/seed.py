"""The sandbox tenant as `make run` and the tests start it: ABC Corp with its domains, SKUs, groups and
the six people of the Agents Playground configuration (``playground/.m365agentsplayground.yml``).

SKU ids and part numbers are Microsoft's ("Product names and service plan identifiers for
licensing"); each SKU carries a few of its real service plans, among them ``INFORMATION_BARRIERS``
where the product includes Information Barriers.
"""

from __future__ import annotations

from typing import Any

from sandbox.clock import Clock
from sandbox.tenant import SNAPSHOT_VERSION, Json, Tenant
from settings import (
    SANDBOX_ADMINS_GROUP_ID,
    SANDBOX_APPROVERS_GROUP_ID,
    SANDBOX_REQUESTERS_GROUP_ID,
    SANDBOX_TENANT_ID,
    SANDBOX_VENDOR_ACCOUNTS_GROUP_ID,
)

SEED_TIME = "2025-01-01T00:00:00Z"

REMOTE_ASSIST_SKU_ID = "7a551360-26c4-4f61-84e6-ef715673e083"
SPE_E5_SKU_ID = "06ebc4ee-1bb5-47dd-8120-11324bc54e06"
OFFICE_E5_SKU_ID = "c7df2760-2c81-4ef7-b578-5b5392b571df"
E5_COMPLIANCE_SKU_ID = "184efa21-98c3-4e5d-95ab-d07053a96e67"

SEGMENT_GROUP_IDS = {
    "IB Vendor - Contoso": "6a000000-0000-4000-8000-000000000010",
    "IB Vendor - Fabrikam": "6a000000-0000-4000-8000-000000000011",
    "IB Vendor - Northwind": "6a000000-0000-4000-8000-000000000012",
}

# Service plans (id, name), from the same licensing reference.
_TEAMS1 = ("57ff2da0-773e-42df-b2af-ffb7a2317929", "TEAMS1")
_EXCHANGE = ("efb87545-963c-4e0d-99df-69c6916d9eb0", "EXCHANGE_S_ENTERPRISE")
_SHAREPOINT = ("5dbe027f-2339-4123-9542-606e4d348a72", "SHAREPOINTENTERPRISE")
_IB = ("c4801e8a-cb58-4c35-aca6-f2dcc106f287", "INFORMATION_BARRIERS")
_LOCKBOX = ("9f431833-0334-42de-a7dc-70aa40db46db", "LOCKBOX_ENTERPRISE")
_AAD_P2 = ("eec0eb4f-6444-4f95-aba0-50c24d67f998", "AAD_PREMIUM_P2")
_REMOTE_ASSIST = ("4f4c7800-298a-4e22-8867-96b17850d4dd", "MICROSOFT_REMOTE_ASSIST")
_CDS_REMOTE_ASSIST = ("0850ebb5-64ee-4d3a-a3e1-5a97213653b5", "CDS_REMOTE_ASSIST")

#: (display name, UPN, object id, given name, surname) of the six Playground people.
PEOPLE = (
    (
        "Alice Requester",
        "alice@abc.onmicrosoft.com",
        "a11ce000-0000-4000-8000-000000000001",
        "Alice",
        "Requester",
    ),
    (
        "Rita Requester",
        "rita@abc.onmicrosoft.com",
        "01da0000-0000-4000-8000-000000000002",
        "Rita",
        "Requester",
    ),
    ("Adam Approver", "adam@abc.onmicrosoft.com", "adaa0000-0000-4000-8000-000000000003", "Adam", "Approver"),
    (
        "Paula Approver",
        "paula@abc.onmicrosoft.com",
        "0a01a000-0000-4000-8000-000000000004",
        "Paula",
        "Approver",
    ),
    ("Nora NoRole", "nora@abc.onmicrosoft.com", "0b0a0000-0000-4000-8000-000000000005", "Nora", "NoRole"),
    ("Omar Operator", "omar@abc.onmicrosoft.com", "0aa00000-0000-4000-8000-000000000006", "Omar", "Operator"),
)
_ID = {given: object_id for _, _, object_id, given, _ in PEOPLE}


def _plans(*plans: tuple[str, str]) -> list[Json]:
    return [
        {
            "servicePlanId": plan_id,
            "servicePlanName": name,
            "provisioningStatus": "Success",
            "appliesTo": "User",
        }
        for plan_id, name in plans
    ]


def _sku(sku_id: str, part_number: str, seats: int, *plans: tuple[str, str]) -> Json:
    return {
        "skuId": sku_id,
        "skuPartNumber": part_number,
        "appliesTo": "User",
        "capabilityStatus": "Enabled",
        "prepaidUnits": {"enabled": seats, "suspended": 0, "warning": 0, "lockedOut": 0},
        "servicePlans": _plans(*plans),
        "subscriptionIds": [f"5b0c0000-0000-4000-8000-{sku_id[-12:]}"],
    }


def _domain(name: str, *, verified: bool, default: bool = False, initial: bool = False) -> Json:
    return {
        "id": name,
        "authenticationType": "Managed",
        "isAdminManaged": True,
        "isDefault": default,
        "isInitial": initial,
        "isRoot": True,
        "isVerified": verified,
        "passwordNotificationWindowInDays": 14,
        "passwordValidityPeriodInDays": 2147483647,
        "supportedServices": ["Email", "OfficeCommunicationsOnline"] if verified else [],
    }


def _group(group_id: str, name: str, nickname: str, description: str) -> Json:
    return {
        "id": group_id,
        "createdDateTime": SEED_TIME,
        "description": description,
        "displayName": name,
        "groupTypes": [],
        "mail": None,
        "mailEnabled": False,
        "mailNickname": nickname,
        "securityEnabled": True,
        "visibility": None,
        "membershipRule": None,
    }


def _person(display_name: str, upn: str, object_id: str, given: str, surname: str) -> Json:
    extensions: dict[str, Any] = {f"extensionAttribute{n}": None for n in range(1, 16)}
    return {
        "id": object_id,
        "accountEnabled": True,
        "businessPhones": [],
        "displayName": display_name,
        "givenName": given,
        "surname": surname,
        "mail": upn,
        "mailNickname": upn.split("@")[0],
        "userPrincipalName": upn,
        "userType": "Member",
        "usageLocation": "US",
        "companyName": "ABC Corp",
        "otherMails": [],
        "imAddresses": [],
        "proxyAddresses": [f"SMTP:{upn}"],
        "onPremisesExtensionAttributes": extensions,
        "passwordProfile": {
            "password": None,
            "forceChangePasswordNextSignIn": False,
            "forceChangePasswordNextSignInWithMfa": False,
        },
        "assignedLicenses": [],
        "assignedPlans": [],
        "createdDateTime": SEED_TIME,
        "lastPasswordChangeDateTime": SEED_TIME,
        "signInSessionsValidFromDateTime": SEED_TIME,
    }


def seed_snapshot() -> Json:
    """The seed as a state snapshot (what ``python -m sandbox reset`` writes)."""
    groups = [
        _group(
            SANDBOX_REQUESTERS_GROUP_ID,
            "Vendor onboarding requesters",
            "vendor-onboarding-requesters",
            "May run the vendor onboarding wizard.",
        ),
        _group(
            SANDBOX_APPROVERS_GROUP_ID,
            "Vendor onboarding approvers",
            "vendor-onboarding-approvers",
            "Approve or reject vendor onboarding requests.",
        ),
        _group(
            SANDBOX_ADMINS_GROUP_ID,
            "Vendor onboarding bot administrators",
            "vendor-onboarding-admins",
            "Administer the vendor onboarding bot.",
        ),
        _group(
            SANDBOX_VENDOR_ACCOUNTS_GROUP_ID,
            "Vendor service accounts",
            "vendor-service-accounts",
            "Every service account the bot created.",
        ),
    ]
    groups += [
        _group(
            group_id,
            name,
            name.lower().replace(" - ", "-").replace(" ", "-"),
            f"Information barrier segment {name}.",
        )
        for name, group_id in SEGMENT_GROUP_IDS.items()
    ]
    members: dict[str, list[str]] = {g["id"]: [] for g in groups}
    members[SANDBOX_REQUESTERS_GROUP_ID] = [_ID["Alice"], _ID["Rita"]]
    members[SANDBOX_APPROVERS_GROUP_ID] = [_ID["Adam"], _ID["Paula"]]
    members[SANDBOX_ADMINS_GROUP_ID] = [_ID["Adam"], _ID["Omar"]]
    return {
        "version": SNAPSHOT_VERSION,
        "tenantId": SANDBOX_TENANT_ID,
        "organization": {
            "displayName": "ABC Corp",
            "countryLetterCode": "US",
            "tenantType": "AAD",
            "createdDateTime": SEED_TIME,
            "preferredLanguage": "en",
        },
        "domains": [
            _domain("abc.onmicrosoft.com", verified=True, default=True, initial=True),
            _domain("abc.com", verified=True),
            _domain("contoso-unverified.com", verified=False),
        ],
        "skus": [
            _sku(
                REMOTE_ASSIST_SKU_ID,
                "MICROSOFT_REMOTE_ASSIST",
                25,
                _CDS_REMOTE_ASSIST,
                _REMOTE_ASSIST,
                _TEAMS1,
            ),
            _sku(SPE_E5_SKU_ID, "SPE_E5", 10, _EXCHANGE, _SHAREPOINT, _TEAMS1, _IB, _LOCKBOX, _AAD_P2),
            _sku(OFFICE_E5_SKU_ID, "ENTERPRISEPREMIUM", 5, _EXCHANGE, _SHAREPOINT, _TEAMS1, _IB, _LOCKBOX),
            _sku(E5_COMPLIANCE_SKU_ID, "INFORMATION_PROTECTION_COMPLIANCE", 10, _IB, _LOCKBOX),
        ],
        "groups": groups,
        "members": members,
        "users": [_person(*person) for person in PEOPLE],
    }


def seed_tenant(*, clock: Clock | None = None) -> Tenant:
    """A fresh tenant in its seed state."""
    return Tenant(seed_snapshot(), clock=clock)
