"""The catalogue of user-facing texts: complete, keyed by every code, filled from error params."""

from __future__ import annotations

import pytest

from onboarding import errors
from onboarding.errors import ErrorCode, FieldCode, IssueCode, OnboardingError
from onboarding.messages import CATALOGUE, placeholders, render, user_message


@pytest.mark.parametrize("code", [*ErrorCode, *FieldCode, *IssueCode])
def test_every_code_has_a_text(code: ErrorCode | FieldCode | IssueCode) -> None:
    assert CATALOGUE[code].strip()


def test_codes_are_unique_across_families() -> None:
    values = [c.value for c in (*ErrorCode, *FieldCode, *IssueCode)]
    assert len(values) == len(set(values))


def _error_classes() -> list[type[OnboardingError]]:
    found = []
    for obj in vars(errors).values():
        if isinstance(obj, type) and issubclass(obj, OnboardingError) and "code" in vars(obj):
            found.append(obj)
    return found


def test_every_error_code_belongs_to_exactly_one_class() -> None:
    assert sorted(cls.code for cls in _error_classes()) == sorted(ErrorCode)


EXAMPLES: list[OnboardingError] = [
    errors.IllegalTransition("VND-000001", "approved", "be submitted", "pending approval"),
    errors.SelfApprovalRefused("VND-000001", "approve"),
    errors.InvalidRequestId("VND-1"),
    errors.ValidationFailed([]),
    errors.InvalidNamingTemplate("{x}", "unknown placeholder"),
    errors.InvalidDomain("abc", "too short"),
    errors.UnusableName("first name", "😀"),
    errors.NoFreeUpn("a@abc.com", "a99@abc.com"),
    errors.UnknownLicenseProfile("gold", ["remote-assist-technician"]),
    errors.NoFreeSeats(["no free seats of X (1 of 1 used)"]),
    errors.ConfigurationError("segments.toml", ["version: missing"]),
    errors.UnknownSegment("Vendor - Nobody"),
    errors.SegmentNotPlaceable("Finance", "it is an internal segment"),
    errors.CatalogNotUsable(["one", "two"]),
    errors.SecretInAuditDetail("password"),
]


def test_examples_cover_every_error_class() -> None:
    assert {type(e) for e in EXAMPLES} == set(_error_classes())


@pytest.mark.parametrize("error", EXAMPLES, ids=lambda e: type(e).__name__)
def test_every_error_renders_from_its_params(error: OnboardingError) -> None:
    assert placeholders(error.code) <= set(error.params)
    text = user_message(error, "c0ffee")
    assert text.endswith("(Reference: c0ffee)")
    assert "{" not in text


def test_user_text_never_shows_the_refused_audit_key() -> None:
    assert "password" not in user_message(errors.SecretInAuditDetail("password"))


def test_render_without_a_needed_parameter_fails_loudly() -> None:
    with pytest.raises(KeyError):
        render(FieldCode.REQUIRED)
