"""The real botbuilder validates tokens against a local OpenID server: forged tokens get 401, never 500.

The bot runs in production mode over real HTTP; its token-validation endpoints point at a local identity
server (settings BOT_OPENID_METADATA_URL, BOT_TOKEN_ISSUER, BOT_LOGIN_URL), which also plays the Bot
Connector and records what the bot sends.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiohttp
import pytest
from botframework.connector.auth import JwtTokenExtractor

from tests.support.bot_server import running_bot
from tests.support.identity import ISSUER, LocalIdentityServer, new_key

APP_ID = "5b0c1f3a-0000-4000-8000-00000000b071"
APP_SECRET = "local-test-secret"  # only ever sent to the local identity server
TENANT = "9a8b7c6d-0000-4000-8000-000000000001"


@pytest.fixture(scope="module")
def identity() -> Iterator[LocalIdentityServer]:
    with LocalIdentityServer() as server:
        server.state.clients[APP_ID] = APP_SECRET
        yield server


@pytest.fixture
async def bot(identity: LocalIdentityServer, tmp_path: Any) -> AsyncIterator[str]:
    # botbuilder caches signing keys per metadata URL in a class-level dict (FACTS.md).
    JwtTokenExtractor.metadataCache.clear()
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
    async with running_bot(tmp_path, production=True, **settings) as url:
        yield url


def message(identity: LocalIdentityServer, text: str = "help") -> dict[str, Any]:
    return {
        "type": "message",
        "id": str(uuid.uuid4()),
        "channelId": "msteams",
        "serviceUrl": identity.service_url,
        "from": {"id": "29:alice", "name": "Alice", "aadObjectId": "a11ce000-0000-4000-8000-000000000001"},
        "recipient": {"id": f"28:{APP_ID}", "name": "Vendor Onboarding"},
        "conversation": {"id": "a:personal-alice", "conversationType": "personal", "tenantId": TENANT},
        "channelData": {"tenant": {"id": TENANT}},
        "text": text,
    }


async def post(url: str, body: dict[str, Any], token: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with aiohttp.ClientSession() as session, session.post(url, json=body, headers=headers) as response:
        return response.status


async def test_a_valid_token_is_accepted_and_the_reply_is_signed(
    identity: LocalIdentityServer, bot: str
) -> None:
    sent_before = len(identity.state.sent)
    token = identity.mint(audience=APP_ID, service_url=identity.service_url)
    assert await post(bot, message(identity), token) == 201
    replies = identity.state.sent[sent_before:]
    assert len(replies) == 1
    assert (
        replies[0]["activity"]["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    )
    assert replies[0]["authorization"].startswith("Bearer ")
    assert APP_SECRET not in replies[0]["authorization"]


async def test_outbound_token_is_requested_once_for_many_turns(
    identity: LocalIdentityServer, bot: str
) -> None:
    before = len(identity.state.token_requests)
    for _ in range(5):
        token = identity.mint(audience=APP_ID, service_url=identity.service_url)
        assert await post(bot, message(identity), token) == 201
    assert len(identity.state.token_requests) - before <= 1


FORGERIES: dict[str, Callable[[LocalIdentityServer], str | None]] = {
    "missing header": lambda idp: None,
    "empty token": lambda idp: "",
    "expired beyond leeway": lambda idp: idp.mint(
        audience=APP_ID, service_url=idp.service_url, lifetime=-600
    ),
    "not yet valid": lambda idp: idp.mint(
        audience=APP_ID, service_url=idp.service_url, not_before_offset=600
    ),
    "wrong key": lambda idp: idp.mint(audience=APP_ID, service_url=idp.service_url, key=new_key()),
    "unknown kid": lambda idp: idp.mint(audience=APP_ID, service_url=idp.service_url, kid="rotated-away"),
    "alg none": lambda idp: idp.unsigned(audience=APP_ID, service_url=idp.service_url),
    "no exp": lambda idp: idp.mint(audience=APP_ID, service_url=idp.service_url, include_exp=False),
    "wrong audience": lambda idp: idp.mint(audience="another-bot", service_url=idp.service_url),
    "wrong issuer": lambda idp: idp.mint(
        audience=APP_ID, service_url=idp.service_url, issuer="https://evil.example"
    ),
    "wrong serviceurl claim": lambda idp: idp.mint(audience=APP_ID, service_url="https://smba.evil.example/"),
    "no serviceurl claim": lambda idp: idp.mint(audience=APP_ID, service_url=None),
    "garbage": lambda idp: "not.a.jwt",
}


@pytest.mark.parametrize("case", sorted(FORGERIES))
async def test_forged_tokens_get_401(identity: LocalIdentityServer, bot: str, case: str) -> None:
    sent_before = len(identity.state.sent)
    status = await post(bot, message(identity), FORGERIES[case](identity))
    assert status == 401, f"{case}: got {status}"
    assert len(identity.state.sent) == sent_before, "a refused request must not make the bot talk"


async def test_an_endorsement_for_another_channel_is_refused(identity: LocalIdentityServer, bot: str) -> None:
    token = identity.mint(audience=APP_ID, service_url=identity.service_url)
    body = message(identity) | {"channelId": "slack"}
    assert await post(bot, body, token) == 401


async def test_another_tenant_gets_no_reply(identity: LocalIdentityServer, bot: str) -> None:
    sent_before = len(identity.state.sent)
    token = identity.mint(audience=APP_ID, service_url=identity.service_url)
    body = message(identity) | {"channelData": {"tenant": {"id": "00000000-0000-0000-0000-00000000dead"}}}
    assert await post(bot, body, token) == 201
    assert len(identity.state.sent) == sent_before


async def test_oversized_bodies_are_refused(identity: LocalIdentityServer, bot: str) -> None:
    token = identity.mint(audience=APP_ID, service_url=identity.service_url)
    body = message(identity, text="x" * 400_000)
    assert await post(bot, body, token) == 413
