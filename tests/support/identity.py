"""A local stand-in for the Microsoft side of a Bot Framework conversation, for token tests.

It runs in a background thread with its own event loop: botbuilder fetches OpenID metadata and keys
with blocking ``requests.get`` on the bot's event loop, so a server on that same loop would deadlock.

Routes (all on 127.0.0.1):
  GET  /.well-known/openid-configuration       OpenID metadata naming the JWKS
  GET  /keys                                   the signing key, endorsed for ``msteams``
  POST /{tenant}/oauth2/v2.0/token             client-credentials grant (the bot's outbound token)
  POST /v3/conversations/{id}/activities[/{a}] the Bot Connector: records what the bot sends
  PUT  /v3/conversations/{id}/activities/{a}   card updates, recorded too
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from jwt.algorithms import RSAAlgorithm

ISSUER = "https://api.botframework.com"


def _b64(part: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def new_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class IdentityState:
    key: RSAPrivateKey = field(default_factory=new_key)
    kid: str = "local-signing-key"
    endorsements: list[str] = field(default_factory=lambda: ["msteams"])
    clients: dict[str, str] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    metadata_hits: int = 0


class LocalIdentityServer:
    """OpenID metadata, JWKS, token endpoint and a recording connector, in a daemon thread."""

    def __init__(self) -> None:
        self.state = IdentityState()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def metadata_url(self) -> str:
        return f"{self.base_url}/.well-known/openid-configuration"

    @property
    def service_url(self) -> str:
        """The serviceUrl activities carry: replies go back to this server's connector."""
        return f"{self.base_url}/"

    def mint(
        self,
        *,
        audience: str,
        service_url: str | None,
        issuer: str = ISSUER,
        lifetime: int = 3600,
        not_before_offset: int = -60,
        key: RSAPrivateKey | None = None,
        kid: str | None = None,
        include_exp: bool = True,
        extra: dict[str, Any] | None = None,
    ) -> str:
        """A token shaped like the ones the Bot Connector service sends to a bot."""
        now = int(time.time())
        claims: dict[str, Any] = {"iss": issuer, "aud": audience, "nbf": now + not_before_offset}
        if include_exp:
            claims["exp"] = now + lifetime
        if service_url is not None:
            claims["serviceurl"] = service_url
        claims.update(extra or {})
        return jwt.encode(
            claims, key or self.state.key, algorithm="RS256", headers={"kid": kid or self.state.kid}
        )

    def unsigned(self, *, audience: str, service_url: str) -> str:
        """An ``alg: none`` token: header and claims, no signature."""
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": audience,
            "serviceurl": service_url,
            "nbf": now - 60,
            "exp": now + 3600,
        }
        header = {"alg": "none", "typ": "JWT", "kid": self.state.kid}
        return f"{_b64(header)}.{_b64(claims)}."

    def _app(self) -> web.Application:
        state = self.state

        async def openid(_request: web.Request) -> web.Response:
            state.metadata_hits += 1
            return web.json_response(
                {
                    "issuer": ISSUER,
                    "jwks_uri": f"{self.base_url}/keys",
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                }
            )

        async def keys(_request: web.Request) -> web.Response:
            jwk = json.loads(RSAAlgorithm.to_jwk(state.key.public_key()))
            jwk.update({"kid": state.kid, "use": "sig", "alg": "RS256", "endorsements": state.endorsements})
            return web.json_response({"keys": [jwk]})

        async def token(request: web.Request) -> web.Response:
            form = {k: str(v) for k, v in (await request.post()).items()}
            state.token_requests.append({k: v for k, v in form.items() if k != "client_secret"})
            if state.clients.get(form.get("client_id", "")) != form.get("client_secret"):
                return web.json_response({"error": "invalid_client"}, status=401)
            now = int(time.time())
            access = jwt.encode(
                {
                    "aud": form.get("scope", "").removesuffix("/.default"),
                    "appid": form.get("client_id"),
                    "iat": now,
                    "nbf": now,
                    "exp": now + 3600,
                },
                state.key,
                algorithm="RS256",
                headers={"kid": state.kid},
            )
            return web.json_response({"token_type": "Bearer", "expires_in": 3599, "access_token": access})

        async def activities(request: web.Request) -> web.Response:
            body = await request.json()
            state.sent.append(
                {
                    "method": request.method,
                    "path": request.path,
                    "authorization": request.headers.get("Authorization"),
                    "activity": body,
                }
            )
            return web.json_response({"id": str(uuid.uuid4())})

        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", openid)
        app.router.add_get("/keys", keys)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", token)
        app.router.add_post("/v3/conversations/{conversation}/activities", activities)
        app.router.add_post("/v3/conversations/{conversation}/activities/{activity}", activities)
        app.router.add_put("/v3/conversations/{conversation}/activities/{activity}", activities)
        return app

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop

        async def serve() -> None:
            self._runner = web.AppRunner(self._app(), access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            server = site._server  # aiohttp exposes the bound port only here
            assert server is not None
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
            self._ready.set()

        loop.run_until_complete(serve())
        loop.run_forever()
        assert self._runner is not None
        loop.run_until_complete(self._runner.cleanup())
        loop.close()

    def __enter__(self) -> LocalIdentityServer:
        self._thread = threading.Thread(target=self._run, daemon=True, name="local-identity")
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("local identity server did not start")
        return self

    def __exit__(self, *_exc: object) -> None:
        assert self._loop is not None
        assert self._thread is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
