"""Authorization matrix: every command and every card verb against every role, over HTTP, on the real bot.

One bot (sandbox mode, the real sandbox tenant for role look-ups, a recording Bot Connector) serves the
module. Each cell acts as one person of the sandbox seed:

=============  ===========================================================================================
requester      Alice (requesters group): requester of every seeded request, submitter of every bulk batch
sponsor        Rita (requesters group): named sponsor of every seeded request and so of its account; she
               asks for the seeded lifecycle requests and proposes the seeded segment changes
approver       Paula (approvers group only)
administrator  Omar (bot administrators group only)
none           Nora (no group)
other tenant   Paula again, but the activity carries another tenant id
=============  ===========================================================================================

Each cell gets its own 1:1 conversation and, where it needs one, its own freshly seeded subject (a request,
a bulk batch, an active account, a lifecycle request, a segment change), written straight into the bot's
database through the product's own stores (tests/reliability/seeding.py), so the cells are independent. An
allowed cell asserts the action's effect (the request or batch decided, the end date moved, the job
enqueued, the password shown, the wizard moved, ...); a refused cell asserts the refusal text the user reads
and that nothing changed; every cell asserts that the answer is not a 5xx. Other-tenant cells are refused at
the gate: 403 for invokes, silence for messages, an ``security.access_refused`` audit record in both cases.

Who may do what comes from the product: DESIGN.md §2/§3.4, README's command and "Who may do what" tables,
and the desks' own docstrings (bot/commands_desk.py, bot/lifecycle_desk.py with onboarding/lifecycle.py,
bot/bulk_desk.py, bot/segment_change.py). Every command (``CommandName``) and every card verb (``Verb``) has
a row. A bulk CSV is not a chat entry point (the manifest says ``supportsFiles: false``; the import is the
command line's, ``python -m cli bulk import``): a file sent in the chat is ordinary unknown text, which a test
below pins. A cell whose product behaviour contradicts that contract is pinned with
``xfail(strict=True)`` naming the bug, so the fix turns it into a failure that asks for the mark's removal.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
from sqlalchemy import func, select

from bot.commands import CommandName
from cards import help as help_cards
from cards.actions import (
    BulkApprovePayload,
    BulkRejectPayload,
    BulkRetryFailedPayload,
    LifecycleApprovePayload,
    LifecycleExtendPayload,
    LifecycleOffboardPayload,
    LifecycleRejectPayload,
    LifecycleResetPasswordPayload,
    SegmentChangeApprovePayload,
    SegmentChangeProposePayload,
    SegmentChangeRejectPayload,
    SegmentChangeRetryPayload,
    Verb,
)
from cards.views import RefusedAction
from onboarding.audit import AuditAction
from onboarding.lifecycle import LifecycleAction
from onboarding.requests import RequestStatus
from provisioning.credentials import JOB_RESET_PASSWORD
from provisioning.offboarding import JOB_OFFBOARD
from storage.accounts import ServiceAccount, ServiceAccounts
from storage.audit import AuditLog
from storage.bulk import BatchStatus, BulkBatches
from storage.database import Database
from storage.lifecycle import LifecycleRequests, StoredLifecycleRequest
from storage.models import BulkBatchRow, JobRow
from storage.requests import RequestStore
from storage.segment_changes import ChangeStatus, SegmentChange, SegmentChanges
from tests.cards import walk
from tests.reliability.seeding import TEMPORARY_PASSWORD, Seeder, person
from tests.security.stack import (
    ADAM,
    ALICE,
    NORA,
    OMAR,
    PAULA,
    RITA,
    Person,
    SandboxBotStack,
    execute_value,
)
from tests.support.postgres import create_database, drop_database, postgres_url  # noqa: F401

T = TypeVar("T")

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
OTHER_TENANT = "00000000-0000-0000-0000-00000000dead"
ROLES = ("requester", "sponsor", "approver", "administrator", "none", "other_tenant")
ACTOR: dict[str, Person] = {
    "requester": ALICE,
    "sponsor": RITA,
    "approver": PAULA,
    "administrator": OMAR,
    "none": NORA,
    "other_tenant": PAULA,
}
REQUESTER = person(ALICE.aad_object_id, ALICE.name)
SPONSOR = person(RITA.aad_object_id, RITA.name)
DECIDER = person(ADAM.aad_object_id, ADAM.name)
#: A vendor segment of the sandbox catalog (config/segments.example.toml) a seeded account can move to.
VENDOR_SEGMENT = "Vendor - Contoso"

#: Texts that mean "this did not do what you asked" whatever the action: a refusal, a feature that is
#: not there, text the bot did not understand, an error with a reference.
_NOT_DONE = ("Not allowed", "is not available yet", "I didn't understand", "Reference:")


def _text(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _refusal(action: RefusedAction) -> str:
    """The sentence of a refusal card for ``action`` (what the user reads)."""
    return next(
        str(block["text"])
        for block in walk.objects(help_cards.refusal_card(action))
        if block.get("type") == "TextBlock" and str(block.get("text", "")).startswith("You're not allowed")
    )


# ----------------------------------------------------------------------------------------------- fixtures


@dataclass
class Bot:
    """The running stack plus synchronous access to its database for seeding and reading."""

    stack: SandboxBotStack
    data_dir: Path
    #: The bot's database: SQLite in ``data_dir`` unless a PostgreSQL URL is given.
    postgres_url: str | None = None

    @property
    def database_url(self) -> str:
        if self.postgres_url:
            return self.postgres_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'bot.db').as_posix()}"

    @property
    def vault_key(self) -> str:
        return (self.data_dir / "sandbox-secrets.key").read_text(encoding="ascii").strip()

    def db(self, work: Callable[[Database], Awaitable[T]]) -> T:
        """Run ``work`` on a second connection to the bot's database (the bot keeps its own)."""

        async def run() -> T:
            database = await Database.connect(self.database_url)
            try:
                return await work(database)
            finally:
                await database.close()

        return asyncio.run(run())

    def status_of(self, number: int) -> RequestStatus:
        async def read(database: Database) -> RequestStatus:
            stored = await RequestStore(database).get(number)
            assert stored is not None
            return stored.request.status

        return self.db(read)

    def refusals(self) -> int:
        async def count(database: Database) -> int:
            return len(await AuditLog(database).query(action=AuditAction.ACCESS_REFUSED, limit=100_000))

        return self.db(count)

    def batch_status(self, batch_id: int) -> BatchStatus:
        async def read(database: Database) -> BatchStatus:
            batch = await BulkBatches(database).get(batch_id)
            assert batch is not None
            return batch.status

        return self.db(read)

    def batches(self) -> int:
        """How many bulk batches the database holds."""

        async def count(database: Database) -> int:
            async with database.transaction(write=False) as conn:
                return int((await conn.execute(select(func.count()).select_from(BulkBatchRow))).scalar_one())

        return self.db(count)

    def account(self, upn: str) -> ServiceAccount:
        async def read(database: Database) -> ServiceAccount:
            account = await ServiceAccounts(database).get(upn)
            assert account is not None
            return account

        return self.db(read)

    def lifecycle_status(self, request_id: int) -> str:
        async def read(database: Database) -> str:
            stored = await LifecycleRequests(database).get(request_id)
            assert stored is not None
            return stored.status

        return self.db(read)

    def change_status(self, number: int) -> ChangeStatus:
        async def read(database: Database) -> ChangeStatus:
            change = await SegmentChanges(database).get(number)
            assert change is not None
            return change.status

        return self.db(read)

    def open_change(self, upn: str) -> SegmentChange | None:
        return self.db(lambda database: SegmentChanges(database).open_for(upn))

    def jobs_keyed(self, dedupe_key: str) -> int:
        """Jobs ever enqueued under ``dedupe_key``, in any state (a finished job stays in the table)."""

        async def count(database: Database) -> int:
            statement = select(func.count()).select_from(JobRow).where(JobRow.dedupe_key == dedupe_key)
            async with database.transaction(write=False) as conn:
                return int((await conn.execute(statement)).scalar_one())

        return self.db(count)

    def audited(self, action: AuditAction, request_id: str) -> int:
        async def count(database: Database) -> int:
            return len(await AuditLog(database).query(action=action, request_id=request_id, limit=1000))

        return self.db(count)


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ],
)
def bot(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    """The bot on SQLite and, as a second case, on a new PostgreSQL database (migrated by the bot)."""
    data_dir = tmp_path_factory.mktemp("authorization")
    if request.param == "sqlite":
        with SandboxBotStack(data_dir) as stack:
            yield Bot(stack, data_dir)
        return
    server: str = request.getfixturevalue("postgres_url")
    url = asyncio.run(create_database(server))
    try:
        with SandboxBotStack(data_dir, database_url=url) as stack:
            yield Bot(stack, data_dir, url)
    finally:
        asyncio.run(drop_database(url))


# ------------------------------------------------------------------------------------------- one cell


@dataclass
class Answer:
    """What the user saw: the HTTP status, the invoke's card (if any) and every message sent meanwhile."""

    status: int
    body: Any = None
    sent: list[dict[str, Any]] = field(default_factory=list)

    @property
    def cards(self) -> list[Any]:
        found = [a["content"] for m in self.sent for a in m.get("attachments") or []]
        if isinstance(self.body, dict) and self.body.get("type") == ADAPTIVE_CARD:
            found.append(self.body["value"])
        return found

    @property
    def text(self) -> str:
        return _text([*self.cards, *(m.get("text") for m in self.sent)])


def tenant_of(role: str) -> dict[str, Any]:
    tenant = OTHER_TENANT if role == "other_tenant" else None
    return {"tenant": {"id": tenant}} if tenant else {}


def personal_chat() -> dict[str, Any]:
    """A 1:1 conversation of its own (Teams gives every user a different one)."""
    return {"id": f"a:personal-{uuid.uuid4().hex}", "conversationType": "personal"}


def send(bot: Bot, activity: dict[str, Any], role: str) -> Answer:
    if role == "other_tenant":
        activity["channelData"] = {**activity.get("channelData", {}), "tenant": {"id": OTHER_TENANT}}
    before = bot.stack.sent_count()
    response: requests.Response = bot.stack.post(activity)
    body = (
        response.json()
        if response.content and response.headers.get("Content-Type", "").startswith("application/json")
        else None
    )
    # Only what went to this cell's conversation: the bot's worker and notifier send status messages
    # and card updates of earlier cells' requests in the background meanwhile.
    conversation = activity["conversation"]["id"]
    replies = [
        sent
        for sent in bot.stack.sent_since(before)
        if sent.get("conversation", {}).get("id") == conversation
    ]
    return Answer(response.status_code, body, replies)


def say(bot: Bot, role: str, text: str, conversation: dict[str, Any] | None = None) -> Answer:
    stack = bot.stack
    return send(
        bot, stack.message(text, person=ACTOR[role], conversation=conversation or personal_chat()), role
    )


def click(
    bot: Bot, role: str, verb: str, data: dict[str, Any], conversation: dict[str, Any] | None = None
) -> Answer:
    stack = bot.stack
    activity = stack.invoke(
        execute_value(verb, data), person=ACTOR[role], conversation=conversation or personal_chat()
    )
    return send(bot, activity, role)


# ------------------------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Outcome:
    """How a cell ended: ``done`` (the action's effect happened) and what the user read."""

    done: bool
    answer: Answer


Action = Callable[[Bot, str], Outcome]


@dataclass(frozen=True)
class Row:
    """One command or verb: who may use it and what the others read.

    ``command`` names the chat command a command row covers. ``bugs`` maps a role to the product bug that
    makes its cell go the wrong way today: that cell is an ``xfail(strict=True)`` with the bug as reason.
    """

    name: str
    run: Action
    allowed: frozenset[str]
    refusal: str
    command: CommandName | None = None
    bugs: Mapping[str, str] = field(default_factory=dict, hash=False)


def _is_done(answer: Answer) -> bool:
    return bool(answer.cards) and not any(marker in answer.text for marker in _NOT_DONE)


def help_command(bot: Bot, role: str) -> Outcome:
    answer = say(bot, role, "help")
    return Outcome(help_cards.help_card() in answer.cards, answer)


def onboard_command(bot: Bot, role: str) -> Outcome:
    answer = say(bot, role, "onboard")
    return Outcome(any(a["verb"] == Verb.WIZARD_NEXT for c in answer.cards for a in walk.executes(c)), answer)


def cancel_command(bot: Bot, role: str) -> Outcome:
    answer = say(bot, role, "cancel")
    return Outcome("Nothing to cancel." in answer.text, answer)


def plain_command(text: str) -> Action:
    def run(bot: Bot, role: str) -> Outcome:
        answer = say(bot, role, text)
        return Outcome(_is_done(answer), answer)

    return run


def account_command(verb: str) -> Action:
    """``extend <upn>`` / ``offboard <upn>`` on an active account Alice requested and Rita sponsors."""

    def run(bot: Bot, role: str) -> Outcome:
        stored = bot.db(lambda db: Seeder(db).provisioned(REQUESTER, DECIDER, SPONSOR))
        answer = say(bot, role, f"{verb} {stored.plan.upn}")
        # A refusal is a card too ("Not found"): done means the account's own card came back.
        return Outcome(_is_done(answer) and NO_SUCH_ACCOUNT not in answer.text, answer)

    return run


def approvals_here(bot: Bot, role: str) -> Outcome:
    stack = bot.stack
    activity = stack.channel_message("<at>Vendor Onboarding</at> approvals here", person=ACTOR[role])
    answer = send(bot, activity, role)
    return Outcome(help_cards.channel_bound_card() in answer.cards, answer)


def command_button(bot: Bot, role: str) -> Outcome:
    answer = click(bot, role, Verb.COMMAND_RUN, {"command": "help"})
    return Outcome(answer.body is not None and answer.body.get("value") == help_cards.help_card(), answer)


def wizard_click(verb: Verb) -> Action:
    """A wizard button of the caller's own wizard (started with ``onboard`` in the same chat).

    Someone who may not onboard has no wizard: their click carries a made-up wizard id, as a forged or
    forwarded card would.
    """

    def run(bot: Bot, role: str) -> Outcome:
        chat = personal_chat()
        started = say(bot, role, "onboard", chat)
        buttons = [a for c in started.cards for a in walk.executes(c) if a["verb"] == Verb.WIZARD_NEXT]
        data = (
            buttons[0]["data"]
            if buttons
            else {"wizardId": uuid.uuid4().hex[:24], "step": 1, "cardVersion": 1}
        )
        answer = click(bot, role, verb, data, chat)
        handled = (
            "Onboarding cancelled. Nothing was created."
            if verb is Verb.WIZARD_CANCEL
            else "Onboard a contractor"
        )
        return Outcome(handled in answer.text, answer)

    return run


#: Where an approved request may be by the time the test reads it (the bot's worker starts at once).
APPROVED_OR_LATER = frozenset(
    {RequestStatus.APPROVED, RequestStatus.PROVISIONING, RequestStatus.PROVISIONED, RequestStatus.FAILED}
)


def decision(verb: Verb, expected: frozenset[RequestStatus]) -> Action:
    def run(bot: Bot, role: str) -> Outcome:
        stored = bot.db(lambda db: Seeder(db).pending(REQUESTER, SPONSOR))
        data = {"requestId": stored.request.request_id, "cardVersion": stored.version, "comment": "checked"}
        answer = click(bot, role, verb, data)
        return Outcome(bot.status_of(stored.request.number) in expected, answer)

    return run


def retry_click(bot: Bot, role: str) -> Outcome:
    stored = bot.db(lambda db: Seeder(db).failed(REQUESTER, DECIDER, SPONSOR))
    answer = click(
        bot,
        role,
        Verb.APPROVAL_RETRY,
        {"requestId": stored.request.request_id, "cardVersion": stored.version},
    )
    return Outcome(bot.status_of(stored.request.number) is not RequestStatus.FAILED, answer)


def cancel_click(bot: Bot, role: str) -> Outcome:
    stored = bot.db(lambda db: Seeder(db).failed(REQUESTER, DECIDER, SPONSOR))
    answer = click(
        bot,
        role,
        Verb.APPROVAL_CANCEL,
        {"requestId": stored.request.request_id, "cardVersion": stored.version},
    )
    return Outcome("Cancelling: undoing what was done" in answer.text, answer)


def refresh_click(bot: Bot, role: str) -> Outcome:
    """Approvers and the requester may see the current card; only an approver gets the buttons."""
    stored = bot.db(lambda db: Seeder(db).pending(REQUESTER, SPONSOR))
    answer = click(
        bot,
        role,
        Verb.APPROVAL_REFRESH,
        {"requestId": stored.request.request_id, "cardVersion": stored.version},
    )
    verbs = {a["verb"] for c in answer.cards for a in walk.executes(c)}
    shows_request = stored.request.request_id in answer.text
    may_decide = Verb.APPROVAL_APPROVE in verbs
    return Outcome(shows_request and may_decide == (role == "approver"), answer)


def reveal_click(bot: Bot, role: str) -> Outcome:
    key = bot.vault_key
    stored = bot.db(lambda db: Seeder(db).provisioned(REQUESTER, DECIDER, SPONSOR, vault_key=key))
    answer = click(bot, role, Verb.CREDENTIALS_REVEAL, {"requestId": stored.request.request_id})
    return Outcome(TEMPORARY_PASSWORD in answer.text, answer)


RECORD_REFUSED = "You're not allowed to record that policy application was started."


def record_barriers_click(bot: Bot, role: str) -> Outcome:
    """Done means the role check let the click through (the seeded request has no segment to record)."""
    stored = bot.db(lambda db: Seeder(db).provisioned(REQUESTER, DECIDER, SPONSOR))
    answer = click(
        bot,
        role,
        Verb.BARRIERS_RECORD_APPLIED,
        {"requestId": stored.request.request_id, "cardVersion": stored.version},
    )
    return Outcome(_is_done(answer) and RECORD_REFUSED not in answer.text, answer)


def list_page_click(bot: Bot, role: str) -> Outcome:
    answer = click(bot, role, Verb.LIST_PAGE, {"listName": "accounts", "page": 0})
    return Outcome(_is_done(answer), answer)


def open_request_click(bot: Bot, role: str) -> Outcome:
    stored = bot.db(lambda db: Seeder(db).pending(REQUESTER, SPONSOR))
    answer = click(bot, role, Verb.REQUEST_OPEN, {"requestId": stored.request.request_id})
    return Outcome(_is_done(answer) and stored.request.request_id in answer.text, answer)


def audit_export_command(bot: Bot, role: str) -> Outcome:
    """Done means the export card came back: the range's event count and the CLI command that writes it."""
    answer = say(bot, role, "audit export")
    return Outcome("python -m cli audit export --from" in answer.text, answer)


# --------------------------------------------------------------------------- accounts and lifecycle


def _today() -> date:
    # The bot's clock is the real one (storage.clock.utc_now): "today" is today in UTC.
    return datetime.now(UTC).date()


def _active_account(bot: Bot, ends_on: date | None = None) -> ServiceAccount:
    """A fresh active account Alice requested and Rita sponsors."""
    return bot.db(lambda db: Seeder(db).active_account(REQUESTER, DECIDER, SPONSOR, ends_on=ends_on))


def extend_click(bot: Bot, role: str) -> Outcome:
    """Extend by 30 days an account ending in 20: within the 90-day maximum, so it moves at once."""
    account = _active_account(bot, ends_on=_today() + timedelta(days=20))
    payload = LifecycleExtendPayload(upn=account.upn, days=30, end_date=account.end_date.isoformat())
    answer = click(bot, role, Verb.LIFECYCLE_EXTEND, payload.to_data())
    return Outcome(bot.account(account.upn).end_date > account.end_date, answer)


def offboard_click(bot: Bot, role: str) -> Outcome:
    """Offboard now (no approval configured in the sandbox): done means the offboarding job was enqueued."""
    account = _active_account(bot)
    answer = click(bot, role, Verb.LIFECYCLE_OFFBOARD, LifecycleOffboardPayload(upn=account.upn).to_data())
    return Outcome(bot.jobs_keyed(f"{JOB_OFFBOARD}:{account.upn}") == 1, answer)


def reset_password_click(bot: Bot, role: str) -> Outcome:
    """A new temporary password (no approval configured): done means the reset job was enqueued."""
    account = _active_account(bot)
    payload = LifecycleResetPasswordPayload(upn=account.upn)
    answer = click(bot, role, Verb.LIFECYCLE_RESET_PASSWORD, payload.to_data())
    return Outcome(bot.jobs_keyed(f"{JOB_RESET_PASSWORD}:{account.upn}") == 1, answer)


def lifecycle_decision(verb: Verb) -> Action:
    """A decision on Rita's request to offboard the account she sponsors."""

    def run(bot: Bot, role: str) -> Outcome:
        async def seed(database: Database) -> StoredLifecycleRequest:
            seeder = Seeder(database)
            account = await seeder.active_account(REQUESTER, DECIDER, SPONSOR)
            return await seeder.lifecycle_request(account, SPONSOR)

        stored = bot.db(seed)
        model = LifecycleApprovePayload if verb is Verb.LIFECYCLE_APPROVE else LifecycleRejectPayload
        payload = model(
            lifecycle_request_id=stored.request_id, card_version=stored.version, comment="checked"
        )
        answer = click(bot, role, verb, payload.to_data())
        expected = "approved" if verb is Verb.LIFECYCLE_APPROVE else "rejected"
        return Outcome(bot.lifecycle_status(stored.id) == expected, answer)

    return run


# ------------------------------------------------------------------------------------- segment changes


def segment_command(bot: Bot, role: str) -> Outcome:
    """``segment <upn> <segment>``: done means a change proposed by the caller now waits for an approver."""
    account = _active_account(bot)
    answer = say(bot, role, f"segment {account.upn} {VENDOR_SEGMENT}")
    return Outcome(_proposed_by(bot, account, role), answer)


def segment_propose_click(bot: Bot, role: str) -> Outcome:
    """**Ask for approval** on the segment form, for the same move as the command."""
    account = _active_account(bot)
    payload = SegmentChangeProposePayload(upn=account.upn, segment=VENDOR_SEGMENT)
    answer = click(bot, role, Verb.SEGMENT_CHANGE_PROPOSE, payload.to_data())
    return Outcome(_proposed_by(bot, account, role), answer)


def _proposed_by(bot: Bot, account: ServiceAccount, role: str) -> bool:
    change = bot.open_change(account.upn)
    return (
        change is not None
        and change.status is ChangeStatus.PENDING
        and change.to_segment == VENDOR_SEGMENT
        and change.proposed_by_aad_id == ACTOR[role].aad_object_id
    )


#: Where an approved segment change may be by the time the test reads it (its job starts at once).
CHANGE_APPROVED_OR_LATER = frozenset({ChangeStatus.APPROVED, ChangeStatus.APPLIED, ChangeStatus.FAILED})


def segment_decision_click(verb: Verb) -> Action:
    """A decision on Rita's proposal to move the account she sponsors to a vendor segment."""

    def run(bot: Bot, role: str) -> Outcome:
        async def seed(database: Database) -> SegmentChange:
            seeder = Seeder(database)
            account = await seeder.active_account(REQUESTER, DECIDER, SPONSOR)
            return await seeder.segment_change(account, SPONSOR, VENDOR_SEGMENT)

        change = bot.db(seed)
        model = (
            SegmentChangeApprovePayload if verb is Verb.SEGMENT_CHANGE_APPROVE else SegmentChangeRejectPayload
        )
        payload = model(change_id=change.change_id, card_version=change.version, comment="checked")
        answer = click(bot, role, verb, payload.to_data())
        expected = (
            CHANGE_APPROVED_OR_LATER
            if verb is Verb.SEGMENT_CHANGE_APPROVE
            else frozenset({ChangeStatus.REJECTED})
        )
        return Outcome(bot.change_status(change.number) in expected, answer)

    return run


def segment_retry_click(bot: Bot, role: str) -> Outcome:
    """**Retry** on a failed move of the account Rita sponsors: done means the retry was recorded.

    The audit record, not the change's status: the retried run may fail again before the test reads it.
    """

    async def seed(database: Database) -> SegmentChange:
        seeder = Seeder(database)
        account = await seeder.active_account(REQUESTER, DECIDER, SPONSOR)
        return await seeder.segment_change_failed(account, SPONSOR, DECIDER, VENDOR_SEGMENT)

    change = bot.db(seed)
    payload = SegmentChangeRetryPayload(change_id=change.change_id, card_version=change.version)
    answer = click(bot, role, Verb.SEGMENT_CHANGE_RETRY, payload.to_data())

    async def retried(database: Database) -> bool:
        records = await AuditLog(database).query(action=AuditAction.SEGMENT_CHANGE_RETRIED)
        return any(r.detail.get("change") == change.change_id for r in records)

    return Outcome(bot.db(retried), answer)


# ------------------------------------------------------------------------------------------ bulk batches


def bulk_decision(verb: Verb) -> Action:
    """A decision on a batch Alice submitted (one good row, sponsored by Rita)."""

    def run(bot: Bot, role: str) -> Outcome:
        batch = bot.db(lambda db: Seeder(db).bulk_pending(REQUESTER, SPONSOR))
        model = BulkApprovePayload if verb is Verb.BULK_APPROVE else BulkRejectPayload
        payload = model(batch_id=batch.id, card_version=batch.version, comment="checked")
        answer = click(bot, role, verb, payload.to_data())
        # An approved batch may already be provisioning (or done) when the test reads it.
        expected = (
            frozenset({BatchStatus.APPROVED, BatchStatus.COMPLETED})
            if verb is Verb.BULK_APPROVE
            else frozenset({BatchStatus.REJECTED})
        )
        return Outcome(bot.batch_status(batch.id) in expected, answer)

    return run


def bulk_retry_click(bot: Bot, role: str) -> Outcome:
    """Retry the failed row of an approved batch: done means the row's retry was recorded.

    The audit record, not the row's status: the retried row may fail again before the test reads it.
    """
    batch, row = bot.db(lambda db: Seeder(db).bulk_failed(REQUESTER, DECIDER, SPONSOR))
    payload = BulkRetryFailedPayload(batch_id=batch.id, card_version=batch.version)
    answer = click(bot, role, Verb.BULK_RETRY_FAILED, payload.to_data())
    return Outcome(bot.audited(AuditAction.PROVISIONING_RETRIED, row.request.request_id) > 0, answer)


EVERYONE = frozenset(ROLES) - {"other_tenant"}
REQUESTERS = frozenset({"requester", "sponsor"})
STAFF = frozenset({"requester", "sponsor", "approver", "administrator"})
APPROVERS = frozenset({"approver"})
ADMINISTRATORS = frozenset({"administrator"})
NOT_ALLOWED = "Not allowed"
SPONSOR_OR_ADMIN = frozenset({"sponsor", "administrator"})
#: A lifecycle or segment refusal reads like an unknown account: the card must not tell which accounts exist.
NO_SUCH_ACCOUNT = "that you sponsor. Bot administrators can act on every account."
#: What bulk, lifecycle and segment-change approval cards say to someone who is not an approver.
APPROVERS_DECIDE = "Only members of the approvers group can decide."
#: README "Who may do what", onboarding/lifecycle.py's table: approvers and bot administrators decide
#: lifecycle requests (not their own, not for an account they sponsor).
LIFECYCLE_DECIDERS = "Only approvers and bot administrators can decide."

COMMANDS: tuple[Row, ...] = (
    Row("help", help_command, EVERYONE, "", CommandName.HELP),
    Row("onboard", onboard_command, REQUESTERS, _refusal(RefusedAction.ONBOARD), CommandName.ONBOARD),
    Row("cancel", cancel_command, EVERYONE, "", CommandName.CANCEL),
    # DESIGN §3.4 / README: everyone may list their own requests (someone with no role has none); the
    # accounts and seat counts are for requesters, approvers and administrators.
    Row("requests", plain_command("requests"), EVERYONE, NOT_ALLOWED, CommandName.REQUESTS),
    Row("accounts", plain_command("accounts"), STAFF, NOT_ALLOWED, CommandName.ACCOUNTS),
    Row("licenses", plain_command("licenses"), STAFF, NOT_ALLOWED, CommandName.LICENSES),
    # The account's sponsor and bot administrators (onboarding/lifecycle.py's table); the requester is not
    # the sponsor here, and an approver approves lifecycle requests but does not start them.
    Row("extend <upn>", account_command("extend"), SPONSOR_OR_ADMIN, NO_SUCH_ACCOUNT, CommandName.EXTEND),
    Row(
        "offboard <upn>", account_command("offboard"), SPONSOR_OR_ADMIN, NO_SUCH_ACCOUNT, CommandName.OFFBOARD
    ),
    # The segment catalog and its PowerShell: bot administrators manage it (DESIGN §2), approvers read it.
    Row("barriers", plain_command("barriers"), ADMINISTRATORS | APPROVERS, NOT_ALLOWED, CommandName.BARRIERS),
    # DESIGN §2: bot administrators export the audit log.
    Row(
        "audit export",
        audit_export_command,
        ADMINISTRATORS,
        "You're not allowed to export the audit log.",
        CommandName.AUDIT,
    ),
    # bot/segment_change.py: the account's sponsor or a bot administrator proposes; an approver decides.
    Row("segment <upn> <segment>", segment_command, SPONSOR_OR_ADMIN, NO_SUCH_ACCOUNT, CommandName.SEGMENT),
    Row(
        "approvals here",
        approvals_here,
        ADMINISTRATORS,
        _refusal(RefusedAction.BIND_CHANNEL),
        CommandName.APPROVALS_HERE,
    ),
)

VERBS: tuple[Row, ...] = (
    Row(Verb.COMMAND_RUN, command_button, EVERYONE, ""),
    Row(Verb.WIZARD_NEXT, wizard_click(Verb.WIZARD_NEXT), REQUESTERS, "This onboarding card has ended"),
    Row(Verb.WIZARD_BACK, wizard_click(Verb.WIZARD_BACK), REQUESTERS, "This onboarding card has ended"),
    Row(Verb.WIZARD_CANCEL, wizard_click(Verb.WIZARD_CANCEL), REQUESTERS, "This onboarding card has ended"),
    Row(Verb.WIZARD_SUBMIT, wizard_click(Verb.WIZARD_SUBMIT), REQUESTERS, "This onboarding card has ended"),
    Row(
        Verb.APPROVAL_APPROVE,
        decision(Verb.APPROVAL_APPROVE, APPROVED_OR_LATER),
        APPROVERS,
        "Only members of the approvers group can decide requests.",
    ),
    Row(
        Verb.APPROVAL_REJECT,
        decision(Verb.APPROVAL_REJECT, frozenset({RequestStatus.REJECTED})),
        APPROVERS,
        "Only members of the approvers group can decide requests.",
    ),
    Row(Verb.APPROVAL_RETRY, retry_click, APPROVERS, "Only approvers can retry provisioning."),
    Row(Verb.APPROVAL_CANCEL, cancel_click, APPROVERS, "Only approvers can cancel a request."),
    Row(
        Verb.APPROVAL_REFRESH,
        refresh_click,
        APPROVERS | {"requester"},
        _refusal(RefusedAction.APPROVE),
    ),
    Row(
        Verb.CREDENTIALS_REVEAL,
        reveal_click,
        frozenset({"requester"}),
        "Only the person who requested this account can reveal its password.",
    ),
    Row(
        Verb.BARRIERS_RECORD_APPLIED,
        record_barriers_click,
        ADMINISTRATORS,
        RECORD_REFUSED,
    ),
    Row(Verb.LIST_PAGE, list_page_click, STAFF, NOT_ALLOWED),
    # The requester, approvers and administrators; a named sponsor sees the account, not the request.
    Row(Verb.REQUEST_OPEN, open_request_click, STAFF - {"sponsor"}, NOT_ALLOWED),
    # "A sponsor or administrator asks to move an account to another segment" (cards.actions); the
    # requester is the sponsor unless someone else was named, as here.
    Row(Verb.SEGMENT_CHANGE_PROPOSE, segment_propose_click, SPONSOR_OR_ADMIN, NO_SUCH_ACCOUNT),
    # bot/segment_change.py: approvers decide, never the proposer (Rita, who is no approver).
    Row(
        Verb.SEGMENT_CHANGE_APPROVE,
        segment_decision_click(Verb.SEGMENT_CHANGE_APPROVE),
        APPROVERS,
        APPROVERS_DECIDE,
    ),
    Row(
        Verb.SEGMENT_CHANGE_REJECT,
        segment_decision_click(Verb.SEGMENT_CHANGE_REJECT),
        APPROVERS,
        APPROVERS_DECIDE,
    ),
    # bot/segment_change.py: approvers retry a failed change (as they retry provisioning and bulk rows).
    Row(
        Verb.SEGMENT_CHANGE_RETRY,
        segment_retry_click,
        APPROVERS,
        "Only approvers can retry a segment change.",
    ),
    # bot/bulk_desk.py: approvers decide a batch, never its submitter (Alice, who is no approver).
    Row(Verb.BULK_APPROVE, bulk_decision(Verb.BULK_APPROVE), APPROVERS, APPROVERS_DECIDE),
    Row(Verb.BULK_REJECT, bulk_decision(Verb.BULK_REJECT), APPROVERS, APPROVERS_DECIDE),
    Row(Verb.BULK_RETRY_FAILED, bulk_retry_click, APPROVERS, "Only approvers can retry failed rows."),
    # bot/lifecycle_desk.py / onboarding/lifecycle.py: the account's sponsor or a bot administrator.
    Row(Verb.LIFECYCLE_EXTEND, extend_click, SPONSOR_OR_ADMIN, NO_SUCH_ACCOUNT),
    Row(Verb.LIFECYCLE_OFFBOARD, offboard_click, SPONSOR_OR_ADMIN, NO_SUCH_ACCOUNT),
    Row(Verb.LIFECYCLE_RESET_PASSWORD, reset_password_click, SPONSOR_OR_ADMIN, NO_SUCH_ACCOUNT),
    # Approvers and bot administrators, never on their own request or an account they sponsor (Rita's).
    Row(
        Verb.LIFECYCLE_APPROVE,
        lifecycle_decision(Verb.LIFECYCLE_APPROVE),
        APPROVERS | ADMINISTRATORS,
        LIFECYCLE_DECIDERS,
    ),
    Row(
        Verb.LIFECYCLE_REJECT,
        lifecycle_decision(Verb.LIFECYCLE_REJECT),
        APPROVERS | ADMINISTRATORS,
        LIFECYCLE_DECIDERS,
    ),
)


def _cells(rows: tuple[Row, ...]) -> list[Any]:
    cells = []
    for row in rows:
        for role in ROLES:
            expected = "allowed" if role in row.allowed else "refused"
            bug = row.bugs.get(role)
            marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
            cells.append(pytest.param(row, role, id=f"{row.name}-{role}-{expected}", marks=marks))
    return cells


def test_every_verb_is_in_the_matrix() -> None:
    names = [row.name for row in VERBS]
    assert sorted(names) == sorted(set(Verb))


def test_every_command_is_in_the_matrix() -> None:
    covered = [row.command for row in COMMANDS]
    assert None not in covered
    assert sorted(c for c in covered if c is not None) == sorted(set(CommandName) - {CommandName.UNKNOWN})


def check_cell(bot: Bot, row: Row, role: str) -> None:
    if role == "other_tenant":
        refused_before = bot.refusals()
        outcome = row.run(bot, role)
        answer = outcome.answer
        is_invoke = row in VERBS
        assert answer.status == (403 if is_invoke else 201)
        if is_invoke:
            assert answer.body["value"]["code"] == "Forbidden"
        assert answer.sent == []
        assert not outcome.done
        assert bot.refusals() > refused_before
        return
    outcome = row.run(bot, role)
    assert outcome.answer.status < 500
    if role in row.allowed:
        assert outcome.done, f"{row.name} as {role}: {outcome.answer.text[:600]}"
    else:
        assert not outcome.done
        assert row.refusal in outcome.answer.text, f"{row.name} as {role}: {outcome.answer.text[:600]}"


@pytest.mark.parametrize(("row", "role"), _cells(COMMANDS))
def test_command_cell(bot: Bot, row: Row, role: str) -> None:
    check_cell(bot, row, role)


@pytest.mark.parametrize(("row", "role"), _cells(VERBS))
def test_verb_cell(bot: Bot, row: Row, role: str) -> None:
    check_cell(bot, row, role)


# ------------------------------------------------------------------------------- separation of duties

ADAM_SECOND_ACCOUNT = Person("29:adam-second-account", "Adam (laptop)", ADAM.aad_object_id)


def _own_request_click(bot: Bot, who: Person, verb: Verb) -> tuple[Answer, RequestStatus]:
    adam = person(ADAM.aad_object_id, ADAM.name)
    stored = bot.db(lambda db: Seeder(db).pending(adam))
    stack = bot.stack
    data = {"requestId": stored.request.request_id, "cardVersion": stored.version, "comment": "mine"}
    activity = stack.invoke(execute_value(verb, data), person=who, conversation=personal_chat())
    answer = send(bot, activity, "approver")
    return answer, bot.status_of(stored.request.number)


@pytest.mark.parametrize("verb", [Verb.APPROVAL_APPROVE, Verb.APPROVAL_REJECT])
def test_an_approver_cannot_decide_their_own_request(bot: Bot, verb: Verb) -> None:
    answer, status = _own_request_click(bot, ADAM, verb)
    assert status is RequestStatus.PENDING_APPROVAL
    assert "You submitted this request, so another approver must decide it." in answer.text


@pytest.mark.parametrize("verb", [Verb.APPROVAL_APPROVE, Verb.APPROVAL_REJECT])
def test_nor_through_a_second_teams_account_with_the_same_aad_object_id(bot: Bot, verb: Verb) -> None:
    answer, status = _own_request_click(bot, ADAM_SECOND_ACCOUNT, verb)
    assert status is RequestStatus.PENDING_APPROVAL
    assert "You submitted this request, so another approver must decide it." in answer.text


def test_the_self_approval_attempt_is_audited(bot: Bot) -> None:
    async def reasons(database: Database) -> list[Any]:
        records = await AuditLog(database).query(action=AuditAction.ACCESS_REFUSED, limit=100_000)
        return [r.detail.get("reason") for r in records if r.actor_aad_id == ADAM.aad_object_id]

    before = bot.db(reasons).count("self-approval")
    _own_request_click(bot, ADAM_SECOND_ACCOUNT, Verb.APPROVAL_APPROVE)
    assert bot.db(reasons).count("self-approval") == before + 1


def test_a_different_approver_can_decide_the_same_kind_of_request(bot: Bot) -> None:
    _, status = _own_request_click(bot, PAULA, Verb.APPROVAL_APPROVE)
    assert status in APPROVED_OR_LATER


def _second_account_click(bot: Bot, verb: Verb, data: dict[str, Any]) -> Answer:
    """Adam (approver and bot administrator) clicks through his second Teams account."""
    activity = bot.stack.invoke(
        execute_value(verb, data), person=ADAM_SECOND_ACCOUNT, conversation=personal_chat()
    )
    return send(bot, activity, "approver")


def test_an_approver_cannot_approve_a_bulk_batch_they_submitted(bot: Bot) -> None:
    batch = bot.db(lambda db: Seeder(db).bulk_pending(DECIDER))
    payload = BulkApprovePayload(batch_id=batch.id, card_version=batch.version)
    answer = _second_account_click(bot, Verb.BULK_APPROVE, payload.to_data())
    assert bot.batch_status(batch.id) is BatchStatus.PENDING_APPROVAL
    assert "You submitted this batch, so another approver must decide it." in answer.text


def test_an_approver_cannot_approve_a_segment_change_they_proposed(bot: Bot) -> None:
    async def seed(database: Database) -> SegmentChange:
        seeder = Seeder(database)
        account = await seeder.active_account(REQUESTER, DECIDER, SPONSOR)
        # Adam may propose: he is a bot administrator as well as an approver.
        return await seeder.segment_change(account, DECIDER, VENDOR_SEGMENT)

    change = bot.db(seed)
    payload = SegmentChangeApprovePayload(change_id=change.change_id, card_version=change.version)
    answer = _second_account_click(bot, Verb.SEGMENT_CHANGE_APPROVE, payload.to_data())
    assert bot.change_status(change.number) is ChangeStatus.PENDING
    assert "You proposed this change, so another approver must decide it." in answer.text


def test_an_approver_cannot_approve_a_lifecycle_request_they_made(bot: Bot) -> None:
    async def seed(database: Database) -> StoredLifecycleRequest:
        seeder = Seeder(database)
        account = await seeder.active_account(REQUESTER, DECIDER, SPONSOR)
        # As an administrator Adam extends at once within the maximum; beyond it he must ask an approver.
        far = account.end_date + timedelta(days=365)
        return await seeder.lifecycle_request(account, DECIDER, LifecycleAction.EXTEND, new_end_date=far)

    stored = bot.db(seed)
    payload = LifecycleApprovePayload(lifecycle_request_id=stored.request_id, card_version=stored.version)
    answer = _second_account_click(bot, Verb.LIFECYCLE_APPROVE, payload.to_data())
    assert bot.lifecycle_status(stored.id) == "pending"
    assert "You asked for this or sponsor this account, so another approver must decide." in answer.text


# ------------------------------------------------------------------------------- entry points


def test_a_file_sent_in_the_chat_is_not_a_bulk_upload(bot: Bot) -> None:
    """Bulk CSVs come from the command line only (manifest ``supportsFiles: false``): a file is no command."""
    before = bot.batches()
    attachment = {
        "contentType": "application/vnd.microsoft.teams.file.download.info",
        "name": "crew.csv",
        "contentUrl": "http://127.0.0.1:9/crew.csv",
        "content": {"downloadUrl": "http://127.0.0.1:9/crew.csv", "uniqueId": "1", "fileType": "csv"},
    }
    activity = bot.stack.message(None, person=OMAR, conversation=personal_chat(), attachments=[attachment])
    answer = send(bot, activity, "administrator")
    assert answer.status < 500
    assert help_cards.unknown_command_card("") in answer.cards
    assert bot.batches() == before


# ------------------------------------------------------------------------------- found bugs


def test_a_refused_record_barriers_click_shows_no_contractor_details(bot: Bot) -> None:
    stored = bot.db(lambda db: Seeder(db).provisioned(REQUESTER, DECIDER, SPONSOR))
    answer = click(
        bot,
        "none",
        Verb.BARRIERS_RECORD_APPLIED,
        {"requestId": stored.request.request_id, "cardVersion": stored.version},
    )
    assert stored.request.contractor.email not in answer.text
