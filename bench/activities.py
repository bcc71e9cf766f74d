"""Teams-shaped activities for the load generator, and reading the cards the bot answers with.

The activities look like what Teams sends in a personal chat: ``channelId`` ``msteams``, the tenant in
``channelData``, the sender with an ``aadObjectId``, and ``serviceUrl`` pointing at the recording
connector (so replies go there). A card click is an ``adaptiveCard/action`` invoke carrying an
``Action.Execute`` with the verb and ``data`` of a button found on a card the bot sent, which is what
Teams does with a click.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from settings import SANDBOX_TENANT_ID

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class Member:
    """A conversation member as Teams names it."""

    id: str
    name: str
    aad_object_id: str | None = None

    def to_json(self) -> JsonObject:
        account: JsonObject = {"id": self.id, "name": self.name}
        if self.aad_object_id:
            account["aadObjectId"] = self.aad_object_id
        return account


#: The sandbox's requester (Playground config and sandbox seed): in the requesters group.
ALICE = Member("29:alice", "Alice Requester", "a11ce000-0000-4000-8000-000000000001")
#: The sandbox's approvers (Adam is also a bot administrator).
ADAM = Member("29:adam", "Adam Approver", "adaa0000-0000-4000-8000-000000000003")
PAULA = Member("29:paula", "Paula Approver", "0a01a000-0000-4000-8000-000000000004")
BOT = Member("28:vendor-onboarding-bot", "Vendor Onboarding")


@dataclass(frozen=True)
class Channel:
    """A team channel (ids from the Playground configuration)."""

    id: str
    name: str
    team_id: str


APPROVALS = Channel(
    "19:vendor-approvals@thread.tacv2", "Vendor approvals", "19:it-admins-general@thread.tacv2"
)

_ids = itertools.count(1)


def _envelope(
    kind: str,
    conversation_id: str,
    *,
    service_url: str,
    sender: Member,
    tenant_id: str,
    channel: Channel | None = None,
) -> JsonObject:
    activity: JsonObject = {
        "type": kind,
        "id": f"bench-{next(_ids)}",
        "timestamp": datetime.now(UTC).isoformat(),
        "channelId": "msteams",
        "serviceUrl": service_url,
        "from": sender.to_json(),
        "recipient": BOT.to_json(),
        "conversation": {"id": conversation_id, "conversationType": "personal", "tenantId": tenant_id},
        "channelData": {"tenant": {"id": tenant_id}},
        "locale": "en-US",
    }
    if channel is not None:
        activity["conversation"].update(conversationType="channel", isGroup=True)
        activity["channelData"].update(
            channel={"id": channel.id, "name": channel.name}, team={"id": channel.team_id}
        )
    return activity


def message(
    conversation_id: str,
    text: str,
    *,
    service_url: str,
    sender: Member = ALICE,
    tenant_id: str = SANDBOX_TENANT_ID,
) -> JsonObject:
    """A typed message in a personal chat."""
    activity = _envelope(
        "message", conversation_id, service_url=service_url, sender=sender, tenant_id=tenant_id
    )
    activity.update(text=text, textFormat="plain")
    return activity


def channel_mention(text: str, channel: Channel, *, service_url: str, sender: Member) -> JsonObject:
    """A message in a channel that @mentions the bot (channel messages reach a bot only that way)."""
    activity = _envelope(
        "message",
        channel.id,
        service_url=service_url,
        sender=sender,
        tenant_id=SANDBOX_TENANT_ID,
        channel=channel,
    )
    mention = f"<at>{BOT.name}</at>"
    activity.update(
        text=f"{mention} {text}",
        textFormat="plain",
        entities=[{"type": "mention", "text": mention, "mentioned": BOT.to_json()}],
    )
    return activity


def card_click(
    conversation_id: str,
    verb: str,
    data: Mapping[str, Any],
    *,
    service_url: str,
    sender: Member = ALICE,
    tenant_id: str = SANDBOX_TENANT_ID,
    channel: Channel | None = None,
    reply_to_id: str | None = None,
) -> JsonObject:
    """An ``Action.Execute`` click (Universal Actions invoke) with the button's verb and data."""
    activity = _envelope(
        "invoke",
        conversation_id,
        service_url=service_url,
        sender=sender,
        tenant_id=tenant_id,
        channel=channel,
    )
    if reply_to_id:
        activity["replyToId"] = reply_to_id
    activity.update(
        name="adaptiveCard/action",
        value={"action": {"type": "Action.Execute", "verb": verb, "data": dict(data)}, "trigger": "manual"},
    )
    return activity


def cards_of(activity: Mapping[str, Any]) -> list[JsonObject]:
    """The Adaptive Cards attached to an activity the bot sent."""
    attachments = activity.get("attachments") or []
    return [
        a["content"]
        for a in attachments
        if isinstance(a, dict)
        and a.get("contentType") == ADAPTIVE_CARD
        and isinstance(a.get("content"), dict)
    ]


def card_of_invoke_response(body: object) -> JsonObject | None:
    """The card an ``adaptiveCard/action`` invoke response carries (None for an error or a message)."""
    if not isinstance(body, dict) or body.get("type") != ADAPTIVE_CARD:
        return None
    value = body.get("value")
    return value if isinstance(value, dict) else None


def _walk(node: object) -> Iterator[JsonObject]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def execute_data(card: Mapping[str, Any], verb: str) -> JsonObject | None:
    """The ``data`` of the first ``Action.Execute`` with ``verb`` anywhere on ``card`` (None if absent)."""
    for node in _walk(dict(card)):
        if node.get("type") == "Action.Execute" and node.get("verb") == verb:
            data = node.get("data")
            return dict(data) if isinstance(data, dict) else {}
    return None


def input_values(card: Mapping[str, Any]) -> dict[str, str]:
    """The values a card's inputs show (prefilled), which Teams sends along with any click on the card."""
    values: dict[str, str] = {}
    for node in _walk(dict(card)):
        kind = node.get("type")
        if (
            isinstance(kind, str)
            and kind.startswith("Input.")
            and "id" in node
            and node.get("value") is not None
        ):
            values[str(node["id"])] = str(node["value"])
    return values


def click_data(
    card: Mapping[str, Any], verb: str, inputs: Mapping[str, str] | None = None
) -> JsonObject | None:
    """What Teams sends for a click on ``verb``: the input values, the button's data, what was typed."""
    data = execute_data(card, verb)
    if data is None:
        return None
    return input_values(card) | data | dict(inputs or {})
