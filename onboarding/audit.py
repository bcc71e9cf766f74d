"""Audit vocabulary: stable action codes and a detail builder that refuses anything secret-looking.

Every request transition and every Graph write is appended to the audit log as (who, what, when, request
id, Graph request-id, detail). ``what`` is an :class:`AuditAction` (its value is stored and exported, so it
never changes); ``detail`` is built with :func:`audit_detail`, which *refuses* (raises) rather than redacts
keys such as ``password`` or ``client_secret`` and values that look like bearer tokens: a secret that
reaches the audit call is a bug to fix, not data to hide.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from pydantic import AwareDatetime, Field, JsonValue, field_validator

from onboarding._model import DomainModel
from onboarding.errors import SecretInAuditDetail
from onboarding.requests import RequestAction


class AuditAction(StrEnum):
    """What happened. Values are stable identifiers (stored, exported, filtered on)."""

    # Request life cycle (one per state-machine transition, plus creation).
    REQUEST_CREATED = "request.created"
    REQUEST_SUBMITTED = "request.submitted"
    REQUEST_APPROVED = "request.approved"
    REQUEST_REJECTED = "request.rejected"
    REQUEST_CANCELLED = "request.cancelled"
    REQUEST_CANCEL_REQUESTED = "request.cancel_requested"
    PROVISIONING_STARTED = "provisioning.started"
    PROVISIONING_RETRIED = "provisioning.retried"
    PROVISIONING_SUCCEEDED = "provisioning.succeeded"
    PROVISIONING_FAILED = "provisioning.failed"
    PROVISIONING_STEP_COMPLETED = "provisioning.step_completed"
    # Graph writes (one per call that changed the tenant; detail carries the Graph request-id).
    ACCOUNT_CREATED = "graph.account_created"
    ACCOUNT_UPDATED = "graph.account_updated"
    ACCOUNT_DISABLED = "graph.account_disabled"
    ACCOUNT_DELETED = "graph.account_deleted"
    SESSIONS_REVOKED = "graph.sessions_revoked"
    LICENSES_ASSIGNED = "graph.licenses_assigned"
    LICENSES_REMOVED = "graph.licenses_removed"
    GROUP_MEMBER_ADDED = "graph.group_member_added"
    GROUP_MEMBER_REMOVED = "graph.group_member_removed"
    # Credentials hand-off (never the password itself).
    CREDENTIALS_ISSUED = "credentials.issued"
    CREDENTIALS_REVEALED = "credentials.revealed"
    CREDENTIALS_REVEAL_REFUSED = "credentials.reveal_refused"
    CREDENTIALS_EXPIRED = "credentials.expired"
    # Lifecycle and administration.
    ACCOUNT_EXTENDED = "lifecycle.extended"
    ACCOUNT_OFFBOARDED = "lifecycle.offboarded"
    SEGMENT_CHANGE_REQUESTED = "barriers.segment_change_requested"
    SEGMENT_CHANGED = "barriers.segment_changed"
    BARRIERS_APPLICATION_RECORDED = "barriers.application_recorded"
    BARRIERS_SCRIPT_GENERATED = "barriers.script_generated"
    APPROVALS_CHANNEL_BOUND = "admin.approvals_channel_bound"
    ACCESS_REFUSED = "security.access_refused"
    # Account lifecycle (onboarding/lifecycle.py, provisioning/offboarding.py, provisioning/lifecycle.py).
    LIFECYCLE_REMINDER_SENT = "lifecycle.reminder_sent"
    LIFECYCLE_APPROVAL_REQUESTED = "lifecycle.approval_requested"
    LIFECYCLE_APPROVED = "lifecycle.approved"
    LIFECYCLE_REJECTED = "lifecycle.rejected"
    OFFBOARDING_REQUESTED = "lifecycle.offboarding_requested"
    OFFBOARDING_STEP_COMPLETED = "lifecycle.offboarding_step_completed"
    OFFBOARDING_FAILED = "lifecycle.offboarding_failed"
    ACCOUNT_RETENTION_DELETED = "lifecycle.deleted_after_retention"
    CREDENTIALS_RESET_REQUESTED = "lifecycle.credentials_reset_requested"
    LEAVE_DATE_STAMPED = "graph.leave_date_stamped"
    CREDENTIALS_RESET = "graph.credentials_reset"
    # Segment changes of existing accounts (bot/segment_change.py).
    SEGMENT_CHANGE_APPROVED = "barriers.segment_change_approved"
    SEGMENT_CHANGE_REJECTED = "barriers.segment_change_rejected"
    SEGMENT_CHANGE_RETRIED = "barriers.segment_change_retried"


#: The audit action recorded for each state-machine transition.
TRANSITION_ACTIONS: Mapping[RequestAction, AuditAction] = MappingProxyType(
    {
        RequestAction.SUBMIT: AuditAction.REQUEST_SUBMITTED,
        RequestAction.APPROVE: AuditAction.REQUEST_APPROVED,
        RequestAction.REJECT: AuditAction.REQUEST_REJECTED,
        RequestAction.START_PROVISIONING: AuditAction.PROVISIONING_STARTED,
        RequestAction.MARK_PROVISIONED: AuditAction.PROVISIONING_SUCCEEDED,
        RequestAction.MARK_FAILED: AuditAction.PROVISIONING_FAILED,
        RequestAction.RETRY: AuditAction.PROVISIONING_RETRIED,
        RequestAction.CANCEL: AuditAction.REQUEST_CANCELLED,
    }
)

# Key names that mean "this is a credential": whole words ("pin", "otp") and substrings that catch compounds
# ("clientSecret", "access_token", "passwordHash"). Conservative on purpose: a false refusal costs a renamed
# key, a false pass leaks a secret into a table people export.
_SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "token",
        "credential",
        "credentials",
        "authorization",
        "cookie",
        "pin",
        "otp",
        "apikey",
        "privatekey",
        "assertion",
        "signature",
    }
)
_SECRET_SUBSTRINGS = ("password", "passwd", "secret", "token", "credential", "privatekey", "apikey")
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")
# Values that are secrets whatever their key: bearer headers, JWTs, PEM private keys.
_SECRET_VALUES = (
    re.compile(r"(?i)\bbearer\s+[a-z0-9._~+/=-]{8,}"),
    re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
)


def is_secret_key(key: str) -> bool:
    """True when an audit detail key names a credential (``password``, ``clientSecret``, ``accessToken``)."""
    words = [w for w in _WORD_SPLIT.split(key) if w]
    lowered = [w.lower() for w in words]
    compact = "".join(lowered)
    return any(w in _SECRET_WORDS for w in lowered) or any(s in compact for s in _SECRET_SUBSTRINGS)


def _looks_secret(value: str) -> bool:
    return any(pattern.search(value) for pattern in _SECRET_VALUES)


def _clean(key: str, value: object) -> JsonValue:
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, str):
        if _looks_secret(value):
            raise SecretInAuditDetail(key)
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, Mapping):
        return _clean_mapping(value, prefix=f"{key}.")
    if isinstance(value, list | tuple | frozenset | set):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
        return [_clean(key, item) for item in items]
    raise TypeError(f"audit detail {key!r}: {type(value).__name__} is not a JSON value")


def _clean_mapping(values: Mapping[Any, object], *, prefix: str = "") -> dict[str, JsonValue]:
    cleaned: dict[str, JsonValue] = {}
    for raw_key, value in values.items():
        key = str(raw_key)
        if is_secret_key(key):
            raise SecretInAuditDetail(prefix + key)
        cleaned[key] = _clean(prefix + key, value)
    return cleaned


def audit_detail(**values: object) -> dict[str, JsonValue]:
    """A JSON-ready detail dict; raises :class:`~onboarding.errors.SecretInAuditDetail` for secret-looking
    keys (at any depth) or token-looking values. Dates become ISO text, enums their value."""
    return _clean_mapping(dict(values.items()))


class AuditEvent(DomainModel):
    """One audit record as the domain describes it; storage decides how it is persisted."""

    action: AuditAction
    at: AwareDatetime
    actor_aad_object_id: str | None = Field(default=None, max_length=64)
    actor_name: str | None = Field(default=None, max_length=256)
    request_id: str | None = None
    graph_request_id: str | None = None
    correlation_id: str | None = None
    detail: dict[str, JsonValue] = Field(default_factory=dict)

    @field_validator("detail")
    @classmethod
    def _no_secrets(cls, value: dict[str, JsonValue]) -> dict[str, JsonValue]:
        # Same rule however the event is built: directly, or from audit_detail().
        return audit_detail(**value)
