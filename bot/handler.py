"""The Teams surface: one activity handler that checks who is calling, then routes.

Order of checks on every activity: tenant (only the configured tenant is served), service URL (replies
only go to an allowed Bot Connector host), then the route: a text command, or an ``Action.Execute``
verb whose payload is parsed with that verb's model. Nothing here calls Graph for more than a role check.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from botbuilder.core import InvokeResponse, MessageFactory, TurnContext
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    AdaptiveCardInvokeResponse,
    AdaptiveCardInvokeValue,
    Attachment,
    ChannelAccount,
)
from msrest.serialization import Model

from bot.approvals import ApprovalDesk, Clicker
from bot.bulk_desk import BulkDesk
from bot.commands import Command, CommandName, parse_command
from bot.commands_desk import CommandDesk
from bot.lifecycle_desk import LifecycleDesk
from bot.roles import Role, RoleDirectory
from bot.segment_change import SegmentChangeDesk
from cards import help as help_cards
from cards.actions import ActionParseError, CommandRunPayload, Verb, parse_action
from cards.views import ErrorView, RefusedAction
from dialogs.onboarding_wizard import OnboardingWizard
from observability import current_correlation_id
from onboarding.audit import AuditAction
from settings import Settings
from storage.repositories import AuditLog, ConversationRefs, user_chat_name

log = logging.getLogger(__name__)

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
ERROR_TYPE = "application/vnd.microsoft.error"
APPROVALS_CHANNEL = "approvals-channel"

CardDict = dict[str, Any]
VerbHandler = Callable[[TurnContext, Any], Awaitable[CardDict]]


@dataclass
class Caller:
    """The person behind an activity, as Teams (not the card) says."""

    aad_object_id: str | None
    name: str
    channel_account_id: str

    @classmethod
    def of(cls, activity: Activity) -> Caller:
        who = activity.from_property or ChannelAccount()
        return cls(
            aad_object_id=who.aad_object_id, name=who.name or "someone", channel_account_id=who.id or ""
        )


def card_attachment(card: CardDict) -> Attachment:
    return Attachment(content_type=ADAPTIVE_CARD, content=card)


class InvokeResponseBody(Model):
    """An ``adaptiveCard/action`` response body that is already JSON: the same JSON as botbuilder's
    ``AdaptiveCardInvokeResponse``, without serialising the card field by field.

    ``CloudAdapter`` writes ``serializer_helper(invoke_response.body)``, an msrest ``Serializer``, which
    refuses a plain dict (FACTS.md: ``'dict' object has no attribute 'is_xml_model'``) and walks every
    value of an ``AdaptiveCardInvokeResponse``'s card (~1.5 ms for a wizard step). msrest copies a
    model's ``additional_properties`` into the output as they are, so this model is that dict and
    nothing else. ``TurnContext`` deep-copies the activity carrying it; the body is built for one
    response and never changed afterwards, so the copy shares it instead of copying the card.
    """

    # Declared on msrest's Model as an instance attribute, so no ClassVar here; never mutated.
    _attribute_map = {"additional_properties": {"key": "", "type": "{object}"}}  # noqa: RUF012

    def __init__(self, *, status_code: int, content_type: str, value: dict[str, Any]) -> None:
        """The body ``{"statusCode": ..., "type": content_type, "value": ...}``, as Teams reads it."""
        super().__init__()  # type: ignore[no-untyped-call]  # msrest's Model.__init__ is untyped
        self.additional_properties: dict[str, Any] = {
            "statusCode": int(status_code),
            "type": content_type,
            "value": value,
        }

    @property
    def json(self) -> dict[str, Any]:
        """The body as sent."""
        return self.additional_properties

    def __deepcopy__(self, memo: dict[int, Any]) -> InvokeResponseBody:
        return self


def card_invoke_response(card: CardDict) -> InvokeResponse:
    """The invoke answer that replaces the clicked card (FACTS.md: never a plain dict body)."""
    return InvokeResponse(
        status=HTTPStatus.OK,
        body=InvokeResponseBody(status_code=HTTPStatus.OK, content_type=ADAPTIVE_CARD, value=card),
    )


def error_invoke_response(status: HTTPStatus, code: str, message: str) -> InvokeResponse:
    """An ``application/vnd.microsoft.error`` answer: Teams shows ``message``, the card stays."""
    return InvokeResponse(
        status=status,
        body=InvokeResponseBody(
            status_code=status, content_type=ERROR_TYPE, value={"code": code, "message": message}
        ),
    )


class VendorOnboardingBot(TeamsActivityHandler):  # type: ignore[misc]
    """Routes Teams activities to commands and card verbs after the tenant and service-URL checks."""

    def __init__(
        self,
        settings: Settings,
        roles: RoleDirectory,
        conversations: ConversationRefs,
        audit: AuditLog,
        *,
        wizard: OnboardingWizard,
        desk: ApprovalDesk,
        commands: CommandDesk,
        bulk: BulkDesk,
        lifecycle: LifecycleDesk,
        segment: SegmentChangeDesk,
    ) -> None:
        super().__init__()
        self._settings = settings
        self._roles = roles
        self._conversations = conversations
        self._audit = audit
        self._wizard = wizard
        self._desk = desk
        self._commands = commands
        self._lifecycle = lifecycle
        self._segment = segment
        self._verbs: dict[str, VerbHandler] = {}
        for verb in (Verb.WIZARD_NEXT, Verb.WIZARD_BACK, Verb.WIZARD_CANCEL, Verb.WIZARD_SUBMIT):
            self.register_verb(verb, wizard.handle_action)
        self.register_verb(Verb.APPROVAL_APPROVE, self._clicked(desk.approve))
        self.register_verb(Verb.APPROVAL_REJECT, self._clicked(desk.reject))
        self.register_verb(Verb.APPROVAL_RETRY, self._clicked(desk.retry))
        self.register_verb(Verb.APPROVAL_CANCEL, self._clicked(desk.cancel))
        self.register_verb(Verb.APPROVAL_REFRESH, self._clicked(desk.refresh))
        self.register_verb(Verb.CREDENTIALS_REVEAL, self._clicked(desk.reveal))
        self.register_verb(Verb.COMMAND_RUN, self._run_command_button)
        self.register_verb(Verb.LIST_PAGE, self._clicked(commands.page))
        self.register_verb(Verb.REQUEST_OPEN, self._clicked(commands.open_request))
        self.register_verb(Verb.BARRIERS_RECORD_APPLIED, self._clicked(commands.record_barriers_applied))
        self.register_verb(Verb.BULK_APPROVE, self._clicked(bulk.approve))
        self.register_verb(Verb.BULK_REJECT, self._clicked(bulk.reject))
        self.register_verb(Verb.BULK_RETRY_FAILED, self._clicked(bulk.retry_failed))
        self.register_verb(Verb.LIFECYCLE_EXTEND, self._clicked(lifecycle.extend))
        self.register_verb(Verb.LIFECYCLE_OFFBOARD, self._clicked(lifecycle.offboard))
        self.register_verb(Verb.LIFECYCLE_RESET_PASSWORD, self._clicked(lifecycle.reset_password))
        self.register_verb(Verb.LIFECYCLE_APPROVE, self._clicked(lifecycle.approve))
        self.register_verb(Verb.LIFECYCLE_REJECT, self._clicked(lifecycle.reject))
        self.register_verb(Verb.SEGMENT_CHANGE_PROPOSE, self._clicked(segment.propose))
        self.register_verb(Verb.SEGMENT_CHANGE_APPROVE, self._clicked(segment.approve))
        self.register_verb(Verb.SEGMENT_CHANGE_REJECT, self._clicked(segment.reject))
        self.register_verb(Verb.SEGMENT_CHANGE_RETRY, self._clicked(segment.retry))

    @staticmethod
    def _clicked(action: Callable[[Clicker, Any], Awaitable[CardDict]]) -> VerbHandler:
        async def handle(turn_context: TurnContext, payload: Any) -> CardDict:
            caller = Caller.of(turn_context.activity)
            return await action(Clicker(caller.aad_object_id, caller.name), payload)

        return handle

    def register_verb(self, verb: str, handler: VerbHandler) -> None:
        """Route an ``Action.Execute`` verb to a handler that receives the parsed payload model."""
        self._verbs[verb] = handler

    # ------------------------------------------------------------------ gatekeeping

    async def on_turn(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        refusal = self._refusal_reason(activity)
        if refusal is not None:
            caller = Caller.of(activity)
            log.warning("refused activity: %s", refusal, extra={"activity_type": activity.type})
            await self._audit.append(
                AuditAction.ACCESS_REFUSED,
                actor_aad_id=caller.aad_object_id,
                actor_name=caller.name,
                detail={"reason": refusal, "activity_type": activity.type or ""},
            )
            if activity.type == ActivityTypes.invoke:
                await _send_invoke_response(
                    turn_context, error_invoke_response(HTTPStatus.FORBIDDEN, "Forbidden", "Not allowed.")
                )
            return
        await super().on_turn(turn_context)

    def _refusal_reason(self, activity: Activity) -> str | None:
        tenant = _tenant_of(activity)
        if tenant != self._settings.allowed_tenant_id:
            return f"tenant {tenant!r} is not the allowed tenant"
        if not service_url_allowed(activity.service_url, self._settings.allowed_service_url_prefixes):
            return "service URL is not on the allow-list"
        return None

    # ------------------------------------------------------------------ messages

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        if activity.text is None and activity.value is not None:
            # An Action.Submit from an old card: we only use Action.Execute.
            await turn_context.send_activity(
                MessageFactory.attachment(card_attachment(help_cards.help_card()))
            )
            return
        command = parse_command(activity.text)
        if _is_channel(activity):
            await self._on_channel_command(turn_context, command)
            return
        await self._on_personal_command(turn_context, command)

    async def _on_personal_command(self, turn_context: TurnContext, command: Command) -> None:
        await self._remember_personal_chat(turn_context)
        if command.name is CommandName.ONBOARD:
            await self._start_onboarding(turn_context)
            return
        if command.name is CommandName.CANCEL:
            if not await self._wizard.cancel(turn_context):
                await turn_context.send_activity(MessageFactory.text("Nothing to cancel."))
            return
        caller = Caller.of(turn_context.activity)
        who = Clicker(caller.aad_object_id, caller.name)
        if command.name is CommandName.HELP:
            card = help_cards.help_card()
        elif command.name is CommandName.REQUESTS:
            card = await self._commands.requests(who)
        elif command.name is CommandName.ACCOUNTS:
            card = await self._commands.accounts(who, " ".join(command.args) or None)
        elif command.name is CommandName.LICENSES:
            card = await self._commands.licenses(who)
        elif command.name is CommandName.EXTEND:
            card = await self._lifecycle.extend_command(who, command.args[0])
        elif command.name is CommandName.OFFBOARD:
            card = await self._lifecycle.offboard_command(who, command.args[0])
        elif command.name is CommandName.SEGMENT:
            card = await self._segment.command(who, command.args[0], " ".join(command.args[1:]) or None)
        elif command.name is CommandName.BARRIERS:
            card = await self._commands.barriers(who)
        elif command.name is CommandName.AUDIT and command.args[0].lower() == "export":
            card = await self._commands.audit_export(who, command.args[1:])
        elif command.name is CommandName.APPROVALS_HERE:
            await turn_context.send_activity(
                MessageFactory.text(
                    "Post this in the channel where approval cards should go, mentioning me: "
                    "@Vendor Onboarding approvals here"
                )
            )
            return
        else:
            card = help_cards.unknown_command_card(command.text)
        await turn_context.send_activity(MessageFactory.attachment(card_attachment(card)))

    async def _start_onboarding(self, turn_context: TurnContext) -> None:
        caller = Caller.of(turn_context.activity)
        if not await self._roles.has_role(caller.aad_object_id, Role.REQUESTER):
            await self._audit.append(
                AuditAction.ACCESS_REFUSED,
                actor_aad_id=caller.aad_object_id,
                actor_name=caller.name,
                detail={"command": "onboard"},
            )
            await turn_context.send_activity(
                MessageFactory.attachment(card_attachment(help_cards.refusal_card(RefusedAction.ONBOARD)))
            )
            return
        await self._wizard.start(turn_context)

    async def _run_command_button(self, turn_context: TurnContext, payload: CommandRunPayload) -> CardDict:
        """A button that runs a command: its output arrives as a new message; the clicked card stays."""
        if _is_channel(turn_context.activity):
            return help_cards.help_card(show_channel_admin=True)
        await self._on_personal_command(turn_context, parse_command(payload.command))
        return help_cards.help_card()

    async def _remember_personal_chat(self, turn_context: TurnContext) -> None:
        """Keep the user's 1:1 conversation reference: status changes and hand-offs are sent there."""
        caller = Caller.of(turn_context.activity)
        if not caller.aad_object_id:
            return
        reference = TurnContext.get_conversation_reference(turn_context.activity)
        await self._conversations.save(
            user_chat_name(caller.aad_object_id),
            reference.serialize(),
            set_by=caller.aad_object_id,
            set_by_name=caller.name,
        )

    async def _on_channel_command(self, turn_context: TurnContext, command: Command) -> None:
        caller = Caller.of(turn_context.activity)
        if command.name is CommandName.APPROVALS_HERE:
            if not await self._roles.has_role(caller.aad_object_id, Role.ADMINISTRATOR):
                await turn_context.send_activity(
                    MessageFactory.attachment(
                        card_attachment(help_cards.refusal_card(RefusedAction.BIND_CHANNEL))
                    )
                )
                return
            await self._conversations.save(
                APPROVALS_CHANNEL,
                _channel_reference(turn_context.activity),
                set_by=caller.aad_object_id,
                set_by_name=caller.name,
            )
            await self._audit.append(
                AuditAction.APPROVALS_CHANNEL_BOUND,
                actor_aad_id=caller.aad_object_id,
                actor_name=caller.name,
                detail={"channel_id": _channel_id(turn_context.activity) or ""},
            )
            await turn_context.send_activity(
                MessageFactory.attachment(card_attachment(help_cards.channel_bound_card()))
            )
            return
        if command.name is CommandName.HELP or command.name is CommandName.UNKNOWN:
            await turn_context.send_activity(
                MessageFactory.attachment(card_attachment(help_cards.help_card()))
            )
            return
        await turn_context.send_activity(
            MessageFactory.text("Please use that command in a 1:1 chat with me.")
        )

    # ------------------------------------------------------------------ installs

    async def on_installation_update_add(self, turn_context: TurnContext) -> None:
        conversation = turn_context.activity.conversation
        if conversation and conversation.conversation_type == "personal":
            await self._remember_personal_chat(turn_context)
            who = turn_context.activity.from_property
            name = who.name if who is not None and who.name else None
            await turn_context.send_activity(
                MessageFactory.attachment(card_attachment(help_cards.welcome_card(name)))
            )

    # ------------------------------------------------------------------ Action.Execute

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        if turn_context.activity.name != "adaptiveCard/action":
            return error_invoke_response(HTTPStatus.NOT_IMPLEMENTED, "NotImplemented", "Not supported.")
        value = turn_context.activity.value
        action = value.get("action") if isinstance(value, dict) else None
        if not isinstance(action, dict) or action.get("type") != "Action.Execute":
            return error_invoke_response(HTTPStatus.BAD_REQUEST, "BadRequest", "Expected an Action.Execute.")
        verb = action.get("verb")
        data = action.get("data")
        handler = self._verbs.get(verb) if isinstance(verb, str) else None
        if handler is None:
            return error_invoke_response(
                HTTPStatus.BAD_REQUEST, "UnknownVerb", "This card action is not supported."
            )
        try:
            payload = parse_action(verb, data if isinstance(data, dict) else {})
        except ActionParseError:
            return error_invoke_response(
                HTTPStatus.BAD_REQUEST, "BadPayload", "This card action is malformed."
            )
        try:
            card = await handler(turn_context, payload)
        except Exception:
            # The click must get an answer; the user sees a reference, the log the whole story.
            log.exception("card action failed", extra={"verb": verb})
            card = help_cards.error_card(
                ErrorView(
                    message="That did not work and nothing was changed. Please try again.",
                    correlation_id=current_correlation_id() or "-",
                )
            )
        return card_invoke_response(card)

    async def on_adaptive_card_invoke(
        self, turn_context: TurnContext, invoke_value: AdaptiveCardInvokeValue
    ) -> AdaptiveCardInvokeResponse:  # pragma: no cover - routed in on_invoke_activity
        raise NotImplementedError


def service_url_allowed(service_url: str | None, prefixes: Iterable[str]) -> bool:
    """Whether replies may go to ``service_url``: compared as a parsed URL, never as raw text.

    ``http://127.0.0.1:x@evil:80/`` *starts with* ``http://127.0.0.1:`` but its host is ``evil``; a URL
    with a user part, or one that does not parse, is refused outright.
    """
    try:
        parts = urlsplit(service_url or "")
        port = parts.port
    except ValueError:
        return False
    if parts.username is not None or parts.password is not None or not parts.hostname:
        return False
    normalized = f"{parts.scheme.lower()}://{parts.hostname.lower()}"
    normalized += f":{port}" if port is not None else ""
    normalized += parts.path or "/"
    return any(normalized.startswith(prefix.lower()) for prefix in prefixes)


async def _send_invoke_response(turn_context: TurnContext, response: InvokeResponse) -> None:
    await turn_context.send_activity(Activity(type=ActivityTypes.invoke_response, value=response))


def _tenant_of(activity: Activity) -> str | None:
    # Teams puts the tenant in channelData; `conversation.tenant_id` reads as None in Python (FACTS.md).
    channel_data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    tenant = channel_data.get("tenant")
    return tenant.get("id") if isinstance(tenant, dict) else None


def _is_channel(activity: Activity) -> bool:
    conversation = activity.conversation
    return bool(conversation and conversation.conversation_type == "channel")


def _channel_reference(activity: Activity) -> dict[str, Any]:
    """Where new approval cards go: the channel itself, not the thread the command was typed in.

    A message in a channel thread has the conversation id ``<channel>;messageid=<root>``; sending to that
    would reply in the thread. The bare channel id makes each approval card a new post.
    """
    reference = TurnContext.get_conversation_reference(activity)
    channel_id = _channel_id(activity)
    if channel_id and reference.conversation is not None:
        reference.conversation.id = channel_id
    serialized: dict[str, Any] = reference.serialize()
    channel_data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    channel = channel_data.get("channel")
    if isinstance(channel, dict) and isinstance(channel.get("name"), str):
        serialized["channel_name"] = channel["name"][:128]
    return serialized


def _channel_id(activity: Activity) -> str | None:
    channel_data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    channel = channel_data.get("channel")
    return channel.get("id") if isinstance(channel, dict) else None


def correlation_suffix() -> str:
    cid = current_correlation_id()
    return f" (ref {cid})" if cid else ""
