"""The onboarding wizard: one Adaptive Card, updated in place, from Contractor to Review and Submit.

:class:`OnboardingWizardDialog` is a botbuilder ``Dialog`` whose typed state (:class:`WizardState`) lives
in the dialog instance, so it is saved with ``ConversationState`` and survives a restart. Its steps run in
this order, each one a method below:

1. **Contractor** – vendor company, names, the contractor's own email, usage location;
2. **Access** – license profile with live free seats, end date, sponsor (defaults to the requester);
3. **Information barriers** – "reach everyone?" and, if not, a segment;
4. **Review** – the exact plan, then **Submit for approval**.

A turn reaches the dialog in one of three ways:

* ``begin_dialog`` (the ``onboard`` command): sends the step-1 card as a new message and keeps its id;
* an ``adaptiveCard/action`` invoke: the handler parses the payload with
  :func:`cards.actions.parse_action` and puts it in ``turn_state[WIZARD_PAYLOAD_KEY]``; the dialog puts
  the card to answer with in ``turn_state[WIZARD_CARD_KEY]`` (the handler owns the ``InvokeResponse``);
* a typed ``cancel``: the card message is updated in place to the cancelled card.

The dialog decides only what the wizard shows and where it goes. Everything that touches the outside
(seats, the directory, the request store, the approvals channel) is behind :class:`WizardBackend`, passed
in; the dialog never calls Graph or the database itself.

:class:`OnboardingWizard` runs the dialog for the handler: it owns the ``DialogSet``, saves
``ConversationState`` after every turn, serialises turns of one conversation, and remembers how recent
wizards ended so that a late click gets the same final card.
"""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import date
from typing import Any, Final, Protocol

from botbuilder.core import ConversationState, MessageFactory, StatePropertyAccessor, TurnContext
from botbuilder.dialogs import Dialog, DialogContext, DialogSet, DialogTurnResult
from botbuilder.schema import Activity, ActivityTypes, Attachment

from cards.actions import (
    InputId,
    WizardBackPayload,
    WizardCancelPayload,
    WizardNextPayload,
    WizardStep,
    WizardSubmitPayload,
)
from cards.render import CARD_CONTENT_TYPE, CardContent
from cards.views import (
    AccessStepView,
    BarriersStepView,
    ChoiceOption,
    ContractorStepView,
    FieldError,
    ReviewStepView,
    SubmittedView,
    WizardStepView,
)
from cards.wizard import wizard_cancelled_card, wizard_card, wizard_submitted_card
from dialogs.wizard_state import (
    STEP_INPUTS,
    AccessOptions,
    BarriersOptions,
    Requester,
    ReviewPlan,
    StepCheck,
    SubmitOutcome,
    Submitted,
    WizardEnded,
    WizardState,
    WizardUnavailable,
    new_wizard_id,
)

log = logging.getLogger(__name__)

#: The dialog id, as registered in the ``DialogSet``.
ONBOARDING_WIZARD: Final = "ONBOARDING_WIZARD"
#: ``turn_state`` key under which the handler passes the parsed wizard payload of an invoke.
WIZARD_PAYLOAD_KEY: Final = "vendor_onboarding.wizard.payload"
#: ``turn_state`` key under which the dialog leaves the card that answers the invoke.
WIZARD_CARD_KEY: Final = "vendor_onboarding.wizard.card"
#: ``ConversationState`` property holding the dialog stack (botbuilder's ``DialogState``).
DIALOG_STATE_PROPERTY: Final = "DialogState"
#: ``ConversationState`` property remembering how the last wizards of the conversation ended.
ENDINGS_PROPERTY: Final = "OnboardingWizardEndings"
#: Sent after a typed ``cancel``.
CANCELLED_TEXT: Final = "Onboarding cancelled; nothing was created."

WizardPayload = WizardNextPayload | WizardBackPayload | WizardCancelPayload | WizardSubmitPayload
_WIZARD_PAYLOADS = (WizardNextPayload, WizardBackPayload, WizardCancelPayload, WizardSubmitPayload)

_STATE_KEY = "wizard"
# A conversation rarely has more than a few wizards; older endings get the generic "ended" card.
_MAX_REMEMBERED_ENDINGS = 20
_AT_TAG = re.compile(r"<at>.*?</at>", re.IGNORECASE | re.DOTALL)


class WizardBackend(Protocol):
    """Everything the wizard needs from outside the conversation (``bot.wizard_service.WizardService``).

    Option and plan methods never raise for an outage they can describe: seats come from a cache, an
    unknown value is shown as such. ``check_step``, ``review`` and ``submit`` may raise
    :class:`WizardUnavailable` with catalogue text; the dialog shows it on the current step.
    """

    def countries(self) -> tuple[ChoiceOption, ...]:
        """Every usage location (ISO 3166-1 alpha-2 code and name), sorted by name."""
        ...

    async def access_options(self) -> AccessOptions:
        """License profiles with live seats, and the end-date window."""
        ...

    async def barriers_options(self, state: WizardState) -> BarriersOptions:
        """Vendor segments, the IB-capable license a segment would add, or why none can be chosen."""
        ...

    async def default_sponsor(self, requester: Requester) -> str:
        """The requester's sign-in address to prefill the sponsor with ("" when it cannot be found)."""
        ...

    async def check_step(self, step: WizardStep, state: WizardState) -> StepCheck:
        """Validate ``step`` on ``state`` (its inputs already merged in): every error, or cleaned values."""
        ...

    async def review(self, state: WizardState) -> ReviewPlan:
        """The exact plan for a completed wizard, with the reasons it cannot be submitted now."""
        ...

    async def submit(self, state: WizardState) -> SubmitOutcome:
        """Plan again, store the request, ask for approval; or refuse with reasons, creating nothing."""
        ...


def card_attachment(card: CardContent) -> Attachment:
    """A card as a message attachment."""
    return Attachment(content_type=CARD_CONTENT_TYPE, content=card)


def requester_of(activity: Activity) -> Requester:
    """The person behind ``activity`` as Teams says; raises ``ValueError`` without an Entra object id."""
    who = activity.from_property
    aad_object_id = getattr(who, "aad_object_id", None)
    if not aad_object_id:
        raise ValueError("the onboarding wizard needs the requester's Entra object id (from.aadObjectId)")
    return Requester(aad_object_id=aad_object_id, name=(getattr(who, "name", None) or "")[:256])


def is_cancel_text(text: str | None) -> bool:
    """True when a message says exactly ``cancel`` (mentions removed, any case, extra spaces ignored)."""
    cleaned = " ".join(_AT_TAG.sub(" ", text or "").split())
    return cleaned.lower() == "cancel"


class OnboardingWizardDialog(Dialog):  # type: ignore[misc]  # botbuilder is untyped
    """The four-step onboarding wizard (see the module docstring)."""

    def __init__(
        self,
        backend: WizardBackend,
        *,
        endings: StatePropertyAccessor | None = None,
        ended_card: Callable[[], CardContent] = wizard_cancelled_card,
        new_id: Callable[[], str] = new_wizard_id,
    ) -> None:
        """``endings`` (a conversation-state property) remembers how wizards ended; ``ended_card`` is shown
        for a click on a wizard that no longer exists and was not remembered."""
        super().__init__(ONBOARDING_WIZARD)
        self._backend = backend
        self._endings = endings
        self._ended_card = ended_card
        self._new_id = new_id

    # ------------------------------------------------------------------------------------ begin

    async def begin_dialog(self, dialog_context: DialogContext, options: object = None) -> DialogTurnResult:
        """Start a wizard: the step-1 card goes out as a new message whose id is kept for later updates.

        ``options`` may be the :class:`Requester`; by default it is read from the activity.
        """
        context: TurnContext = dialog_context.context
        requester = options if isinstance(options, Requester) else requester_of(context.activity)
        state = WizardState.start(requester, wizard_id=self._new_id()).rendered()
        state, card = await self._render(state)
        response = await context.send_activity(MessageFactory.attachment(card_attachment(card)))
        state = state.model_copy(update={"activity_id": getattr(response, "id", None)})
        self._store(dialog_context, state)
        return Dialog.end_of_turn

    # ------------------------------------------------------------------------------------ continue

    async def continue_dialog(self, dialog_context: DialogContext) -> DialogTurnResult:
        """A click on the wizard's card, or a typed ``cancel``; anything else leaves the wizard as it is."""
        context: TurnContext = dialog_context.context
        activity = context.activity
        state = self._load(dialog_context)
        if activity.type == ActivityTypes.invoke:
            payload = context.turn_state.get(WIZARD_PAYLOAD_KEY)
            if not isinstance(payload, _WIZARD_PAYLOADS):
                return Dialog.end_of_turn
            if state is None:
                # Saved by an incompatible version of the bot: the wizard cannot go on.
                context.turn_state[WIZARD_CARD_KEY] = await self.ended_card(context, payload.wizard_id)
                return await dialog_context.end_dialog()
            return await self._on_click(dialog_context, state, payload)
        if activity.type == ActivityTypes.message and is_cancel_text(activity.text):
            return await self._cancel_typed(dialog_context, state)
        return Dialog.end_of_turn

    async def _on_click(
        self, dialog_context: DialogContext, state: WizardState, payload: WizardPayload
    ) -> DialogTurnResult:
        context: TurnContext = dialog_context.context
        if payload.wizard_id != state.wizard_id or not _is_requester(context.activity, state):
            # A card of an earlier wizard of this chat: it has ended, whatever the running one does.
            context.turn_state[WIZARD_CARD_KEY] = await self.ended_card(context, payload.wizard_id)
            return Dialog.end_of_turn
        if payload.card_version != state.card_version or payload.wizard_step is not state.step:
            # An old rendering (double click, re-sent invoke): answer with the current card, change nothing.
            current, card = await self._render(state)
            if current != state:
                self._store(dialog_context, current)
            context.turn_state[WIZARD_CARD_KEY] = card
            return Dialog.end_of_turn
        if context.activity.reply_to_id:
            # The clicked message is the wizard's card: the most reliable id to update it by later.
            state = state.model_copy(update={"activity_id": context.activity.reply_to_id})
        if isinstance(payload, WizardCancelPayload):
            return await self._finish(dialog_context, state, WizardEnded("cancelled"))
        errors: tuple[FieldError, ...] = ()
        plan: ReviewPlan | None = None
        if isinstance(payload, WizardBackPayload):
            state = _back(state)
        elif isinstance(payload, WizardNextPayload):
            state, errors, plan = await self._next(state, payload)
        elif state.step is WizardStep.REVIEW:
            outcome, errors = await self._submit(state)
            if isinstance(outcome, Submitted):
                ended = WizardEnded("submitted", outcome.request_id, outcome.approvals_channel)
                return await self._finish(dialog_context, state, ended)
        state, card = await self._render(state.rendered(), errors, plan=plan)
        self._store(dialog_context, state)
        context.turn_state[WIZARD_CARD_KEY] = card
        return Dialog.end_of_turn

    # ------------------------------------------------------------------------------------ steps

    async def _next(
        self, state: WizardState, payload: WizardNextPayload
    ) -> tuple[WizardState, tuple[FieldError, ...], ReviewPlan | None]:
        """Check the current step's inputs; move on when they pass, else stay with every error shown."""
        step = state.step
        if step is WizardStep.REVIEW:
            return state, (), None  # the review moves on with Submit only
        sent = payload.inputs()
        # An input left empty may be missing from the click: it was cleared, so it is stored empty.
        state = state.with_inputs({input_id: sent.get(input_id, "") for input_id in STEP_INPUTS[step]})
        try:
            check = await self._backend.check_step(step, state)
        except WizardUnavailable as err:
            return state, (FieldError(err.message),), None
        if not check.ok:
            return state, check.errors, None
        state = state.with_inputs(check.values)
        if step is WizardStep.ACCESS:
            state = state.model_copy(update={"sponsor": check.sponsor})
        following = WizardStep(step + 1)
        if following is WizardStep.ACCESS:
            state = await self._access_defaults(state)
        plan: ReviewPlan | None = None
        if following is WizardStep.REVIEW:
            try:
                plan = await self._backend.review(state)
            except WizardUnavailable as err:
                return state, (FieldError(err.message),), None
        return state.model_copy(update={"step": following}), (), plan

    async def _access_defaults(self, state: WizardState) -> WizardState:
        """Prefill the access step the first time it is shown: default end date, the only profile, sponsor."""
        defaults: dict[InputId, str] = {}
        if InputId.END_DATE not in state.inputs or InputId.LICENSE_PROFILE not in state.inputs:
            options = await self._backend.access_options()
            defaults[InputId.END_DATE] = options.default_end_date.isoformat()
            if len(options.profiles) == 1:
                defaults[InputId.LICENSE_PROFILE] = options.profiles[0].value
        if InputId.SPONSOR not in state.inputs:
            defaults[InputId.SPONSOR] = await self._backend.default_sponsor(state.requester)
        # Whatever was entered before wins over a default.
        return state.with_inputs({key: value for key, value in defaults.items() if key not in state.inputs})

    async def _submit(self, state: WizardState) -> tuple[SubmitOutcome | None, tuple[FieldError, ...]]:
        try:
            outcome = await self._backend.submit(state)
        except WizardUnavailable as err:
            return None, (FieldError(err.message),)
        if isinstance(outcome, Submitted):
            return outcome, ()
        return outcome, tuple(FieldError(reason) for reason in outcome.reasons)

    async def _finish(
        self, dialog_context: DialogContext, state: WizardState, ended: WizardEnded
    ) -> DialogTurnResult:
        context: TurnContext = dialog_context.context
        context.turn_state[WIZARD_CARD_KEY] = _final_card(ended)
        await self._remember(context, state.wizard_id, ended)
        return await dialog_context.end_dialog(ended)

    async def _cancel_typed(
        self, dialog_context: DialogContext, state: WizardState | None
    ) -> DialogTurnResult:
        context: TurnContext = dialog_context.context
        ended = WizardEnded("cancelled")
        if state is not None:
            await self._replace_card(context, state, _final_card(ended))
            await self._remember(context, state.wizard_id, ended)
        await context.send_activity(MessageFactory.text(CANCELLED_TEXT))
        return await dialog_context.end_dialog(ended)

    async def supersede(self, dialog_context: DialogContext) -> None:
        """End the running wizard because a new one starts: its card turns into the cancelled card."""
        state = self._load(dialog_context)
        ended = WizardEnded("cancelled")
        if state is not None:
            await self._replace_card(dialog_context.context, state, _final_card(ended))
            await self._remember(dialog_context.context, state.wizard_id, ended)
        await dialog_context.end_dialog(ended)

    async def _replace_card(self, context: TurnContext, state: WizardState, card: CardContent) -> None:
        if not state.activity_id:
            return
        update = Activity(
            type=ActivityTypes.message, id=state.activity_id, attachments=[card_attachment(card)]
        )
        try:
            await context.update_activity(update)
        except Exception as err:  # the message may be gone; the wizard ends regardless
            log.warning(
                "could not update the wizard card in place",
                extra={"wizard_id": state.wizard_id, "error_type": type(err).__name__},
            )

    # ------------------------------------------------------------------------------------ cards

    async def current_card(self, dialog_context: DialogContext) -> CardContent | None:
        """The running wizard's card as it stands (same version: its buttons stay valid), or None."""
        state = self._load(dialog_context)
        if state is None:
            return None
        _, card = await self._render(state)
        return card

    async def ended_card(self, context: TurnContext, wizard_id: str) -> CardContent:
        """The answer to a click on a wizard that no longer runs: its final card if remembered."""
        if self._endings is not None:
            remembered = await self._endings.get(context, dict)
            if isinstance(remembered, dict):
                ended = WizardEnded.from_stored(remembered.get(wizard_id))
                if ended is not None:
                    return _final_card(ended)
        return self._ended_card()

    async def _render(
        self,
        state: WizardState,
        errors: Sequence[FieldError] = (),
        *,
        plan: ReviewPlan | None = None,
    ) -> tuple[WizardState, CardContent]:
        """The card for ``state`` at its current version (the review also records the UPN it shows)."""
        view: WizardStepView
        shown = tuple(errors)
        if state.step is WizardStep.CONTRACTOR:
            view = ContractorStepView(
                wizard_id=state.wizard_id,
                card_version=state.card_version,
                countries=self._backend.countries(),
                vendor_company=state.value(InputId.VENDOR_COMPANY),
                first_name=state.value(InputId.FIRST_NAME),
                last_name=state.value(InputId.LAST_NAME),
                contractor_email=state.value(InputId.CONTRACTOR_EMAIL),
                usage_location=state.value(InputId.USAGE_LOCATION),
                errors=shown,
            )
        elif state.step is WizardStep.ACCESS:
            access = await self._backend.access_options()
            view = AccessStepView(
                wizard_id=state.wizard_id,
                card_version=state.card_version,
                profiles=access.profiles,
                min_end_date=access.min_end_date,
                max_end_date=access.max_end_date,
                license_profile=state.value(InputId.LICENSE_PROFILE),
                end_date=_parse_date(state.value(InputId.END_DATE)),
                sponsor=state.value(InputId.SPONSOR),
                errors=shown,
            )
        elif state.step is WizardStep.BARRIERS:
            barriers: BarriersOptions = await self._backend.barriers_options(state)
            view = BarriersStepView(
                wizard_id=state.wizard_id,
                card_version=state.card_version,
                segments=barriers.segments,
                reach_everyone={"yes": True, "no": False}.get(state.value(InputId.REACH_EVERYONE)),
                segment=state.value(InputId.SEGMENT),
                ib_license=barriers.ib_license,
                unavailable_reason=barriers.unavailable_reason,
                errors=shown,
            )
        else:
            if plan is None:
                try:
                    plan = await self._backend.review(state)
                except WizardUnavailable as err:
                    # No plan, no review: go back a step, say why; Next tries again.
                    back = state.model_copy(update={"step": WizardStep.BARRIERS})
                    return await self._render(back, (*shown, FieldError(err.message)))
            state = state.model_copy(update={"reviewed_upn": plan.upn})
            blockers = tuple(FieldError(reason) for reason in plan.blockers)
            view = ReviewStepView(
                wizard_id=state.wizard_id,
                card_version=state.card_version,
                upn=plan.upn,
                display_name=plan.display_name,
                attributes=plan.attributes,
                licenses=plan.licenses,
                groups=plan.groups,
                end_date=plan.end_date,
                sponsor=plan.sponsor,
                segment=plan.segment,
                segment_placement=plan.segment_placement,
                warnings=plan.warnings,
                errors=tuple(dict.fromkeys((*shown, *blockers))),
            )
        return state, wizard_card(view)

    # ------------------------------------------------------------------------------------ state

    def _store(self, dialog_context: DialogContext, state: WizardState) -> None:
        dialog_context.active_dialog.state[_STATE_KEY] = state.to_stored()

    def _load(self, dialog_context: DialogContext) -> WizardState | None:
        instance = dialog_context.active_dialog
        if instance is None or instance.id != self.id:
            return None
        return WizardState.from_stored((instance.state or {}).get(_STATE_KEY))

    async def _remember(self, context: TurnContext, wizard_id: str, ended: WizardEnded) -> None:
        if self._endings is None:
            return
        remembered = await self._endings.get(context, dict)
        kept: dict[str, Any] = dict(remembered) if isinstance(remembered, dict) else {}
        kept.pop(wizard_id, None)
        kept[wizard_id] = ended.to_stored()
        while len(kept) > _MAX_REMEMBERED_ENDINGS:
            kept.pop(next(iter(kept)))
        await self._endings.set(context, kept)


def _back(state: WizardState) -> WizardState:
    if state.step is WizardStep.CONTRACTOR:
        return state
    return state.model_copy(update={"step": WizardStep(state.step - 1)})


def _final_card(ended: WizardEnded) -> CardContent:
    if ended.outcome == "submitted" and ended.request_id is not None:
        return wizard_submitted_card(SubmittedView(ended.request_id, ended.approvals_channel))
    return wizard_cancelled_card()


def _is_requester(activity: Activity, state: WizardState) -> bool:
    clicker = getattr(activity.from_property, "aad_object_id", None)
    # Object ids are GUIDs: compare them case-insensitively.
    return bool(clicker) and str(clicker).lower() == state.requester.aad_object_id.lower()


def _parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


class OnboardingWizard:
    """Runs :class:`OnboardingWizardDialog` for the bot handler, one call per kind of turn.

    Each call loads ``ConversationState``, runs the dialog and saves the state, with turns of the same
    conversation taken one at a time in this process (a double click or a re-sent invoke sees the first
    one's result, never a half-done state). ``save_conflicts`` are the exceptions the storage raises when
    another instance saved the conversation first (``storage.ConcurrencyError``): the click then gets the
    card as that instance left it.
    """

    def __init__(
        self,
        conversation_state: ConversationState,
        backend: WizardBackend,
        *,
        ended_card: Callable[[], CardContent] = wizard_cancelled_card,
        new_id: Callable[[], str] = new_wizard_id,
        save_conflicts: tuple[type[BaseException], ...] = (),
    ) -> None:
        self._conversation_state = conversation_state
        self.dialog = OnboardingWizardDialog(
            backend,
            endings=conversation_state.create_property(ENDINGS_PROPERTY),
            ended_card=ended_card,
            new_id=new_id,
        )
        self._dialogs = DialogSet(conversation_state.create_property(DIALOG_STATE_PROPERTY))
        self._dialogs.add(self.dialog)
        self._save_conflicts = save_conflicts
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def start(self, turn_context: TurnContext, requester: Requester | None = None) -> None:
        """Start a wizard (``onboard``); a wizard already running in this chat ends as cancelled first.

        The caller has checked that the sender may onboard (requesters group).
        """
        async with self._turn(turn_context) as dialog_context:
            if self._running(dialog_context):
                await self.dialog.supersede(dialog_context)
            await dialog_context.begin_dialog(ONBOARDING_WIZARD, requester)

    async def handle_action(self, turn_context: TurnContext, payload: WizardPayload) -> CardContent:
        """Answer a wizard button click: the card for the invoke response (never None)."""
        try:
            async with self._turn(turn_context) as dialog_context:
                turn_context.turn_state[WIZARD_PAYLOAD_KEY] = payload
                turn_context.turn_state.pop(WIZARD_CARD_KEY, None)
                if self._running(dialog_context):
                    await dialog_context.continue_dialog()
                card = turn_context.turn_state.get(WIZARD_CARD_KEY)
                if card is None:
                    card = await self.dialog.ended_card(turn_context, payload.wizard_id)
        except self._save_conflicts:
            log.info("wizard state changed by another turn", extra={"wizard_id": payload.wizard_id})
            return await self._card_as_stored(turn_context, payload.wizard_id)
        assert isinstance(card, dict)
        return card

    async def cancel(self, turn_context: TurnContext) -> bool:
        """A typed ``cancel``: end the running wizard (card updated in place, a confirmation sent).

        Returns False, sending nothing, when no wizard runs in this chat.
        """
        async with self._turn(turn_context) as dialog_context:
            if not self._running(dialog_context):
                return False
            await dialog_context.continue_dialog()
            return True

    async def is_running(self, turn_context: TurnContext) -> bool:
        """Whether a wizard runs in this chat."""
        await self._conversation_state.load(turn_context)
        dialog_context = await self._dialogs.create_context(turn_context)
        return self._running(dialog_context)

    def _running(self, dialog_context: DialogContext) -> bool:
        active = dialog_context.active_dialog
        return active is not None and active.id == ONBOARDING_WIZARD

    async def _card_as_stored(self, turn_context: TurnContext, wizard_id: str) -> CardContent:
        await self._conversation_state.load(turn_context, force=True)
        dialog_context = await self._dialogs.create_context(turn_context)
        if self._running(dialog_context):
            state = WizardState.from_stored((dialog_context.active_dialog.state or {}).get(_STATE_KEY))
            if state is not None and state.wizard_id == wizard_id:
                card = await self.dialog.current_card(dialog_context)
                if card is not None:
                    return card
        return await self.dialog.ended_card(turn_context, wizard_id)

    @asynccontextmanager
    async def _turn(self, turn_context: TurnContext) -> AsyncIterator[DialogContext]:
        key = _conversation_key(turn_context)
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        async with lock:
            await self._conversation_state.load(turn_context)
            dialog_context = await self._dialogs.create_context(turn_context)
            yield dialog_context
            await self._conversation_state.save_changes(turn_context)


def _conversation_key(turn_context: TurnContext) -> str:
    activity = turn_context.activity
    conversation = getattr(activity.conversation, "id", None) or ""
    return f"{activity.channel_id}/{conversation}"
