"""Map stored requests, step logs and seat counts to the cards' view models.

One place decides what a card shows for a request, so the invoke answer, the in-place update for
everyone and the requester's notification always agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cards import views as v
from onboarding.licensing import friendly_product_name
from onboarding.requests import Decision as DomainDecision
from onboarding.requests import RequestStatus
from provisioning.progress import PROVISIONING_STEPS, STEP_LABELS
from storage.requests import StepRecord, StepState, StoredRequest

_STEP_STATES: dict[StepState, v.StepState] = {
    StepState.PENDING: v.StepState.PENDING,
    StepState.RUNNING: v.StepState.RUNNING,
    StepState.DONE: v.StepState.DONE,
    StepState.FAILED: v.StepState.FAILED,
    StepState.UNDONE: v.StepState.SKIPPED,
}


def card_status(status: RequestStatus) -> v.RequestStatus:
    """The card's status for a request status (a draft never reaches a card)."""
    return v.RequestStatus(status.value)


def plan_view(stored: StoredRequest) -> v.PlanView:
    plan = stored.plan
    request = stored.request
    return v.PlanView(
        upn=plan.upn,
        display_name=plan.display_name,
        licenses=tuple(friendly_product_name(part) for part in plan.license_part_numbers),
        groups=plan.group_ids,
        end_date=request.end_date,
        sponsor=request.sponsor.display_name,
        segment=plan.segment,
        segment_placement=_placement_text(plan.attributes, plan.group_ids) if plan.segment else None,
        attributes=tuple(v.Attribute(label, value) for label, value in plan.describe()),
    )


def _placement_text(attributes: Mapping[str, str], group_ids: tuple[str, ...]) -> str:
    if attributes:
        return ", ".join(f"{name} = {value}" for name, value in attributes.items())
    return "member of group " + ", ".join(group_ids[-1:])


def progress_view(steps: Mapping[str, StepRecord]) -> tuple[v.ProgressStep, ...]:
    return tuple(
        v.ProgressStep(
            label=STEP_LABELS[name],
            state=_STEP_STATES[steps[name].state] if name in steps else v.StepState.PENDING,
        )
        for name in PROVISIONING_STEPS
    )


def _decision(decision: DomainDecision | None, status: RequestStatus) -> v.Decision | None:
    if decision is None:
        return None
    return v.Decision(
        approved=status is not RequestStatus.REJECTED,
        by=decision.by.display_name,
        at=decision.at,
        comment=decision.comment or "",
    )


def approval_view(
    stored: StoredRequest,
    steps: Mapping[str, StepRecord],
    seats: Iterable[v.SkuSeats] = (),
    *,
    notice: str | None = None,
    viewer_may_act: bool = True,
    warnings: tuple[str, ...] = (),
    barriers_applied: v.ActorAt | None = None,
) -> v.ApprovalCardView:
    """The approval card's view of a request as stored now."""
    request = stored.request
    failure = None
    if request.failure is not None and request.status is RequestStatus.FAILED:
        failure = v.Failure(
            step_label=STEP_LABELS.get(request.failure.step, request.failure.step),
            reason=request.failure.reason,
        )
    cancelled = None
    if request.cancellation is not None:
        cancelled = v.ActorAt(request.cancellation.by.display_name, request.cancellation.at)
    show_progress = request.status in (
        RequestStatus.APPROVED,
        RequestStatus.PROVISIONING,
        RequestStatus.PROVISIONED,
        RequestStatus.FAILED,
    )
    return v.ApprovalCardView(
        request_id=request.request_id,
        card_version=stored.version,
        status=card_status(request.status),
        requester=request.requester.display_name,
        contractor_name=f"{request.contractor.first_name} {request.contractor.last_name}",
        contractor_email=request.contractor.email,
        vendor_company=request.vendor_company,
        usage_location=request.usage_location,
        plan=plan_view(stored),
        seats=tuple(seats),
        warnings=warnings,
        decision=_decision(request.decision, request.status),
        progress=progress_view(steps) if show_progress else (),
        failure=failure,
        cancelled=cancelled,
        barriers_applied=barriers_applied,
        notice=notice,
        viewer_may_act=viewer_may_act,
    )


def status_view(stored: StoredRequest, *, approvals_channel: str | None = None) -> v.StatusView:
    """What the requester is told about a status change."""
    request = stored.request
    actor = None
    comment = ""
    if request.status is RequestStatus.CANCELLED and request.cancellation is not None:
        actor = v.ActorAt(request.cancellation.by.display_name, request.cancellation.at)
    elif request.decision is not None:
        actor = v.ActorAt(request.decision.by.display_name, request.decision.at)
        comment = request.decision.comment or ""
    failure = None
    if request.status is RequestStatus.FAILED and request.failure is not None:
        failure = v.Failure(
            STEP_LABELS.get(request.failure.step, request.failure.step), request.failure.reason
        )
    return v.StatusView(
        request_id=request.request_id,
        status=card_status(request.status),
        contractor_name=f"{request.contractor.first_name} {request.contractor.last_name}",
        vendor_company=request.vendor_company,
        actor=actor,
        comment=comment,
        failure=failure,
        upn=stored.plan.upn if request.status is RequestStatus.PROVISIONED else None,
        approvals_channel=approvals_channel,
    )
