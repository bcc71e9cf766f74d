"""The HTTP control endpoint, ``/_sandbox/...``: faults, latency, quota, recorded requests, seats, reset.

It exists for tests and benchmarks that drive a sandbox running in another process. It is off unless
the server is started with control enabled; then it is served on the same loopback port. When off,
every ``/_sandbox`` path answers 404, so a sandbox started for a demo cannot be steered remotely.

Routes (JSON bodies use camelCase):

* ``GET /_sandbox/faults``, ``POST /_sandbox/faults`` ``{kind, route, times, retryAfter, seconds,
  afterEffect}``, ``DELETE /_sandbox/faults`` (clears faults and latency);
* ``PUT /_sandbox/latency`` ``{everyCall, perWrite}``; ``PUT /_sandbox/quota`` ``{limit,
  windowSeconds, tenantLimit, tenantWindowSeconds}``;
* ``GET /_sandbox/requests``, ``DELETE /_sandbox/requests``;
* ``GET /_sandbox/seats``, ``PUT /_sandbox/skus/{skuPartNumber}`` ``{enabled}``;
* ``POST /_sandbox/reset`` (restores the seed).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from sandbox.recording import RecordedRequest
from sandbox.routes import describe
from sandbox.seed import seed_snapshot
from sandbox.tenant import Tenant


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class FaultSpec(_Wire):
    """A fault to inject (the arguments of ``Faults.inject``)."""

    kind: str
    route: str | None = None
    times: int | None = Field(default=1, ge=1)
    retry_after: float = Field(default=1, ge=0)
    seconds: float = Field(default=0, ge=0)
    after_effect: bool = False


class LatencySpec(_Wire):
    """Global latency knobs, in seconds."""

    every_call: float | None = Field(default=None, ge=0)
    per_write: float | None = Field(default=None, ge=0)


class QuotaSpec(_Wire):
    """Write quota limits."""

    limit: int | None = Field(default=None, ge=1)
    window_seconds: float | None = Field(default=None, gt=0)
    tenant_limit: int | None = Field(default=None, ge=1)
    tenant_window_seconds: float | None = Field(default=None, gt=0)


class SeatsSpec(_Wire):
    """Purchased seats of one SKU."""

    enabled: int = Field(ge=0)


def _record_json(r: RecordedRequest) -> dict[str, Any]:
    return {
        "method": r.method,
        "path": r.path,
        "route": describe(r.route) if r.route else None,
        "query": r.query,
        "body": r.body,
        "status": r.status,
        "time": r.time.isoformat(),
        "requestId": r.request_id,
        "isWrite": r.is_write,
        "batchRequestId": r.batch_request_id,
    }


async def _parse(request: web.Request, model: type[_Wire]) -> Any:
    try:
        return model.model_validate(await request.json())
    except (ValueError, ValidationError) as err:
        raise web.HTTPBadRequest(text=str(err)) from None


def control_routes(tenant: Tenant) -> list[web.RouteDef]:
    """The control endpoint's routes, bound to ``tenant``."""
    routes = web.RouteTableDef()

    @routes.get("/_sandbox/faults")
    async def list_faults(request: web.Request) -> web.Response:
        return web.json_response([f.to_json() for f in tenant.faults.active])

    @routes.post("/_sandbox/faults")
    async def add_fault(request: web.Request) -> web.Response:
        spec: FaultSpec = await _parse(request, FaultSpec)
        try:
            fault = tenant.faults.inject(
                spec.kind,
                route=spec.route,
                times=spec.times,
                retry_after=spec.retry_after,
                seconds=spec.seconds,
                after_effect=spec.after_effect,
            )
        except ValueError as err:
            raise web.HTTPBadRequest(text=str(err)) from None
        return web.json_response(fault.to_json(), status=201)

    @routes.delete("/_sandbox/faults")
    async def clear_faults(request: web.Request) -> web.Response:
        tenant.faults.clear()
        return web.Response(status=204)

    @routes.put("/_sandbox/latency")
    async def set_latency(request: web.Request) -> web.Response:
        spec: LatencySpec = await _parse(request, LatencySpec)
        tenant.faults.set_latency(every_call=spec.every_call, per_write=spec.per_write)
        return web.json_response(
            {"everyCall": tenant.faults.every_call_latency, "perWrite": tenant.faults.per_write_latency}
        )

    @routes.put("/_sandbox/quota")
    async def set_quota(request: web.Request) -> web.Response:
        spec: QuotaSpec = await _parse(request, QuotaSpec)
        tenant.faults.write_quota.configure(
            limit=spec.limit,
            window_seconds=spec.window_seconds,
            tenant_limit=spec.tenant_limit,
            tenant_window_seconds=spec.tenant_window_seconds,
        )
        return web.Response(status=204)

    @routes.get("/_sandbox/requests")
    async def list_requests(request: web.Request) -> web.Response:
        return web.json_response([_record_json(r) for r in tenant.requests])

    @routes.delete("/_sandbox/requests")
    async def clear_requests(request: web.Request) -> web.Response:
        tenant.requests.clear()
        return web.Response(status=204)

    @routes.get("/_sandbox/seats")
    async def seats(request: web.Request) -> web.Response:
        with tenant.lock:
            names = [s["skuPartNumber"] for s in tenant.skus.values()]
        result = {}
        for name in names:
            consumed, enabled = tenant.seats(name)
            result[name] = {"consumed": consumed, "enabled": enabled}
        return web.json_response(result)

    @routes.put("/_sandbox/skus/{part_number}")
    async def set_seats(request: web.Request) -> web.Response:
        spec: SeatsSpec = await _parse(request, SeatsSpec)
        try:
            tenant.set_prepaid_units(request.match_info["part_number"], spec.enabled)
        except KeyError:
            raise web.HTTPNotFound(text="no such SKU") from None
        tenant.changed()
        return web.Response(status=204)

    @routes.post("/_sandbox/reset")
    async def reset(request: web.Request) -> web.Response:
        tenant.restore(seed_snapshot())
        tenant.changed()
        return web.Response(status=204)

    return [r for r in routes if isinstance(r, web.RouteDef)]
