"""The Playground harness proven against a tiny bot defined here (the product bot has its own e2e tests).

The bot is a botbuilder ``CloudAdapter`` echo bot with empty credentials, which is what the Playground's
unauthenticated calls need: ``help`` answers with a small Adaptive Card whose ``Action.Execute`` verb
``greet`` returns a new card naming the user who clicked; ``whoami`` echoes the sender's identity;
anything else is echoed. It records every activity it receives.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from botbuilder.core import ActivityHandler, CardFactory, InvokeResponse, MessageFactory, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity, AdaptiveCardInvokeResponse
from playwright.sync_api import expect

from tests.support.browser import PlaygroundPage, requires_chromium
from tests.support.playground import (
    ADAPTIVE_CARD,
    AppThread,
    PlaygroundClient,
    PlaygroundError,
    PlaygroundEvent,
    PlaygroundProcess,
    unavailable_reason,
)

pytestmark = pytest.mark.e2e

HELP_TITLE = "Harness bot help"


def _card(text: str, *, with_greet: bool = False) -> dict[str, Any]:
    card: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "body": [{"type": "TextBlock", "text": text, "weight": "Bolder", "wrap": True}],
    }
    if with_greet:
        card["actions"] = [
            {"type": "Action.Execute", "title": "Greet", "verb": "greet", "data": {"via": "card"}}
        ]
    return card


class _Config:
    """Upper-case attributes, as botbuilder reads them; empty credentials turn authentication off."""

    APP_ID = ""
    APP_PASSWORD = ""
    APP_TYPE = "MultiTenant"
    APP_TENANTID = ""


class HarnessBot(ActivityHandler):  # type: ignore[misc]  # botbuilder is untyped
    """Echo bot with one card and one verb; records what it receives and which turns it finished."""

    def __init__(self) -> None:
        self.received: list[Activity] = []
        self._answered: list[str] = []
        self._changed = threading.Condition()

    async def on_turn(self, turn_context: TurnContext) -> None:
        self.received.append(turn_context.activity)
        await super().on_turn(turn_context)
        with self._changed:
            self._answered.append(turn_context.activity.text or "")
            self._changed.notify_all()

    def wait_answered(self, text: str, timeout: float) -> bool:
        """Block until a turn for an activity with ``text`` has finished (its replies sent)."""
        with self._changed:
            return self._changed.wait_for(lambda: text in self._answered, timeout)

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        text = (TurnContext.remove_recipient_mention(activity) or "").strip()
        if text == "help":
            card = CardFactory.adaptive_card(_card(HELP_TITLE, with_greet=True))
            await turn_context.send_activity(MessageFactory.attachment(card))
        elif text == "whoami":
            sender = activity.from_property
            await turn_context.send_activity(f"whoami: {sender.name} {sender.aad_object_id}")
        else:
            await turn_context.send_activity(f"echo: {text}")

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        activity = turn_context.activity
        action = (activity.value or {}).get("action", {}) if activity.name == "adaptiveCard/action" else {}
        if action.get("verb") == "greet":
            card = _card(f"Hello, {activity.from_property.name}")
            body = AdaptiveCardInvokeResponse(status_code=200, type=ADAPTIVE_CARD, value=card)
        else:
            error = {"code": "BadRequest", "message": f"unknown verb {action.get('verb')!r}"}
            body = AdaptiveCardInvokeResponse(
                status_code=400, type="application/vnd.microsoft.error", value=error
            )
        return InvokeResponse(status=200, body=body)


@pytest.fixture(scope="module")
def harness_bot() -> HarnessBot:
    return HarnessBot()


@pytest.fixture(scope="module")
def bot_endpoint(harness_bot: HarnessBot) -> Iterator[str]:
    """The tiny bot on 127.0.0.1 and a free port, served from a background thread for the whole module."""

    async def make_app() -> web.Application:
        adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(_Config()))

        async def messages(request: web.Request) -> web.Response:
            response: web.Response = await adapter.process(request, harness_bot)
            return response

        app = web.Application()
        app.router.add_post("/api/messages", messages)
        return app

    with AppThread(make_app) as server:
        yield f"{server.url}/api/messages"


def _from_bot(pg: PlaygroundClient) -> Any:
    return lambda event: event.is_new_message and event.sender_id == pg.config.bot.id


async def _help_card(pg: PlaygroundClient, conversation_id: str | None = None) -> PlaygroundEvent:
    if conversation_id is None:
        await pg.send_text("help")
    else:
        await pg.mention_bot("help", conversation_id=conversation_id)
    return await pg.wait_for(lambda e: _from_bot(pg)(e) and bool(e.cards))


# --- through the Playground's HTTP + WebSocket API ----------------------------------------------------


async def test_personal_message_reply_arrives_on_the_stream(pg: PlaygroundClient) -> None:
    await pg.send_text("hello harness")
    reply = await pg.wait_for(_from_bot(pg))
    assert reply.text == "echo: hello harness"
    assert reply.conversation_id == pg.config.personal_chat.id


async def test_help_answers_with_a_card(pg: PlaygroundClient) -> None:
    reply = await _help_card(pg)
    (card,) = reply.cards
    assert card["body"][0]["text"] == HELP_TITLE
    assert card["actions"][0]["verb"] == "greet"


async def test_execute_returns_the_bots_card(pg: PlaygroundClient) -> None:
    help_message = (await _help_card(pg)).message
    assert help_message is not None
    result = await pg.execute("greet", {"via": "card"}, reply_to_id=help_message.message_id)
    assert result.card["body"][0]["text"] == "Hello, Alice Requester"


async def test_execute_with_an_unknown_verb_returns_the_bots_error(pg: PlaygroundClient) -> None:
    help_message = (await _help_card(pg)).message
    assert help_message is not None
    result = await pg.execute("no-such-verb", reply_to_id=help_message.message_id)
    assert result.type == "application/vnd.microsoft.error"
    assert result.value == {"code": "BadRequest", "message": "unknown verb 'no-such-verb'"}
    with pytest.raises(PlaygroundError, match="not a card"):
        _ = result.card


async def test_channel_mention_reaches_the_bot_and_the_reply_lands_in_the_thread(
    pg: PlaygroundClient,
) -> None:
    channel = pg.config.channel_id("Vendor approvals")
    sent = await pg.mention_bot("whoami", conversation_id=channel)
    reply = await pg.wait_for(_from_bot(pg))
    assert reply.text == "whoami: Alice Requester a11ce000-0000-4000-8000-000000000001"
    assert reply.conversation_id == sent.conversation_id
    assert sent.conversation_id.startswith(f"{channel};messageid=")


async def test_execute_as_another_team_member(pg: PlaygroundClient) -> None:
    # Approvers click in the channel; the Playground's invoke API accepts any member of the conversation.
    general = pg.config.general_channel_id
    posted = await pg.mention_bot("help", conversation_id=general)
    help_message = (await pg.wait_for(lambda e: _from_bot(pg)(e) and bool(e.cards))).message
    assert help_message is not None
    result = await pg.execute(
        "greet",
        reply_to_id=help_message.message_id,
        conversation_id=posted.conversation_id,
        as_user="29:adam",
    )
    assert result.card["body"][0]["text"] == "Hello, Adam Approver"


async def test_custom_activity_acts_as_another_user(pg: PlaygroundClient, harness_bot: HarnessBot) -> None:
    rita = pg.config.user("Rita Requester")
    activity_id = await pg.send_activity_as("Rita Requester", text="whoami")
    reply = await pg.wait_for(_from_bot(pg))
    assert reply.text == f"whoami: Rita Requester {rita.aad_object_id}"
    (seen,) = [a for a in harness_bot.received if a.id == activity_id]
    assert seen.from_property.aad_object_id == rita.aad_object_id
    assert seen.channel_data["tenant"]["id"] == pg.config.tenant_id


async def test_custom_activity_in_a_channel_carries_team_and_channel(
    pg: PlaygroundClient, harness_bot: HarnessBot
) -> None:
    channel = pg.config.channel_id("Vendor approvals")
    activity_id = await pg.send_activity_as(
        "29:adam", text="approvals here", conversation_id=channel, mention_bot=True
    )
    await pg.wait_for(_from_bot(pg))
    (seen,) = [a for a in harness_bot.received if a.id == activity_id]
    assert seen.conversation.conversation_type == "channel"
    assert seen.channel_data["channel"]["id"] == channel
    assert seen.channel_data["team"]["id"] == pg.config.team.id
    assert (TurnContext.remove_recipient_mention(seen) or "").strip() == "approvals here"


async def test_events_held_while_nobody_listened_are_set_aside(
    playground: PlaygroundProcess, harness_bot: HarnessBot
) -> None:
    # Post through the HTTP API with no stream open, and let the bot finish answering before connecting.
    async with aiohttp.ClientSession() as session:
        url = f"{playground.url}/_conversation/v1/conversations/a:personal-chat-vendor-onboarding/messages"
        body = {"from": {"id": "29:alice"}, "text": "said while nobody listened", "textFormat": "plain"}
        async with session.post(url, json=body) as response:
            assert response.status == 200
    assert await asyncio.to_thread(harness_bot.wait_answered, "said while nobody listened", 10)
    async with PlaygroundClient(playground.url) as pg:
        assert "echo: said while nobody listened" in [e.text for e in pg.stale_events]
        assert "echo: said while nobody listened" not in [e.text for e in pg.events]


async def test_wait_for_times_out_listing_what_arrived(pg: PlaygroundClient) -> None:
    await pg.send_text("something else")
    await pg.wait_for(_from_bot(pg))
    with pytest.raises(TimeoutError, match="echo: something else"):
        await pg.wait_for(lambda e: e.text == "never sent", timeout=0.5)


def test_stop_leaves_no_process_and_keeps_the_logs(bot_endpoint: str) -> None:
    if reason := unavailable_reason():
        pytest.skip(reason)
    process = PlaygroundProcess(bot_endpoint, name="harness-lifecycle").start()
    pid = process.pid
    assert pid is not None
    process.stop()
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # the whole process group is gone
    assert "Listening on" in (process.artifacts / "stdout.log").read_text()
    assert (process.artifacts / "playground.log").is_file()


# --- through the real page ------------------------------------------------------------------------------


@pytest.mark.browser
@requires_chromium
def test_help_card_renders_in_the_playground_page(playground_page: PlaygroundPage) -> None:
    playground_page.send("help")
    card = playground_page.wait_for_card(HELP_TITLE)
    expect(card.get_by_role("button", name="Greet")).to_be_visible()
    shot = playground_page.screenshot("harness_help_card")
    assert shot.stat().st_size > 0
