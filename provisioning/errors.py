"""The errors the Graph gateway raises, so callers catch by type and never look at Graph's text.

Everything the gateway raises for a Graph call is a :class:`GraphError`; the msgraph-sdk's
``ODataError``/``APIError``, raw ``httpx`` transport errors and azure-identity's token errors are
translated at the boundary (``raise NotFound(...) from err``) and never leak out::

    GraphError               code                     retry  raised when
    ├── NotFound             graph.not_found          no     404: the user, group, SKU ... is absent
    ├── AlreadyExists        graph.already_exists     no     the UPN (or marker) is held by another object
    ├── PermissionDenied     graph.permission_denied  no     401/403, or no access token was obtained
    ├── InvalidRequest       graph.invalid_request    no     other 4xx; has Graph's code and message
    │   └── NoFreeSeats      graph.no_free_seats      no     assignLicense: "... does not have any
    │                                                        available licenses" (a 400 in Graph)
    ├── Throttled            graph.throttled          yes    429 once the SDK's retries are spent;
    │                                                        has ``retry_after`` in seconds
    ├── Unavailable          graph.unavailable        yes    5xx, timeouts, refused or dropped
    │                                                        connections, token endpoint unreachable
    └── DependencyFailed     graph.dependency_failed  yes    $batch only (424): not run because a
                                                             request it depends on failed

``code`` is stable: user-facing text comes from a catalogue keyed by it, never from ``str(error)``.
``request_id`` is Graph's ``request-id`` (or ``None`` when no response arrived), kept for the audit log
and for Microsoft support. Messages never contain passwords or tokens: the gateway builds them from
Graph's error message, which does not echo request bodies.
"""

from __future__ import annotations

from typing import ClassVar, TypedDict, Unpack
from uuid import UUID

__all__ = [
    "AlreadyExists",
    "DependencyFailed",
    "GraphError",
    "GraphErrorDetails",
    "InvalidRequest",
    "NoFreeSeats",
    "NotFound",
    "PermissionDenied",
    "Throttled",
    "Unavailable",
]


class GraphErrorDetails(TypedDict, total=False):
    """What Graph said about a failed call; the keyword arguments every :class:`GraphError` takes."""

    status: int | None
    request_id: str | None
    graph_code: str | None
    graph_message: str | None


class GraphError(Exception):
    """Base of every error the Graph gateway raises.

    Attributes:
        code: stable machine code (``graph.*``), the key for user-facing text.
        retryable: whether trying the same call again later may succeed.
        status: the HTTP status Graph answered, or ``None`` when no response arrived.
        request_id: Graph's ``request-id`` for the failed call, for audit and support.
        graph_code: Graph's own error code (``Request_BadRequest`` ...), when Graph sent one.
        graph_message: Graph's own error message, when Graph sent one.
    """

    code: ClassVar[str] = "graph.error"
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
        graph_code: str | None = None,
        graph_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.request_id = request_id
        self.graph_code = graph_code
        self.graph_message = graph_message

    def __str__(self) -> str:
        details = [f"status {self.status}" if self.status is not None else None]
        details.append(f"request-id {self.request_id}" if self.request_id else None)
        shown = ", ".join(d for d in details if d)
        return f"{self.message} ({shown})" if shown else self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, status={self.status!r}, "
            f"request_id={self.request_id!r}, graph_code={self.graph_code!r})"
        )


class NotFound(GraphError):
    """The addressed object does not exist (or has not replicated yet right after creation)."""

    code = "graph.not_found"


class AlreadyExists(GraphError):
    """Another object already holds the unique value (UPN, or the idempotency marker) we asked for."""

    code = "graph.already_exists"


class PermissionDenied(GraphError):
    """Graph refused the caller (401/403), or no access token could be obtained for it."""

    code = "graph.permission_denied"


class InvalidRequest(GraphError):
    """Graph rejected the request as invalid (4xx); ``graph_code`` and ``graph_message`` say why."""

    code = "graph.invalid_request"


class NoFreeSeats(InvalidRequest):
    """A license could not be assigned because every seat of its subscription is in use.

    Graph answers this with a plain ``400 Request_BadRequest`` ("Subscription with SKU <id> does not
    have any available licenses."); it gets its own type because the remedy (buy or free seats) is
    not the remedy for a malformed request. ``sku_id`` is the SKU Graph named, when it named one.
    """

    code = "graph.no_free_seats"

    def __init__(
        self, message: str, *, sku_id: UUID | None = None, **details: Unpack[GraphErrorDetails]
    ) -> None:
        super().__init__(message, **details)
        self.sku_id = sku_id


class Throttled(GraphError):
    """Graph kept answering 429 after the SDK's retries; wait ``retry_after`` seconds, then try again."""

    code = "graph.throttled"
    retryable = True

    def __init__(
        self, message: str, *, retry_after: float | None = None, **details: Unpack[GraphErrorDetails]
    ) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after


class Unavailable(GraphError):
    """Graph could not be reached or failed on its side (5xx, timeout, refused or dropped connection).

    For a write, the outcome is unknown: the change may or may not have been applied.
    """

    code = "graph.unavailable"
    retryable = True


class DependencyFailed(GraphError):
    """A ``$batch`` request that was not run because a request it ``dependsOn`` failed (424).

    Nothing happened; it can be sent again once what it depends on has succeeded.
    """

    code = "graph.dependency_failed"
    retryable = True
