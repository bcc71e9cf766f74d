"""Teams connector 429: the notifier waits ``Retry-After`` and sends again; exactly one message arrives.

The real notifier (``bot.notifier.TeamsNotifier``) sends through a real ``CloudAdapter`` in sandbox mode
(no bot credentials) to a recording Bot Connector on loopback that answers ``429`` with ``Retry-After``
to the first N calls and then accepts. A refused call delivered nothing, so a send that is retried after
the wait must end in one message, never two. The notifier's sleep is recorded, not waited.

Found while writing these: an *update* (``PUT``) that meets 429 is retried by msrest's own HTTP retry
policy (urllib3 ``Retry``, which honours ``Retry-After`` for idempotent methods) before the notifier sees
it, in real time and outside the notifier's bound and injected sleep; a *send* (``POST``) is not, and the
notifier's own loop waits it out. Both end in one delivered message, which is what these tests assert.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import ChannelAccount, ConversationAccount, ConversationReference
from botframework.connector.models import ErrorResponseException

from bot.auth import create_bot_authentication
from bot.notifier import TeamsNotifier
from settings import SANDBOX_TENANT_ID, load_settings
from storage.database import Database
from storage.once import OnceMarks
from storage.repositories import APPROVALS_CHANNEL, ConversationRefs, user_chat_name
from storage.requests import RequestStore, StepLog
from tests.reliability.seeding import Seeder, person
from tests.security.stack import ADAM, ALICE, APPROVALS_CHANNEL_ID

RETRY_AFTER = 3
REQUESTER = person(ALICE.aad_object_id, ALICE.name)
DECIDER = person(ADAM.aad_object_id, ADAM.name)


@dataclass
class Connector:
    """A Bot Connector that throttles the first ``throttle`` calls, then accepts and records."""

    throttle: int = 0
    retry_after: int = RETRY_AFTER
    calls: list[tuple[str, str]] = field(default_factory=list)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.calls.append((request.method, request.path))
        if self.throttle > 0:
            self.throttle -= 1
            return web.json_response(
                {"error": {"code": "TooManyRequests", "message": "slow down"}},
                status=429,
                headers={"Retry-After": str(self.retry_after)},
            )
        body = await request.json()
        self.accepted.append({"method": request.method, "path": request.path, "activity": body})
        return web.json_response({"id": request.match_info.get("activity") or f"m-{uuid.uuid4().hex[:8]}"})


@dataclass
class Wired:
    notifier: TeamsNotifier
    connector: Connector
    database: Database
    sleeps: list[float]


@pytest.fixture
async def wired(tmp_path: Path, any_migrated_database_url: str) -> AsyncIterator[Wired]:
    connector = Connector()
    app = web.Application()
    app.router.add_post("/v3/conversations/{conversation}/activities", connector.handle)
    app.router.add_post("/v3/conversations/{conversation}/activities/{activity}", connector.handle)
    app.router.add_put("/v3/conversations/{conversation}/activities/{activity}", connector.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    connector.url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
    database = await Database.connect(any_migrated_database_url)
    settings = load_settings(bot_mode="sandbox", data_dir=tmp_path)
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    conversations = ConversationRefs(database)
    await conversations.save(APPROVALS_CHANNEL, _reference(connector.url, APPROVALS_CHANNEL_ID, "channel"))
    await conversations.save(
        user_chat_name(ALICE.aad_object_id), _reference(connector.url, "a:personal-alice", "personal")
    )
    notifier = TeamsNotifier(
        CloudAdapter(create_bot_authentication(settings)),
        app_id="",
        requests=RequestStore(database),
        steps=StepLog(database),
        conversations=conversations,
        marks=OnceMarks(database),
        instance_id="test",
        reveal_window=timedelta(hours=24),
        min_interval=0.0,
        sleep=sleep,
    )
    try:
        yield Wired(notifier, connector, database, sleeps)
    finally:
        await notifier.close()
        await database.close()
        await runner.cleanup()


def _reference(service_url: str, conversation_id: str, kind: str) -> dict[str, Any]:
    reference = ConversationReference(
        channel_id="msteams",
        service_url=service_url,
        conversation=ConversationAccount(
            id=conversation_id, conversation_type=kind, tenant_id=SANDBOX_TENANT_ID
        ),
        bot=ChannelAccount(id="28:vendor-onboarding-bot", name="Vendor Onboarding"),
    )
    serialized: dict[str, Any] = reference.serialize()
    return serialized


async def test_a_throttled_post_is_sent_again_after_retry_after(wired: Wired) -> None:
    stored = await Seeder(wired.database).pending(REQUESTER)
    wired.connector.throttle = 2
    await wired.notifier.post_approval_card(stored.request.number)
    assert wired.sleeps == [RETRY_AFTER, RETRY_AFTER]


async def test_a_throttled_post_arrives_once(wired: Wired) -> None:
    stored = await Seeder(wired.database).pending(REQUESTER)
    wired.connector.throttle = 2
    await wired.notifier.post_approval_card(stored.request.number)
    assert [c[0] for c in wired.connector.calls] == ["POST", "POST", "POST"]
    assert len(wired.connector.accepted) == 1


async def test_the_card_id_of_a_throttled_post_is_kept_for_updates(wired: Wired) -> None:
    stored = await Seeder(wired.database).pending(REQUESTER)
    wired.connector.throttle = 1
    await wired.notifier.post_approval_card(stored.request.number)
    again = await RequestStore(wired.database).get(stored.request.number)
    assert again is not None
    assert again.approval_activity_id is not None


async def test_a_throttled_update_is_sent_again_and_applied_once(wired: Wired) -> None:
    stored = await Seeder(wired.database).pending(REQUESTER)
    await wired.notifier.post_approval_card(stored.request.number)
    wired.connector.calls.clear()
    wired.connector.accepted.clear()
    wired.connector.throttle = 2
    wired.connector.retry_after = 1  # msrest waits this out itself, in real time (see the module notes)
    await wired.notifier.request_changed(stored.request.number)
    await wired.notifier.flush()
    assert [c[0] for c in wired.connector.calls] == ["PUT", "PUT", "PUT"]
    assert [a["method"] for a in wired.connector.accepted] == ["PUT"]


async def test_a_throttled_status_message_reaches_the_requester_once(wired: Wired) -> None:
    stored = await Seeder(wired.database).approved(REQUESTER, DECIDER)
    wired.connector.throttle = 3
    await wired.notifier.request_changed(stored.request.number)
    await wired.notifier.flush()
    to_alice = [a for a in wired.connector.accepted if "a:personal-alice" in a["path"]]
    assert len(to_alice) == 1
    assert wired.sleeps == [RETRY_AFTER] * 3


async def test_a_second_change_does_not_repeat_a_delivered_status_message(wired: Wired) -> None:
    stored = await Seeder(wired.database).approved(REQUESTER, DECIDER)
    wired.connector.throttle = 1
    await wired.notifier.request_changed(stored.request.number)
    await wired.notifier.flush()
    await wired.notifier.request_changed(stored.request.number)
    await wired.notifier.flush()
    assert len([a for a in wired.connector.accepted if "a:personal-alice" in a["path"]]) == 1


async def test_endless_throttling_gives_up_without_delivering(wired: Wired) -> None:
    stored = await Seeder(wired.database).pending(REQUESTER)
    wired.connector.throttle = 1_000
    with pytest.raises(ErrorResponseException):
        await wired.notifier.post_approval_card(stored.request.number)
    assert wired.connector.accepted == []
    assert len(wired.connector.calls) == 5  # bounded: the notifier's attempts, not forever


async def test_a_status_message_given_up_on_is_sent_on_the_next_change(wired: Wired) -> None:
    # The once-mark is released when the send fails, so the message is not lost for good.
    stored = await Seeder(wired.database).approved(REQUESTER, DECIDER)
    wired.connector.throttle = 1_000
    await wired.notifier.request_changed(stored.request.number)
    await wired.notifier.flush()
    wired.connector.throttle = 0
    await wired.notifier.request_changed(stored.request.number)
    await wired.notifier.flush()
    assert len([a for a in wired.connector.accepted if "a:personal-alice" in a["path"]]) == 1
