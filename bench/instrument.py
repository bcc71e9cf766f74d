"""In-process timing of a bot's ``/api/messages`` handler, read back over HTTP by the benchmark.

:func:`instrument` adds, to an aiohttp application that is not yet started:

* an outermost middleware that times every ``POST /api/messages`` from the moment aiohttp hands the
  request to the application until the response is ready (the "server time": body parsing, the
  adapter, the bot, its storage and its replies to the connector; not the socket work before and after),
  tagged with the request's ``X-Bench-Tag`` header so set-up turns can be told from measured ones;
* ``POST /_bench/reset``: forget the samples, start counting process CPU time from now;
* ``GET /_bench/timings``: ``{"samples": {tag: [ns, ...]}, "cpuSeconds": ..., "statuses": {...}}``.

Both bots under comparison get exactly this instrumentation, nothing else.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Handler

TAG_HEADER = "X-Bench-Tag"
MESSAGES_PATH = "/api/messages"


@dataclass
class Timings:
    """Samples since the last reset."""

    samples: defaultdict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[int] = field(default_factory=Counter)
    cpu_since: float = field(default_factory=time.process_time)

    def reset(self) -> None:
        self.samples.clear()
        self.statuses.clear()
        self.cpu_since = time.process_time()


TIMINGS = web.AppKey("bench_timings", Timings)


@web.middleware
async def _time_messages(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path != MESSAGES_PATH:
        return await handler(request)
    started = time.perf_counter_ns()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as err:
        status = err.status
        raise
    finally:
        timings = request.app[TIMINGS]
        timings.samples[request.headers.get(TAG_HEADER, "")].append(time.perf_counter_ns() - started)
        timings.statuses[status] += 1


async def _reset(request: web.Request) -> web.Response:
    request.app[TIMINGS].reset()
    return web.Response(status=204)


async def _timings(request: web.Request) -> web.Response:
    timings = request.app[TIMINGS]
    return web.json_response(
        {
            "samples": timings.samples,
            "statuses": {str(k): v for k, v in timings.statuses.items()},
            "cpuSeconds": time.process_time() - timings.cpu_since,
        }
    )


def instrument(app: web.Application) -> web.Application:
    """Add the timing middleware (outermost) and the ``/_bench`` routes; returns ``app``."""
    app[TIMINGS] = Timings()
    app.middlewares.insert(0, _time_messages)
    app.router.add_post("/_bench/reset", _reset)
    app.router.add_get("/_bench/timings", _timings)
    return app
