"""The invoke response body: the same JSON as botbuilder's ``AdaptiveCardInvokeResponse``, through the
serializer ``CloudAdapter`` uses, a ``TurnContext`` deep copy and a real ``CloudAdapter`` on loopback."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from http import HTTPStatus
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import ClientSession, web
from botbuilder.core import InvokeResponse, TurnContext
from botbuilder.core.serializer_helper import serializer_helper
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity, ActivityTypes, AdaptiveCardInvokeResponse

from bot.handler import (
    ADAPTIVE_CARD,
    ERROR_TYPE,
    InvokeResponseBody,
    card_invoke_response,
    error_invoke_response,
)
from tests.cards.samples import build_all

SAMPLE_CARDS = build_all()


def _as_sent(body: Any) -> str:
    """What CloudAdapter puts on the wire for an invoke response body (its own serializer, then JSON)."""
    return json.dumps(serializer_helper(body), sort_keys=True)


def _stock_card_body(card: dict[str, Any]) -> AdaptiveCardInvokeResponse:
    return AdaptiveCardInvokeResponse(status_code=HTTPStatus.OK, type=ADAPTIVE_CARD, value=card)


@pytest.mark.parametrize("name", sorted(SAMPLE_CARDS))
def test_a_card_response_sends_the_json_of_the_stock_model(name: str) -> None:
    card = SAMPLE_CARDS[name]

    response = card_invoke_response(card)

    assert response.status == HTTPStatus.OK
    assert _as_sent(response.body) == _as_sent(_stock_card_body(card))


def test_an_error_response_sends_the_json_of_the_stock_model() -> None:
    response = error_invoke_response(HTTPStatus.BAD_REQUEST, "BadPayload", "This card action is malformed.")

    stock = AdaptiveCardInvokeResponse(
        status_code=HTTPStatus.BAD_REQUEST,
        type=ERROR_TYPE,
        value={"code": "BadPayload", "message": "This card action is malformed."},
    )
    assert response.status == HTTPStatus.BAD_REQUEST
    assert _as_sent(response.body) == _as_sent(stock)


def test_the_status_code_is_a_plain_int_in_the_body() -> None:
    body = InvokeResponseBody(status_code=HTTPStatus.OK, content_type=ADAPTIVE_CARD, value={})

    assert type(body.json["statusCode"]) is int


def test_a_deep_copied_response_activity_sends_the_same_json() -> None:
    card = SAMPLE_CARDS[sorted(SAMPLE_CARDS)[0]]
    activity = Activity(type=ActivityTypes.invoke_response, value=card_invoke_response(card))

    copied = copy.deepcopy(activity)

    assert _as_sent(copied.value.body) == _as_sent(_stock_card_body(card))


class _AnswersWithACard:
    """A bot whose every invoke is answered with ``card`` through :func:`card_invoke_response`."""

    def __init__(self, card: dict[str, Any]) -> None:
        self.card = card

    async def on_turn(self, turn_context: TurnContext) -> None:
        response: InvokeResponse = card_invoke_response(self.card)
        await turn_context.send_activity(Activity(type=ActivityTypes.invoke_response, value=response))


@pytest.fixture
async def adapter_origin() -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """A stock CloudAdapter (authentication off: empty app id) on a free loopback port."""
    card = SAMPLE_CARDS[sorted(SAMPLE_CARDS)[-1]]
    adapter = CloudAdapter(
        ConfigurationBotFrameworkAuthentication(SimpleNamespace(APP_ID="", APP_PASSWORD=""))
    )
    bot = _AnswersWithACard(card)

    async def messages(request: web.Request) -> web.StreamResponse:
        response: web.StreamResponse = await adapter.process(request, bot)
        return response

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", card
    finally:
        await runner.cleanup()


async def test_cloud_adapter_answers_an_invoke_with_the_stock_json(
    adapter_origin: tuple[str, dict[str, Any]],
) -> None:
    origin, card = adapter_origin
    invoke = {
        "type": "invoke",
        "name": "adaptiveCard/action",
        "id": "invoke-1",
        "channelId": "msteams",
        "serviceUrl": "http://127.0.0.1:9/",
        "from": {"id": "29:alice", "aadObjectId": "a1"},
        "recipient": {"id": "28:bot"},
        "conversation": {"id": "a:chat", "conversationType": "personal"},
        "value": {"action": {"type": "Action.Execute", "verb": "x", "data": {}}},
    }

    async with ClientSession() as session, session.post(f"{origin}/api/messages", json=invoke) as answer:
        status = answer.status
        sent = await answer.json()

    assert status == HTTPStatus.OK
    assert json.dumps(sent, sort_keys=True) == _as_sent(_stock_card_body(card))
