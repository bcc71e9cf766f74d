"""The approval desk: every click checked on the server; of many concurrent clicks exactly one wins.

Real database (SQLite and PostgreSQL), real stores and job queue; roles from a recording membership
source; a recording stand-in for the Teams notifier (what would be sent is not the point here).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from datetime import timedelta

from bot.approvals import ApprovalDesk, Clicker
from bot.roles import RoleDirectory, RoleGroups
from cards.actions import ApprovePayload, RejectPayload, RetryPayload, RevealPasswordPayload
from onboarding.requests import RequestStatus
from provisioning.runner import JOB_PROVISION
from storage.clock import utc_now
from storage.jobs import JobQueue
from tests.provisioning.pipeline_fixtures import (  # noqa: F401 - fixtures
    ADAM,
    ALICE,
    PAULA,
    Pipeline,
    pipeline,
)

APPROVERS = "g-approvers"
REQUESTERS = "g-requesters"
NORA_ID = "0b0a0000-0000-4000-8000-000000000005"


class Membership:
    def __init__(self, members: dict[str, set[str]]) -> None:
        self.members = members

    async def check_member_groups(self, user_id: str, group_ids: Iterable[str]) -> frozenset[str]:
        return frozenset(set(group_ids) & self.members.get(user_id, set()))

    async def group_member_ids(self, group_id: str) -> frozenset[str]:
        return frozenset(user for user, groups in self.members.items() if group_id in groups)


class RecordingNotifier:
    def __init__(self) -> None:
        self.changed: list[int] = []

    async def request_changed(self, number: int) -> None:
        self.changed.append(number)


def desk_for(wired: Pipeline, jobs: JobQueue, notifier: RecordingNotifier) -> ApprovalDesk:
    roles = RoleDirectory(
        Membership(
            {
                ADAM.aad_object_id: {APPROVERS},
                PAULA.aad_object_id: {APPROVERS},
                ALICE.aad_object_id: {REQUESTERS, APPROVERS},  # an approver who is also the requester
            }
        ),
        RoleGroups(requesters=REQUESTERS, approvers=APPROVERS, administrators="g-admins"),
        ttl_seconds=60,
    )
    return ApprovalDesk(
        requests=wired.requests,
        steps=wired.steps,
        jobs=jobs,
        audit=wired.audit,
        roles=roles,
        vault=wired.vault,
        notifier=notifier,  # type: ignore[arg-type]
        clock=utc_now,
    )


def text(card: object) -> str:
    return json.dumps(card)


async def test_twenty_concurrent_approvals_give_one_provisioning(pipeline: Pipeline) -> None:  # noqa: F811
    jobs = JobQueue(pipeline.database)
    notifier = RecordingNotifier()
    desk = desk_for(pipeline, jobs, notifier)
    stored = await pipeline.submitted()
    payload = ApprovePayload(request_id=stored.request.request_id, card_version=stored.version)
    clickers = [
        Clicker(ADAM.aad_object_id, ADAM.display_name),
        Clicker(PAULA.aad_object_id, PAULA.display_name),
    ]
    cards = await asyncio.gather(*(desk.approve(clickers[i % 2], payload) for i in range(20)))
    current = await pipeline.current(stored.request.number)
    assert current.request.status is RequestStatus.APPROVED
    winner = current.request.decision.by.display_name if current.request.decision else ""
    assert sum(f"Already approved by {winner}" in text(card) for card in cards) == 19
    counts = await jobs.counts()
    assert sum(counts.values()) == 1
    job = await jobs.claim("w", [JOB_PROVISION], 30)
    assert job is not None
    assert json.loads(job.payload_json)["number"] == stored.request.number
    assert notifier.changed == [stored.request.number]


async def test_the_requester_cannot_approve_even_as_an_approver(pipeline: Pipeline) -> None:  # noqa: F811
    jobs = JobQueue(pipeline.database)
    desk = desk_for(pipeline, jobs, RecordingNotifier())
    stored = await pipeline.submitted()
    card = await desk.approve(
        Clicker(ALICE.aad_object_id, ALICE.display_name),
        ApprovePayload(request_id=stored.request.request_id, card_version=stored.version),
    )
    assert "another approver must decide" in text(card)
    assert (await pipeline.current(stored.request.number)).request.status is RequestStatus.PENDING_APPROVAL
    assert sum((await jobs.counts()).values()) == 0


async def test_a_non_approver_is_refused_and_nothing_changes(pipeline: Pipeline) -> None:  # noqa: F811
    jobs = JobQueue(pipeline.database)
    desk = desk_for(pipeline, jobs, RecordingNotifier())
    stored = await pipeline.submitted()
    nora = Clicker(NORA_ID, "Nora NoRole")
    request_id = stored.request.request_id
    approved = await desk.approve(nora, ApprovePayload(request_id=request_id, card_version=stored.version))
    rejected = await desk.reject(
        nora, RejectPayload(request_id=request_id, card_version=stored.version, comment="no")
    )
    assert "approvers group" in text(approved)
    assert "approvers group" in text(rejected)
    after = await pipeline.current(stored.request.number)
    assert after.version == stored.version
    assert sum((await jobs.counts()).values()) == 0
    refusals = await pipeline.audit.for_request(stored.request.request_id)
    assert sum(r.action == "security.access_refused" for r in refusals) == 2


async def test_reject_needs_a_comment_and_then_tells_why(pipeline: Pipeline) -> None:  # noqa: F811
    desk = desk_for(pipeline, JobQueue(pipeline.database), RecordingNotifier())
    stored = await pipeline.submitted()
    adam = Clicker(ADAM.aad_object_id, ADAM.display_name)
    blank = RejectPayload(request_id=stored.request.request_id, card_version=1, comment=" ")
    card = await desk.reject(adam, blank)
    assert (await pipeline.current(stored.request.number)).request.status is RequestStatus.PENDING_APPROVAL
    assert "comment" in text(card).lower()
    card = await desk.reject(
        adam, RejectPayload(request_id=stored.request.request_id, card_version=1, comment="Wrong vendor")
    )
    rejected = await pipeline.current(stored.request.number)
    assert rejected.request.status is RequestStatus.REJECTED
    assert "Wrong vendor" in text(card)


async def test_retry_is_for_approvers_and_only_after_a_failure(pipeline: Pipeline) -> None:  # noqa: F811
    jobs = JobQueue(pipeline.database)
    desk = desk_for(pipeline, jobs, RecordingNotifier())
    stored = await pipeline.submitted()
    payload = RetryPayload(request_id=stored.request.request_id, card_version=stored.version)
    card = await desk.retry(Clicker(ADAM.aad_object_id, ADAM.display_name), payload)
    assert "no longer waiting for a retry" in text(card)
    card = await desk.retry(Clicker(NORA_ID, "Nora NoRole"), payload)
    assert "Only approvers" in text(card)
    assert sum((await jobs.counts()).values()) == 0


async def test_reveal_works_once_and_only_for_the_requester(pipeline: Pipeline) -> None:  # noqa: F811
    desk = desk_for(pipeline, JobQueue(pipeline.database), RecordingNotifier())
    stored = await pipeline.submitted()
    payload = RevealPasswordPayload(request_id=stored.request.request_id)
    alice = Clicker(ALICE.aad_object_id, ALICE.display_name)
    assert "Not ready yet" in text(await desk.reveal(alice, payload))
    password = "Kq7!vendor-Otter-42"
    await pipeline.vault.store(
        stored.request.number, stored.plan.upn, ALICE.aad_object_id, password, ttl=timedelta(hours=1)
    )
    adam_sees = text(await desk.reveal(Clicker(ADAM.aad_object_id, ADAM.display_name), payload))
    assert "Not yours to reveal" in adam_sees
    assert password not in adam_sees
    assert password in text(await desk.reveal(alice, payload))
    again = text(await desk.reveal(alice, payload))
    assert "Already revealed" in again
    assert password not in again
