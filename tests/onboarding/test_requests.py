"""The onboarding request: ids, the full transition table, separation of duties, recorded facts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from onboarding.errors import IllegalTransition, InvalidRequestId, SelfApprovalRefused, ValidationFailed
from onboarding.messages import user_message
from onboarding.requests import (
    Contractor,
    OnboardingRequest,
    Person,
    RequestAction,
    RequestStatus,
    allowed_actions,
    approve,
    can_transition,
    cancel,
    draft_request,
    format_request_id,
    mark_failed,
    mark_provisioned,
    parse_request_id,
    reject,
    retry,
    start_provisioning,
    submit,
)
from onboarding.validation import ValidatedAccess, ValidatedContractor

T0 = datetime(2030, 1, 2, 9, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)
ALICE = Person(aad_object_id="a11ce000-0000-4000-8000-000000000001", display_name="Alice Requester")
ADAM = Person(aad_object_id="adaa0000-0000-4000-8000-000000000003", display_name="Adam Approver")


def make_request(status: RequestStatus = RequestStatus.DRAFT, **changes: object) -> OnboardingRequest:
    values: dict[str, object] = {
        "number": 42,
        "contractor": Contractor(first_name="Bob", last_name="Smith", email="bob@contoso1.com"),
        "vendor_company": "Contoso1",
        "usage_location": "US",
        "license_profile": "remote-assist-technician",
        "end_date": date(2030, 2, 1),
        "sponsor": ALICE,
        "requester": ALICE,
        "status": status,
        "created_at": T0,
    }
    values.update(changes)
    return OnboardingRequest.model_validate(values)


S = RequestStatus
A = RequestAction

# The table from DESIGN/issue 4, written out independently of the implementation's own table.
LEGAL = {
    (A.SUBMIT, S.DRAFT): S.PENDING_APPROVAL,
    (A.APPROVE, S.PENDING_APPROVAL): S.APPROVED,
    (A.REJECT, S.PENDING_APPROVAL): S.REJECTED,
    (A.START_PROVISIONING, S.APPROVED): S.PROVISIONING,
    (A.MARK_PROVISIONED, S.PROVISIONING): S.PROVISIONED,
    (A.MARK_FAILED, S.PROVISIONING): S.FAILED,
    (A.RETRY, S.FAILED): S.PROVISIONING,
    (A.CANCEL, S.DRAFT): S.CANCELLED,
    (A.CANCEL, S.PENDING_APPROVAL): S.CANCELLED,
    (A.CANCEL, S.FAILED): S.CANCELLED,
}

APPLY: dict[RequestAction, Callable[[OnboardingRequest], OnboardingRequest]] = {
    A.SUBMIT: lambda r: submit(r, at=T1),
    A.APPROVE: lambda r: approve(r, ADAM, T1),
    A.REJECT: lambda r: reject(r, ADAM, T1, "Use the Fabrikam contract instead"),
    A.START_PROVISIONING: lambda r: start_provisioning(r, at=T1),
    A.MARK_PROVISIONED: lambda r: mark_provisioned(r, at=T1),
    A.MARK_FAILED: lambda r: mark_failed(r, "assign_licenses", "no free seats", at=T1),
    A.RETRY: lambda r: retry(r, at=T1),
    A.CANCEL: lambda r: cancel(r, ADAM, T1),
}

ALL_PAIRS = [(action, status) for action in RequestAction for status in RequestStatus]


@pytest.mark.parametrize(("action", "status"), [p for p in ALL_PAIRS if p in LEGAL])
def test_every_legal_move_reaches_its_target(action: RequestAction, status: RequestStatus) -> None:
    moved = APPLY[action](make_request(status))
    assert moved.status is LEGAL[(action, status)]


@pytest.mark.parametrize(("action", "status"), [p for p in ALL_PAIRS if p not in LEGAL])
def test_every_illegal_move_raises_naming_both_states(action: RequestAction, status: RequestStatus) -> None:
    with pytest.raises(IllegalTransition) as caught:
        APPLY[action](make_request(status))
    assert caught.value.current == status.label
    assert status.label in str(caught.value)
    assert caught.value.target in str(caught.value)


def test_the_table_covers_all_64_pairs() -> None:
    assert len(ALL_PAIRS) == 64
    assert len(LEGAL) == 10


@pytest.mark.parametrize("status", list(RequestStatus))
def test_allowed_actions_match_the_table(status: RequestStatus) -> None:
    assert allowed_actions(status) == {action for (action, source) in LEGAL if source is status}


@pytest.mark.parametrize("status", [S.PROVISIONED, S.REJECTED, S.CANCELLED])
def test_terminal_states_allow_nothing(status: RequestStatus) -> None:
    assert status.is_terminal


def test_can_transition_follows_actions() -> None:
    assert can_transition(S.FAILED, S.PROVISIONING)
    assert not can_transition(S.PROVISIONED, S.CANCELLED)


def test_illegal_transition_user_text_is_catalogue_text() -> None:
    with pytest.raises(IllegalTransition) as caught:
        cancel(make_request(S.PROVISIONED), ADAM, T1)
    assert user_message(caught.value, "corr-1") == (
        "VND-000042 is provisioned, so it can't be cancelled now. (Reference: corr-1)"
    )


def test_requester_cannot_approve_own_request() -> None:
    pending = make_request(S.PENDING_APPROVAL)
    with pytest.raises(SelfApprovalRefused):
        approve(pending, ALICE, T1)


def test_requester_cannot_approve_with_differently_cased_object_id() -> None:
    pending = make_request(S.PENDING_APPROVAL)
    shouting = Person(aad_object_id=ALICE.aad_object_id.upper(), display_name="Someone else entirely")
    with pytest.raises(SelfApprovalRefused):
        approve(pending, shouting, T1)


def test_requester_cannot_reject_own_request() -> None:
    with pytest.raises(SelfApprovalRefused):
        reject(make_request(S.PENDING_APPROVAL), ALICE, T1, "changed my mind")


def test_same_display_name_is_not_the_same_person() -> None:
    namesake = Person(aad_object_id="0b0a0000-0000-4000-8000-000000000005", display_name=ALICE.display_name)
    assert approve(make_request(S.PENDING_APPROVAL), namesake, T1).status is S.APPROVED


def test_approval_records_who_when_and_comment() -> None:
    approved = approve(make_request(S.PENDING_APPROVAL), ADAM, T1, "  ok for the Q1 job  ")
    assert approved.decision is not None
    assert (approved.decision.by, approved.decision.at, approved.decision.comment) == (
        ADAM,
        T1,
        "ok for the Q1 job",
    )


def test_blank_approval_comment_is_stored_as_none() -> None:
    approved = approve(make_request(S.PENDING_APPROVAL), ADAM, T1, "   ")
    assert approved.decision is not None
    assert approved.decision.comment is None


def test_reject_requires_a_comment() -> None:
    with pytest.raises(ValidationFailed) as caught:
        reject(make_request(S.PENDING_APPROVAL), ADAM, T1, "   ")
    assert [e.field for e in caught.value.errors] == ["comment"]


def test_reject_refuses_an_overlong_comment() -> None:
    with pytest.raises(ValidationFailed):
        reject(make_request(S.PENDING_APPROVAL), ADAM, T1, "x" * 1001)


def test_rejection_keeps_the_comment() -> None:
    rejected = reject(make_request(S.PENDING_APPROVAL), ADAM, T1, "Wrong vendor")
    assert rejected.decision is not None
    assert rejected.decision.comment == "Wrong vendor"


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        submit(make_request(), at=datetime(2030, 1, 2, 9, 0))  # naive on purpose


def test_submit_records_the_time() -> None:
    assert submit(make_request(), at=T1).submitted_at == T1


def test_mark_failed_records_step_and_reason() -> None:
    failed = mark_failed(make_request(S.PROVISIONING), "assign_licenses", "no free seats", at=T1)
    assert failed.failure is not None
    assert (failed.failure.step, failed.failure.reason) == ("assign_licenses", "no free seats")


def test_retry_counts_attempts_and_success_clears_the_failure() -> None:
    started = start_provisioning(make_request(S.APPROVED), at=T0)
    failed = mark_failed(started, "create_account", "timeout", at=T0)
    done = mark_provisioned(retry(failed, at=T1), at=T1)
    assert (done.attempts, done.failure, done.provisioned_at) == (2, None, T1)


def test_transitions_leave_the_original_untouched() -> None:
    draft = make_request()
    submit(draft, at=T1)
    assert draft.status is S.DRAFT


def test_requests_are_immutable() -> None:
    with pytest.raises(ValidationError):
        make_request().status = S.APPROVED  # type: ignore[misc]


def test_request_json_round_trip_uses_camel_case() -> None:
    request = approve(submit(make_request(segment="Vendor - Contoso"), at=T0), ADAM, T1)
    wire = request.model_dump(mode="json", by_alias=True)
    assert {"vendorCompany", "usageLocation", "licenseProfile", "submittedAt"} <= wire.keys()
    assert OnboardingRequest.model_validate(wire) == request


def test_request_refuses_a_lower_case_usage_location() -> None:
    with pytest.raises(ValidationError):
        make_request(usage_location="us")


def test_draft_from_validated_steps_defaults_the_sponsor_to_the_requester() -> None:
    contractor = ValidatedContractor(
        vendor_company="Contoso1",
        first_name="Bob",
        last_name="Smith",
        email="bob@contoso1.com",
        usage_location="US",
    )
    access = ValidatedAccess(license_profile="remote-assist-technician", end_date=date(2030, 2, 1))
    draft = draft_request(7, contractor, access, requester=ALICE, segment="Vendor - Contoso", created_at=T0)
    assert (draft.request_id, draft.status, draft.sponsor, draft.contractor.email, draft.segment) == (
        "VND-000007",
        S.DRAFT,
        ALICE,
        "bob@contoso1.com",
        "Vendor - Contoso",
    )


# ---------------------------------------------------------------------------------------- request ids


def test_format_request_id_pads_to_six_digits() -> None:
    assert format_request_id(42) == "VND-000042"


def test_format_request_id_grows_past_six_digits() -> None:
    assert format_request_id(1_234_567) == "VND-1234567"


@pytest.mark.parametrize("number", [0, -1, 1_000_000_000])
def test_format_request_id_refuses_out_of_range(number: int) -> None:
    with pytest.raises(ValueError, match="request numbers"):
        format_request_id(number)


@pytest.mark.parametrize("text", ["VND-000042", " vnd-000042 ", "Vnd-000042"])
def test_parse_request_id_forgives_case_and_spaces(text: str) -> None:
    assert parse_request_id(text) == 42


@pytest.mark.parametrize(
    "text", ["", "VND-42", "VND-0000042", "ABC-000042", "VND-000000", "VND 000042", "42"]
)
def test_parse_request_id_refuses_other_spellings(text: str) -> None:
    with pytest.raises(InvalidRequestId):
        parse_request_id(text)


@given(st.integers(min_value=1, max_value=999_999_999))
def test_request_ids_round_trip(number: int) -> None:
    assert parse_request_id(format_request_id(number)) == number
