"""The segment catalog: parsing, every information-barrier rule (a passing and a failing case), placement."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from onboarding.errors import (
    CatalogNotUsable,
    ConfigurationError,
    IssueCode,
    SegmentNotPlaceable,
    UnknownSegment,
)
from onboarding.segments import (
    AttributePlacement,
    GroupPlacement,
    IbMode,
    SegmentCatalog,
    Severity,
    attribute_spec,
    is_usable_for_onboarding,
    load_catalog,
    parse_catalog,
    placement_for,
    require_onboarding_segment,
    validate_catalog,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "segments.example.toml"
GROUP = "6a000000-0000-4000-8000-000000000011"


def seg(
    name: str, kind: str = "internal", attribute: str = "Department", value: str | None = None, **extra: Any
):
    return {
        "name": name,
        "kind": kind,
        "attribute": attribute,
        "value": name if value is None else value,
        **extra,
    }


def catalog(*segments: dict[str, Any], policies: tuple[dict[str, Any], ...] = (), mode: str = "legacy"):
    return SegmentCatalog.model_validate(
        {"version": 1, "mode": mode, "segments": list(segments), "policies": list(policies)}
    )


def issues(cat: SegmentCatalog, code: IssueCode, severity: Severity | None = None) -> list[str]:
    return [
        i.message
        for i in validate_catalog(cat).issues
        if i.code is code and (severity is None or i.severity is severity)
    ]


def errors(cat: SegmentCatalog, code: IssueCode) -> list[str]:
    return issues(cat, code, Severity.ERROR)


def warnings(cat: SegmentCatalog, code: IssueCode) -> list[str]:
    return issues(cat, code, Severity.WARNING)


VENDOR = seg("Vendor - Contoso", "vendor", "ExtensionAttribute1", "Vendor-Contoso")


# ---------------------------------------------------------------------------------------- the example


def test_the_shipped_example_has_no_errors() -> None:
    validation = validate_catalog(load_catalog(EXAMPLE))
    assert validation.errors == ()


def test_the_shipped_example_warns_only_about_groups_and_mixed_attributes() -> None:
    validation = validate_catalog(load_catalog(EXAMPLE))
    assert {w.code for w in validation.warnings} == {IssueCode.GROUP_KIND, IssueCode.MIXED_ATTRIBUTES}


def test_the_shipped_example_has_three_vendor_segments_and_both_policy_kinds() -> None:
    example = load_catalog(EXAMPLE)
    assert len(example.vendor_segments) == 3
    assert any(p.blocks for p in example.policies)
    assert any(p.allows for p in example.policies)


# ------------------------------------------------------------------------------------------ parsing


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("version = 1\n[[segments]\n", "not valid TOML"),
        ("mode = 'legacy'\n", "version = 1 (found missing)"),
        ("version = 2\n", "(found 2)"),
        ("version = 1\nmode = 'dual'\n", "mode"),
        (
            "version = 1\n[[segments]]\nname = 'Finance'\nkind = 'internal'\nattribute = 'Department'\n"
            "value = 'Finance'\ncolour = 'red'\n",
            "segments #1 (“Finance”) → colour",
        ),
        (
            "version = 1\n[[segments]]\nname = 'X'\nkind = 'partner'\n"
            "attribute = 'Department'\nvalue = 'X'\n",
            "kind",
        ),
        ("version = 1\n[[segments]]\nname = 'X'\nkind = 'vendor'\nattribute = 'Department'\n", "value"),
        (
            "version = 1\n[[segments]]\nname = 'X'\nkind = 'vendor'\nattribute = 'Department'\nvalue = 'X'\n"
            "operator = 'like'\n",
            "operator",
        ),
        ("version = 1\n[[policies]]\nsegment = 'X'\nblocks = 'Y'\n", "policies #1 (“X”) → blocks"),
    ],
)
def test_shape_problems_are_reported_with_their_place(text: str, fragment: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_catalog(text, source="segments.toml")
    assert fragment in str(caught.value)


def test_missing_catalog_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot be read"):
        load_catalog(tmp_path / "nope.toml")


def test_names_and_values_are_trimmed() -> None:
    parsed = catalog(seg("  Finance ", value=" Finance  "))
    assert (parsed.segments[0].name, parsed.segments[0].value) == ("Finance", "Finance")


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("Department", "Department"),
        ("department", "Department"),
        ("CustomAttribute7", "ExtensionAttribute7"),
        ("extensionattribute15", "ExtensionAttribute15"),
        ("MemberOfGroup", "MemberOf"),
        ("Office", "PhysicalDeliveryOfficeName"),
        ("Alias", "MailNickname"),
    ],
)
def test_attributes_are_known_by_entra_and_exchange_names(name: str, canonical: str) -> None:
    spec = attribute_spec(name)
    assert spec is not None
    assert spec.name == canonical


@pytest.mark.parametrize(
    ("attribute", "graph_property"),
    [
        ("Department", "department"),
        ("Company", "companyName"),
        ("UsageLocation", "usageLocation"),
        ("Co", "country"),
        ("ExtensionAttribute3", "onPremisesExtensionAttributes.extensionAttribute3"),
        ("PostalCode", "postalCode"),
    ],
)
def test_attributes_map_to_the_graph_property_that_realises_them(attribute: str, graph_property: str) -> None:
    spec = attribute_spec(attribute)
    assert spec is not None
    assert spec.graph_property == graph_property


def test_unknown_attribute_has_no_spec() -> None:
    assert attribute_spec("JobTitle") is None


# ---------------------------------------------------------------------------------- segment rules


def test_segment_name_empty_fails() -> None:
    assert errors(catalog(seg("", value="X")), IssueCode.SEGMENT_NAME_EMPTY)


def test_segment_name_present_passes() -> None:
    assert not errors(catalog(seg("X")), IssueCode.SEGMENT_NAME_EMPTY)


def test_segment_name_over_64_fails() -> None:
    assert errors(catalog(seg("S" * 65, value="X")), IssueCode.SEGMENT_NAME_TOO_LONG)


def test_segment_name_of_64_passes() -> None:
    assert not errors(catalog(seg("S" * 64, value="X")), IssueCode.SEGMENT_NAME_TOO_LONG)


def test_duplicate_segment_names_fail_case_insensitively() -> None:
    assert errors(catalog(seg("Finance"), seg("finance", value="Fin")), IssueCode.SEGMENT_DUPLICATE)


def test_distinct_segment_names_pass() -> None:
    assert not errors(catalog(seg("Finance"), seg("Sales")), IssueCode.SEGMENT_DUPLICATE)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("O’Brien Field Services", "OBrien"),
        ("OBrien", "Line\nbreak"),
        ("Zero\u200bwidth", "x"),
        ("Bell\x07", "x"),
    ],
)
def test_unquotable_names_and_values_fail(name: str, value: str) -> None:
    assert errors(catalog(seg(name, value=value)), IssueCode.NOT_QUOTABLE)


def test_straight_apostrophes_and_symbols_are_quotable() -> None:
    assert not errors(catalog(seg('O\'Brien & Sons $1 `x` "q"', value="O'Brien")), IssueCode.NOT_QUOTABLE)


def test_unquotable_policy_name_fails() -> None:
    cat = catalog(seg("A"), policies=({"segment": "A", "name": "A’s policy", "allows": ["A"]},))
    assert errors(cat, IssueCode.NOT_QUOTABLE)


def test_unsupported_attribute_fails_and_lists_supported_ones() -> None:
    messages = errors(catalog(seg("X", attribute="JobTitle")), IssueCode.ATTRIBUTE_UNSUPPORTED)
    assert messages
    assert "ExtensionAttribute1" in messages[0]


def test_supported_exchange_attribute_passes() -> None:
    assert not errors(catalog(seg("X", attribute="CustomAttribute3")), IssueCode.ATTRIBUTE_UNSUPPORTED)


def test_vendor_segment_on_an_attribute_the_bot_cannot_set_fails() -> None:
    messages = errors(catalog(seg("V", "vendor", "Mail", "v@abc.com")), IssueCode.ATTRIBUTE_NOT_SETTABLE)
    assert messages
    assert "unique to each account" in messages[0]


def test_internal_segment_on_an_unsettable_attribute_passes() -> None:
    assert not errors(catalog(seg("I", "internal", "Mail", "i@abc.com")), IssueCode.ATTRIBUTE_NOT_SETTABLE)


def test_vendor_segment_with_not_equals_fails() -> None:
    assert errors(catalog(seg("V", "vendor", operator="ne")), IssueCode.VENDOR_SEGMENT_NOT_EQUALS)


def test_internal_segment_with_not_equals_passes() -> None:
    assert not errors(
        catalog(seg("Everyone but sales", value="Sales", operator="ne")), IssueCode.VENDOR_SEGMENT_NOT_EQUALS
    )


def test_empty_value_fails() -> None:
    assert errors(catalog(seg("X", value="")), IssueCode.VALUE_EMPTY)


def test_value_over_the_graph_limit_fails() -> None:
    assert errors(catalog(seg("V", "vendor", "Department", "D" * 65)), IssueCode.VALUE_TOO_LONG)


def test_value_at_the_graph_limit_passes() -> None:
    assert not errors(catalog(seg("V", "vendor", "Department", "D" * 64)), IssueCode.VALUE_TOO_LONG)


def test_usage_location_value_must_be_a_country_code() -> None:
    assert errors(catalog(seg("V", "vendor", "UsageLocation", "XX")), IssueCode.USAGE_LOCATION_VALUE)


def test_usage_location_country_code_passes() -> None:
    assert not errors(catalog(seg("V", "vendor", "UsageLocation", "DE")), IssueCode.USAGE_LOCATION_VALUE)


def test_vendor_member_of_without_group_id_fails() -> None:
    assert errors(catalog(seg("V", "vendor", "MemberOf", "IB Vendor")), IssueCode.GROUP_ID_MISSING)


def test_vendor_member_of_with_group_id_passes() -> None:
    assert not errors(
        catalog(seg("V", "vendor", "MemberOf", "IB Vendor", group_id=GROUP)), IssueCode.GROUP_ID_MISSING
    )


def test_group_id_must_be_a_guid() -> None:
    assert errors(
        catalog(seg("V", "vendor", "MemberOf", "IB", group_id="ib-group")), IssueCode.GROUP_ID_FORMAT
    )


def test_group_id_on_a_non_group_attribute_fails() -> None:
    assert errors(catalog(seg("V", "vendor", group_id=GROUP)), IssueCode.GROUP_ID_UNEXPECTED)


def test_member_of_warns_that_only_microsoft_365_groups_count() -> None:
    assert warnings(catalog(seg("V", "vendor", "MemberOf", "IB", group_id=GROUP)), IssueCode.GROUP_KIND)


def test_attribute_segments_get_no_group_warning() -> None:
    assert not warnings(catalog(VENDOR), IssueCode.GROUP_KIND)


def test_same_filter_twice_fails_in_legacy_mode() -> None:
    cat = catalog(seg("A", value="Ops"), seg("B", value="ops"))
    assert errors(cat, IssueCode.FILTER_DUPLICATE)


def test_same_filter_twice_only_warns_in_multi_segment_mode() -> None:
    cat = catalog(seg("A", value="Ops"), seg("B", value="Ops"), mode="multi-segment")
    assert warnings(cat, IssueCode.FILTER_DUPLICATE)
    assert not errors(cat, IssueCode.FILTER_DUPLICATE)


def test_same_filter_on_eleven_segments_fails_in_multi_segment_mode() -> None:
    cat = catalog(*(seg(f"S{n}", value="Ops") for n in range(11)), mode="multi-segment")
    assert any("at most 10" in m for m in errors(cat, IssueCode.FILTER_DUPLICATE))


def test_distinct_filters_pass() -> None:
    assert not issues(catalog(seg("A"), seg("B")), IssueCode.FILTER_DUPLICATE)


def test_mixed_attributes_warn_in_legacy_mode() -> None:
    assert warnings(catalog(VENDOR, seg("Finance")), IssueCode.MIXED_ATTRIBUTES)


def test_one_attribute_gives_no_mixed_warning() -> None:
    assert not warnings(catalog(seg("A"), seg("B")), IssueCode.MIXED_ATTRIBUTES)


def test_company_segment_warns_it_replaces_the_vendor_company() -> None:
    messages = warnings(
        catalog(seg("V", "vendor", "Company", "Contoso Ltd")), IssueCode.OVERRIDES_WIZARD_VALUE
    )
    assert messages
    assert "companyName" in messages[0]


@pytest.mark.parametrize(
    ("mode", "count", "fails"),
    [
        ("legacy", 250, False),
        ("legacy", 251, True),
        ("single-segment", 5000, False),
        ("multi-segment", 5001, True),
    ],
)
def test_segment_limits_per_mode(mode: str, count: int, fails: bool) -> None:
    cat = catalog(*(seg(f"S{n}") for n in range(count)), mode=mode)
    assert bool(errors(cat, IssueCode.TOO_MANY_SEGMENTS)) is fails


def test_catalog_without_vendor_segments_warns() -> None:
    assert warnings(catalog(seg("Finance")), IssueCode.NO_VENDOR_SEGMENTS)


def test_catalog_with_a_vendor_segment_does_not_warn_about_it() -> None:
    assert not warnings(catalog(VENDOR), IssueCode.NO_VENDOR_SEGMENTS)


def test_vendor_segment_without_policy_warns() -> None:
    assert warnings(catalog(VENDOR), IssueCode.VENDOR_SEGMENT_WITHOUT_POLICY)


def test_vendor_segment_with_policy_does_not_warn() -> None:
    cat = catalog(VENDOR, policies=({"segment": "Vendor - Contoso", "allows": ["Vendor - Contoso"]},))
    assert not warnings(cat, IssueCode.VENDOR_SEGMENT_WITHOUT_POLICY)


# ----------------------------------------------------------------------------------- policy rules


def test_default_policy_name_over_64_fails() -> None:
    cat = catalog(seg("S" * 60), policies=({"segment": "S" * 60, "allows": ["S" * 60]},))
    assert errors(cat, IssueCode.POLICY_NAME_TOO_LONG)


def test_explicit_short_policy_name_passes() -> None:
    cat = catalog(seg("S" * 60), policies=({"segment": "S" * 60, "name": "Short", "allows": ["S" * 60]},))
    assert not errors(cat, IssueCode.POLICY_NAME_TOO_LONG)


def test_duplicate_policy_names_fail() -> None:
    cat = catalog(
        seg("A"),
        seg("B"),
        policies=(
            {"segment": "A", "name": "P", "allows": ["A"]},
            {"segment": "B", "name": "p", "allows": ["B"]},
        ),
    )
    assert errors(cat, IssueCode.POLICY_DUPLICATE_NAME)


def test_policy_for_an_unknown_segment_fails_with_a_suggestion() -> None:
    cat = catalog(seg("Finance"), policies=({"segment": "Finanse", "allows": ["Finance"]},))
    messages = errors(cat, IssueCode.POLICY_UNKNOWN_SEGMENT)
    assert messages
    assert "Did you mean “Finance”?" in messages[0]


def test_policy_naming_an_unknown_target_fails() -> None:
    cat = catalog(seg("A"), policies=({"segment": "A", "allows": ["A", "Nowhere"]},))
    assert errors(cat, IssueCode.POLICY_UNKNOWN_TARGET)


def test_policy_references_are_case_insensitive() -> None:
    cat = catalog(
        seg("Finance"),
        seg("Sales"),
        policies=(
            {"segment": "finance", "blocks": ["SALES"]},
            {"segment": "Sales", "blocks": ["Finance"]},
        ),
    )
    assert validate_catalog(cat).ok


def test_two_policies_for_one_segment_fail_and_are_both_named() -> None:
    cat = catalog(
        seg("A"),
        seg("B"),
        policies=(
            {"segment": "A", "name": "First", "allows": ["A"]},
            {"segment": "A", "name": "Second", "allows": ["A", "B"]},
        ),
    )
    messages = errors(cat, IssueCode.POLICY_PER_SEGMENT)
    assert messages
    assert "“First”" in messages[0]
    assert "“Second”" in messages[0]


def test_one_policy_per_segment_passes() -> None:
    cat = catalog(
        seg("A"), seg("B"), policies=({"segment": "A", "allows": ["A"]}, {"segment": "B", "allows": ["B"]})
    )
    assert not errors(cat, IssueCode.POLICY_PER_SEGMENT)


def test_policy_with_both_lists_fails() -> None:
    cat = catalog(seg("A"), seg("B"), policies=({"segment": "A", "allows": ["A"], "blocks": ["B"]},))
    assert errors(cat, IssueCode.POLICY_BOTH_LISTS)


@pytest.mark.parametrize("policy", [{"segment": "A"}, {"segment": "A", "blocks": []}])
def test_policy_without_segments_fails(policy: dict[str, Any]) -> None:
    assert errors(catalog(seg("A"), policies=(policy,)), IssueCode.POLICY_NO_LIST)


def test_policy_listing_a_segment_twice_warns() -> None:
    cat = catalog(seg("A"), seg("B"), policies=({"segment": "A", "allows": ["A", "B", "b"]},))
    assert warnings(cat, IssueCode.POLICY_DUPLICATE_TARGET)


def test_segment_blocking_itself_fails() -> None:
    assert errors(catalog(seg("A"), policies=({"segment": "A", "blocks": ["A"]},)), IssueCode.BLOCKS_ITSELF)


def test_allow_list_without_own_segment_warns() -> None:
    cat = catalog(seg("A"), seg("B"), policies=({"segment": "A", "allows": ["B"]},))
    assert warnings(cat, IssueCode.ALLOW_WITHOUT_SELF)


def test_allow_list_with_own_segment_does_not_warn() -> None:
    cat = catalog(seg("A"), seg("B"), policies=({"segment": "A", "allows": ["A", "B"]},))
    assert not warnings(cat, IssueCode.ALLOW_WITHOUT_SELF)


BLOCK_PAIR = ({"segment": "A", "blocks": ["B"]}, {"segment": "B", "blocks": ["A"]})


@pytest.mark.parametrize(
    ("mode", "fails"), [("multi-segment", True), ("legacy", False), ("single-segment", False)]
)
def test_block_policies_are_refused_only_in_multi_segment_mode(mode: str, fails: bool) -> None:
    cat = catalog(seg("A"), seg("B"), policies=BLOCK_PAIR, mode=mode)
    assert bool(errors(cat, IssueCode.BLOCK_IN_MULTI_SEGMENT)) is fails


def test_allow_policies_pass_in_multi_segment_mode() -> None:
    cat = catalog(seg("A"), seg("B"), policies=({"segment": "A", "allows": ["A"]},), mode="multi-segment")
    assert validate_catalog(cat).ok


def test_one_way_block_names_the_exact_missing_reverse_policy() -> None:
    cat = catalog(seg("A"), seg("B"), policies=({"segment": "A", "blocks": ["B"]},))
    messages = errors(cat, IssueCode.BLOCK_NOT_RECIPROCATED)
    assert len(messages) == 1
    assert 'Add a policy with segment = "B" and blocks = ["A"].' in messages[0]


def test_one_way_block_into_an_existing_block_policy_names_what_to_add() -> None:
    cat = catalog(
        seg("A"),
        seg("B"),
        seg("C"),
        policies=(
            {"segment": "A", "blocks": ["B"]},
            {"segment": "B", "blocks": ["C"]},
            {"segment": "C", "blocks": ["B"]},
        ),
    )
    messages = errors(cat, IssueCode.BLOCK_NOT_RECIPROCATED)
    assert messages == [
        "Policy “A policy” blocks “B”, but nothing blocks “B” from “A”: information barriers need blocks "
        "defined both ways. Add “A” to the blocks of policy “B policy”."
    ]


def test_blocks_defined_both_ways_pass() -> None:
    assert validate_catalog(catalog(seg("A"), seg("B"), policies=BLOCK_PAIR)).ok


def test_block_answered_by_an_allow_list_that_leaves_it_out_passes() -> None:
    cat = catalog(
        seg("A"), seg("B"), policies=({"segment": "A", "blocks": ["B"]}, {"segment": "B", "allows": ["B"]})
    )
    assert not errors(cat, IssueCode.BLOCK_NOT_RECIPROCATED)
    assert not errors(cat, IssueCode.BLOCK_CONTRADICTED)


def test_block_contradicted_by_the_other_sides_allow_list_fails() -> None:
    cat = catalog(
        seg("A"),
        seg("B"),
        policies=(
            {"segment": "A", "blocks": ["B"]},
            {"segment": "B", "allows": ["B", "A"]},
        ),
    )
    assert errors(cat, IssueCode.BLOCK_CONTRADICTED)


# ------------------------------------------------------------------------------------ usability


def test_usable_catalog() -> None:
    assert is_usable_for_onboarding(load_catalog(EXAMPLE))


def test_catalog_with_errors_is_not_usable() -> None:
    assert not is_usable_for_onboarding(catalog(VENDOR, seg("Vendor - Contoso", value="dup")))


def test_catalog_without_vendor_segments_is_not_usable() -> None:
    assert not is_usable_for_onboarding(catalog(seg("Finance")))


def test_onboarding_into_a_segment_of_an_invalid_catalog_is_refused() -> None:
    broken = catalog(VENDOR, policies=({"segment": "Vendor - Contoso", "blocks": ["Nobody"]},))
    with pytest.raises(CatalogNotUsable) as caught:
        require_onboarding_segment(broken, "Vendor - Contoso")
    assert "Nobody" in str(caught.value)


def test_onboarding_into_an_unknown_segment_is_refused() -> None:
    with pytest.raises(UnknownSegment):
        require_onboarding_segment(load_catalog(EXAMPLE), "Vendor - Northwind")


def test_onboarding_into_an_internal_segment_is_refused() -> None:
    with pytest.raises(SegmentNotPlaceable):
        require_onboarding_segment(load_catalog(EXAMPLE), "Finance")


def test_onboarding_segment_comes_with_its_placement() -> None:
    segment, placement = require_onboarding_segment(load_catalog(EXAMPLE), "vendor - fabrikam")
    assert segment.name == "Vendor - Fabrikam"
    assert placement == GroupPlacement(group_id=GROUP, group_label="IB Vendor - Fabrikam")


# ------------------------------------------------------------------------------------- placement


def test_extension_attribute_placement_is_nested_in_the_create_body() -> None:
    placement = placement_for(catalog(VENDOR).segments[0])
    assert isinstance(placement, AttributePlacement)
    assert placement.graph_body() == {
        "onPremisesExtensionAttributes": {"extensionAttribute1": "Vendor-Contoso"}
    }
    assert placement.describe() == "extensionAttribute1 = Vendor-Contoso"


def test_custom_attribute_alias_places_the_same_extension_attribute() -> None:
    placement = placement_for(catalog(seg("V", "vendor", "CustomAttribute5", "X")).segments[0])
    assert placement == AttributePlacement("onPremisesExtensionAttributes.extensionAttribute5", "X")


def test_department_placement_is_a_flat_property() -> None:
    placement = placement_for(catalog(seg("O'Brien Field Services", "vendor")).segments[0])
    assert isinstance(placement, AttributePlacement)
    assert placement.graph_body() == {"department": "O'Brien Field Services"}


def test_usage_location_placement_is_upper_cased() -> None:
    placement = placement_for(catalog(seg("V", "vendor", "UsageLocation", "de")).segments[0])
    assert placement == AttributePlacement("usageLocation", "DE")


def test_member_of_placement_is_a_group() -> None:
    placement = placement_for(
        catalog(seg("V", "vendor", "MemberOf", "IB V", group_id=GROUP.upper())).segments[0]
    )
    assert placement == GroupPlacement(group_id=GROUP, group_label="IB V")
    assert placement.describe() == "member of IB V"


@pytest.mark.parametrize(
    "segment",
    [
        seg("Finance"),
        seg("V", "vendor", operator="ne"),
        seg("V", "vendor", "Mail", "x@abc.com"),
        seg("V", "vendor", "JobTitle", "x"),
        seg("V", "vendor", "MemberOf", "IB"),
    ],
)
def test_unplaceable_segments_are_refused(segment: dict[str, Any]) -> None:
    with pytest.raises(SegmentNotPlaceable):
        placement_for(catalog(segment).segments[0])


def test_catalog_lookup_is_case_insensitive() -> None:
    assert catalog(VENDOR).segment("VENDOR - CONTOSO").name == "Vendor - Contoso"


def test_ib_modes_parse_from_their_documented_names() -> None:
    assert [m.value for m in IbMode] == ["legacy", "single-segment", "multi-segment"]
