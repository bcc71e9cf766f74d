"""A new user's onboarding, in the real Playground page (chromium): type, click, read what the card says.

Alice types `onboard`, fills the contractor step with the keyboard, makes a mistake and sees it inline,
goes through Access, Information barriers and Review, and submits. Screenshots of every step are kept
under test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, expect

from tests.support.browser import PlaygroundPage, requires_chromium
from tests.support.product import ProductStack

pytestmark = [pytest.mark.e2e, requires_chromium]


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, module_database_url: str | None
) -> Iterator[ProductStack]:
    with ProductStack(
        Path(tmp_path_factory.mktemp("onboarding-ui")), database_url=module_database_url
    ) as product:
        yield product


@pytest.fixture(scope="module")
def bot_endpoint(stack: ProductStack) -> str:
    return stack.bot_endpoint


def _button(card: Locator, name: str) -> Locator:
    return card.get_by_role("button", name=re.compile(name))


def _choose(page: PlaygroundPage, card: Locator, label: str, option: str) -> None:
    """Pick from a compact ChoiceSet: Teams renders it as a combobox with a pop-up list of options."""
    card.get_by_role("combobox", name=re.compile(label)).click()
    page.page.get_by_role("option", name=option, exact=True).click()


def test_a_requester_fills_the_wizard_and_submits(
    playground_page: PlaygroundPage, stack: ProductStack
) -> None:
    page = playground_page
    page.send("onboard")
    card = page.wait_for_card("Vendor company")
    card.get_by_label("Vendor company").fill("Fabrikam Robotics")
    card.get_by_label("First name").fill("Zoë")
    card.get_by_label("Last name").fill("Ng")
    card.get_by_label("Contractor's own email").fill("zoe.ng@fabrikam")  # a typo: no top-level domain
    _choose(page, card, "Usage location", "Germany")
    _button(card, "Next").click()
    card = page.wait_for_card("valid internet domain")
    page.screenshot("onboarding-ui-1-inline-error")
    expect(card.get_by_label("Vendor company")).to_have_value("Fabrikam Robotics")

    card.get_by_label("Contractor's own email").fill("zoe.ng@fabrikam.example")
    _button(card, "Next").click()
    card = page.wait_for_card("Access ends on")
    page.screenshot("onboarding-ui-2-access")
    _button(card, "Next").click()

    card = page.wait_for_card("find and contact everyone")
    card.get_by_role("radio", name="Yes: no information barrier").check()
    page.screenshot("onboarding-ui-3-barriers")
    _button(card, "Next").click()

    card = page.wait_for_card("Submit for approval")
    review = card.inner_text()
    page.screenshot("onboarding-ui-4-review")
    assert "sa-fabrikam" in review
    assert "zoe.ng@abc.com" in review
    assert "Germany" in review or "DE" in review
    _button(card, "Submit for approval").click()

    card = page.wait_for_card("VND-")
    page.screenshot("onboarding-ui-5-submitted")
    assert "waiting" in card.inner_text().lower() or "approval" in card.inner_text().lower()
    # Nothing is created before approval.
    assert not [u for u in stack.sandbox.tenant.users.values() if u.get("employeeType") == "Vendor"]
