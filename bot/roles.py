"""Who may do what: roles come from Entra security groups, checked through Graph with a short cache.

A role is never taken from anything a card or a message sends back; only the caller's Entra object id
(``from.aadObjectId``, set by Teams) is used, and Graph answers which of our groups it belongs to.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Role(StrEnum):
    REQUESTER = "requester"
    APPROVER = "approver"
    ADMINISTRATOR = "administrator"


class MembershipSource(Protocol):
    """What the role check needs from Graph (the gateway implements it)."""

    async def check_member_groups(self, user_id: str, group_ids: Iterable[str]) -> frozenset[str]: ...


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
        return role in await self.roles_of(aad_object_id)

    def forget(self, aad_object_id: str | None = None) -> None:
        """Drop cached roles (of one user, or of everyone)."""
        if aad_object_id is None:
            self._cache.clear()
        else:
            self._cache.pop(aad_object_id, None)

    async def _look_up(self, aad_object_id: str) -> frozenset[Role]:
        by_role = self._groups.by_role()
        member_of = await self._source.check_member_groups(aad_object_id, set(by_role.values()))
        return frozenset(role for role, group in by_role.items() if group in member_of)
