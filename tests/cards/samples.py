"""Every card the package builds, in every variant, from sample views.

``build_all(t)`` passes every user-provided string through ``t``: the identity gives realistic cards,
a constant hostile string gives the injection test's cards. System identifiers (request and wizard ids,
country codes, the password) stay realistic because their formats are checked elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from cards import approval, handoff, help, wizard
from cards.actions import InputId
from cards.render import CardContent
from cards.views import (
    AccessStepView,
    ActorAt,
    ApprovalCardView,
    Attribute,
    BarriersStepView,
    ChoiceOption,
    ContractorStepView,
    CredentialsReadyView,
    Decision,
    ErrorView,
    Failure,
    FieldError,
    LicenseProfileOption,
    PlanView,
    ProgressStep,
    RefusedAction,
    RequestStatus,
    RevealedPasswordView,
    RevealRefusal,
    RevealRefusedView,
    ReviewStepView,
    SegmentOption,
    SkuSeats,
    StatusView,
    StepState,
    SubmittedView,
)

REQUEST_ID = "VND-000042"
WIZARD_ID = "wiz-7f3a"
SAMPLE_PASSWORD = "Kx7#mQ2!vR9pLw4z"
APPROVER_IDS = ("29:adam", "29:paula")
DECIDED_AT = datetime(2026, 6, 30, 14, 5, tzinfo=UTC)
PROVISIONED_AT = datetime(2026, 6, 30, 14, 9, tzinfo=UTC)

Text = Callable[[str], str]


def _same(text: str) -> str:
    return text


def countries(t: Text = _same) -> tuple[ChoiceOption, ...]:
    return (
        ChoiceOption("DE", t("Germany")),
        ChoiceOption("FR", t("France")),
        ChoiceOption("US", t("United States")),
    )


def remote_assist(free: int = 3, t: Text = _same) -> SkuSeats:
    return SkuSeats(t("Dynamics 365 Remote Assist"), "MICROSOFT_REMOTE_ASSIST", free, 25)


def ib_license(free: int = 4, t: Text = _same) -> SkuSeats:
    return SkuSeats(t("Office 365 E5"), "ENTERPRISEPREMIUM", free, 10)


def contractor_view(t: Text = _same, **changes: object) -> ContractorStepView:
    values: dict[str, object] = {
        "wizard_id": WIZARD_ID,
        "card_version": 1,
        "countries": countries(t),
        "vendor_company": t("Contoso"),
        "first_name": t("Bob"),
        "last_name": t("Builder"),
        "contractor_email": t("bob@contoso.com"),
        "usage_location": "DE",
    }
    values.update(changes)
    return ContractorStepView(**values)  # type: ignore[arg-type]


def access_view(t: Text = _same, **changes: object) -> AccessStepView:
    values: dict[str, object] = {
        "wizard_id": WIZARD_ID,
        "card_version": 2,
        "profiles": (
            LicenseProfileOption("remote-assist", t("Remote Assist technician"), (remote_assist(t=t),)),
            LicenseProfileOption("hololens", t("HoloLens technician"), (remote_assist(0, t),)),
        ),
        "min_end_date": date(2026, 7, 1),
        "max_end_date": date(2026, 12, 31),
        "license_profile": "remote-assist",
        "end_date": date(2026, 9, 30),
        "sponsor": t("alice@abc.onmicrosoft.com"),
    }
    values.update(changes)
    return AccessStepView(**values)  # type: ignore[arg-type]


def segments(t: Text = _same) -> tuple[SegmentOption, ...]:
    return (
        SegmentOption("Vendors-Contoso", t("Vendors-Contoso"), t("Department = Vendors-Contoso")),
        SegmentOption("Field-Service", t("Field service"), t("member of group Field service vendors")),
    )


def barriers_view(t: Text = _same, **changes: object) -> BarriersStepView:
    values: dict[str, object] = {
        "wizard_id": WIZARD_ID,
        "card_version": 3,
        "segments": segments(t),
        "reach_everyone": False,
        "segment": "Vendors-Contoso",
        "ib_license": ib_license(t=t),
    }
    values.update(changes)
    return BarriersStepView(**values)  # type: ignore[arg-type]


def review_view(t: Text = _same, **changes: object) -> ReviewStepView:
    values: dict[str, object] = {
        "wizard_id": WIZARD_ID,
        "card_version": 4,
        "upn": t("sa-contoso-bob.builder@abc.onmicrosoft.com"),
        "display_name": t("Bob Builder (Contoso)"),
        "attributes": (
            Attribute(t("Company"), t("Contoso")),
            Attribute("Employee type", t("Vendor")),
            Attribute("Usage location", t("Germany")),
            Attribute("Other email", t("bob@contoso.com")),
            Attribute("Department", t("Vendors-Contoso")),
        ),
        "licenses": (t("Dynamics 365 Remote Assist"), t("Office 365 E5")),
        "groups": (t("Vendor service accounts"),),
        "end_date": date(2026, 9, 30),
        "sponsor": t("Alice Requester"),
        "segment": t("Vendors-Contoso"),
        "segment_placement": t("Department = Vendors-Contoso"),
    }
    values.update(changes)
    return ReviewStepView(**values)  # type: ignore[arg-type]


def plan(t: Text = _same, **changes: object) -> PlanView:
    values: dict[str, object] = {
        "upn": t("sa-contoso-bob.builder@abc.onmicrosoft.com"),
        "display_name": t("Bob Builder (Contoso)"),
        "licenses": (t("Dynamics 365 Remote Assist"), t("Office 365 E5")),
        "groups": (t("Vendor service accounts"),),
        "end_date": date(2026, 9, 30),
        "sponsor": t("Alice Requester"),
        "segment": t("Vendors-Contoso"),
        "segment_placement": t("Department = Vendors-Contoso"),
        "attributes": (Attribute(t("Company"), t("Contoso")),),
    }
    values.update(changes)
    return PlanView(**values)  # type: ignore[arg-type]


def approval_view(t: Text = _same, **changes: object) -> ApprovalCardView:
    values: dict[str, object] = {
        "request_id": REQUEST_ID,
        "card_version": 1,
        "status": RequestStatus.PENDING_APPROVAL,
        "requester": t("Alice Requester"),
        "contractor_name": t("Bob Builder"),
        "contractor_email": t("bob@contoso.com"),
        "vendor_company": t("Contoso"),
        "usage_location": t("Germany"),
        "plan": plan(t),
        "seats": (remote_assist(t=t), ib_license(t=t)),
        "refresh_user_ids": APPROVER_IDS,
    }
    values.update(changes)
    return ApprovalCardView(**values)  # type: ignore[arg-type]


def progress(t: Text = _same, failed: bool = False) -> tuple[ProgressStep, ...]:
    return (
        ProgressStep(t("Creating account"), StepState.DONE),
        ProgressStep(t("Assigning licenses"), StepState.FAILED if failed else StepState.RUNNING),
        ProgressStep(t("Segment"), StepState.PENDING),
    )


def build_all(t: Text = _same) -> dict[str, CardContent]:
    """Every card variant, by a stable name (used for the artifact file names too)."""
    approved = Decision(True, t("Adam Approver"), DECIDED_AT, t("Looks fine"))
    rejected = Decision(False, t("Paula Approver"), DECIDED_AT, t("Not this vendor"))
    failure = Failure(t("Assign licenses"), t("No free seats of Dynamics 365 Remote Assist (25 of 25 used)."))
    cancelled = ActorAt(t("Adam Approver"), PROVISIONED_AT)

    def status(state: RequestStatus, **changes: object) -> StatusView:
        values: dict[str, object] = {
            "request_id": REQUEST_ID,
            "status": state,
            "contractor_name": t("Bob Builder"),
            "vendor_company": t("Contoso"),
        }
        values.update(changes)
        return StatusView(**values)  # type: ignore[arg-type]

    return {
        "help": help.help_card(),
        "help-channel-admin": help.help_card(show_channel_admin=True),
        "welcome": help.welcome_card(t("Alice")),
        "welcome-anonymous": help.welcome_card(),
        "unknown-command": help.unknown_command_card(t("make me a sandwich")),
        "error": help.error_card(
            ErrorView(
                t("I couldn't save your request. Try again in a minute."),
                "c0ffee-42",
                t("Something went wrong"),
            )
        ),
        "refusal-bind-channel": help.refusal_card(RefusedAction.BIND_CHANNEL),
        "refusal-approve-custom-group": help.refusal_card(
            RefusedAction.APPROVE, group_name=t("IT Approvers")
        ),
        "refusal-approve-own": help.refusal_card(RefusedAction.APPROVE_OWN),
        "channel-bound": help.channel_bound_card(t("Vendor approvals"), t("Adam Approver")),
        "channel-bound-plain": help.channel_bound_card(),
        "wizard-1-contractor": wizard.wizard_card(contractor_view(t)),
        "wizard-1-contractor-empty": wizard.wizard_card(
            contractor_view(
                t, vendor_company="", first_name="", last_name="", contractor_email="", usage_location=""
            )
        ),
        "wizard-1-contractor-errors": wizard.wizard_card(
            contractor_view(
                t,
                contractor_email=t("bob@@contoso"),
                errors=(
                    FieldError(t("Enter an email address like bob@contoso.com."), InputId.CONTRACTOR_EMAIL),
                    FieldError(t("Your session was saved; check the fields below.")),
                ),
            )
        ),
        "wizard-2-access": wizard.wizard_card(access_view(t)),
        "wizard-2-access-no-seats": wizard.wizard_card(access_view(t, license_profile="hololens")),
        "wizard-2-access-errors": wizard.wizard_card(
            access_view(t, errors=(FieldError(t("The end date is after 31 Dec 2026."), InputId.END_DATE),))
        ),
        "wizard-3-barriers": wizard.wizard_card(barriers_view(t)),
        "wizard-3-barriers-unanswered": wizard.wizard_card(barriers_view(t, reach_everyone=None, segment="")),
        "wizard-3-barriers-unavailable": wizard.wizard_card(
            barriers_view(
                t,
                reach_everyone=None,
                segment="",
                ib_license=None,
                unavailable_reason=t("no information-barrier license has a free seat."),
            )
        ),
        "wizard-4-review": wizard.wizard_card(review_view(t)),
        "wizard-4-review-no-segment": wizard.wizard_card(
            review_view(
                t,
                segment=None,
                segment_placement=None,
                warnings=(t("The UPN is taken; a suffix was added."),),
            )
        ),
        "wizard-submitted": wizard.wizard_submitted_card(SubmittedView(REQUEST_ID, t("Vendor approvals"))),
        "wizard-submitted-no-channel": wizard.wizard_submitted_card(SubmittedView(REQUEST_ID, None)),
        "wizard-cancelled": wizard.wizard_cancelled_card(),
        "wizard-ended": wizard.wizard_ended_card(),
        "approval-pending": approval.approval_card(
            approval_view(t, warnings=(t("The segment Vendors-Contoso is missing from the catalog."),))
        ),
        "approval-pending-read-only": approval.approval_card(approval_view(t, viewer_may_act=False)),
        "approval-pending-stale-click": approval.approval_card(
            approval_view(
                t,
                status=RequestStatus.PROVISIONING,
                decision=approved,
                notice=approval.already_decided_notice(approved),
                progress=progress(t),
            )
        ),
        "approval-provisioning": approval.approval_card(
            approval_view(t, status=RequestStatus.PROVISIONING, decision=approved, progress=progress(t))
        ),
        "approval-provisioned": approval.approval_card(
            approval_view(t, status=RequestStatus.PROVISIONED, decision=approved, card_version=7)
        ),
        "approval-provisioned-barriers-recorded": approval.approval_card(
            approval_view(
                t,
                status=RequestStatus.PROVISIONED,
                decision=approved,
                barriers_applied=ActorAt(t("Omar Operator"), PROVISIONED_AT),
            )
        ),
        "approval-provisioned-no-segment": approval.approval_card(
            approval_view(
                t,
                status=RequestStatus.PROVISIONED,
                decision=approved,
                plan=plan(t, segment=None, segment_placement=None),
            )
        ),
        "approval-failed": approval.approval_card(
            approval_view(
                t,
                status=RequestStatus.FAILED,
                decision=approved,
                progress=progress(t, failed=True),
                failure=failure,
            )
        ),
        "approval-rejected": approval.approval_card(
            approval_view(t, status=RequestStatus.REJECTED, decision=rejected)
        ),
        "approval-cancelled": approval.approval_card(
            approval_view(
                t, status=RequestStatus.CANCELLED, decision=approved, failure=failure, cancelled=cancelled
            )
        ),
        "status-pending": handoff.status_card(
            status(RequestStatus.PENDING_APPROVAL, approvals_channel=t("Vendor approvals"))
        ),
        "status-pending-no-channel": handoff.status_card(status(RequestStatus.PENDING_APPROVAL)),
        "status-approved": handoff.status_card(
            status(RequestStatus.APPROVED, actor=ActorAt(approved.by, approved.at))
        ),
        "status-provisioned": handoff.status_card(
            status(RequestStatus.PROVISIONED, upn=t("sa-contoso-bob@abc.onmicrosoft.com"))
        ),
        "status-failed": handoff.status_card(status(RequestStatus.FAILED, failure=failure)),
        "status-rejected": handoff.status_card(
            status(
                RequestStatus.REJECTED,
                actor=ActorAt(rejected.by, rejected.at),
                comment=rejected.comment,
            )
        ),
        "status-cancelled": handoff.status_card(status(RequestStatus.CANCELLED, actor=cancelled)),
        "credentials-ready": handoff.credentials_ready_card(
            CredentialsReadyView(
                REQUEST_ID,
                t("sa-contoso-bob@abc.onmicrosoft.com"),
                t("Bob Builder (Contoso)"),
                t("Bob Builder"),
                datetime(2026, 7, 1, 14, 9, tzinfo=UTC),
            )
        ),
        "credentials-revealed": handoff.revealed_password_card(
            RevealedPasswordView(REQUEST_ID, t("sa-contoso-bob@abc.onmicrosoft.com"), SAMPLE_PASSWORD)
        ),
        "reveal-already-revealed": handoff.reveal_refused_card(
            RevealRefusedView(
                REQUEST_ID,
                RevealRefusal.ALREADY_REVEALED,
                t("sa-contoso-bob@abc.onmicrosoft.com"),
                PROVISIONED_AT,
            )
        ),
        "reveal-expired": handoff.reveal_refused_card(RevealRefusedView(REQUEST_ID, RevealRefusal.EXPIRED)),
        "reveal-not-yours": handoff.reveal_refused_card(
            RevealRefusedView(REQUEST_ID, RevealRefusal.NOT_YOURS)
        ),
        "reveal-not-ready": handoff.reveal_refused_card(
            RevealRefusedView(REQUEST_ID, RevealRefusal.NOT_READY)
        ),
    }
