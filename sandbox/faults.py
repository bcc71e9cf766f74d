"""Faults on demand and Graph's identity write quota.

Kinds (``Faults.inject``):

* ``throttle`` -> 429 with ``Retry-After``; ``unavailable`` -> 503 with ``Retry-After``;
  ``gateway_timeout`` -> 504; ``drop`` -> the connection is closed without an answer;
  ``latency`` -> the answer is delayed by ``seconds``;
* ``replication_lag`` -> the next user(s) created answer 404 ``Request_ResourceNotFound`` on every route
  addressing them (or only on ``route``) until ``seconds`` have passed on the tenant's clock. This is
  the eventual consistency "Create user" and "Designing for eventual consistency" warn about.

Failing kinds accept ``after_effect=True``: the request is carried out first and the error (or the
drop) is answered afterwards, as when Graph created the user but the response was lost.

The write quota models "Microsoft Graph service-specific throttling limits", identity and access:
3,000 writes per 150 seconds per app per tenant and 18,000 per 300 seconds per tenant, as token
buckets; an exhausted bucket answers 429 with ``Retry-After``.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sandbox.clock import Clock
from sandbox.routes import RouteKey, describe, known_route


class FaultKind(StrEnum):
    """What an injected fault does."""

    THROTTLE = "throttle"
    UNAVAILABLE = "unavailable"
    GATEWAY_TIMEOUT = "gateway_timeout"
    LATENCY = "latency"
    DROP = "drop"
    REPLICATION_LAG = "replication_lag"


FAILING_KINDS = frozenset(
    {FaultKind.THROTTLE, FaultKind.UNAVAILABLE, FaultKind.GATEWAY_TIMEOUT, FaultKind.DROP}
)


@dataclass
class Fault:
    """One injected fault. ``remaining`` is None when it lasts until cleared."""

    kind: FaultKind
    route: RouteKey | None
    remaining: int | None
    retry_after: float
    seconds: float
    after_effect: bool
    fired: int = 0

    def to_json(self) -> dict[str, Any]:
        """The control endpoint's view of this fault."""
        return {
            "kind": self.kind.value,
            "route": describe(self.route) if self.route else None,
            "remaining": self.remaining,
            "retryAfter": self.retry_after,
            "seconds": self.seconds,
            "afterEffect": self.after_effect,
            "fired": self.fired,
        }


@dataclass(frozen=True)
class QuotaDecision:
    """The write quota's answer: allowed, or wait ``retry_after`` seconds (``scope`` names the bucket)."""

    allowed: bool
    retry_after: int = 0
    scope: str = ""


class _Bucket:
    def __init__(self, capacity: int, window: float, now: float) -> None:
        self.capacity = capacity
        self.rate = capacity / window
        self.tokens = float(capacity)
        self.updated = now

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def wait_for_one(self) -> int:
        return max(1, math.ceil((1 - self.tokens) / self.rate))


class WriteQuota:
    """Token buckets per app (per tenant, as the sandbox is one tenant) and for the whole tenant."""

    def __init__(
        self,
        clock: Clock,
        *,
        limit: int = 3000,
        window_seconds: float = 150.0,
        tenant_limit: int = 18000,
        tenant_window_seconds: float = 300.0,
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.limit = limit
        self.window_seconds = window_seconds
        self.tenant_limit = tenant_limit
        self.tenant_window_seconds = tenant_window_seconds
        self._apps: dict[str, _Bucket] = {}
        self._tenant = self._refilled()

    def _refilled(self) -> _Bucket:
        if (
            min(self.limit, self.tenant_limit) < 1
            or min(self.window_seconds, self.tenant_window_seconds) <= 0
        ):
            raise ValueError("quota limits must be >= 1 and windows > 0")
        self._apps = {}
        return _Bucket(self.tenant_limit, self.tenant_window_seconds, self._clock.monotonic())

    def configure(
        self,
        *,
        limit: int | None = None,
        window_seconds: float | None = None,
        tenant_limit: int | None = None,
        tenant_window_seconds: float | None = None,
    ) -> None:
        """Change the limits (unspecified ones keep their value) and refill every bucket."""
        with self._lock:
            if limit is not None:
                self.limit = limit
            if window_seconds is not None:
                self.window_seconds = window_seconds
            if tenant_limit is not None:
                self.tenant_limit = tenant_limit
            if tenant_window_seconds is not None:
                self.tenant_window_seconds = tenant_window_seconds
            self._tenant = self._refilled()

    def acquire(self, app_id: str) -> QuotaDecision:
        """Take one write token for ``app_id``; when a bucket is empty, say how long to wait."""
        with self._lock:
            now = self._clock.monotonic()
            app = self._apps.get(app_id)
            if app is None:
                app = self._apps[app_id] = _Bucket(self.limit, self.window_seconds, now)
            app.refill(now)
            self._tenant.refill(now)
            if app.tokens < 1:
                return QuotaDecision(False, app.wait_for_one(), "Tenant_Application")
            if self._tenant.tokens < 1:
                return QuotaDecision(False, self._tenant.wait_for_one(), "Tenant")
            app.tokens -= 1
            self._tenant.tokens -= 1
            return QuotaDecision(True)


class Faults:
    """Injected faults, global latency knobs and the write quota of one sandbox tenant."""

    def __init__(self, clock: Clock) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        #: Seconds added to every HTTP call (benchmarks: "2 s per Graph call").
        self.every_call_latency = 0.0
        #: Seconds added to every write (benchmarks: "150 ms per write").
        self.per_write_latency = 0.0
        self.write_quota = WriteQuota(clock)

    def inject(
        self,
        kind: FaultKind | str,
        *,
        route: str | None = None,
        times: int | None = 1,
        retry_after: float = 1,
        seconds: float = 0,
        after_effect: bool = False,
    ) -> Fault:
        """Add a fault for ``route`` ("POST /users/{id}/assignLicense"; None = every route).

        ``times`` is how many requests it hits (None = until :meth:`clear`); for ``replication_lag`` it
        is how many created users lag, and ``route`` limits the routes on which they 404.
        """
        fault_kind = FaultKind(kind)
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 (or None for 'until cleared')")
        if seconds < 0 or retry_after < 0:
            raise ValueError("seconds and retry_after must not be negative")
        if after_effect and fault_kind not in FAILING_KINDS:
            raise ValueError(f"after_effect applies to failing kinds only, not {fault_kind.value!r}")
        fault = Fault(
            kind=fault_kind,
            route=known_route(route) if route else None,
            remaining=times,
            retry_after=retry_after,
            seconds=seconds,
            after_effect=after_effect,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every injected fault and the latency knobs, and refill the write quota."""
        with self._lock:
            self._faults.clear()
            self.every_call_latency = 0.0
            self.per_write_latency = 0.0
        self.write_quota.configure()

    def set_latency(self, *, every_call: float | None = None, per_write: float | None = None) -> None:
        """Set the global latency added to every call and to every write (seconds)."""
        if every_call is not None:
            self.every_call_latency = max(0.0, every_call)
        if per_write is not None:
            self.per_write_latency = max(0.0, per_write)

    @property
    def active(self) -> list[Fault]:
        """The faults still waiting to fire."""
        with self._lock:
            return list(self._faults)

    def _consume(self, fault: Fault) -> None:
        fault.fired += 1
        if fault.remaining is not None:
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.remove(fault)

    def take_for_request(self, route: RouteKey | None) -> tuple[list[Fault], Fault | None]:
        """The latency faults and the first failing fault that hit a request on ``route`` (consumed)."""
        with self._lock:
            delays: list[Fault] = []
            failing: Fault | None = None
            for fault in list(self._faults):
                if fault.route is not None and fault.route != route:
                    continue
                if fault.kind is FaultKind.LATENCY:
                    delays.append(fault)
                    self._consume(fault)
                elif fault.kind in FAILING_KINDS and failing is None:
                    failing = fault
                    self._consume(fault)
            return delays, failing

    def take_replication_lag(self) -> Fault | None:
        """The replication-lag fault that applies to a user being created now (consumed), if any."""
        with self._lock:
            for fault in list(self._faults):
                if fault.kind is FaultKind.REPLICATION_LAG:
                    self._consume(fault)
                    return fault
            return None
