"""Lifecycle rules of a service account: reminders, extension, offboarding, retention, and who may do what.

Pure decisions only (no clock, no I/O): every function takes "today" or "now" from its caller, so the
scheduler and its tests decide what time it is.

An account's access ends at the end of its end date (the last second of that day in UTC, the value stamped
in Entra's ``employeeLeaveDateTime``). Before that the sponsor is reminded on the configured days (14 and 3
days before, by default); at that moment the account is offboarded (sign-in disabled, sessions revoked,
licenses and group memberships removed); ``retention_days`` later it is deleted. A deleted user stays
restorable in Microsoft Entra (deleted items) for 30 days, then Entra removes it for good.

Extension: the sponsor may move the end date up to ``max_days`` from today on their own; an end date further
out needs an approver. Manual offboarding and password resets need an approver only when configured.

Who may do what (every action is checked on the server, whatever the card showed)::

    action                      sponsor of the account   approver            bot administrator
    extend within the maximum   yes                      no                  yes
    extend beyond the maximum   asks for approval        approves            asks (another approves)
    offboard now                yes (or asks, when       approves (when      yes, never needs approval
                                approval is configured)  configured)
    reset the password          yes (or asks, when       approves (when      yes, never needs approval
                                approval is configured)  configured)
    approve / reject            never own requests,      yes                 yes, never own requests,
                                never own accounts                           never own accounts

Handing leaver tasks to Entra Lifecycle Workflows instead
-------------------------------------------------------
Every service account is created with ``employeeType = "Vendor"`` and ``employeeLeaveDateTime`` = the end of
its end date, and an extension moves ``employeeLeaveDateTime`` too. A tenant with Microsoft Entra ID
Governance can therefore run its own "leaver" workflow (``timeBasedAttributeTrigger`` on
``employeeLeaveDateTime``, scope rule ``employeeType eq 'Vendor'``, tasks such as "Remove all licenses for
user", "Remove user from all groups", "Delete user account"). Such a tenant sets ``automatic_offboarding =
false`` in the ``[lifecycle]`` section: the bot still reminds sponsors and lets them extend (which moves the
date the workflow reads), but leaves the leaver tasks to the workflow. Writing ``employeeLeaveDateTime``
needs the ``User-LifeCycleInfo.ReadWrite.All`` application permission.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

__all__ = [
    "DEFAULT_EXTENSION_CHOICES",
    "DEFAULT_REMINDER_DAYS",
    "ENTRA_RESTORE_DAYS",
    "ExtensionDecision",
    "LifecycleAction",
    "LifecyclePolicy",
    "access_ends_at",
    "decide_extension",
    "deletion_due",
    "is_expired",
    "may",
    "needs_approval",
    "reminder_due",
]

DEFAULT_REMINDER_DAYS: tuple[int, ...] = (14, 3)
DEFAULT_EXTENSION_CHOICES: tuple[int, ...] = (30, 90)
#: Microsoft Entra keeps a deleted user restorable for this many days ("Restore deleted item").
ENTRA_RESTORE_DAYS = 30


@dataclass(frozen=True)
class LifecyclePolicy:
    """The ``[lifecycle]`` section: reminder days, extension choices and limits, retention, approvals."""

    #: Days before the end date on which the sponsor is reminded (each at most once per end date).
    reminder_days: tuple[int, ...] = DEFAULT_REMINDER_DAYS
    #: The "Extend N days" buttons.
    extension_choices: tuple[int, ...] = DEFAULT_EXTENSION_CHOICES
    #: The furthest end date (days from today) a sponsor may set without approval.
    max_days: int = 90
    #: Days between offboarding and deletion of the account.
    retention_days: int = 30
    offboarding_needs_approval: bool = False
    password_reset_needs_approval: bool = False
    #: False when Entra Lifecycle Workflows run the leaver tasks (see the module docstring).
    automatic_offboarding: bool = True
    #: How often the background sweep runs, in minutes.
    sweep_minutes: int = 60

    def __post_init__(self) -> None:
        if not self.reminder_days or any(not 1 <= d <= 365 for d in self.reminder_days):
            raise ValueError("reminder_days: each must be 1..365 days")
        if len(set(self.reminder_days)) != len(self.reminder_days):
            raise ValueError("reminder_days: each day may appear once")
        if not self.extension_choices or any(not 1 <= d <= 3650 for d in self.extension_choices):
            raise ValueError("extension_choices: each must be 1..3650 days")
        if not 1 <= self.max_days <= 3650:
            raise ValueError("max_days must be 1..3650")
        if not 0 <= self.retention_days <= 3650:
            raise ValueError("retention_days must be 0..3650")
        if not 1 <= self.sweep_minutes <= 1440:
            raise ValueError("sweep_minutes must be 1..1440")


def access_ends_at(end_date: date) -> datetime:
    """The moment access ends: the last second of ``end_date`` in UTC (``employeeLeaveDateTime``)."""
    return datetime.combine(end_date, time(23, 59, 59), tzinfo=UTC)


def is_expired(end_date: date, now: datetime) -> bool:
    """Whether access with this end date has ended at ``now``."""
    return now >= access_ends_at(end_date)


def reminder_due(end_date: date, today: date, policy: LifecyclePolicy) -> int | None:
    """The reminder (a configured day count) to send today, or ``None``.

    The most urgent configured reminder whose day has come: with (14, 3), 10 days before the end the
    14-day reminder is due (also when the bot was down on day 14), 2 days before the 3-day one. The caller
    sends each (account, end date, reminder) once; a reminder passed over for a more urgent one is not sent
    late. Nothing is due on or after the end date.
    """
    days_left = (end_date - today).days
    if days_left < 0:
        return None
    applicable = [d for d in policy.reminder_days if days_left <= d]
    return min(applicable) if applicable else None


@dataclass(frozen=True)
class ExtensionDecision:
    """Where an extension would move the end date, and whether an approver must agree."""

    new_end_date: date
    needs_approval: bool


def decide_extension(current_end: date, days: int, today: date, policy: LifecyclePolicy) -> ExtensionDecision:
    """Extend by ``days`` from the current end date (from today, when that is already past).

    Within ``max_days`` from today the sponsor's click is enough; beyond it an approver decides.
    """
    if not 1 <= days <= 3650:
        raise ValueError("an extension is 1..3650 days")
    new_end = max(current_end, today) + timedelta(days=days)
    return ExtensionDecision(new_end, needs_approval=new_end > today + timedelta(days=policy.max_days))


def deletion_due(offboarded_at: datetime, now: datetime, policy: LifecyclePolicy) -> bool:
    """Whether an account offboarded at ``offboarded_at`` is to be deleted at ``now``."""
    return now >= offboarded_at + timedelta(days=policy.retention_days)


class LifecycleAction(StrEnum):
    """What someone can ask for about a service account. Values are stored."""

    EXTEND = "extend"
    OFFBOARD = "offboard"
    RESET_PASSWORD = "reset_password"  # noqa: S105 - an action name, not a password


def may(*, is_sponsor: bool, is_administrator: bool) -> bool:
    """Whether someone may ask for any lifecycle action on an account (its sponsor, or an administrator)."""
    return is_sponsor or is_administrator


def needs_approval(
    action: LifecycleAction,
    policy: LifecyclePolicy,
    *,
    is_administrator: bool,
    extension: ExtensionDecision | None = None,
) -> bool:
    """Whether an approver must agree before ``action`` is carried out (see the module's table)."""
    match action:
        case LifecycleAction.EXTEND:
            if extension is None:
                raise ValueError("an extension needs its decision")
            return extension.needs_approval
        case LifecycleAction.OFFBOARD:
            return policy.offboarding_needs_approval and not is_administrator
        case LifecycleAction.RESET_PASSWORD:
            return policy.password_reset_needs_approval and not is_administrator
