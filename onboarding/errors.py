"""The domain's error tree and every stable code the domain emits.

Callers catch by type; users see the catalogue text for ``error.code`` (see :mod:`onboarding.messages`)
plus a correlation id, never ``str(error)``. ``str(error)`` is a precise, admin-oriented sentence for logs;
it never contains a secret.

::

    OnboardingError                      code
    ├── IllegalTransition                request.illegal_transition
    ├── SelfApprovalRefused              request.self_approval
    ├── InvalidRequestId                 request.invalid_id
    ├── ValidationFailed                 input.invalid            (carries FieldError items)
    ├── NamingError
    │   ├── InvalidNamingTemplate        naming.invalid_template
    │   ├── InvalidDomain                naming.invalid_domain
    │   ├── UnusableName                 naming.unusable_name
    │   └── NoFreeUpn                    naming.no_free_upn
    ├── LicensingError
    │   ├── UnknownLicenseProfile        licensing.unknown_profile
    │   └── NoFreeSeats                  licensing.no_free_seats  (carries the shortage lines)
    ├── ConfigurationError               config.invalid           (carries the problems, with locations)
    ├── SegmentError
    │   ├── UnknownSegment               segments.unknown
    │   ├── SegmentNotPlaceable          segments.not_placeable
    │   └── CatalogNotUsable             segments.catalog_invalid (carries the catalog's errors)
    └── SecretInAuditDetail              audit.secret_detail

Three more code families live here so that :mod:`onboarding.messages` can key its catalogue on them
without import cycles: :class:`FieldCode` (one per input rule), :class:`IssueCode` (one per segment catalog
rule) and :class:`ErrorCode` (one per exception class above).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:  # validation imports this module at run time; the type is only needed for checking
    from onboarding.validation import FieldError


class ErrorCode(StrEnum):
    """Stable codes of the exceptions in this module."""

    ILLEGAL_TRANSITION = "request.illegal_transition"
    SELF_APPROVAL = "request.self_approval"
    INVALID_REQUEST_ID = "request.invalid_id"
    INPUT_INVALID = "input.invalid"
    INVALID_NAMING_TEMPLATE = "naming.invalid_template"
    INVALID_DOMAIN = "naming.invalid_domain"
    UNUSABLE_NAME = "naming.unusable_name"
    NO_FREE_UPN = "naming.no_free_upn"
    UNKNOWN_LICENSE_PROFILE = "licensing.unknown_profile"
    NO_FREE_SEATS = "licensing.no_free_seats"
    CONFIG_INVALID = "config.invalid"
    UNKNOWN_SEGMENT = "segments.unknown"
    SEGMENT_NOT_PLACEABLE = "segments.not_placeable"
    CATALOG_NOT_USABLE = "segments.catalog_invalid"
    AUDIT_DETAIL_REFUSED = "audit.secret_detail"


class FieldCode(StrEnum):
    """Stable codes of the input rules in :mod:`onboarding.validation` (one per way a field can be wrong)."""

    REQUIRED = "field.required"
    TOO_LONG = "field.too_long"
    CONTROL_CHARACTERS = "field.control_characters"
    MARKUP = "field.markup"
    NAME_CHARACTERS = "name.invalid_characters"
    NAME_NO_LETTER = "name.no_letter"
    EMAIL_FORMAT = "email.format"
    EMAIL_NOT_ASCII = "email.not_ascii"
    EMAIL_TOO_LONG = "email.too_long"
    EMAIL_LOCAL_TOO_LONG = "email.local_part_too_long"
    EMAIL_DOMAIN = "email.domain"
    COUNTRY_UNKNOWN = "country.unknown"
    DATE_FORMAT = "date.format"
    DATE_IN_PAST = "date.in_past"
    DATE_TOO_FAR = "date.too_far"
    LICENSE_PROFILE_UNKNOWN = "license_profile.unknown"
    OBJECT_ID_FORMAT = "object_id.format"


class IssueCode(StrEnum):
    """Stable codes of the information-barrier catalog rules in :mod:`onboarding.segments`."""

    SEGMENT_NAME_EMPTY = "catalog.segment_name_empty"
    SEGMENT_NAME_TOO_LONG = "catalog.segment_name_too_long"
    SEGMENT_DUPLICATE = "catalog.segment_duplicate"
    NOT_QUOTABLE = "catalog.not_quotable"
    ATTRIBUTE_UNSUPPORTED = "catalog.attribute_unsupported"
    ATTRIBUTE_NOT_SETTABLE = "catalog.attribute_not_settable"
    VENDOR_SEGMENT_NOT_EQUALS = "catalog.vendor_segment_not_equals"
    VALUE_EMPTY = "catalog.value_empty"
    VALUE_TOO_LONG = "catalog.value_too_long"
    USAGE_LOCATION_VALUE = "catalog.usage_location_value"
    GROUP_ID_MISSING = "catalog.group_id_missing"
    GROUP_ID_FORMAT = "catalog.group_id_format"
    GROUP_ID_UNEXPECTED = "catalog.group_id_unexpected"
    GROUP_KIND = "catalog.group_kind"
    FILTER_DUPLICATE = "catalog.filter_duplicate"
    MIXED_ATTRIBUTES = "catalog.mixed_attributes"
    OVERRIDES_WIZARD_VALUE = "catalog.overrides_wizard_value"
    TOO_MANY_SEGMENTS = "catalog.too_many_segments"
    NO_VENDOR_SEGMENTS = "catalog.no_vendor_segments"
    VENDOR_SEGMENT_WITHOUT_POLICY = "catalog.vendor_segment_without_policy"
    POLICY_NAME_TOO_LONG = "catalog.policy_name_too_long"
    POLICY_DUPLICATE_NAME = "catalog.policy_duplicate_name"
    POLICY_UNKNOWN_SEGMENT = "catalog.policy_unknown_segment"
    POLICY_UNKNOWN_TARGET = "catalog.policy_unknown_target"
    POLICY_PER_SEGMENT = "catalog.policy_per_segment"
    POLICY_BOTH_LISTS = "catalog.policy_both_lists"
    POLICY_NO_LIST = "catalog.policy_no_list"
    POLICY_DUPLICATE_TARGET = "catalog.policy_duplicate_target"
    BLOCKS_ITSELF = "catalog.blocks_itself"
    ALLOW_WITHOUT_SELF = "catalog.allow_without_self"
    BLOCK_IN_MULTI_SEGMENT = "catalog.block_in_multi_segment"
    BLOCK_NOT_RECIPROCATED = "catalog.block_not_reciprocated"
    BLOCK_CONTRADICTED = "catalog.block_contradicted"


class OnboardingError(Exception):
    """Base of every error the domain raises. ``code`` is stable; ``params`` fill the catalogue text."""

    code: ClassVar[ErrorCode]

    def __init__(self, detail: str, **params: str) -> None:
        super().__init__(detail)
        self.detail = detail
        #: Values safe to show users (names, states, counts as text); the catalogue text uses them.
        self.params: Mapping[str, str] = dict(params)


class IllegalTransition(OnboardingError):
    """A request was asked to move where its state machine does not allow."""

    code = ErrorCode.ILLEGAL_TRANSITION

    def __init__(self, request_id: str, current: str, action: str, target: str) -> None:
        super().__init__(
            f"{request_id} is {current}; it cannot {action} (that would move it to {target})",
            request_id=request_id,
            current=current,
            action=action,
            target=target,
        )
        self.request_id = request_id
        self.current = current
        self.action = action
        self.target = target


class SelfApprovalRefused(OnboardingError):
    """Separation of duties: the requester may not approve or reject their own request."""

    code = ErrorCode.SELF_APPROVAL

    def __init__(self, request_id: str, action: str) -> None:
        super().__init__(
            f"{request_id}: the requester cannot {action} their own request",
            request_id=request_id,
            action=action,
        )
        self.request_id = request_id
        self.action = action


class InvalidRequestId(OnboardingError):
    """A text that should be a request id (``VND-000042``) is not one."""

    code = ErrorCode.INVALID_REQUEST_ID

    def __init__(self, text: str) -> None:
        shown = text if len(text) <= 40 else text[:37] + "..."
        super().__init__(f"not a request id: {shown!r} (expected VND- and six digits)", text=shown)


class ValidationFailed(OnboardingError):
    """One or more inputs break a rule; ``errors`` holds every one, so a card can show them all at once."""

    code = ErrorCode.INPUT_INVALID

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors: tuple[FieldError, ...] = tuple(errors)
        fields = ", ".join(sorted({e.field for e in self.errors}))
        super().__init__(f"invalid input in: {fields}", fields=fields)


class NamingError(OnboardingError):
    """The account name cannot be planned."""


class InvalidNamingTemplate(NamingError):
    """The configured UPN or display-name template is not usable."""

    code = ErrorCode.INVALID_NAMING_TEMPLATE

    def __init__(self, template: str, reason: str) -> None:
        super().__init__(
            f"naming template {template!r} is not usable: {reason}", template=template, reason=reason
        )


class InvalidDomain(NamingError):
    """The configured UPN domain is not a syntactically valid domain name."""

    code = ErrorCode.INVALID_DOMAIN

    def __init__(self, domain: str, reason: str) -> None:
        super().__init__(f"UPN domain {domain!r} is not usable: {reason}", domain=domain, reason=reason)


class UnusableName(NamingError):
    """A name part leaves nothing usable in an account name (e.g. it is only emoji or punctuation)."""

    code = ErrorCode.UNUSABLE_NAME

    def __init__(self, field: str, value: str) -> None:
        shown = value if len(value) <= 40 else value[:37] + "..."
        super().__init__(
            f"the {field} {shown!r} has no letters or digits that can be written in an account name",
            field=field,
            value=shown,
        )
        self.field = field


class NoFreeUpn(NamingError):
    """Every candidate UPN (base, base2, ... baseN) is already taken."""

    code = ErrorCode.NO_FREE_UPN

    def __init__(self, base_upn: str, last_tried: str) -> None:
        super().__init__(
            f"every account name from {base_upn} to {last_tried} is already taken",
            base_upn=base_upn,
            last_tried=last_tried,
        )


class LicensingError(OnboardingError):
    """Licenses cannot be decided."""


class UnknownLicenseProfile(LicensingError):
    """A request names a license profile that is not configured."""

    code = ErrorCode.UNKNOWN_LICENSE_PROFILE

    def __init__(self, key: str, known: Sequence[str]) -> None:
        super().__init__(
            f"unknown license profile {key!r}; configured: {', '.join(known) or 'none'}",
            profile=key,
            known=", ".join(known),
        )


class NoFreeSeats(LicensingError):
    """The tenant has no free seat for a license the request needs; ``shortages`` says which, precisely."""

    code = ErrorCode.NO_FREE_SEATS

    def __init__(self, shortages: Sequence[str]) -> None:
        self.shortages = tuple(shortages)
        text = "; ".join(self.shortages)
        super().__init__(text, shortages=text)


class ConfigurationError(OnboardingError):
    """A configuration file (onboarding settings, segment catalog) cannot be read or has the wrong shape."""

    code = ErrorCode.CONFIG_INVALID

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        joined = "\n  ".join(self.problems)
        super().__init__(
            f"{source} is not valid:\n  {joined}", source=source, problems="; ".join(self.problems)
        )


class SegmentError(OnboardingError):
    """An information-barrier segment cannot be used as asked."""


class UnknownSegment(SegmentError):
    """A segment name is not in the catalog."""

    code = ErrorCode.UNKNOWN_SEGMENT

    def __init__(self, name: str) -> None:
        super().__init__(f"segment {name!r} is not in the catalog", segment=name)


class SegmentNotPlaceable(SegmentError):
    """The bot cannot put an account into this segment (internal, unsettable attribute, -ne filter)."""

    code = ErrorCode.SEGMENT_NOT_PLACEABLE

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(
            f"the bot cannot place accounts in segment {name!r}: {reason}", segment=name, reason=reason
        )


class CatalogNotUsable(SegmentError):
    """The segment catalog has errors; onboarding into a segment and script generation are refused."""

    code = ErrorCode.CATALOG_NOT_USABLE

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = tuple(errors)
        super().__init__(
            f"the segment catalog has {len(self.errors)} error(s): " + "; ".join(self.errors),
            count=str(len(self.errors)),
        )


class SecretInAuditDetail(OnboardingError):
    """An audit detail was given a key or value that looks like a secret; it is refused, not redacted."""

    code = ErrorCode.AUDIT_DETAIL_REFUSED

    def __init__(self, key: str) -> None:
        # Only the key is named: the value may be the secret itself.
        super().__init__(f"audit detail {key!r} looks like a secret and is refused", key=key)
