"""JSON batching (``POST /$batch``) for bulk work, built on the gateway's SDK client.

msgraph-core 1.5.2's own batch classes are broken (FACTS.md: ``depends_on`` is sent instead of
``dependsOn``, and JSON response bodies are dropped), so this module writes and reads the batch JSON
itself and sends it through the SDK's request adapter: the same authentication, base URL, retry
handler and error translation as every other call of :class:`~provisioning.graph.GraphGateway`.

::

    batch = GraphBatch(gateway)
    create = batch.create_user(spec)
    batch.assign_licenses(spec.user_principal_name, add=[...], depends_on=[create])
    results = await batch.send()          # {step id: BatchResult}
    results[create].user                  # DirectoryUser

Rules of Graph's JSON batching ("Combine multiple HTTP requests using JSON batching") that shape it:

* at most 20 requests per batch: steps are sent in chunks of up to 20, and a chain of steps joined by
  ``depends_on`` always travels in one chunk (a longer chain is refused up front);
* a request whose dependency failed is not run and answers 424 (:class:`DependencyFailed`);
* each request is throttled on its own: a 429 inside the batch comes back as that step's
  :class:`Throttled` (with ``retry_after``) and is **not** retried here; every step is idempotent
  (creates are reconciled, see below), so the caller sends the retryable ones again later;
* a new user can be addressed by UPN in the same batch (``assignLicense``), but group membership
  needs the object id, so ``add_group_member`` belongs in a later batch, once the id is known.

Idempotency: the envelope may be re-sent (SDK retry of a 429/503/504 envelope, or a dropped
connection), so every step must be safe to run twice, and is:

* ``create_user``: after a duplicate-UPN answer, or an ambiguous one (429/5xx) for that step, the
  UPN is looked up; an account carrying the step's marker is the step's result (``reconciled``);
  an account with another marker is :class:`AlreadyExists`;
* ``add_group_member``: "already exist" is success; ``delete_user``: 404 is success;
  ``remove_group_member``: 404 is success once ``checkMemberGroups`` says the account is not in the group
  (Graph also answers 404 while a new account replicates; then the step keeps its :class:`NotFound` and
  the caller sends it again later, as :meth:`GraphGateway.remove_group_member` retries it);
  ``assignLicense`` (add) and ``PATCH`` repeat harmlessly.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal
from uuid import UUID

from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from kiota_serialization_json.json_parse_node import JsonParseNode
from msgraph.generated.models.assigned_license import AssignedLicense
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.reference_create import ReferenceCreate
from msgraph.generated.models.user import User
from msgraph.generated.users.item.assign_license.assign_license_post_request_body import (
    AssignLicensePostRequestBody,
)

from provisioning.directory import DirectoryUser, LicenseAssignment, NewUser, UserChanges
from provisioning.errors import AlreadyExists, DependencyFailed, GraphError, Throttled, Unavailable
from provisioning.graph import (
    GraphGateway,
    _check_key,
    _check_object_id,
    _created_user,
    _new_user_body,
    _patch_body,
    error_for_response,
    retry_after_seconds,
)

__all__ = ["MAX_BATCH_REQUESTS", "BatchResult", "GraphBatch"]

#: Graph's limit of requests in one ``$batch``.
MAX_BATCH_REQUESTS: Final = 20

_ALREADY_MEMBER_TEXT: Final = "added object references already exist"
#: Extra rounds for steps that got 424 only because their dependency was reconciled (see _unblocked).
_FOLLOW_UP_ROUNDS: Final = 2

StepKind = Literal[
    "create_user",
    "assign_licenses",
    "add_group_member",
    "remove_group_member",
    "update_user",
    "revoke_sessions",
    "delete_user",
]


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The outcome of one step of a batch.

    ``error`` is ``None`` on success. ``user`` is the account for a successful ``create_user`` step.
    ``reconciled`` says the step's effect was found already in place (a replayed create, a member
    already in the group, a user already deleted) rather than made by this request.
    """

    step_id: str
    kind: StepKind
    status: int
    error: GraphError | None = None
    user: DirectoryUser | None = None
    reconciled: bool = False

    @property
    def ok(self) -> bool:
        """Whether the step's effect is in place."""
        return self.error is None

    def raise_for_error(self) -> None:
        """Raise the step's error, if it has one."""
        if self.error is not None:
            raise self.error


@dataclass(slots=True)
class _Step:
    step_id: str
    kind: StepKind
    what: str
    request: RequestInformation
    depends_on: tuple[str, ...]
    spec: NewUser | None = None
    json_body: Any = field(default=None)
    #: For ``remove_group_member``: (group id, member id), to tell "not a member" from "replicating".
    membership: tuple[str, str] | None = None


class GraphBatch:
    """Steps to send as JSON batches through ``gateway``; build, then ``await send()`` once."""

    def __init__(self, gateway: GraphGateway) -> None:
        self._gateway = gateway
        self._client = gateway._client  # package-internal: the batch shares the gateway's SDK client
        self._steps: dict[str, _Step] = {}
        self._ids = itertools.count(1)
        self._sent = False

    def __len__(self) -> int:
        return len(self._steps)

    # ------------------------------------------------------------------------------------- steps

    def create_user(self, spec: NewUser, *, depends_on: Sequence[str] = ()) -> str:
        """``POST /users``; returns the step id (use it in ``depends_on`` of later steps)."""
        request = self._client.users.to_post_request_information(_new_user_body(spec))
        return self._add("create_user", f"create user {spec.user_principal_name}", request, depends_on, spec)

    def assign_licenses(
        self,
        user: str,
        add: Sequence[LicenseAssignment] = (),
        remove: Sequence[UUID] = (),
        *,
        depends_on: Sequence[str] = (),
    ) -> str:
        """``assignLicense`` for a user by object id or UPN (a UPN works right after its create step)."""
        key = _check_key(user, "user id or UPN")
        body = AssignLicensePostRequestBody(
            add_licenses=[
                AssignedLicense(sku_id=a.sku_id, disabled_plans=sorted(a.disabled_plans)) for a in add
            ],
            remove_licenses=list(remove),
        )
        request = self._client.users.by_user_id(key).assign_license.to_post_request_information(body)
        return self._add("assign_licenses", f"assign licenses to {key}", request, depends_on)

    def add_group_member(self, group_id: str, member_id: str, *, depends_on: Sequence[str] = ()) -> str:
        """``POST /groups/{id}/members/$ref`` (the member by object id)."""
        group, member = _check_key(group_id, "group id"), _check_object_id(member_id)
        reference = ReferenceCreate(odata_id=f"{self._gateway.base_url}/directoryObjects/{member}")
        request = self._client.groups.by_group_id(group).members.ref.to_post_request_information(reference)
        return self._add("add_group_member", f"add {member} to group {group}", request, depends_on)

    def remove_group_member(self, group_id: str, member_id: str, *, depends_on: Sequence[str] = ()) -> str:
        """``DELETE /groups/{id}/members/{id}/$ref``."""
        group, member = _check_key(group_id, "group id"), _check_object_id(member_id)
        builder = self._client.groups.by_group_id(group).members.by_directory_object_id(member).ref
        request = builder.to_delete_request_information()
        what = f"remove {member} from group {group}"
        return self._add("remove_group_member", what, request, depends_on, membership=(group, member))

    def update_user(self, user: str, changes: UserChanges, *, depends_on: Sequence[str] = ()) -> str:
        """``PATCH /users/{id}`` of the given properties."""
        key = _check_key(user, "user id or UPN")
        request = self._client.users.by_user_id(key).to_patch_request_information(_patch_body(changes))
        return self._add("update_user", f"update user {key}", request, depends_on)

    def revoke_sessions(self, user: str, *, depends_on: Sequence[str] = ()) -> str:
        """``POST /users/{id}/revokeSignInSessions``."""
        key = _check_key(user, "user id or UPN")
        request = self._client.users.by_user_id(key).revoke_sign_in_sessions.to_post_request_information()
        return self._add("revoke_sessions", f"revoke sessions of {key}", request, depends_on)

    def delete_user(self, user: str, *, depends_on: Sequence[str] = ()) -> str:
        """``DELETE /users/{id}``."""
        key = _check_key(user, "user id or UPN")
        request = self._client.users.by_user_id(key).to_delete_request_information()
        return self._add("delete_user", f"delete user {key}", request, depends_on)

    # -------------------------------------------------------------------------------------- send

    async def send(self) -> dict[str, BatchResult]:
        """Send every step (chunks of at most 20, sequentially); one result per step id.

        Raises a :class:`GraphError` only when a whole envelope fails (after the SDK's retries);
        failures of single steps are in their results.
        """
        if self._sent:
            raise RuntimeError("a GraphBatch is sent once; build a new one")
        self._sent = True
        results: dict[str, BatchResult] = {}
        for chunk in _chunks(list(self._steps.values())):
            pending = chunk
            for _ in range(_FOLLOW_UP_ROUNDS + 1):
                answers = await self._send_chunk(pending)
                for step in pending:
                    results[step.step_id] = await self._result(step, answers.get(step.step_id))
                pending = _unblocked(pending, results)
                if not pending:
                    break
        return results

    # --------------------------------------------------------------------------------- internals

    def _add(
        self,
        kind: StepKind,
        what: str,
        request: RequestInformation,
        depends_on: Sequence[str],
        spec: NewUser | None = None,
        membership: tuple[str, str] | None = None,
    ) -> str:
        if self._sent:
            raise RuntimeError("this batch was sent already")
        unknown = [d for d in depends_on if d not in self._steps]
        if unknown:
            raise ValueError(f"depends_on names steps not in this batch: {unknown}")
        step_id = str(next(self._ids))
        request.path_parameters["baseurl"] = self._gateway.base_url
        body = json.loads(request.content) if request.content else None
        self._steps[step_id] = _Step(step_id, kind, what, request, tuple(depends_on), spec, body, membership)
        return step_id

    def _envelope_item(self, step: _Step) -> dict[str, Any]:
        url = step.request.url
        base = self._gateway.base_url
        relative = url[len(base) :] if url.startswith(base) else url
        item: dict[str, Any] = {"id": step.step_id, "method": _method(step.request), "url": relative}
        if step.json_body is not None:
            item["headers"] = {"Content-Type": "application/json"}
            item["body"] = step.json_body
        if step.depends_on:
            # The key the SDK gets wrong ('depends_on'): Graph reads 'dependsOn'.
            item["dependsOn"] = list(step.depends_on)
        return item

    async def _send_chunk(self, chunk: list[_Step]) -> dict[str, dict[str, Any]]:
        envelope = {"requests": [self._envelope_item(step) for step in chunk]}
        request = RequestInformation(Method.POST, "{+baseurl}/$batch")
        request.path_parameters["baseurl"] = self._gateway.base_url
        request.headers.try_add("Accept", "application/json")
        request.set_stream_content(json.dumps(envelope).encode(), "application/json")
        # The abstract adapter's return type is an unbound TypeVar; "bytes" gives the raw body.
        adapter: Any = self._client.request_adapter
        # Re-sending a whole envelope is safe: every step is idempotent (module docstring).
        raw: bytes | None = await self._gateway._call(
            f"$batch of {len(chunk)}",
            lambda: adapter.send_primitive_async(request, "bytes", {"XXX": ODataError}),
        )
        if not raw:
            raise Unavailable(f"$batch of {len(chunk)}: Graph answered without a body")
        answers = json.loads(raw).get("responses") or []
        return {str(answer.get("id")): answer for answer in answers}

    async def _result(self, step: _Step, answer: dict[str, Any] | None) -> BatchResult:
        if answer is None:
            error: GraphError = Unavailable(f"{step.what}: no answer for this request in the batch")
            return BatchResult(step.step_id, step.kind, 0, error)
        status = int(answer.get("status") or 0)
        body = answer.get("body")
        if 200 <= status < 300:
            user = None
            if step.kind == "create_user" and step.spec is not None:
                created = JsonParseNode(body or {}).get_object_value(User)
                try:
                    user = _created_user(step.spec, created)
                except GraphError as missing_id:
                    return BatchResult(step.step_id, step.kind, status, missing_id)
            return BatchResult(step.step_id, step.kind, status, user=user)
        error = _item_error(step.what, status, body, answer.get("headers") or {})
        return await self._reconcile(step, status, error)

    async def _reconcile(self, step: _Step, status: int, error: GraphError) -> BatchResult:
        """Turn "already in place" answers into success; look up creates whose outcome is unclear."""
        done = BatchResult(step.step_id, step.kind, status, reconciled=True)
        if step.kind == "add_group_member" and _ALREADY_MEMBER_TEXT in (error.graph_message or "").lower():
            return done
        if step.kind == "delete_user" and status == 404:
            return done
        if step.kind == "remove_group_member" and status == 404 and step.membership is not None:
            group, member = step.membership
            try:
                still_member = bool(await self._gateway.check_member_groups(member, [group]))
            except GraphError:
                still_member = True  # cannot tell (the account may be replicating): the 404 stands
            return BatchResult(step.step_id, step.kind, status, error) if still_member else done
        if step.kind == "create_user" and step.spec is not None:
            if isinstance(error, AlreadyExists):
                existing = await self._gateway._wait_for_user(step.spec.user_principal_name)
            elif isinstance(error, Throttled | Unavailable):
                existing = await self._gateway.find_user_by_upn(step.spec.user_principal_name)
            else:
                existing = None
            if existing is not None:
                try:
                    user = self._gateway._own_account_or_conflict(step.spec, existing, error)
                except AlreadyExists as conflict:
                    return BatchResult(step.step_id, step.kind, status, conflict)
                return BatchResult(step.step_id, step.kind, status, user=user, reconciled=True)
        return BatchResult(step.step_id, step.kind, status, error)


def _unblocked(sent: list[_Step], results: dict[str, BatchResult]) -> list[_Step]:
    """Steps answered 424 whose dependencies turned out fine after all, ready to be sent again.

    A replayed envelope answers its creates "already exists" and so fails their dependants with 424,
    although the creates reconcile to success; those dependants must still run. Their remaining
    ``depends_on`` edges are kept only towards steps that are sent again with them.
    """
    again: dict[str, _Step] = {}
    for step in sent:  # in insertion order: a dependency is always decided before its dependants
        if not isinstance(results[step.step_id].error, DependencyFailed):
            continue
        if all(results[d].ok or d in again for d in step.depends_on):
            again[step.step_id] = replace(step, depends_on=tuple(d for d in step.depends_on if d in again))
    return list(again.values())


def _method(request: RequestInformation) -> str:
    method = request.http_method
    return method.value if isinstance(method, Method) else str(method)


def _item_error(what: str, status: int, body: Any, headers: dict[str, Any]) -> GraphError:
    found = body.get("error") if isinstance(body, dict) else None
    detail: dict[str, Any] = found if isinstance(found, dict) else {}
    found_inner = detail.get("innerError")
    inner: dict[str, Any] = found_inner if isinstance(found_inner, dict) else {}
    lowered = {str(k).lower(): v for k, v in headers.items()}
    return error_for_response(
        what,
        status=status,
        graph_code=detail.get("code"),
        graph_message=detail.get("message"),
        request_id=inner.get("request-id") or lowered.get("request-id"),
        retry_after=retry_after_seconds(lowered),
    )


def _chunks(steps: list[_Step]) -> list[list[_Step]]:
    """Pack steps into chunks of at most 20, never splitting a ``depends_on`` chain."""
    # Union-find over dependencies: each group must travel in one envelope.
    parent = {step.step_id: step.step_id for step in steps}

    def root(step_id: str) -> str:
        while parent[step_id] != step_id:
            parent[step_id] = parent[parent[step_id]]
            step_id = parent[step_id]
        return step_id

    for step in steps:
        for dependency in step.depends_on:
            parent[root(step.step_id)] = root(dependency)
    groups: dict[str, list[_Step]] = {}
    for step in steps:
        groups.setdefault(root(step.step_id), []).append(step)
    chunks: list[list[_Step]] = []
    current: list[_Step] = []
    for group in groups.values():
        if len(group) > MAX_BATCH_REQUESTS:
            raise ValueError(
                f"{len(group)} steps depend on each other; a batch holds at most {MAX_BATCH_REQUESTS}"
            )
        if len(current) + len(group) > MAX_BATCH_REQUESTS:
            chunks.append(current)
            current = []
        current.extend(group)
    if current:
        chunks.append(current)
    return chunks
