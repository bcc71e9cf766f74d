"""Graph's error shape and the exception the sandbox raises to produce it.

Shape from "Microsoft Graph error responses and resource types":
``{"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


class GraphError(Exception):
    """A Graph error response: HTTP status, Graph error code and message, and extra headers."""

    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers: dict[str, str] = dict(headers or {})


def error_body(
    code: str, message: str, *, request_id: str, client_request_id: str, date: datetime
) -> dict[str, Any]:
    """Build Graph's error JSON; ``innerError.date`` has no zone suffix, as Graph writes it."""
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": date.strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id,
                "client-request-id": client_request_id,
            },
        }
    }


def not_found(key: str) -> GraphError:
    """Graph's 404 for a directory object that does not exist (or has not replicated yet)."""
    return GraphError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{key}' does not exist or one of its queried reference-property objects are not present.",
    )


def invalid_property(name: str, resource: str = "User") -> GraphError:
    """Graph's 400 for a property value the directory rejects."""
    return GraphError(
        400, "Request_BadRequest", f"Invalid value specified for property '{name}' of resource '{resource}'."
    )
