"""The generated Security & Compliance PowerShell: the exact text for a realistic catalog, quoting that
survives both layers (PowerShell string, then OPATH value), idempotent structure, refusal of bad catalogs."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onboarding.errors import CatalogNotUsable
from onboarding.segments import (
    SegmentCatalog,
    load_catalog,
    opath_filter,
    powershell_script,
    ps_quote,
    quoting_problem,
)

DATA = Path(__file__).parent / "fixtures"
GENERATED_AT = datetime(2030, 1, 2, 9, 30, tzinfo=UTC)


def realistic_script() -> str:
    return powershell_script(load_catalog(DATA / "realistic_catalog.toml"), generated_at=GENERATED_AT)


# ------------------------------------------------------------------- a tiny reader for what we write


def ps_unquote(literal: str) -> str:
    """Read one PowerShell single-quoted string literal the way PowerShell does ('' is one ')."""
    assert len(literal) >= 2, literal
    assert literal[0] == literal[-1] == "'", literal
    inner = literal[1:-1]
    assert re.fullmatch(r"(?:[^']|'')*", inner), f"unescaped quote inside {literal!r}"
    return inner.replace("''", "'")


def ps_single_quoted_literals(line: str) -> list[str]:
    """Every single-quoted literal on a line of PowerShell (no double-quoted strings are generated)."""
    return re.findall(r"'(?:[^']|'')*'", line)


def opath_value(filter_text: str) -> tuple[str, str, str]:
    """(attribute, operator, value) from ``Attribute -eq 'value'`` with OPATH's doubled apostrophes."""
    match = re.fullmatch(r"(\w+) -(eq|ne) '((?:[^']|'')*)'", filter_text)
    assert match, filter_text
    return match.group(1), match.group(2), match.group(3).replace("''", "'")


def code_lines(script: str) -> list[str]:
    return [line for line in script.splitlines() if line.strip() and not line.lstrip().startswith("#")]


# ------------------------------------------------------------------------------ the exact text


def test_realistic_catalog_script_matches_the_expected_text_line_by_line() -> None:
    expected = (DATA / "realistic_catalog.expected.ps1").read_text(encoding="utf-8").splitlines()
    actual = realistic_script().splitlines()
    for number, (got, want) in enumerate(zip(actual, expected, strict=False), start=1):
        assert got == want, f"line {number} differs"
    assert len(actual) == len(expected)


def test_apostrophe_name_is_quoted_once_as_a_name_and_twice_inside_the_filter() -> None:
    script = realistic_script()
    assert (
        "    New-OrganizationSegment -Name 'O''Brien Field Services' "
        "-UserGroupFilter 'Department -eq ''O''''Brien Field Services'''"
    ) in script.splitlines()


def test_every_filter_decodes_back_to_the_catalog_value() -> None:
    catalog = load_catalog(DATA / "realistic_catalog.toml")
    decoded = {}
    for line in realistic_script().splitlines():
        if "New-OrganizationSegment" in line:
            name_literal, filter_literal = ps_single_quoted_literals(line)
            decoded[ps_unquote(name_literal)] = opath_value(ps_unquote(filter_literal))
    assert decoded == {s.name: (s.filter_attribute, s.operator, s.value) for s in catalog.segments}


def test_every_code_line_has_balanced_quotes() -> None:
    for line in code_lines(realistic_script()):
        stripped = re.sub(r"'(?:[^']|'')*'", "", line)
        assert "'" not in stripped, line


# ------------------------------------------------------------------------------ idempotent shape


def test_each_segment_is_updated_if_it_exists_and_created_otherwise() -> None:
    lines = realistic_script().splitlines()
    for index, line in enumerate(lines):
        if line.startswith("    New-OrganizationSegment"):
            assert lines[index - 1] == "} else {"
            assert lines[index - 2].startswith("    Set-OrganizationSegment -Identity")
            assert lines[index - 3].startswith("if (Get-OrganizationSegment -Identity")
            assert lines[index - 3].endswith("-ErrorAction SilentlyContinue) {")


def test_policies_are_created_inactive_then_activated_then_applied() -> None:
    lines = code_lines(realistic_script())
    inactive = [i for i, line in enumerate(lines) if "-State Inactive" in line]
    active = [i for i, line in enumerate(lines) if "-State Active" in line]
    assert len(inactive) == 10  # New and Set for each of the five policies
    assert len(active) == 5
    assert max(inactive) < min(active)
    assert lines.index("Start-InformationBarrierPoliciesApplication") > max(active)


def test_new_policies_name_their_assigned_segment() -> None:
    assert (
        "    New-InformationBarrierPolicy -Name 'R&D policy' -AssignedSegment 'Research & Development' "
        "-SegmentsBlocked 'Vendor - Contoso','Vendor - Fabrikam' -State Inactive -Force"
    ) in realistic_script().splitlines()


def test_header_names_prerequisites() -> None:
    header = realistic_script().split("$ErrorActionPreference")[0]
    for needed in (
        "Connect-IPPSSession",
        "Compliance Administrator",
        "bcf62038-e005-436d-b970-2a472f8c1982",
        "scoped directory search",
    ):
        assert needed in header


def test_multi_segment_header_mentions_enabling_multi_segment_mode() -> None:
    catalog = SegmentCatalog.model_validate(
        {
            "version": 1,
            "mode": "multi-segment",
            "segments": [{"name": "A", "kind": "vendor", "attribute": "Department", "value": "A"}],
            "policies": [{"segment": "A", "allows": ["A"]}],
        }
    )
    assert "Enable-ExoInformationBarrierMultiSegment" in powershell_script(catalog)


def test_catalog_without_policies_applies_nothing() -> None:
    catalog = SegmentCatalog.model_validate(
        {
            "version": 1,
            "segments": [{"name": "A", "kind": "vendor", "attribute": "Department", "value": "A"}],
        }
    )
    script = powershell_script(catalog)
    assert "New-OrganizationSegment -Name 'A'" in script
    assert "Start-InformationBarrierPoliciesApplication" not in code_lines(script)


def test_script_without_timestamp_is_deterministic() -> None:
    catalog = load_catalog(DATA / "realistic_catalog.toml")
    assert powershell_script(catalog) == powershell_script(catalog)


def test_invalid_catalog_gets_no_script() -> None:
    catalog = SegmentCatalog.model_validate(
        {
            "version": 1,
            "segments": [
                {"name": "A", "kind": "internal", "attribute": "Department", "value": "A"},
                {"name": "B", "kind": "internal", "attribute": "Department", "value": "B"},
            ],
            "policies": [{"segment": "A", "blocks": ["B"]}],
        }
    )
    with pytest.raises(CatalogNotUsable) as caught:
        powershell_script(catalog)
    assert 'blocks = ["A"]' in str(caught.value)


# ------------------------------------------------------------------------------------ quoting


def test_ps_quote_doubles_apostrophes() -> None:
    assert ps_quote("O'Brien Field Services") == "'O''Brien Field Services'"


def test_ps_quote_leaves_dollars_and_backticks_literal() -> None:
    assert ps_quote("$env:USER `n") == "'$env:USER `n'"


def test_opath_filter_doubles_apostrophes_in_the_value() -> None:
    assert opath_filter("Department", "eq", "O'Brien") == "Department -eq 'O''Brien'"


@pytest.mark.parametrize("text", ["line\nbreak", "O’Brien", "‘quoted’", "tab\there"])
def test_ps_quote_refuses_what_cannot_be_quoted(text: str) -> None:
    with pytest.raises(ValueError, match="cannot quote"):
        ps_quote(text)


quotable = st.text(min_size=1, max_size=64).filter(lambda s: quoting_problem(s) is None)


@settings(max_examples=300, deadline=None)
@given(quotable)
def test_any_quotable_text_survives_powershell_quoting(text: str) -> None:
    assert ps_unquote(ps_quote(text)) == text


@settings(max_examples=300, deadline=None)
@given(value=quotable, operator=st.sampled_from(["eq", "ne"]))
def test_any_quotable_value_survives_both_quoting_layers(value: str, operator: str) -> None:
    assert opath_value(ps_unquote(ps_quote(opath_filter("Department", operator, value)))) == (
        "Department",
        operator,
        value,
    )
