"""Input rules for what a requester types, with one clear message per broken rule.

Each ``validate_*`` function returns a :class:`Checked` value: the cleaned value, or the
:class:`FieldError` items that explain what is wrong. Composite validators collect the errors of every
field, so a card can show all of them inline at once instead of one per round trip. Nothing here raises for
bad input; callers that prefer an exception use :meth:`Checked.unwrap`.

Limits follow what Microsoft Graph accepts: ``givenName``/``surname`` and ``companyName`` at most 64
characters, ``otherMails`` without accented characters, ``usageLocation`` an ISO 3166-1 alpha-2 code.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import Generic, TypeVar

import pycountry

from onboarding._model import DomainModel
from onboarding.errors import FieldCode, ValidationFailed
from onboarding.messages import render

T = TypeVar("T")

MAX_NAME_LENGTH = 64
MAX_COMPANY_LENGTH = 64  # Graph: companyName <= 64
MAX_EMAIL_LENGTH = 254
MAX_EMAIL_LOCAL_LENGTH = 64
MAX_DECISION_COMMENT_LENGTH = 1000
MAX_SHORT_COMMENT_LENGTH = 280

# Characters that legitimately occur inside names besides letters and combining marks.
_NAME_SPACE = " "
_NAME_HYPHENS = frozenset("-\u2010\u2011")
_NAME_APOSTROPHES = frozenset("'\u2019\u02bc\u2018")
# Zero-width (non-)joiners are part of correct spelling in Persian and several Indic scripts.
_NAME_JOINERS = frozenset("\u200c\u200d")

_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_DOMAIN_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_TLD = re.compile(r"(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class FieldError(DomainModel):
    """One broken rule: the input id it belongs to, a stable code, and the sentence to show under it."""

    field: str
    code: FieldCode
    message: str


@dataclass(frozen=True)
class Checked(Generic[T]):
    """The outcome of validating one or more fields: ``value`` when ``errors`` is empty."""

    value: T | None
    errors: tuple[FieldError, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every rule passed."""
        return not self.errors

    def unwrap(self) -> T:
        """The value, or :class:`~onboarding.errors.ValidationFailed` carrying every error."""
        if self.errors or self.value is None:
            raise ValidationFailed(self.errors)
        return self.value


def _fail(field: str, code: FieldCode, **params: object) -> Checked[T]:
    return Checked(None, (FieldError(field=field, code=code, message=render(code, **params)),))


def _ok(value: T) -> Checked[T]:
    return Checked(value)


def _is_control(char: str) -> bool:
    # Cc control, Cf format (bidi overrides, zero-width), Co private use, Cs surrogates, Cn unassigned,
    # Zl/Zp line and paragraph separators: none belongs in a name, and several can disguise text.
    return unicodedata.category(char) in {"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"}


def _collapse_whitespace(value: str) -> str:
    return " ".join(value.split())


def _quote_chars(chars: list[str]) -> str:
    return ", ".join(f"“{c}”" for c in chars)


def validate_name(value: str | None, *, field: str, label: str) -> Checked[str]:
    """A person's first or last name: 1–64 characters of letters (any alphabet, accents included), spaces,
    hyphens and apostrophes; trimmed, inner whitespace collapsed, Unicode NFC-normalised."""
    if value is None or not value.strip():
        return _fail(field, FieldCode.REQUIRED, label=label)
    text = _collapse_whitespace(unicodedata.normalize("NFC", value))
    if any(_is_control(c) and c not in _NAME_JOINERS for c in text):
        return _fail(field, FieldCode.CONTROL_CHARACTERS, label=label)
    if "<" in text or ">" in text:
        return _fail(field, FieldCode.MARKUP, label=label)
    if len(text) > MAX_NAME_LENGTH:
        return _fail(field, FieldCode.TOO_LONG, label=label, max=MAX_NAME_LENGTH, length=len(text))
    bad: list[str] = []
    for char in text:
        category = unicodedata.category(char)
        allowed = (
            category[0] in "LM"
            or char == _NAME_SPACE
            or char in _NAME_HYPHENS
            or char in _NAME_APOSTROPHES
            or char in _NAME_JOINERS
        )
        if not allowed and char not in bad:
            bad.append(char)
    if bad:
        return _fail(field, FieldCode.NAME_CHARACTERS, label=label, chars=_quote_chars(bad[:5]))
    if not any(unicodedata.category(c).startswith("L") for c in text):
        return _fail(field, FieldCode.NAME_NO_LETTER, label=label)
    return _ok(text)


def validate_company(
    value: str | None, *, field: str = "vendor_company", label: str = "Vendor company"
) -> Checked[str]:
    """The vendor's company name: 1–64 printable characters (Graph's ``companyName`` limit), no < or >."""
    if value is None or not value.strip():
        return _fail(field, FieldCode.REQUIRED, label=label)
    text = _collapse_whitespace(unicodedata.normalize("NFC", value))
    if any(_is_control(c) for c in text):
        return _fail(field, FieldCode.CONTROL_CHARACTERS, label=label)
    if "<" in text or ">" in text:
        return _fail(field, FieldCode.MARKUP, label=label)
    if len(text) > MAX_COMPANY_LENGTH:
        return _fail(field, FieldCode.TOO_LONG, label=label, max=MAX_COMPANY_LENGTH, length=len(text))
    if not any(c.isalnum() for c in text):
        return _fail(field, FieldCode.NAME_NO_LETTER, label=label)
    return _ok(text)


def validate_email(
    value: str | None, *, field: str = "email", label: str = "Contractor email"
) -> Checked[str]:
    """A pragmatic RFC 5322 subset: dot-atom local part (<= 64), a DNS domain with a real TLD, <= 254 in
    total, ASCII only (Graph's ``otherMails`` refuses accents). The domain is lower-cased; the local part
    keeps its case because some mail systems treat it as significant."""
    if value is None or not value.strip():
        return _fail(field, FieldCode.REQUIRED, label=label)
    text = value.strip()
    if len(text) > MAX_EMAIL_LENGTH:
        return _fail(field, FieldCode.EMAIL_TOO_LONG, label=label, max=MAX_EMAIL_LENGTH, length=len(text))
    if not text.isascii():
        return _fail(field, FieldCode.EMAIL_NOT_ASCII, label=label)
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain or not _EMAIL_LOCAL.fullmatch(local):
        return _fail(field, FieldCode.EMAIL_FORMAT, label=label)
    if len(local) > MAX_EMAIL_LOCAL_LENGTH:
        return _fail(field, FieldCode.EMAIL_LOCAL_TOO_LONG, label=label)
    domain = domain.lower()
    labels = domain.split(".")
    if (
        len(labels) < 2
        or len(domain) > 253
        or not all(_DOMAIN_LABEL.fullmatch(part) for part in labels)
        or not _TLD.fullmatch(labels[-1])
    ):
        return _fail(field, FieldCode.EMAIL_DOMAIN, label=label, domain=domain[:80])
    return _ok(f"{local}@{domain}")


@cache
def _countries() -> dict[str, str]:
    return {country.alpha_2: country.name for country in pycountry.countries}


def country_name(code: str) -> str | None:
    """The English short name of an ISO 3166-1 alpha-2 code, or None when the code is unknown."""
    return _countries().get(code.strip().upper())


def country_choices() -> tuple[tuple[str, str], ...]:
    """Every (code, name) pair, sorted by name, for a country picker."""
    return tuple(sorted(_countries().items(), key=lambda item: item[1]))


def validate_usage_location(
    value: str | None, *, field: str = "usage_location", label: str = "Usage location"
) -> Checked[str]:
    """An ISO 3166-1 alpha-2 country code (Graph needs it before any license can be assigned); upper-cased."""
    if value is None or not value.strip():
        return _fail(field, FieldCode.REQUIRED, label=label)
    code = value.strip().upper()
    if len(code) != 2 or not code.isascii() or country_name(code) is None:
        return _fail(field, FieldCode.COUNTRY_UNKNOWN, label=label, value=value.strip()[:20])
    return _ok(code)


@dataclass(frozen=True)
class AccessPolicy:
    """How long a service account may live: the wizard's default and the hard maximum, in days from today."""

    default_days: int = 30
    max_days: int = 90

    def __post_init__(self) -> None:
        if not 1 <= self.default_days <= self.max_days:
            raise ValueError(
                f"access days: need 1 <= default ({self.default_days}) <= maximum ({self.max_days})"
            )

    def default_end_date(self, today: date) -> date:
        """The end date the wizard proposes."""
        return today + timedelta(days=self.default_days)

    def max_end_date(self, today: date) -> date:
        """The latest end date a request may have."""
        return today + timedelta(days=self.max_days)


def validate_end_date(
    value: str | date | None,
    *,
    today: date,
    policy: AccessPolicy,
    field: str = "end_date",
    label: str = "Access end date",
) -> Checked[date]:
    """An ISO date (``YYYY-MM-DD``, as a card's date input sends it), from today to the configured maximum."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return _fail(field, FieldCode.REQUIRED, label=label)
    if isinstance(value, date):
        parsed = value
    else:
        text = value.strip()
        if not _ISO_DATE.fullmatch(text):
            return _fail(field, FieldCode.DATE_FORMAT, label=label)
        try:
            parsed = date.fromisoformat(text)
        except ValueError:
            return _fail(field, FieldCode.DATE_FORMAT, label=label)
    if parsed < today:
        return _fail(field, FieldCode.DATE_IN_PAST, label=label, today=today.isoformat())
    latest = policy.max_end_date(today)
    if parsed > latest:
        return _fail(
            field, FieldCode.DATE_TOO_FAR, label=label, max_days=policy.max_days, max_date=latest.isoformat()
        )
    return _ok(parsed)


def validate_comment(
    value: str | None,
    *,
    field: str,
    label: str,
    max_length: int = MAX_DECISION_COMMENT_LENGTH,
    required: bool = False,
) -> Checked[str]:
    """Free text such as a rejection reason: trimmed, line breaks kept, other control characters refused.

    An empty optional comment is valid and comes back as ``""``.
    """
    text = (value or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        return _fail(field, FieldCode.REQUIRED, label=label) if required else _ok("")
    if any(_is_control(c) and c not in "\n\t" for c in text):
        return _fail(field, FieldCode.CONTROL_CHARACTERS, label=label)
    if len(text) > max_length:
        return _fail(field, FieldCode.TOO_LONG, label=label, max=max_length, length=len(text))
    return _ok(text)


def validate_object_id(value: str | None, *, field: str, label: str) -> Checked[str]:
    """A Microsoft Entra object id (GUID), lower-cased."""
    if value is None or not value.strip():
        return _fail(field, FieldCode.REQUIRED, label=label)
    text = value.strip()
    if not _GUID.fullmatch(text):
        return _fail(field, FieldCode.OBJECT_ID_FORMAT, label=label)
    return _ok(text.lower())


def validate_license_profile(
    value: str | None,
    *,
    known: Collection[str],
    field: str = "license_profile",
    label: str = "License profile",
) -> Checked[str]:
    """One of the configured license profile keys."""
    if value is None or not value.strip():
        return _fail(field, FieldCode.REQUIRED, label=label)
    key = value.strip()
    if key not in known:
        return _fail(field, FieldCode.LICENSE_PROFILE_UNKNOWN, label=label, known=", ".join(sorted(known)))
    return _ok(key)


class ContractorInput(DomainModel):
    """The contractor step exactly as typed (every field may be missing: a card sends what it has)."""

    vendor_company: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    usage_location: str | None = None


class ValidatedContractor(DomainModel):
    """The contractor step after every rule passed, with cleaned values."""

    vendor_company: str
    first_name: str
    last_name: str
    email: str
    usage_location: str

    @property
    def country(self) -> str:
        """The usage location's country name, for review cards."""
        return country_name(self.usage_location) or self.usage_location


def validate_contractor(data: ContractorInput) -> Checked[ValidatedContractor]:
    """Validate the contractor step; every field's errors are collected, in the card's field order."""
    company = validate_company(data.vendor_company)
    first = validate_name(data.first_name, field="first_name", label="First name")
    last = validate_name(data.last_name, field="last_name", label="Last name")
    email = validate_email(data.email)
    location = validate_usage_location(data.usage_location)
    errors = company.errors + first.errors + last.errors + email.errors + location.errors
    if errors:
        return Checked(None, errors)
    # Each validator returns a value exactly when it returns no errors.
    assert company.value is not None
    assert first.value is not None
    assert last.value is not None
    assert email.value is not None
    assert location.value is not None
    return _ok(
        ValidatedContractor(
            vendor_company=company.value,
            first_name=first.value,
            last_name=last.value,
            email=email.value,
            usage_location=location.value,
        )
    )


class AccessInput(DomainModel):
    """The access step as typed: license profile key, end date (ISO text), optional sponsor object id."""

    license_profile: str | None = None
    end_date: str | None = None
    sponsor_aad_object_id: str | None = None


class ValidatedAccess(DomainModel):
    """The access step after every rule passed. ``sponsor_aad_object_id`` None means "the requester"."""

    license_profile: str
    end_date: date
    sponsor_aad_object_id: str | None = None


def validate_access(
    data: AccessInput, *, today: date, policy: AccessPolicy, profile_keys: Collection[str]
) -> Checked[ValidatedAccess]:
    """Validate the access step; every field's errors are collected."""
    profile = validate_license_profile(data.license_profile, known=profile_keys)
    end = validate_end_date(data.end_date, today=today, policy=policy)
    sponsor: Checked[str] = _ok("")
    if data.sponsor_aad_object_id is not None and data.sponsor_aad_object_id.strip():
        sponsor = validate_object_id(data.sponsor_aad_object_id, field="sponsor", label="Sponsor")
    errors = profile.errors + end.errors + sponsor.errors
    if errors:
        return Checked(None, errors)
    assert profile.value is not None
    assert end.value is not None
    return _ok(
        ValidatedAccess(
            license_profile=profile.value, end_date=end.value, sponsor_aad_object_id=sponsor.value or None
        )
    )
