"""The sandbox tenant as an aiohttp application: Graph v1.0 under ``/v1.0``, control under ``/_sandbox``."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from sandbox.api import (
    DROPPED,
    JSON_CONTENT_TYPE,
    ApiRequest,
    ApiResponse,
    app_id_from_authorization,
    parse_query,
    serve,
)
from sandbox.control import control_routes
from sandbox.persistence import save
from sandbox.tenant import Tenant

log = logging.getLogger(__name__)

TENANT_KEY = web.AppKey("sandbox_tenant", Tenant)
API_PREFIX = "/v1.0"
MAX_BODY_BYTES = 4 * 1024 * 1024


def _to_web(response: ApiResponse) -> web.Response:
    headers = dict(response.headers)
    if response.body is None:
        return web.Response(status=response.status, headers=headers)
    if isinstance(response.body, str):
        content_type = headers.pop("Content-Type", "text/plain")
        return web.Response(
            status=response.status, text=response.body, headers={**headers, "Content-Type": content_type}
        )
    headers.setdefault("Content-Type", JSON_CONTENT_TYPE)
    return web.Response(status=response.status, body=json.dumps(response.body).encode(), headers=headers)


async def _graph(request: web.Request) -> web.StreamResponse:
    tenant = request.app[TENANT_KEY]
    raw = await request.read()
    body: Any = None
    body_is_json = True
    if raw.strip():
        try:
            body = json.loads(raw)
        except ValueError:
            body_is_json = False
    raw_path = request.rel_url.raw_path
    relative = raw_path[len(API_PREFIX) :] if raw_path.startswith(API_PREFIX) else raw_path
    request_id = str(uuid.uuid4())
    api_request = ApiRequest(
        method=request.method,
        path=unquote(relative) or "/",
        # msgraph-sdk's default client sends /v1.0//users (a trailing '/' on its base URL): empty
        # segments are ignored, as Graph's front door does.
        segments=tuple(unquote(s) for s in relative.split("/") if s),
        query=parse_query(request.rel_url.raw_query_string),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=body,
        body_is_json=body_is_json,
        base_url=f"{request.scheme}://{request.host}{API_PREFIX}",
        request_id=request_id,
        client_request_id=request.headers.get("client-request-id", request_id),
        app_id=app_id_from_authorization(request.headers.get("Authorization")),
    )
    outcome = await serve(tenant, api_request)
    if outcome is DROPPED:
        # Close the connection without an answer (the "drop" fault): the client sees a disconnect.
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=500)
    assert isinstance(outcome, ApiResponse)
    return _to_web(outcome)


class _Persister:
    """Saves the tenant after writes, coalescing bursts: at most one save per ``delay`` seconds.

    A burst of writes (a benchmark creating hundreds of users) would otherwise rewrite the whole file
    per write. The pending save is flushed when the app shuts down, so a clean stop loses nothing.
    """

    def __init__(self, tenant: Tenant, path: Path, delay: float = 0.2) -> None:
        self._tenant = tenant
        self._path = path
        self._delay = delay
        self._pending: asyncio.TimerHandle | None = None

    def schedule(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # changed from outside the server's loop: save right away
            self.flush()
            return
        if self._pending is None:
            self._pending = loop.call_later(self._delay, self.flush)

    def flush(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        save(self._tenant, self._path)

    async def on_cleanup(self, app: web.Application) -> None:
        self.flush()


async def _wrong_version(request: web.Request) -> web.Response:
    version = request.path.strip("/").split("/")[0] or "(none)"
    body = {"error": {"code": "BadRequest", "message": f"Invalid version: {version}"}}
    return web.json_response(body, status=400)


async def _control_disabled(request: web.Request) -> web.Response:
    raise web.HTTPNotFound()


def create_app(tenant: Tenant, *, control: bool = False, data_file: Path | None = None) -> web.Application:
    """The aiohttp application serving ``tenant``.

    ``control`` turns on the ``/_sandbox`` control endpoint (404 otherwise). With ``data_file`` the
    tenant's state is saved there after successful writes (bursts coalesced, flushed at shutdown).
    """
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[TENANT_KEY] = tenant
    if data_file is not None:
        persister = _Persister(tenant, data_file)
        tenant.on_change = persister.schedule
        app.on_cleanup.append(persister.on_cleanup)
    if control:
        app.add_routes(control_routes(tenant))
    app.router.add_route("*", "/_sandbox/{tail:.*}", _control_disabled)
    app.router.add_route("*", API_PREFIX, _graph)
    app.router.add_route("*", API_PREFIX + "/{tail:.*}", _graph)
    app.router.add_route("*", "/{tail:.*}", _wrong_version)
    return app
