"""What the directory accepts when a user is created or updated.

Sources (Microsoft Learn page titles):

* "Create user" (POST /users): required properties; the UPN must use a verified domain of the tenant.
* "Microsoft Entra password policies": username policy (UPN characters ``A-Z a-z 0-9 ' . - _ ! # ^ ~``,
  no ``.`` just before ``@``, at most 64 characters before ``@`` and 48 after) and password policy
  (8 to 256 characters, three of four character classes, ASCII only, banned passwords).
* "user resource type": property lengths (``employeeId`` <= 16, ``companyName`` and ``department``
  <= 64, ``otherMails`` up to 250 values of <= 250 characters, extension attributes <= 1024, ...),
  ``usageLocation`` is an ISO 3166 two-letter country code.

Error messages are the ones Graph returns where they are known (quoted in field reports); where
Graph's exact text is not documented the message follows Graph's usual "Invalid value specified for
property" form and says so in a comment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pycountry

from sandbox.errors import GraphError, invalid_property


def invalid_upn() -> GraphError:
    """A UPN that breaks the username policy."""
    return GraphError(400, "Request_BadRequest", "Property userPrincipalName is invalid.")


def unverified_domain() -> GraphError:
    """A UPN whose domain is not a verified domain of the tenant."""
    return GraphError(
        400,
        "Request_BadRequest",
        "The domain portion of the userPrincipalName property is invalid. You must use one of the verified "
        "domain names in your organization.",
    )


def duplicate_upn() -> GraphError:
    """A UPN another object already has (Graph has no idempotency key: a replayed create gets this)."""
    return GraphError(
        400,
        "Request_BadRequest",
        "Another object with the same value for property userPrincipalName already exists.",
    )


def weak_password() -> GraphError:
    """A password the Entra password policy rejects."""
    return GraphError(
        400,
        "Request_BadRequest",
        "The specified password does not comply with password complexity requirements. Please provide a "
        "different password.",
    )


#: POST /users must carry these ("Create user"; identities-based creation is not modelled).
REQUIRED_ON_CREATE = ("accountEnabled", "displayName", "mailNickname", "userPrincipalName", "passwordProfile")

_STRING_LIMITS: dict[str, int] = {
    "displayName": 256,
    "givenName": 64,
    "surname": 64,
    "mailNickname": 64,
    "companyName": 64,
    "department": 64,
    "employeeId": 16,
    "employeeType": 64,  # not documented; Entra stores it in a 64-character attribute (unverified)
    "jobTitle": 128,
    "city": 128,
    "state": 128,
    "country": 128,
    "officeLocation": 128,
    "postalCode": 40,
    "streetAddress": 1024,
    "mobilePhone": 64,
    "preferredLanguage": 10,
    "mail": 256,
    "ageGroup": 64,
    "passwordPolicies": 256,
    "onPremisesImmutableId": 256,
    "userType": 16,
}

#: Properties POST /users and PATCH /users/{id} accept ("user resource type", writable properties).
WRITABLE_USER_PROPERTIES = frozenset(
    {
        *_STRING_LIMITS,
        "accountEnabled",
        "businessPhones",
        "employeeHireDate",
        "employeeLeaveDateTime",
        "otherMails",
        "onPremisesExtensionAttributes",
        "passwordProfile",
        "showInAddressList",
        "usageLocation",
        "userPrincipalName",
    }
)

#: Properties Graph computes; a client may read them but never set them.
READ_ONLY_USER_PROPERTIES = frozenset(
    {
        "id",
        "assignedLicenses",
        "assignedPlans",
        "createdDateTime",
        "creationType",
        "deletedDateTime",
        "externalUserState",
        "imAddresses",
        "isResourceAccount",
        "lastPasswordChangeDateTime",
        "licenseAssignmentStates",
        "onPremisesSyncEnabled",
        "proxyAddresses",
        "securityIdentifier",
        "signInSessionsValidFromDateTime",
    }
)

ALL_USER_PROPERTIES = WRITABLE_USER_PROPERTIES | READ_ONLY_USER_PROPERTIES

EXTENSION_ATTRIBUTES = tuple(f"extensionAttribute{n}" for n in range(1, 16))

_UPN_LOCAL = re.compile(r"^[A-Za-z0-9'.\-_!#^~]+$")
_DOMAIN = re.compile(
    r"^[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?)+$"
)
# mailNickname may not contain these (Exchange alias rules; Graph answers "Invalid value specified").
_NICKNAME_FORBIDDEN = set('@()\\[]";:<>, ')
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Password policy: the characters Entra allows besides letters and digits.
_PASSWORD_SYMBOLS = set("@#$%^&*-_!+=[]{}|\\:',.?/`~\"();<> ")
# A sample of the global banned-password list: common base words, matched after undoing l33t substitutions.
_BANNED_WORDS = ("password", "welcome", "letmein", "qwerty", "iloveyou", "abc123", "12345678")
_LEET = str.maketrans(
    {"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}
)


def split_upn(upn: str) -> tuple[str, str]:
    """Check a UPN against the username policy and return (local part, domain); raise Graph's 400."""
    if upn.count("@") != 1:
        raise invalid_upn()
    local, domain = upn.split("@")
    if not local or len(local) > 64 or not _UPN_LOCAL.match(local) or local.endswith("."):
        raise invalid_upn()
    if not domain or len(domain) > 48 or not _DOMAIN.match(domain):
        raise invalid_upn()
    return local, domain


def check_password(password: Any, *, forbidden_terms: tuple[str, ...] = ()) -> None:
    """Apply the Entra password policy; ``forbidden_terms`` are the user's own names (not allowed inside)."""
    if not isinstance(password, str) or not 8 <= len(password) <= 256:
        raise weak_password()
    if any(not (ch.isascii() and (ch.isalnum() or ch in _PASSWORD_SYMBOLS)) for ch in password):
        raise weak_password()
    classes = sum(
        (
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(c in _PASSWORD_SYMBOLS for c in password),
        )
    )
    if classes < 3:
        raise weak_password()
    normalised = password.lower().translate(_LEET)
    if any(word in normalised for word in _BANNED_WORDS):
        raise weak_password()
    for term in forbidden_terms:
        if len(term) >= 4 and term.lower() in password.lower():
            raise weak_password()


def check_mail_nickname(value: Any) -> None:
    """mailNickname: 1 to 64 ASCII characters without the characters Exchange forbids in an alias."""
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= 64
        or not value.isascii()
        or any(ch in _NICKNAME_FORBIDDEN or ch.isspace() for ch in value)
        or value.startswith(".")
        or value.endswith(".")
    ):
        raise invalid_property("mailNickname")


def _check_string(name: str, value: Any) -> None:
    limit = _STRING_LIMITS[name]
    if value is None and name not in ("displayName", "mailNickname"):
        return
    if not isinstance(value, str) or len(value) > limit or (name == "displayName" and not value.strip()):
        raise invalid_property(name)


def _check_datetime(name: str, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise invalid_property(name)
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise invalid_property(name) from None


def check_usage_location(value: Any) -> None:
    """usageLocation must be an ISO 3166-1 alpha-2 country code (or null)."""
    if value is None:
        return
    if (
        not isinstance(value, str)
        or len(value) != 2
        or pycountry.countries.get(alpha_2=value.upper()) is None
    ):
        raise invalid_property("usageLocation")


def check_user_properties(body: Mapping[str, Any]) -> None:
    """Validate the types and lengths of every user property present in a create or update body."""
    for name, value in body.items():
        if name in _STRING_LIMITS:
            if name == "mailNickname":
                check_mail_nickname(value)
            else:
                _check_string(name, value)
        elif name in ("accountEnabled", "showInAddressList"):
            if not isinstance(value, bool):
                raise invalid_property(name)
        elif name in ("employeeHireDate", "employeeLeaveDateTime"):
            _check_datetime(name, value)
        elif name == "usageLocation":
            check_usage_location(value)
        elif name == "otherMails":
            if not isinstance(value, list) or len(value) > 250:
                raise invalid_property(name)
            if any(not isinstance(v, str) or len(v) > 250 or not _EMAIL.match(v) for v in value):
                raise invalid_property(name)
        elif name == "businessPhones":
            # Graph allows exactly one business phone for a cloud user.
            if not isinstance(value, list) or len(value) > 1 or any(not isinstance(v, str) for v in value):
                raise invalid_property(name)
        elif name == "onPremisesExtensionAttributes":
            check_extension_attributes(value)


def check_extension_attributes(value: Any) -> None:
    """onPremisesExtensionAttributes: extensionAttribute1..15, strings of at most 1024 characters."""
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise invalid_property("onPremisesExtensionAttributes")
    for key, item in value.items():
        if key.startswith("@odata."):
            continue
        if key not in EXTENSION_ATTRIBUTES:
            raise unknown_property(key, "onPremisesExtensionAttributes")
        if item is not None and (not isinstance(item, str) or len(item) > 1024):
            raise invalid_property(key, "User")


def unknown_property(name: str, type_name: str = "user") -> GraphError:
    """Graph's OData answer for a body property the type does not declare (text seen in the field)."""
    return GraphError(
        400,
        "BadRequest",
        f"The property '{name}' does not exist on type 'microsoft.graph.{type_name}'. Make sure to only use "
        "property names that are defined by the type or mark the type as open type.",
    )


def read_only_property(name: str) -> GraphError:
    """Setting a computed property; Graph's exact text is not documented (unverified)."""
    return GraphError(400, "Request_BadRequest", f"Property '{name}' is read-only and cannot be set.")
