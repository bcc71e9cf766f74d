"""The onboarding wizard: one card per step, replaced in place by each ``Action.Execute`` answer.

Every step shows "Step n of 4", its inputs prefilled from the view (so values survive Back), inline
errors under the inputs they concern, and Next (or Submit), Back and Cancel. Next and Submit send the
inputs and are blocked by the client while a required input is empty; Back and Cancel send no inputs
(``associatedInputs: none``) so an incomplete step never traps the user. The server's saved state is
the truth: Back shows the previous step as saved.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from microsoft_teams.cards import CardElement, Choice, ChoiceSetInput, DateInput, TextInput
from microsoft_teams.cards.core import Action, ChoiceSetInputStyle, InputTextStyle

from cards._elements import (
    Run,
    box,
    card,
    day,
    error_line,
    execute,
    facts,
    heading,
    line,
    note,
    said,
    user_text,
)
from cards.actions import (
    INPUT_MAX_LENGTHS,
    REACH_EVERYONE_NO,
    REACH_EVERYONE_YES,
    CommandRunPayload,
    InputId,
    WizardBackPayload,
    WizardCancelPayload,
    WizardNextPayload,
    WizardStep,
    WizardSubmitPayload,
)
from cards.render import CardContent
from cards.text import safe_text
from cards.views import (
    AccessStepView,
    BarriersStepView,
    ChoiceOption,
    ContractorStepView,
    FieldError,
    LicenseProfileOption,
    ReviewStepView,
    SegmentOption,
    SkuSeats,
    SubmittedView,
    WizardStepView,
)

TITLE = "Onboard a contractor"
STEP_TITLES: dict[WizardStep, str] = {
    WizardStep.CONTRACTOR: "Contractor",
    WizardStep.ACCESS: "Access",
    WizardStep.BARRIERS: "Information barriers",
    WizardStep.REVIEW: "Review",
}
IB_QUESTION = "Should this contractor be able to find and contact everyone in the company?"


def wizard_card(view: WizardStepView) -> CardContent:
    """The card for whichever step ``view`` describes."""
    if isinstance(view, ContractorStepView):
        return contractor_step_card(view)
    if isinstance(view, AccessStepView):
        return access_step_card(view)
    if isinstance(view, BarriersStepView):
        return barriers_step_card(view)
    return review_step_card(view)


def contractor_step_card(view: ContractorStepView) -> CardContent:
    """Step 1: vendor company, first and last name, the contractor's own email, usage location."""
    errors = _errors_by_field(view.errors)
    body: list[CardElement] = [
        *_text_input(
            InputId.VENDOR_COMPANY, "Vendor company", view.vendor_company, errors, placeholder="Contoso"
        ),
        *_text_input(InputId.FIRST_NAME, "First name", view.first_name, errors),
        *_text_input(InputId.LAST_NAME, "Last name", view.last_name, errors),
        *_text_input(
            InputId.CONTRACTOR_EMAIL,
            "Contractor's own email",
            view.contractor_email,
            errors,
            placeholder="bob@contoso.com",
            style="Email",
        ),
        note("Their address at their company (or a personal one): recorded on the account, not a sign-in."),
        *_choice_input(
            InputId.USAGE_LOCATION,
            "Usage location (country, needed for licensing)",
            view.usage_location,
            view.countries,
            errors,
            placeholder="Choose a country",
        ),
    ]
    return _step_card(WizardStep.CONTRACTOR, view.wizard_id, view.card_version, body, view.errors)


def access_step_card(view: AccessStepView) -> CardContent:
    """Step 2: license profile with live free seats, access end date, sponsor."""
    errors = _errors_by_field(view.errors)
    style: ChoiceSetInputStyle = "expanded" if len(view.profiles) <= 5 else "compact"
    body: list[CardElement] = [
        *_choice_input(
            InputId.LICENSE_PROFILE,
            "License profile",
            view.license_profile,
            tuple(ChoiceOption(profile.value, _profile_title(profile)) for profile in view.profiles),
            errors,
            style=style,
            placeholder="Choose a license profile",
        ),
    ]
    body += [
        error_line(_no_seats(seats))
        for profile in view.profiles
        if profile.value == view.license_profile
        for seats in profile.seats
        if seats.exhausted
    ]
    end_date = DateInput(
        id=InputId.END_DATE.value,
        label="Access ends on",
        value=view.end_date.isoformat() if view.end_date else None,
        min=view.min_end_date.isoformat(),
        max=view.max_end_date.isoformat(),
        is_required=True,
        error_message=_error_message(errors, InputId.END_DATE, _required("Access ends on")),
        spacing="Medium",
    )
    body += [end_date, *_error_lines(errors, InputId.END_DATE)]
    body.append(
        note(f"At most until {day(view.max_end_date)}. The account is offboarded automatically then.")
    )
    body += _text_input(
        InputId.SPONSOR,
        "Sponsor (responsible for this contractor)",
        view.sponsor,
        errors,
        style="Email",
        placeholder="name@yourcompany.com",
    )
    return _step_card(WizardStep.ACCESS, view.wizard_id, view.card_version, body, view.errors)


def barriers_step_card(view: BarriersStepView) -> CardContent:
    """Step 3: the information-barriers question and, if not everyone, the segment.

    With ``unavailable_reason`` set, the card explains why no segment can be chosen and offers none.
    """
    errors = _errors_by_field(view.errors)
    answer = {True: REACH_EVERYONE_YES, False: REACH_EVERYONE_NO, None: ""}[view.reach_everyone]
    body: list[CardElement] = [
        *_choice_input(
            InputId.REACH_EVERYONE,
            IB_QUESTION,
            answer,
            (
                ChoiceOption(REACH_EVERYONE_YES, "Yes: no information barrier"),
                ChoiceOption(REACH_EVERYONE_NO, "No: place them in a segment that limits who they can reach"),
            ),
            errors,
            style="expanded",
            required_message="Choose yes or no.",
        ),
    ]
    if view.unavailable_reason is not None:
        body.append(
            box(
                [
                    line(said("Segments are not available now: "), view.unavailable_reason, color="Warning"),
                    note(
                        "You can continue without a barrier, or cancel and ask a bot administrator.",
                        subtle=False,
                    ),
                ],
                style="warning",
            )
        )
        body += _error_lines(errors, InputId.SEGMENT)
    else:
        body += _choice_input(
            InputId.SEGMENT,
            "Segment (if not everyone)",
            view.segment,
            tuple(ChoiceOption(segment.value, _segment_title(segment)) for segment in view.segments),
            errors,
            required=False,
            placeholder="Choose a segment",
        )
        body.append(_ib_license_line(view.ib_license))
    body.append(
        note(
            "Barriers take effect only after an administrator applies the policies, which takes "
            "30 minutes or more."
        )
    )
    return _step_card(WizardStep.BARRIERS, view.wizard_id, view.card_version, body, view.errors)


def review_step_card(view: ReviewStepView) -> CardContent:
    """Step 4: the exact plan (UPN, display name, attributes, licenses, groups, segment, end date)."""
    segment: str | tuple[str, ...] = "None: can find and contact everyone"
    if view.segment:
        segment = (view.segment, view.segment_placement) if view.segment_placement else view.segment
    body: list[CardElement] = [
        note("This account will be created after an approver agrees:", subtle=False),
        box([user_text(view.upn, weight="Bolder", monospace=True)], style="emphasis"),
        facts(
            [
                ("Display name", view.display_name),
                *((attribute.label, attribute.value) for attribute in view.attributes),
                ("Licenses", view.licenses),
                ("Groups", view.groups),
                ("Segment", segment),
                ("Access ends", day(view.end_date)),
                ("Sponsor", view.sponsor),
            ]
        ),
    ]
    if view.warnings:
        body.append(box([line(warning, color="Warning") for warning in view.warnings], style="warning"))
    return _step_card(
        WizardStep.REVIEW, view.wizard_id, view.card_version, body, view.errors, primary="Submit for approval"
    )


def wizard_submitted_card(view: SubmittedView) -> CardContent:
    """After Submit: the request id and where it waits (or that no approvals channel is set yet)."""
    if view.approvals_channel:
        status = line(
            said("Submitted — "),
            _bold(view.request_id),
            said(" is waiting for approval in "),
            _bold(view.approvals_channel),
            said("."),
        )
        body: list[CardElement] = [heading("Submitted", size="Medium"), status]
    else:
        body = [
            heading("Submitted", size="Medium"),
            line(said("Submitted — "), _bold(view.request_id), said(" is saved and waits for approval.")),
            box(
                [
                    note(
                        "No approvals channel is set yet, so no approver has been asked. Your request waits "
                        "until a bot administrator mentions me with “approvals here” in the admin channel.",
                        subtle=False,
                    )
                ],
                style="warning",
            ),
        ]
    body.append(note("I'll tell you here when it is decided."))
    return card(body, [execute("My requests", CommandRunPayload(command="requests"))])


def wizard_cancelled_card() -> CardContent:
    """After Cancel (button or typed ``cancel``): nothing was created."""
    return card(
        [
            heading("Cancelled", size="Medium"),
            note("Onboarding cancelled. Nothing was created.", subtle=False),
        ],
        [execute("Start again", CommandRunPayload(command="onboard"))],
    )


def wizard_ended_card() -> CardContent:
    """A click on a wizard card that is no longer running (finished, replaced, or from elsewhere)."""
    return card(
        [
            heading("This onboarding card has ended", size="Medium"),
            note("Type onboard to start again.", subtle=False),
        ],
        [execute("Start again", CommandRunPayload(command="onboard"))],
    )


# ---------------------------------------------------------------------------------------------- helpers


def _step_card(
    step: WizardStep,
    wizard_id: str,
    card_version: int,
    body: Sequence[CardElement],
    errors: Sequence[FieldError],
    *,
    primary: str = "Next",
) -> CardContent:
    header: list[CardElement] = [
        heading(TITLE),
        note(f"Step {int(step)} of {len(WizardStep)} · {STEP_TITLES[step]}"),
    ]
    general = [error.message for error in errors if error.field is None]
    if general:
        header.append(box([error_line(message) for message in general], style="attention"))
    forward_model = WizardSubmitPayload if step is WizardStep.REVIEW else WizardNextPayload
    forward = forward_model(wizard_id=wizard_id, step=int(step), card_version=card_version)
    actions: list[Action] = [execute(primary, forward, style="positive")]
    if step is not WizardStep.CONTRACTOR:
        actions.append(
            execute(
                "Back",
                WizardBackPayload(wizard_id=wizard_id, step=int(step), card_version=card_version),
                send_inputs=False,
            )
        )
    actions.append(
        execute(
            "Cancel",
            WizardCancelPayload(wizard_id=wizard_id, step=int(step), card_version=card_version),
            send_inputs=False,
        )
    )
    return card([*header, *body], actions)


def _errors_by_field(errors: Sequence[FieldError]) -> dict[InputId, str]:
    found: dict[InputId, str] = {}
    for error in errors:
        if error.field is not None and error.field not in found:
            found[error.field] = error.message
    return found


def _error_lines(errors: dict[InputId, str], input_id: InputId) -> list[CardElement]:
    message = errors.get(input_id)
    return [error_line(message)] if message else []


def _error_message(errors: dict[InputId, str], input_id: InputId, when_empty: str | None) -> str | None:
    """The input's own ``errorMessage``: the server's message if any, else what the client says when empty."""
    if input_id in errors:
        return safe_text(errors[input_id], 300)
    return when_empty


def _required(label: str) -> str:
    return f"{label}: required."


def _text_input(
    input_id: InputId,
    label: str,
    value: str,
    errors: dict[InputId, str],
    *,
    placeholder: str | None = None,
    style: InputTextStyle | None = None,
) -> list[CardElement]:
    limit = INPUT_MAX_LENGTHS[input_id]
    element = TextInput(
        id=input_id.value,
        label=label,
        value=safe_text(value, limit) if value else None,
        placeholder=placeholder,
        style=style,
        max_length=limit,
        is_required=True,
        error_message=_error_message(errors, input_id, _required(label)),
        spacing="Medium",
    )
    return [element, *_error_lines(errors, input_id)]


def _choice_input(
    input_id: InputId,
    label: str,
    value: str,
    options: Sequence[ChoiceOption],
    errors: dict[InputId, str],
    *,
    style: ChoiceSetInputStyle = "compact",
    required: bool = True,
    placeholder: str | None = None,
    required_message: str | None = None,
) -> list[CardElement]:
    # Values are identifiers the server matches exactly and are never displayed, so they stay as given;
    # a prefilled value not among the options is dropped rather than shown as a blank selection.
    values = {option.value for option in options}
    element = ChoiceSetInput(
        id=input_id.value,
        label=label,
        choices=_choices(tuple(options)),
        value=value if value in values else None,
        style=style,
        placeholder=placeholder,
        is_required=required or None,
        error_message=_error_message(
            errors, input_id, (required_message or _required(label)) if required else None
        ),
        wrap=True,
        spacing="Medium",
    )
    return [element, *_error_lines(errors, input_id)]


@lru_cache(maxsize=32)
def _choices(options: tuple[ChoiceOption, ...]) -> list[Choice]:
    """The choices of a choice set, built once per distinct option list.

    The Contractor step offers every country (249), re-rendered on each Back and ``onboard``; their
    titles never change. The models are shared between cards: nothing changes a ``Choice`` after it is
    built, and the card's own list is a copy (pydantic validates the field into a new list).
    """
    return [Choice(title=safe_text(option.title), value=option.value) for option in options]


def _seats_phrase(seats: SkuSeats) -> str:
    return f"{seats.name}: {max(seats.free, 0)} of {seats.total} free"


def _no_seats(seats: SkuSeats) -> str:
    return f"No free seats of {seats.name} ({seats.total - max(seats.free, 0)} of {seats.total} used)."


def _profile_title(profile: LicenseProfileOption) -> str:
    if not profile.seats:
        return profile.title
    return f"{profile.title} ({'; '.join(_seats_phrase(seats) for seats in profile.seats)})"


def _segment_title(segment: SegmentOption) -> str:
    return f"{segment.title} ({segment.placement})" if segment.placement else segment.title


def _ib_license_line(license_: SkuSeats | None) -> CardElement:
    if license_ is None:
        return note("Choosing a segment also adds an information-barrier license.")
    return line(
        said("Choosing a segment also adds the information-barrier license "),
        _seats_phrase(license_),
        said("."),
        color="Warning" if license_.exhausted else None,
    )


def _bold(text: str) -> Run:
    return Run(text, weight="Bolder")
