"""Card verbs and the payload model of each verb: what an ``Action.Execute`` sends back, and how to parse it.

Every button on every card is an ``Action.Execute`` whose ``verb`` is a :class:`Verb` and whose
``data`` is the JSON form of that verb's payload model. Teams merges the values of the card's inputs
into ``data`` (keyed by input id), so the wizard and approval payloads also declare the input ids
(:class:`InputId`) as optional, length-limited strings. The handler parses the same model with
:func:`parse_action`, which rejects rather than guesses:

    ActionParseError            (ValueError; ``code`` names the catalogue entry)
     ├── UnknownVerbError       the verb is not one of ours
     └── InvalidPayloadError    missing, extra, mistyped or too-long fields (``problems`` lists them)

Payloads identify *what* was clicked (wizard id and step, request id, card version); they never carry
who clicked or what they may do. The server's state is the truth: a stale ``card_version`` or ``step``
means the card on screen is old and the handler answers with the current one.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel


class Verb(StrEnum):
    """Every ``Action.Execute`` verb the bot understands."""

    COMMAND_RUN = "command.run"
    WIZARD_NEXT = "wizard.next"
    WIZARD_BACK = "wizard.back"
    WIZARD_CANCEL = "wizard.cancel"
    WIZARD_SUBMIT = "wizard.submit"
    APPROVAL_APPROVE = "approval.approve"
    APPROVAL_REJECT = "approval.reject"
    APPROVAL_RETRY = "approval.retry"
    APPROVAL_CANCEL = "approval.cancel"
    APPROVAL_REFRESH = "approval.refresh"
    CREDENTIALS_REVEAL = "credentials.reveal"
    BARRIERS_RECORD_APPLIED = "barriers.record_applied"
    LIST_PAGE = "list.page"
    REQUEST_OPEN = "request.open"
    SEGMENT_CHANGE_PROPOSE = "segment.propose"
    SEGMENT_CHANGE_APPROVE = "segment.approve"
    SEGMENT_CHANGE_REJECT = "segment.reject"
    SEGMENT_CHANGE_RETRY = "segment.retry"
    BULK_APPROVE = "bulk.approve"
    BULK_REJECT = "bulk.reject"
    BULK_RETRY_FAILED = "bulk.retry_failed"
    LIFECYCLE_EXTEND = "lifecycle.extend"
    LIFECYCLE_OFFBOARD = "lifecycle.offboard"
    LIFECYCLE_RESET_PASSWORD = "lifecycle.reset_password"  # noqa: S105 - a verb, not a password
    LIFECYCLE_APPROVE = "lifecycle.approve"
    LIFECYCLE_REJECT = "lifecycle.reject"


class InputId(StrEnum):
    """Ids of the inputs on our cards; Teams sends their values under these keys in ``data``."""

    VENDOR_COMPANY = "vendorCompany"
    FIRST_NAME = "firstName"
    LAST_NAME = "lastName"
    CONTRACTOR_EMAIL = "contractorEmail"
    USAGE_LOCATION = "usageLocation"
    LICENSE_PROFILE = "licenseProfile"
    END_DATE = "endDate"
    SPONSOR = "sponsor"
    REACH_EVERYONE = "reachEveryone"
    SEGMENT = "segment"
    COMMENT = "comment"


class WizardStep(IntEnum):
    """The onboarding wizard's steps, in order."""

    CONTRACTOR = 1
    ACCESS = 2
    BARRIERS = 3
    REVIEW = 4


#: Values of the "reach everyone" choice (the information-barriers question).
REACH_EVERYONE_YES = "yes"
REACH_EVERYONE_NO = "no"

#: Maximum lengths of input values; the card inputs carry the same ``maxLength``.
INPUT_MAX_LENGTHS: dict[InputId, int] = {
    InputId.VENDOR_COMPANY: 64,  # Graph companyName
    InputId.FIRST_NAME: 64,  # Graph givenName
    InputId.LAST_NAME: 64,  # Graph surname
    InputId.CONTRACTOR_EMAIL: 254,  # RFC 5321 path limit
    InputId.USAGE_LOCATION: 2,  # ISO 3166-1 alpha-2
    InputId.LICENSE_PROFILE: 64,
    InputId.END_DATE: 10,  # YYYY-MM-DD
    InputId.SPONSOR: 254,
    InputId.REACH_EVERYONE: 3,
    InputId.SEGMENT: 64,  # IB segment names are at most 64 characters
    InputId.COMMENT: 500,
}

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$")]
RequestId = Annotated[str, Field(min_length=3, max_length=24, pattern=r"^[A-Z]{2,8}-[0-9]{1,12}$")]
CardVersion = Annotated[int, Field(ge=0, le=2**31 - 1)]
Step = Annotated[int, Field(ge=int(min(WizardStep)), le=int(max(WizardStep)))]


def _text_input(input_id: InputId, pattern: str | None = None) -> Any:
    return Field(default=None, alias=input_id.value, max_length=INPUT_MAX_LENGTHS[input_id], pattern=pattern)


class _Payload(BaseModel):
    """Base of every payload: camelCase on the wire, nothing unknown, no type coercion, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=True,
        serialize_by_alias=True,
        extra="forbid",
        strict=True,
        frozen=True,
    )

    verb: ClassVar[Verb]

    def to_data(self) -> dict[str, Any]:
        """The ``data`` object to put on the ``Action.Execute`` that sends this payload."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class CommandRunPayload(_Payload):
    """A button that runs a chat command without arguments (welcome and help cards)."""

    verb: ClassVar[Verb] = Verb.COMMAND_RUN
    command: Literal["help", "onboard", "requests", "accounts", "licenses", "barriers"]


class _WizardPayload(_Payload):
    """What every wizard button sends: which wizard, which step, which rendering, and the inputs."""

    wizard_id: Id
    step: Step
    card_version: CardVersion
    vendor_company: str | None = _text_input(InputId.VENDOR_COMPANY)
    first_name: str | None = _text_input(InputId.FIRST_NAME)
    last_name: str | None = _text_input(InputId.LAST_NAME)
    contractor_email: str | None = _text_input(InputId.CONTRACTOR_EMAIL)
    usage_location: str | None = _text_input(InputId.USAGE_LOCATION, pattern=r"^([A-Za-z]{2})?$")
    license_profile: str | None = _text_input(InputId.LICENSE_PROFILE)
    end_date: str | None = _text_input(InputId.END_DATE, pattern=r"^([0-9]{4}-[0-9]{2}-[0-9]{2})?$")
    sponsor: str | None = _text_input(InputId.SPONSOR)
    reach_everyone: Literal["yes", "no", ""] | None = Field(default=None, alias=InputId.REACH_EVERYONE.value)
    segment: str | None = _text_input(InputId.SEGMENT)

    @property
    def wizard_step(self) -> WizardStep:
        """The step as an enum (the wire carries a plain integer)."""
        return WizardStep(self.step)

    def inputs(self) -> dict[InputId, str]:
        """The input values that came with the click, keyed by input id (absent inputs left out)."""
        values = self.model_dump(by_alias=True, exclude_none=True)
        return {input_id: values[input_id.value] for input_id in InputId if input_id.value in values}


class WizardNextPayload(_WizardPayload):
    """Next: validate this step's inputs and show the following step."""

    verb: ClassVar[Verb] = Verb.WIZARD_NEXT


class WizardBackPayload(_WizardPayload):
    """Back: show the previous step, prefilled from the saved state."""

    verb: ClassVar[Verb] = Verb.WIZARD_BACK


class WizardCancelPayload(_WizardPayload):
    """Cancel: end the wizard; nothing is created."""

    verb: ClassVar[Verb] = Verb.WIZARD_CANCEL


class WizardSubmitPayload(_WizardPayload):
    """Submit for approval (review step)."""

    verb: ClassVar[Verb] = Verb.WIZARD_SUBMIT


class _RequestPayload(_Payload):
    """A click on a card about one onboarding request, as of one rendering of that card."""

    request_id: RequestId
    card_version: CardVersion


class _DecisionPayload(_RequestPayload):
    # The pending approval card has one comment box; Teams sends it with whichever button is clicked.
    comment: str | None = _text_input(InputId.COMMENT)


class ApprovePayload(_DecisionPayload):
    """Approve a pending request (approvers only; never the requester)."""

    verb: ClassVar[Verb] = Verb.APPROVAL_APPROVE


class RejectPayload(_DecisionPayload):
    """Reject a pending request with a comment."""

    verb: ClassVar[Verb] = Verb.APPROVAL_REJECT


class RetryPayload(_RequestPayload):
    """Resume a failed provisioning run at the step that failed."""

    verb: ClassVar[Verb] = Verb.APPROVAL_RETRY


class CancelRequestPayload(_RequestPayload):
    """Cancel a failed request and undo what was done."""

    verb: ClassVar[Verb] = Verb.APPROVAL_CANCEL


class RefreshApprovalPayload(_RequestPayload):
    """Teams asks for the current, viewer-specific approval card (``refresh`` clause)."""

    verb: ClassVar[Verb] = Verb.APPROVAL_REFRESH


class RevealPasswordPayload(_Payload):
    """Reveal the temporary password once, to the requester only."""

    verb: ClassVar[Verb] = Verb.CREDENTIALS_REVEAL
    request_id: RequestId


class RecordBarriersAppliedPayload(_RequestPayload):
    """An administrator records that information-barrier policy application was started."""

    verb: ClassVar[Verb] = Verb.BARRIERS_RECORD_APPLIED


#: The paged lists a ``list.page`` click can move through.
ListName = Literal["requests", "accounts", "barriers"]


class ListPagePayload(_Payload):
    """Next / Previous on a paged list card; ``vendor`` repeats the accounts filter of the list."""

    verb: ClassVar[Verb] = Verb.LIST_PAGE
    list_name: ListName
    page: Annotated[int, Field(ge=0, le=100_000)]
    vendor: str | None = Field(default=None, min_length=1, max_length=64)


class OpenRequestPayload(_Payload):
    """Show the current card of one request (from the ``requests`` list); the server decides what it shows."""

    verb: ClassVar[Verb] = Verb.REQUEST_OPEN
    request_id: RequestId


Upn = Annotated[str, Field(min_length=3, max_length=113, pattern=r"^[^@\s]{1,64}@[A-Za-z0-9.-]{1,48}$")]


class SegmentChangeProposePayload(_Payload):
    """A sponsor or administrator asks to move an account to another segment (the choice is an input)."""

    verb: ClassVar[Verb] = Verb.SEGMENT_CHANGE_PROPOSE
    upn: Upn
    # The segment-change card's choice reuses the wizard's segment input id (same meaning, same limit).
    segment: str | None = _text_input(InputId.SEGMENT)


class _SegmentChangeDecisionPayload(_Payload):
    change_id: Id
    card_version: CardVersion
    comment: str | None = _text_input(InputId.COMMENT)


class SegmentChangeApprovePayload(_SegmentChangeDecisionPayload):
    """An approver approves a proposed segment change (never the person who proposed it)."""

    verb: ClassVar[Verb] = Verb.SEGMENT_CHANGE_APPROVE


class SegmentChangeRejectPayload(_SegmentChangeDecisionPayload):
    """An approver rejects a proposed segment change."""

    verb: ClassVar[Verb] = Verb.SEGMENT_CHANGE_REJECT


class SegmentChangeRetryPayload(_Payload):
    """An approver runs a failed segment change again, from the step it stopped at."""

    verb: ClassVar[Verb] = Verb.SEGMENT_CHANGE_RETRY
    change_id: Id
    card_version: CardVersion


class _BulkPayload(_Payload):
    """A click on a bulk batch's approval card, as of one rendering of that card."""

    batch_id: Annotated[int, Field(ge=1, le=2**53)]
    card_version: CardVersion


class BulkApprovePayload(_BulkPayload):
    """Approve every good row of a bulk batch (approvers only; never the submitter)."""

    verb: ClassVar[Verb] = Verb.BULK_APPROVE
    comment: str | None = _text_input(InputId.COMMENT)


class BulkRejectPayload(_BulkPayload):
    """Reject a bulk batch with a comment."""

    verb: ClassVar[Verb] = Verb.BULK_REJECT
    comment: str | None = _text_input(InputId.COMMENT)


class BulkRetryFailedPayload(_BulkPayload):
    """Retry the batch's failed rows (the others are left as they are)."""

    verb: ClassVar[Verb] = Verb.BULK_RETRY_FAILED


# ------------------------------------------------------------------------- lifecycle (bot/lifecycle_desk.py)

AccountUpn = Annotated[
    str, Field(min_length=3, max_length=113, pattern=r"^[^@\s]{1,64}@[A-Za-z0-9.-]{1,48}$")
]
LifecycleRequestId = Annotated[str, Field(min_length=4, max_length=16, pattern=r"^LC-[0-9]{6,12}$")]
IsoDate = Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]


class LifecycleExtendPayload(_Payload):
    """Extend an account by ``days`` from the end date the card showed (a stale card changes nothing)."""

    verb: ClassVar[Verb] = Verb.LIFECYCLE_EXTEND
    upn: AccountUpn
    days: Annotated[int, Field(ge=1, le=3650)]
    end_date: IsoDate


class LifecycleOffboardPayload(_Payload):
    """Offboard an account now (sponsor, or administrator; an approver first when configured)."""

    verb: ClassVar[Verb] = Verb.LIFECYCLE_OFFBOARD
    upn: AccountUpn


class LifecycleResetPasswordPayload(_Payload):
    """Ask for a new temporary password for an account."""

    verb: ClassVar[Verb] = Verb.LIFECYCLE_RESET_PASSWORD
    upn: AccountUpn


class _LifecycleDecisionPayload(_Payload):
    lifecycle_request_id: LifecycleRequestId
    card_version: CardVersion
    comment: str | None = _text_input(InputId.COMMENT)


class LifecycleApprovePayload(_LifecycleDecisionPayload):
    """Approve an extension beyond the maximum, a manual offboarding or a reset (approvers only)."""

    verb: ClassVar[Verb] = Verb.LIFECYCLE_APPROVE


class LifecycleRejectPayload(_LifecycleDecisionPayload):
    """Reject a lifecycle request."""

    verb: ClassVar[Verb] = Verb.LIFECYCLE_REJECT


ActionPayload = (
    CommandRunPayload
    | WizardNextPayload
    | WizardBackPayload
    | WizardCancelPayload
    | WizardSubmitPayload
    | ApprovePayload
    | RejectPayload
    | RetryPayload
    | CancelRequestPayload
    | RefreshApprovalPayload
    | RevealPasswordPayload
    | RecordBarriersAppliedPayload
    | ListPagePayload
    | OpenRequestPayload
    | SegmentChangeProposePayload
    | SegmentChangeApprovePayload
    | SegmentChangeRejectPayload
    | SegmentChangeRetryPayload
    | BulkApprovePayload
    | BulkRejectPayload
    | BulkRetryFailedPayload
    | LifecycleExtendPayload
    | LifecycleOffboardPayload
    | LifecycleResetPasswordPayload
    | LifecycleApprovePayload
    | LifecycleRejectPayload
)

PAYLOAD_MODELS: dict[Verb, type[ActionPayload]] = {
    model.verb: model
    for model in (
        CommandRunPayload,
        WizardNextPayload,
        WizardBackPayload,
        WizardCancelPayload,
        WizardSubmitPayload,
        ApprovePayload,
        RejectPayload,
        RetryPayload,
        CancelRequestPayload,
        RefreshApprovalPayload,
        RevealPasswordPayload,
        RecordBarriersAppliedPayload,
        ListPagePayload,
        OpenRequestPayload,
        SegmentChangeProposePayload,
        SegmentChangeApprovePayload,
        SegmentChangeRejectPayload,
        SegmentChangeRetryPayload,
        BulkApprovePayload,
        BulkRejectPayload,
        BulkRetryFailedPayload,
        LifecycleExtendPayload,
        LifecycleOffboardPayload,
        LifecycleResetPasswordPayload,
        LifecycleApprovePayload,
        LifecycleRejectPayload,
    )
}


class ActionParseError(ValueError):
    """A card action could not be parsed; ``code`` keys the user-facing catalogue text."""

    code: ClassVar[str] = "action.invalid"

    def __init__(self, message: str, *, verb: str) -> None:
        super().__init__(message)
        self.verb = verb


class UnknownVerbError(ActionParseError):
    """The verb is not one of :class:`Verb`."""

    code: ClassVar[str] = "action.unknown_verb"


class InvalidPayloadError(ActionParseError):
    """The data does not match the verb's payload model. ``problems`` never echoes the values sent."""

    code: ClassVar[str] = "action.invalid_payload"

    def __init__(self, message: str, *, verb: str, problems: tuple[str, ...]) -> None:
        super().__init__(message, verb=verb)
        self.problems = problems


def parse_action(verb: object, data: object) -> ActionPayload:
    """Parse an ``Action.Execute`` click into its verb's payload model.

    ``verb`` and ``data`` are the action's fields as Teams sent them (``data``: our payload plus the
    card's inputs); both are untrusted, hence typed ``object``. Raises :class:`UnknownVerbError` or
    :class:`InvalidPayloadError`; never fills in or drops fields.
    """
    if not isinstance(verb, str):
        raise UnknownVerbError("card verb must be a string", verb="")
    try:
        known = Verb(verb)
    except ValueError:
        raise UnknownVerbError(f"unknown card verb {verb[:64]!r}", verb=verb[:64]) from None
    model = PAYLOAD_MODELS[known]
    if not isinstance(data, dict):
        raise InvalidPayloadError(
            f"{known}: data must be an object", verb=known, problems=("data: must be an object",)
        )
    try:
        # Only the camelCase wire names are accepted from a card (no snake_case look-alikes).
        return model.model_validate(data, by_alias=True, by_name=False)
    except ValidationError as err:
        problems = tuple(
            f"{'.'.join(str(part) for part in error['loc']) or 'data'}: {error['msg']}"
            for error in err.errors(include_url=False, include_input=False, include_context=False)
        )
        raise InvalidPayloadError(f"{known}: invalid payload", verb=known, problems=problems) from None
