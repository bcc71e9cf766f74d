"""Logs are JSON lines with the turn's correlation id, and never hold a secret or a token.

The product's own logging (``observability.configure_logging``, at DEBUG so every library speaks) is
captured for the whole module. The bot runs in production mode with token validation pointed at a
local identity server, which also issues the bot's outbound token and records what the bot sends.
After the forged-token battery of tests/bot and valid round trips (a message and a card click), every
log line and every message the connector received is searched for the bot's client secret, the Graph
client secret, the secrets key, every token the test minted and every outbound token the bot used.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from botframework.connector.auth import JwtTokenExtractor

from tests.bot.test_token_validation import APP_ID, FORGERIES
from tests.security.leaks import MIN_SECRET_LENGTH, assert_no_secrets
from tests.security.stack import CapturedLogs
from tests.support.bot_server import PRODUCTION_PLACEHOLDERS, OfflineDirectory, running_bot
from tests.support.identity import ISSUER, LocalIdentityServer

APP_SECRET = "hygiene-bot-secret-4f1c9a"  # only ever sent to the local identity server
TENANT = "9a8b7c6d-0000-4000-8000-000000000001"
OTHER_TENANT = "00000000-0000-0000-0000-00000000dead"
ADMIN_AAD = "adaa0000-0000-4000-8000-000000000003"

pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class Traffic:
    """What the module's requests produced: the tokens they carried, and the bot's URL."""

    url: str
    minted: list[str]


@pytest.fixture(scope="module")
def logs() -> Iterator[CapturedLogs]:
    with CapturedLogs("DEBUG") as captured:
        yield captured


@pytest.fixture(scope="module")
def identity() -> Iterator[LocalIdentityServer]:
    with LocalIdentityServer() as server:
        server.state.clients[APP_ID] = APP_SECRET
        yield server


def bot_settings(identity: LocalIdentityServer) -> dict[str, Any]:
    return {
        "bot_app_id": APP_ID,
        "bot_app_password": APP_SECRET,
        "bot_app_tenant_id": TENANT,
        "allowed_tenant_id": TENANT,
        "bot_openid_metadata_url": identity.metadata_url,
        "bot_token_issuer": ISSUER,
        "bot_login_url": f"{identity.base_url}/{TENANT}",
        "allowed_service_url_prefixes": (identity.service_url,),
    }


def message(identity: LocalIdentityServer, text: str = "help", **fields: Any) -> dict[str, Any]:
    activity: dict[str, Any] = {
        "type": "message",
        "id": str(uuid.uuid4()),
        "channelId": "msteams",
        "serviceUrl": identity.service_url,
        "from": {"id": "29:adam", "name": "Adam", "aadObjectId": ADMIN_AAD},
        "recipient": {"id": f"28:{APP_ID}", "name": "Vendor Onboarding"},
        "conversation": {"id": "a:personal-adam", "conversationType": "personal"},
        "channelData": {"tenant": {"id": TENANT}},
        "text": text,
    }
    return activity | fields


def channel_message(identity: LocalIdentityServer, text: str) -> dict[str, Any]:
    return message(
        identity,
        text,
        conversation={"id": "19:approvals@thread.tacv2;messageid=1", "conversationType": "channel"},
        channelData={"tenant": {"id": TENANT}, "channel": {"id": "19:approvals@thread.tacv2"}},
    )


async def post(url: str, body: dict[str, Any], token: str | None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with aiohttp.ClientSession() as session, session.post(url, json=body, headers=headers) as response:
        parsed = await response.json() if response.content_type == "application/json" else None
        return response.status, parsed


def mint(identity: LocalIdentityServer) -> str:
    return identity.mint(audience=APP_ID, service_url=identity.service_url)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def traffic(
    logs: CapturedLogs,
    identity: LocalIdentityServer,
    tmp_path_factory: pytest.TempPathFactory,
    module_database_url: str | None,
) -> AsyncIterator[Traffic]:
    """The bot, after the forged-token battery, a valid message and a valid card click."""
    JwtTokenExtractor.metadataCache.clear()
    minted: list[str] = []
    data_dir = tmp_path_factory.mktemp("log-hygiene")
    settings = bot_settings(identity)
    if module_database_url:
        settings["database_url"] = module_database_url
    async with running_bot(data_dir, production=True, **settings) as url:
        for case in sorted(FORGERIES):
            token = FORGERIES[case](identity)
            if token is not None:
                minted.append(token)
            status, _ = await post(url, message(identity), token)
            assert status == 401, case
        valid = mint(identity)
        minted.append(valid)
        assert (await post(url, message(identity, "help"), valid))[0] == 201
        click = {"action": {"type": "Action.Execute", "verb": "command.run", "data": {"command": "help"}}}
        valid_click = mint(identity)
        minted.append(valid_click)
        status, _ = await post(
            url, message(identity, "", type="invoke", name="adaptiveCard/action", value=click), valid_click
        )
        assert status == 200
        yield Traffic(url, minted)


def outbound_tokens(identity: LocalIdentityServer) -> list[str]:
    """The bearer tokens the bot presented to the connector (issued to it by the identity server)."""
    tokens = {
        entry["authorization"].removeprefix("Bearer ")
        for entry in identity.state.sent
        if entry.get("authorization")
    }
    return sorted(tokens)


def connector_texts(identity: LocalIdentityServer) -> list[str]:
    """Every message the bot sent, as JSON, without the Authorization header it legitimately carries."""
    return [json.dumps(entry["activity"], ensure_ascii=False) for entry in identity.state.sent]


def searchable(tokens: Iterable[str]) -> list[str]:
    return [token for token in tokens if len(token) >= MIN_SECRET_LENGTH]


# ------------------------------------------------------------------------------------ structure


async def test_every_log_line_is_one_json_object(traffic: Traffic, logs: CapturedLogs) -> None:
    entries = logs.entries()
    assert entries, "the bot logged nothing: the capture is not working"
    for entry in entries:
        assert {"at", "level", "logger", "message"} <= set(entry), entry


async def test_a_refusal_inside_a_turn_carries_that_turns_correlation_id(
    traffic: Traffic, logs: CapturedLogs, identity: LocalIdentityServer
) -> None:
    mark = logs.mark()
    body = message(identity, channelData={"tenant": {"id": OTHER_TENANT}})
    await post(traffic.url, body, mint(identity))
    await post(traffic.url, body, mint(identity))
    refusals = [
        entry for entry in logs.entries_since(mark) if entry["message"].startswith("refused activity")
    ]
    assert len(refusals) == 2
    ids = [entry.get("correlation_id") for entry in refusals]
    assert all(ids), "a log line written inside a turn must carry the turn's correlation id"
    assert ids[0] != ids[1], "two turns share a correlation id"


class FailingDirectory(OfflineDirectory):
    """Graph is down: every role check fails."""

    async def check_member_groups(self, user_id: str, group_ids: Iterable[str]) -> frozenset[str]:
        raise RuntimeError("simulated directory outage with internal detail 7d3f")


async def test_a_failed_turn_logs_the_reference_the_user_is_given(
    logs: CapturedLogs, identity: LocalIdentityServer, tmp_path: Path
) -> None:
    JwtTokenExtractor.metadataCache.clear()
    mark = logs.mark()
    sent_before = len(identity.state.sent)
    async with running_bot(
        tmp_path, production=True, graph=FailingDirectory(), **bot_settings(identity)
    ) as url:
        status, _ = await post(url, channel_message(identity, "<at>Bot</at> approvals here"), mint(identity))
    assert status == 201
    failures = [entry for entry in logs.entries_since(mark) if entry["level"] == "ERROR"]
    assert failures, "the failed turn was not logged"
    reference = failures[0].get("correlation_id")
    assert reference, "the failure log line has no correlation id"
    (told,) = [entry["activity"] for entry in identity.state.sent[sent_before:]]
    assert reference in json.dumps(told)
    assert "7d3f" not in json.dumps(told), "exception text reached the user"


# -------------------------------------------------------------------------------------- secrets


async def test_the_battery_and_round_trips_were_seen_by_the_search(
    traffic: Traffic, logs: CapturedLogs, identity: LocalIdentityServer
) -> None:
    # Guards the leak searches below against passing vacuously.
    assert len(searchable(traffic.minted)) >= len(FORGERIES)
    assert outbound_tokens(identity), "the bot never presented an outbound token"
    assert connector_texts(identity)
    assert len(logs.lines()) > len(FORGERIES)


async def test_no_secret_or_token_in_any_log_line(
    traffic: Traffic, logs: CapturedLogs, identity: LocalIdentityServer
) -> None:
    secrets = [
        APP_SECRET,
        PRODUCTION_PLACEHOLDERS["graph_client_secret"],
        PRODUCTION_PLACEHOLDERS["secrets_key"],
        *searchable(traffic.minted),
        *outbound_tokens(identity),
    ]
    assert_no_secrets(logs.lines(), secrets)


async def test_no_secret_or_token_in_any_message_the_bot_sent(
    traffic: Traffic, identity: LocalIdentityServer
) -> None:
    secrets = [
        APP_SECRET,
        PRODUCTION_PLACEHOLDERS["graph_client_secret"],
        PRODUCTION_PLACEHOLDERS["secrets_key"],
        *searchable(traffic.minted),
        *outbound_tokens(identity),
    ]
    assert_no_secrets(connector_texts(identity), secrets)
