"""Authentication and tenancy at the endpoint, beyond the forged-token battery of tests/bot.

The bot runs in production mode over real HTTP with token validation pointed at a local identity server
(which also plays the Bot Connector and records what the bot sends). Each case asserts the HTTP
answer, that the bot said nothing to anyone, and, where the bot refuses an authenticated activity, the
``security.access_refused`` audit record in the test's own database.

Covered here: tokens for another bot, skill and emulator-shaped tokens of other apps, keys endorsed for
another channel, service URLs off the allow-list (also a userinfo look-alike), other tenants (messages
and invokes), the request-size cap (also unauthenticated and chunked), and bodies that are not a JSON
activity. Sandbox mode's loopback-only listener: tests/test_settings.py and test_sandbox_listener.py.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from botframework.connector.auth import AuthenticationConstants, JwtTokenExtractor

from onboarding.audit import AuditAction
from settings import SANDBOX_TENANT_ID
from storage.database import Database
from storage.repositories import AuditLog, AuditRecord
from tests.support.bot_server import running_bot
from tests.support.identity import ISSUER, LocalIdentityServer

APP_ID = "5b0c1f3a-0000-4000-8000-00000000b071"
OTHER_BOT_ID = "0e7e4b07-0000-4000-8000-0000000000b2"
APP_SECRET = "local-test-secret-authn"  # only ever sent to the local identity server
TENANT = "9a8b7c6d-0000-4000-8000-000000000001"
OTHER_TENANT = "00000000-0000-0000-0000-00000000dead"
ALICE_AAD = "a11ce000-0000-4000-8000-000000000001"
#: The Bot Framework's own tenant: skill and emulator tokens are issued there.
BOT_FRAMEWORK_TENANT = "d6d49420-f39b-4df7-a1dc-d59a935871db"
V1_ISSUER = f"https://sts.windows.net/{BOT_FRAMEWORK_TENANT}/"
V2_ISSUER = f"https://login.microsoftonline.com/{BOT_FRAMEWORK_TENANT}/v2.0"
REFUSED = AuditAction.ACCESS_REFUSED

# One bot serves the module (starting one per test costs half a second each): every test shares the
# module's event loop, and reads only the audit records and connector messages that appeared after it began.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def identity() -> Iterator[LocalIdentityServer]:
    with LocalIdentityServer() as server:
        server.state.clients[APP_ID] = APP_SECRET
        yield server


@dataclass
class Bot:
    url: str
    #: The bot's database (its SQLite file in its data folder, or a PostgreSQL database).
    database_url: str
    #: How many access-refused records existed when the current test began.
    refusals_before: int = 0

    async def all_refusals(self) -> list[AuditRecord]:
        database = await Database.connect(self.database_url)
        try:
            return await AuditLog(database).query(action=REFUSED, limit=100_000)
        finally:
            await database.close()

    async def refusals(self) -> list[AuditRecord]:
        """The access-refused audit records written since the current test began."""
        return (await self.all_refusals())[self.refusals_before :]


def production_settings(identity: LocalIdentityServer, **overrides: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "bot_app_id": APP_ID,
        "bot_app_password": APP_SECRET,
        "bot_app_tenant_id": TENANT,
        "allowed_tenant_id": TENANT,
        "bot_openid_metadata_url": identity.metadata_url,
        "bot_token_issuer": ISSUER,
        "bot_login_url": f"{identity.base_url}/{TENANT}",
        "allowed_service_url_prefixes": (identity.service_url,),
    }
    return settings | overrides


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_bot(
    identity: LocalIdentityServer, tmp_path_factory: pytest.TempPathFactory, module_database_url: str | None
) -> AsyncIterator[Bot]:
    # botbuilder caches signing keys per metadata URL in a class-level dict (FACTS.md).
    JwtTokenExtractor.metadataCache.clear()
    data_dir = tmp_path_factory.mktemp("authentication")
    database = {"database_url": module_database_url} if module_database_url else {}
    settings = production_settings(identity, **database)
    async with running_bot(data_dir, production=True, **settings) as url:
        yield Bot(url, module_database_url or f"sqlite+aiosqlite:///{(data_dir / 'bot.db').as_posix()}")


@pytest_asyncio.fixture(loop_scope="module")
async def bot(module_bot: Bot) -> Bot:
    module_bot.refusals_before = len(await module_bot.all_refusals())
    return module_bot


def message(service_url: str, text: str = "help", **fields: Any) -> dict[str, Any]:
    activity: dict[str, Any] = {
        "type": "message",
        "id": str(uuid.uuid4()),
        "channelId": "msteams",
        "serviceUrl": service_url,
        "from": {"id": "29:alice", "name": "Alice", "aadObjectId": ALICE_AAD},
        "recipient": {"id": f"28:{APP_ID}", "name": "Vendor Onboarding"},
        "conversation": {"id": "a:personal-alice", "conversationType": "personal", "tenantId": TENANT},
        "channelData": {"tenant": {"id": TENANT}},
        "text": text,
    }
    return activity | fields


def card_click(service_url: str, **fields: Any) -> dict[str, Any]:
    value = {"action": {"type": "Action.Execute", "verb": "command.run", "data": {"command": "help"}}}
    return message(service_url, text="", type="invoke", name="adaptiveCard/action", value=value, **fields)


@dataclass
class Answer:
    status: int
    body: str
    json: Any


async def post(
    url: str,
    *,
    body: dict[str, Any] | None = None,
    data: bytes | None = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    sent_headers = dict(headers or {})
    if token is not None:
        sent_headers["Authorization"] = f"Bearer {token}"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=body, data=data, headers=sent_headers) as response,
    ):
        text = await response.text()
        parsed = None
        if response.content_type == "application/json":
            parsed = await response.json()
        return Answer(response.status, text, parsed)


def valid_token(identity: LocalIdentityServer, service_url: str | None = None) -> str:
    return identity.mint(audience=APP_ID, service_url=service_url or identity.service_url)


# ---------------------------------------------------------------------- tokens of other identities

#: Tokens a caller other than the Bot Connector for *this* bot could present; each must get 401.
OTHER_IDENTITIES: dict[str, dict[str, Any]] = {
    "token for another bot": {"audience": OTHER_BOT_ID},
    "token for another bot naming us as appid": {"audience": OTHER_BOT_ID, "extra": {"appid": APP_ID}},
    "skill token v1.0 from another bot": {
        "audience": APP_ID,
        "issuer": V1_ISSUER,
        "extra": {"ver": "1.0", "appid": OTHER_BOT_ID},
    },
    "skill token v2.0 from another bot": {
        "audience": APP_ID,
        "issuer": V2_ISSUER,
        "extra": {"ver": "2.0", "azp": OTHER_BOT_ID},
    },
    "skill claims under the channel issuer": {
        "audience": APP_ID,
        "extra": {"ver": "1.0", "appid": OTHER_BOT_ID},
    },
    "anonymous skill": {
        "audience": APP_ID,
        "issuer": V1_ISSUER,
        "extra": {"ver": "1.0", "appid": AuthenticationConstants.ANONYMOUS_SKILL_APP_ID},
    },
    "emulator token v1.0 of another app": {
        "audience": OTHER_BOT_ID,
        "issuer": V1_ISSUER,
        "extra": {"ver": "1.0", "appid": OTHER_BOT_ID},
    },
    "emulator token v2.0 of another app": {
        "audience": OTHER_BOT_ID,
        "issuer": V2_ISSUER,
        "extra": {"ver": "2.0", "azp": OTHER_BOT_ID},
    },
    "emulator token of an unknown version": {
        "audience": APP_ID,
        "issuer": V1_ISSUER,
        "extra": {"ver": "3.0", "appid": APP_ID},
    },
    "token from a tenant issuer": {"audience": APP_ID, "issuer": f"https://sts.windows.net/{TENANT}/"},
}


@pytest.mark.parametrize("case", sorted(OTHER_IDENTITIES))
async def test_tokens_of_other_identities_get_401(identity: LocalIdentityServer, bot: Bot, case: str) -> None:
    sent_before = len(identity.state.sent)
    token = identity.mint(service_url=identity.service_url, **OTHER_IDENTITIES[case])
    answer = await post(bot.url, body=message(identity.service_url), token=token)
    assert answer.status == 401, f"{case}: got {answer.status}"
    assert len(identity.state.sent) == sent_before


@pytest.mark.parametrize("case", sorted(OTHER_IDENTITIES))
async def test_tokens_of_other_identities_cannot_click_cards(
    identity: LocalIdentityServer, bot: Bot, case: str
) -> None:
    token = identity.mint(service_url=identity.service_url, **OTHER_IDENTITIES[case])
    answer = await post(bot.url, body=card_click(identity.service_url), token=token)
    assert answer.status == 401, f"{case}: got {answer.status}"


async def test_no_token_from_the_emulator_channel_as_a_skill_gets_401(
    identity: LocalIdentityServer, bot: Bot
) -> None:
    # botbuilder answers such a call with an anonymous skill identity when authentication is off.
    body = message(identity.service_url, channelId="emulator") | {
        "recipient": {"id": APP_ID, "name": "Vendor Onboarding", "role": "skill"}
    }
    assert (await post(bot.url, body=body)).status == 401


# -------------------------------------------------------------------------------- endorsements


@pytest.fixture
def endorsements(identity: LocalIdentityServer) -> Iterator[list[str]]:
    """The signing key's endorsements, for one test; restored (and the key cache cleared) after."""
    saved = list(identity.state.endorsements)
    try:
        yield identity.state.endorsements
    finally:
        identity.state.endorsements[:] = saved
        JwtTokenExtractor.metadataCache.clear()


# A key with no endorsements at all is valid for every channel (Bot Framework protocol, and botbuilder's
# JwtTokenExtractor); only keys that name their channels restrict them, so that case is not here.
@pytest.mark.parametrize("endorsed_for", [["slack"], ["webchat", "directline"], ["MSTEAMS "]], ids=str)
async def test_a_key_endorsed_only_for_other_channels_is_refused(
    identity: LocalIdentityServer, bot: Bot, endorsements: list[str], endorsed_for: list[str]
) -> None:
    endorsements[:] = endorsed_for
    JwtTokenExtractor.metadataCache.clear()
    sent_before = len(identity.state.sent)
    answer = await post(bot.url, body=message(identity.service_url), token=valid_token(identity))
    assert answer.status == 401
    assert len(identity.state.sent) == sent_before


# ------------------------------------------------------------------------- service URL allow-list


def localhost_spelling(identity: LocalIdentityServer) -> str:
    """The recording connector under another name: replies would arrive, but it is not allow-listed."""
    return f"http://localhost:{identity.port}/"


async def test_a_service_url_off_the_allow_list_gets_no_reply(
    identity: LocalIdentityServer, bot: Bot
) -> None:
    service_url = localhost_spelling(identity)
    sent_before = len(identity.state.sent)
    answer = await post(bot.url, body=message(service_url), token=valid_token(identity, service_url))
    assert answer.status in (200, 201)
    assert len(identity.state.sent) == sent_before


async def test_a_service_url_off_the_allow_list_is_audited(identity: LocalIdentityServer, bot: Bot) -> None:
    service_url = localhost_spelling(identity)
    await post(bot.url, body=message(service_url), token=valid_token(identity, service_url))
    (record,) = await bot.refusals()
    assert "service URL" in record.detail["reason"]
    assert record.actor_aad_id == ALICE_AAD


async def test_a_card_click_from_a_service_url_off_the_allow_list_is_forbidden(
    identity: LocalIdentityServer, bot: Bot
) -> None:
    service_url = localhost_spelling(identity)
    sent_before = len(identity.state.sent)
    answer = await post(bot.url, body=card_click(service_url), token=valid_token(identity, service_url))
    assert answer.status == 403
    assert answer.json["type"] == "application/vnd.microsoft.error"
    assert answer.json["value"]["code"]
    assert len(identity.state.sent) == sent_before
    assert len(await bot.refusals()) == 1


class _Recorder(BaseHTTPRequestHandler):
    """Records every request path; answers like a Bot Connector would."""

    hits: list[str]

    def do_POST(self) -> None:
        self.hits.append(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = b'{"id": "recorded"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_PUT = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def other_loopback_host() -> Iterator[tuple[str, list[str]]]:
    """A recording server on 127.0.0.2 (loopback, but not the allow-listed 127.0.0.1): (origin, hits)."""
    hits: list[str] = []
    handler = type("Recorder", (_Recorder,), {"hits": hits})
    server = ThreadingHTTPServer(("127.0.0.2", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="other-loopback")
    thread.start()
    try:
        yield f"127.0.0.2:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


async def test_a_userinfo_look_alike_of_an_allowed_service_url_gets_no_reply(
    tmp_path: Path, other_loopback_host: tuple[str, list[str]]
) -> None:
    origin, hits = other_loopback_host
    service_url = f"http://127.0.0.1:x@{origin}/"
    async with running_bot(tmp_path, production=False) as url:
        body = message(service_url, channelData={"tenant": {"id": SANDBOX_TENANT_ID}})
        await post(url, body=body)
    assert hits == []


# ------------------------------------------------------------------------------------ tenancy


@pytest.mark.parametrize(
    "channel_data",
    [
        {"tenant": {"id": OTHER_TENANT}},
        {},
        {"tenant": {"id": TENANT.upper() + " "}},
        {"tenant": TENANT},
        {"tenant": [{"id": TENANT}]},
    ],
    ids=["other tenant", "no tenant", "look-alike id", "tenant not an object", "tenant a list"],
)
async def test_activities_from_another_tenant_get_no_reply(
    identity: LocalIdentityServer, bot: Bot, channel_data: dict[str, Any]
) -> None:
    sent_before = len(identity.state.sent)
    body = message(identity.service_url, channelData=channel_data)
    answer = await post(bot.url, body=body, token=valid_token(identity))
    assert answer.status in (200, 201)
    assert len(identity.state.sent) == sent_before


async def test_an_activity_from_another_tenant_is_audited(identity: LocalIdentityServer, bot: Bot) -> None:
    body = message(identity.service_url, channelData={"tenant": {"id": OTHER_TENANT}})
    await post(bot.url, body=body, token=valid_token(identity))
    (record,) = await bot.refusals()
    assert OTHER_TENANT in record.detail["reason"]
    assert (record.actor_aad_id, record.detail["activity_type"]) == (ALICE_AAD, "message")


async def test_a_card_click_from_another_tenant_is_forbidden_and_audited(
    identity: LocalIdentityServer, bot: Bot
) -> None:
    body = card_click(identity.service_url, channelData={"tenant": {"id": OTHER_TENANT}})
    answer = await post(bot.url, body=body, token=valid_token(identity))
    assert (answer.status, answer.json["value"]["code"]) == (403, "Forbidden")
    (record,) = await bot.refusals()
    assert record.detail["activity_type"] == "invoke"


async def test_the_allowed_tenant_is_not_refused(identity: LocalIdentityServer, bot: Bot) -> None:
    # Guards the refusal tests above against passing because everything is refused.
    await post(bot.url, body=message(identity.service_url), token=valid_token(identity))
    assert await bot.refusals() == []


# --------------------------------------------------------------------------------- request size


async def test_an_oversized_body_without_a_token_gets_413(identity: LocalIdentityServer, bot: Bot) -> None:
    answer = await post(bot.url, body=message(identity.service_url, text="x" * 300_000))
    assert answer.status == 413


async def test_an_oversized_chunked_body_gets_413(identity: LocalIdentityServer, bot: Bot) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"type": "message", "text": "'
        for _ in range(40):
            yield b"x" * 10_000
        yield b'"}'

    async with (
        aiohttp.ClientSession() as session,
        session.post(
            bot.url,
            data=chunks(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {valid_token(identity)}"},
        ) as response,
    ):
        assert response.status == 413


async def test_the_cap_follows_the_setting(identity: LocalIdentityServer, tmp_path: Path) -> None:
    JwtTokenExtractor.metadataCache.clear()
    settings = production_settings(identity, max_request_bytes=4096)
    async with running_bot(tmp_path, production=True, **settings) as url:
        small = await post(url, body=message(identity.service_url, text="help"), token=valid_token(identity))
        big = await post(
            url, body=message(identity.service_url, text="x" * 5000), token=valid_token(identity)
        )
    assert (small.status, big.status) == (201, 413)


# ------------------------------------------------------------------------ bodies that are not JSON

#: (Content-Type or None, body) -> must be a 4xx, with or without a valid token.
NOT_AN_ACTIVITY = {
    "text/plain": ("text/plain", b"help"),
    "form": ("application/x-www-form-urlencoded", b"text=help"),
    "multipart": ("multipart/form-data; boundary=x", b"--x--"),
    "xml": ("application/xml", b"<activity/>"),
    "empty JSON object": ("application/json", b"{}"),
    "no content type": (None, b'{"type": "message"}'),
    "invalid JSON": ("application/json", b"{not json"),
    "empty body": ("application/json", b""),
    "JSON array": ("application/json", b'[{"type": "message"}]'),
    "JSON string": ("application/json", b'"message"'),
    "JSON null": ("application/json", b"null"),
    "latin-1 bytes": ("application/json", b'{"type": "message", "text": "\xe9\xff"}'),
    "from is a string": ("application/json", b'{"type": "message", "from": "alice"}'),
    "conversation is a list": ("application/json", b'{"type": "message", "conversation": []}'),
    "timestamp garbage": ("application/json", b'{"type": "message", "timestamp": "yesterday"}'),
}


def _cases(with_token: bool) -> list[Any]:
    cases = []
    for name in sorted(NOT_AN_ACTIVITY):
        cases.append(pytest.param(name, id=name))
    return cases


async def _post_raw(url: str, name: str, token: str | None) -> int:
    content_type, body = NOT_AN_ACTIVITY[name]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    # skip_auto_headers: without it aiohttp adds "application/octet-stream" to a body with no type.
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers, skip_auto_headers=["Content-Type"]) as response,
    ):
        return response.status


@pytest.mark.parametrize("name", _cases(with_token=False))
async def test_a_body_that_is_not_an_activity_gets_4xx_without_a_token(bot: Bot, name: str) -> None:
    status = await _post_raw(bot.url, name, token=None)
    assert 400 <= status < 500, f"{name}: got {status}"


@pytest.mark.parametrize("name", _cases(with_token=True))
async def test_a_body_that_is_not_an_activity_gets_4xx_with_a_valid_token(
    identity: LocalIdentityServer, bot: Bot, name: str
) -> None:
    status = await _post_raw(bot.url, name, token=valid_token(identity))
    assert 400 <= status < 500, f"{name}: got {status}"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
async def test_other_methods_on_the_messages_endpoint_get_405(bot: Bot, method: str) -> None:
    async with aiohttp.ClientSession() as session, session.request(method, bot.url) as response:
        assert response.status == 405
