"""Lifecycle rules: reminder days, extension within the maximum or by approval, expiry, retention, approvals,
and the ``[lifecycle]`` configuration section."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from onboarding.config import parse_onboarding_config
from onboarding.errors import ConfigurationError
from onboarding.lifecycle import (
    LifecycleAction,
    LifecyclePolicy,
    access_ends_at,
    decide_extension,
    deletion_due,
    is_expired,
    may,
    needs_approval,
    reminder_due,
)

END = date(2030, 3, 31)
POLICY = LifecyclePolicy()


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2030, 3, 16), None),  # 15 days left
        (date(2030, 3, 17), 14),
        (date(2030, 3, 21), 14),  # 10 days left: the 14-day reminder if it was missed
        (date(2030, 3, 28), 3),
        (date(2030, 3, 31), 3),  # the last day
        (date(2030, 4, 1), None),  # over: offboarding, not a reminder
    ],
)
def test_the_due_reminder_is_the_most_urgent_whose_day_has_come(today: date, expected: int | None) -> None:
    assert reminder_due(END, today, POLICY) == expected


def test_access_ends_at_the_last_second_of_the_end_date_in_utc() -> None:
    assert access_ends_at(END) == datetime(2030, 3, 31, 23, 59, 59, tzinfo=UTC)


def test_the_account_is_not_expired_during_its_last_day() -> None:
    assert not is_expired(END, datetime(2030, 3, 31, 23, 59, 58, tzinfo=UTC))


def test_the_account_is_expired_once_its_end_date_is_over() -> None:
    assert is_expired(END, datetime(2030, 3, 31, 23, 59, 59, tzinfo=UTC))


def test_an_extension_within_the_maximum_needs_no_approval() -> None:
    decision = decide_extension(END, 30, date(2030, 3, 17), POLICY)
    assert (decision.new_end_date, decision.needs_approval) == (date(2030, 4, 30), False)


def test_an_extension_beyond_the_maximum_needs_approval() -> None:
    decision = decide_extension(END, 90, date(2030, 3, 17), POLICY)
    assert (decision.new_end_date, decision.needs_approval) == (date(2030, 6, 29), True)


def test_an_extension_of_an_expired_account_counts_from_today() -> None:
    assert decide_extension(END, 30, date(2030, 4, 10), POLICY).new_end_date == date(2030, 5, 10)


def test_deletion_is_due_once_the_retention_is_over() -> None:
    offboarded = datetime(2030, 4, 1, tzinfo=UTC)
    policy = LifecyclePolicy(retention_days=30)
    assert not deletion_due(offboarded, datetime(2030, 4, 30, 23, tzinfo=UTC), policy)
    assert deletion_due(offboarded, datetime(2030, 5, 1, tzinfo=UTC), policy)


def test_only_the_sponsor_or_an_administrator_may_ask() -> None:
    assert [
        may(is_sponsor=s, is_administrator=a) for s, a in ((True, False), (False, True), (False, False))
    ] == [True, True, False]


def test_manual_offboarding_needs_approval_only_when_configured_and_not_for_administrators() -> None:
    strict = LifecyclePolicy(offboarding_needs_approval=True)
    assert needs_approval(LifecycleAction.OFFBOARD, strict, is_administrator=False)
    assert not needs_approval(LifecycleAction.OFFBOARD, strict, is_administrator=True)
    assert not needs_approval(LifecycleAction.OFFBOARD, POLICY, is_administrator=False)


def test_a_password_reset_needs_approval_only_when_configured() -> None:
    strict = LifecyclePolicy(password_reset_needs_approval=True)
    assert needs_approval(LifecycleAction.RESET_PASSWORD, strict, is_administrator=False)
    assert not needs_approval(LifecycleAction.RESET_PASSWORD, POLICY, is_administrator=False)


def test_an_extension_needs_approval_when_its_decision_says_so() -> None:
    decision = decide_extension(END, 90, date(2030, 3, 17), POLICY)
    assert needs_approval(LifecycleAction.EXTEND, POLICY, is_administrator=True, extension=decision)


@pytest.mark.parametrize(
    "changes",
    [{"reminder_days": ()}, {"reminder_days": (3, 3)}, {"retention_days": -1}, {"sweep_minutes": 0}],
)
def test_a_policy_out_of_range_is_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"."):
        LifecyclePolicy(**changes)  # type: ignore[arg-type]


_BASE = 'version = 1\n[naming]\ndomain = "abc.com"\n'


def test_without_a_lifecycle_section_the_defaults_apply() -> None:
    assert parse_onboarding_config(_BASE).lifecycle == LifecyclePolicy()


def test_the_lifecycle_section_is_read() -> None:
    config = parse_onboarding_config(
        _BASE
        + "[lifecycle]\nreminder_days = [7, 1]\nretention_days = 10\noffboarding_needs_approval = true\n"
    )
    assert (config.lifecycle.reminder_days, config.lifecycle.retention_days) == ((7, 1), 10)
    assert config.lifecycle.offboarding_needs_approval


def test_the_extension_maximum_defaults_to_the_access_maximum() -> None:
    config = parse_onboarding_config(_BASE + "[access]\nmax_days = 120\n")
    assert config.lifecycle.max_days == 120


def test_a_broken_lifecycle_section_names_the_problem() -> None:
    with pytest.raises(ConfigurationError, match="lifecycle"):
        parse_onboarding_config(_BASE + "[lifecycle]\nreminder_days = [0]\n")
