"""The outside world the bot talks to, in its own process: a recording Bot Connector and the sandbox tenant.

``python -m bench.world`` serves both on free loopback ports, prints one JSON line
``{"connector": <port>, "graph": <port>}`` when ready, and runs until its standard input closes (the
benchmark holds the other end, so the process never outlives it).

Why a separate process: the bot under test sends every reply to the connector and waits for the answer;
a connector on the load generator's event loop would add that loop's queueing to the bot's turn time
(BENCHMARKS.md, "Where the connector runs", has the numbers).

Connector routes (what botbuilder's ``ConnectorClient`` calls), answering 200 with a new activity id:

* ``POST /v3/conversations/{conversation}/activities[/{activity}]`` (send, reply),
* ``PUT /v3/conversations/{conversation}/activities/{activity}`` (update a card),

and for the benchmark: ``GET /_bench/last/{conversation}`` (the last activity sent to it, with the id the
connector gave it under ``id`` when the bot sent none; 404 if none)
and ``GET /_bench/counts``. Only the last activity of each conversation is kept, so a long run does not
grow this process without bound. The sandbox is the one from :mod:`sandbox`, control endpoint enabled;
:class:`SandboxControl` steers it from the benchmark (latency, quota, seats, recorded requests).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from bench.processes import until_stdin_closes
from sandbox.testing import running_sandbox

LOOPBACK = "127.0.0.1"


@dataclass
class Recording:
    """What the connector keeps: the last activity per conversation, and request counts per method."""

    last: dict[str, dict[str, Any]] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)


RECORDING = web.AppKey("recording", Recording)


def create_connector_app() -> web.Application:
    """The recording connector as an aiohttp application."""
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app[RECORDING] = Recording()
    ids = itertools.count(1)

    async def activities(request: web.Request) -> web.Response:
        body = await request.json()
        assigned = request.match_info.get("activity") if request.method == "PUT" else f"sent-{next(ids)}"
        conversation = request.match_info["conversation"]
        recording = request.app[RECORDING]
        recording.last[conversation] = {"id": assigned} | body
        recording.counts[request.method] += 1
        return web.json_response({"id": assigned})

    async def last(request: web.Request) -> web.Response:
        sent = request.app[RECORDING].last.get(request.match_info["conversation"])
        if sent is None:
            raise web.HTTPNotFound()
        return web.json_response(sent)

    async def counts(request: web.Request) -> web.Response:
        return web.json_response(dict(request.app[RECORDING].counts))

    app.router.add_post("/v3/conversations/{conversation}/activities", activities)
    app.router.add_post("/v3/conversations/{conversation}/activities/{activity}", activities)
    app.router.add_put("/v3/conversations/{conversation}/activities/{activity}", activities)
    app.router.add_get("/_bench/last/{conversation}", last)
    app.router.add_get("/_bench/counts", counts)
    return app


async def serve() -> None:
    """Serve the connector and the sandbox until standard input closes."""
    runner = web.AppRunner(create_connector_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, LOOPBACK, 0)
    await site.start()
    connector_port = int(runner.addresses[0][1])
    try:
        async with running_sandbox(control=True) as sandbox:
            print(json.dumps({"connector": connector_port, "graph": sandbox.port}), flush=True)
            await until_stdin_closes()
    finally:
        await runner.cleanup()


def main() -> int:
    """Entry point of ``python -m bench.world``."""
    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


class SandboxControl:
    """The benchmark's side of the sandbox control endpoint (``/_sandbox/...``, :mod:`sandbox.control`)."""

    def __init__(self, session: aiohttp.ClientSession, graph_port: int) -> None:
        self._session = session
        self._origin = f"http://{LOOPBACK}:{graph_port}/_sandbox"

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        async with self._session.request(method, f"{self._origin}{path}", json=body) as response:
            response.raise_for_status()
            return await response.json() if response.content_type == "application/json" else None

    async def reset(self) -> None:
        """Back to the seed: no faults, no latency, no created users, seats as seeded."""
        await self._call("DELETE", "/faults")
        await self._call("POST", "/reset")
        await self._call("DELETE", "/requests")

    async def set_latency(self, *, every_call: float | None = None, per_write: float | None = None) -> None:
        await self._call("PUT", "/latency", {"everyCall": every_call, "perWrite": per_write})

    async def set_quota(self, *, limit: int, window_seconds: float) -> None:
        """The per-app write quota (the tenant-wide one is raised out of the way)."""
        await self._call(
            "PUT",
            "/quota",
            {
                "limit": limit,
                "windowSeconds": window_seconds,
                "tenantLimit": 10**9,
                "tenantWindowSeconds": 300,
            },
        )

    async def restore_quota(self) -> None:
        """Graph's own write quota: 3,000 writes per 150 s per app, 18,000 per 300 s per tenant."""
        await self._call(
            "PUT",
            "/quota",
            {"limit": 3000, "windowSeconds": 150, "tenantLimit": 18000, "tenantWindowSeconds": 300},
        )

    async def set_seats(self, sku_part_number: str, enabled: int) -> None:
        await self._call("PUT", f"/skus/{sku_part_number}", {"enabled": enabled})

    async def requests(self) -> list[dict[str, Any]]:
        """Every Graph request the sandbox answered since the last :meth:`clear_requests`."""
        found: list[dict[str, Any]] = await self._call("GET", "/requests")
        return found

    async def clear_requests(self) -> None:
        await self._call("DELETE", "/requests")
