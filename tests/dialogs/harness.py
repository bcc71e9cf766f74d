"""Drive the onboarding wizard as Teams would: a person in a 1:1 chat types, and clicks card buttons.

:class:`Chat` is one person in one conversation, over botbuilder's ``TestAdapter`` (which records what
the bot sends and updates). A click reads the button from the card JSON the bot produced, sends its
``data`` merged with the card's input values (unless the button sends no inputs), parses it with the
same :func:`cards.actions.parse_action` the handler uses, and runs it through :class:`OnboardingWizard`
in an ``adaptiveCard/action`` invoke turn, exactly as the handler will.

:class:`RecordingBackend` is a fake :class:`WizardBackend` that records every call and answers with
simple, predictable rules; tests that are about the outside world use the real service instead.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from botbuilder.core import ConversationState, TurnContext
from botbuilder.core.adapters import TestAdapter
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount, ConversationAccount

from bot.state_storage import DatabaseStorage
from cards.actions import InputId, WizardStep, parse_action
from cards.views import ChoiceOption, FieldError, LicenseProfileOption, SegmentOption, SkuSeats
from dialogs.onboarding_wizard import OnboardingWizard
from dialogs.wizard_state import (
    AccessOptions,
    BarriersOptions,
    Requester,
    ReviewPlan,
    Sponsor,
    StepCheck,
    SubmitOutcome,
    Submitted,
    WizardState,
    WizardUnavailable,
)
from storage import ConcurrencyError, Database, KeyValueStore
from tests.cards.walk import buttons, inputs, text_blocks

ALICE_ID = "a11ce000-0000-4000-8000-000000000001"
RITA_ID = "01da0000-0000-4000-8000-000000000002"
TODAY = date(2030, 1, 10)

CardJson = dict[str, Any]


def new_wizard(storage: DatabaseStorage, backend: Any, **kwargs: Any) -> OnboardingWizard:
    """The wizard over a fresh ``ConversationState`` on ``storage`` (one bot process)."""
    return OnboardingWizard(ConversationState(storage), backend, save_conflicts=(ConcurrencyError,), **kwargs)


def storage_on(database: Database) -> DatabaseStorage:
    """botbuilder ``Storage`` over the database, as app.py builds it."""
    return DatabaseStorage(KeyValueStore(database))


class RecordingAdapter(TestAdapter):  # type: ignore[misc]
    """``TestAdapter`` that also keeps each sent activity with the id it was given."""

    def __init__(self, template: Activity) -> None:
        super().__init__(template_or_conversation=template)
        self.sent: list[tuple[Activity, str]] = []

    async def send_activities(self, context: TurnContext, activities: list[Activity]) -> Any:
        responses = await super().send_activities(context, activities)
        kept = [activity for activity in activities if activity.type != "trace"]
        self.sent += [(activity, response.id) for activity, response in zip(kept, responses, strict=True)]
        return responses


class Chat:
    """One person's 1:1 chat with the bot."""

    def __init__(
        self,
        wizard: OnboardingWizard,
        *,
        conversation_id: str = "a:chat-alice",
        user_id: str = "29:alice",
        aad_object_id: str | None = ALICE_ID,
        name: str = "Alice Requester",
    ) -> None:
        self.wizard = wizard
        self.adapter = RecordingAdapter(
            Activity(
                channel_id="msteams",
                service_url="http://127.0.0.1/",
                from_property=ChannelAccount(id=user_id, name=name, aad_object_id=aad_object_id),
                recipient=ChannelAccount(id="28:bot", name="Vendor onboarding"),
                conversation=ConversationAccount(id=conversation_id, conversation_type="personal"),
            )
        )
        #: The id of the card message the last ``onboard`` produced.
        self.card_id: str | None = None

    # ------------------------------------------------------------------ typing

    async def onboard(self) -> CardJson:
        """Type ``onboard``; return the card the bot sent as a new message."""
        sent_before = len(self.adapter.sent)
        await self.adapter.process_activity(
            Activity(type=ActivityTypes.message, text="onboard"), self.wizard.start
        )
        cards = [(activity, id_) for activity, id_ in self.adapter.sent[sent_before:] if activity.attachments]
        assert len(cards) == 1, f"expected one new card message, got {len(cards)}"
        activity, self.card_id = cards[0]
        return dict(activity.attachments[0].content)

    async def type_cancel(self) -> bool:
        """Type ``cancel``; return whether a wizard was running."""
        outcome: list[bool] = []

        async def logic(turn_context: TurnContext) -> None:
            outcome.append(await self.wizard.cancel(turn_context))

        await self.adapter.process_activity(Activity(type=ActivityTypes.message, text="cancel"), logic)
        return outcome[0]

    # ------------------------------------------------------------------ clicking

    async def click(
        self,
        card: CardJson,
        title: str,
        values: dict[InputId, str] | None = None,
        *,
        message_id: str | None = None,
    ) -> CardJson:
        """Click button ``title`` on ``card`` after typing ``values``; return the card that replaces it."""
        action = buttons(card)[title]
        data = dict(action["data"])
        if action.get("associatedInputs") != "none":
            typed = {key.value: value for key, value in (values or {}).items()}
            for input_id, element in inputs(card).items():
                data[input_id] = typed.get(input_id, element.get("value", ""))
        payload = parse_action(action["verb"], data)
        answers: list[CardJson] = []

        async def logic(turn_context: TurnContext) -> None:
            answers.append(await self.wizard.handle_action(turn_context, payload))  # type: ignore[arg-type]

        invoke = Activity(
            type=ActivityTypes.invoke,
            name="adaptiveCard/action",
            value={"action": {"type": "Action.Execute", "verb": action["verb"], "data": data}},
            reply_to_id=message_id or self.card_id,
        )
        await self.adapter.process_activity(invoke, logic)
        return answers[0]

    # ------------------------------------------------------------------ what the bot did

    @property
    def texts(self) -> list[str]:
        """Plain text messages the bot sent, in order."""
        return [activity.text for activity, _ in self.adapter.sent if activity.text]

    @property
    def cards_sent(self) -> int:
        """How many card messages the bot sent."""
        return sum(1 for activity, _ in self.adapter.sent if activity.attachments)

    @property
    def updates(self) -> list[Activity]:
        """Activities the bot updated in place (``update_activity``)."""
        return list(self.adapter.updated_activities)


# ---------------------------------------------------------------------------------------------- reading cards


def step_of(card: CardJson) -> int | None:
    """The "Step n of 4" number, or None for a card that is not a wizard step."""
    for text in text_blocks(card):
        match = re.match(r"Step (\d) of 4", text)
        if match:
            return int(match.group(1))
    return None


def version_of(card: CardJson) -> int:
    version = buttons(card)["Cancel"]["data"]["cardVersion"]
    assert isinstance(version, int)
    return version


def value_of(card: CardJson, input_id: InputId) -> Any:
    return inputs(card)[input_id.value].get("value")


def is_cancelled(card: CardJson) -> bool:
    return "Cancelled" in text_blocks(card) and step_of(card) is None


def is_submitted(card: CardJson) -> bool:
    return "Submitted" in text_blocks(card) and step_of(card) is None


# ---------------------------------------------------------------------------------------------- fake


@dataclass
class RecordingBackend:
    """A fake wizard service: simple rules, every call recorded in ``calls``."""

    calls: list[tuple[str, Any]] = field(default_factory=list)
    submit_outcome: SubmitOutcome = field(default_factory=lambda: Submitted("VND-000001", "Vendor approvals"))
    review_error: WizardUnavailable | None = None
    #: When set, submit waits for it (to hold two submissions in flight at once).
    submit_gate: asyncio.Event | None = None
    #: Set when a submission has started.
    submit_started: asyncio.Event = field(default_factory=asyncio.Event)
    submitted: list[WizardState] = field(default_factory=list)

    def countries(self) -> tuple[ChoiceOption, ...]:
        return (ChoiceOption("DE", "Germany"), ChoiceOption("US", "United States"))

    async def access_options(self) -> AccessOptions:
        self.calls.append(("access_options", None))
        seats = SkuSeats(
            name="Dynamics 365 Remote Assist", part_number="MICROSOFT_REMOTE_ASSIST", free=3, total=25
        )
        return AccessOptions(
            profiles=(
                LicenseProfileOption("remote-assist-technician", "Remote Assist technician", (seats,)),
            ),
            min_end_date=TODAY,
            max_end_date=date(2030, 4, 10),
            default_end_date=date(2030, 2, 9),
        )

    async def barriers_options(self, state: WizardState) -> BarriersOptions:
        self.calls.append(("barriers_options", state.wizard_id))
        return BarriersOptions(
            segments=(
                SegmentOption("Vendor - Contoso", "Vendor - Contoso", "extensionAttribute1 = Vendor-Contoso"),
            ),
            ib_license=SkuSeats(name="Microsoft 365 E5", part_number="SPE_E5", free=10, total=10),
        )

    async def default_sponsor(self, requester: Requester) -> str:
        self.calls.append(("default_sponsor", requester.aad_object_id))
        return "alice@abc.onmicrosoft.com"

    async def check_step(self, step: WizardStep, state: WizardState) -> StepCheck:
        self.calls.append(("check_step", step))
        errors: list[FieldError] = []
        if step is WizardStep.CONTRACTOR:
            for input_id, label in (
                (InputId.VENDOR_COMPANY, "Vendor company"),
                (InputId.FIRST_NAME, "First name"),
                (InputId.LAST_NAME, "Last name"),
                (InputId.CONTRACTOR_EMAIL, "Contractor email"),
                (InputId.USAGE_LOCATION, "Usage location"),
            ):
                if not state.value(input_id).strip():
                    errors.append(FieldError(f"{label} is required.", input_id))
            email = state.value(InputId.CONTRACTOR_EMAIL)
            if email.strip() and "@" not in email:
                errors.append(
                    FieldError("Contractor email isn't a valid email address.", InputId.CONTRACTOR_EMAIL)
                )
            values = {key: state.value(key).strip() for key in state.inputs}
            values[InputId.USAGE_LOCATION] = state.value(InputId.USAGE_LOCATION).upper()
            return StepCheck(errors=tuple(errors), values=values if not errors else {})
        if step is WizardStep.ACCESS:
            sponsor = Sponsor(
                aad_object_id=ALICE_ID, name="Alice Requester", upn=state.value(InputId.SPONSOR)
            )
            return StepCheck(sponsor=sponsor)
        if step is WizardStep.BARRIERS:
            answer = state.value(InputId.REACH_EVERYONE)
            if answer not in ("yes", "no"):
                return StepCheck(errors=(FieldError("Choose yes or no.", InputId.REACH_EVERYONE),))
        return StepCheck()

    async def review(self, state: WizardState) -> ReviewPlan:
        self.calls.append(("review", state.wizard_id))
        if self.review_error is not None:
            raise self.review_error
        first = state.value(InputId.FIRST_NAME).lower()
        return ReviewPlan(
            upn=f"sa-contoso-{first}@abc.com",
            display_name=f"{state.value(InputId.FIRST_NAME)} {state.value(InputId.LAST_NAME)}",
            attributes=(),
            licenses=("Dynamics 365 Remote Assist",),
            groups=("Vendor service accounts",),
            end_date=date.fromisoformat(state.value(InputId.END_DATE)),
            sponsor="Alice Requester",
        )

    async def submit(self, state: WizardState) -> SubmitOutcome:
        self.calls.append(("submit", state.wizard_id))
        self.submit_started.set()
        if self.submit_gate is not None:
            await self.submit_gate.wait()
        self.submitted.append(state)
        return self.submit_outcome

    def count(self, name: str) -> int:
        """How many times ``name`` was called."""
        return sum(1 for called, _ in self.calls if called == name)


CONTRACTOR = {
    InputId.VENDOR_COMPANY: "Contoso",
    InputId.FIRST_NAME: "Bob",
    InputId.LAST_NAME: "Builder",
    InputId.CONTRACTOR_EMAIL: "bob@contoso.example",
    InputId.USAGE_LOCATION: "DE",
}
