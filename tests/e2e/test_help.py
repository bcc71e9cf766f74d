"""`help` in the real Agents Playground, against the real bot in sandbox mode.

Through the Playground's HTTP API (fast, exact) and through its web page in chromium (what a person
sees: the card rendered by the real Adaptive Cards renderer; a screenshot is kept).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser import PlaygroundPage, requires_chromium
from tests.support.playground import PlaygroundClient
from tests.support.product import ProductStack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, module_database_url: str | None
) -> Iterator[ProductStack]:
    with ProductStack(Path(tmp_path_factory.mktemp("help-e2e")), database_url=module_database_url) as product:
        yield product


@pytest.fixture(scope="module")
def bot_endpoint(stack: ProductStack) -> str:
    return stack.bot_endpoint


def _text_of(card: dict[str, object]) -> str:
    return str(card)


async def test_help_answers_with_the_command_card(pg: PlaygroundClient) -> None:
    await pg.send_text("help")
    event = await pg.wait_for(lambda e: e.is_new_message and bool(e.cards), timeout=15)
    card = event.cards[0]
    assert card["type"] == "AdaptiveCard"
    for command in ("onboard", "requests", "accounts", "licenses", "barriers"):
        assert command in _text_of(card)


async def test_unknown_text_gets_help_not_an_error(pg: PlaygroundClient) -> None:
    await pg.send_text("what can you do?")
    event = await pg.wait_for(lambda e: e.is_new_message and bool(e.cards), timeout=15)
    assert "what can you do?" in _text_of(event.cards[0])
    assert "onboard" in _text_of(event.cards[0])


async def test_a_person_without_a_role_cannot_bind_the_channel(pg: PlaygroundClient) -> None:
    channel = pg.config.channel_id("Vendor approvals")
    mark = pg.mark()
    await pg.send_activity_as("29:nora", text="approvals here", conversation_id=channel, mention_bot=True)
    event = await pg.wait_for(lambda e: e.is_new_message and bool(e.cards), timeout=15, since=mark)
    assert "bot administrators" in _text_of(event.cards[0])


async def test_an_administrator_binds_the_approvals_channel(pg: PlaygroundClient) -> None:
    channel = pg.config.channel_id("Vendor approvals")
    mark = pg.mark()
    await pg.send_activity_as("29:adam", text="approvals here", conversation_id=channel, mention_bot=True)
    event = await pg.wait_for(lambda e: e.is_new_message and bool(e.cards), timeout=15, since=mark)
    assert "approval" in _text_of(event.cards[0]).lower()


@requires_chromium
def test_help_card_renders_in_the_playground_page(playground_page: PlaygroundPage) -> None:
    playground_page.send("help")
    card = playground_page.wait_for_card("barriers")
    assert card.is_visible()
    assert "onboard" in card.inner_text()
