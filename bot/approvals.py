"""Approve, reject, retry, cancel and reveal: the clicks on approval and hand-off cards.

Every click is checked on the server, whatever the card showed: the clicker's role (from Entra groups),
separation of duties (never the requester), and the request's current state. The state change itself
is a compare-and-set on the stored request's version, so of two clicks (or a click Teams re-sent) only
one wins; the other gets "already approved by X at T". Provisioning never runs here: an approval only
enqueues the job, so the click is answered in milliseconds whatever Graph is doing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.barriers_record import BarriersApplications
from bot.notifier import TeamsNotifier
from bot.roles import Role, RoleDirectory
from bot.views import approval_view
from cards.actions import (
    ApprovePayload,
    CancelRequestPayload,
    RefreshApprovalPayload,
    RejectPayload,
    RetryPayload,
    RevealPasswordPayload,
)
from cards.approval import already_decided_notice, approval_card
from cards.handoff import reveal_refused_card, revealed_password_card
from cards.help import refusal_card
from cards.render import CardContent
from cards.views import Decision as DecisionView
from cards.views import RefusedAction, RevealedPasswordView, RevealRefusal, RevealRefusedView
from onboarding import requests as domain
from onboarding.audit import AuditAction
from onboarding.errors import IllegalTransition, InvalidRequestId, SelfApprovalRefused, ValidationFailed
from onboarding.requests import OnboardingRequest, Person, RequestStatus
from provisioning.runner import JOB_CANCEL_REQUEST, JOB_PROVISION, cancel_payload, provision_payload
from storage.errors import ConcurrencyError
from storage.repositories import AuditLog, JobQueue
from storage.requests import RequestStore, StepLog, StoredRequest
from storage.vault import CredentialVault, RevealRefused

log = logging.getLogger(__name__)

_REFUSALS: dict[RevealRefused, RevealRefusal] = {
    RevealRefused.NOT_FOUND: RevealRefusal.NOT_READY,
    RevealRefused.NOT_YOURS: RevealRefusal.NOT_YOURS,
    RevealRefused.ALREADY_REVEALED: RevealRefusal.ALREADY_REVEALED,
    RevealRefused.EXPIRED: RevealRefusal.EXPIRED,
}


@dataclass(frozen=True)
class Clicker:
    """Who clicked, as Teams says (never as the card says)."""

    aad_object_id: str | None
    name: str

    def person(self) -> Person | None:
        if not self.aad_object_id:
            return None
        return Person(aad_object_id=self.aad_object_id, display_name=self.name[:256] or "someone")


class ApprovalDesk:
    """The server side of every approval-card and hand-off button."""

    def __init__(
        self,
        *,
        requests: RequestStore,
        steps: StepLog,
        jobs: JobQueue,
        audit: AuditLog,
        roles: RoleDirectory,
        vault: CredentialVault,
        notifier: TeamsNotifier,
        clock: Callable[[], datetime],
        on_enqueued: Callable[[], None] = lambda: None,
    ) -> None:
        self._requests = requests
        self._steps = steps
        self._jobs = jobs
        self._audit = audit
        self._roles = roles
        self._vault = vault
        self._notifier = notifier
        self._clock = clock
        self._on_enqueued = on_enqueued
        self._barriers = BarriersApplications(audit)

    # ------------------------------------------------------------------ decisions

    async def approve(self, clicker: Clicker, payload: ApprovePayload) -> CardContent:
        return await self._decide(clicker, payload.request_id, approve=True, comment=payload.comment)

    async def reject(self, clicker: Clicker, payload: RejectPayload) -> CardContent:
        return await self._decide(clicker, payload.request_id, approve=False, comment=payload.comment)

    async def _decide(
        self, clicker: Clicker, request_id: str, *, approve: bool, comment: str | None
    ) -> CardContent:
        stored = await self._load(request_id)
        if stored is None:
            return _unknown_request_card()
        person = clicker.person()
        if person is None or not await self._roles.has_role(clicker.aad_object_id, Role.APPROVER):
            await self._audit_refusal(clicker, stored, "not an approver")
            return await self._card(
                stored, notice="Only members of the approvers group can decide requests.", may_act=False
            )
        if stored.request.status is not RequestStatus.PENDING_APPROVAL:
            return await self._card(stored, notice=_already_notice(stored.request), may_act=False)
        now = self._clock()
        try:
            if approve:
                changed = domain.approve(stored.request, person, now, comment)
            else:
                changed = domain.reject(stored.request, person, now, comment or "")
        except SelfApprovalRefused:
            await self._audit_refusal(clicker, stored, "self-approval")
            return await self._card(
                stored,
                notice="You submitted this request, so another approver must decide it.",
                may_act=False,
            )
        except ValidationFailed as err:
            return await self._card(
                stored, notice=err.errors[0].message if err.errors else "Invalid comment."
            )
        try:
            updated = await self._requests.replace(stored.request.number, stored.version, changed)
        except ConcurrencyError:
            current = await self._requests.get(stored.request.number)
            assert current is not None
            return await self._card(current, notice=_already_notice(current.request), may_act=False)
        action = AuditAction.REQUEST_APPROVED if approve else AuditAction.REQUEST_REJECTED
        await self._audit.append(
            action,
            actor_aad_id=person.aad_object_id,
            actor_name=person.display_name,
            request_id=updated.request.request_id,
            detail={"comment_given": bool(comment and comment.strip())},
        )
        if approve:
            await self._enqueue(JOB_PROVISION, updated.request.number)
        await self._notifier.request_changed(updated.request.number)
        return await self._card(updated, may_act=False)

    async def retry(self, clicker: Clicker, payload: RetryPayload) -> CardContent:
        stored = await self._load(payload.request_id)
        if stored is None:
            return _unknown_request_card()
        if not await self._roles.has_role(clicker.aad_object_id, Role.APPROVER):
            await self._audit_refusal(clicker, stored, "retry by a non-approver")
            return await self._card(stored, notice="Only approvers can retry provisioning.", may_act=False)
        try:
            changed = domain.retry(stored.request, at=self._clock())
            updated = await self._requests.replace(stored.request.number, stored.version, changed)
        except (IllegalTransition, ConcurrencyError):
            current = await self._requests.get(stored.request.number) or stored
            return await self._card(current, notice="This request is no longer waiting for a retry.")
        await self._audit.append(
            AuditAction.PROVISIONING_RETRIED,
            actor_aad_id=clicker.aad_object_id,
            actor_name=clicker.name,
            request_id=updated.request.request_id,
        )
        await self._enqueue(JOB_PROVISION, updated.request.number)
        await self._notifier.request_changed(updated.request.number)
        return await self._card(updated)

    async def cancel(self, clicker: Clicker, payload: CancelRequestPayload) -> CardContent:
        stored = await self._load(payload.request_id)
        if stored is None:
            return _unknown_request_card()
        person = clicker.person()
        if person is None or not await self._roles.has_role(clicker.aad_object_id, Role.APPROVER):
            await self._audit_refusal(clicker, stored, "cancel by a non-approver")
            return await self._card(stored, notice="Only approvers can cancel a request.", may_act=False)
        if RequestStatus.CANCELLED not in {
            domain.TARGET[a] for a in domain.allowed_actions(stored.request.status)
        }:
            return await self._card(stored, notice="This request can no longer be cancelled.", may_act=False)
        # The undo (licenses back, account deleted) is Graph work: it runs in the background.
        await self._jobs.enqueue(
            JOB_CANCEL_REQUEST,
            cancel_payload(stored.request.number, person),
            dedupe_key=f"{JOB_CANCEL_REQUEST}:{stored.request.number}",
        )
        self._on_enqueued()
        await self._audit.append(
            AuditAction.REQUEST_CANCEL_REQUESTED,
            actor_aad_id=person.aad_object_id,
            actor_name=person.display_name,
            request_id=stored.request.request_id,
        )
        return await self._card(stored, notice="Cancelling: undoing what was done…", may_act=False)

    async def refresh(self, clicker: Clicker, payload: RefreshApprovalPayload) -> CardContent:
        stored = await self._load(payload.request_id)
        if stored is None:
            return _unknown_request_card()
        may_act = await self._roles.has_role(clicker.aad_object_id, Role.APPROVER)
        is_requester = clicker.aad_object_id is not None and stored.request.requester.is_same_person(
            Person(aad_object_id=clicker.aad_object_id, display_name=clicker.name or "someone")
        )
        if not (may_act or is_requester):
            # The card names the contractor and the plan: only the people who may act on it, or asked for it.
            await self._audit_refusal(
                clicker, stored, "refresh by someone who is neither approver nor requester"
            )
            return refusal_card(RefusedAction.APPROVE)
        return await self._card(stored, may_act=may_act and not is_requester)

    # ------------------------------------------------------------------ credentials

    async def reveal(self, clicker: Clicker, payload: RevealPasswordPayload) -> CardContent:
        stored = await self._load(payload.request_id)
        if stored is None or clicker.aad_object_id is None:
            return reveal_refused_card(RevealRefusedView(payload.request_id, RevealRefusal.NOT_READY))
        outcome = await self._vault.reveal(stored.request.number, clicker.aad_object_id)
        if isinstance(outcome, RevealRefused):
            await self._audit.append(
                AuditAction.CREDENTIALS_REVEAL_REFUSED,
                actor_aad_id=clicker.aad_object_id,
                actor_name=clicker.name,
                request_id=stored.request.request_id,
                detail={"reason": outcome.value},
            )
            return reveal_refused_card(
                RevealRefusedView(stored.request.request_id, _REFUSALS[outcome], upn=stored.plan.upn)
            )
        await self._audit.append(
            AuditAction.CREDENTIALS_REVEALED,
            actor_aad_id=clicker.aad_object_id,
            actor_name=clicker.name,
            request_id=stored.request.request_id,
            target=stored.plan.upn,
        )
        return revealed_password_card(
            RevealedPasswordView(request_id=stored.request.request_id, upn=stored.plan.upn, password=outcome)
        )

    # ------------------------------------------------------------------ helpers

    async def _load(self, request_id: str) -> StoredRequest | None:
        try:
            number = domain.parse_request_id(request_id)
        except InvalidRequestId:
            return None
        return await self._requests.get(number)

    async def _card(
        self, stored: StoredRequest, *, notice: str | None = None, may_act: bool = True
    ) -> CardContent:
        steps = await self._steps.steps(stored.request.number)
        applied = await self._barriers.recorded(stored.request.request_id) if stored.plan.segment else None
        return approval_card(
            approval_view(stored, steps, notice=notice, viewer_may_act=may_act, barriers_applied=applied)
        )

    async def _enqueue(self, kind: str, number: int) -> None:
        await self._jobs.enqueue(kind, provision_payload(number), dedupe_key=f"{kind}:{number}")
        self._on_enqueued()

    async def _audit_refusal(self, clicker: Clicker, stored: StoredRequest, reason: str) -> None:
        log.info("refused a click on a request: %s", reason, extra={"request_id": stored.request.request_id})
        await self._audit.append(
            AuditAction.ACCESS_REFUSED,
            actor_aad_id=clicker.aad_object_id,
            actor_name=clicker.name,
            request_id=stored.request.request_id,
            detail={"reason": reason},
        )


def _already_notice(request: OnboardingRequest) -> str:
    if request.status is RequestStatus.CANCELLED and request.cancellation is not None:
        return f"Already cancelled by {request.cancellation.by.display_name}."
    decision = request.decision
    if decision is None:
        return f"This request is {request.status.label}."
    return already_decided_notice(
        DecisionView(
            approved=request.status not in (RequestStatus.REJECTED, RequestStatus.CANCELLED),
            by=decision.by.display_name,
            at=decision.at,
            comment=decision.comment or "",
        )
    )


def _unknown_request_card() -> CardContent:
    return refusal_card(RefusedAction.APPROVE)
