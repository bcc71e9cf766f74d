"""Account naming: UPN template, transliteration, Graph's character and length rules, collisions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onboarding.errors import InvalidDomain, InvalidNamingTemplate, NoFreeUpn, UnusableName
from onboarding.naming import (
    MAX_LOCAL_PART,
    UPN_LOCAL_CHARS,
    NamingPolicy,
    base_local_part,
    display_name,
    is_valid_upn,
    mail_nickname_from_upn,
    normalize_part,
    plan_upn,
    validate_domain,
)

POLICY = NamingPolicy(domain="abc.com")


def upn(first: str, last: str, vendor: str, **kwargs) -> str:
    return plan_upn(first, last, vendor, policy=POLICY, **kwargs).upn


# ------------------------------------------------------------------------------------------- templates


def test_default_template() -> None:
    assert upn("Bob", "Smith", "Contoso1") == "sa-contoso1-bob.smith@abc.com"


def test_initial_placeholder() -> None:
    policy = NamingPolicy(domain="abc.com", upn_template="{vendor}.{initial}{last}")
    assert plan_upn("Bob", "Smith", "Contoso", policy=policy).upn == "contoso.bsmith@abc.com"


def test_domain_is_lower_cased() -> None:
    assert NamingPolicy(domain="ABC.Com").domain == "abc.com"


@pytest.mark.parametrize(
    "template",
    [
        "sa-{vendor}",
        "{first}.{lastname}",
        "{first!r}",
        "{first:>10}",
        "{first.__class__}",
        "{first",
        "a b {first}",
        "{first}@abc.com",
        "x" * 40 + "{first}",
    ],
)
def test_unusable_upn_templates_are_refused(template: str) -> None:
    with pytest.raises(InvalidNamingTemplate):
        NamingPolicy(domain="abc.com", upn_template=template)


@pytest.mark.parametrize("template", ["{vendor}", "{first} {upn}"])
def test_unusable_display_name_templates_are_refused(template: str) -> None:
    with pytest.raises(InvalidNamingTemplate):
        NamingPolicy(domain="abc.com", display_name_template=template)


@pytest.mark.parametrize("domain", ["abc", "abc..com", "-abc.com", "ąbc.com", "a" * 45 + ".com", ""])
def test_unusable_domains_are_refused(domain: str) -> None:
    with pytest.raises(InvalidDomain):
        validate_domain(domain)


# ----------------------------------------------------------------------------------- transliteration


@pytest.mark.parametrize(
    ("first", "last", "vendor", "expected"),
    [
        ("Seán", "O'Brien", "O'Brien Field Services", "sa-obrien-field-services-sean.obrien@abc.com"),
        ("José", "Müller-Łukasiewicz", "Contoso", "sa-contoso-jose.muller-lukasiewicz@abc.com"),
        ("王小明", "王", "Contoso", "sa-contoso-wangxiaoming.wang@abc.com"),
        (
            "Ελένη",
            "Παπαδοπούλου",
            "Contoso",
            "sa-contoso-eleni.papadopoyloy@abc.com",
        ),  # anyascii maps letter by letter
        ("Mary Ann", "St. John", "Contoso", "sa-contoso-mary-ann.st-john@abc.com"),
        ("Jürgen", "Straße", "Fabrikam AG", "sa-fabrikam-ag-jurgen.strasse@abc.com"),
    ],
)
def test_names_are_transliterated(first: str, last: str, vendor: str, expected: str) -> None:
    assert upn(first, last, vendor) == expected


def test_right_to_left_names_are_transliterated_and_bidi_controls_dropped() -> None:
    result = upn("\u202bמשה\u202c", "כהן", "Contoso")
    assert is_valid_upn(result)
    assert result.startswith("sa-contoso-")


def test_arabic_names_are_transliterated() -> None:
    assert upn("محمد", "علي", "Contoso") == "sa-contoso-mhmd.ly@abc.com"


def test_emoji_are_dropped_not_spelled_out() -> None:
    assert upn("Bob 😀", "Smith", "Contoso") == "sa-contoso-bob.smith@abc.com"


def test_apostrophes_join_instead_of_separating() -> None:
    assert normalize_part("D’Angelo") == "dangelo"


@pytest.mark.parametrize(
    ("field", "first", "last", "vendor"),
    [
        ("first name", "😀", "Smith", "Contoso"),
        ("last name", "Bob", "---", "Contoso"),
        ("vendor company", "Bob", "Smith", "☃☃"),
    ],
)
def test_names_that_leave_nothing_are_refused_with_the_field_named(
    field: str, first: str, last: str, vendor: str
):
    with pytest.raises(UnusableName) as caught:
        plan_upn(first, last, vendor, policy=POLICY)
    assert caught.value.field == field


def test_unused_empty_part_is_not_a_problem() -> None:
    policy = NamingPolicy(domain="abc.com", upn_template="ext-{first}.{last}")
    assert plan_upn("Bob", "Smith", "☃", policy=policy).upn == "ext-bob.smith@abc.com"


# ------------------------------------------------------------------------------------------- lengths


def test_ten_kilobyte_names_are_truncated_to_graphs_limit_with_suffix_room() -> None:
    plan = plan_upn("x" * 10_240, "y" * 10_240, "z" * 10_240, policy=POLICY)
    assert len(plan.local_part) <= MAX_LOCAL_PART - len(str(POLICY.max_suffix))
    assert is_valid_upn(plan.upn)


def test_truncation_shortens_the_longest_part_first() -> None:
    local = base_local_part("Bob", "Smith", "A" * 80, reserve=2)
    assert local.endswith("-bob.smith")
    assert len(local) == 62


def test_collision_suffix_still_fits_after_truncation() -> None:
    first = plan_upn("Bob", "Smith", "A" * 80, policy=POLICY)
    taken = {first.upn}
    second = plan_upn("Bob", "Smith", "A" * 80, policy=POLICY, taken=taken)
    assert second.suffix == 2
    assert len(second.local_part) <= MAX_LOCAL_PART
    assert is_valid_upn(second.upn)


def test_display_name_is_capped_at_256() -> None:
    shown = display_name("B" * 64, "S" * 64, "V" * 300)
    assert len(shown) <= 256
    assert shown.startswith("B" * 64 + " " + "S" * 64)


def test_display_name_keeps_the_original_alphabet() -> None:
    assert display_name("王小明", "Ελένη", "Contoso") == "王小明 Ελένη (Contoso) – Vendor"


# ------------------------------------------------------------------------------------------ collisions


def test_collision_takes_the_next_free_suffix() -> None:
    taken = {"sa-contoso1-bob.smith@abc.com", "sa-contoso1-bob.smith2@abc.com"}
    plan = plan_upn("Bob", "Smith", "Contoso1", policy=POLICY, taken=taken)
    assert (plan.upn, plan.suffix, plan.base_upn) == (
        "sa-contoso1-bob.smith3@abc.com",
        3,
        "sa-contoso1-bob.smith@abc.com",
    )


def test_taken_set_is_compared_case_insensitively() -> None:
    assert upn("Bob", "Smith", "Contoso1", taken={"SA-Contoso1-Bob.Smith@ABC.com"}).endswith("smith2@abc.com")


def test_taken_may_be_a_function_and_is_asked_in_order() -> None:
    asked: list[str] = []

    def taken(candidate: str) -> bool:
        asked.append(candidate)
        return len(asked) < 3

    plan = plan_upn("Bob", "Smith", "Contoso1", policy=POLICY, taken=taken)
    assert asked == [
        "sa-contoso1-bob.smith@abc.com",
        "sa-contoso1-bob.smith2@abc.com",
        "sa-contoso1-bob.smith3@abc.com",
    ]
    assert plan.suffix == 3


def test_every_candidate_taken_is_refused() -> None:
    policy = NamingPolicy(domain="abc.com", max_suffix=3)
    with pytest.raises(NoFreeUpn) as caught:
        plan_upn("Bob", "Smith", "Contoso1", policy=policy, taken=lambda _: True)
    assert "sa-contoso1-bob.smith3@abc.com" in str(caught.value)


# ------------------------------------------------------------------------------------- mailNickname


def test_mail_nickname_is_the_local_part() -> None:
    assert mail_nickname_from_upn("sa-contoso1-bob.smith2@abc.com") == "sa-contoso1-bob.smith2"


def test_mail_nickname_drops_characters_graph_refuses() -> None:
    assert mail_nickname_from_upn('a(b)c[d]e"f;g:h<i>j,k l@abc.com') == "abcdefghijkl"


def test_plan_carries_mail_nickname_and_display_name() -> None:
    plan = plan_upn("Bob", "Smith", "Contoso1", policy=POLICY)
    assert (plan.mail_nickname, plan.display_name) == (
        "sa-contoso1-bob.smith",
        "Bob Smith (Contoso1) – Vendor",
    )


# ----------------------------------------------------------------------------------------- validity


@pytest.mark.parametrize(
    "candidate",
    [
        "bob.@abc.com",
        ".bob@abc.com",
        "-bob@abc.com",
        "bo b@abc.com",
        "bób@abc.com",
        "bob&co@abc.com",
        "bob",
        "a" * 65 + "@abc.com",
        "bob@ABC.com",
    ],
)
def test_is_valid_upn_refuses_what_graph_refuses(candidate: str) -> None:
    assert not is_valid_upn(candidate)


def test_is_valid_upn_accepts_graphs_special_characters() -> None:
    assert is_valid_upn("o'brien_#1^~!@abc.com")


# ------------------------------------------------------------------------------------------ properties

names = st.text(min_size=0, max_size=120)


@settings(max_examples=300, deadline=None)
@given(first=names, last=names, vendor=names)
def test_any_input_gives_a_valid_upn_or_a_clear_refusal(first: str, last: str, vendor: str) -> None:
    refusal: UnusableName | None = None
    try:
        plan = plan_upn(first, last, vendor, policy=POLICY)
    except UnusableName as refused:
        refusal = refused
    if refusal is not None:
        assert refusal.field in {"first name", "last name", "vendor company"}
        assert refusal.detail
        return
    assert is_valid_upn(plan.upn)
    assert set(plan.local_part) <= UPN_LOCAL_CHARS
    assert plan.upn == plan.upn.lower()
    assert len(plan.mail_nickname) <= 64
    assert 0 < len(plan.display_name) <= 256


@settings(max_examples=200, deadline=None)
@given(first=names, last=names, vendor=names, taken_count=st.integers(min_value=0, max_value=5))
def test_collision_suffixes_always_give_valid_distinct_upns(first, last, vendor, taken_count: int) -> None:
    try:
        base = plan_upn(first, last, vendor, policy=POLICY)
    except UnusableName:
        return
    taken = {base.upn} | {f"{base.local_part}{n}@abc.com" for n in range(2, taken_count + 2)}
    plan = plan_upn(first, last, vendor, policy=POLICY, taken=taken)
    assert plan.upn not in taken
    assert is_valid_upn(plan.upn)
