"""Drive the real Agents Playground web page with Playwright and Debian's chromium.

Never ``playwright install``: the browser is the system's ``/usr/bin/chromium`` (``CHROMIUM`` moves it).
Tests that need it carry :data:`requires_chromium`, which skips them with a printed reason when it is
absent::

    pytestmark = [pytest.mark.browser, requires_chromium]

    def test_help(chromium_browser, playground):
        page = PlaygroundPage.open(chromium_browser, playground.url)
        page.send("help")
        expect(page.wait_for_card("Vendor Onboarding")).to_be_visible()
        page.screenshot("help")

Selectors (Playground 0.2.28, Fluent UI; only the ``fui-``/``fai-``/``ac-`` class names are stable):
composer ``div[role=textbox][data-lexical-editor=true]``, send button "Send Message" (a new channel
post: "Post"), bot bubbles ``.fai-OutputCard``, cards ``.ac-adaptiveCard``, card buttons by role and name.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, Playwright, Route, expect

from tests.support.playground import ARTIFACTS_DIR

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
#: Headless, and nothing that phones home or needs a GPU or a user namespace (containers, CI).
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
SCREENSHOTS_DIR = ARTIFACTS_DIR / "screenshots"
COMPOSER = "div[role=textbox][data-lexical-editor=true]"
BOT_BUBBLE = ".fai-OutputCard"
CARD = ".ac-adaptiveCard"
#: Page load and steps take 0.1-3 s on a 2-core machine; this is only the limit for a broken page.
TIMEOUT_MS = 15_000


def chromium_missing_reason() -> str | None:
    """Why browser tests cannot run here, or ``None`` when chromium is installed."""
    if not CHROMIUM.is_file():
        return (
            f"{CHROMIUM} is absent: install Debian's chromium (apt-get install chromium) to run browser tests"
        )
    return None


_MISSING = chromium_missing_reason()
#: Mark for tests that need chromium: skipped when it is absent, the reason printed in pytest's summary
#: (``-ra`` is in the project's pytest options).
requires_chromium = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")


def launch_chromium(playwright: Playwright) -> Browser:
    """Launch the system chromium headless through Playwright."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_ARGS))


def _only_loopback(route: Route) -> None:
    # The page references a few CDN assets (fonts); with no internet they would hang until a timeout.
    route.abort()


class PlaygroundPage:
    """The Playground's web page, opened on the personal chat with the bot."""

    def __init__(self, page: Page) -> None:
        self.page = page

    @classmethod
    def open(cls, browser: Browser, url: str) -> PlaygroundPage:
        """Open the Playground at ``url`` in a fresh browser context; returns once the composer is ready.

        Hides the log panel, which repeats message text and would make text locators ambiguous.
        """
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(TIMEOUT_MS)
        context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/]|localhost[:/])"), _only_loopback)
        page = context.new_page()
        page.goto(url)
        page.locator(COMPOSER).first.wait_for()
        page.get_by_role("button", name="Hide log panel").click()
        expect(page.get_by_role("button", name="Hide log panel")).to_have_count(0, timeout=TIMEOUT_MS)
        return cls(page)

    def send(self, text: str) -> None:
        """Type ``text`` into the composer and press "Send Message"."""
        self.page.locator(COMPOSER).first.click()
        self.page.keyboard.type(text)
        self.page.get_by_role("button", name="Send Message").first.click()

    def bot_messages(self) -> Locator:
        """Every message bubble the bot posted in the open conversation."""
        return self.page.locator(BOT_BUBBLE)

    def cards(self, containing: str | None = None) -> Locator:
        """The rendered Adaptive Cards, optionally only those showing ``containing``."""
        cards = self.page.locator(CARD)
        return cards.filter(has_text=containing) if containing else cards

    def wait_for_card(self, containing: str | None = None) -> Locator:
        """Wait until a rendered Adaptive Card (showing ``containing``) is visible; return the last one."""
        card = self.cards(containing).last
        expect(card).to_be_visible(timeout=TIMEOUT_MS)
        return card

    def screenshot(self, name: str) -> Path:
        """Save a full-page screenshot as ``test-artifacts/screenshots/<name>.png``; returns its path."""
        SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS_DIR / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        """Close the page's browser context."""
        self.page.context.close()
