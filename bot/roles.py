"""Who may do what: roles come from Entra security groups, checked through Graph with a short cache.

A role is never taken from anything a card or a message sends back; only the caller's Entra object id
(``from.aadObjectId``, set by Teams) is used, and Graph answers which of our groups it belongs to.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from provisioning.errors import NotFound

log = logging.getLogger(__name__)


class Role(StrEnum):
    REQUESTER = "requester"
    APPROVER = "approver"
    ADMINISTRATOR = "administrator"


class MembershipSource(Protocol):
    """What the role check needs from Graph (the gateway implements it)."""

    async def check_member_groups(self, user_id: str, group_ids: Iterable[str]) -> frozenset[str]: ...

    async def group_member_ids(self, group_id: str) -> frozenset[str]: ...


@dataclass(frozen=True)
class RoleGroups:
    requesters: str
    approvers: str
    administrators: str

    def by_role(self) -> dict[Role, str]:
        return {
            Role.REQUESTER: self.requesters,
            Role.APPROVER: self.approvers,
            Role.ADMINISTRATOR: self.administrators,
        }


class RoleDirectory:
    """Roles of a user, cached per user for ``ttl_seconds``; a removal from a group counts after that.

    Concurrent look-ups for the same user share one Graph call. A failed look-up is not cached and
    grants nothing (the caller sees an error, never a silent allow).

    :meth:`refresh_members` (run in the background every half ``ttl_seconds``) keeps each role group's
    direct members as a positive cache, so an approver's click is answered without waiting for Graph.
    A snapshot older than ``ttl_seconds`` is ignored, so a removal still counts within that time; someone
    not in a snapshot (a nested-group member, or nobody) is asked about through the per-user look-up.
    """

    def __init__(
        self,
        source: MembershipSource,
        groups: RoleGroups,
        *,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._groups = groups
        self._ttl = ttl_seconds
        self._clock = clock
        self._cache: dict[str, tuple[float, frozenset[Role]]] = {}
        self._pending: dict[str, asyncio.Future[frozenset[Role]]] = {}
        self._members: dict[Role, tuple[float, frozenset[str]]] = {}

    async def roles_of(self, aad_object_id: str | None) -> frozenset[Role]:
        """The roles of the user with this Entra object id (none for an unknown or missing id)."""
        if not aad_object_id:
            return frozenset()
        now = self._clock()
        cached = self._cache.get(aad_object_id)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        pending = self._pending.get(aad_object_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[frozenset[Role]] = asyncio.get_running_loop().create_future()
        self._pending[aad_object_id] = future
        try:
            roles = await self._look_up(aad_object_id)
        except BaseException as err:
            future.set_exception(err)
            # Nobody else may be waiting; mark the exception retrieved so asyncio does not warn.
            future.exception()
            raise
        finally:
            self._pending.pop(aad_object_id, None)
        self._cache[aad_object_id] = (self._clock(), roles)
        future.set_result(roles)
        return roles

    async def has_role(self, aad_object_id: str | None, role: Role) -> bool:
        if aad_object_id and self._in_snapshot(aad_object_id, role):
            return True
        return role in await self.roles_of(aad_object_id)

    def _in_snapshot(self, aad_object_id: str, role: Role) -> bool:
        snapshot = self._members.get(role)
        if snapshot is None or self._clock() - snapshot[0] >= self._ttl:
            return False
        return aad_object_id.lower() in snapshot[1]

    async def refresh_members(self) -> None:
        """Reload every role group's direct members; a group that fails keeps its (ageing) snapshot."""
        for role, group in self._groups.by_role().items():
            try:
                members = await self._source.group_member_ids(group)
            except Exception:
                log.warning("could not list the members of the %s group", role.value, exc_info=True)
                continue
            self._members[role] = (self._clock(), frozenset(member.lower() for member in members))

    async def keep_members_fresh(self) -> None:
        """Refresh the member snapshots every half TTL, until cancelled."""
        while True:
            await self.refresh_members()
            await asyncio.sleep(self._ttl / 2)

    def forget(self, aad_object_id: str | None = None) -> None:
        """Drop cached roles (of one user, or of everyone)."""
        if aad_object_id is None:
            self._cache.clear()
        else:
            self._cache.pop(aad_object_id, None)

    async def _look_up(self, aad_object_id: str) -> frozenset[Role]:
        by_role = self._groups.by_role()
        try:
            member_of = await self._source.check_member_groups(aad_object_id, set(by_role.values()))
        except NotFound:
            # Not in the directory (a guest of another tenant, a deleted user): no roles, not an error.
            return frozenset()
        return frozenset(role for role, group in by_role.items() if group in member_of)
