"""An account's whole life, end to end in the real Agents Playground: onboard, list, extend, remind, offboard.

Alice (requester and sponsor) onboards Bob through the wizard and Adam approves, exactly as in
test_onboarding_flow.py; then, in Alice's 1:1 chat, ``accounts`` lists the account, ``extend <upn>`` moves its
end date (card, database and the sandbox user's ``employeeLeaveDateTime``), a reminder arrives when the end
date is near and its Extend button works, and ``offboard <upn>`` (which this module's configuration puts
behind an approver: Adam approves in the channel) leaves the sandbox account disabled, unlicensed and out of
its groups with the seat free, as ``licenses`` then shows. Last, the audit CSV of the run holds every
transition and every Graph write, and not the password.

The bot's clock is real, so "the clock moved" is played the other way round: the test moves the account's
end date to 3 days from today in the bot's database (through the product's own store) and enqueues one
lifecycle sweep job, which the running bot's worker picks up as it would at the top of the hour.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from onboarding.audit import AuditAction
from onboarding.lifecycle import access_ends_at
from provisioning.lifecycle import JOB_LIFECYCLE_SWEEP
from settings import SANDBOX_VENDOR_ACCOUNTS_GROUP_ID
from storage.accounts import ServiceAccount, ServiceAccounts
from storage.audit import AuditLog
from storage.database import Database
from storage.lifecycle import AccountLifecycle
from storage.repositories import JobQueue
from tests.e2e.test_onboarding_flow import CONTRACTOR
from tests.security.leaks import assert_no_secrets
from tests.support.cards import CHANNEL, actions, click, message_id, password_on, text_of, texts, wait_card
from tests.support.playground import PlaygroundClient
from tests.support.product import ProductStack

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
REMOTE_ASSIST = "MICROSOFT_REMOTE_ASSIST"
#: The shipped example configuration, with manual offboarding put behind an approver.
LIFECYCLE_SECTION = "\n[lifecycle]\nreminder_days = [14, 3]\noffboarding_needs_approval = true\n"


class Run:
    """What the flow test learned, for the audit test that reads the same run's records."""

    upn: str = ""
    password: str = ""
    started: datetime = datetime.max.replace(tzinfo=UTC)


RUN = Run()


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, module_database_url: str | None
) -> Iterator[ProductStack]:
    folder = Path(tmp_path_factory.mktemp("lifecycle-e2e"))
    config = folder / "onboarding.toml"
    example = (REPO / "config" / "onboarding.example.toml").read_text(encoding="utf-8")
    config.write_text(example + LIFECYCLE_SECTION, encoding="utf-8")
    with ProductStack(
        folder / "data", database_url=module_database_url, onboarding_config_path=config
    ) as product:
        yield product


@pytest.fixture(scope="module")
def bot_endpoint(stack: ProductStack) -> str:
    return stack.bot_endpoint


@pytest.fixture
async def database(stack: ProductStack) -> AsyncIterator[Database]:
    """The bot's own database, opened a second time from the test's loop (SQLite in WAL mode)."""
    assert stack.settings is not None
    opened = await Database.connect(stack.settings.effective_database_url)
    try:
        yield opened
    finally:
        await opened.close()


# --------------------------------------------------------------------------------------------- helpers


def sandbox_user(stack: ProductStack, upn: str) -> dict[str, Any]:
    tenant = stack.sandbox.tenant
    with tenant.lock:
        users = [dict(u) for u in tenant.users.values() if u.get("userPrincipalName") == upn]
    assert len(users) == 1, f"{len(users)} users named {upn} in the sandbox"
    return users[0]


def in_vendor_group(stack: ProductStack, user_id: str) -> bool:
    tenant = stack.sandbox.tenant
    with tenant.lock:
        return user_id in tenant.members.get(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID, set())


async def eventually(check: Any, what: str, attempts: int = 200) -> None:
    """Wait (polling every 0.1 s, at most ``attempts`` times) for background work to show ``check()``."""
    import asyncio

    for _ in range(attempts):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


async def account(database: Database, upn: str) -> ServiceAccount:
    found = await ServiceAccounts(database).get(upn)
    assert found is not None, f"no account row for {upn}"
    return found


def leave_date_of(stack: ProductStack, upn: str) -> datetime | None:
    value = sandbox_user(stack, upn).get("employeeLeaveDateTime")
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None


# ----------------------------------------------------------------------------------------------- tests


async def onboard_bob(pg: PlaygroundClient) -> tuple[str, str]:
    """Bind the channel, run the wizard as Alice, approve as Adam, reveal; return (upn, password)."""
    channel = pg.config.channel_id(CHANNEL)
    await pg.send_activity_as("29:adam", text="approvals here", conversation_id=channel, mention_bot=True)
    await wait_card(pg, lambda e: "approval" in text_of(e.cards[0]).lower())

    await pg.send_text("onboard")
    started = await wait_card(pg, lambda e: e.is_new_message and "wizard.next" in text_of(e.cards[0]))
    wizard = message_id(started)
    card = await click(pg, started.cards[0], "wizard.next", message_id=wizard, inputs=CONTRACTOR)
    card = await click(
        pg, card, "wizard.next", message_id=wizard, inputs={"licenseProfile": "remote-assist-technician"}
    )
    card = await click(pg, card, "wizard.next", message_id=wizard, inputs={"reachEveryone": "yes"})
    await click(pg, card, "wizard.submit", message_id=wizard)

    posted = await wait_card(
        pg,
        lambda e: (
            e.is_new_message
            and e.conversation_id.startswith(channel)
            and "approval.approve" in text_of(e.cards[0])
        ),
    )
    thread = f"{posted.conversation_id};messageid={message_id(posted)}"
    await click(
        pg,
        posted.cards[0],
        "approval.approve",
        message_id=message_id(posted),
        conversation_id=thread,
        as_user="29:adam",
    )
    handoff = await wait_card(pg, lambda e: "credentials.reveal" in text_of(e.cards[0]), timeout=60)
    revealed = await click(pg, handoff.cards[0], "credentials.reveal", message_id=message_id(handoff))
    password = password_on(revealed)
    assert password, "the reveal card shows no password"
    shown = texts(revealed)
    upn = shown[shown.index("Account: ") + 1]
    assert upn.endswith("@abc.com"), shown
    return upn, password


async def test_accounts_extend_remind_offboard_and_licenses(
    pg: PlaygroundClient, stack: ProductStack, database: Database
) -> None:
    RUN.started = datetime.now(UTC) - timedelta(seconds=1)
    consumed_before, enabled = stack.sandbox.tenant.seats(REMOTE_ASSIST)
    upn, RUN.password = await onboard_bob(pg)
    RUN.upn = upn
    user_id = sandbox_user(stack, upn)["id"]
    assert stack.sandbox.tenant.seats(REMOTE_ASSIST)[0] == consumed_before + 1

    # `accounts` lists it.
    await pg.send_text("accounts")
    listed = await wait_card(pg, lambda e: e.is_new_message and upn in text_of(e.cards[0]))
    assert "Contoso Field Services" in text_of(listed.cards[0])

    # `extend <upn>`: Extend 30 days moves the end date on the card, in the database and in Entra.
    first_end = (await account(database, upn)).end_date
    assert leave_date_of(stack, upn) == access_ends_at(first_end)
    await pg.send_text(f"extend {upn}")
    shown = await wait_card(pg, lambda e: e.is_new_message and "lifecycle.extend" in text_of(e.cards[0]))
    extended = await click(pg, shown.cards[0], "lifecycle.extend", message_id=message_id(shown), days=30)
    second_end = first_end + timedelta(days=30)
    assert f"access now ends on {second_end.isoformat()}" in text_of(extended)
    assert (await account(database, upn)).end_date == second_end

    async def stamped(end: date) -> bool:
        return leave_date_of(stack, upn) == access_ends_at(end)

    await eventually(lambda: stamped(second_end), f"employeeLeaveDateTime at the end of {second_end}")

    # The clock moved: the end date is 3 days away, and the bot's worker runs a lifecycle sweep.
    today = datetime.now(UTC).date()
    near_end = today + timedelta(days=3)
    assert await AccountLifecycle(database).move_end_date(upn, expected=second_end, new=near_end)
    slot = datetime.now(UTC).replace(minute=0, second=0, microsecond=0).isoformat()
    await JobQueue(database).enqueue(
        JOB_LIFECYCLE_SWEEP,
        json.dumps({"slot": slot}),
        dedupe_key=f"{JOB_LIFECYCLE_SWEEP}:e2e:{slot}",
        max_attempts=1,
    )
    personal = pg.config.personal_chat.id
    reminder = await wait_card(
        pg,
        lambda e: (
            e.is_new_message and e.conversation_id == personal and "lifecycle.extend" in text_of(e.cards[0])
        ),
        timeout=20,
    )
    assert upn in text_of(reminder.cards[0])
    assert {
        a["data"].get("days") for a in actions(reminder.cards[0]) if a.get("verb") == "lifecycle.extend"
    } == {
        30,
        90,
    }
    after_reminder = await click(
        pg, reminder.cards[0], "lifecycle.extend", message_id=message_id(reminder), days=30
    )
    third_end = near_end + timedelta(days=30)
    assert f"access now ends on {third_end.isoformat()}" in text_of(after_reminder)
    assert (await account(database, upn)).end_date == third_end
    await eventually(lambda: stamped(third_end), f"employeeLeaveDateTime at the end of {third_end}")

    # `offboard <upn>`: this configuration asks an approver; Adam approves in the channel.
    await pg.send_text(f"offboard {upn}")
    confirm = await wait_card(pg, lambda e: e.is_new_message and "lifecycle.offboard" in text_of(e.cards[0]))
    channel = pg.config.channel_id(CHANNEL)
    asked = await click(pg, confirm.cards[0], "lifecycle.offboard", message_id=message_id(confirm), upn=upn)
    assert "lifecycle.offboard" not in text_of(asked)
    assert sandbox_user(stack, upn)["accountEnabled"] is True  # nothing happens before the approval
    posted = await wait_card(
        pg,
        lambda e: (
            e.is_new_message
            and e.conversation_id.startswith(channel)
            and "lifecycle.approve" in text_of(e.cards[0])
        ),
    )
    assert upn in text_of(posted.cards[0])
    thread = f"{posted.conversation_id};messageid={message_id(posted)}"
    approved = await click(
        pg,
        posted.cards[0],
        "lifecycle.approve",
        message_id=message_id(posted),
        conversation_id=thread,
        as_user="29:adam",
    )
    assert "Adam Approver" in text_of(approved)
    await wait_card(
        pg,
        lambda e: (
            e.is_new_message and e.conversation_id == personal and "offboarded" in text_of(e.cards[0]).lower()
        ),
        timeout=30,
    )

    # The sandbox account: disabled, unlicensed, out of its groups; the seat is free again.
    user = sandbox_user(stack, upn)
    assert user["accountEnabled"] is False
    assert user["assignedLicenses"] == []
    assert not in_vendor_group(stack, user_id)
    assert stack.sandbox.tenant.seats(REMOTE_ASSIST) == (consumed_before, enabled)
    assert (await account(database, upn)).state != "active"

    # `licenses` shows the seat back, as the sandbox counts it.
    await pg.send_text("licenses")
    seats = await wait_card(pg, lambda e: e.is_new_message and "Held by this bot" in text_of(e.cards[0]))
    shown_texts = texts(seats.cards[0])
    remote_assist = shown_texts.index("Dynamics 365 Remote Assist")
    assert shown_texts[shown_texts.index("Used", remote_assist) + 1] == str(consumed_before)
    assert shown_texts[shown_texts.index("Free", remote_assist) + 1] == str(enabled - consumed_before)


async def test_the_audit_csv_of_the_run_holds_every_transition_and_graph_write_and_no_password(
    stack: ProductStack, database: Database
) -> None:
    if not RUN.upn:
        pytest.skip("the lifecycle flow did not get far enough to audit")
    lines = [
        line
        async for line in AuditLog(database).export_csv(RUN.started, datetime.now(UTC) + timedelta(minutes=1))
    ]
    actions_seen = {line.split(",")[4] for line in lines[1:]}
    expected = {
        AuditAction.REQUEST_CREATED,
        AuditAction.REQUEST_SUBMITTED,
        AuditAction.REQUEST_APPROVED,
        AuditAction.PROVISIONING_STARTED,
        AuditAction.PROVISIONING_SUCCEEDED,
        AuditAction.ACCOUNT_CREATED,
        AuditAction.LICENSES_ASSIGNED,
        AuditAction.GROUP_MEMBER_ADDED,
        AuditAction.CREDENTIALS_ISSUED,
        AuditAction.CREDENTIALS_REVEALED,
        AuditAction.ACCOUNT_EXTENDED,
        AuditAction.LEAVE_DATE_STAMPED,
        AuditAction.LIFECYCLE_REMINDER_SENT,
        AuditAction.LIFECYCLE_APPROVAL_REQUESTED,
        AuditAction.LIFECYCLE_APPROVED,
        AuditAction.ACCOUNT_DISABLED,
        AuditAction.SESSIONS_REVOKED,
        AuditAction.LICENSES_REMOVED,
        AuditAction.GROUP_MEMBER_REMOVED,
        AuditAction.ACCOUNT_OFFBOARDED,
    }
    assert {a.value for a in expected} - actions_seen == set()
    # Every Graph write the sandbox served carries its request-id into the audit log.
    writes = [r for r in stack.sandbox.tenant.requests.snapshot() if r.is_write and 200 <= r.status < 300]
    assert writes
    audited_ids = "\n".join(lines)
    missing = [f"{r.method} {r.path}" for r in writes if r.request_id not in audited_ids]
    assert missing == []
    assert_no_secrets(lines, [RUN.password])
