"""Which Graph calls a task made, with Graph's ``request-id`` of each, for the audit trail.

The gateway is built with :class:`RequestIdCapture` as its ``httpx`` transport; a run wraps the Graph
calls of one step in :func:`capture_graph_calls` and records :func:`last_write_request_id` with the step's
audit entry. Nothing of a request or response body is kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import httpx

__all__ = ["GraphCall", "RequestIdCapture", "capture_graph_calls", "last_write_request_id"]


@dataclass(frozen=True, slots=True)
class GraphCall:
    """One HTTP exchange with Graph as the transport saw it (no bodies, no headers but the request-id)."""

    method: str
    path: str
    status: int
    request_id: str | None

    @property
    def is_write(self) -> bool:
        """Whether the call could have changed the tenant."""
        return self.method not in ("GET", "HEAD")


_CALLS: ContextVar[list[GraphCall] | None] = ContextVar("graph_calls", default=None)


@contextmanager
def capture_graph_calls() -> Iterator[list[GraphCall]]:
    """The Graph calls this task makes in the ``with`` block, as :class:`RequestIdCapture` saw them."""
    calls: list[GraphCall] = []
    token = _CALLS.set(calls)
    try:
        yield calls
    finally:
        _CALLS.reset(token)


def last_write_request_id(calls: list[GraphCall]) -> str | None:
    """Graph's request-id of the last successful write among ``calls``."""
    for call in reversed(calls):
        if call.is_write and call.status < 400 and call.request_id:
            return call.request_id[:64]
    return None


class RequestIdCapture(httpx.AsyncBaseTransport):
    """An ``httpx`` transport that notes Graph's ``request-id`` of each response for the calling task.

    Pass it to :class:`~provisioning.graph.GraphGateway` (``transport=``); the runner reads what its own task
    sent through :func:`capture_graph_calls`. ``inner`` defaults to a plain ``httpx.AsyncHTTPTransport``;
    use :meth:`for_base_url` for Graph's HTTP/2 and the gateway's connection limits.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self._inner = inner if inner is not None else httpx.AsyncHTTPTransport()

    @classmethod
    def for_base_url(cls, base_url: str, *, max_connections: int = 20) -> RequestIdCapture:
        """The transport the gateway would build itself: HTTP/2 over TLS (Graph), HTTP/1.1 on loopback."""
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        return cls(httpx.AsyncHTTPTransport(http2=base_url.startswith("https://"), limits=limits))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request``; remember its method, path, status and ``request-id`` for the calling task."""
        response = await self._inner.handle_async_request(request)
        calls = _CALLS.get()
        if calls is not None:
            calls.append(
                GraphCall(
                    method=request.method,
                    path=request.url.path,
                    status=response.status_code,
                    request_id=response.headers.get("request-id"),
                )
            )
        return response

    async def aclose(self) -> None:
        """Close the inner transport."""
        await self._inner.aclose()
