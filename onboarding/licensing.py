"""License profiles, the information-barrier-capable license list, and the seat decision for one request.

A *license profile* is what a requester picks ("Remote Assist technician"): a key, a display name and the
SKU part numbers it assigns. When the contractor is placed in an information-barrier segment, the account
also needs a license that includes information barriers; the configured preference list is tried in order
and the first one with a free seat wins. Microsoft documents these subscriptions as IB-capable: Microsoft
365 E5/A5, Office 365 E5/A5/A3/A1, Office 365 Advanced Compliance, and Microsoft 365 E3/A3/A1 plus the
E5/A5 Compliance or Insider Risk Management add-on (add-ons need their base license too).

Part numbers are resolved to SKU ids at run time from ``GET /subscribedSkus``; this module only sees seat
counts per part number (:class:`SeatCount`), so it stays pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from onboarding.errors import NoFreeSeats, UnknownLicenseProfile

#: Default IB-capable preference. Full suites come first because they need no base license; the add-ons
#: (E5 Compliance, Advanced Compliance) only count on top of one. Which is cheapest is the tenant's call.
DEFAULT_IB_CAPABLE_PREFERENCE: tuple[str, ...] = (
    "SPE_E5",
    "ENTERPRISEPREMIUM",
    "ENTERPRISEPREMIUM_NOPSTNCONF",
    "INFORMATION_PROTECTION_COMPLIANCE",
    "EQUIVIO_ANALYTICS",
)

#: Friendly names of the part numbers this bot talks about (``subscribedSkus`` only has part numbers).
PRODUCT_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "MICROSOFT_REMOTE_ASSIST": "Dynamics 365 Remote Assist",
        "MICROSOFT_REMOTE_ASSIST_HOLOLENS": "Dynamics 365 Remote Assist HoloLens",
        "MICROSOFT_REMOTE_ASSIST_ATTACH": "Dynamics 365 Remote Assist Attach",
        "DYN365_FIELD_SERVICE": "Dynamics 365 Field Service",
        "SPE_E5": "Microsoft 365 E5",
        "SPE_E3": "Microsoft 365 E3",
        "SPE_F1": "Microsoft 365 F3",
        "ENTERPRISEPREMIUM": "Office 365 E5",
        "ENTERPRISEPREMIUM_NOPSTNCONF": "Office 365 E5 (without Audio Conferencing)",
        "ENTERPRISEPACK": "Office 365 E3",
        "INFORMATION_PROTECTION_COMPLIANCE": "Microsoft 365 E5 Compliance",
        "EQUIVIO_ANALYTICS": "Office 365 Advanced Compliance",
        "M365EDU_A5_FACULTY": "Microsoft 365 A5 for faculty",
        "M365EDU_A5_STUDENT": "Microsoft 365 A5 for students",
        "ENTERPRISEPREMIUM_FACULTY": "Office 365 A5 for faculty",
        "ENTERPRISEPREMIUM_STUDENT": "Office 365 A5 for students",
        "TEAMS_EXPLORATORY": "Microsoft Teams Exploratory",
    }
)

#: Capability states in which ``subscribedSkus`` seats can still be assigned.
USABLE_CAPABILITY_STATUSES = frozenset({"Enabled", "Warning"})

DEFAULT_PROFILE_KEY = "remote-assist-technician"


def friendly_product_name(part_number: str) -> str:
    """ "Dynamics 365 Remote Assist" for ``MICROSOFT_REMOTE_ASSIST``; unknown part numbers are shown as-is."""
    return PRODUCT_NAMES.get(part_number, part_number)


@dataclass(frozen=True)
class LicenseProfile:
    """What a requester picks: a stable key, a display name, and the SKU part numbers it assigns."""

    key: str
    display_name: str
    sku_part_numbers: tuple[str, ...]
    description: str = ""

    def __post_init__(self) -> None:
        if not self.key.strip() or not self.display_name.strip():
            raise ValueError("a license profile needs a key and a display name")
        if not self.sku_part_numbers:
            raise ValueError(f"license profile {self.key!r} lists no SKU part numbers")
        if len(set(self.sku_part_numbers)) != len(self.sku_part_numbers):
            raise ValueError(f"license profile {self.key!r} lists a SKU twice")


DEFAULT_PROFILES: tuple[LicenseProfile, ...] = (
    LicenseProfile(
        key=DEFAULT_PROFILE_KEY,
        display_name="Remote Assist technician",
        sku_part_numbers=("MICROSOFT_REMOTE_ASSIST",),
        description="Dynamics 365 Remote Assist on HoloLens and mobile, calling the company's Teams users.",
    ),
)


@dataclass(frozen=True)
class LicensingConfig:
    """The configured profiles (order is the order shown) and the IB-capable preference list."""

    profiles: tuple[LicenseProfile, ...] = DEFAULT_PROFILES
    ib_capable_preference: tuple[str, ...] = DEFAULT_IB_CAPABLE_PREFERENCE

    def __post_init__(self) -> None:
        keys = [profile.key for profile in self.profiles]
        if not keys:
            raise ValueError("at least one license profile must be configured")
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise ValueError(f"license profile keys must be unique: {', '.join(duplicates)}")
        if not self.ib_capable_preference:
            raise ValueError("the IB-capable license preference list is empty")

    @property
    def profile_keys(self) -> tuple[str, ...]:
        """Every configured profile key, in display order."""
        return tuple(profile.key for profile in self.profiles)

    def profile(self, key: str) -> LicenseProfile:
        """The profile with ``key``, or :class:`~onboarding.errors.UnknownLicenseProfile`."""
        for profile in self.profiles:
            if profile.key == key:
                return profile
        raise UnknownLicenseProfile(key, self.profile_keys)

    def part_numbers_to_watch(self) -> tuple[str, ...]:
        """Every part number whose seats the bot shows: all profiles' SKUs, then the IB-capable ones."""
        seen: dict[str, None] = {}
        for profile in self.profiles:
            seen.update(dict.fromkeys(profile.sku_part_numbers))
        seen.update(dict.fromkeys(self.ib_capable_preference))
        return tuple(seen)


@dataclass(frozen=True)
class SeatCount:
    """Seats of one SKU as ``subscribedSkus`` reports them (``prepaidUnits.enabled``, ``consumedUnits``)."""

    part_number: str
    enabled: int
    consumed: int
    capability_status: str = "Enabled"

    @property
    def usable(self) -> bool:
        """False when the subscription is suspended, deleted or locked out."""
        return self.capability_status in USABLE_CAPABILITY_STATUSES

    @property
    def free(self) -> int:
        """Seats that can still be assigned (never negative, zero for an unusable subscription)."""
        return max(0, self.enabled - self.consumed) if self.usable else 0

    def describe(self) -> str:
        """ "Dynamics 365 Remote Assist: 3 of 25 free"."""
        return f"{friendly_product_name(self.part_number)}: {self.free} of {self.enabled} free"


def seats_by_part_number(counts: Iterable[SeatCount]) -> dict[str, SeatCount]:
    """Index seat counts by part number (a tenant has each part number at most once)."""
    return {count.part_number: count for count in counts}


@dataclass(frozen=True)
class LicensePlan:
    """The licenses to assign: the profile's SKUs, plus the IB-capable one when a segment was chosen."""

    part_numbers: tuple[str, ...]
    ib_part_number: str | None = None
    #: True when a profile SKU already includes information barriers, so no extra license is needed.
    ib_covered_by_profile: bool = False

    @property
    def product_names(self) -> tuple[str, ...]:
        """Friendly names of every license in the plan, in assignment order."""
        return tuple(friendly_product_name(part) for part in self.part_numbers)


@dataclass(frozen=True)
class LicenseShortage:
    """Why the licenses cannot be assigned now: one precise sentence per missing seat."""

    reasons: tuple[str, ...] = field(default_factory=tuple)

    def raise_error(self) -> None:
        """Raise :class:`~onboarding.errors.NoFreeSeats` with these reasons."""
        raise NoFreeSeats(self.reasons)


LicenseDecision = LicensePlan | LicenseShortage


def preferred_ib_license(
    seats: Mapping[str, SeatCount], preference: Sequence[str] = DEFAULT_IB_CAPABLE_PREFERENCE
) -> SeatCount | None:
    """The IB-capable license a segment would add right now (first preferred with a free seat), or None."""
    return next((seats[part] for part in preference if part in seats and seats[part].free >= 1), None)


def _shortage_reason(part_number: str, seats: SeatCount | None) -> str | None:
    name = friendly_product_name(part_number)
    if seats is None:
        return f"the tenant has no {name} subscription"
    if not seats.usable:
        return f"the {name} subscription is {seats.capability_status.lower()}"
    if seats.free < 1:
        return f"no free seats of {name} ({seats.consumed} of {seats.enabled} used)"
    return None


def decide_licenses(
    profile: LicenseProfile,
    seats: Mapping[str, SeatCount],
    *,
    segment_chosen: bool,
    ib_capable_preference: Sequence[str] = DEFAULT_IB_CAPABLE_PREFERENCE,
) -> LicenseDecision:
    """The licenses one request needs, or every reason it cannot have them now.

    Each profile SKU needs one free seat. With a segment, the account also needs an IB-capable license:
    none is added when a profile SKU already is one; otherwise the first preferred part number with a free
    seat is taken. Seats are counted at decision time only; the provisioning step re-checks before it assigns.
    """
    reasons = [
        reason
        for part in profile.sku_part_numbers
        if (reason := _shortage_reason(part, seats.get(part))) is not None
    ]
    parts = list(profile.sku_part_numbers)
    ib_part: str | None = None
    covered = False
    if segment_chosen:
        covered = any(part in ib_capable_preference for part in profile.sku_part_numbers)
        if not covered:
            candidate = preferred_ib_license(seats, ib_capable_preference)
            if candidate is None:
                reasons.append(_no_ib_seat_reason(seats, ib_capable_preference))
            else:
                ib_part = candidate.part_number
                parts.append(ib_part)
    if reasons:
        return LicenseShortage(tuple(reasons))
    return LicensePlan(part_numbers=tuple(parts), ib_part_number=ib_part, ib_covered_by_profile=covered)


def _no_ib_seat_reason(seats: Mapping[str, SeatCount], preference: Sequence[str]) -> str:
    present = [seats[part] for part in preference if part in seats]
    if not present:
        names = ", ".join(friendly_product_name(part) for part in preference)
        return f"the tenant has no license that includes information barriers (looked for {names})"
    details = ", ".join(
        f"{friendly_product_name(s.part_number)} ({s.consumed} of {s.enabled} used)"
        if s.usable
        else f"{friendly_product_name(s.part_number)} ({s.capability_status.lower()})"
        for s in present
    )
    return f"no free seats of any license that includes information barriers: {details}"


def require_licenses(
    profile: LicenseProfile,
    seats: Mapping[str, SeatCount],
    *,
    segment_chosen: bool,
    ib_capable_preference: Sequence[str] = DEFAULT_IB_CAPABLE_PREFERENCE,
) -> LicensePlan:
    """Like :func:`decide_licenses`, but a shortage raises :class:`~onboarding.errors.NoFreeSeats`."""
    decision = decide_licenses(
        profile, seats, segment_chosen=segment_chosen, ib_capable_preference=ib_capable_preference
    )
    if isinstance(decision, LicenseShortage):
        raise NoFreeSeats(decision.reasons)
    return decision
