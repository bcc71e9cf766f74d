"""Input rules: each rule with a passing and a failing case; composite validation collects every error."""

from __future__ import annotations

from datetime import date

import pytest

from onboarding.errors import FieldCode, ValidationFailed
from onboarding.validation import (
    AccessInput,
    AccessPolicy,
    ContractorInput,
    country_choices,
    country_name,
    validate_access,
    validate_comment,
    validate_company,
    validate_contractor,
    validate_email,
    validate_end_date,
    validate_license_profile,
    validate_name,
    validate_object_id,
    validate_usage_location,
)

TODAY = date(2030, 1, 10)
POLICY = AccessPolicy(default_days=30, max_days=90)


def name(value: str | None):
    return validate_name(value, field="first_name", label="First name")


def codes(result) -> list[FieldCode]:
    return [e.code for e in result.errors]


# ------------------------------------------------------------------------------------------------ names


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Bob", "Bob"),
        ("  Mary   Ann ", "Mary Ann"),
        ("O'Brien", "O'Brien"),
        ("O’Brien", "O’Brien"),
        ("Müller-Łukasiewicz", "Müller-Łukasiewicz"),
        ("王小明", "王小明"),
        ("Ελένη", "Ελένη"),
        ("שָׁלוֹם", "שָׁלוֹם"),
        ("محمد", "محمد"),
        ("Jose\u0301", "José"),  # decomposed accent is NFC-normalised
        ("Mehr\u200cnaz", "Mehr\u200cnaz"),  # Persian zero-width non-joiner is part of the spelling
    ],
)
def test_names_in_any_alphabet_are_accepted(raw: str, clean: str) -> None:
    assert name(raw).value == clean


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_name_is_required(raw: str | None) -> None:
    assert codes(name(raw)) == [FieldCode.REQUIRED]


def test_name_longer_than_64_is_refused() -> None:
    assert codes(name("a" * 65)) == [FieldCode.TOO_LONG]


def test_name_of_exactly_64_is_accepted() -> None:
    assert name("a" * 64).ok


def test_ten_kilobyte_name_is_refused_as_too_long() -> None:
    result = name("x" * 10_240)
    assert codes(result) == [FieldCode.TOO_LONG]
    assert "10240" in result.errors[0].message


@pytest.mark.parametrize("raw", ["Bob\x00", "Bob\u202eevil", "Bo\u200bb", "Bob\ue000"])
def test_name_with_control_or_bidi_characters_is_refused(raw: str) -> None:
    assert codes(name(raw)) == [FieldCode.CONTROL_CHARACTERS]


def test_tabs_and_newlines_are_just_whitespace() -> None:
    assert name("Mary\tAnn\n").value == "Mary Ann"


@pytest.mark.parametrize("raw", ["<b>Bob</b>", "Bob>"])
def test_name_with_markup_is_refused(raw: str) -> None:
    assert codes(name(raw)) == [FieldCode.MARKUP]


@pytest.mark.parametrize("raw", ["Bob 😀", "Bob2", "Bob_Smith", "Bob.", "R2-D2"])
def test_name_with_other_characters_is_refused_and_they_are_named(raw: str) -> None:
    result = name(raw)
    assert codes(result) == [FieldCode.NAME_CHARACTERS]
    offending = next(c for c in raw if not (c.isalpha() or c in " -'"))
    assert f"“{offending}”" in result.errors[0].message


@pytest.mark.parametrize("raw", ["-", "' -"])
def test_name_needs_a_letter(raw: str) -> None:
    assert codes(name(raw)) == [FieldCode.NAME_NO_LETTER]


# ---------------------------------------------------------------------------------------------- company


def test_company_is_cleaned() -> None:
    assert validate_company("  Contoso   Ltd. & Co ").value == "Contoso Ltd. & Co"


def test_company_is_required() -> None:
    assert codes(validate_company(" ")) == [FieldCode.REQUIRED]


def test_company_longer_than_graph_allows_is_refused() -> None:
    assert codes(validate_company("C" * 65)) == [FieldCode.TOO_LONG]


def test_company_with_markup_is_refused() -> None:
    assert codes(validate_company("<script>")) == [FieldCode.MARKUP]


def test_company_with_control_characters_is_refused() -> None:
    assert codes(validate_company("Contoso\x07")) == [FieldCode.CONTROL_CHARACTERS]


def test_company_needs_a_letter_or_digit() -> None:
    assert codes(validate_company("!!!")) == [FieldCode.NAME_NO_LETTER]


# ----------------------------------------------------------------------------------------------- emails


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("bob@contoso1.com", "bob@contoso1.com"),
        (" Bob.Smith+ra@Contoso1.COM ", "Bob.Smith+ra@contoso1.com"),
        ("o'brien@obrien-field.ie", "o'brien@obrien-field.ie"),
        ("x@xn--bcher-kva.example", "x@xn--bcher-kva.example"),
    ],
)
def test_valid_emails_keep_local_case_and_lower_the_domain(raw: str, clean: str) -> None:
    assert validate_email(raw).value == clean


@pytest.mark.parametrize(
    "raw",
    [
        "bob",
        "bob@",
        "@contoso.com",
        "bob..smith@contoso.com",
        ".bob@contoso.com",
        "bob smith@contoso.com",
        '"bob"@contoso.com',
        "bob@contoso.com\n",
    ],
)
def test_malformed_emails_are_refused(raw: str) -> None:
    # A trailing newline is stripped like other whitespace, so that one case is actually valid.
    result = validate_email(raw)
    if raw.strip() == "bob@contoso.com":
        assert result.ok
    else:
        assert codes(result) == [FieldCode.EMAIL_FORMAT]


@pytest.mark.parametrize("raw", ["bob@contoso", "bob@-contoso.com", "bob@contoso.c0m", "bob@[10.0.0.1]"])
def test_bad_email_domains_are_refused(raw: str) -> None:
    assert codes(validate_email(raw)) == [FieldCode.EMAIL_DOMAIN]


def test_non_ascii_email_is_refused_because_graph_refuses_it() -> None:
    assert codes(validate_email("josé@müller.de")) == [FieldCode.EMAIL_NOT_ASCII]


def test_email_over_254_characters_is_refused() -> None:
    assert codes(validate_email("a" * 60 + "@" + "b" * 190 + ".com")) == [FieldCode.EMAIL_TOO_LONG]


def test_email_local_part_over_64_is_refused() -> None:
    assert codes(validate_email("a" * 65 + "@contoso.com")) == [FieldCode.EMAIL_LOCAL_TOO_LONG]


def test_email_is_required() -> None:
    assert codes(validate_email(None)) == [FieldCode.REQUIRED]


# ------------------------------------------------------------------------------------- usage location


@pytest.mark.parametrize(("raw", "code"), [("US", "US"), (" de ", "DE"), ("jp", "JP")])
def test_iso_alpha2_codes_are_accepted_and_upper_cased(raw: str, code: str) -> None:
    assert validate_usage_location(raw).value == code


@pytest.mark.parametrize("raw", ["ZZ", "USA", "U", "12", "ÜS"])
def test_unknown_country_codes_are_refused(raw: str) -> None:
    assert codes(validate_usage_location(raw)) == [FieldCode.COUNTRY_UNKNOWN]


def test_usage_location_is_required() -> None:
    assert codes(validate_usage_location("")) == [FieldCode.REQUIRED]


def test_country_names_and_choices() -> None:
    assert country_name("de") == "Germany"
    choices = country_choices()
    assert ("US", "United States") in choices
    assert [n for _, n in choices] == sorted(n for _, n in choices)


# ------------------------------------------------------------------------------------------- end dates


def test_end_date_within_the_maximum_is_accepted() -> None:
    assert validate_end_date("2030-04-10", today=TODAY, policy=POLICY).value == date(2030, 4, 10)


def test_end_date_today_is_accepted() -> None:
    assert validate_end_date(TODAY, today=TODAY, policy=POLICY).ok


def test_end_date_in_the_past_is_refused() -> None:
    assert codes(validate_end_date("2030-01-09", today=TODAY, policy=POLICY)) == [FieldCode.DATE_IN_PAST]


def test_end_date_beyond_the_maximum_is_refused_and_says_the_last_allowed_day() -> None:
    result = validate_end_date("2030-04-11", today=TODAY, policy=POLICY)
    assert codes(result) == [FieldCode.DATE_TOO_FAR]
    assert "2030-04-10" in result.errors[0].message


@pytest.mark.parametrize("raw", ["10/04/2030", "2030-02-30", "20300410", "tomorrow"])
def test_malformed_end_dates_are_refused(raw: str) -> None:
    assert codes(validate_end_date(raw, today=TODAY, policy=POLICY)) == [FieldCode.DATE_FORMAT]


def test_end_date_is_required() -> None:
    assert codes(validate_end_date(None, today=TODAY, policy=POLICY)) == [FieldCode.REQUIRED]


def test_access_policy_default_end_date() -> None:
    assert POLICY.default_end_date(TODAY) == date(2030, 2, 9)


def test_access_policy_refuses_default_beyond_maximum() -> None:
    with pytest.raises(ValueError, match="default"):
        AccessPolicy(default_days=100, max_days=90)


# -------------------------------------------------------------------------------------------- comments


def test_comment_keeps_line_breaks() -> None:
    assert validate_comment(" a\r\nb ", field="comment", label="Comment").value == "a\nb"


def test_empty_optional_comment_is_empty() -> None:
    assert validate_comment(None, field="comment", label="Comment").value == ""


def test_required_comment_must_not_be_empty() -> None:
    result = validate_comment(" ", field="comment", label="Comment", required=True)
    assert codes(result) == [FieldCode.REQUIRED]


def test_comment_over_its_limit_is_refused() -> None:
    result = validate_comment("x" * 281, field="note", label="Note", max_length=280)
    assert codes(result) == [FieldCode.TOO_LONG]


def test_comment_with_control_characters_is_refused() -> None:
    assert codes(validate_comment("ok\x1b[31m", field="c", label="Comment")) == [FieldCode.CONTROL_CHARACTERS]


# ------------------------------------------------------------------------------ object ids and profiles


def test_object_id_is_lower_cased() -> None:
    result = validate_object_id("A11CE000-0000-4000-8000-000000000001", field="sponsor", label="Sponsor")
    assert result.value == "a11ce000-0000-4000-8000-000000000001"


def test_object_id_must_be_a_guid() -> None:
    assert codes(validate_object_id("alice", field="sponsor", label="Sponsor")) == [
        FieldCode.OBJECT_ID_FORMAT
    ]


def test_license_profile_must_be_configured() -> None:
    result = validate_license_profile("gold", known=["remote-assist-technician"])
    assert codes(result) == [FieldCode.LICENSE_PROFILE_UNKNOWN]
    assert "remote-assist-technician" in result.errors[0].message


def test_configured_license_profile_is_accepted() -> None:
    assert validate_license_profile("remote-assist-technician", known=["remote-assist-technician"]).ok


# ---------------------------------------------------------------------------------------- composites


def test_contractor_step_collects_every_error_in_field_order() -> None:
    result = validate_contractor(
        ContractorInput(
            vendor_company="", first_name="😀", last_name="x" * 70, email="bob@", usage_location="ZZ"
        )
    )
    assert [e.field for e in result.errors] == [
        "vendor_company",
        "first_name",
        "last_name",
        "email",
        "usage_location",
    ]


def test_contractor_step_returns_clean_values() -> None:
    result = validate_contractor(
        ContractorInput(
            vendor_company=" Contoso1 ",
            first_name="José",
            last_name="Müller",
            email="Bob@Contoso1.com",
            usage_location="de",
        )
    )
    assert result.value is not None
    assert (result.value.email, result.value.usage_location, result.value.country) == (
        "Bob@contoso1.com",
        "DE",
        "Germany",
    )


def test_unwrap_raises_validation_failed_with_all_errors() -> None:
    result = validate_contractor(ContractorInput())
    with pytest.raises(ValidationFailed) as caught:
        result.unwrap()
    assert len(caught.value.errors) == 5


def test_access_step_defaults_sponsor_to_the_requester() -> None:
    result = validate_access(
        AccessInput(license_profile="remote-assist-technician", end_date="2030-02-01"),
        today=TODAY,
        policy=POLICY,
        profile_keys=["remote-assist-technician"],
    )
    assert result.value is not None
    assert result.value.sponsor_aad_object_id is None


def test_access_step_collects_every_error() -> None:
    result = validate_access(
        AccessInput(license_profile="gold", end_date="2031-01-01", sponsor_aad_object_id="nope"),
        today=TODAY,
        policy=POLICY,
        profile_keys=["remote-assist-technician"],
    )
    assert [e.field for e in result.errors] == ["license_profile", "end_date", "sponsor"]


def test_field_errors_serialise_camel_case_for_cards() -> None:
    error = name("").errors[0]
    assert error.model_dump(mode="json", by_alias=True) == {
        "field": "first_name",
        "code": "field.required",
        "message": "First name is required.",
    }
