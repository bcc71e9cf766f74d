"""Planning the service account's names: UPN, mailNickname and display name.

The UPN comes from a configurable template (default ``sa-{vendor}-{first}.{last}``) over a verified domain.
Placeholders: ``{vendor}``, ``{first}``, ``{last}``, ``{initial}`` (first letter of the first name).

Microsoft Graph's rules for the part before ``@`` (Entra username policies): only ``A–Z a–z 0–9`` and
``' . - _ ! # ^ ~``; no accented characters; at most 64 characters; no ``.`` immediately before ``@``;
``.`` and ``-`` not at the start or end. The part after ``@`` is at most 48 characters, the whole UPN 113.
Names are transliterated with ``anyascii`` (``José Müller-Łukasiewicz`` -> ``jose`` / ``muller-lukasiewicz``,
``王小明`` -> ``wangxiaoming``), lower-cased, reduced to ``a–z 0–9`` with runs of anything else turned into a
single ``-``, and truncated (longest part first) so that a collision suffix always fits. A name that leaves
nothing usable (only emoji, say) is refused with :class:`~onboarding.errors.UnusableName`, never guessed.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable, Collection
from dataclasses import dataclass

from anyascii import anyascii

from onboarding.errors import InvalidDomain, InvalidNamingTemplate, NoFreeUpn, UnusableName

DEFAULT_UPN_TEMPLATE = "sa-{vendor}-{first}.{last}"
DEFAULT_DISPLAY_NAME_TEMPLATE = "{first} {last} ({vendor}) – Vendor"
DEFAULT_MAX_SUFFIX = 99

MAX_LOCAL_PART = 64
MAX_DOMAIN_PART = 48
MAX_UPN = 113
MAX_MAIL_NICKNAME = 64
MAX_DISPLAY_NAME = 256

UPN_PLACEHOLDERS = frozenset({"vendor", "first", "last", "initial"})
DISPLAY_NAME_PLACEHOLDERS = frozenset({"vendor", "first", "last"})

#: Characters Graph allows before the ``@`` of a UPN.
UPN_LOCAL_CHARS = frozenset(string.ascii_letters + string.digits + "'.-_!#^~")
_SEPARATORS = frozenset(".-_")
# mailNickname may not contain these (besides anything non-ASCII).
_MAIL_NICKNAME_FORBIDDEN = frozenset('@()\\[]";:<>, ')

_DOMAIN_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_PART_CLEAN = re.compile(r"[^a-z0-9]+")


def _template_fields(template: str) -> list[tuple[str, str | None]]:
    """(literal, field) pairs of a ``str.format`` template; refuses anything but bare placeholder names."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as err:
        raise InvalidNamingTemplate(template, f"braces do not match ({err})") from None
    pairs: list[tuple[str, str | None]] = []
    for literal, field, spec, conversion in parsed:
        if field is not None and (spec or conversion or not field.isidentifier()):
            raise InvalidNamingTemplate(
                template, f"use plain placeholders like {{first}}, not {{{field}...}}"
            )
        pairs.append((literal, field))
    return pairs


def validate_upn_template(template: str) -> None:
    """Raise :class:`~onboarding.errors.InvalidNamingTemplate` unless ``template`` can produce valid UPNs."""
    pairs = _template_fields(template)
    fields = {field for _, field in pairs if field is not None}
    unknown = fields - UPN_PLACEHOLDERS
    if unknown:
        raise InvalidNamingTemplate(
            template,
            f"unknown placeholder(s) {', '.join(sorted(unknown))}; use {', '.join(sorted(UPN_PLACEHOLDERS))}",
        )
    if not fields & {"first", "last"}:
        raise InvalidNamingTemplate(
            template, "it must contain {first} or {last}, or every account gets one name"
        )
    literal = "".join(text for text, _ in pairs)
    if "@" in literal:
        raise InvalidNamingTemplate(
            template, "leave out @ and the domain; the domain is configured separately"
        )
    bad = sorted({c for c in literal if c not in UPN_LOCAL_CHARS})
    if bad:
        raise InvalidNamingTemplate(template, f"Graph does not allow {''.join(bad)!r} in a user name")
    if len(literal) > MAX_LOCAL_PART // 2:
        raise InvalidNamingTemplate(template, "its fixed text leaves too little room for the names")


def validate_display_name_template(template: str) -> None:
    """Raise :class:`~onboarding.errors.InvalidNamingTemplate` unless ``template`` makes display names."""
    fields = {field for _, field in _template_fields(template) if field is not None}
    unknown = fields - DISPLAY_NAME_PLACEHOLDERS
    if unknown:
        raise InvalidNamingTemplate(
            template,
            f"unknown placeholder(s) {', '.join(sorted(unknown))}; "
            f"use {', '.join(sorted(DISPLAY_NAME_PLACEHOLDERS))}",
        )
    if not fields & {"first", "last"}:
        raise InvalidNamingTemplate(template, "it must contain {first} or {last}")


def validate_domain(domain: str) -> str:
    """The domain lower-cased, or :class:`~onboarding.errors.InvalidDomain` (syntax, Graph's 48-char limit).

    Whether the domain is *verified* in the tenant is a Graph question (``GET /domains``), asked elsewhere.
    """
    candidate = domain.strip().lower()
    if not candidate or not candidate.isascii():
        raise InvalidDomain(domain, "it must be a plain ASCII domain name such as contoso.com")
    if len(candidate) > MAX_DOMAIN_PART:
        raise InvalidDomain(domain, f"Graph allows at most {MAX_DOMAIN_PART} characters after @")
    labels = candidate.split(".")
    if len(labels) < 2 or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels):
        raise InvalidDomain(domain, "it must be a domain name such as contoso.com")
    return candidate


def normalize_part(text: str) -> str:
    """One name part as it may appear in a UPN: transliterated, lower-case, ``a–z 0–9`` and single hyphens.

    Emoji, symbols and invisible characters are dropped before transliteration (``anyascii`` would spell an
    emoji out as ``:grinning:``); apostrophes join rather than separate (``O'Brien`` -> ``obrien``).
    """
    kept = "".join(
        char if unicodedata.category(char)[0] in "LMN" else " "
        for char in unicodedata.normalize("NFC", text)
        if char not in "'\u2019\u02bc\u2018`"
    )
    ascii_text = anyascii(kept).lower().replace("'", "")
    return _PART_CLEAN.sub("-", ascii_text).strip("-")


def _collapse_separators(local: str) -> str:
    out: list[str] = []
    for char in local:
        if char in _SEPARATORS and out and out[-1] in _SEPARATORS:
            continue  # keep the first separator of a run: "sa-contoso-.smith" -> "sa-contoso-smith"
        out.append(char)
    return "".join(out).strip("".join(_SEPARATORS))


def is_valid_upn(upn: str) -> bool:
    """True when ``upn`` satisfies Graph's user-name rules (characters, lengths, dot placement)."""
    local, at, domain = upn.rpartition("@")
    if not at or not local or not domain or len(upn) > MAX_UPN:
        return False
    if len(local) > MAX_LOCAL_PART or any(c not in UPN_LOCAL_CHARS for c in local):
        return False
    if local[0] in ".-" or local[-1] in ".-":
        return False
    try:
        validate_domain(domain)
    except InvalidDomain:
        return False
    return domain == domain.lower()


@dataclass(frozen=True)
class NamingPolicy:
    """The configured naming rules: UPN template, verified domain, display-name template, suffix limit."""

    domain: str
    upn_template: str = DEFAULT_UPN_TEMPLATE
    display_name_template: str = DEFAULT_DISPLAY_NAME_TEMPLATE
    max_suffix: int = DEFAULT_MAX_SUFFIX

    def __post_init__(self) -> None:
        object.__setattr__(self, "domain", validate_domain(self.domain))
        validate_upn_template(self.upn_template)
        validate_display_name_template(self.display_name_template)
        if not 2 <= self.max_suffix <= 9999:
            raise ValueError(f"max_suffix must be between 2 and 9999, got {self.max_suffix}")


@dataclass(frozen=True)
class UpnPlan:
    """The planned names of one account. ``suffix`` is None when the base name was free."""

    upn: str
    base_upn: str
    suffix: int | None
    mail_nickname: str
    display_name: str

    @property
    def local_part(self) -> str:
        """The part of the UPN before ``@``."""
        return self.upn.rpartition("@")[0]


def _fit(parts: dict[str, str], pairs: list[tuple[str, str | None]], budget: int) -> dict[str, str]:
    """Shorten the longest name part, a character at a time, until the rendered local part fits ``budget``."""
    # No single part can be longer than the whole budget: cut absurd inputs first so the loop stays short.
    fitted = {key: value[:MAX_LOCAL_PART].rstrip("-") for key, value in parts.items()}

    def rendered_length() -> int:
        return len(_collapse_separators(_render(pairs, fitted)))

    used = [field for _, field in pairs if field is not None]
    while rendered_length() > budget:
        longest = max((f for f in used if len(fitted[f]) > 1), key=lambda f: len(fitted[f]), default=None)
        if longest is None:
            break
        fitted[longest] = fitted[longest][:-1].rstrip("-")
    return fitted


def _render(pairs: list[tuple[str, str | None]], parts: dict[str, str]) -> str:
    return "".join(literal + (parts[field] if field is not None else "") for literal, field in pairs)


def base_local_part(
    first: str, last: str, vendor: str, *, template: str = DEFAULT_UPN_TEMPLATE, reserve: int = 2
) -> str:
    """The local part the template gives for these names, leaving ``reserve`` characters for a suffix.

    Raises :class:`~onboarding.errors.UnusableName` when a name part the template uses normalises to nothing.
    """
    validate_upn_template(template)
    pairs = _template_fields(template)
    normalized_first = normalize_part(first)
    parts = {
        "vendor": normalize_part(vendor),
        "first": normalized_first,
        "last": normalize_part(last),
        "initial": normalized_first[:1],
    }
    labels = {
        "vendor": ("vendor company", vendor),
        "first": ("first name", first),
        "last": ("last name", last),
    }
    for _, field in pairs:
        if field is not None and not parts[field]:
            label, original = labels.get(field, labels["first"])
            raise UnusableName(label, original)
    fitted = _fit(parts, pairs, MAX_LOCAL_PART - reserve)
    local = _collapse_separators(_render(pairs, fitted))
    if not local or len(local) > MAX_LOCAL_PART - reserve:
        raise InvalidNamingTemplate(
            template, "the names cannot be made short enough for Graph's 64-character limit"
        )
    return local


def mail_nickname_from_upn(upn: str) -> str:
    """``mailNickname`` for an account: the UPN's local part without characters Graph refuses there."""
    local = upn.rpartition("@")[0] or upn
    cleaned = "".join(
        c for c in local if c.isascii() and c.isprintable() and c not in _MAIL_NICKNAME_FORBIDDEN
    )
    return cleaned[:MAX_MAIL_NICKNAME]


def display_name(first: str, last: str, vendor: str, *, template: str = DEFAULT_DISPLAY_NAME_TEMPLATE) -> str:
    """The address-book name ("Bob Smith (Contoso) – Vendor"), whitespace collapsed, at most 256 characters.

    Names keep their own alphabet here (display names may hold any Unicode); when too long, the vendor is
    shortened first, then the names, so the person stays recognisable.
    """
    validate_display_name_template(template)
    values = {
        "first": " ".join(first.split()),
        "last": " ".join(last.split()),
        "vendor": " ".join(vendor.split()),
    }

    def render() -> str:
        return " ".join(template.format(**values).split())

    for key in ("vendor", "last", "first"):
        excess = len(render()) - MAX_DISPLAY_NAME
        if excess <= 0:
            break
        keep = max(1, len(values[key]) - excess - 1)
        values[key] = values[key][:keep].rstrip() + "…"
    return render()[:MAX_DISPLAY_NAME]


def _taken_check(taken: Callable[[str], bool] | Collection[str]) -> Callable[[str], bool]:
    if callable(taken):
        return taken
    lowered = {upn.lower() for upn in taken}
    return lambda upn: upn.lower() in lowered


def plan_upn(
    first: str,
    last: str,
    vendor: str,
    *,
    policy: NamingPolicy,
    taken: Callable[[str], bool] | Collection[str] = (),
) -> UpnPlan:
    """The first free UPN of base, base2, base3, ... base{max_suffix}, with its mailNickname and display name.

    ``taken`` answers "is this UPN already used?": a set of UPNs (compared case-insensitively, as Entra
    does) or a function, e.g. one backed by a Graph lookup. Raises :class:`~onboarding.errors.UnusableName`,
    :class:`~onboarding.errors.NoFreeUpn`.
    """
    is_taken = _taken_check(taken)
    local = base_local_part(
        first, last, vendor, template=policy.upn_template, reserve=len(str(policy.max_suffix))
    )
    base_upn = f"{local}@{policy.domain}"
    shown = display_name(first, last, vendor, template=policy.display_name_template)
    candidate = base_upn
    for suffix in (None, *range(2, policy.max_suffix + 1)):
        candidate = base_upn if suffix is None else f"{local}{suffix}@{policy.domain}"
        if not is_taken(candidate):
            return UpnPlan(
                upn=candidate,
                base_upn=base_upn,
                suffix=suffix,
                mail_nickname=mail_nickname_from_upn(candidate),
                display_name=shown,
            )
    raise NoFreeUpn(base_upn, candidate)
