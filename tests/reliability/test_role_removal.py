"""Roles come from Entra group membership with a short cache: a removal counts within the cache time.

The real role directory asks the real sandbox tenant through the real Graph gateway; its clock is a
manual one, so "the cache time passed" is a step, not a wait. The approver is removed from the approvers
group in the sandbox (as an administrator would in Entra) between two clicks. Each test runs on SQLite and
on PostgreSQL (the ``pipeline`` fixture).
"""

# Fixtures are imported, then requested by name as parameters: pytest's pattern, not a redefinition.
# ruff: noqa: F811

from __future__ import annotations

import json

from bot.approvals import ApprovalDesk, Clicker
from bot.roles import RoleDirectory, RoleGroups
from cards.actions import ApprovePayload
from onboarding.requests import RequestStatus
from settings import (
    SANDBOX_ADMINS_GROUP_ID,
    SANDBOX_APPROVERS_GROUP_ID,
    SANDBOX_REQUESTERS_GROUP_ID,
    load_settings,
)
from storage.clock import utc_now
from storage.jobs import JobQueue
from tests.provisioning.pipeline_fixtures import PAULA, Pipeline, RecordingProgress, pipeline  # noqa: F401
from tests.support.postgres import any_migrated_database_url, postgres_url  # noqa: F401  (fixtures)

REFUSED = "Only members of the approvers group can decide requests."
#: The cache time the bot runs with (ROLE_CACHE_SECONDS' default).
ROLE_CACHE_SECONDS = load_settings(bot_mode="sandbox").role_cache_seconds


class ManualClock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def wired(pipeline: Pipeline, clock: ManualClock) -> ApprovalDesk:
    roles = RoleDirectory(
        pipeline.graph,
        RoleGroups(SANDBOX_REQUESTERS_GROUP_ID, SANDBOX_APPROVERS_GROUP_ID, SANDBOX_ADMINS_GROUP_ID),
        ttl_seconds=ROLE_CACHE_SECONDS,
        clock=clock,
    )
    return ApprovalDesk(
        requests=pipeline.requests,
        steps=pipeline.steps,
        jobs=JobQueue(pipeline.database),
        audit=pipeline.audit,
        roles=roles,
        vault=pipeline.vault,
        notifier=RecordingProgress(),  # type: ignore[arg-type]
        clock=utc_now,
    )


def roles_of(desk: ApprovalDesk) -> RoleDirectory:
    """The desk's role directory (the bot refreshes the same object's snapshots in the background)."""
    roles = desk._roles  # the test drives the same object the desk reads
    assert isinstance(roles, RoleDirectory)
    return roles


async def approve_as_paula(desk: ApprovalDesk, pipeline: Pipeline, first: str) -> tuple[str, RequestStatus]:
    stored = await pipeline.submitted(first=first)
    card = await desk.approve(
        Clicker(PAULA.aad_object_id, PAULA.display_name),
        ApprovePayload(request_id=stored.request.request_id, card_version=stored.version),
    )
    return json.dumps(card), (await pipeline.current(stored.request.number)).request.status


def remove_paula_from_the_approvers(pipeline: Pipeline) -> None:
    tenant = pipeline.sandbox.tenant
    with tenant.lock:
        tenant.members[SANDBOX_APPROVERS_GROUP_ID].remove(PAULA.aad_object_id)


async def test_an_approver_in_the_group_may_approve(pipeline: Pipeline) -> None:
    desk = wired(pipeline, ManualClock())
    _, status = await approve_as_paula(desk, pipeline, "Bob")
    assert status is RequestStatus.APPROVED


async def test_a_removed_approver_is_refused_once_the_cache_time_passed(pipeline: Pipeline) -> None:
    clock = ManualClock()
    desk = wired(pipeline, clock)
    await approve_as_paula(desk, pipeline, "Bob")  # cached: Paula is an approver
    remove_paula_from_the_approvers(pipeline)
    clock.now += ROLE_CACHE_SECONDS + 0.001
    card, status = await approve_as_paula(desk, pipeline, "Carl")
    assert status is RequestStatus.PENDING_APPROVAL
    assert REFUSED in card


async def test_the_group_snapshot_does_not_outlive_the_cache_time(pipeline: Pipeline) -> None:
    clock = ManualClock()
    desk = wired(pipeline, clock)
    await roles_of(desk).refresh_members()  # what the bot's background refresh does at start-up
    remove_paula_from_the_approvers(pipeline)
    clock.now += ROLE_CACHE_SECONDS + 0.001
    card, status = await approve_as_paula(desk, pipeline, "Carl")
    assert status is RequestStatus.PENDING_APPROVAL
    assert REFUSED in card


async def test_within_the_cache_time_the_cached_role_still_counts(pipeline: Pipeline) -> None:
    # The documented trade-off (ROLE_CACHE_SECONDS): a removal may take up to that long to count.
    clock = ManualClock()
    desk = wired(pipeline, clock)
    await approve_as_paula(desk, pipeline, "Bob")
    remove_paula_from_the_approvers(pipeline)
    clock.now += ROLE_CACHE_SECONDS / 2
    _, status = await approve_as_paula(desk, pipeline, "Carl")
    assert status is RequestStatus.APPROVED
