"""The baseline: a stock botbuilder-python echo bot, built the way Microsoft's samples build one.

Same pieces and the same defaults as the BotBuilder-Samples Python echo bot: a ``DefaultConfig`` read
from ``MicrosoftApp*`` environment variables with an empty app id as the local default (which turns
authentication off, as in our sandbox mode), ``ConfigurationBotFrameworkAuthentication`` with its default
credentials factory, ``CloudAdapter``, the samples' ``on_turn_error``, ``aiohttp_error_middleware``, and
an ``ActivityHandler`` that echoes. None of our fixes (msrest retry policy, cached credentials) apply.
The only departure is structural: the objects are built in :func:`create_stock_echo_app` instead of at
import time, which changes nothing per turn.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime

from aiohttp import web
from botbuilder.core import ActivityHandler, MessageFactory, TurnContext
from botbuilder.core.integration import aiohttp_error_middleware
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount


class DefaultConfig:
    """The samples' configuration object (upper-case attributes, read by botbuilder with ``getattr``)."""

    # The samples' own variable names, read as the samples read them.
    PORT = 3978
    APP_ID = os.environ.get("MicrosoftAppId", "")  # noqa: SIM112
    APP_PASSWORD = os.environ.get("MicrosoftAppPassword", "")  # noqa: SIM112
    APP_TYPE = os.environ.get("MicrosoftAppType", "MultiTenant")  # noqa: SIM112
    APP_TENANTID = os.environ.get("MicrosoftAppTenantId", "")  # noqa: SIM112


class EchoBot(ActivityHandler):  # type: ignore[misc]  # botbuilder is untyped
    """Greets new members and echoes every message."""

    async def on_members_added_activity(
        self, members_added: list[ChannelAccount], turn_context: TurnContext
    ) -> None:
        for member in members_added:
            if member.id != turn_context.activity.recipient.id:
                await turn_context.send_activity("Hello and welcome!")

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        await turn_context.send_activity(MessageFactory.text(f"Echo: {turn_context.activity.text}"))


async def _on_error(context: TurnContext, error: Exception) -> None:
    # The samples' handler: report on stderr, tell the user, and send a trace to the Emulator.
    print(f"\n [on_turn_error] unhandled error: {error}", file=sys.stderr)
    await context.send_activity("The bot encountered an error or bug.")
    await context.send_activity("To continue to run this bot, please fix the bot source code.")
    if context.activity.channel_id == "emulator":
        await context.send_activity(
            Activity(
                label="TurnError",
                name="on_turn_error Trace",
                timestamp=datetime.now(UTC),
                type=ActivityTypes.trace,
                value=f"{error}",
                value_type="https://www.botframework.com/schemas/error",
            )
        )


def create_stock_echo_app() -> web.Application:
    """The samples' echo bot application: ``POST /api/messages``."""
    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(DefaultConfig()))
    adapter.on_turn_error = _on_error
    bot = EchoBot()

    async def messages(request: web.Request) -> web.Response:
        response: web.Response = await adapter.process(request, bot)
        return response

    app = web.Application(middlewares=[aiohttp_error_middleware])
    app.router.add_post("/api/messages", messages)
    return app
