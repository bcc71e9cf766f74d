"""Every request the sandbox served, so tests and benchmarks can count and inspect Graph calls."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sandbox.routes import RouteKey, normalise

REDACTED = "***"


def redact(value: Any) -> Any:
    """Copy a JSON value with every ``password`` member (any case, any depth) replaced by ``"***"``."""
    if isinstance(value, dict):
        return {k: (REDACTED if k.lower() == "password" else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


@dataclass(frozen=True)
class RecordedRequest:
    """One request as served: what was asked, what was answered, and when."""

    method: str
    path: str  # relative to /v1.0, as sent (decoded)
    route: RouteKey | None  # None when no route matched
    query: dict[str, str]
    body: Any  # JSON with passwords redacted
    status: int  # 0 when the connection was dropped without an answer
    time: datetime
    request_id: str
    app_id: str | None
    is_write: bool
    batch_request_id: str | None = None  # the envelope's request-id for requests inside a $batch

    def matches(self, route: str) -> bool:
        """Whether this request hit ``route`` (``"POST /users/{id}/assignLicense"`` form)."""
        return self.route == normalise(route)


class RequestLog:
    """A thread-safe, append-only list of :class:`RecordedRequest` with counting helpers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[RecordedRequest] = []

    def append(self, item: RecordedRequest) -> None:
        """Record one request."""
        with self._lock:
            self._items.append(item)

    def clear(self) -> None:
        """Forget everything recorded so far."""
        with self._lock:
            self._items.clear()

    def snapshot(self) -> list[RecordedRequest]:
        """A copy of the records, oldest first."""
        with self._lock:
            return list(self._items)

    def __iter__(self) -> Iterator[RecordedRequest]:
        return iter(self.snapshot())

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __getitem__(self, index: int) -> RecordedRequest:
        with self._lock:
            return self._items[index]

    def count(self, route: str | None = None, *, status: int | None = None) -> int:
        """How many requests hit ``route`` (all routes when None), optionally with one status."""
        key = normalise(route) if route else None
        return sum(
            1
            for r in self.snapshot()
            if (key is None or r.route == key) and (status is None or r.status == status)
        )

    def for_route(self, route: str) -> list[RecordedRequest]:
        """The requests that hit ``route``."""
        key = normalise(route)
        return [r for r in self.snapshot() if r.route == key]

    @property
    def reads(self) -> int:
        """Requests that were not writes (GETs and read-only actions; $batch envelopes included)."""
        return sum(1 for r in self.snapshot() if not r.is_write)

    @property
    def writes(self) -> int:
        """Requests Graph counts as writes (POST/PATCH/PUT/DELETE, including those inside a $batch)."""
        return sum(1 for r in self.snapshot() if r.is_write)
