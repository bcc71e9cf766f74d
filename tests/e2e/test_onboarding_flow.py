"""Onboard a contractor end to end, as people would, in the real Agents Playground.

Alice (requester) runs the wizard in her 1:1 chat; the approval card appears in "Vendor approvals";
Adam (approver) approves; the card reaches "Provisioned"; Alice reveals the password once. The sandbox
tenant then holds exactly one account with the planned UPN, attributes, licenses and groups.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sandbox.seed import REMOTE_ASSIST_SKU_ID
from settings import SANDBOX_VENDOR_ACCOUNTS_GROUP_ID
from storage.audit import AuditLog
from storage.database import Database
from tests.security.leaks import assert_no_secrets, stored_texts
from tests.support.cards import CHANNEL, click, message_id, password_on, text_of, texts, wait_card
from tests.support.playground import PlaygroundClient
from tests.support.product import ProductStack

pytestmark = pytest.mark.e2e

CONTRACTOR = {
    "vendorCompany": "Contoso Field Services",
    "firstName": "Bob",
    "lastName": "O'Brien",
    "contractorEmail": "bob@contoso1.example",
    "usageLocation": "US",
}


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, module_database_url: str | None
) -> Iterator[ProductStack]:
    with ProductStack(
        Path(tmp_path_factory.mktemp("onboarding-e2e")), database_url=module_database_url
    ) as product:
        yield product


@pytest.fixture(scope="module")
def bot_endpoint(stack: ProductStack) -> str:
    return stack.bot_endpoint


async def test_onboard_approve_provision_reveal(
    pg: PlaygroundClient, stack: ProductStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tenant = stack.sandbox.tenant
    channel = pg.config.channel_id(CHANNEL)
    consumed_before, _ = tenant.seats("MICROSOFT_REMOTE_ASSIST")

    # An administrator binds the approvals channel.
    await pg.send_activity_as("29:adam", text="approvals here", conversation_id=channel, mention_bot=True)
    await wait_card(pg, lambda e: "approval" in text_of(e.cards[0]).lower())

    # Alice starts the wizard.
    await pg.send_text("onboard")
    started = await wait_card(pg, lambda e: e.is_new_message and "wizard.next" in text_of(e.cards[0]))
    wizard_message = message_id(started)
    card = started.cards[0]

    # Step 1 with a mistake: both errors shown inline, values kept.
    card = await click(
        pg,
        card,
        "wizard.next",
        message_id=wizard_message,
        inputs=CONTRACTOR | {"contractorEmail": "not-an-email", "usageLocation": ""},
    )
    assert "Contoso Field Services" in text_of(card)
    assert "wizard.next" in text_of(card)
    card = await click(pg, card, "wizard.next", message_id=wizard_message, inputs=CONTRACTOR)
    # Step 2: access (the defaults are valid: profile, end date, sponsor).
    assert "Remote Assist" in text_of(card)
    card = await click(
        pg,
        card,
        "wizard.next",
        message_id=wizard_message,
        inputs={"licenseProfile": "remote-assist-technician"},
    )
    # Step 3: information barriers: this contractor may reach everyone.
    card = await click(pg, card, "wizard.next", message_id=wizard_message, inputs={"reachEveryone": "yes"})
    # Step 4: review shows the exact UPN.
    review = text_of(card)
    assert "@" in review
    card = await click(pg, card, "wizard.submit", message_id=wizard_message)
    submitted = text_of(card)
    assert "VND-" in submitted

    # The approval card appears in the channel.
    posted = await wait_card(
        pg,
        lambda e: (
            e.is_new_message
            and e.conversation_id.startswith(channel)
            and "approval.approve" in text_of(e.cards[0])
        ),
    )
    approval_message = message_id(posted)
    approval = posted.cards[0]
    thread = f"{posted.conversation_id};messageid={approval_message}"

    # The requester may not approve her own request; Nora (no role) may not either.
    refused = await click(
        pg,
        approval,
        "approval.approve",
        message_id=approval_message,
        conversation_id=thread,
        as_user="29:alice",
    )
    assert "another approver" in text_of(refused) or "approvers group" in text_of(refused)
    refused = await click(
        pg,
        approval,
        "approval.approve",
        message_id=approval_message,
        conversation_id=thread,
        as_user="29:nora",
    )
    assert "approvers group" in text_of(refused)
    assert not tenant.requests.writes

    # Adam approves; the click is answered at once, provisioning runs in the background.
    approved = await click(
        pg,
        approval,
        "approval.approve",
        message_id=approval_message,
        conversation_id=thread,
        as_user="29:adam",
    )
    assert "Adam Approver" in text_of(approved)
    again = await click(
        pg,
        approval,
        "approval.approve",
        message_id=approval_message,
        conversation_id=thread,
        as_user="29:paula",
    )
    assert "Already approved by Adam Approver" in text_of(again)

    await wait_card(pg, lambda e: e.is_update and "Provisioned" in text_of(e.cards[0]), timeout=60)

    # Alice gets the hand-off card and reveals the password once.
    handoff = await wait_card(pg, lambda e: "credentials.reveal" in text_of(e.cards[0]), timeout=30)
    revealed = await click(pg, handoff.cards[0], "credentials.reveal", message_id=message_id(handoff))
    assert "shown once" in text_of(revealed).lower()
    password = password_on(revealed)
    assert password is not None
    second = await click(pg, handoff.cards[0], "credentials.reveal", message_id=message_id(handoff))
    assert "already" in text_of(second).lower()

    # The tenant holds exactly one account, as planned.
    await asyncio.sleep(0)
    vendors = [u for u in tenant.users.values() if u.get("employeeType") == "Vendor"]
    assert len(vendors) == 1
    account = vendors[0]
    assert account["companyName"] == "Contoso Field Services"
    assert account["usageLocation"] == "US"
    assert account["otherMails"] == ["bob@contoso1.example"]
    assert account["employeeId"].startswith("VND-")
    assert account["userPrincipalName"] in review
    assert [lic["skuId"] for lic in account["assignedLicenses"]] == [REMOTE_ASSIST_SKU_ID]
    assert account["id"] in tenant.members.get(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID, set())
    consumed_after, _ = tenant.seats("MICROSOFT_REMOTE_ASSIST")
    assert consumed_after == consumed_before + 1

    # Everyday commands show what the tenant now holds.
    await pg.send_text("accounts")
    listed = await wait_card(
        pg, lambda e: e.is_new_message and account["userPrincipalName"] in text_of(e.cards[0])
    )
    assert "Contoso Field Services" in text_of(listed.cards[0])
    await pg.send_text("licenses")
    seats = await wait_card(pg, lambda e: e.is_new_message and "Held by this bot" in text_of(e.cards[0]))
    licenses = text_of(seats.cards[0])
    assert "Dynamics 365 Remote Assist" in licenses
    shown = texts(seats.cards[0])
    remote_assist = shown.index("Dynamics 365 Remote Assist")
    used = shown.index("Used", remote_assist)
    assert shown[used + 1] == str(consumed_after)  # as the sandbox counts it
    assert shown[shown.index("Free", remote_assist) + 1] == str(25 - consumed_after)

    # The password was shown once, to Alice: it is nowhere else. Not in any log line, not in the
    # database (only its ciphertext was, and that is erased on reveal), not in any channel
    # message, not in the audit export.
    assert stack.settings is not None
    database = await stored_texts(stack.settings.effective_database_url)
    assert any("Contoso Field Services" in stored for stored in database), "the search sees no stored data"
    channel_messages = [e.model_dump_json() for e in pg.events if e.conversation_id.startswith(channel)]
    assert channel_messages
    assert any(r.name.startswith(("provisioning", "bot", "app")) for r in caplog.records), (
        "no bot logs captured"
    )
    audit_csv = await audit_export(stack)
    assert "credentials.revealed" in audit_csv
    assert_no_secrets(
        [*(r.getMessage() for r in caplog.records), *database, *channel_messages, audit_csv],
        [password],
    )


async def audit_export(stack: ProductStack) -> str:
    assert stack.settings is not None
    database = await Database.connect(stack.settings.effective_database_url)
    try:
        start = datetime.now(UTC) - timedelta(days=1)
        return "".join(
            [line async for line in AuditLog(database).export_csv(start, start + timedelta(days=2))]
        )
    finally:
        await database.close()
