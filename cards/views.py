"""Frozen view models: everything a card shows, already decided by the bot layer.

The bot maps domain objects to these; cards never look anything up. Strings here may come from users
or the directory: the card builders pass every one of them through :func:`cards.text.safe_text`.
Times are timezone-aware ``datetime`` values (shown in UTC); dates are ``date`` values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from cards.actions import InputId

#: Teams shows a user-specific refreshed card to at most 60 users (``refresh.userIds``).
MAX_REFRESH_USERS = 60


def _require_aware(value: datetime | None, name: str) -> None:
    if value is not None and value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


# ---------------------------------------------------------------------------------------------- shared


@dataclass(frozen=True, slots=True)
class ChoiceOption:
    """One entry of a choice list: the value sent back and the title shown."""

    value: str
    title: str


@dataclass(frozen=True, slots=True)
class FieldError:
    """A validation message shown in red under an input (``field``) or at the top (``field=None``)."""

    message: str
    field: InputId | None = None


@dataclass(frozen=True, slots=True)
class SkuSeats:
    """Seats of one subscribed SKU right now."""

    name: str
    part_number: str
    free: int
    total: int

    @property
    def exhausted(self) -> bool:
        """True when no seat is free."""
        return self.free <= 0


@dataclass(frozen=True, slots=True)
class Attribute:
    """One attribute of the planned account, as a label and a value (e.g. "Company", "Contoso")."""

    label: str
    value: str


@dataclass(frozen=True, slots=True)
class ActorAt:
    """Who did something, and when."""

    name: str
    at: datetime

    def __post_init__(self) -> None:
        _require_aware(self.at, "ActorAt.at")


# ---------------------------------------------------------------------------------------------- help


class RefusedAction(StrEnum):
    """What a user tried and may not do; each has catalogue text and the group that grants it."""

    ONBOARD = "onboard"
    APPROVE = "approve"
    APPROVE_OWN = "approve_own"
    RETRY = "retry"
    CANCEL_REQUEST = "cancel_request"
    BIND_CHANNEL = "bind_channel"
    RECORD_BARRIERS = "record_barriers"
    REVEAL_CREDENTIALS = "reveal_credentials"
    MANAGE_ACCOUNTS = "manage_accounts"


@dataclass(frozen=True, slots=True)
class ErrorView:
    """An error shown to a user: catalogue text keyed by code, plus the correlation id for support."""

    message: str
    correlation_id: str
    title: str = "Something went wrong"


# ---------------------------------------------------------------------------------------------- wizard


@dataclass(frozen=True, slots=True)
class LicenseProfileOption:
    """A license profile the requester may pick, with the live seats of every SKU in it."""

    value: str
    title: str
    seats: tuple[SkuSeats, ...] = ()


@dataclass(frozen=True, slots=True)
class SegmentOption:
    """An information-barrier segment, and how an account is placed in it (attribute or group)."""

    value: str
    title: str
    placement: str


@dataclass(frozen=True, slots=True)
class ContractorStepView:
    """Step 1: who the contractor is."""

    wizard_id: str
    card_version: int
    countries: tuple[ChoiceOption, ...]
    vendor_company: str = ""
    first_name: str = ""
    last_name: str = ""
    contractor_email: str = ""
    usage_location: str = ""
    errors: tuple[FieldError, ...] = ()


@dataclass(frozen=True, slots=True)
class AccessStepView:
    """Step 2: which licenses, until when, sponsored by whom."""

    wizard_id: str
    card_version: int
    profiles: tuple[LicenseProfileOption, ...]
    min_end_date: date
    max_end_date: date
    license_profile: str = ""
    end_date: date | None = None
    sponsor: str = ""
    errors: tuple[FieldError, ...] = ()

    def __post_init__(self) -> None:
        if self.min_end_date > self.max_end_date:
            raise ValueError("min_end_date is after max_end_date")


@dataclass(frozen=True, slots=True)
class BarriersStepView:
    """Step 3: the information-barriers question and the segment.

    ``reach_everyone`` is the answer so far (``None`` = not answered). ``ib_license`` is the IB-capable
    license that a segment adds (the first of the preference list with a free seat). When
    ``unavailable_reason`` is set (no IB seat free, or the segment catalog is invalid) the card says so
    and offers no segment.
    """

    wizard_id: str
    card_version: int
    segments: tuple[SegmentOption, ...]
    reach_everyone: bool | None = None
    segment: str = ""
    ib_license: SkuSeats | None = None
    unavailable_reason: str | None = None
    errors: tuple[FieldError, ...] = ()


@dataclass(frozen=True, slots=True)
class ReviewStepView:
    """Step 4: the exact plan that goes to approval."""

    wizard_id: str
    card_version: int
    upn: str
    display_name: str
    attributes: tuple[Attribute, ...]
    licenses: tuple[str, ...]
    groups: tuple[str, ...]
    end_date: date
    sponsor: str
    segment: str | None = None
    segment_placement: str | None = None
    warnings: tuple[str, ...] = ()
    errors: tuple[FieldError, ...] = ()


WizardStepView = ContractorStepView | AccessStepView | BarriersStepView | ReviewStepView


@dataclass(frozen=True, slots=True)
class SubmittedView:
    """After Submit: where the request waits. ``approvals_channel=None`` means no channel is bound."""

    request_id: str
    approvals_channel: str | None


# ---------------------------------------------------------------------------------------------- approval


class RequestStatus(StrEnum):
    """Where a request is, as cards show it."""

    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    PROVISIONING = "provisioning"
    PROVISIONED = "provisioned"
    FAILED = "failed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class StepState(StrEnum):
    """State of one provisioning step on the progress line."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class ProgressStep:
    """One named provisioning step ("Creating account") and its state."""

    label: str
    state: StepState


@dataclass(frozen=True, slots=True)
class Decision:
    """An approver's decision."""

    approved: bool
    by: str
    at: datetime
    comment: str = ""

    def __post_init__(self) -> None:
        _require_aware(self.at, "Decision.at")


@dataclass(frozen=True, slots=True)
class Failure:
    """Why provisioning stopped: the step and one clear reason (catalogue text)."""

    step_label: str
    reason: str


@dataclass(frozen=True, slots=True)
class PlanView:
    """What will be (or was) created."""

    upn: str
    display_name: str
    licenses: tuple[str, ...]
    groups: tuple[str, ...]
    end_date: date
    sponsor: str
    segment: str | None = None
    segment_placement: str | None = None
    attributes: tuple[Attribute, ...] = ()


@dataclass(frozen=True, slots=True)
class ApprovalCardView:
    """The approval card in the admin channel, in any state.

    ``viewer_may_act`` shows the buttons of the current state (the server still checks every click);
    the bot sets it to ``False`` for a read-only, user-specific view (e.g. the requester's).
    ``refresh_user_ids`` (Teams user MRIs, at most 60) get the card refreshed automatically through
    ``approval.refresh`` while the request can still change; ``notice`` is shown on top (e.g. "Already
    approved by ... at ...").
    """

    request_id: str
    card_version: int
    status: RequestStatus
    requester: str
    contractor_name: str
    contractor_email: str
    vendor_company: str
    usage_location: str
    plan: PlanView
    seats: tuple[SkuSeats, ...] = ()
    warnings: tuple[str, ...] = ()
    decision: Decision | None = None
    progress: tuple[ProgressStep, ...] = ()
    failure: Failure | None = None
    cancelled: ActorAt | None = None
    barriers_applied: ActorAt | None = None
    notice: str | None = None
    viewer_may_act: bool = True
    refresh_user_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.refresh_user_ids) > MAX_REFRESH_USERS:
            raise ValueError(f"refresh_user_ids: Teams allows at most {MAX_REFRESH_USERS} users")


# ---------------------------------------------------------------------------------------------- hand-off


@dataclass(frozen=True, slots=True)
class StatusView:
    """A status change told to the requester in their 1:1 chat."""

    request_id: str
    status: RequestStatus
    contractor_name: str
    vendor_company: str
    actor: ActorAt | None = None
    comment: str = ""
    failure: Failure | None = None
    upn: str | None = None
    approvals_channel: str | None = None


@dataclass(frozen=True, slots=True)
class CredentialsReadyView:
    """The account exists: its UPN, and until when the temporary password can be revealed."""

    request_id: str
    upn: str
    display_name: str
    contractor_name: str
    reveal_until: datetime

    def __post_init__(self) -> None:
        _require_aware(self.reveal_until, "CredentialsReadyView.reveal_until")


@dataclass(frozen=True, slots=True)
class RevealedPasswordView:
    """The one view that holds a password. It is left out of ``repr`` so it never reaches a log."""

    request_id: str
    upn: str
    password: str = field(repr=False)

    def __post_init__(self) -> None:
        # Shown verbatim in a TextRun: it must be printable ASCII without spaces to be typed back.
        if not self.password or not all("!" <= char <= "~" for char in self.password):
            raise ValueError("password must be non-empty printable ASCII without spaces")


class RevealRefusal(StrEnum):
    """Why a reveal click shows no password."""

    ALREADY_REVEALED = "already_revealed"
    EXPIRED = "expired"
    NOT_YOURS = "not_yours"
    NOT_READY = "not_ready"


@dataclass(frozen=True, slots=True)
class RevealRefusedView:
    """A refused reveal. ``at`` is when it was revealed or expired, where known."""

    request_id: str
    reason: RevealRefusal
    upn: str | None = None
    at: datetime | None = None

    def __post_init__(self) -> None:
        _require_aware(self.at, "RevealRefusedView.at")


# ---------------------------------------------------------------------------------------------- lists (L2)


@dataclass(frozen=True, slots=True)
class Paging:
    """Where a paged list is: ``page`` counts from 0; ``vendor`` is the accounts filter to keep."""

    page: int = 0
    has_next: bool = False
    vendor: str | None = None

    @property
    def has_previous(self) -> bool:
        """True past the first page."""
        return self.page > 0


@dataclass(frozen=True, slots=True)
class RequestRow:
    """One of the caller's requests: what it is, where it is, and what can happen next."""

    request_id: str
    contractor_name: str
    vendor_company: str
    status: RequestStatus
    updated_at: datetime
    #: Catalogue text: what the request allows now ("An approver decides it", "Reveal the password ...").
    next_step: str
    upn: str = ""

    def __post_init__(self) -> None:
        _require_aware(self.updated_at, "RequestRow.updated_at")


@dataclass(frozen=True, slots=True)
class RequestListView:
    """The ``requests`` card."""

    rows: tuple[RequestRow, ...]
    paging: Paging = Paging()


@dataclass(frozen=True, slots=True)
class AccountRow:
    """One service account as the ``accounts`` card shows it."""

    upn: str
    contractor_name: str
    vendor: str
    sponsor: str
    licenses: tuple[str, ...]
    segment: str | None
    end_date: date
    #: Catalogue label of the account's state ("Active", "Offboarded", ...).
    state: str


@dataclass(frozen=True, slots=True)
class AccountListView:
    """The ``accounts`` card; ``all_accounts`` is False when the viewer sees only accounts they sponsor."""

    rows: tuple[AccountRow, ...]
    all_accounts: bool
    paging: Paging = Paging()


@dataclass(frozen=True, slots=True)
class LicenseRow:
    """One SKU: seats in the tenant (``None``: unknown or not subscribed) and how many bot accounts hold."""

    name: str
    part_number: str
    total: int | None
    used: int | None
    free: int | None
    held_by_bot: int
    #: Why the row is listed: a license profile's SKU, the IB-capable preference list, or both.
    purpose: str


@dataclass(frozen=True, slots=True)
class LicensesView:
    """The ``licenses`` card; ``as_of`` is when the tenant's counts were read (``None``: never)."""

    rows: tuple[LicenseRow, ...]
    as_of: datetime | None
    stale: bool = False

    def __post_init__(self) -> None:
        _require_aware(self.as_of, "LicensesView.as_of")


@dataclass(frozen=True, slots=True)
class AuditExportView:
    """The answer to ``audit export``: the range, its event count, and the command that writes the CSV."""

    start: date
    end: date
    events: int
    cli_command: str


# ---------------------------------------------------------------------------------------------- barriers (L2)


@dataclass(frozen=True, slots=True)
class CatalogSegmentRow:
    """A segment of the catalog: its filter and, for vendor segments, how the bot places accounts in it."""

    name: str
    kind: str
    user_group_filter: str
    placement: str | None = None


@dataclass(frozen=True, slots=True)
class CatalogPolicyRow:
    """A policy: ``relation`` is "blocks" or "allows only"."""

    name: str
    segment: str
    relation: str
    targets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BarriersView:
    """The ``barriers`` card: catalog, validation result and one page of the generated PowerShell.

    ``configured`` is False when no catalog file is set. ``script_page`` is ``None`` when the catalog has
    errors (no script is generated) or on an overview page; ``script_parts`` > 1 means the script is split
    over several cards (``script_part`` counts from 1).
    """

    configured: bool
    mode: str = ""
    #: False on the pages that carry only more of the script.
    show_catalog: bool = True
    segments: tuple[CatalogSegmentRow, ...] = ()
    policies: tuple[CatalogPolicyRow, ...] = ()
    #: Segments and policies of the catalog not listed (a large catalog is summarised; the script has all).
    more_segments: int = 0
    more_policies: int = 0
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    script_page: str | None = None
    first_line: int = 1
    script_part: int = 1
    script_parts: int = 1
    paging: Paging = Paging()
    cli_command: str = ""


# -------------------------------------------------------------------------------------- segment change (L2)


@dataclass(frozen=True, slots=True)
class SegmentChangeFormView:
    """Pick a new segment for an existing account."""

    upn: str
    current_segment: str | None
    options: tuple[SegmentOption, ...]
    notice: str | None = None


@dataclass(frozen=True, slots=True)
class SegmentChangeView:
    """A proposed (or decided, or applied) segment change, as the approval card shows it.

    ``status`` is "pending", "approved", "applied", "failed" or "rejected".
    """

    change_id: str
    card_version: int
    upn: str
    proposed_by: str
    from_segment: str | None
    to_segment: str
    placement: str
    status: str
    decision: ActorAt | None = None
    failure: str | None = None
    notice: str | None = None
    viewer_may_act: bool = True


# ------------------------------------------------------------------------------------------ lifecycle


@dataclass(frozen=True, slots=True)
class AccountLifecycleView:
    """One service account with what the viewer may do about it (``extend <upn>``, reminders)."""

    upn: str
    contractor_name: str
    vendor: str
    sponsor: str
    end_date: date
    state: str
    licenses: tuple[str, ...] = ()
    #: Days left until the end date, when this is a reminder ("Access ends in 3 days").
    days_left: int | None = None
    extension_choices: tuple[int, ...] = ()
    may_extend: bool = False
    may_offboard: bool = False
    may_reset_password: bool = False
    notice: str | None = None


@dataclass(frozen=True, slots=True)
class LifecycleApprovalView:
    """An extension, offboarding or password reset waiting for (or decided by) an approver."""

    request_id: str
    card_version: int
    #: "extend", "offboard" or "reset_password".
    action: str
    upn: str
    contractor_name: str
    vendor: str
    requested_by: str
    current_end_date: date
    new_end_date: date | None = None
    #: "pending", "approved" or "rejected".
    status: str = "pending"
    decision: Decision | None = None
    notice: str | None = None
    viewer_may_act: bool = True


@dataclass(frozen=True, slots=True)
class OffboardedView:
    """An account was offboarded (or its offboarding stopped): told to the sponsor."""

    upn: str
    contractor_name: str
    #: "expired" or "manual".
    reason: str
    delete_after: datetime | None = None
    failed_step: str | None = None
    failure: str | None = None

    def __post_init__(self) -> None:
        _require_aware(self.delete_after, "OffboardedView.delete_after")


@dataclass(frozen=True, slots=True)
class PasswordResetView:
    """A new temporary password can be revealed once (the onboarding request id addresses the vault)."""

    request_id: str
    upn: str
    reveal_until: datetime

    def __post_init__(self) -> None:
        _require_aware(self.reveal_until, "PasswordResetView.reveal_until")
