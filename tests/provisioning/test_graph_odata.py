"""odata_quote: every value becomes exactly one OData string literal, hostile ones included."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioning.graph import odata_quote


def parse_one_literal(text: str) -> tuple[str, str]:
    """Read one OData string literal from the start of ``text``; return (value, rest).

    The grammar Graph applies: a literal opens and closes with ``'``; ``''`` inside stands for ``'``.
    """
    assert text.startswith("'"), text
    value, i = [], 1
    while i < len(text):
        if text[i] == "'":
            if text[i + 1 : i + 2] == "'":
                value.append("'")
                i += 2
                continue
            return "".join(value), text[i + 1 :]
        value.append(text[i])
        i += 1
    raise AssertionError(f"unterminated literal: {text!r}")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "'plain'"),
        ("O'Brien", "'O''Brien'"),
        ("''", "''''''"),
        ("", "''"),
        ("José Müller", "'José Müller'"),
    ],
)
def test_quotes_by_doubling_single_quotes(value: str, expected: str) -> None:
    assert odata_quote(value) == expected


@pytest.mark.parametrize(
    "hostile",
    [
        "x' or 1 eq 1 or employeeId eq 'y",
        "x') or startswith(displayName,'",
        "VND-1' and accountEnabled eq true and employeeId eq '",
        "a&$top=999",
        "a#fragment",
        "%27 or 1 eq 1",
        "\\' or true",
        "a'; DROP",
        "é'é",
        "🙂'🙂",
    ],
)
def test_hostile_values_stay_one_literal(hostile: str) -> None:
    value, rest = parse_one_literal(odata_quote(hostile))
    assert (value, rest) == (hostile, "")


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), max_size=200))
def test_any_printable_value_round_trips_as_exactly_one_literal(value: str) -> None:
    assert parse_one_literal(odata_quote(value)) == (value, "")


@pytest.mark.parametrize("bad", ["a\x00b", "line\nbreak", "tab\there", "\x7f", "\ud800"])
def test_control_characters_and_surrogates_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=r"control character|surrogate"):
        odata_quote(bad)


def test_overlong_values_are_refused() -> None:
    with pytest.raises(ValueError, match="longer than 1024"):
        odata_quote("a" * 1025)


def test_non_strings_are_refused() -> None:
    with pytest.raises(TypeError):
        odata_quote(42)  # type: ignore[arg-type]
