"""SegmentChangeDesk: who may propose and decide a segment change, one job however many approvals, and the
run through the real runner against the sandbox tenant.

Real database and stores on the provisioning pipeline, the real msgraph-sdk gateway on the sandbox, roles from
a recording membership source, and a recording stand-in for the notifier's channel and 1:1 cards."""

# Fixtures are imported, then requested by name as parameters: pytest's pattern, not a redefinition.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.approvals import Clicker
from bot.roles import RoleDirectory, RoleGroups
from bot.segment_change import JOB_SEGMENT_CHANGE_POST_CARD, SegmentChangeDesk
from cards.actions import (
    SegmentChangeApprovePayload,
    SegmentChangeProposePayload,
    SegmentChangeRejectPayload,
    SegmentChangeRetryPayload,
    Verb,
)
from onboarding.audit import AuditAction
from onboarding.licensing import DEFAULT_IB_CAPABLE_PREFERENCE
from onboarding.segments import SegmentCatalog, load_catalog
from provisioning.segment_change import JOB_SEGMENT_CHANGE, SegmentChangeRunner
from provisioning.worker import JobWorker
from sandbox.seed import SEGMENT_GROUP_IDS
from settings import SANDBOX_SEGMENTS_CATALOG
from storage.jobs import JobQueue
from storage.segment_changes import ChangeStatus, SegmentChange, SegmentChanges
from tests.bot.test_approvals import Membership
from tests.provisioning.lifecycle_support import provisioned
from tests.provisioning.pipeline_fixtures import ADAM, ALICE, PAULA, Pipeline, pipeline  # noqa: F401

APPROVERS, ADMINS = "g-approvers", "g-admins"
SPONSOR = Clicker(ALICE.aad_object_id, ALICE.display_name)
APPROVER = Clicker(ADAM.aad_object_id, ADAM.display_name)
OTHER_APPROVER = Clicker(PAULA.aad_object_id, PAULA.display_name)
NORA = Clicker("0b0a0000-0000-4000-8000-000000000005", "Nora Nobody")
OSCAR = Clicker("05ca0000-0000-4000-8000-000000000006", "Oscar Admin")
FABRIKAM = "Vendor - Fabrikam"
FABRIKAM_GROUP = SEGMENT_GROUP_IDS["IB Vendor - Fabrikam"]
NOW = datetime(2030, 1, 3, 9, 0, tzinfo=UTC)


@dataclass
class RecordingChannel:
    """Stands in for TeamsNotifier's card methods: records what would be posted, updated and sent."""

    bound: bool = True
    posted: list[dict[str, Any]] = field(default_factory=list)
    updated: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def post_to_approvals_channel(self, card: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        if not self.bound:
            return None
        self.posted.append(card)
        return f"activity-{len(self.posted)}", {"conversation": {"id": "approvals"}}

    async def update_posted_card(
        self, reference: dict[str, Any], activity_id: str, card: dict[str, Any]
    ) -> None:
        self.updated.append((activity_id, card))

    async def send_to_user(self, aad_object_id: str, cards: list[dict[str, Any]]) -> bool:
        self.sent.extend((aad_object_id, card) for card in cards)
        return True


@dataclass
class Wired:
    pipeline: Pipeline
    desk: SegmentChangeDesk
    changes: SegmentChanges
    jobs: JobQueue
    channel: RecordingChannel
    catalog: SegmentCatalog
    upn: str
    user_id: str

    def runner(self) -> SegmentChangeRunner:
        return SegmentChangeRunner(
            gateway=self.pipeline.graph,
            changes=self.changes,
            accounts=self.pipeline.accounts,
            audit=self.pipeline.audit,
            catalog=self.catalog,
            ib_capable_preference=DEFAULT_IB_CAPABLE_PREFERENCE,
            on_changed=self.desk.change_changed,
        )

    async def run_jobs(self) -> None:
        worker = JobWorker(self.jobs, self.runner().job_handlers(), worker_id="w")
        while await worker.run_once():
            pass

    async def change(self, number: int = 1) -> SegmentChange:
        found = await self.changes.get(number)
        assert found is not None
        return found


async def _wired(pipeline: Pipeline, channel: RecordingChannel | None = None) -> Wired:
    account = await provisioned(pipeline)  # Bob Builder, sponsored by Alice, no segment
    roles = RoleDirectory(
        Membership(
            {
                ADAM.aad_object_id: {APPROVERS},
                PAULA.aad_object_id: {APPROVERS},
                ALICE.aad_object_id: {
                    APPROVERS
                },  # the sponsor is an approver too: may still not self-approve
                OSCAR.aad_object_id or "": {ADMINS},
            }
        ),
        RoleGroups(requesters="g-requesters", approvers=APPROVERS, administrators=ADMINS),
        ttl_seconds=60,
    )
    catalog = load_catalog(SANDBOX_SEGMENTS_CATALOG)
    changes = SegmentChanges(pipeline.database)
    jobs = JobQueue(pipeline.database)
    channel = channel or RecordingChannel()
    desk = SegmentChangeDesk(
        changes=changes,
        accounts=pipeline.accounts,
        jobs=jobs,
        audit=pipeline.audit,
        roles=roles,
        notifier=channel,
        catalog=catalog,
        clock=lambda: NOW,
    )
    return Wired(pipeline, desk, changes, jobs, channel, catalog, account.upn, account.user_id)


def _propose(w: Wired, segment: str = FABRIKAM) -> SegmentChangeProposePayload:
    return SegmentChangeProposePayload(upn=w.upn, segment=segment)


def _approve(version: int = 1, comment: str | None = None) -> SegmentChangeApprovePayload:
    return SegmentChangeApprovePayload(change_id="SEG-1", card_version=version, comment=comment)


async def _job_kinds(jobs: JobQueue) -> list[str]:
    kinds = []
    while (job := await jobs.claim("t", None, 30)) is not None:
        kinds.append(job.kind)
    return kinds


def _text(card: dict[str, Any]) -> str:
    return json.dumps(card, ensure_ascii=False)


# ------------------------------------------------------------------------------------------ the form


async def test_the_sponsor_gets_the_form_with_the_vendor_segments(pipeline: Pipeline) -> None:
    w = await _wired(pipeline)
    card = await w.desk.form(SPONSOR, w.upn)
    assert FABRIKAM in _text(card)
    assert "Ask for approval" in _text(card)


async def test_someone_who_is_neither_sponsor_nor_administrator_gets_not_found(pipeline: Pipeline) -> None:
    w = await _wired(pipeline)
    card = await w.desk.form(APPROVER, w.upn)
    assert "Not found" in _text(card)
    assert "Ask for approval" not in _text(card)


async def test_a_bot_administrator_gets_the_form_for_any_account(pipeline: Pipeline) -> None:
    w = await _wired(pipeline)
    card = await w.desk.form(OSCAR, w.upn)
    assert "Ask for approval" in _text(card)


# ------------------------------------------------------------------------------------------ proposing


async def test_a_proposal_is_stored_pending_and_posted_to_the_channel(pipeline: Pipeline) -> None:
    w = await _wired(pipeline)
    await w.desk.propose(SPONSOR, _propose(w))
    change = await w.change()
    assert (change.status, change.to_segment, change.card_activity_id) == (
        ChangeStatus.PENDING,
        FABRIKAM,
        "activity-1",
    )
    assert len(w.channel.posted) == 1


async def test_a_non_sponsor_cannot_propose(pipeline: Pipeline) -> None:
    w = await _wired(pipeline)
    await w.desk.propose(NORA, _propose(w))
    assert await w.changes.get(1) is None
    refusals = await pipeline.audit.query(action=AuditAction.ACCESS_REFUSED)
    assert [r.actor_aad_id for r in refusals] == [NORA.aad_object_id]


async def test_an_internal_segment_is_refused(pipeline: Pipeline) -> None:
    w = await _wired(pipeline)
    card = await w.desk.propose(SPONSOR, _propose(w, "Finance"))
    assert await w.changes.get(1) is None
    assert "is not a segment this account can move to" in _text(card)


async def test_the_command_matches_a_name_typed_with_a_typographic_apostrophe(pipeline: Pipeline) -> None:
    w = await _wired(pipeline)
    await w.desk.command(SPONSOR, w.upn, "o\u2019brien field services")
    assert (await w.change()).to_segment == "O'Brien Field Services"


async def test_a_second_proposal_waits_for_the_open_one(pipeline: Pipeline) -> None:
    w = await _wired(pipeline)
    await w.desk.propose(SPONSOR, _propose(w))
    card = await w.desk.propose(SPONSOR, _propose(w, "Vendor - Contoso"))
    assert await w.changes.get(2) is None
    assert "SEG-1" in _text(card)


async def test_without_a_channel_the_card_is_left_to_a_job_that_posts_it_later(pipeline: Pipeline) -> None:
    channel = RecordingChannel(bound=False)
    w = await _wired(pipeline, channel)
    await w.desk.propose(SPONSOR, _propose(w))
    channel.bound = True
    worker = JobWorker(w.jobs, w.desk.job_handlers(), worker_id="w")
    while await worker.run_once():
        pass
    assert (await w.change()).card_activity_id == "activity-1"


async def test_the_post_card_job_waits_while_no_channel_is_bound(pipeline: Pipeline) -> None:
    w = await _wired(pipeline, RecordingChannel(bound=False))
    await w.desk.propose(SPONSOR, _propose(w))
    assert await _job_kinds(w.jobs) == [JOB_SEGMENT_CHANGE_POST_CARD]


# ------------------------------------------------------------------------------------------ deciding


async def test_the_proposer_cannot_approve_even_as_an_approver(pipeline: Pipeline) -> None:
    w = await _wired(pipeline)
    await w.desk.propose(SPONSOR, _propose(w))
    card = await w.desk.approve(SPONSOR, _approve())
    assert (await w.change()).status is ChangeStatus.PENDING
    assert "another approver must decide" in _text(card)


async def test_a_non_approver_cannot_approve(pipeline: Pipeline) -> None:
    w = await _wired(pipeline)
    await w.desk.propose(SPONSOR, _propose(w))
    await w.desk.approve(OSCAR, _approve())
    assert (await w.change()).status is ChangeStatus.PENDING
    assert await _job_kinds(w.jobs) == []


async def test_approval_enqueues_the_segment_change_job(pipeline: Pipeline) -> None:
    w = await _wired(pipeline)
    await w.desk.propose(SPONSOR, _propose(w))
    await w.desk.approve(APPROVER, _approve())
    assert await _job_kinds(w.jobs) == [JOB_SEGMENT_CHANGE]


async def test_concurrent_approvals_give_one_job_and_one_winner(pipeline: Pipeline) -> None:
    w = await _wired(pipeline)
    await w.desk.propose(SPONSOR, _propose(w))
    cards = await asyncio.gather(
        w.desk.approve(APPROVER, _approve()),
        w.desk.approve(OTHER_APPROVER, _approve()),
        w.desk.approve(APPROVER, _approve()),  # Teams re-sent the click
    )
    assert await _job_kinds(w.jobs) == [JOB_SEGMENT_CHANGE]
    assert sum("Already approved by" in _text(card) for card in cards) == 2


async def test_rejecting_needs_a_comment(pipeline: Pipeline) -> None:
    w = await _wired(pipeline)
    await w.desk.propose(SPONSOR, _propose(w))
    await w.desk.reject(APPROVER, SegmentChangeRejectPayload(change_id="SEG-1", card_version=1))
    assert (await w.change()).status is ChangeStatus.PENDING


async def test_a_rejected_change_changes_nothing_in_the_sandbox(pipeline: Pipeline) -> None:
    w = await _wired(pipeline)
    await w.desk.propose(SPONSOR, _propose(w))
    writes = pipeline.sandbox.tenant.requests.writes
    await w.desk.reject(
        APPROVER, SegmentChangeRejectPayload(change_id="SEG-1", card_version=1, comment="not this vendor")
    )
    await w.run_jobs()
    assert (await w.change()).status is ChangeStatus.REJECTED
    assert pipeline.sandbox.tenant.requests.writes == writes
    assert w.user_id not in pipeline.group_members(FABRIKAM_GROUP)


# ------------------------------------------------------------------------------------------ the run


async def test_an_approved_change_runs_to_applied_and_places_the_account(pipeline: Pipeline) -> None:
    w = await _wired(pipeline)
    await w.desk.propose(SPONSOR, _propose(w))
    await w.desk.approve(APPROVER, _approve())
    await w.run_jobs()
    assert (await w.change()).status is ChangeStatus.APPLIED
    assert w.user_id in pipeline.group_members(FABRIKAM_GROUP)
    account = await pipeline.accounts.get(w.upn)
    assert account is not None
    assert account.segment == FABRIKAM


async def test_when_applied_the_channel_card_says_policies_must_be_applied_again(pipeline: Pipeline) -> None:
    w = await _wired(pipeline)
    await w.desk.propose(SPONSOR, _propose(w))
    await w.desk.approve(APPROVER, _approve())
    await w.run_jobs()
    activity_id, last = w.channel.updated[-1]
    assert activity_id == "activity-1"
    assert "Start-InformationBarrierPoliciesApplication" in _text(last)


async def test_the_proposer_is_told_when_the_change_is_applied(pipeline: Pipeline) -> None:
    w = await _wired(pipeline)
    await w.desk.propose(SPONSOR, _propose(w))
    await w.desk.approve(APPROVER, _approve())
    await w.run_jobs()
    assert [who for who, card in w.channel.sent if "Segment changed" in _text(card)] == [ALICE.aad_object_id]


# ------------------------------------------------------------------------------------------ a failed run

IB_SKUS = ("SPE_E5", "ENTERPRISEPREMIUM", "INFORMATION_PROTECTION_COMPLIANCE")


def _ib_seats(pipeline: Pipeline, *, free: int) -> None:
    for part in IB_SKUS:
        consumed, _ = pipeline.sandbox.tenant.seats(part)
        pipeline.sandbox.tenant.set_prepaid_units(part, consumed + free)


async def _failed(w: Wired) -> SegmentChange:
    """SEG-1 approved and run while no IB-capable license has a free seat: failed at the license step."""
    _ib_seats(w.pipeline, free=0)
    await w.desk.propose(SPONSOR, _propose(w))
    await w.desk.approve(APPROVER, _approve())
    await w.run_jobs()
    change = await w.change()
    assert change.status is ChangeStatus.FAILED, change
    return change


def _retry(change: SegmentChange) -> SegmentChangeRetryPayload:
    return SegmentChangeRetryPayload(change_id=change.change_id, card_version=change.version)


async def test_a_failed_change_shows_why_and_offers_approvers_a_retry_on_the_channel_card(
    pipeline: Pipeline,
) -> None:
    w = await _wired(pipeline)
    await _failed(w)
    _, channel_card = w.channel.updated[-1]
    assert "free seat" in _text(channel_card)
    assert Verb.SEGMENT_CHANGE_RETRY.value in _text(channel_card)
    # The proposer's own copy says what happened and has no buttons.
    (_, told), *_ = [(who, card) for who, card in w.channel.sent if who == ALICE.aad_object_id]
    assert "free seat" in _text(told)
    assert Verb.SEGMENT_CHANGE_RETRY.value not in _text(told)


async def test_a_retry_after_the_cause_is_fixed_applies_the_change_from_where_it_stopped(
    pipeline: Pipeline,
) -> None:
    w = await _wired(pipeline)
    failed = await _failed(w)
    assert failed.steps_done == ("place", "unplace")
    _ib_seats(pipeline, free=1)

    card = await w.desk.retry(APPROVER, _retry(failed))
    assert Verb.SEGMENT_CHANGE_RETRY.value not in _text(card)
    await w.run_jobs()

    applied = await w.change()
    assert applied.status is ChangeStatus.APPLIED, applied.failure
    assert applied.failure is None
    assert w.user_id in pipeline.group_members(FABRIKAM_GROUP)
    # The group was joined once, by the first run: the retry started at the license step.
    joins = pipeline.sandbox.tenant.requests.for_route("POST /groups/{id}/members/$ref")
    assert [r.status for r in joins if FABRIKAM_GROUP in r.path] == [204]
    retried = await pipeline.audit.query(action=AuditAction.SEGMENT_CHANGE_RETRIED)
    assert [(r.actor_aad_id, r.target) for r in retried] == [(ADAM.aad_object_id, w.upn)]


async def test_only_approvers_may_retry(pipeline: Pipeline) -> None:
    w = await _wired(pipeline)
    failed = await _failed(w)
    for clicker in (NORA, OSCAR):
        card = await w.desk.retry(clicker, _retry(failed))
        assert "Only approvers can retry" in _text(card)
    assert (await w.change()).status is ChangeStatus.FAILED
    assert await _job_kinds(w.jobs) == []
    refusals = await pipeline.audit.query(action=AuditAction.ACCESS_REFUSED)
    assert {r.actor_aad_id for r in refusals} == {NORA.aad_object_id, OSCAR.aad_object_id}


async def test_concurrent_retries_give_one_job(pipeline: Pipeline) -> None:
    w = await _wired(pipeline)
    failed = await _failed(w)
    cards = await asyncio.gather(
        w.desk.retry(APPROVER, _retry(failed)),
        w.desk.retry(OTHER_APPROVER, _retry(failed)),
        w.desk.retry(APPROVER, _retry(failed)),  # Teams re-sent the click
    )
    assert await _job_kinds(w.jobs) == [JOB_SEGMENT_CHANGE]
    assert len(await pipeline.audit.query(action=AuditAction.SEGMENT_CHANGE_RETRIED)) == 1
    assert sum("nothing to retry" in _text(card) for card in cards) == 2


async def test_a_change_that_did_not_fail_cannot_be_retried(pipeline: Pipeline) -> None:
    w = await _wired(pipeline)
    await w.desk.propose(SPONSOR, _propose(w))
    pending = await w.change()
    card = await w.desk.retry(APPROVER, _retry(pending))
    assert "This segment change is pending: there is nothing to retry." in _text(card)
    assert (await w.change()).status is ChangeStatus.PENDING
    assert await _job_kinds(w.jobs) == []
