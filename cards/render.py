"""Serialise typed cards to the JSON Teams expects, and the constants that pin the format."""

from __future__ import annotations

from typing import Any

from microsoft_teams.cards import AdaptiveCard

#: Teams renders Adaptive Cards up to 1.5; Universal Actions (``Action.Execute``, ``refresh``) need 1.5.
CARD_VERSION = "1.5"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"

#: A card as sent to Teams: the attachment's ``content`` or an invoke response's ``value``.
CardContent = dict[str, Any]


def to_attachment_content(card: AdaptiveCard) -> CardContent:
    """Return ``card`` as the JSON object Teams renders (``type``, ``$schema``, ``version`` 1.5, ...)."""
    dumped = card.model_dump(mode="json", by_alias=True, exclude_none=True)
    # The SDK names the schema field `schema`; the Adaptive Card format calls it `$schema`.
    schema = dumped.pop("schema", None)
    content: CardContent = {"type": "AdaptiveCard", "$schema": schema or CARD_SCHEMA}
    content.update(dumped)
    content["version"] = CARD_VERSION
    tidied = _tidy(content)
    assert isinstance(tidied, dict)
    return tidied


def to_attachment(content: CardContent) -> dict[str, Any]:
    """Wrap card JSON as a Bot Framework attachment dict (``contentType`` + ``content``)."""
    return {"contentType": CARD_CONTENT_TYPE, "content": content}


def _tidy(value: Any) -> Any:
    # The SDK types sizes as floats (`maxLength: 64.0`); whole numbers go out as integers.
    if isinstance(value, dict):
        return {key: _tidy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_tidy(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
