"""The catalogue of user-facing texts, keyed by the stable codes in :mod:`onboarding.errors`.

Users see ``user_message(error, correlation_id)``: catalogue text filled with the error's ``params`` plus the
correlation id, never ``str(error)`` or a stack trace. Field and catalog-rule messages come from the same
catalogue through :func:`render`, so every sentence a person reads lives in this one file.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from types import MappingProxyType

from onboarding.errors import ErrorCode, FieldCode, IssueCode, OnboardingError

Code = ErrorCode | FieldCode | IssueCode

_ADMIN = "Ask a bot administrator to fix the onboarding configuration."

_TEXTS: dict[Code, str] = {
    # Errors (raised by the domain, shown to the person who acted).
    ErrorCode.ILLEGAL_TRANSITION: "{request_id} is {current}, so it can't {action} now.",
    ErrorCode.SELF_APPROVAL: "You requested {request_id}, so someone else has to {action} it.",
    ErrorCode.INVALID_REQUEST_ID: "“{text}” isn't a request id. Request ids look like VND-000042.",
    ErrorCode.INPUT_INVALID: "Some fields need attention: {fields}.",
    ErrorCode.INVALID_NAMING_TEMPLATE: "The account naming template isn't usable ({reason}). " + _ADMIN,
    ErrorCode.INVALID_DOMAIN: "The account domain {domain} isn't usable ({reason}). " + _ADMIN,
    ErrorCode.UNUSABLE_NAME: (
        "The {field} “{value}” has no letters or digits that can be used in an account name. "
        "Enter it as written on the contractor's ID, in any alphabet."
    ),
    ErrorCode.NO_FREE_UPN: (
        "Every account name from {base_upn} to {last_tried} is already taken. "
        "Offboard unused service accounts or ask a bot administrator to change the naming template."
    ),
    ErrorCode.UNKNOWN_LICENSE_PROFILE: (
        "The license profile “{profile}” isn't configured. Choose one of: {known}."
    ),
    ErrorCode.NO_FREE_SEATS: (
        "Not enough licenses: {shortages}. Ask your license administrator to free or buy seats, then retry."
    ),
    ErrorCode.CONFIG_INVALID: (
        "The bot's configuration {source} has problems a bot administrator must fix: {problems}"
    ),
    ErrorCode.UNKNOWN_SEGMENT: "There is no information-barrier segment called “{segment}”.",
    ErrorCode.SEGMENT_NOT_PLACEABLE: "Contractors can't be placed in the segment “{segment}”: {reason}.",
    ErrorCode.CATALOG_NOT_USABLE: (
        "The information-barrier segment catalog has {count} error(s), so onboarding into a segment is "
        "paused. "
        "A bot administrator can see them with the barriers command."
    ),
    # Deliberately vague: the key that was refused is for the log, not for the person who clicked.
    ErrorCode.AUDIT_DETAIL_REFUSED: "Something went wrong while recording this action.",
    # Input rules (shown inline under the field).
    FieldCode.REQUIRED: "{label} is required.",
    FieldCode.TOO_LONG: "{label} can be at most {max} characters (it has {length}).",
    FieldCode.CONTROL_CHARACTERS: (
        "{label} contains invisible control or formatting characters; please retype it."
    ),
    FieldCode.MARKUP: "{label} can't contain < or >.",
    FieldCode.NAME_CHARACTERS: (
        "{label} can contain only letters, spaces, hyphens and apostrophes (not {chars})."
    ),
    FieldCode.NAME_NO_LETTER: "{label} needs at least one letter.",
    FieldCode.EMAIL_FORMAT: "{label} isn't a valid email address (expected something like name@company.com).",
    FieldCode.EMAIL_NOT_ASCII: (
        "{label} can't contain accented or non-Latin characters: Microsoft Entra ID stores contact "
        "addresses in "
        "plain ASCII."
    ),
    FieldCode.EMAIL_TOO_LONG: "{label} can be at most {max} characters (it has {length}).",
    FieldCode.EMAIL_LOCAL_TOO_LONG: "The part before @ in {label} can be at most 64 characters.",
    FieldCode.EMAIL_DOMAIN: "“{domain}” in {label} isn't a valid internet domain.",
    FieldCode.COUNTRY_UNKNOWN: (
        "“{value}” isn't a country code; use the two-letter ISO code, e.g. US, DE or JP."
    ),
    FieldCode.DATE_FORMAT: "{label} must be a date such as 2030-03-31.",
    FieldCode.DATE_IN_PAST: "{label} can't be in the past (today is {today}).",
    FieldCode.DATE_TOO_FAR: "{label} can be at most {max_days} days ahead, so on or before {max_date}.",
    FieldCode.LICENSE_PROFILE_UNKNOWN: "Choose one of the license profiles: {known}.",
    FieldCode.OBJECT_ID_FORMAT: "{label} must be a Microsoft Entra object id (a GUID).",
    # Segment catalog rules (shown to administrators by `barriers`).
    IssueCode.SEGMENT_NAME_EMPTY: "Segment #{index} has no name.",
    IssueCode.SEGMENT_NAME_TOO_LONG: (
        "Segment “{segment}” has a {length}-character name; information barriers allow at most 64."
    ),
    IssueCode.SEGMENT_DUPLICATE: (
        "Segment “{segment}” is defined {count} times; segment names must be unique."
    ),
    IssueCode.NOT_QUOTABLE: (
        "{what} “{value}” contains {problem}, which cannot be written safely in the PowerShell script. "
        "Use plain characters (a straight apostrophe ' is fine)."
    ),
    IssueCode.ATTRIBUTE_UNSUPPORTED: (
        "Segment “{segment}” filters on “{attribute}”, which information barriers don't support. "
        "Supported: {supported}."
    ),
    IssueCode.ATTRIBUTE_NOT_SETTABLE: (
        "Vendor segment “{segment}” filters on {attribute}, which the bot cannot set on a new account "
        "({reason}). "
        "Use Department, Company, UsageLocation, Co, ExtensionAttribute1–15, PostalCode, StreetAddress, "
        "PhysicalDeliveryOfficeName or MemberOf."
    ),
    IssueCode.VENDOR_SEGMENT_NOT_EQUALS: (
        "Vendor segment “{segment}” uses -ne; the bot can only place accounts in a segment defined with -eq."
    ),
    IssueCode.VALUE_EMPTY: "Segment “{segment}” has an empty filter value.",
    IssueCode.VALUE_TOO_LONG: (
        "Segment “{segment}”: the value for {attribute} has {length} characters; Microsoft Graph accepts "
        "at most {max}."
    ),
    IssueCode.USAGE_LOCATION_VALUE: (
        "Segment “{segment}” filters on UsageLocation “{value}”, which isn't a two-letter ISO country code."
    ),
    IssueCode.GROUP_ID_MISSING: (
        "Vendor segment “{segment}” filters on MemberOf but has no group_id: set group_id to the object "
        "id of "
        "the group “{value}” so the bot can add accounts to it."
    ),
    IssueCode.GROUP_ID_FORMAT: "Segment “{segment}”: group_id “{group_id}” isn't a group object id (a GUID).",
    IssueCode.GROUP_ID_UNEXPECTED: (
        "Segment “{segment}” has a group_id but filters on {attribute}; group_id is only used with MemberOf."
    ),
    IssueCode.GROUP_KIND: (
        "Segment “{segment}” uses group membership: information barriers only honour Microsoft 365 "
        "groups, so make "
        "sure “{value}” is one (security groups and distribution lists are ignored)."
    ),
    IssueCode.FILTER_DUPLICATE: (
        "Segments {segments} have the same filter ({filter}), so every account in one is in all of "
        "them{consequence}."
    ),
    IssueCode.MIXED_ATTRIBUTES: (
        "Segments filter on different attributes ({attributes}). Microsoft recommends one attribute for "
        "all segments "
        "in legacy mode; make sure no user matches two segments."
    ),
    IssueCode.OVERRIDES_WIZARD_VALUE: (
        "Segment “{segment}” filters on {attribute}: accounts placed in it get {property} = “{value}”, "
        "replacing "
        "the {wizard_field} entered in the wizard."
    ),
    IssueCode.TOO_MANY_SEGMENTS: "The catalog defines {count} segments; {mode} mode allows at most {max}.",
    IssueCode.NO_VENDOR_SEGMENTS: (
        "The catalog has no vendor segment, so contractors can only be onboarded without information "
        "barriers."
    ),
    IssueCode.VENDOR_SEGMENT_WITHOUT_POLICY: (
        "Vendor segment “{segment}” has no policy: accounts placed in it can still find and contact everyone "
        "who isn't blocked from them."
    ),
    IssueCode.POLICY_NAME_TOO_LONG: (
        'Policy “{policy}” has a {length}-character name; at most 64 are allowed. Set a shorter name = "...".'
    ),
    IssueCode.POLICY_DUPLICATE_NAME: (
        "Policy name “{policy}” is used {count} times; policy names must be unique."
    ),
    IssueCode.POLICY_UNKNOWN_SEGMENT: (
        "Policy “{policy}” is for segment “{segment}”, which isn't defined.{hint}"
    ),
    IssueCode.POLICY_UNKNOWN_TARGET: (
        "Policy “{policy}” {verb} segment “{target}”, which isn't defined.{hint}"
    ),
    IssueCode.POLICY_PER_SEGMENT: (
        "Segment “{segment}” has {count} policies ({policies}); information barriers allow one policy per "
        "segment. "
        "Merge them into one."
    ),
    IssueCode.POLICY_BOTH_LISTS: (
        "Policy “{policy}” both allows and blocks segments; a policy can do one or the other. Keep either "
        "allows or blocks."
    ),
    IssueCode.POLICY_NO_LIST: "Policy “{policy}” lists no segments to allow or block.",
    IssueCode.POLICY_DUPLICATE_TARGET: "Policy “{policy}” lists segment “{target}” more than once.",
    IssueCode.BLOCKS_ITSELF: (
        "Policy “{policy}” blocks its own segment “{segment}”; its members could not talk to each other."
    ),
    IssueCode.ALLOW_WITHOUT_SELF: (
        "Policy “{policy}” allows {targets} but not its own segment “{segment}”, so members of “{segment}” "
        "won't be able to reach each other. Add “{segment}” to allows if that isn't intended."
    ),
    IssueCode.BLOCK_IN_MULTI_SEGMENT: (
        "Policy “{policy}” blocks segments, but in multi-segment mode every policy must be an allow list. "
        "Rewrite it as allows = [the segments “{segment}” may reach, including itself]."
    ),
    IssueCode.BLOCK_NOT_RECIPROCATED: (
        "Policy “{policy}” blocks “{target}”, but nothing blocks “{target}” from “{segment}”: information "
        "barriers "
        "need blocks defined both ways. {fix}"
    ),
    IssueCode.BLOCK_CONTRADICTED: (
        "Policy “{policy}” blocks “{target}”, but policy “{other_policy}” allows “{target}” to reach "
        "“{segment}”. "
        "Remove “{segment}” from the allows of “{other_policy}”."
    ),
}

#: Read-only view of the catalogue (tests walk it; nothing may change it at run time).
CATALOGUE: Mapping[Code, str] = MappingProxyType(_TEXTS)


def placeholders(code: Code) -> frozenset[str]:
    """The parameter names the text for ``code`` expects."""
    return frozenset(name for _, name, _, _ in string.Formatter().parse(CATALOGUE[code]) if name)


def render(code: Code, **params: object) -> str:
    """The catalogue text for ``code`` filled with ``params``; a missing parameter is a programming error."""
    return CATALOGUE[code].format(**params)


def user_message(error: OnboardingError, correlation_id: str | None = None) -> str:
    """What a person sees for ``error``: catalogue text, and the correlation id support can search for."""
    text = render(error.code, **error.params)
    if correlation_id:
        text += f" (Reference: {correlation_id})"
    return text
