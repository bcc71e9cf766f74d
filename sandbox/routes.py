"""The Graph v1.0 routes the sandbox serves, as ``METHOD /template`` strings.

Route strings are how tests name a route when they inject a fault or count requests
(``"POST /users/{id}/assignLicense"``). Placeholder names do not matter (``{id}``, ``{user-id}``) and
static segments compare case-insensitively, as Graph's URL matching does.
"""

from __future__ import annotations

from typing import NamedTuple


class RouteKey(NamedTuple):
    """A route normalised for comparison: upper-case method, lower-case segments, placeholders as ``{}``."""

    method: str
    segments: tuple[str, ...]


#: Every route the sandbox answers. Order matters where a literal and a placeholder compete
#: (``/users/$count`` before ``/users/{id}``).
ROUTES: tuple[str, ...] = (
    "GET /users",
    "POST /users",
    "GET /users/$count",
    "GET /users/{id}",
    "PATCH /users/{id}",
    "DELETE /users/{id}",
    "POST /users/{id}/assignLicense",
    "GET /users/{id}/licenseDetails",
    "POST /users/{id}/revokeSignInSessions",
    "POST /users/{id}/checkMemberGroups",
    "POST /users/{id}/getMemberGroups",
    "GET /users/{id}/memberOf",
    "GET /users/{id}/transitiveMemberOf",
    "GET /users/{id}/transitiveMemberOf/microsoft.graph.group",
    # msgraph-sdk writes the cast with Graph's namespace alias.
    "GET /users/{id}/transitiveMemberOf/graph.group",
    "GET /groups",
    "GET /groups/{id}",
    "GET /groups/{id}/members",
    "POST /groups/{id}/members/$ref",
    "DELETE /groups/{id}/members/{id}/$ref",
    "GET /subscribedSkus",
    "GET /subscribedSkus/{id}",
    "GET /domains",
    "GET /domains/{id}",
    "GET /organization",
    "GET /organization/{id}",
    "POST /$batch",
)

#: POST actions that only read; Graph's write quota counts POST, PATCH, PUT and DELETE otherwise.
READ_ONLY_ACTIONS = frozenset(
    {
        "POST /users/{}/checkmembergroups",
        "POST /users/{}/getmembergroups",
        "POST /$batch",
    }
)


def normalise(route: str) -> RouteKey:
    """Parse ``"METHOD /path/{x}"`` (an optional ``/v1.0`` prefix is ignored) into a :class:`RouteKey`."""
    method, sep, path = route.strip().partition(" ")
    if not sep or not path.strip().startswith("/"):
        raise ValueError(f"route {route!r} must look like 'METHOD /users/{{id}}'")
    segments = [s for s in path.strip().split("/") if s]
    if segments and segments[0].lower() == "v1.0":
        segments = segments[1:]
    return RouteKey(
        method.upper(),
        tuple("{}" if s.startswith("{") and s.endswith("}") else s.lower() for s in segments),
    )


def describe(key: RouteKey) -> str:
    """The readable form of a normalised route, for messages and JSON."""
    return f"{key.method} /" + "/".join(key.segments)


KNOWN_ROUTES: frozenset[RouteKey] = frozenset(normalise(r) for r in ROUTES)


def known_route(route: str) -> RouteKey:
    """Normalise ``route`` and insist that the sandbox serves it (catches typos in tests early)."""
    key = normalise(route)
    if key not in KNOWN_ROUTES:
        raise ValueError(f"the sandbox serves no route {route!r}; known routes: {', '.join(ROUTES)}")
    return key


def is_write(key: RouteKey) -> bool:
    """Whether Graph's identity throttling counts this request against the write quota."""
    return key.method in {"POST", "PATCH", "PUT", "DELETE"} and describe(key) not in READ_ONLY_ACTIONS
