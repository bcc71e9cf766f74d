"""Temporary passwords: Entra's complexity, ASCII, no ambiguous characters; property-tested."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onboarding.passwords import (
    AMBIGUOUS,
    MIN_LENGTH,
    character_classes,
    generate_temporary_password,
    is_valid_temporary_password,
    meets_entra_complexity,
)


@settings(max_examples=500, deadline=None)
@given(st.integers(min_value=MIN_LENGTH, max_value=256))
def test_every_generated_password_is_valid(length: int) -> None:
    password = generate_temporary_password(length)
    assert len(password) == length
    assert password.isascii()
    assert character_classes(password) == 4
    assert not set(password) & AMBIGUOUS
    assert meets_entra_complexity(password)
    assert is_valid_temporary_password(password)


def test_default_length_is_sixteen() -> None:
    assert len(generate_temporary_password()) == 16


def test_passwords_differ() -> None:
    assert len({generate_temporary_password() for _ in range(50)}) == 50


@pytest.mark.parametrize("length", [8, 15, 257])
def test_lengths_outside_the_range_are_refused(length: int) -> None:
    with pytest.raises(ValueError, match="between"):
        generate_temporary_password(length)


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("abcDEF12", True),  # three classes is enough for Entra
        ("abcdefgh", False),  # one class
        ("abcDEFgh", False),  # two classes
        ("aB1!", False),  # too short
        ("Pässword1!", False),  # Unicode
        ("a B1 c D2", True),  # spaces are allowed symbols
    ],
)
def test_entra_complexity_rule(password: str, ok: bool) -> None:
    assert meets_entra_complexity(password) is ok


def test_bot_rule_is_stricter_than_entra() -> None:
    assert meets_entra_complexity("abcDEF12")
    assert not is_valid_temporary_password("abcDEF12")


def test_bot_rule_refuses_ambiguous_characters() -> None:
    assert not is_valid_temporary_password("Aa2!" + "l" * 12)
