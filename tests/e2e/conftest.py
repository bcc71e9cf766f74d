"""Fixtures for tests that run the bot against the real Agents Playground (and optionally a browser).

A test module provides the bot, as a module-scoped ``bot_endpoint`` fixture returning its
``/api/messages`` URL (see :class:`tests.support.playground.AppThread`); these fixtures do the rest:

* ``playground``: a :class:`PlaygroundProcess` for the module, logs under ``test-artifacts/playground/``;
* ``pg``: a connected :class:`PlaygroundClient` per test;
* ``chromium_browser`` / ``playground_page``: the real page in Debian's chromium, a screenshot kept per test.

The Playground's state is shared by everything that talks to it: keep these tests serial.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.support.browser import PlaygroundPage, chromium_missing_reason, launch_chromium
from tests.support.playground import PlaygroundClient, PlaygroundProcess, unavailable_reason


@pytest.fixture(scope="module")
def playground(request: pytest.FixtureRequest, bot_endpoint: str) -> Iterator[PlaygroundProcess]:
    """The Agents Playground pointed at the module's bot; skipped with a reason if it cannot run."""
    reason = unavailable_reason()
    if reason:
        print(f"skipping Playground tests: {reason}")
        pytest.skip(reason)
    with PlaygroundProcess(bot_endpoint, name=request.module.__name__.rsplit(".", 1)[-1]) as process:
        yield process


@pytest.fixture
async def pg(playground: PlaygroundProcess) -> AsyncIterator[PlaygroundClient]:
    """A client connected to the module's Playground (event stream open before the test acts)."""
    async with PlaygroundClient(playground.url) as client:
        yield client


@pytest.fixture
def chromium_browser() -> Iterator[Browser]:
    """Debian's chromium through Playwright, per test (the sync API cannot outlive an async test's loop)."""
    reason = chromium_missing_reason()
    if reason:
        print(f"skipping browser test: {reason}")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def playground_page(
    request: pytest.FixtureRequest, chromium_browser: Browser, playground: PlaygroundProcess
) -> Iterator[PlaygroundPage]:
    """The Playground page on the personal chat; a screenshot of its final state is kept."""
    page = PlaygroundPage.open(chromium_browser, playground.url)
    try:
        yield page
    finally:
        page.screenshot(request.node.name)
        page.close()
