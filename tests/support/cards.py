"""Reading and clicking Adaptive Cards the way Teams does, for the end-to-end tests.

Teams sends a card's input values along with every ``Action.Execute`` click, merged into the button's
data; :func:`click` does the same through the Playground, so a test exercises what a person's click sends.
"""

from __future__ import annotations

from typing import Any

from tests.support.playground import PlaygroundClient, PlaygroundEvent

#: The channel the approvals are bound to in the Playground config.
CHANNEL = "Vendor approvals"


def actions(card: Any) -> list[dict[str, Any]]:
    """Every Action.Execute in a card, wherever it sits (actions, action sets, refresh)."""
    found: list[dict[str, Any]] = []
    if isinstance(card, dict):
        if card.get("type") == "Action.Execute":
            found.append(card)
        for value in card.values():
            found += actions(value)
    elif isinstance(card, list):
        for item in card:
            found += actions(item)
    return found


def action(card: dict[str, Any], verb: str, **data: Any) -> dict[str, Any]:
    """The button with ``verb`` (not the refresh action) whose data holds ``data``."""
    refresh = card.get("refresh", {}).get("action")
    matching = [
        a
        for a in actions(card)
        if a.get("verb") == verb
        and a is not refresh
        and all((a.get("data") or {}).get(k) == v for k, v in data.items())
    ]
    assert matching, (
        f"no {verb} {data} button; buttons: {[(a.get('verb'), a.get('data')) for a in actions(card)]}"
    )
    return matching[0]


def input_values(card: Any) -> dict[str, str]:
    """The values of the card's inputs as shown (prefilled), which Teams sends along with a click."""
    found: dict[str, str] = {}
    if isinstance(card, dict):
        if str(card.get("type", "")).startswith("Input.") and "id" in card and card.get("value") is not None:
            found[card["id"]] = str(card["value"])
        for value in card.values():
            found |= input_values(value)
    elif isinstance(card, list):
        for item in card:
            found |= input_values(item)
    return found


def texts(card: Any) -> list[str]:
    """Every text on the card in reading order (TextBlock texts and TextRun texts)."""
    found: list[str] = []
    if isinstance(card, dict):
        if card.get("type") in ("TextBlock", "TextRun") and isinstance(card.get("text"), str):
            found.append(card["text"])
        for value in card.values():
            found += texts(value)
    elif isinstance(card, list):
        for item in card:
            found += texts(item)
    return found


def text_of(card: dict[str, Any]) -> str:
    """The whole card as text, for "does it mention X" checks (verbs and data included)."""
    return str(card)


def message_id(event: PlaygroundEvent) -> str:
    assert event.message is not None
    return event.message.message_id


async def click(
    pg: PlaygroundClient,
    card: dict[str, Any],
    verb: str,
    *,
    message_id: str,
    inputs: dict[str, str] | None = None,
    conversation_id: str | None = None,
    as_user: str | None = None,
    **data: Any,
) -> dict[str, Any]:
    """Click the button ``verb`` (the one whose data holds ``data``) with the card's inputs, as Teams does."""
    sent = input_values(card) | dict(action(card, verb, **data).get("data") or {}) | (inputs or {})
    result = await pg.execute(
        verb, sent, reply_to_id=message_id, conversation_id=conversation_id, as_user=as_user
    )
    return result.card


async def wait_card(pg: PlaygroundClient, predicate: Any, timeout: float = 20) -> PlaygroundEvent:  # noqa: ASYNC109
    """The next event carrying a card for which ``predicate(event)`` holds."""
    return await pg.wait_for(lambda e: bool(e.cards) and predicate(e), timeout=timeout)


def password_on(card: Any) -> str | None:
    """The password on a revealed-password card: its one bold monospace run."""
    if isinstance(card, dict):
        if (
            card.get("type") == "TextRun"
            and card.get("weight") == "Bolder"
            and card.get("fontType") == "Monospace"
        ):
            return str(card["text"])
        values: list[Any] = list(card.values())
    elif isinstance(card, list):
        values = card
    else:
        return None
    for value in values:
        found = password_on(value)
        if found:
            return found
    return None
