"""Roles come from group membership, cached for a short time; failures grant nothing."""

import asyncio
from collections.abc import Iterable

import pytest

from bot.roles import Role, RoleDirectory, RoleGroups

GROUPS = RoleGroups(requesters="g-req", approvers="g-app", administrators="g-adm")


class RecordingMembership:
    """Answers from a dict and records every call, like Graph's checkMemberGroups."""

    def __init__(self, members: dict[str, set[str]]) -> None:
        self.members = members
        self.calls: list[str] = []
        self.fail_with: Exception | None = None
        self.delay = 0.0

    async def check_member_groups(self, user_id: str, group_ids: Iterable[str]) -> frozenset[str]:
        self.calls.append(user_id)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_with is not None:
            raise self.fail_with
        return frozenset(set(group_ids) & self.members.get(user_id, set()))

    async def group_member_ids(self, group_id: str) -> frozenset[str]:
        self.calls.append(f"members:{group_id}")
        if self.fail_with is not None:
            raise self.fail_with
        return frozenset(user for user, groups in self.members.items() if group_id in groups)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_roles_follow_group_membership() -> None:
    source = RecordingMembership({"adam": {"g-app", "g-adm"}, "alice": {"g-req"}})
    directory = RoleDirectory(source, GROUPS, ttl_seconds=60)
    assert await directory.roles_of("adam") == {Role.APPROVER, Role.ADMINISTRATOR}
    assert await directory.roles_of("alice") == {Role.REQUESTER}
    assert await directory.roles_of("nora") == frozenset()


async def test_missing_identity_has_no_roles_and_asks_nobody() -> None:
    source = RecordingMembership({})
    directory = RoleDirectory(source, GROUPS, ttl_seconds=60)
    assert await directory.roles_of(None) == frozenset()
    assert source.calls == []


async def test_cached_within_ttl_and_removal_counts_after_it() -> None:
    source = RecordingMembership({"adam": {"g-app"}})
    clock = Clock()
    directory = RoleDirectory(source, GROUPS, ttl_seconds=60, clock=clock)
    assert await directory.has_role("adam", Role.APPROVER)
    source.members["adam"] = set()  # removed from the approvers group in Entra
    clock.now += 59
    assert await directory.has_role("adam", Role.APPROVER)
    assert source.calls == ["adam"]
    clock.now += 2
    assert not await directory.has_role("adam", Role.APPROVER)
    assert source.calls == ["adam", "adam"]


async def test_concurrent_lookups_share_one_call() -> None:
    source = RecordingMembership({"adam": {"g-app"}})
    source.delay = 0.05
    directory = RoleDirectory(source, GROUPS, ttl_seconds=60)
    results = await asyncio.gather(*(directory.roles_of("adam") for _ in range(20)))
    assert all(r == {Role.APPROVER} for r in results)
    assert source.calls == ["adam"]


async def test_failure_is_raised_not_cached() -> None:
    source = RecordingMembership({"adam": {"g-app"}})
    source.fail_with = ConnectionError("graph down")
    directory = RoleDirectory(source, GROUPS, ttl_seconds=60)
    with pytest.raises(ConnectionError):
        await directory.roles_of("adam")
    source.fail_with = None
    assert await directory.roles_of("adam") == {Role.APPROVER}


async def test_member_snapshot_answers_an_approver_without_asking_graph() -> None:
    source = RecordingMembership({"adam": {"g-app"}})
    clock = Clock()
    directory = RoleDirectory(source, GROUPS, ttl_seconds=60, clock=clock)
    await directory.refresh_members()
    source.calls.clear()
    assert await directory.has_role("adam", Role.APPROVER)
    assert await directory.has_role("ADAM", Role.APPROVER)
    assert source.calls == []


async def test_a_stale_snapshot_is_ignored_so_removals_count_within_the_ttl() -> None:
    source = RecordingMembership({"adam": {"g-app"}})
    clock = Clock()
    directory = RoleDirectory(source, GROUPS, ttl_seconds=60, clock=clock)
    await directory.refresh_members()
    source.members["adam"] = set()
    clock.now += 61
    assert not await directory.has_role("adam", Role.APPROVER)
    assert source.calls[-1] == "adam"


async def test_someone_outside_the_snapshot_is_looked_up() -> None:
    source = RecordingMembership({"adam": {"g-app"}})
    directory = RoleDirectory(source, GROUPS, ttl_seconds=60)
    await directory.refresh_members()
    source.members["nested"] = {"g-app"}  # e.g. through a nested group: not a direct member when listed
    assert await directory.has_role("nested", Role.APPROVER)
    assert source.calls[-1] == "nested"


async def test_a_failed_refresh_keeps_the_previous_snapshot() -> None:
    source = RecordingMembership({"adam": {"g-app"}})
    clock = Clock()
    directory = RoleDirectory(source, GROUPS, ttl_seconds=60, clock=clock)
    await directory.refresh_members()
    source.fail_with = ConnectionError("graph down")
    clock.now += 10
    await directory.refresh_members()
    assert await directory.has_role("adam", Role.APPROVER)
