"""Read card JSON the way a host does: every element, action, input and text, wherever it is nested."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

INPUT_TYPES = {"Input.Text", "Input.ChoiceSet", "Input.Date", "Input.Toggle", "Input.Number", "Input.Time"}


def objects(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in the card, depth first, in document order."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from objects(value)
    elif isinstance(node, list):
        for item in node:
            yield from objects(item)


def of_type(card: dict[str, Any], *types: str) -> list[dict[str, Any]]:
    """Objects whose ``type`` is one of ``types``."""
    return [obj for obj in objects(card) if obj.get("type") in types]


def executes(card: dict[str, Any]) -> list[dict[str, Any]]:
    """Every ``Action.Execute``: card actions, ActionSets, and the refresh action."""
    return of_type(card, "Action.Execute")


def buttons(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The clickable ``Action.Execute``s by title (the refresh action is not a button)."""
    refresh = card.get("refresh", {}).get("action")
    return {action["title"]: action for action in executes(card) if action is not refresh}


def inputs(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Inputs by id."""
    return {obj["id"]: obj for obj in objects(card) if obj.get("type") in INPUT_TYPES}


def text_runs(card: dict[str, Any]) -> list[str]:
    """The text of every TextRun (where untrusted text lives)."""
    return [obj["text"] for obj in of_type(card, "TextRun")]


def text_blocks(card: dict[str, Any]) -> list[str]:
    """The text of every TextBlock (markdown-processed: catalogue text only)."""
    return [obj["text"] for obj in of_type(card, "TextBlock")]


def rich_lines(card: dict[str, Any]) -> list[str]:
    """Each RichTextBlock's runs joined: one displayed line."""
    return ["".join(run["text"] for run in obj.get("inlines", [])) for obj in of_type(card, "RichTextBlock")]


def all_text(card: dict[str, Any]) -> str:
    """Everything a reader sees, one line per element (for "does it say X" checks)."""
    choice_titles = [choice["title"] for obj in of_type(card, "Input.ChoiceSet") for choice in obj["choices"]]
    labels = [obj["label"] for obj in objects(card) if obj.get("type") in INPUT_TYPES and "label" in obj]
    return "\n".join([*text_blocks(card), *rich_lines(card), *choice_titles, *labels])


def after(card: dict[str, Any], element_id: str) -> dict[str, Any]:
    """The element that directly follows the one with ``element_id`` in its container."""
    for obj in objects(card):
        for key in ("body", "items"):
            items = obj.get(key)
            if isinstance(items, list):
                for index, item in enumerate(items[:-1]):
                    if isinstance(item, dict) and item.get("id") == element_id:
                        return dict(items[index + 1])
    raise AssertionError(f"nothing follows {element_id!r}")
