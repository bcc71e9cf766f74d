"""Information barriers end to end, in the real Agents Playground (issue 5, item 4).

Alice onboards contractors into the example catalog's vendor segments ("Vendor - Contoso" is placed by
ExtensionAttribute1, "Vendor - Fabrikam" by membership of a group); Adam approves. The sandbox tenant then
holds accounts that carry the segment's attribute or group and both the Remote Assist and an IB-capable
license, while a contractor onboarded without barriers gets neither. With no IB-capable seat free, the
wizard says so on the barriers step and nothing is created. An administrator records on the approval card
that policy application started, and the card shows it with its time.

The tests share one product stack and one Playground (module scope) and run in file order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sandbox.seed import REMOTE_ASSIST_SKU_ID, SEGMENT_GROUP_IDS, SPE_E5_SKU_ID
from tests.support.cards import click, message_id, texts, wait_card
from tests.support.playground import PlaygroundClient
from tests.support.product import ProductStack

pytestmark = pytest.mark.e2e

CHANNEL = "Vendor approvals"
IB_CAPABLE = ("SPE_E5", "ENTERPRISEPREMIUM", "INFORMATION_PROTECTION_COMPLIANCE")
FABRIKAM_GROUP_ID = SEGMENT_GROUP_IDS["IB Vendor - Fabrikam"]
#: "30 Jun 2026, 14:05 UTC", as every card writes a moment.
MOMENT = re.compile(r"\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} UTC")


def contractor(first: str, last: str, vendor: str) -> dict[str, str]:
    """Step 1's inputs for one contractor."""
    return {
        "vendorCompany": vendor,
        "firstName": first,
        "lastName": last,
        "contractorEmail": f"{first.lower()}@{vendor.split()[0].lower()}.example",
        "usageLocation": "US",
    }


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, module_database_url: str | None
) -> Iterator[ProductStack]:
    with ProductStack(
        Path(tmp_path_factory.mktemp("barriers-e2e")), database_url=module_database_url
    ) as product:
        yield product


@pytest.fixture(scope="module")
def bot_endpoint(stack: ProductStack) -> str:
    return stack.bot_endpoint


# ------------------------------------------------------------------------------------------ card helpers


# ------------------------------------------------------------------------------------------ the flow


async def bind_channel(pg: PlaygroundClient) -> str:
    channel = pg.config.channel_id(CHANNEL)
    await pg.send_activity_as("29:adam", text="approvals here", conversation_id=channel, mention_bot=True)
    await wait_card(pg, lambda e: "approval" in str(e.cards[0]).lower())
    pg.mark()
    return channel


async def wizard_to_barriers(pg: PlaygroundClient, person: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """Alice runs steps 1 and 2; returns the wizard's message id and the barriers step card."""
    await pg.send_text("onboard")
    started = await wait_card(pg, lambda e: e.is_new_message and "wizard.next" in str(e.cards[0]))
    wizard = message_id(started)
    card = await click(pg, started.cards[0], "wizard.next", message_id=wizard, inputs=person)
    card = await click(
        pg, card, "wizard.next", message_id=wizard, inputs={"licenseProfile": "remote-assist-technician"}
    )
    assert "Should this contractor" in " ".join(texts(card)) or "reachEveryone" in str(card)
    return wizard, card


async def onboard(
    pg: PlaygroundClient, channel: str, person: dict[str, str], segment: str | None
) -> tuple[str, dict[str, Any], str]:
    """Alice submits; Adam approves; returns (review text, the provisioned approval card, its message id)."""
    wizard, card = await wizard_to_barriers(pg, person)
    barriers = {"reachEveryone": "yes"} if segment is None else {"reachEveryone": "no", "segment": segment}
    card = await click(pg, card, "wizard.next", message_id=wizard, inputs=barriers)
    review = " ".join(texts(card))
    assert "wizard.submit" in str(card), f"the review did not come: {review}"
    pg.mark()
    await click(pg, card, "wizard.submit", message_id=wizard)
    posted = await wait_card(
        pg,
        lambda e: (
            e.is_new_message
            and e.conversation_id.startswith(channel)
            and "approval.approve" in str(e.cards[0])
        ),
    )
    approval_message = message_id(posted)
    thread = f"{posted.conversation_id};messageid={approval_message}"
    await click(
        pg,
        posted.cards[0],
        "approval.approve",
        message_id=approval_message,
        conversation_id=thread,
        as_user="29:adam",
    )
    done = await wait_card(
        pg,
        lambda e: (
            e.is_update
            and "Provisioned" in " ".join(texts(e.cards[0]))
            and person["lastName"] in str(e.cards[0])
        ),
        timeout=60,
    )
    return review, done.cards[0], approval_message


def vendor_account(stack: ProductStack, last_name: str) -> dict[str, Any]:
    """The one vendor account created for the contractor with ``last_name``."""
    found = [
        u
        for u in stack.sandbox.tenant.users.values()
        if u.get("employeeType") == "Vendor" and u.get("surname") == last_name
    ]
    assert len(found) == 1, f"expected one account for {last_name}, found {len(found)}"
    return found[0]


def license_ids(account: dict[str, Any]) -> set[str]:
    return {lic["skuId"].lower() for lic in account["assignedLicenses"]}


def ib_capable_ids(stack: ProductStack) -> set[str]:
    tenant = stack.sandbox.tenant
    return {tenant.sku_by_part_number(part)["skuId"].lower() for part in IB_CAPABLE}


# ------------------------------------------------------------------------------------------ tests


async def test_attribute_segment_places_and_licenses_the_account(
    pg: PlaygroundClient, stack: ProductStack
) -> None:
    channel = await bind_channel(pg)
    review, approval, _ = await onboard(
        pg, channel, contractor("Bob", "Attribute", "Contoso Field Services"), "Vendor - Contoso"
    )
    assert "Vendor - Contoso" in review
    assert "extensionAttribute1" in review or "ExtensionAttribute1" in review

    account = vendor_account(stack, "Attribute")
    assert account["onPremisesExtensionAttributes"]["extensionAttribute1"] == "Vendor-Contoso"
    # The first IB-capable license of the preference list with a free seat: Microsoft 365 E5.
    assert license_ids(account) == {REMOTE_ASSIST_SKU_ID, SPE_E5_SKU_ID}
    assert "Vendor - Contoso" in " ".join(texts(approval))


async def test_group_segment_adds_the_account_to_the_group(pg: PlaygroundClient, stack: ProductStack) -> None:
    channel = await bind_channel(pg)
    review, approval, _ = await onboard(
        pg, channel, contractor("Fay", "Member", "Fabrikam Inspections"), "Vendor - Fabrikam"
    )
    assert "Vendor - Fabrikam" in review

    account = vendor_account(stack, "Member")
    assert account["id"] in stack.sandbox.tenant.members.get(FABRIKAM_GROUP_ID, set())
    assert REMOTE_ASSIST_SKU_ID in license_ids(account)
    assert license_ids(account) & ib_capable_ids(stack), "no IB-capable license on the account"
    assert "Vendor - Fabrikam" in " ".join(texts(approval))


async def test_without_barriers_no_segment_and_no_ib_license(
    pg: PlaygroundClient, stack: ProductStack
) -> None:
    channel = await bind_channel(pg)
    await onboard(pg, channel, contractor("Eve", "Everyone", "Contoso Field Services"), None)

    account = vendor_account(stack, "Everyone")
    assert license_ids(account) == {REMOTE_ASSIST_SKU_ID}
    assert not (account.get("onPremisesExtensionAttributes") or {}).get("extensionAttribute1")
    segment_groups = set(SEGMENT_GROUP_IDS.values())
    assert not {g for g in segment_groups if account["id"] in stack.sandbox.tenant.members.get(g, set())}


async def test_accounts_lists_the_segment(pg: PlaygroundClient, stack: ProductStack) -> None:
    upn = vendor_account(stack, "Attribute")["userPrincipalName"]
    pg.mark()
    await pg.send_text("accounts")
    listed = await wait_card(pg, lambda e: e.is_new_message and upn in str(e.cards[0]))
    shown = " ".join(texts(listed.cards[0]))
    assert "Vendor - Contoso" in shown
    assert "Vendor - Fabrikam" in shown


async def test_administrator_records_policy_application_with_its_time(
    pg: PlaygroundClient, stack: ProductStack
) -> None:
    channel = await bind_channel(pg)
    _, approval, approval_message = await onboard(
        pg, channel, contractor("Ray", "Recorded", "Contoso Field Services"), "Vendor - Contoso"
    )
    assert "not effective yet" in " ".join(texts(approval))
    thread = f"{channel};messageid={approval_message}"

    before = datetime.now(UTC).replace(second=0, microsecond=0)
    recorded = await click(
        pg,
        approval,
        "barriers.record_applied",
        message_id=approval_message,
        conversation_id=thread,
        as_user="29:adam",
    )
    shown = " ".join(texts(recorded))
    assert "policy application started by" in shown
    assert "Adam Approver" in shown
    stamp = MOMENT.search(shown.split("policy application started by", 1)[1])
    assert stamp is not None, f"no time on the card: {shown}"
    at = datetime.strptime(stamp.group(0), "%d %b %Y, %H:%M UTC").replace(tzinfo=UTC)
    assert at >= before
    assert "barriers.record_applied" not in str(recorded)


async def test_no_free_ib_seat_is_said_before_submission_and_nothing_is_created(
    pg: PlaygroundClient, stack: ProductStack
) -> None:
    tenant = stack.sandbox.tenant
    for part in IB_CAPABLE:
        consumed, _ = tenant.seats(part)
        tenant.set_prepaid_units(part, consumed)
    users_before = len(tenant.users)
    creates_before = tenant.requests.count("POST /users")
    # The bot caches seat counts for 30 s; `licenses` reads them now, as someone checking seats would.
    pg.mark()
    await pg.send_text("licenses")
    seats = await wait_card(pg, lambda e: e.is_new_message and "Held by this bot" in str(e.cards[0]))
    assert "Microsoft 365 E5" in " ".join(texts(seats.cards[0]))
    pg.mark()

    wizard, card = await wizard_to_barriers(pg, contractor("Nat", "Noseat", "Contoso Field Services"))
    assert "no license that includes information barriers has a free seat" in " ".join(texts(card))
    # Trying the segment anyway is refused on the same step.
    refused = await click(
        pg,
        card,
        "wizard.next",
        message_id=wizard,
        inputs={"reachEveryone": "no", "segment": "Vendor - Contoso"},
    )
    assert "wizard.submit" not in str(refused)
    assert "no license that includes information barriers has a free seat" in " ".join(texts(refused))
    await click(pg, refused, "wizard.cancel", message_id=wizard)

    assert len(tenant.users) == users_before
    assert tenant.requests.count("POST /users") == creates_before
