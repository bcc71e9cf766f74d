"""The information-barrier segment catalog: what segments exist, how accounts are placed in them, which
policies connect them, whether the catalog obeys IB's rules, and the PowerShell that creates it all.

Microsoft Graph has no API for information barriers, so the bot does two things with the catalog: it
*places* a new account in a vendor segment by setting the attribute (or group membership) the segment
filters on, and it *writes* the Security & Compliance PowerShell an administrator runs to create the
segments and policies.

Catalog file format (TOML, ``version = 1``; see ``config/segments.example.toml``)::

    version = 1
    mode = "legacy"            # "legacy" (250 segments, 1 per user), "single-segment" (5,000, 1 per user)
                               # or "multi-segment" (5,000, up to 10 per user, allow policies only)

    [[segments]]
    name = "Vendor - Contoso"  # <= 64 characters; the IB segment name
    kind = "vendor"            # "vendor": the bot may place contractors here; "internal": employees
    attribute = "ExtensionAttribute1"   # an IB filter attribute (Entra or Exchange name)
    value = "Vendor-Contoso"   # the value the filter compares with (and the bot writes)
    operator = "eq"            # optional; "ne" is allowed for internal segments only
    # group_id = "..."         # MemberOf segments: the object id of the group the bot adds accounts to;
                               # value is then the group as IB knows it (its name or mail address)
    description = "..."        # optional, for people

    [[policies]]
    segment = "Vendor - Contoso"          # the policy's assigned segment (one policy per segment)
    blocks = ["Vendor - Fabrikam"]        # either blocks ...
    # allows = ["Vendor - Contoso", "Field Engineering"]   # ... or allows, never both
    # name = "Contoso policy"             # optional; default "<segment> policy", <= 64 characters

Rules checked by :func:`validate_catalog` (each with a message an administrator can act on), taken from
Microsoft Purview's information-barrier documentation: one policy per segment; a policy allows or blocks,
never both; blocks must be defined in both directions; multi-segment mode accepts allow policies only;
segment limits per mode; names and values that can be quoted safely; vendor segments filter with ``-eq`` on
an attribute the bot can set; no unknown segment references.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import unicodedata
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from onboarding._model import DomainModel
from onboarding.errors import (
    CatalogNotUsable,
    ConfigurationError,
    IssueCode,
    SegmentNotPlaceable,
    UnknownSegment,
)
from onboarding.messages import render
from onboarding.validation import country_name

CATALOG_VERSION = 1
MAX_NAME_LENGTH = 64
#: The app whose consent lets information barriers manage Microsoft Teams (Purview documentation).
TEAMS_IB_APP_ID = "bcf62038-e005-436d-b970-2a472f8c1982"

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# PowerShell treats these as single quotes too; inside a single-quoted string they would end it.
_TYPOGRAPHIC_SINGLE_QUOTES = frozenset("\u2018\u2019\u201a\u201b")


class IbMode(StrEnum):
    """The tenant's information-barrier mode (``Get-PolicyConfig`` shows ``InformationBarrierMode``)."""

    LEGACY = "legacy"
    SINGLE_SEGMENT = "single-segment"
    MULTI_SEGMENT = "multi-segment"


@dataclass(frozen=True)
class ModeLimits:
    """What a mode allows."""

    max_segments: int
    max_segments_per_user: int
    block_policies: bool


MODE_LIMITS: Mapping[IbMode, ModeLimits] = MappingProxyType(
    {
        IbMode.LEGACY: ModeLimits(max_segments=250, max_segments_per_user=1, block_policies=True),
        IbMode.SINGLE_SEGMENT: ModeLimits(max_segments=5000, max_segments_per_user=1, block_policies=True),
        IbMode.MULTI_SEGMENT: ModeLimits(max_segments=5000, max_segments_per_user=10, block_policies=False),
    }
)


class SegmentKind(StrEnum):
    """Vendor segments receive contractors' service accounts; internal segments describe employees."""

    VENDOR = "vendor"
    INTERNAL = "internal"


class Severity(StrEnum):
    """Errors make the catalog unusable; warnings are shown but do not block."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class AttributeSpec:
    """One attribute information barriers can filter on, and how (or whether) the bot can set it."""

    name: str
    exchange_name: str
    #: Dotted Graph user property the bot writes in the create body; None when the bot cannot set it.
    graph_property: str | None = None
    max_length: int | None = None
    not_settable_reason: str | None = None
    #: The wizard input this attribute replaces when a segment uses it.
    overrides: str | None = None

    @property
    def is_group(self) -> bool:
        """True for MemberOf: placement is a group membership, not an attribute."""
        return self.name == "MemberOf"


def _attribute_table() -> dict[str, AttributeSpec]:
    unique = "it is unique to each account, so a segment cannot share it"
    specs = [
        AttributeSpec("Co", "Co", "country", 128),
        AttributeSpec("Company", "Company", "companyName", 64, overrides="vendor company"),
        AttributeSpec("Department", "Department", "department", 64),
        *(
            AttributeSpec(
                f"ExtensionAttribute{n}",
                f"CustomAttribute{n}",
                f"onPremisesExtensionAttributes.extensionAttribute{n}",
                1024,
            )
            for n in range(1, 16)
        ),
        *(
            AttributeSpec(
                f"MSExchExtensionCustomAttribute{n}",
                f"ExtensionCustomAttribute{n}",
                not_settable_reason="it is an Exchange Online attribute that Microsoft Graph cannot write",
            )
            for n in range(1, 6)
        ),
        AttributeSpec(
            "MailNickname", "Alias", not_settable_reason="the bot derives it from each account's name"
        ),
        AttributeSpec("PhysicalDeliveryOfficeName", "Office", "officeLocation", 128),
        AttributeSpec("PostalCode", "PostalCode", "postalCode", 40),
        AttributeSpec("ProxyAddresses", "EmailAddresses", not_settable_reason=unique),
        AttributeSpec("StreetAddress", "StreetAddress", "streetAddress", 1024),
        AttributeSpec(
            "TargetAddress", "ExternalEmailAddress", not_settable_reason="Exchange Online manages it"
        ),
        AttributeSpec("UsageLocation", "UsageLocation", "usageLocation", 2, overrides="usage location"),
        AttributeSpec("UserPrincipalName", "UserPrincipalName", not_settable_reason=unique),
        AttributeSpec("Mail", "WindowsEmailAddress", not_settable_reason=unique),
        AttributeSpec(
            "Description", "Description", not_settable_reason="Microsoft Graph has no description on users"
        ),
        AttributeSpec("MemberOf", "MemberOfGroup"),
    ]
    table: dict[str, AttributeSpec] = {}
    for spec in specs:
        table[spec.name.casefold()] = spec
        table[spec.exchange_name.casefold()] = spec
    return table


#: Every attribute information barriers support, by Entra and Exchange name (case-insensitive keys).
ATTRIBUTES: Mapping[str, AttributeSpec] = MappingProxyType(_attribute_table())


def attribute_spec(name: str) -> AttributeSpec | None:
    """The attribute called ``name`` (Entra or Exchange spelling, any case); None if IB doesn't support it."""
    return ATTRIBUTES.get(name.strip().casefold())


def _supported_attribute_names() -> str:
    names = sorted(
        {spec.name for spec in ATTRIBUTES.values()}, key=lambda n: (re.sub(r"\d+$", "", n), len(n), n)
    )
    return ", ".join(names)


class Segment(DomainModel):
    """A segment: a name and one filter ``<attribute> -eq|-ne '<value>'``."""

    name: str
    kind: SegmentKind
    attribute: str
    value: str
    operator: Literal["eq", "ne"] = "eq"
    group_id: str | None = None
    description: str = ""

    @field_validator("name", "attribute", "value", "group_id")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        # Leading or trailing spaces in a TOML string are always an editing slip, never meaningful.
        return value.strip() if value is not None else None

    @property
    def spec(self) -> AttributeSpec | None:
        """The attribute's description, or None when information barriers don't support it."""
        return attribute_spec(self.attribute)

    @property
    def filter_attribute(self) -> str:
        """The attribute as written in the filter: the Entra spelling when known."""
        spec = self.spec
        return spec.name if spec is not None else self.attribute

    @property
    def user_group_filter(self) -> str:
        """The OPATH filter, e.g. ``Department -eq 'O''Brien Field Services'``."""
        return opath_filter(self.filter_attribute, self.operator, self.value)


class Policy(DomainModel):
    """An information-barrier policy for one segment: the segments it blocks, or the only ones it allows."""

    segment: str
    allows: tuple[str, ...] | None = None
    blocks: tuple[str, ...] | None = None
    name: str | None = None
    comment: str = ""

    @field_validator("segment", "name")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return value.strip() if value is not None else None

    @field_validator("allows", "blocks")
    @classmethod
    def _strip_all(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return tuple(item.strip() for item in value) if value is not None else None

    @property
    def effective_name(self) -> str:
        """The IB policy name: ``name`` when given, else ``"<segment> policy"``."""
        return self.name or f"{self.segment} policy"

    @property
    def targets(self) -> tuple[str, ...]:
        """The segments listed, whichever list is used."""
        return self.blocks if self.blocks is not None else (self.allows or ())


class SegmentCatalog(DomainModel):
    """The whole catalog file. Structure is checked when parsed; IB's rules by :func:`validate_catalog`."""

    version: Literal[1]
    mode: IbMode = IbMode.LEGACY
    segments: tuple[Segment, ...] = ()
    policies: tuple[Policy, ...] = Field(default=())

    def find(self, name: str) -> Segment | None:
        """The segment called ``name`` (IB names are case-insensitive), or None."""
        wanted = name.strip().casefold()
        return next((s for s in self.segments if s.name.casefold() == wanted), None)

    def segment(self, name: str) -> Segment:
        """The segment called ``name``, or :class:`~onboarding.errors.UnknownSegment`."""
        found = self.find(name)
        if found is None:
            raise UnknownSegment(name)
        return found

    @property
    def vendor_segments(self) -> tuple[Segment, ...]:
        """Segments contractors can be onboarded into, in catalog order."""
        return tuple(s for s in self.segments if s.kind is SegmentKind.VENDOR)

    def policies_for(self, segment_name: str) -> tuple[Policy, ...]:
        """Every policy assigned to ``segment_name`` (a valid catalog has at most one)."""
        wanted = segment_name.casefold()
        return tuple(p for p in self.policies if p.segment.casefold() == wanted)


# --------------------------------------------------------------------------------------------- loading


def _location(raw: Mapping[str, Any], loc: Sequence[int | str]) -> str:
    """ "segments #2 (“Vendor - Contoso”) → kind" from a pydantic error location."""
    parts: list[str] = []
    node: Any = raw
    for i, item in enumerate(loc):
        if isinstance(item, int) and i > 0 and isinstance(loc[i - 1], str):
            label = f"{parts.pop()} #{item + 1}"
            element = node[item] if isinstance(node, list) and item < len(node) else None
            if isinstance(element, Mapping):
                name = element.get("name") or element.get("segment")
                if isinstance(name, str):
                    label += f" (“{name}”)"
            parts.append(label)
            node = element
        else:
            parts.append(str(item))
            node = node.get(item) if isinstance(node, Mapping) else None
    return " → ".join(parts)


def parse_catalog(text: str, *, source: str = "segment catalog") -> SegmentCatalog:
    """Parse catalog TOML; a syntax or shape problem raises :class:`~onboarding.errors.ConfigurationError`
    listing every problem with its place (IB rules are left to :func:`validate_catalog`)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigurationError(source, [f"not valid TOML: {err}"]) from None
    version = raw.get("version")
    if version != CATALOG_VERSION:
        found = "missing" if version is None else repr(version)
        raise ConfigurationError(
            source, [f"version: this bot reads catalog format version = {CATALOG_VERSION} (found {found})"]
        )
    try:
        return SegmentCatalog.model_validate(raw)
    except ValidationError as err:
        problems = [f"{_location(raw, e['loc'])}: {e['msg']}" for e in err.errors()]
        raise ConfigurationError(source, problems) from None


def load_catalog(path: Path) -> SegmentCatalog:
    """Read and parse the catalog file at ``path`` (UTF-8)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigurationError(str(path), [f"cannot be read: {err.strerror or err}"]) from None
    return parse_catalog(text, source=str(path))


# ------------------------------------------------------------------------------------------ validation


@dataclass(frozen=True)
class CatalogIssue:
    """One broken rule: how bad, its stable code, the sentence for the administrator, and where."""

    severity: Severity
    code: IssueCode
    message: str
    segment: str | None = None
    policy: str | None = None


@dataclass(frozen=True)
class CatalogValidation:
    """Every issue found in a catalog."""

    issues: tuple[CatalogIssue, ...]

    @property
    def errors(self) -> tuple[CatalogIssue, ...]:
        """Issues that make the catalog unusable."""
        return tuple(i for i in self.issues if i.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[CatalogIssue, ...]:
        """Issues worth reading that do not block."""
        return tuple(i for i in self.issues if i.severity is Severity.WARNING)

    @property
    def ok(self) -> bool:
        """True when there are no errors (warnings allowed)."""
        return not self.errors


def _is_invisible(char: str) -> bool:
    return char in "\r\n" or unicodedata.category(char) in {"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"}


def quoting_problem(text: str) -> str | None:
    """Why ``text`` cannot be quoted safely in the generated script, or None when it can."""
    for char in text:
        if char in "\r\n":
            return "a line break"
        if char in _TYPOGRAPHIC_SINGLE_QUOTES:
            return f"the typographic quote {char}"
        if unicodedata.category(char) in {"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"}:
            return f"an invisible control character (U+{ord(char):04X})"
    return None


def _show(text: str) -> str:
    """A value as it can appear inside a message: control characters made visible, length bounded."""
    visible = "".join(f"U+{ord(c):04X}" if _is_invisible(c) else c for c in text)
    return visible if len(visible) <= 80 else visible[:77] + "..."


def _did_you_mean(name: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f" Did you mean “{close[0]}”?" if close else ""


class _Collector:
    def __init__(self) -> None:
        self.issues: list[CatalogIssue] = []

    def add(
        self,
        severity: Severity,
        code: IssueCode,
        *,
        segment: str | None = None,
        policy: str | None = None,
        **params: object,
    ) -> None:
        # The location doubles as message parameters ({segment}, {policy}) where the text names it.
        located = {k: v for k, v in (("segment", segment), ("policy", policy)) if v is not None}
        message = render(code, **located, **params)
        self.issues.append(CatalogIssue(severity, code, message, segment=segment, policy=policy))

    def error(self, code: IssueCode, **kwargs: Any) -> None:
        self.add(Severity.ERROR, code, **kwargs)

    def warning(self, code: IssueCode, **kwargs: Any) -> None:
        self.add(Severity.WARNING, code, **kwargs)


def _check_segment(c: _Collector, index: int, seg: Segment) -> None:
    name = seg.name
    if not name:
        c.error(IssueCode.SEGMENT_NAME_EMPTY, index=index)
    elif len(name) > MAX_NAME_LENGTH:
        c.error(IssueCode.SEGMENT_NAME_TOO_LONG, segment=_show(name), length=len(name))
    if (problem := quoting_problem(name)) is not None:
        c.error(
            IssueCode.NOT_QUOTABLE,
            segment=_show(name),
            what="Segment name",
            value=_show(name),
            problem=problem,
        )
    shown = _show(name)
    if not seg.value:
        c.error(IssueCode.VALUE_EMPTY, segment=shown)
    elif (problem := quoting_problem(seg.value)) is not None:
        c.error(
            IssueCode.NOT_QUOTABLE,
            segment=shown,
            what=f"The filter value of segment “{shown}”",
            value=_show(seg.value),
            problem=problem,
        )
    spec = seg.spec
    if spec is None:
        c.error(
            IssueCode.ATTRIBUTE_UNSUPPORTED,
            segment=shown,
            attribute=_show(seg.attribute),
            supported=_supported_attribute_names(),
        )
        return
    if seg.group_id is not None:
        if not spec.is_group:
            c.error(IssueCode.GROUP_ID_UNEXPECTED, segment=shown, attribute=spec.name)
        elif not _GUID.fullmatch(seg.group_id):
            c.error(IssueCode.GROUP_ID_FORMAT, segment=shown, group_id=_show(seg.group_id))
    if spec.is_group:
        c.warning(IssueCode.GROUP_KIND, segment=shown, value=_show(seg.value))
    if (
        spec.name == "UsageLocation"
        and seg.value
        and (len(seg.value) != 2 or country_name(seg.value) is None)
    ):
        c.error(IssueCode.USAGE_LOCATION_VALUE, segment=shown, value=_show(seg.value))
    if seg.kind is not SegmentKind.VENDOR:
        return
    if seg.operator != "eq":
        c.error(IssueCode.VENDOR_SEGMENT_NOT_EQUALS, segment=shown)
    if spec.is_group:
        if seg.group_id is None:
            c.error(IssueCode.GROUP_ID_MISSING, segment=shown, value=_show(seg.value))
    elif spec.graph_property is None:
        c.error(
            IssueCode.ATTRIBUTE_NOT_SETTABLE,
            segment=shown,
            attribute=spec.name,
            reason=spec.not_settable_reason,
        )
    elif spec.max_length is not None and len(seg.value) > spec.max_length and spec.name != "UsageLocation":
        c.error(
            IssueCode.VALUE_TOO_LONG,
            segment=shown,
            attribute=spec.name,
            length=len(seg.value),
            max=spec.max_length,
        )
    if spec.overrides is not None and spec.graph_property is not None:
        c.warning(
            IssueCode.OVERRIDES_WIZARD_VALUE,
            segment=shown,
            attribute=spec.name,
            property=spec.graph_property,
            value=_show(seg.value),
            wizard_field=spec.overrides,
        )


def _check_segments(c: _Collector, catalog: SegmentCatalog) -> None:
    limits = MODE_LIMITS[catalog.mode]
    by_name: dict[str, list[Segment]] = defaultdict(list)
    by_filter: dict[tuple[str, str, str], list[Segment]] = defaultdict(list)
    for index, seg in enumerate(catalog.segments, start=1):
        _check_segment(c, index, seg)
        if seg.name:
            by_name[seg.name.casefold()].append(seg)
        by_filter[(seg.filter_attribute.casefold(), seg.operator, seg.value.casefold())].append(seg)
    for same in by_name.values():
        if len(same) > 1:
            c.error(IssueCode.SEGMENT_DUPLICATE, segment=_show(same[0].name), count=len(same))
    for (_, _, _), same in by_filter.items():
        if len(same) < 2:
            continue
        names = ", ".join(f"“{_show(s.name)}”" for s in same)
        filter_text = _show(same[0].user_group_filter)
        if limits.max_segments_per_user == 1:
            c.error(
                IssueCode.FILTER_DUPLICATE,
                segments=names,
                filter=filter_text,
                consequence=f", but {catalog.mode.value} mode allows one segment per user",
            )
        elif len(same) > limits.max_segments_per_user:
            c.error(
                IssueCode.FILTER_DUPLICATE,
                segments=names,
                filter=filter_text,
                consequence=f", but a user can be in at most {limits.max_segments_per_user} segments",
            )
        else:
            c.warning(IssueCode.FILTER_DUPLICATE, segments=names, filter=filter_text, consequence="")
    attributes = sorted({s.filter_attribute for s in catalog.segments if s.spec is not None})
    if catalog.mode is IbMode.LEGACY and len(attributes) > 1:
        c.warning(IssueCode.MIXED_ATTRIBUTES, attributes=", ".join(attributes))
    if len(catalog.segments) > limits.max_segments:
        c.error(
            IssueCode.TOO_MANY_SEGMENTS,
            count=len(catalog.segments),
            mode=catalog.mode.value,
            max=limits.max_segments,
        )
    if not catalog.vendor_segments:
        c.warning(IssueCode.NO_VENDOR_SEGMENTS)


def _check_policy(c: _Collector, policy: Policy, catalog: SegmentCatalog, names: list[str]) -> None:
    pname = _show(policy.effective_name)
    if len(policy.effective_name) > MAX_NAME_LENGTH:
        c.error(IssueCode.POLICY_NAME_TOO_LONG, policy=pname, length=len(policy.effective_name))
    if (problem := quoting_problem(policy.effective_name)) is not None:
        c.error(IssueCode.NOT_QUOTABLE, policy=pname, what="Policy name", value=pname, problem=problem)
    assigned = catalog.find(policy.segment)
    if assigned is None:
        c.error(
            IssueCode.POLICY_UNKNOWN_SEGMENT,
            policy=pname,
            segment=_show(policy.segment),
            hint=_did_you_mean(policy.segment, names),
        )
    if policy.allows is not None and policy.blocks is not None:
        c.error(IssueCode.POLICY_BOTH_LISTS, policy=pname)
        return
    if not policy.targets:
        c.error(IssueCode.POLICY_NO_LIST, policy=pname)
        return
    verb = "blocks" if policy.blocks is not None else "allows"
    seen: set[str] = set()
    for target in policy.targets:
        key = target.casefold()
        if key in seen:
            c.warning(IssueCode.POLICY_DUPLICATE_TARGET, policy=pname, target=_show(target))
        seen.add(key)
        if catalog.find(target) is None:
            c.error(
                IssueCode.POLICY_UNKNOWN_TARGET,
                policy=pname,
                verb=verb,
                target=_show(target),
                hint=_did_you_mean(target, names),
            )
    if assigned is None:
        return
    own = assigned.name.casefold()
    if policy.blocks is not None:
        if not MODE_LIMITS[catalog.mode].block_policies:
            c.error(IssueCode.BLOCK_IN_MULTI_SEGMENT, policy=pname, segment=_show(assigned.name))
        if own in seen:
            c.error(IssueCode.BLOCKS_ITSELF, policy=pname, segment=_show(assigned.name))
    elif own not in seen:
        targets = ", ".join(f"“{_show(t)}”" for t in policy.targets)
        c.warning(IssueCode.ALLOW_WITHOUT_SELF, policy=pname, segment=_show(assigned.name), targets=targets)


def _check_reciprocity(c: _Collector, catalog: SegmentCatalog) -> None:
    # IB refuses one-way blocks (AsymmetricPoliciesException): if A blocks B, B must not be able to reach A,
    # either because B's policy blocks A or because B's allow list leaves A out.
    for policy in catalog.policies:
        assigned = catalog.find(policy.segment)
        if assigned is None or policy.blocks is None or policy.allows is not None:
            continue
        for target_name in dict.fromkeys(t.casefold() for t in policy.blocks):
            target = catalog.find(target_name)
            if target is None or target is assigned:
                continue
            others = catalog.policies_for(target.name)
            if len(others) > 1:
                continue  # reported as "one policy per segment"; any advice here would be a guess
            other = others[0] if others else None
            a, b, pname = _show(assigned.name), _show(target.name), _show(policy.effective_name)
            if other is None:
                fix = f'Add a policy with segment = "{b}" and blocks = ["{a}"].'
            elif other.blocks is not None and other.allows is None:
                if any(t.casefold() == assigned.name.casefold() for t in other.blocks):
                    continue
                fix = f"Add “{a}” to the blocks of policy “{_show(other.effective_name)}”."
            elif other.allows is not None and other.blocks is None:
                if any(t.casefold() == assigned.name.casefold() for t in other.allows):
                    c.error(
                        IssueCode.BLOCK_CONTRADICTED,
                        policy=pname,
                        segment=a,
                        target=b,
                        other_policy=_show(other.effective_name),
                    )
                continue
            else:
                continue  # the other policy is malformed and already reported
            c.error(IssueCode.BLOCK_NOT_RECIPROCATED, policy=pname, segment=a, target=b, fix=fix)


def validate_catalog(catalog: SegmentCatalog) -> CatalogValidation:
    """Check ``catalog`` against information barriers' rules; errors make it unusable, warnings don't."""
    c = _Collector()
    _check_segments(c, catalog)
    names = [s.name for s in catalog.segments]
    per_segment: dict[str, list[Policy]] = defaultdict(list)
    per_name: dict[str, list[Policy]] = defaultdict(list)
    for policy in catalog.policies:
        _check_policy(c, policy, catalog, names)
        per_name[policy.effective_name.casefold()].append(policy)
        if catalog.find(policy.segment) is not None:
            per_segment[policy.segment.casefold()].append(policy)
    for same in per_name.values():
        if len(same) > 1:
            c.error(IssueCode.POLICY_DUPLICATE_NAME, policy=_show(same[0].effective_name), count=len(same))
    for key, policies in per_segment.items():
        if len(policies) > 1:
            segment = catalog.segment(key)
            listed = ", ".join(f"“{_show(p.effective_name)}”" for p in policies)
            c.error(
                IssueCode.POLICY_PER_SEGMENT,
                segment=_show(segment.name),
                count=len(policies),
                policies=listed,
            )
    for seg in catalog.vendor_segments:
        if seg.name and not catalog.policies_for(seg.name):
            c.warning(IssueCode.VENDOR_SEGMENT_WITHOUT_POLICY, segment=_show(seg.name))
    _check_reciprocity(c, catalog)
    return CatalogValidation(tuple(c.issues))


def is_usable_for_onboarding(catalog: SegmentCatalog, validation: CatalogValidation | None = None) -> bool:
    """True when contractors may be onboarded into this catalog's segments: no errors, a vendor segment."""
    checked = validation if validation is not None else validate_catalog(catalog)
    return checked.ok and bool(catalog.vendor_segments)


# ------------------------------------------------------------------------------------------- placement


@dataclass(frozen=True)
class AttributePlacement:
    """Put an account in a segment by setting a user property in the create body."""

    #: Dotted Graph user property: ``department``, ``onPremisesExtensionAttributes.extensionAttribute1``, ...
    graph_property: str
    value: str

    def graph_body(self) -> dict[str, Any]:
        """The fragment to merge into ``POST /users`` (nested for ``onPremisesExtensionAttributes``)."""
        head, _, rest = self.graph_property.partition(".")
        return {head: {rest: self.value}} if rest else {head: self.value}

    def describe(self) -> str:
        """ "department = Vendor - Contoso" for review and approval cards."""
        return f"{self.graph_property.rpartition('.')[2]} = {self.value}"


@dataclass(frozen=True)
class GroupPlacement:
    """Put an account in a segment by adding it to a group (a MemberOf segment)."""

    group_id: str
    #: The group as the segment's filter names it (display name or mail address).
    group_label: str

    def describe(self) -> str:
        """ "member of IB Vendor - Fabrikam" for review and approval cards."""
        return f"member of {self.group_label}"


Placement = AttributePlacement | GroupPlacement


def placement_for(segment: Segment) -> Placement:
    """How provisioning puts an account in ``segment``, or :class:`~onboarding.errors.SegmentNotPlaceable`."""
    if segment.kind is not SegmentKind.VENDOR:
        raise SegmentNotPlaceable(segment.name, "it is an internal segment")
    if segment.operator != "eq":
        raise SegmentNotPlaceable(
            segment.name, "its filter uses -ne, which no single value satisfies by setting it"
        )
    spec = segment.spec
    if spec is None:
        raise SegmentNotPlaceable(segment.name, f"information barriers don't support {segment.attribute!r}")
    if spec.is_group:
        if segment.group_id is None or not _GUID.fullmatch(segment.group_id):
            raise SegmentNotPlaceable(segment.name, "it has no valid group_id for the MemberOf filter")
        return GroupPlacement(group_id=segment.group_id.lower(), group_label=segment.value)
    if spec.graph_property is None:
        raise SegmentNotPlaceable(
            segment.name, spec.not_settable_reason or "the bot cannot set its attribute"
        )
    value = segment.value.upper() if spec.name == "UsageLocation" else segment.value
    return AttributePlacement(graph_property=spec.graph_property, value=value)


def require_onboarding_segment(
    catalog: SegmentCatalog, name: str, validation: CatalogValidation | None = None
) -> tuple[Segment, Placement]:
    """The vendor segment ``name`` and its placement, refusing an invalid catalog (issue 5: the bot never
    onboards into a segment from a catalog with errors)."""
    checked = validation if validation is not None else validate_catalog(catalog)
    if not checked.ok:
        raise CatalogNotUsable([issue.message for issue in checked.errors])
    segment = catalog.segment(name)
    return segment, placement_for(segment)


# ------------------------------------------------------------------------------------------ PowerShell


def ps_quote(text: str) -> str:
    """``text`` as a PowerShell single-quoted string: nothing inside is expanded; ``'`` is doubled.

    Refuses text :func:`quoting_problem` objects to (line breaks, controls, typographic single quotes, which
    PowerShell would also read as quote characters).
    """
    problem = quoting_problem(text)
    if problem is not None:
        raise ValueError(f"cannot quote text containing {problem}")
    return "'" + text.replace("'", "''") + "'"


def opath_filter(attribute: str, operator: str, value: str) -> str:
    """An OPATH comparison with the value in single quotes, its own apostrophes doubled (OPATH's escape)."""
    if operator not in {"eq", "ne"}:
        raise ValueError(f"unsupported operator {operator!r}")
    return f"{attribute} -{operator} '{value.replace(chr(39), chr(39) * 2)}'"


def _ps_list(names: Sequence[str]) -> str:
    return ",".join(ps_quote(name) for name in names)


def _segment_comment(segment: Segment) -> str:
    if segment.kind is SegmentKind.INTERNAL:
        return f"# {segment.name}: internal segment (the bot does not place accounts here)."
    try:
        placement = placement_for(segment)
    except SegmentNotPlaceable:  # pragma: no cover - a validated catalog's vendor segments are placeable
        return f"# {segment.name}: vendor segment."
    how = (
        f"adds new accounts to group {placement.group_id}"
        if isinstance(placement, GroupPlacement)
        else f"sets {placement.graph_property} on new accounts"
    )
    return f"# {segment.name}: vendor segment; the bot {how}."


def _count(n: int, singular: str, plural: str | None = None) -> str:
    if n == 1:
        return f"1 {singular}"
    word = plural if plural is not None else singular + "s"
    if plural is not None and " " in singular:
        word = singular.rsplit(" ", 1)[0] + " " + plural
    return f"{n} {word}"


def _header(catalog: SegmentCatalog, generated_at: datetime | None) -> list[str]:
    policies = len(catalog.policies)
    when = f" at {generated_at.isoformat(timespec='seconds')}" if generated_at is not None else ""
    lines = [
        "# Information barriers: segments and policies for vendor service accounts.",
        f"# Generated by the Vendor Onboarding bot from segment catalog version {catalog.version}"
        f" (mode: {catalog.mode.value}){when}.",
        "#",
        "# What it does. It is safe to run again: existing segments and policies are updated, not",
        "# duplicated, and nothing is removed.",
        f"#   1. Creates or updates {_count(len(catalog.segments), 'organization segment')}.",
        f"#   2. Creates or updates {_count(policies, 'information barrier policy', 'policies')}, inactive.",
        "#   3. Sets those policies to active.",
        "#   4. Starts policy application: allow about 30 minutes for it to begin; it processes about",
        "#      5,000 accounts per hour. Accounts are not separated until it has finished.",
        "#",
        "# Prerequisites:",
        "#   - Security & Compliance PowerShell: Install-Module ExchangeOnlineManagement, then",
        "#     Connect-IPPSSession.",
        "#   - A role that manages information barriers: Compliance Administrator, IB Compliance Management",
        "#     or Global Administrator.",
        "#   - Admin consent for information barriers in Microsoft Teams (enterprise application",
        f"#     {TEAMS_IB_APP_ID}), and scoped directory search enabled in Teams at least 24 hours ago.",
        "#   - Audit logging turned on (policy application status is read from it).",
        "#   - An IB-capable license on every account in a segment (Microsoft 365 E5, Office 365 E5, ...).",
    ]
    if catalog.mode is IbMode.MULTI_SEGMENT:
        lines += [
            "#   - Multi-segment mode enabled once, in Exchange Online PowerShell:",
            "#     Enable-ExoInformationBarrierMultiSegment (it cannot be undone).",
        ]
    lines += [
        "#",
        "# A policy cannot switch between allowing and blocking in place. If you changed a policy's type,",
        "# set the old policy inactive and remove it (Remove-InformationBarrierPolicy) before running this.",
        "",
        "$ErrorActionPreference = 'Stop'",
    ]
    return lines


def powershell_script(
    catalog: SegmentCatalog,
    *,
    validation: CatalogValidation | None = None,
    generated_at: datetime | None = None,
) -> str:
    """The idempotent Security & Compliance PowerShell that creates or updates every segment and policy,
    activates the policies and starts their application. Refuses a catalog with errors."""
    checked = validation if validation is not None else validate_catalog(catalog)
    if not checked.ok:
        raise CatalogNotUsable([issue.message for issue in checked.errors])
    lines = _header(catalog, generated_at)
    lines += ["", "# Step 1: segments."]
    for segment in catalog.segments:
        name, group_filter = ps_quote(segment.name), ps_quote(segment.user_group_filter)
        lines += [
            _segment_comment(segment),
            f"if (Get-OrganizationSegment -Identity {name} -ErrorAction SilentlyContinue) {{",
            f"    Set-OrganizationSegment -Identity {name} -UserGroupFilter {group_filter}",
            "} else {",
            f"    New-OrganizationSegment -Name {name} -UserGroupFilter {group_filter}",
            "}",
        ]
    if not catalog.policies:
        lines += [
            "",
            "# No policies in the catalog: segments alone separate nobody, so nothing is applied.",
            "",
        ]
        return "\n".join(lines)
    lines += ["", "# Step 2: policies, created or updated as inactive."]
    for policy in catalog.policies:
        segment = catalog.segment(policy.segment)
        pname = ps_quote(policy.effective_name)
        if policy.blocks is not None:
            parameter, verb = "-SegmentsBlocked", "may not communicate with"
            targets = [catalog.segment(t).name for t in dict.fromkeys(policy.blocks)]
        else:
            parameter, verb = "-SegmentsAllowed", "may communicate only with"
            targets = [catalog.segment(t).name for t in dict.fromkeys(policy.allows or ())]
        listed = _ps_list(targets)
        lines += [
            f"# {policy.effective_name}: {segment.name} {verb} {', '.join(targets)}.",
            f"if (Get-InformationBarrierPolicy -Identity {pname} -ErrorAction SilentlyContinue) {{",
            f"    Set-InformationBarrierPolicy -Identity {pname} {parameter} {listed} -State Inactive -Force",
            "} else {",
            f"    New-InformationBarrierPolicy -Name {pname} -AssignedSegment {ps_quote(segment.name)}"
            f" {parameter} {listed} -State Inactive -Force",
            "}",
        ]
    lines += ["", "# Step 3: activate the policies."]
    lines += [
        f"Set-InformationBarrierPolicy -Identity {ps_quote(p.effective_name)} -State Active -Force"
        for p in catalog.policies
    ]
    lines += [
        "",
        "# Step 4: apply. Check progress with Get-InformationBarrierPoliciesApplicationStatus.",
        "Start-InformationBarrierPoliciesApplication",
        "Write-Host 'Information barrier policy application started; it takes 30 minutes or more to begin.'",
        "",
    ]
    return "\n".join(lines)
