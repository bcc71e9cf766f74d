"""The onboarding request and its approval state machine.

States and the only moves between them::

    draft ──submit──▶ pending_approval ──approve──▶ approved ──start_provisioning──▶ provisioning
      │                  │        │                                                  │        │
      │                  │        └──reject──▶ rejected                mark_provisioned│        │mark_failed
      │                  │                                                          ▼        ▼
      └──cancel──▶ cancelled ◀──cancel── (draft, pending_approval, failed)      provisioned   failed
                                                                       failed ──retry──▶ provisioning

Every transition is a function that returns a *new* request (the value is immutable) or raises
:class:`~onboarding.errors.IllegalTransition` naming the current state and the one asked for. Approve and
reject also enforce separation of duties: the requester can never decide their own request. Whoever stores
requests must apply a transition atomically against the state it was computed from (compare-and-set), so that
two concurrent clicks cannot both win; the domain only decides what is legal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from pydantic import AwareDatetime, Field

from onboarding._model import DomainModel
from onboarding.errors import IllegalTransition, InvalidRequestId, SelfApprovalRefused, ValidationFailed
from onboarding.validation import (
    MAX_DECISION_COMMENT_LENGTH,
    ValidatedAccess,
    ValidatedContractor,
    validate_comment,
)

REQUEST_ID_PREFIX = "VND-"
_REQUEST_ID = re.compile(r"VND-(\d{6,9})")
_MAX_REQUEST_NUMBER = 999_999_999


def format_request_id(number: int) -> str:
    """The id people read and type: ``format_request_id(42) == "VND-000042"``."""
    if not 1 <= number <= _MAX_REQUEST_NUMBER:
        raise ValueError(f"request numbers run from 1 to {_MAX_REQUEST_NUMBER}, got {number}")
    return f"{REQUEST_ID_PREFIX}{number:06d}"


def parse_request_id(text: str) -> int:
    """The request number in ``text`` (``"VND-000042"`` -> 42); case and surrounding spaces are forgiven.

    Raises :class:`~onboarding.errors.InvalidRequestId` for anything else, including ``VND-42`` (ids are
    always shown with six digits, so a shorter one is a typo rather than a different request).
    """
    candidate = text.strip().upper()
    match = _REQUEST_ID.fullmatch(candidate)
    # Only the canonical spelling counts: "VND-0000042" is not a second way to write VND-000042.
    if match is None or int(match.group(1)) < 1 or format_request_id(int(match.group(1))) != candidate:
        raise InvalidRequestId(text)
    return int(match.group(1))


class RequestStatus(StrEnum):
    """Where a request is in its life. Values are stable (they are stored)."""

    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    PROVISIONING = "provisioning"
    PROVISIONED = "provisioned"
    FAILED = "failed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        """How the status reads in a sentence ("pending approval")."""
        return self.value.replace("_", " ")

    @property
    def is_terminal(self) -> bool:
        """True when no action can move the request any more."""
        return not allowed_actions(self)


class RequestAction(StrEnum):
    """The transitions; each has one target state and a fixed set of states it may start from."""

    SUBMIT = "submit"
    APPROVE = "approve"
    REJECT = "reject"
    START_PROVISIONING = "start_provisioning"
    MARK_PROVISIONED = "mark_provisioned"
    MARK_FAILED = "mark_failed"
    RETRY = "retry"
    CANCEL = "cancel"


_S = RequestStatus
_A = RequestAction

#: For each action, the states it may be applied in. Everything not listed is illegal.
ALLOWED_FROM: Mapping[RequestAction, frozenset[RequestStatus]] = MappingProxyType(
    {
        _A.SUBMIT: frozenset({_S.DRAFT}),
        _A.APPROVE: frozenset({_S.PENDING_APPROVAL}),
        _A.REJECT: frozenset({_S.PENDING_APPROVAL}),
        _A.START_PROVISIONING: frozenset({_S.APPROVED}),
        _A.MARK_PROVISIONED: frozenset({_S.PROVISIONING}),
        _A.MARK_FAILED: frozenset({_S.PROVISIONING}),
        _A.RETRY: frozenset({_S.FAILED}),
        _A.CANCEL: frozenset({_S.DRAFT, _S.PENDING_APPROVAL, _S.FAILED}),
    }
)

#: The state each action leads to.
TARGET: Mapping[RequestAction, RequestStatus] = MappingProxyType(
    {
        _A.SUBMIT: _S.PENDING_APPROVAL,
        _A.APPROVE: _S.APPROVED,
        _A.REJECT: _S.REJECTED,
        _A.START_PROVISIONING: _S.PROVISIONING,
        _A.MARK_PROVISIONED: _S.PROVISIONED,
        _A.MARK_FAILED: _S.FAILED,
        _A.RETRY: _S.PROVISIONING,
        _A.CANCEL: _S.CANCELLED,
    }
)

# How an action reads after "it can't ..." in the catalogue text.
_ACTION_PHRASE: Mapping[RequestAction, str] = MappingProxyType(
    {
        _A.SUBMIT: "be submitted",
        _A.APPROVE: "be approved",
        _A.REJECT: "be rejected",
        _A.START_PROVISIONING: "start provisioning",
        _A.MARK_PROVISIONED: "be marked provisioned",
        _A.MARK_FAILED: "be marked failed",
        _A.RETRY: "be retried",
        _A.CANCEL: "be cancelled",
    }
)


def allowed_actions(status: RequestStatus) -> frozenset[RequestAction]:
    """The actions that are legal in ``status`` (what a card may offer)."""
    return frozenset(action for action, sources in ALLOWED_FROM.items() if status in sources)


def can_transition(current: RequestStatus, target: RequestStatus) -> bool:
    """True when some action moves a request from ``current`` to ``target``."""
    return any(TARGET[action] is target for action in allowed_actions(current))


class Person(DomainModel):
    """Someone in the tenant, identified by their Entra object id; the name is for display only."""

    aad_object_id: str = Field(min_length=1, max_length=64)
    display_name: str = Field(max_length=256)

    def is_same_person(self, other: Person) -> bool:
        """Object ids are GUIDs: compare them case-insensitively, never by name."""
        return self.aad_object_id.strip().lower() == other.aad_object_id.strip().lower()


class Contractor(DomainModel):
    """The person outside the company who will use the service account."""

    first_name: str = Field(min_length=1, max_length=64)
    last_name: str = Field(min_length=1, max_length=64)
    email: str = Field(min_length=3, max_length=254)


class Decision(DomainModel):
    """Who did something to the request, when, and why (approval, rejection, cancellation)."""

    by: Person
    at: AwareDatetime
    comment: str | None = None


class FailureRecord(DomainModel):
    """The one clear reason provisioning stopped: the named step and what went wrong."""

    step: str = Field(min_length=1, max_length=128)
    reason: str = Field(min_length=1, max_length=2000)
    at: AwareDatetime


class OnboardingRequest(DomainModel):
    """A request to create a licensed service account for one contractor, and where it is now."""

    number: int = Field(ge=1)
    contractor: Contractor
    vendor_company: str = Field(min_length=1, max_length=64)
    usage_location: str = Field(pattern=r"^[A-Z]{2}$")
    license_profile: str = Field(min_length=1, max_length=64)
    end_date: date
    sponsor: Person
    requester: Person
    segment: str | None = Field(default=None, max_length=64)
    status: RequestStatus = RequestStatus.DRAFT
    created_at: AwareDatetime
    submitted_at: AwareDatetime | None = None
    #: The approver's or rejecter's decision (which one is told by ``status``).
    decision: Decision | None = None
    cancellation: Decision | None = None
    failure: FailureRecord | None = None
    provisioning_started_at: AwareDatetime | None = None
    provisioned_at: AwareDatetime | None = None
    #: How many times provisioning was started (1 + retries).
    attempts: int = Field(default=0, ge=0)

    @property
    def request_id(self) -> str:
        """The readable id, e.g. ``VND-000042``."""
        return format_request_id(self.number)


def draft_request(
    number: int,
    contractor: ValidatedContractor,
    access: ValidatedAccess,
    *,
    requester: Person,
    sponsor: Person | None = None,
    segment: str | None = None,
    created_at: datetime,
) -> OnboardingRequest:
    """A new draft from the wizard's validated steps; the sponsor defaults to the requester."""
    _require_aware(created_at)
    return OnboardingRequest(
        number=number,
        contractor=Contractor(
            first_name=contractor.first_name, last_name=contractor.last_name, email=contractor.email
        ),
        vendor_company=contractor.vendor_company,
        usage_location=contractor.usage_location,
        license_profile=access.license_profile,
        end_date=access.end_date,
        sponsor=sponsor if sponsor is not None else requester,
        requester=requester,
        segment=segment,
        created_at=created_at,
    )


def _require_aware(at: datetime) -> None:
    # A naive timestamp would be read in whatever zone the server runs in; refuse it at the boundary.
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("timestamps must be timezone-aware (use datetime.now(UTC))")


def _move(request: OnboardingRequest, action: RequestAction, **changes: Any) -> OnboardingRequest:
    if request.status not in ALLOWED_FROM[action]:
        raise IllegalTransition(
            request.request_id, request.status.label, _ACTION_PHRASE[action], TARGET[action].label
        )
    # Re-validate the whole value so a transition can never produce a request the model would reject.
    return OnboardingRequest.model_validate({**dict(request), **changes, "status": TARGET[action]})


def _refuse_self_decision(request: OnboardingRequest, by: Person, action: RequestAction) -> None:
    if by.is_same_person(request.requester):
        raise SelfApprovalRefused(request.request_id, action.value)


def submit(request: OnboardingRequest, *, at: datetime) -> OnboardingRequest:
    """draft -> pending approval."""
    _require_aware(at)
    return _move(request, RequestAction.SUBMIT, submitted_at=at)


def approve(
    request: OnboardingRequest, by: Person, at: datetime, comment: str | None = None
) -> OnboardingRequest:
    """pending approval -> approved, by someone other than the requester (role checks are the caller's)."""
    _require_aware(at)
    _refuse_self_decision(request, by, RequestAction.APPROVE)
    cleaned = None
    if comment is not None and comment.strip():
        cleaned = _clean_comment(comment, required=False)
    return _move(request, RequestAction.APPROVE, decision=Decision(by=by, at=at, comment=cleaned))


def reject(request: OnboardingRequest, by: Person, at: datetime, comment: str) -> OnboardingRequest:
    """pending approval -> rejected, with a non-empty comment the requester will read."""
    _require_aware(at)
    _refuse_self_decision(request, by, RequestAction.REJECT)
    cleaned = _clean_comment(comment, required=True)
    return _move(request, RequestAction.REJECT, decision=Decision(by=by, at=at, comment=cleaned))


def start_provisioning(request: OnboardingRequest, *, at: datetime) -> OnboardingRequest:
    """approved -> provisioning (the background run picked the request up)."""
    _require_aware(at)
    return _move(
        request, RequestAction.START_PROVISIONING, provisioning_started_at=at, attempts=request.attempts + 1
    )


def mark_provisioned(request: OnboardingRequest, *, at: datetime) -> OnboardingRequest:
    """provisioning -> provisioned; a failure recorded by an earlier attempt is cleared."""
    _require_aware(at)
    return _move(request, RequestAction.MARK_PROVISIONED, provisioned_at=at, failure=None)


def mark_failed(request: OnboardingRequest, step: str, reason: str, *, at: datetime) -> OnboardingRequest:
    """provisioning -> failed, recording the step that failed for good and the one clear reason."""
    _require_aware(at)
    return _move(request, RequestAction.MARK_FAILED, failure=FailureRecord(step=step, reason=reason, at=at))


def retry(request: OnboardingRequest, *, at: datetime) -> OnboardingRequest:
    """failed -> provisioning again; the run resumes where it failed (the step log is the caller's)."""
    _require_aware(at)
    return _move(request, RequestAction.RETRY, provisioning_started_at=at, attempts=request.attempts + 1)


def cancel(request: OnboardingRequest, by: Person, at: datetime) -> OnboardingRequest:
    """draft, pending approval or failed -> cancelled (undoing a failed run's work is the caller's)."""
    _require_aware(at)
    return _move(request, RequestAction.CANCEL, cancellation=Decision(by=by, at=at))


def _clean_comment(comment: str, *, required: bool) -> str:
    result = validate_comment(
        comment, field="comment", label="Comment", max_length=MAX_DECISION_COMMENT_LENGTH, required=required
    )
    if result.errors:
        raise ValidationFailed(result.errors)
    assert result.value is not None  # a value without errors is always present
    return result.value
