"""safe_text: the one path for user-provided text onto a card."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cards.text import ELLIPSIS, _clean, safe_text


def test_markdown_characters_are_kept_literally() -> None:
    # Markdown is neutralised by placement (TextRun), so the characters themselves must survive intact.
    assert safe_text("**Evil**](http://x)") == "**Evil**](http://x)"


def test_ordinary_names_are_unchanged() -> None:
    assert safe_text("Zoë O'Brien-Łukasiewicz") == "Zoë O'Brien-Łukasiewicz"


def test_line_breaks_fold_into_single_spaces() -> None:
    assert safe_text("Contoso\n\n- item\r\n# heading") == "Contoso - item # heading"


def test_control_characters_are_removed() -> None:
    assert safe_text("Con\x00tos\x07o\x1b[31m") == "Contoso[31m"


def test_bidi_overrides_and_zero_width_characters_are_removed() -> None:
    assert safe_text("abc\u202edcba\u200b\u2066x\u2069\ufeff") == "abcdcbax"


def test_joiners_needed_by_some_scripts_are_kept() -> None:
    persian = "می\u200cخواهم"
    assert safe_text(persian) == persian


def test_date_templating_cannot_fire() -> None:
    result = safe_text("{{DATE(2017-02-14T06:08:39Z, SHORT)}}")
    assert "{{" not in result
    assert result.replace("\u2060", "") == "{{DATE(2017-02-14T06:08:39Z, SHORT)}}"


def test_html_and_mentions_are_neutralised() -> None:
    assert safe_text("<at>Adam</at> <b>x</b>") == "‹at›Adam‹/at› ‹b›x‹/b›"


def test_html_entities_are_broken() -> None:
    result = safe_text("AT&amp;T &#60;")
    assert "&amp;" not in result
    assert "&#60;" not in result
    assert result.replace("\u2060", "") == "AT&amp;T &#60;"


def test_plain_ampersand_is_unchanged() -> None:
    assert safe_text("Smith & Sons") == "Smith & Sons"


def test_long_text_is_truncated_with_an_ellipsis() -> None:
    result = safe_text("x" * 500, limit=20)
    assert result == "x" * 19 + ELLIPSIS


def test_text_at_the_limit_is_not_truncated() -> None:
    assert safe_text("x" * 20, limit=20) == "x" * 20


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="limit"):
        safe_text("x", limit=0)


@given(st.text(), st.integers(min_value=1, max_value=300))
def test_any_input_comes_out_bounded_and_inert(value: str, limit: int) -> None:
    result = safe_text(value, limit)
    assert len(result) <= limit
    assert "{{" not in result
    assert "<" not in result
    assert ">" not in result
    assert result == result.strip()
    assert "\n" not in result
    allowed_format = {"\u200c", "\u200d", "\u2060"}
    assert all(
        unicodedata.category(char) not in {"Cc", "Cs", "Co"}
        and (unicodedata.category(char) != "Cf" or char in allowed_format)
        for char in result
    )


# Mostly printable ASCII, where the fast path applies, with every character it must not let through.
_NEAR_ASCII = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x20, max_codepoint=0x7E),
        st.sampled_from(["<", ">", "&", "{", "}", " ", "\t", "\n", "\x7f", "\x00", "é", "\u200b", "\u202e"]),
    ),
    max_size=60,
)


@settings(max_examples=500)
@given(st.one_of(_NEAR_ASCII, st.text()), st.integers(min_value=1, max_value=80))
def test_the_fast_path_returns_exactly_what_the_full_cleaning_returns(value: str, limit: int) -> None:
    assert safe_text(value, limit) == _clean(value, limit)


@pytest.mark.parametrize(
    "value",
    ["Zoë", "a  b", " a", "a ", "a\tb", "{{x", "a<b", "a>b", "AT&amp;T", "x\x7f", "x" * 201],
)
def test_text_at_the_edge_of_the_fast_path_comes_out_as_the_full_cleaning_makes_it(value: str) -> None:
    assert safe_text(value) == _clean(value, 200)
