"""The onboarding configuration file: naming, access duration and license profiles.

Format (TOML, ``version = 1``; see ``config/onboarding.example.toml``)::

    version = 1

    [naming]
    domain = "abc.com"                               # a verified domain of the tenant
    upn_template = "sa-{vendor}-{first}.{last}"      # placeholders: vendor, first, last, initial
    display_name_template = "{first} {last} ({vendor}) – Vendor"
    max_collision_suffix = 99                        # base, base2, ... base99

    [access]
    default_days = 30                                # the wizard's proposed end date
    max_days = 90                                    # the latest end date a request may have

    [licensing]
    ib_capable_preference = ["SPE_E5", "ENTERPRISEPREMIUM", ...]   # first with a free seat wins

    [[licensing.profiles]]
    key = "remote-assist-technician"
    display_name = "Remote Assist technician"
    sku_part_numbers = ["MICROSOFT_REMOTE_ASSIST"]
    description = "..."

    [lifecycle]                                      # see onboarding/lifecycle.py
    reminder_days = [14, 3]                          # remind the sponsor this many days before the end
    extension_choices = [30, 90]                     # the "Extend N days" buttons
    max_days = 90                                    # furthest end date without approval (default: access)
    retention_days = 30                              # offboarded accounts are deleted this much later
    offboarding_needs_approval = false
    password_reset_needs_approval = false
    automatic_offboarding = true                     # false: Entra Lifecycle Workflows do the leaver tasks
    sweep_minutes = 60

Every section is optional except ``naming.domain``; omitted values take the defaults shown. Reading a file is
the only I/O here (:func:`load_onboarding_config`); :func:`parse_onboarding_config` works on text.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from onboarding._model import DomainModel
from onboarding.errors import ConfigurationError, NamingError
from onboarding.licensing import (
    DEFAULT_IB_CAPABLE_PREFERENCE,
    DEFAULT_PROFILES,
    LicenseProfile,
    LicensingConfig,
)
from onboarding.lifecycle import DEFAULT_EXTENSION_CHOICES, DEFAULT_REMINDER_DAYS, LifecyclePolicy
from onboarding.naming import (
    DEFAULT_DISPLAY_NAME_TEMPLATE,
    DEFAULT_MAX_SUFFIX,
    DEFAULT_UPN_TEMPLATE,
    NamingPolicy,
)
from onboarding.validation import AccessPolicy

CONFIG_VERSION = 1


class _NamingSection(DomainModel):
    domain: str = Field(min_length=1)
    upn_template: str = DEFAULT_UPN_TEMPLATE
    display_name_template: str = DEFAULT_DISPLAY_NAME_TEMPLATE
    max_collision_suffix: int = Field(default=DEFAULT_MAX_SUFFIX, ge=2, le=9999)


class _AccessSection(DomainModel):
    default_days: int = Field(default=30, ge=1, le=3650)
    max_days: int = Field(default=90, ge=1, le=3650)


class _ProfileSection(DomainModel):
    key: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")
    display_name: str = Field(min_length=1, max_length=100)
    sku_part_numbers: tuple[str, ...] = Field(min_length=1)
    description: str = ""


class _LicensingSection(DomainModel):
    ib_capable_preference: tuple[str, ...] = Field(default=DEFAULT_IB_CAPABLE_PREFERENCE, min_length=1)
    profiles: tuple[_ProfileSection, ...] | None = None


class _LifecycleSection(DomainModel):
    reminder_days: tuple[int, ...] = DEFAULT_REMINDER_DAYS
    extension_choices: tuple[int, ...] = DEFAULT_EXTENSION_CHOICES
    max_days: int | None = None
    retention_days: int = Field(default=30, ge=0, le=3650)
    offboarding_needs_approval: bool = False
    password_reset_needs_approval: bool = False
    automatic_offboarding: bool = True
    sweep_minutes: int = Field(default=60, ge=1, le=1440)


class _ConfigFile(DomainModel):
    version: Literal[1]
    naming: _NamingSection
    access: _AccessSection = _AccessSection()
    licensing: _LicensingSection = _LicensingSection()
    lifecycle: _LifecycleSection = _LifecycleSection()


@dataclass(frozen=True)
class OnboardingConfig:
    """Everything the domain needs from configuration, as validated domain objects."""

    naming: NamingPolicy
    access: AccessPolicy
    licensing: LicensingConfig
    #: Reminders, extension, offboarding and retention (``[lifecycle]``; defaults when absent).
    lifecycle: LifecyclePolicy = field(default_factory=LifecyclePolicy)


def default_onboarding_config(domain: str) -> OnboardingConfig:
    """The defaults over ``domain``: ``sa-{vendor}-{first}.{last}``, 30/90 days, the Remote Assist profile."""
    return OnboardingConfig(
        naming=NamingPolicy(domain=domain), access=AccessPolicy(), licensing=LicensingConfig()
    )


def _where(loc: Sequence[int | str]) -> str:
    return ".".join(f"#{item + 1}" if isinstance(item, int) else item for item in loc) or "(top level)"


def parse_onboarding_config(text: str, *, source: str = "onboarding configuration") -> OnboardingConfig:
    """Parse and validate the configuration TOML, or raise :class:`~onboarding.errors.ConfigurationError`
    naming every problem and where it is."""
    try:
        raw: Mapping[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigurationError(source, [f"not valid TOML: {err}"]) from None
    if raw.get("version") != CONFIG_VERSION:
        found = "missing" if raw.get("version") is None else repr(raw.get("version"))
        raise ConfigurationError(
            source, [f"version: this bot reads version = {CONFIG_VERSION} (found {found})"]
        )
    try:
        parsed = _ConfigFile.model_validate(raw)
    except ValidationError as err:
        raise ConfigurationError(source, [f"{_where(e['loc'])}: {e['msg']}" for e in err.errors()]) from None
    problems: list[str] = []
    naming: NamingPolicy | None = None
    try:
        naming = NamingPolicy(
            domain=parsed.naming.domain,
            upn_template=parsed.naming.upn_template,
            display_name_template=parsed.naming.display_name_template,
            max_suffix=parsed.naming.max_collision_suffix,
        )
    except NamingError as err:
        problems.append(f"naming: {err.detail}")
    access: AccessPolicy | None = None
    try:
        access = AccessPolicy(default_days=parsed.access.default_days, max_days=parsed.access.max_days)
    except ValueError as err:
        problems.append(f"access: {err}")
    licensing: LicensingConfig | None = None
    try:
        profiles = (
            tuple(
                LicenseProfile(
                    key=p.key,
                    display_name=p.display_name,
                    sku_part_numbers=p.sku_part_numbers,
                    description=p.description,
                )
                for p in parsed.licensing.profiles
            )
            if parsed.licensing.profiles is not None
            else DEFAULT_PROFILES
        )
        licensing = LicensingConfig(
            profiles=profiles, ib_capable_preference=parsed.licensing.ib_capable_preference
        )
    except ValueError as err:
        problems.append(f"licensing: {err}")
    lifecycle: LifecyclePolicy | None = None
    section = parsed.lifecycle
    try:
        lifecycle = LifecyclePolicy(
            reminder_days=section.reminder_days,
            extension_choices=section.extension_choices,
            # Without its own maximum, an extension may reach as far as a new request may.
            max_days=section.max_days if section.max_days is not None else parsed.access.max_days,
            retention_days=section.retention_days,
            offboarding_needs_approval=section.offboarding_needs_approval,
            password_reset_needs_approval=section.password_reset_needs_approval,
            automatic_offboarding=section.automatic_offboarding,
            sweep_minutes=section.sweep_minutes,
        )
    except ValueError as err:
        problems.append(f"lifecycle: {err}")
    if problems or naming is None or access is None or licensing is None or lifecycle is None:
        raise ConfigurationError(source, problems)
    return OnboardingConfig(naming=naming, access=access, licensing=licensing, lifecycle=lifecycle)


def load_onboarding_config(path: Path) -> OnboardingConfig:
    """Read and parse the configuration file at ``path`` (UTF-8)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigurationError(str(path), [f"cannot be read: {err.strerror or err}"]) from None
    return parse_onboarding_config(text, source=str(path))
