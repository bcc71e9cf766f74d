"""Whole user flows through the bot's HTTP surface, for benchmarks that need requests to exist.

What people do in Teams, as activities: an administrator binds the approvals channel; a requester runs
the onboarding wizard to the end and submits; the approval card appears in the channel. Each click
sends what Teams sends: the card's input values, the button's data and what was typed.
"""

from __future__ import annotations

import asyncio
import string
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.activities import (
    ADAM,
    ALICE,
    APPROVALS,
    Channel,
    JsonObject,
    Member,
    card_click,
    card_of_invoke_response,
    cards_of,
    channel_mention,
    click_data,
    execute_data,
    message,
)
from bench.loadgen import SETUP, BotClient, ScenarioFailed

#: The license profile the sandbox's configuration offers for Remote Assist technicians.
LICENSE_PROFILE = "remote-assist-technician"


def name_suffix(number: int) -> str:
    """Letters that differ per ``number`` (``a``, ``b``, ... ``ba``): names may hold letters only."""
    letters = string.ascii_lowercase
    suffix = ""
    while True:
        suffix = letters[number % 26] + suffix
        number //= 26
        if number == 0:
            return suffix


def contractor_inputs(number: int) -> dict[str, str]:
    """Contractor details whose names differ per ``number`` (so every planned account name is new)."""
    suffix = name_suffix(number)
    return {
        "vendorCompany": "Contoso",
        "firstName": "Bob",
        "lastName": f"Builder{suffix}",
        "contractorEmail": f"bob.{suffix}@contoso1.com",
        "usageLocation": "US",
    }


async def click(
    client: BotClient,
    conversation_id: str,
    card: Mapping[str, Any],
    verb: str,
    inputs: Mapping[str, str] | None = None,
    *,
    sender: Member = ALICE,
    channel: Channel | None = None,
    reply_to_id: str | None = None,
    tag: str = SETUP,
) -> JsonObject:
    """Click ``verb`` on ``card``; the card the bot answers with (ScenarioFailed if there is none)."""
    data = click_data(card, verb, inputs)
    if data is None:
        raise ScenarioFailed(f"no {verb} button on the card")
    activity = card_click(
        conversation_id,
        verb,
        data,
        service_url=client.target.service_url,
        sender=sender,
        channel=channel,
        reply_to_id=reply_to_id,
    )
    status, body = await client.post(activity, tag=tag)
    answered = card_of_invoke_response(body)
    if status != 200 or answered is None:
        raise ScenarioFailed(f"{verb} answered {status} without a card: {str(body)[:300]}")
    return answered


async def bind_approvals_channel(
    client: BotClient, *, by: Member = ADAM, channel: Channel = APPROVALS
) -> None:
    """An administrator types ``@bot approvals here`` in the channel."""
    activity = channel_mention("approvals here", channel, service_url=client.target.service_url, sender=by)
    status, _ = await client.post(activity, tag=SETUP)
    if status not in (200, 201):
        raise ScenarioFailed(f"approvals here answered {status}")


@dataclass(frozen=True)
class PendingApproval:
    """A submitted request and its approval card as posted in the channel."""

    request_id: str
    card: JsonObject
    message_id: str


async def submit_request(client: BotClient, conversation_id: str, inputs: Mapping[str, str]) -> None:
    """Alice runs the wizard in ``conversation_id``: contractor, access, barriers, review, submit."""
    started = message(conversation_id, "onboard", service_url=client.target.service_url)
    status, _ = await client.post(started, tag=SETUP)
    sent = await client.last_sent(conversation_id)
    cards = cards_of(sent or {})
    if status not in (200, 201) or not cards:
        raise ScenarioFailed(f"onboard answered {status} and posted {len(cards)} cards")
    card = await click(client, conversation_id, cards[0], "wizard.next", inputs)
    card = await click(client, conversation_id, card, "wizard.next", {"licenseProfile": LICENSE_PROFILE})
    card = await click(client, conversation_id, card, "wizard.next", {"reachEveryone": "yes"})
    card = await click(client, conversation_id, card, "wizard.submit")
    if execute_data(card, "wizard.submit") is not None:
        raise ScenarioFailed(f"submit was refused: {str(card)[:400]}")


async def approval_posted(
    client: BotClient, known: set[str], *, channel: Channel = APPROVALS, within: float = 15.0
) -> PendingApproval:
    """Wait for an approval card in the channel whose request is not in ``known``."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        sent = await client.last_sent(channel.id)
        for card in cards_of(sent or {}):
            data = execute_data(card, "approval.approve")
            request_id = str((data or {}).get("requestId", ""))
            if request_id and request_id not in known:
                assert sent is not None
                return PendingApproval(request_id, card, str(sent.get("id", "")))
        await asyncio.sleep(0.02)
    raise ScenarioFailed(f"no new approval card in {channel.name} within {within:.0f} s")
