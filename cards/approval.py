"""The approval card in the admin channel (DESIGN §3.2), in every state of the request.

One function renders every state, so the card that updates in place, the answer to a stale click and
the user-specific refresh all come from the same view. While the request can still change, the card
carries a ``refresh`` clause for the listed users (at most 60): their Teams clients ask for the current
card through ``approval.refresh`` when they show it, so approvers see live progress and the right
buttons. Everyone else sees the card as last updated by the bot.
"""

from __future__ import annotations

from microsoft_teams.cards import CardElement, TextInput
from microsoft_teams.cards.core import Action, ContainerStyle, TextColor

from cards._elements import Run, box, card, day, execute, facts, line, moment, note, said, user_text
from cards.actions import (
    INPUT_MAX_LENGTHS,
    ApprovePayload,
    CancelRequestPayload,
    InputId,
    RecordBarriersAppliedPayload,
    RefreshApprovalPayload,
    RejectPayload,
    RetryPayload,
)
from cards.render import CardContent
from cards.views import (
    ActorAt,
    ApprovalCardView,
    Decision,
    PlanView,
    ProgressStep,
    RequestStatus,
    SkuSeats,
    StepState,
)

STATUS_TEXT: dict[RequestStatus, str] = {
    RequestStatus.PENDING_APPROVAL: "Waiting for approval",
    RequestStatus.APPROVED: "Approved: provisioning starts",
    RequestStatus.PROVISIONING: "Approved: provisioning",
    RequestStatus.PROVISIONED: "Provisioned",
    RequestStatus.FAILED: "Provisioning failed",
    RequestStatus.REJECTED: "Rejected",
    RequestStatus.CANCELLED: "Cancelled",
}
_STATUS_STYLE: dict[RequestStatus, ContainerStyle] = {
    RequestStatus.PROVISIONED: "good",
    RequestStatus.FAILED: "attention",
    RequestStatus.REJECTED: "attention",
    RequestStatus.PENDING_APPROVAL: "accent",
}
_STEP_MARK: dict[StepState, str] = {
    StepState.DONE: " ✓",
    StepState.RUNNING: " …",
    StepState.FAILED: " ✗",
    StepState.PENDING: "",
    StepState.SKIPPED: " (skipped)",
}
_STEP_COLOR: dict[StepState, TextColor] = {StepState.DONE: "Good", StepState.FAILED: "Attention"}
_TERMINAL = frozenset({RequestStatus.PROVISIONED, RequestStatus.REJECTED, RequestStatus.CANCELLED})


def approval_card(view: ApprovalCardView) -> CardContent:
    """The approval card for ``view``'s state: plan, seats, warnings, decision, progress, outcome."""
    body: list[CardElement] = [
        line(
            Run("Onboarding request ", trusted=True, weight="Bolder"), Run(view.request_id, weight="Bolder")
        ),
        box([line(said(STATUS_TEXT[view.status]))], style=_STATUS_STYLE.get(view.status, "emphasis")),
    ]
    if view.notice:
        body.append(box([line(view.notice, color="Attention")], style="attention"))
    body.append(
        facts(
            [
                ("Requester", view.requester),
                ("Contractor", (view.contractor_name, view.contractor_email)),
                ("Vendor", view.vendor_company),
                ("Usage location", view.usage_location),
            ]
        )
    )
    body += _plan(view.plan)
    if view.seats and view.status in (RequestStatus.PENDING_APPROVAL, RequestStatus.FAILED):
        body += _seats(view.seats)
    if view.warnings:
        body.append(box([line(warning, color="Warning") for warning in view.warnings], style="warning"))
    if view.decision is not None:
        body.append(_decision_line(view.decision))
    if view.progress:
        body.append(_progress_line(view.progress))
    body += _outcome(view)
    actions: list[Action] = []
    if view.viewer_may_act:
        body += _inputs(view)
        actions = _actions(view)
    return card(body, actions, refresh=_refresh(view), full_width=True)


def already_decided_notice(decision: Decision) -> str:
    """The notice for a stale or repeated click: "Already approved by X at T"."""
    verb = "approved" if decision.approved else "rejected"
    return f"Already {verb} by {decision.by} at {moment(decision.at)}."


def _plan(plan: PlanView) -> list[CardElement]:
    segment: str | tuple[str, ...] = "None: can find and contact everyone"
    if plan.segment:
        segment = (plan.segment, plan.segment_placement) if plan.segment_placement else plan.segment
    return [
        note("Plan", subtle=False),
        box([user_text(plan.upn, weight="Bolder", monospace=True)], style="emphasis"),
        facts(
            [
                ("Display name", plan.display_name),
                *((attribute.label, attribute.value) for attribute in plan.attributes),
                ("Licenses", plan.licenses),
                ("Groups", plan.groups),
                ("Segment", segment),
                ("Access ends", day(plan.end_date)),
                ("Sponsor", plan.sponsor),
            ]
        ),
    ]


def _seats(seats: tuple[SkuSeats, ...]) -> list[CardElement]:
    lines: list[CardElement] = [note("Free seats now", subtle=False)]
    for sku in seats:
        free = max(sku.free, 0)
        lines.append(
            line(
                sku.name,
                said(f": {free} of {sku.total} free"),
                color="Attention" if sku.exhausted else None,
            )
        )
    return lines


def _decision_line(decision: Decision) -> CardElement:
    verb = "Approved" if decision.approved else "Rejected"
    parts: list[Run | str] = [
        said(f"{verb} by "),
        Run(decision.by, weight="Bolder"),
        said(f" at {moment(decision.at)}"),
    ]
    if decision.comment:
        parts += [said(": "), Run(decision.comment, limit=INPUT_MAX_LENGTHS[InputId.COMMENT])]
    return line(*parts, color=None if decision.approved else "Attention")


def _progress_line(progress: tuple[ProgressStep, ...]) -> CardElement:
    parts: list[Run | str] = []
    for index, step in enumerate(progress):
        if index:
            parts.append(said(" · "))
        color = _STEP_COLOR.get(step.state)
        parts.append(
            Run(
                step.label + _STEP_MARK[step.state],
                weight="Bolder" if step.state is StepState.RUNNING else None,
                color=color,
            )
        )
    return line(*parts)


def _actor_line(prefix: str, actor: ActorAt, suffix: str = "") -> CardElement:
    return line(said(prefix), Run(actor.name, weight="Bolder"), said(f" at {moment(actor.at)}{suffix}"))


def _outcome(view: ApprovalCardView) -> list[CardElement]:
    if view.status is RequestStatus.PROVISIONED:
        items: list[CardElement] = [
            box(
                [line(said("Provisioned "), Run(view.plan.upn, weight="Bolder", font_type="Monospace"))],
                style="good",
            )
        ]
        if view.plan.segment:
            if view.barriers_applied is not None:
                items.append(
                    _actor_line(
                        "Information-barrier policy application started by ",
                        view.barriers_applied,
                        ". Barriers are effective once it completes.",
                    )
                )
            else:
                items.append(
                    note(
                        "Segment set. Barriers are not effective yet: they apply only after an administrator "
                        "starts information-barrier policy application (30 minutes or more).",
                        subtle=False,
                    )
                )
        return items
    if view.status is RequestStatus.FAILED and view.failure is not None:
        return [
            box(
                [
                    line(
                        said("Failed at "),
                        Run(view.failure.step_label, weight="Bolder"),
                        said(": "),
                        Run(view.failure.reason, limit=400),
                        color="Attention",
                    )
                ],
                style="attention",
            )
        ]
    if view.status is RequestStatus.CANCELLED and view.cancelled is not None:
        return [_actor_line("Cancelled by ", view.cancelled, ".")]
    return []


def _inputs(view: ApprovalCardView) -> list[CardElement]:
    if view.status is not RequestStatus.PENDING_APPROVAL:
        return []
    return [
        TextInput(
            id=InputId.COMMENT.value,
            label="Comment (required to reject)",
            is_multiline=True,
            max_length=INPUT_MAX_LENGTHS[InputId.COMMENT],
            placeholder="Why, or anything the requester should know",
            spacing="Medium",
        )
    ]


def _actions(view: ApprovalCardView) -> list[Action]:
    request_id, version = view.request_id, view.card_version
    if view.status is RequestStatus.PENDING_APPROVAL:
        return [
            execute("Approve", ApprovePayload(request_id=request_id, card_version=version), style="positive"),
            execute(
                "Reject", RejectPayload(request_id=request_id, card_version=version), style="destructive"
            ),
        ]
    if view.status is RequestStatus.FAILED:
        return [
            execute(
                "Retry",
                RetryPayload(request_id=request_id, card_version=version),
                style="positive",
                send_inputs=False,
            ),
            execute(
                "Cancel request",
                CancelRequestPayload(request_id=request_id, card_version=version),
                style="destructive",
                send_inputs=False,
            ),
        ]
    if _awaiting_barriers(view):
        return [
            execute(
                "Record: policy application started",
                RecordBarriersAppliedPayload(request_id=request_id, card_version=version),
                send_inputs=False,
            )
        ]
    return []


def _awaiting_barriers(view: ApprovalCardView) -> bool:
    """Provisioned into a segment, and nobody has recorded that policy application started."""
    return (
        view.status is RequestStatus.PROVISIONED and bool(view.plan.segment) and view.barriers_applied is None
    )


def _refresh(view: ApprovalCardView) -> tuple[RefreshApprovalPayload, tuple[str, ...]] | None:
    settled = view.status in _TERMINAL and not _awaiting_barriers(view)
    if settled or not view.refresh_user_ids:
        return None
    payload = RefreshApprovalPayload(request_id=view.request_id, card_version=view.card_version)
    return payload, view.refresh_user_ids
