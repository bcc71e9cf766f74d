"""Audit vocabulary and the detail builder that refuses secrets."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from onboarding.audit import TRANSITION_ACTIONS, AuditAction, AuditEvent, audit_detail, is_secret_key
from onboarding.errors import SecretInAuditDetail
from onboarding.requests import RequestAction, RequestStatus


def test_action_codes_are_unique_and_dotted() -> None:
    values = [a.value for a in AuditAction]
    assert len(values) == len(set(values))
    assert all("." in v and v == v.lower() for v in values)


def test_every_transition_has_an_audit_action() -> None:
    assert set(TRANSITION_ACTIONS) == set(RequestAction)


def test_detail_converts_dates_and_enums() -> None:
    detail = audit_detail(
        upn="sa-contoso1-bob.smith@abc.com",
        end_date=date(2030, 2, 1),
        at=datetime(2030, 1, 1, tzinfo=UTC),
        status=RequestStatus.APPROVED,
        skus=("MICROSOFT_REMOTE_ASSIST", "SPE_E5"),
        seats={"free": 3, "enabled": 25},
    )
    assert detail == {
        "upn": "sa-contoso1-bob.smith@abc.com",
        "end_date": "2030-02-01",
        "at": "2030-01-01T00:00:00+00:00",
        "status": "approved",
        "skus": ["MICROSOFT_REMOTE_ASSIST", "SPE_E5"],
        "seats": {"free": 3, "enabled": 25},
    }


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "temporaryPassword",
        "client_secret",
        "clientSecret",
        "access_token",
        "refreshToken",
        "Authorization",
        "api_key",
        "private_key",
        "credentials",
        "otp",
        "passwordProfile",
    ],
)
def test_secret_looking_keys_are_refused(key: str) -> None:
    with pytest.raises(SecretInAuditDetail) as caught:
        audit_detail(**{key: "x"})
    assert key in str(caught.value)


def test_nested_secret_keys_are_refused_with_their_path() -> None:
    with pytest.raises(SecretInAuditDetail) as caught:
        audit_detail(body={"passwordProfile": {"password": "x"}})
    assert "body.passwordProfile" in str(caught.value)


@pytest.mark.parametrize(
    "value",
    [
        "Bearer eyJhbGciOiJIUzI1NiJ9.abc",
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJl",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIE...",
    ],
)
def test_token_looking_values_are_refused_under_any_key(value: str) -> None:
    with pytest.raises(SecretInAuditDetail):
        audit_detail(note=value)


def test_refusal_never_repeats_the_value() -> None:
    with pytest.raises(SecretInAuditDetail) as caught:
        audit_detail(password="Hunter2!Hunter2!")
    assert "Hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    "key", ["upn", "license_profile_key", "segment", "graph_request_id", "keyId", "spinner"]
)
def test_ordinary_keys_pass(key: str) -> None:
    assert is_secret_key(key) is False


def test_non_json_values_are_a_programming_error() -> None:
    with pytest.raises(TypeError):
        audit_detail(thing=object())


def test_audit_event_applies_the_same_rule() -> None:
    with pytest.raises(SecretInAuditDetail):
        AuditEvent(
            action=AuditAction.ACCOUNT_CREATED, at=datetime(2030, 1, 1, tzinfo=UTC), detail={"secret": "x"}
        )


def test_audit_event_serialises_camel_case() -> None:
    event = AuditEvent(
        action=AuditAction.REQUEST_APPROVED,
        at=datetime(2030, 1, 1, tzinfo=UTC),
        actor_aad_object_id="adaa0000-0000-4000-8000-000000000003",
        request_id="VND-000042",
        detail=audit_detail(comment="ok"),
    )
    wire = event.model_dump(mode="json", by_alias=True)
    assert wire["action"] == "request.approved"
    assert wire["actorAadObjectId"] == "adaa0000-0000-4000-8000-000000000003"
