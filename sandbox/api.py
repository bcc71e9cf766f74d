"""Graph v1.0 request handling, independent of aiohttp so ``$batch`` can run requests through it too.

:func:`serve` is the pipeline every request goes through: latency, injected faults, authentication,
the write quota, the route's handler, and recording. Handlers turn a request into a
:class:`ApiResponse`; the directory rules live in :mod:`sandbox.tenant`.

Response shapes follow "Use query parameters to customize responses" (``@odata.context``,
``value``, ``@odata.nextLink``, ``@odata.count``) and "Microsoft Graph error responses and resource
types" (error JSON, ``request-id`` header).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from sandbox.errors import GraphError, error_body, not_found
from sandbox.faults import Fault, FaultKind
from sandbox.odata import GROUP_RULES, USER_RULES, ResourceRules, check_filter, matches, parse_filter
from sandbox.recording import RecordedRequest, redact
from sandbox.routes import ROUTES, RouteKey, is_write, normalise
from sandbox.tenant import (
    GROUP_PROPERTIES,
    USER_DEFAULT_PROPERTIES,
    Json,
    Tenant,
    known_user_property,
    project,
)

GRAPH_ROOT = "https://graph.microsoft.com/v1.0"
JSON_CONTENT_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
)
MAX_PAGE = 999
DEFAULT_PAGE = 100
MAX_BATCH = 20


@dataclass
class ApiRequest:
    """One Graph request, decoded. ``path`` and ``segments`` are relative to ``/v1.0``."""

    method: str
    path: str
    segments: tuple[str, ...]
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: Any
    base_url: str  # this server's http://host:port/v1.0, for @odata.nextLink
    request_id: str
    client_request_id: str
    app_id: str | None
    body_is_json: bool = True
    batch_request_id: str | None = None

    def header(self, name: str) -> str | None:
        """A request header, case-insensitively."""
        return self.headers.get(name.lower())


@dataclass
class ApiResponse:
    """What to answer: a JSON object, a text body, or nothing."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class Dropped:
    """Marker: close the connection without answering."""


DROPPED = Dropped()

Handler = Callable[[Tenant, ApiRequest, RouteKey, list[str]], ApiResponse]


def app_id_from_authorization(value: str | None) -> str | None:
    """The caller's app: the ``appid``/``azp`` claim of a JWT bearer token, else the token itself."""
    if not value or not value.lower().startswith("bearer "):
        return None
    token = value[7:].strip()
    if not token:
        return None
    parts = token.split(".")
    if len(parts) == 3:
        try:
            padded = parts[1] + "=" * (-len(parts[1]) % 4)
            claims = json.loads(base64.urlsafe_b64decode(padded))
            app = claims.get("appid") or claims.get("azp")
            if isinstance(app, str) and app:
                return app
        except (ValueError, binascii.Error, AttributeError):
            pass
    return token


# ------------------------------------------------------------------------------------------ helpers


def _context(suffix: str) -> str:
    return f"{GRAPH_ROOT}/$metadata#{suffix}"


def _entity(obj: Json, context: str) -> Json:
    return {"@odata.context": _context(context), **obj}


def _select(request: ApiRequest, known: Callable[[str], bool], type_name: str) -> list[str] | None:
    raw = request.query.get("$select")
    if raw is None:
        return None
    names = [s.strip() for s in raw.split(",") if s.strip()]
    for name in names:
        if not known(name):
            raise GraphError(
                400,
                "BadRequest",
                f"Parsing OData Select and Expand failed: Could not find a property named '{name}' on type "
                f"'microsoft.graph.{type_name}'.",
            )
    return names


def _advanced(request: ApiRequest) -> bool:
    """Both advanced query parameters are present (see "Advanced query capabilities ...")."""
    return _eventual(request) and request.query.get("$count", "").lower() == "true"


def _eventual(request: ApiRequest) -> bool:
    # A page token from an advanced query keeps it advanced: the token carries the query's state.
    return (request.header("ConsistencyLevel") or "").lower() == "eventual" or _skip(request)[1]


def _page_size(request: ApiRequest) -> int:
    raw = request.query.get("$top")
    if raw is None:
        return DEFAULT_PAGE
    try:
        top = int(raw)
    except ValueError:
        top = -1
    if not 1 <= top <= MAX_PAGE:
        raise GraphError(
            400,
            "Request_BadRequest",
            f"Invalid page size specified: '{raw}'. Must be between 1 and {MAX_PAGE} inclusive.",
        )
    return top


def _skip(request: ApiRequest) -> tuple[int, bool]:
    """The offset and advanced-ness a ``$skiptoken`` carries (0, False without one)."""
    raw = request.query.get("$skiptoken")
    if raw is None:
        return 0, False
    try:
        decoded = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        kind, offset, advanced = decoded.split(":")
        if kind != "offset":
            raise ValueError(kind)
        return max(0, int(offset)), advanced == "1"
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise GraphError(
            400, "Request_BadRequest", "The specified page token value has expired or is invalid."
        ) from None


def _skiptoken(offset: int, advanced: bool) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}:{int(advanced)}".encode()).decode().rstrip("=")


def _collection(
    request: ApiRequest,
    items: list[Json],
    *,
    rules: ResourceRules,
    context: str,
    render: Callable[[Json], Json],
    default_page: int = DEFAULT_PAGE,
) -> ApiResponse:
    """Filter, count, search, order, page and render a collection the way directory lists behave."""
    if "$search" in request.query:
        if not _eventual(request):
            raise GraphError(
                400,
                "Request_UnsupportedQuery",
                "Request with $search query parameter only works through MSGraph with a special request "
                "header: 'ConsistencyLevel: eventual'",
            )
        items = [i for i in items if _search_matches(i, request.query["$search"])]
    if "$filter" in request.query:
        node = parse_filter(request.query["$filter"])
        check_filter(node, rules, advanced=_advanced(request))
        items = [i for i in items if matches(node, i)]
    if "$orderby" in request.query:
        items = _ordered(request, items, rules)
    total = len(items)
    top = _page_size(request) if "$top" in request.query else default_page
    offset = _skip(request)[0]
    page = items[offset : offset + top]
    select = request.query.get("$select")
    out: Json = {"@odata.context": _context(f"{context}({select})" if select else context)}
    if request.query.get("$count", "").lower() == "true" and _eventual(request):
        # Without ConsistencyLevel: eventual Graph silently ignores $count=true (same page).
        out["@odata.count"] = total
    if offset + top < total:
        query = {k: v for k, v in request.query.items() if k != "$skiptoken"}
        query["$top"] = str(top)
        query["$skiptoken"] = _skiptoken(offset + top, _eventual(request))
        encoded = "&".join(f"{quote(k, safe='$')}={quote(v, safe=',$()')}" for k, v in query.items())
        out["@odata.nextLink"] = f"{request.base_url}{quote(request.path)}?{encoded}"
    out["value"] = [render(i) for i in page]
    return ApiResponse(200, out)


def _search_matches(obj: Json, search: str) -> bool:
    # $search="property:value" clauses joined by OR or AND: case-insensitive substring matches.
    joiner = " AND " if " AND " in search else " OR "
    results = []
    for clause in search.split(joiner):
        prop, _, value = clause.strip().strip('"').partition(":")
        actual = obj.get(prop)
        results.append(isinstance(actual, str) and value.lower() in actual.lower())
    return all(results) if joiner == " AND " else any(results)


def _ordered(request: ApiRequest, items: list[Json], rules: ResourceRules) -> list[Json]:
    raw = request.query["$orderby"].strip()
    prop, _, direction = raw.partition(" ")
    sortable = {"user": ("displayName", "userPrincipalName"), "group": ("displayName",)}[rules.type_name]
    if prop not in sortable or ("$filter" in request.query and not _advanced(request)):
        raise GraphError(400, "Request_UnsupportedQuery", "Sorting not supported for current query.")
    return sorted(
        items, key=lambda i: (i.get(prop) or "").lower(), reverse=direction.strip().lower() == "desc"
    )


def _render_user(select: list[str] | None) -> Callable[[Json], Json]:
    def render(user: Json) -> Json:
        return project(user, select, USER_DEFAULT_PROPERTIES)

    return render


def _render_group(select: list[str] | None) -> Callable[[Json], Json]:
    def render(group: Json) -> Json:
        return project(group, select, GROUP_PROPERTIES)

    return render


def _known_group_property(name: str) -> bool:
    return name.lower() in {p.lower() for p in GROUP_PROPERTIES}


def _directory_object(tenant: Tenant, obj: Json, select: list[str] | None) -> Json:
    if obj["id"] in tenant.groups:
        return {"@odata.type": "#microsoft.graph.group", **project(obj, select, GROUP_PROPERTIES)}
    return {"@odata.type": "#microsoft.graph.user", **project(obj, select, USER_DEFAULT_PROPERTIES)}


def _select_any(request: ApiRequest) -> list[str] | None:
    return _select(request, lambda n: known_user_property(n) or _known_group_property(n), "directoryObject")


# ----------------------------------------------------------------------------------------- handlers


def list_users(tenant: Tenant, request: ApiRequest, route: RouteKey, params: list[str]) -> ApiResponse:
    """GET /users ("List users")."""
    select = _select(request, known_user_property, "user")
    return _collection(
        request, tenant.list_users(route), rules=USER_RULES, context="users", render=_render_user(select)
    )


def count_users(tenant: Tenant, request: ApiRequest, route: RouteKey, params: list[str]) -> ApiResponse:
    """GET /users/$count: needs ConsistencyLevel: eventual, answers a plain-text number."""
    if not _eventual(request):
        raise GraphError(400, "Request_BadRequest", "$count is not currently supported.")
    users = tenant.list_users(route)
    if "$filter" in request.query:
        node = parse_filter(request.query["$filter"])
        check_filter(node, USER_RULES, advanced=True)
        users = [u for u in users if matches(node, u)]
    return ApiResponse(200, str(len(users)), {"Content-Type": "text/plain"})


def create_user(tenant: Tenant, request: ApiRequest, route: RouteKey, params: list[str]) -> ApiResponse:
    """POST /users ("Create user")."""
    user = tenant.create_user(request.body)
    location = f"https://graph.microsoft.com/v2/{tenant.tenant_id}/directoryObjects/{user['id']}/Microsoft.DirectoryServices.User"
    body = _entity(project(user, None, USER_DEFAULT_PROPERTIES), "users/$entity")
    return ApiResponse(201, body, {"Location": location})


def get_user(tenant: Tenant, request: ApiRequest, route: RouteKey, params: list[str]) -> ApiResponse:
    """GET /users/{id | userPrincipalName} ("Get user")."""
    select = _select(request, known_user_property, "user")
    user = tenant.find_user(params[0], route)
    context = f"users({request.query['$select']})/$entity" if select else "users/$entity"
    return ApiResponse(200, _entity(project(user, select, USER_DEFAULT_PROPERTIES), context))


def update_user(tenant: Tenant, request: ApiRequest, route: RouteKey, params: list[str]) -> ApiResponse:
    """PATCH /users/{id} ("Update user"): 204 No Content."""
    tenant.update_user(tenant.find_user(params[0], route), request.body)
    return ApiResponse(204)


def delete_user(tenant: Tenant, request: ApiRequest, route: RouteKey, params: list[str]) -> ApiResponse:
    """DELETE /users/{id} ("Delete user"): 204 No Content."""
    tenant.delete_user(tenant.find_user(params[0], route))
    return ApiResponse(204)


def assign_license(tenant: Tenant, request: ApiRequest, route: RouteKey, params: list[str]) -> ApiResponse:
    """POST /users/{id}/assignLicense ("user: assignLicense"): 200 with the user."""
    user = tenant.find_user(params[0], route)
    tenant.assign_license(user, request.body)
    return ApiResponse(200, _entity(project(user, None, USER_DEFAULT_PROPERTIES), "users/$entity"))


def license_details(tenant: Tenant, request: ApiRequest, route: RouteKey, params: list[str]) -> ApiResponse:
    """GET /users/{id}/licenseDetails ("List licenseDetails")."""
    user = tenant.find_user(params[0], route)
    details = tenant.license_details(user)
    return ApiResponse(
        200, {"@odata.context": _context(f"users('{user['id']}')/licenseDetails"), "value": details}
    )


def revoke_sessions(tenant: Tenant, request: ApiRequest, route: RouteKey, params: list[str]) -> ApiResponse:
    """POST /users/{id}/revokeSignInSessions ("user: revokeSignInSessions"): 200 ``{"value": true}``."""
    tenant.revoke_sessions(tenant.find_user(params[0], route))
    return ApiResponse(200, {"@odata.context": _context("Edm.Boolean"), "value": True})


def check_member_groups(
    tenant: Tenant, request: ApiRequest, route: RouteKey, params: list[str]
) -> ApiResponse:
    """POST /users/{id}/checkMemberGroups ("directoryObject: checkMemberGroups")."""
    found = tenant.check_member_groups(tenant.find_user(params[0], route), request.body)
    return ApiResponse(200, {"@odata.context": _context("Collection(Edm.String)"), "value": found})


def get_member_groups(tenant: Tenant, request: ApiRequest, route: RouteKey, params: list[str]) -> ApiResponse:
    """POST /users/{id}/getMemberGroups ("directoryObject: getMemberGroups")."""
    found = tenant.get_member_groups(tenant.find_user(params[0], route), request.body)
    return ApiResponse(200, {"@odata.context": _context("Collection(Edm.String)"), "value": found})


def _member_of(transitive: bool) -> Handler:
    def handler(tenant: Tenant, request: ApiRequest, route: RouteKey, params: list[str]) -> ApiResponse:
        """GET /users/{id}/memberOf and /transitiveMemberOf: the groups, as directoryObjects."""
        select = _select_any(request)
        user = tenant.find_user(params[0], route)
        groups = [tenant.groups[g] for g in tenant.group_ids_of(user["id"], transitive=transitive)]
        return _collection(
            request,
            groups,
            rules=GROUP_RULES,
            context="directoryObjects",
            render=lambda g: _directory_object(tenant, g, select),
        )

    return handler


def list_groups(tenant: Tenant, request: ApiRequest, route: RouteKey, params: list[str]) -> ApiResponse:
    """GET /groups ("List groups")."""
    select = _select(request, _known_group_property, "group")
    return _collection(
        request,
        list(tenant.groups.values()),
        rules=GROUP_RULES,
        context="groups",
        render=_render_group(select),
    )


def get_group(tenant: Tenant, request: ApiRequest, route: RouteKey, params: list[str]) -> ApiResponse:
    """GET /groups/{id} ("Get group")."""
    select = _select(request, _known_group_property, "group")
    group = tenant.find_group(params[0])
    return ApiResponse(200, _entity(project(group, select, GROUP_PROPERTIES), "groups/$entity"))


def list_members(tenant: Tenant, request: ApiRequest, route: RouteKey, params: list[str]) -> ApiResponse:
    """GET /groups/{id}/members ("List group members")."""
    select = _select_any(request)
    group = tenant.find_group(params[0])
    return _collection(
        request,
        tenant.member_objects(group, route),
        rules=USER_RULES,
        context="directoryObjects",
        render=lambda o: _directory_object(tenant, o, select),
    )


def add_member(tenant: Tenant, request: ApiRequest, route: RouteKey, params: list[str]) -> ApiResponse:
    """POST /groups/{id}/members/$ref ("Add members"): 204, 400 when already a member."""
    tenant.add_member(tenant.find_group(params[0]), request.body, route)
    return ApiResponse(204)


def remove_member(tenant: Tenant, request: ApiRequest, route: RouteKey, params: list[str]) -> ApiResponse:
    """DELETE /groups/{id}/members/{id}/$ref ("Remove member"): 204."""
    tenant.remove_member(tenant.find_group(params[0]), params[1], route)
    return ApiResponse(204)


def _no_filter(request: ApiRequest, resource: str) -> None:
    if "$filter" in request.query:
        # FACTS.md: subscribedSkus has no $filter; refusing beats silently returning every SKU.
        raise GraphError(
            400, "Request_UnsupportedQuery", f"The $filter query option is not supported on {resource}."
        )


def list_skus(tenant: Tenant, request: ApiRequest, route: RouteKey, params: list[str]) -> ApiResponse:
    """GET /subscribedSkus ("List subscribedSkus")."""
    _no_filter(request, "subscribedSkus")
    skus = [tenant.subscribed_sku_json(s) for s in tenant.skus.values()]
    return ApiResponse(200, {"@odata.context": _context("subscribedSkus"), "value": skus})


def get_sku(tenant: Tenant, request: ApiRequest, route: RouteKey, params: list[str]) -> ApiResponse:
    """GET /subscribedSkus/{id} ("Get subscribedSku"); the id is ``{tenantId}_{skuId}``."""
    for sku in tenant.skus.values():
        rendered = tenant.subscribed_sku_json(sku)
        if rendered["id"].lower() == params[0].lower():
            return ApiResponse(200, _entity(rendered, "subscribedSkus/$entity"))
    raise not_found(params[0])


def list_domains(tenant: Tenant, request: ApiRequest, route: RouteKey, params: list[str]) -> ApiResponse:
    """GET /domains ("List domains")."""
    return ApiResponse(200, {"@odata.context": _context("domains"), "value": tenant.domains})


def get_domain(tenant: Tenant, request: ApiRequest, route: RouteKey, params: list[str]) -> ApiResponse:
    """GET /domains/{id} ("Get domain")."""
    return ApiResponse(200, _entity(tenant.find_domain(params[0]), "domains/$entity"))


def list_organization(tenant: Tenant, request: ApiRequest, route: RouteKey, params: list[str]) -> ApiResponse:
    """GET /organization ("List organization")."""
    return ApiResponse(
        200, {"@odata.context": _context("organization"), "value": [tenant.organization_json()]}
    )


def get_organization(tenant: Tenant, request: ApiRequest, route: RouteKey, params: list[str]) -> ApiResponse:
    """GET /organization/{id} ("Get organization")."""
    if params[0].lower() != tenant.tenant_id.lower():
        raise not_found(params[0])
    return ApiResponse(200, _entity(tenant.organization_json(), "organization/$entity"))


HANDLERS: dict[str, Handler] = {
    "GET /users": list_users,
    "POST /users": create_user,
    "GET /users/$count": count_users,
    "GET /users/{id}": get_user,
    "PATCH /users/{id}": update_user,
    "DELETE /users/{id}": delete_user,
    "POST /users/{id}/assignLicense": assign_license,
    "GET /users/{id}/licenseDetails": license_details,
    "POST /users/{id}/revokeSignInSessions": revoke_sessions,
    "POST /users/{id}/checkMemberGroups": check_member_groups,
    "POST /users/{id}/getMemberGroups": get_member_groups,
    "GET /users/{id}/memberOf": _member_of(transitive=False),
    "GET /users/{id}/transitiveMemberOf": _member_of(transitive=True),
    "GET /users/{id}/transitiveMemberOf/microsoft.graph.group": _member_of(transitive=True),
    "GET /users/{id}/transitiveMemberOf/graph.group": _member_of(transitive=True),
    "GET /groups": list_groups,
    "GET /groups/{id}": get_group,
    "GET /groups/{id}/members": list_members,
    "POST /groups/{id}/members/$ref": add_member,
    "DELETE /groups/{id}/members/{id}/$ref": remove_member,
    "GET /subscribedSkus": list_skus,
    "GET /subscribedSkus/{id}": get_sku,
    "GET /domains": list_domains,
    "GET /domains/{id}": get_domain,
    "GET /organization": list_organization,
    "GET /organization/{id}": get_organization,
}

BATCH_ROUTE = normalise("POST /$batch")
_TABLE: list[tuple[RouteKey, Handler | None]] = [(normalise(r), HANDLERS.get(r)) for r in ROUTES]


@dataclass(frozen=True)
class Resolved:
    """The route a request matched, its handler (None for $batch) and the placeholder values."""

    key: RouteKey
    handler: Handler | None
    params: list[str]


def resolve(method: str, segments: tuple[str, ...]) -> Resolved:
    """Match a request to a route; raise Graph's 400 (unknown segment) or 405 (wrong method)."""
    path_matched = False
    best_depth = 0
    for key, handler in _TABLE:
        depth = _prefix_depth(key.segments, segments)
        best_depth = max(best_depth, depth)
        if len(key.segments) != len(segments) or depth != len(segments):
            continue
        if key.method == method.upper():
            params = [s for p, s in zip(key.segments, segments, strict=True) if p == "{}"]
            return Resolved(key, handler, params)
        path_matched = True
    if path_matched:
        raise GraphError(
            405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target."
        )
    bad = segments[best_depth] if best_depth < len(segments) else (segments[-1] if segments else "")
    raise GraphError(400, "BadRequest", f"Resource not found for the segment '{bad}'.")


def _prefix_depth(pattern: tuple[str, ...], segments: tuple[str, ...]) -> int:
    depth = 0
    for p, s in zip(pattern, segments, strict=False):
        if p != "{}" and p != s.lower():
            break
        depth += 1
    return depth


# ----------------------------------------------------------------------------------------- pipeline


def _fault_error(fault: Fault) -> GraphError:
    # Retry-After is whole seconds (RFC 9110 delay-seconds); msgraph's RetryHandler parses it with int().
    retry = {"Retry-After": str(math.ceil(fault.retry_after))}
    if fault.kind is FaultKind.THROTTLE:
        return GraphError(
            429,
            "TooManyRequests",
            "Too many requests. Please retry after the time in Retry-After.",
            headers=retry,
        )
    if fault.kind is FaultKind.UNAVAILABLE:
        return GraphError(
            503,
            "serviceNotAvailable",
            "The service is temporarily unavailable for maintenance or is overloaded. You may repeat the "
            "request after a delay, the length of which may be specified in a Retry-After header.",
            headers=retry,
        )
    return GraphError(504, "UnknownError", "The operation has timed out.")


def error_response(tenant: Tenant, request: ApiRequest, error: GraphError) -> ApiResponse:
    """Render a :class:`GraphError` as Graph's error JSON."""
    body = error_body(
        error.code,
        error.message,
        request_id=request.request_id,
        client_request_id=request.client_request_id,
        date=tenant.clock.now(),
    )
    return ApiResponse(error.status, body, dict(error.headers))


async def serve(tenant: Tenant, request: ApiRequest, *, in_batch: bool = False) -> ApiResponse | Dropped:
    """Run one request through latency, faults, authentication, the write quota and its handler."""
    outcome: ApiResponse | Dropped
    key: RouteKey | None = None
    writes = False
    try:
        try:
            resolved = resolve(request.method, request.segments)
            key = resolved.key
            writes = is_write(key)
        except GraphError as err:
            resolved = None
            routing_error: GraphError | None = err
        else:
            routing_error = None
        if not in_batch and tenant.faults.every_call_latency:
            await asyncio.sleep(tenant.faults.every_call_latency)
        if writes and tenant.faults.per_write_latency:
            await asyncio.sleep(tenant.faults.per_write_latency)
        delays, failing = tenant.faults.take_for_request(key)
        for delay in delays:
            await asyncio.sleep(delay.seconds)
        outcome = await _answer(tenant, request, resolved, routing_error, failing, writes, in_batch)
    except GraphError as err:
        outcome = error_response(tenant, request, err)
    status = 0 if isinstance(outcome, Dropped) else outcome.status
    tenant.requests.append(
        RecordedRequest(
            method=request.method.upper(),
            path=request.path,
            route=key,
            query=dict(request.query),
            body=redact(request.body),
            status=status,
            time=tenant.clock.now(),
            request_id=request.request_id,
            app_id=request.app_id,
            is_write=writes,
            batch_request_id=request.batch_request_id,
        )
    )
    if isinstance(outcome, ApiResponse):
        outcome.headers.setdefault("request-id", request.request_id)
        outcome.headers.setdefault("client-request-id", request.client_request_id)
    return outcome


async def _answer(
    tenant: Tenant,
    request: ApiRequest,
    resolved: Resolved | None,
    routing_error: GraphError | None,
    failing: Fault | None,
    writes: bool,
    in_batch: bool,
) -> ApiResponse | Dropped:
    if request.app_id is None:
        # "Microsoft Graph error responses and resource types": 401 without a bearer token.
        raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
    if failing is not None and not failing.after_effect:
        return _fault_outcome(tenant, request, failing, in_batch)
    if routing_error is not None or resolved is None:
        raise routing_error or GraphError(400, "BadRequest", "Invalid request.")
    if writes:
        decision = tenant.faults.write_quota.acquire(request.app_id)
        if not decision.allowed:
            raise GraphError(
                429,
                "TooManyRequests",
                "Too many requests. The application exceeded its write limit for this tenant.",
                headers={
                    "Retry-After": str(decision.retry_after),
                    "x-ms-throttle-scope": f"{decision.scope}/Write/{request.app_id[:64]}/{tenant.tenant_id}",
                    "x-ms-throttle-information": "WriteLimitExceeded",
                },
            )
    if not request.body_is_json:
        raise GraphError(
            400,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of "
            "valid JSON format.",
        )
    if resolved.handler is None:
        response = await run_batch(tenant, request)
    else:
        with tenant.lock:
            try:
                response = resolved.handler(tenant, request, resolved.key, resolved.params)
            except GraphError as err:
                response = error_response(tenant, request, err)
            if writes and response.status < 400:
                tenant.changed()
    if failing is not None:
        # after_effect: the work above really happened; only the answer is lost.
        return _fault_outcome(tenant, request, failing, in_batch)
    return response


def _fault_outcome(
    tenant: Tenant, request: ApiRequest, fault: Fault, in_batch: bool
) -> ApiResponse | Dropped:
    if fault.kind is FaultKind.DROP:
        if not in_batch:
            return DROPPED
        # A request inside a $batch cannot lose its own connection; the gateway times out instead.
        return error_response(
            tenant, request, GraphError(504, "UnknownError", "The operation has timed out.")
        )
    return error_response(tenant, request, _fault_error(fault))


# -------------------------------------------------------------------------------------------- $batch


async def run_batch(tenant: Tenant, envelope: ApiRequest) -> ApiResponse:
    """POST /$batch ("Combine multiple HTTP requests using JSON batching")."""
    body = envelope.body
    requests = body.get("requests") if isinstance(body, Mapping) else None
    if not isinstance(requests, list) or not all(isinstance(r, Mapping) for r in requests):
        raise GraphError(400, "BadRequest", "Invalid batch payload format.")
    if len(requests) > MAX_BATCH:
        raise GraphError(400, "BadRequest", f"Number of batch requests exceeds the limit of {MAX_BATCH}.")
    ids = [str(r.get("id", "")) for r in requests]
    if any(not i for i in ids) or len({i.lower() for i in ids}) != len(ids):
        raise GraphError(400, "BadRequest", "Batch request ids must be present and unique.")
    by_id = {i.lower(): r for i, r in zip(ids, requests, strict=True)}
    for item in requests:
        depends = item.get("dependsOn") or []
        if not isinstance(depends, list) or any(str(d).lower() not in by_id for d in depends):
            raise GraphError(
                400, "BadRequest", f"Request '{item.get('id')}' depends on an id that is not in the batch."
            )
    order = _topological(ids, by_id)
    results: dict[str, Json] = {}
    for item_id in order:
        item = by_id[item_id.lower()]
        inner, url_error = _inner_request(envelope, item)
        failed = [
            d for d in item.get("dependsOn") or [] if not 200 <= results[str(d).lower()]["status"] < 300
        ]
        if failed:
            # "JSON batching": a request whose dependency failed is not run and answers 424.
            err = GraphError(
                424,
                "FailedDependency",
                "The request was not executed because a request it depends on failed.",
            )
            results[item_id.lower()] = _batch_item(item_id, error_response(tenant, inner, err))
        elif url_error is not None:
            results[item_id.lower()] = _batch_item(item_id, error_response(tenant, inner, url_error))
        else:
            outcome = await serve(tenant, inner, in_batch=True)
            if isinstance(outcome, Dropped):  # pragma: no cover - serve never drops inside a batch
                outcome = error_response(
                    tenant, inner, GraphError(504, "UnknownError", "The operation has timed out.")
                )
            results[item_id.lower()] = _batch_item(item_id, outcome)
    return ApiResponse(200, {"responses": [results[i.lower()] for i in ids]})


def _topological(ids: list[str], by_id: Mapping[str, Mapping[str, Any]]) -> list[str]:
    done: list[str] = []
    visiting: set[str] = set()

    def visit(item_id: str) -> None:
        key = item_id.lower()
        if key in (d.lower() for d in done):
            return
        if key in visiting:
            raise GraphError(400, "BadRequest", "Batch requests have a circular dependsOn.")
        visiting.add(key)
        for dep in by_id[key].get("dependsOn") or []:
            visit(str(dep))
        visiting.discard(key)
        done.append(str(by_id[key].get("id")))

    for item_id in ids:
        visit(item_id)
    return done


def _batch_item(item_id: str, response: ApiResponse) -> Json:
    headers = {
        k: v for k, v in response.headers.items() if k.lower() not in ("request-id", "client-request-id")
    }
    item: Json = {"id": item_id, "status": response.status, "headers": headers}
    if response.body is not None:
        if isinstance(response.body, str):
            headers.setdefault("Content-Type", "text/plain")
        else:
            headers.setdefault("Content-Type", "application/json")
        item["body"] = response.body
    return item


def _inner_request(envelope: ApiRequest, item: Mapping[str, Any]) -> tuple[ApiRequest, GraphError | None]:
    url = str(item.get("url", ""))
    inner = ApiRequest(
        method=str(item.get("method", "GET")).upper(),
        path="",
        segments=(),
        query={},
        headers={str(k).lower(): str(v) for k, v in (item.get("headers") or {}).items()},
        body=item.get("body"),
        base_url=envelope.base_url,
        request_id=str(uuid.uuid4()),
        client_request_id=envelope.client_request_id,
        app_id=envelope.app_id,
        batch_request_id=envelope.request_id,
    )
    if "://" in url:
        # "JSON batching": each url is relative (/users), never https://graph.microsoft.com/v1.0/users.
        return inner, GraphError(
            400, "BadRequest", f"Invalid request URI '{url}': batch request URLs must be relative."
        )
    split = urlsplit(url if url.startswith("/") else "/" + url)
    path = split.path
    if path.lower().startswith("/v1.0/"):
        path = path[len("/v1.0") :]
    inner.path = unquote(path)
    inner.segments = tuple(unquote(s) for s in path.split("/") if s)
    inner.query = parse_query(split.query)
    return inner, None


def parse_query(raw: str) -> dict[str, str]:
    """Decode a query string; Graph accepts system query options with or without the ``$``."""
    out: dict[str, str] = {}
    for pair in raw.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        name = unquote(name.replace("+", " "))
        value = unquote(value.replace("+", " "))
        if name.lower() in {"filter", "select", "top", "count", "skiptoken", "orderby", "search", "expand"}:
            name = "$" + name
        out[name.lower() if name.startswith("$") else name] = value
    return out
