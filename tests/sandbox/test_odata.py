"""The $filter parser and evaluator on their own (no HTTP)."""

from __future__ import annotations

import pytest

from sandbox.errors import GraphError
from sandbox.odata import (
    USER_RULES,
    AnyLambda,
    BoolOp,
    Compare,
    Guid,
    StringFunction,
    check_filter,
    matches,
    parse_filter,
)


def test_doubled_quote_is_one_quote():
    assert parse_filter("displayName eq 'O''Brien'") == Compare(("displayName",), "eq", "O'Brien")


def test_unquoted_guid_literal():
    node = parse_filter("assignedLicenses/any(s:s/skuId eq 7A551360-26C4-4F61-84E6-EF715673E083)")
    assert isinstance(node, AnyLambda)
    assert node.body == Compare(("s", "skuId"), "eq", Guid("7a551360-26c4-4f61-84e6-ef715673e083"))


def test_function_names_and_keywords_ignore_case():
    node = parse_filter("StartsWith(displayName,'a') OR displayName EQ 'b'")
    assert isinstance(node, BoolOp)
    assert node.left == StringFunction("startswith", ("displayName",), "a")


@pytest.mark.parametrize(
    "text",
    ["", "displayName", "displayName eq", "eq 'x'", "substringof('x', displayName)", "(displayName eq 'x'"],
)
def test_malformed_expressions_raise_bad_request(text):
    with pytest.raises(GraphError) as err:
        parse_filter(text)
    assert (err.value.status, err.value.code) == (400, "BadRequest")


def test_comparison_ignores_case():
    assert matches(parse_filter("mail eq 'BOB@ABC.COM'"), {"mail": "bob@abc.com"})


def test_missing_value_equals_null():
    assert matches(parse_filter("department eq null"), {"displayName": "x"})


def test_nested_property_path():
    node = parse_filter("onPremisesExtensionAttributes/extensionAttribute1 eq 'seg'")
    check_filter(node, USER_RULES, advanced=True)
    assert matches(node, {"onPremisesExtensionAttributes": {"extensionAttribute1": "seg"}})


def test_extension_attribute_filter_needs_advanced():
    with pytest.raises(GraphError) as err:
        check_filter(
            parse_filter("onPremisesExtensionAttributes/extensionAttribute1 eq 'seg'"),
            USER_RULES,
            advanced=False,
        )
    assert err.value.code == "Request_UnsupportedQuery"


def test_collection_compared_directly_is_unsupported():
    with pytest.raises(GraphError) as err:
        check_filter(parse_filter("otherMails eq 'a@b.c'"), USER_RULES, advanced=False)
    assert err.value.code == "Request_UnsupportedQuery"
