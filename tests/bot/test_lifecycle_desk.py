"""LifecycleDesk: who may extend, offboard and reset; extension within the maximum at once (once, whatever
the clicks), beyond it by approval; approvals never by the requester or the sponsor; every change a job.

Real database and stores on the provisioning pipeline, roles from a recording membership source, a recording
stand-in for the lifecycle notifier (what would be posted is not the point here)."""

# Fixtures are imported, then requested by name as parameters: pytest's pattern, not a redefinition.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime
from typing import Any

from bot.approvals import Clicker
from bot.lifecycle_desk import LifecycleDesk
from bot.roles import RoleDirectory, RoleGroups
from cards.actions import (
    LifecycleApprovePayload,
    LifecycleExtendPayload,
    LifecycleOffboardPayload,
    LifecycleResetPasswordPayload,
)
from onboarding.lifecycle import LifecyclePolicy, access_ends_at
from provisioning.credentials import JOB_RESET_PASSWORD
from provisioning.offboarding import JOB_OFFBOARD, JOB_STAMP_LEAVE_DATE
from provisioning.worker import JobWorker
from storage.jobs import JobState
from storage.lifecycle import StoredLifecycleRequest
from tests.bot.test_approvals import Membership
from tests.provisioning.lifecycle_support import UPN, Lifecycle, MovableClock, lifecycle_on, provisioned
from tests.provisioning.pipeline_fixtures import (  # noqa: F401  (fixtures)
    ADAM,
    ALICE,
    PAULA,
    Pipeline,
    pipeline,
)

APPROVERS, ADMINS = "g-approvers", "g-admins"
NORA = Clicker("0b0a0000-0000-4000-8000-000000000005", "Nora Nobody")
OSCAR = Clicker("05ca0000-0000-4000-8000-000000000006", "Oscar Admin")
SPONSOR = Clicker(ALICE.aad_object_id, ALICE.display_name)
APPROVER = Clicker(ADAM.aad_object_id, ADAM.display_name)
TODAY = datetime(2030, 3, 17, 9, 0, tzinfo=UTC)  # 14 days before Bob's end date, 2030-03-31


class RecordingLifecycleNotifier:
    def __init__(self) -> None:
        self.posted: list[str] = []
        self.updated: list[str] = []

    async def post_approval_card(self, stored: StoredLifecycleRequest) -> bool:
        self.posted.append(stored.request_id)
        return True

    async def update_approval_card(self, stored: StoredLifecycleRequest) -> None:
        self.updated.append(stored.request_id)

    async def approval_card(
        self, stored: StoredLifecycleRequest, *, notice: str | None = None, may_act: bool = True
    ) -> dict[str, Any]:
        return {"request": stored.request_id, "status": stored.status, "notice": notice}


def desk_for(life: Lifecycle, notifier: RecordingLifecycleNotifier) -> LifecycleDesk:
    roles = RoleDirectory(
        Membership(
            {
                ADAM.aad_object_id: {APPROVERS},
                PAULA.aad_object_id: {APPROVERS},
                ALICE.aad_object_id: {APPROVERS},  # the sponsor is an approver too
                OSCAR.aad_object_id or "": {ADMINS},
            }
        ),
        RoleGroups(requesters="g-requesters", approvers=APPROVERS, administrators=ADMINS),
        ttl_seconds=60,
    )
    return LifecycleDesk(
        accounts=life.accounts,
        lifecycle=life.lifecycle,
        lifecycle_requests=life.lifecycle_requests,
        jobs=life.jobs,
        audit=life.audit,
        roles=roles,
        notices=notifier,  # type: ignore[arg-type]
        policy=life.policy,
        clock=life.clock,
    )


async def _wired(
    pipeline: Pipeline, policy: LifecyclePolicy | None = None
) -> tuple[Lifecycle, LifecycleDesk, RecordingLifecycleNotifier]:
    await provisioned(pipeline)
    life = lifecycle_on(pipeline, clock=MovableClock(TODAY), policy=policy)
    notifier = RecordingLifecycleNotifier()
    return life, desk_for(life, notifier), notifier


def extend(days: int, seen: str = "2030-03-31") -> LifecycleExtendPayload:
    return LifecycleExtendPayload(upn=UPN, days=days, end_date=seen)


async def _end_date(life: Lifecycle) -> date:
    account = await life.accounts.get(UPN)
    assert account is not None
    return account.end_date


async def _pending_kinds(life: Lifecycle) -> list[str]:
    kinds = []
    while (job := await life.jobs.claim("t", None, 30)) is not None:
        kinds.append(job.kind)
    return kinds


# ------------------------------------------------------------------------------------------- extend


async def test_the_sponsor_extends_within_the_maximum_at_once(pipeline: Pipeline) -> None:
    life, desk, _ = await _wired(pipeline)
    await desk.extend(SPONSOR, extend(30))
    assert await _end_date(life) == date(2030, 4, 30)


async def test_an_extension_enqueues_the_leave_date_stamp(pipeline: Pipeline) -> None:
    life, desk, _ = await _wired(pipeline)
    await desk.extend(SPONSOR, extend(30))
    assert await _pending_kinds(life) == [JOB_STAMP_LEAVE_DATE]


async def test_an_extension_moves_the_leave_date_in_graph(pipeline: Pipeline) -> None:
    life, desk, _ = await _wired(pipeline)
    await desk.extend(SPONSOR, extend(30))
    worker = JobWorker(life.jobs, life.runner().job_handlers(), worker_id="w")
    while await worker.run_once():
        pass
    [user] = pipeline.users_with_marker("VND-000001")
    stamped = datetime.fromisoformat(str(user["employeeLeaveDateTime"]).replace("Z", "+00:00"))
    assert stamped == access_ends_at(date(2030, 4, 30))


async def test_ten_clicks_on_one_card_extend_once(pipeline: Pipeline) -> None:
    life, desk, _ = await _wired(pipeline)
    await asyncio.gather(*(desk.extend(SPONSOR, extend(30)) for _ in range(10)))
    assert await _end_date(life) == date(2030, 4, 30)


async def test_a_stale_card_does_not_extend(pipeline: Pipeline) -> None:
    life, desk, _ = await _wired(pipeline)
    card = await desk.extend(SPONSOR, extend(30, seen="2030-03-01"))
    assert await _end_date(life) == date(2030, 3, 31)
    assert "end date changed" in json.dumps(card)


async def test_an_extension_beyond_the_maximum_asks_an_approver(pipeline: Pipeline) -> None:
    life, desk, notifier = await _wired(pipeline)
    await desk.extend(SPONSOR, extend(90))
    pending = await life.lifecycle_requests.pending_for(UPN, "extend")
    assert await _end_date(life) == date(2030, 3, 31)
    assert pending is not None
    assert notifier.posted == [pending.request_id]


async def test_an_approver_approves_the_extension(pipeline: Pipeline) -> None:
    life, desk, _ = await _wired(pipeline)
    await desk.extend(SPONSOR, extend(90))
    pending = await life.lifecycle_requests.pending_for(UPN, "extend")
    assert pending is not None
    await desk.approve(
        APPROVER, LifecycleApprovePayload(lifecycle_request_id=pending.request_id, card_version=1)
    )
    assert await _end_date(life) == date(2030, 6, 29)


async def test_a_bot_administrator_who_is_not_an_approver_approves_the_extension(pipeline: Pipeline) -> None:
    life, desk, _ = await _wired(pipeline)
    await desk.extend(SPONSOR, extend(90))
    pending = await life.lifecycle_requests.pending_for(UPN, "extend")
    assert pending is not None
    await desk.approve(
        OSCAR, LifecycleApprovePayload(lifecycle_request_id=pending.request_id, card_version=1)
    )
    assert await _end_date(life) == date(2030, 6, 29)


async def test_someone_with_no_role_cannot_approve_and_reads_who_can(pipeline: Pipeline) -> None:
    life, desk, _ = await _wired(pipeline)
    await desk.extend(SPONSOR, extend(90))
    pending = await life.lifecycle_requests.pending_for(UPN, "extend")
    assert pending is not None
    card = await desk.approve(
        NORA, LifecycleApprovePayload(lifecycle_request_id=pending.request_id, card_version=1)
    )
    assert await _end_date(life) == date(2030, 3, 31)
    assert "Only approvers and bot administrators can decide." in json.dumps(card)


async def test_the_sponsor_cannot_approve_their_own_extension(pipeline: Pipeline) -> None:
    life, desk, _ = await _wired(pipeline)
    await desk.extend(SPONSOR, extend(90))
    pending = await life.lifecycle_requests.pending_for(UPN, "extend")
    assert pending is not None
    await desk.approve(
        SPONSOR, LifecycleApprovePayload(lifecycle_request_id=pending.request_id, card_version=1)
    )
    assert await _end_date(life) == date(2030, 3, 31)
    assert await life.lifecycle_requests.pending_for(UPN, "extend") is not None


async def test_someone_who_is_neither_sponsor_nor_administrator_changes_nothing(pipeline: Pipeline) -> None:
    life, desk, _ = await _wired(pipeline)
    card = await desk.extend(NORA, extend(30))
    assert await _end_date(life) == date(2030, 3, 31)
    assert "Not found" in json.dumps(card)


async def test_an_administrator_may_extend_an_account_they_do_not_sponsor(pipeline: Pipeline) -> None:
    life, desk, _ = await _wired(pipeline)
    await desk.extend(OSCAR, extend(30))
    assert await _end_date(life) == date(2030, 4, 30)


async def test_the_extend_command_shows_the_extension_buttons(pipeline: Pipeline) -> None:
    _, desk, _ = await _wired(pipeline)
    card = json.dumps(await desk.extend_command(SPONSOR, UPN))
    assert "Extend 30 days" in card
    assert "Extend 90 days" in card


# ------------------------------------------------------------------------------------ offboard, reset


async def test_the_sponsor_offboards_now(pipeline: Pipeline) -> None:
    life, desk, _ = await _wired(pipeline)
    await desk.offboard(SPONSOR, LifecycleOffboardPayload(upn=UPN))
    assert await _pending_kinds(life) == [JOB_OFFBOARD]


async def test_with_approval_configured_the_sponsor_asks_to_offboard(pipeline: Pipeline) -> None:
    life, desk, _ = await _wired(pipeline, LifecyclePolicy(offboarding_needs_approval=True))
    await desk.offboard(SPONSOR, LifecycleOffboardPayload(upn=UPN))
    assert await _pending_kinds(life) == []
    assert await life.lifecycle_requests.pending_for(UPN, "offboard") is not None


async def test_with_approval_configured_an_administrator_offboards_at_once(pipeline: Pipeline) -> None:
    life, desk, _ = await _wired(pipeline, LifecyclePolicy(offboarding_needs_approval=True))
    await desk.offboard(OSCAR, LifecycleOffboardPayload(upn=UPN))
    assert await _pending_kinds(life) == [JOB_OFFBOARD]


async def test_an_approved_offboarding_is_enqueued(pipeline: Pipeline) -> None:
    life, desk, _ = await _wired(pipeline, LifecyclePolicy(offboarding_needs_approval=True))
    await desk.offboard(SPONSOR, LifecycleOffboardPayload(upn=UPN))
    pending = await life.lifecycle_requests.pending_for(UPN, "offboard")
    assert pending is not None
    await desk.approve(
        APPROVER, LifecycleApprovePayload(lifecycle_request_id=pending.request_id, card_version=1)
    )
    assert await _pending_kinds(life) == [JOB_OFFBOARD]


async def test_of_two_approvals_one_wins(pipeline: Pipeline) -> None:
    life, desk, _ = await _wired(pipeline, LifecyclePolicy(offboarding_needs_approval=True))
    await desk.offboard(SPONSOR, LifecycleOffboardPayload(upn=UPN))
    pending = await life.lifecycle_requests.pending_for(UPN, "offboard")
    assert pending is not None
    payload = LifecycleApprovePayload(lifecycle_request_id=pending.request_id, card_version=1)
    paula = Clicker(PAULA.aad_object_id, PAULA.display_name)
    await asyncio.gather(desk.approve(APPROVER, payload), desk.approve(paula, payload))
    counts = await life.jobs.counts()
    assert counts[JobState.PENDING] == 1


async def test_the_sponsor_asks_for_a_new_password(pipeline: Pipeline) -> None:
    life, desk, _ = await _wired(pipeline)
    await desk.reset_password(SPONSOR, LifecycleResetPasswordPayload(upn=UPN))
    assert await _pending_kinds(life) == [JOB_RESET_PASSWORD]
