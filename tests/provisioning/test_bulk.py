"""Bulk provisioning: 195 good rows of a 200-row file provisioned through $batch, paced under the quota,
3 writes and at most 0.2 reads per account, no duplicate after a crash, a failed row retried alone."""

# Fixtures are imported, then requested by name as parameters: pytest's pattern, not a redefinition.
# ruff: noqa: F811

from __future__ import annotations

from collections import Counter

import pytest

from onboarding.audit import AuditAction
from onboarding.errors import SelfApprovalRefused
from onboarding.requests import RequestStatus
from provisioning.bulk import BatchNotPending, decide_batch, retry_failed_rows
from provisioning.progress import PROVISIONING_STEPS
from storage.audit import AuditLog
from storage.bulk import BatchStatus
from storage.requests import StepState
from tests.provisioning.bulk_fixtures import (
    QUOTA_WINDOW,
    QUOTA_WRITES,
    REMOTE_ASSIST,
    Bulk,
    bulk,  # noqa: F401  (fixture)
    crew,
    fixed_clock,
)
from tests.provisioning.pipeline_fixtures import ADAM, ALICE, PAULA


class Crash(Exception):
    """The process died here."""


def two_hundred_with_five_bad() -> list[dict[str, str]]:
    rows = crew(200)
    for index, (column, value) in {
        3: ("contractor_email", "not-an-address"),
        50: ("usage_location", "XX"),
        99: ("end_date", "2031-12-31"),
        150: ("license_profile", "no-such-profile"),
        198: ("first_name", ""),
    }.items():
        rows[index][column] = value
    return rows


async def statuses(bulk: Bulk, batch_id: int) -> Counter[RequestStatus]:
    return await bulk.batches.status_counts(batch_id)


async def test_a_200_row_file_with_5_bad_rows_becomes_one_batch_of_195_requests(bulk: Bulk) -> None:
    result = await bulk.imported(two_hundred_with_five_bad())
    assert result.batch is not None
    assert len(result.batch.problems) == 5
    assert {p.row for p in result.batch.problems} == {5, 52, 101, 152, 200}
    assert await statuses(bulk, result.batch.id) == Counter({RequestStatus.PENDING_APPROVAL: 195})


async def test_the_import_reads_the_directory_once_per_vendor_not_once_per_row(bulk: Bulk) -> None:
    result = await bulk.imported(crew(50))
    # subscribedSkus and one startswith query for the one vendor prefix.
    assert result.graph_reads == 2


async def test_the_import_plans_around_an_account_name_already_in_the_directory(bulk: Bulk) -> None:
    tenant = bulk.sandbox.tenant
    with tenant.lock:
        tenant.create_user(
            {
                "accountEnabled": True,
                "displayName": "Earlier Bob",
                "mailNickname": "earlier",
                "userPrincipalName": "sa-contoso-bob.builderaa@abc.com",
                "passwordProfile": {"password": "Vq8#lantern-Orbit"},
            }
        )
    result = await bulk.imported(crew(1))
    assert result.plan is not None
    assert result.plan.planned[0].upn.upn == "sa-contoso-bob.builderaa2@abc.com"


async def test_a_contractor_in_an_earlier_open_batch_is_refused_in_the_next(bulk: Bulk) -> None:
    await bulk.imported(crew(2), name="first.csv")
    second = await bulk.imported(crew(3), name="second.csv")
    assert [p.row for p in second.errors] == [2, 3]
    assert second.accepted == 1


async def test_195_good_rows_are_provisioned_with_3_writes_and_at_most_0_2_reads_each(bulk: Bulk) -> None:
    batch = await bulk.approved(two_hundred_with_five_bad())
    consumed_before, _ = bulk.seats()
    bulk.sandbox.tenant.requests.clear()
    outcome = await bulk.runner().provision(batch.id)
    log = bulk.sandbox.tenant.requests
    assert (outcome.provisioned, outcome.failed, outcome.unfinished) == (195, 0, 0)
    assert log.writes == 3 * 195
    assert log.reads / 195 <= 0.2
    assert bulk.seats()[0] == consumed_before + 195
    assert len(bulk.group_members()) == 195
    assert (await bulk.batches.get(batch.id)).status is BatchStatus.COMPLETED  # type: ignore[union-attr]


async def test_pacing_keeps_the_run_free_of_429s(bulk: Bulk) -> None:
    batch = await bulk.approved(crew(60))
    bulk.sandbox.tenant.faults.write_quota.configure(limit=QUOTA_WRITES, window_seconds=QUOTA_WINDOW)
    bulk.sandbox.tenant.requests.clear()
    await bulk.runner(writes=QUOTA_WRITES).provision(batch.id)
    assert bulk.sandbox.tenant.requests.writes == 180 > QUOTA_WRITES
    assert bulk.sandbox.tenant.requests.count(status=429) == 0
    # 180 writes against a 60-write bucket: they went through because the pacer waited for the bucket.
    assert bulk.runners[-1].pacer.waited > 0


async def test_a_429_retry_after_is_honoured_and_the_row_still_succeeds(bulk: Bulk) -> None:
    batch = await bulk.approved(crew(3))
    bulk.sandbox.tenant.faults.inject("throttle", route="POST /users", times=1, retry_after=1)
    outcome = await bulk.runner().provision(batch.id)
    assert outcome.provisioned == 3
    assert len(bulk.vendor_users()) == 3
    assert bulk.sandbox.tenant.requests.count("POST /users", status=429) == 1
    assert bulk.runners[-1].pacer.waited > 0


@pytest.mark.parametrize(("point", "nth"), [("bulk:answered", 3), ("bulk:recorded", 3), ("bulk:answered", 6)])
async def test_a_crash_in_the_middle_resumes_without_duplicates(bulk: Bulk, point: str, nth: int) -> None:
    batch = await bulk.approved(crew(45))
    seen = {"n": 0}

    async def checkpoint(reached: str) -> None:
        if reached == point:
            seen["n"] += 1
            if seen["n"] == nth:
                raise Crash(point)

    with pytest.raises(Crash):
        await bulk.runner(checkpoint=checkpoint).provision(batch.id)
    assert await statuses(bulk, batch.id) != Counter({RequestStatus.PROVISIONED: 45})
    await bulk.runner().provision(batch.id)
    assert await statuses(bulk, batch.id) == Counter({RequestStatus.PROVISIONED: 45})
    users = bulk.vendor_users()
    assert len(users) == 45
    assert len({u["employeeId"] for u in users}) == 45
    assert len(bulk.group_members()) == len(set(bulk.group_members())) == 45
    assert bulk.seats()[0] == 45
    for row in await bulk.batches.rows(batch.id):
        steps = await bulk.steps.steps(row.request_number)
        assert all(steps[name].state is StepState.DONE for name in PROVISIONING_STEPS)


async def test_the_account_gets_the_password_the_vault_holds_after_a_crash(bulk: Bulk) -> None:
    batch = await bulk.approved(crew(5))

    async def crash_first(reached: str) -> None:
        if reached == "bulk:answered":
            raise Crash(reached)

    with pytest.raises(Crash):
        await bulk.runner(checkpoint=crash_first).provision(batch.id)
    await bulk.runner().provision(batch.id)
    for row in await bulk.batches.rows(batch.id):
        assert await bulk.vault.pending_password(row.request_number) is not None


async def test_a_row_without_a_seat_fails_alone_and_succeeds_when_retried(bulk: Bulk) -> None:
    bulk.sandbox.tenant.set_prepaid_units(REMOTE_ASSIST, 4)
    batch = await bulk.approved(crew(5))
    outcome = await bulk.runner().provision(batch.id)
    assert (outcome.provisioned, outcome.failed) == (4, 1)
    failed = [
        s
        for row in await bulk.batches.rows(batch.id)
        if (s := await bulk.requests.get(row.request_number)) is not None
        and s.request.status is RequestStatus.FAILED
    ]
    assert failed[0].request.failure is not None
    assert failed[0].request.failure.step == "check"
    assert len(bulk.vendor_users()) == 4
    bulk.sandbox.tenant.set_prepaid_units(REMOTE_ASSIST, 5)
    assert await retry_failed_rows(bulk.database, bulk.batches, bulk.requests, batch.id, ADAM) == 1
    again = await bulk.runner().provision(batch.id)
    assert (again.provisioned, again.failed) == (1, 0)
    assert len(bulk.vendor_users()) == 5
    assert (await bulk.batches.get(batch.id)).status is BatchStatus.COMPLETED  # type: ignore[union-attr]


async def test_an_account_name_taken_meanwhile_fails_that_row_only(bulk: Bulk) -> None:
    batch = await bulk.approved(crew(3))
    tenant = bulk.sandbox.tenant
    with tenant.lock:
        tenant.create_user(
            {
                "accountEnabled": True,
                "displayName": "Squatter",
                "mailNickname": "squatter",
                "userPrincipalName": "sa-contoso-bob.builderba@abc.com",
                "passwordProfile": {"password": "Vq8#lantern-Orbit"},
            }
        )
    outcome = await bulk.runner().provision(batch.id)
    assert (outcome.provisioned, outcome.failed) == (2, 1)


async def test_every_graph_write_is_audited_with_the_batch_request_id(bulk: Bulk) -> None:
    batch = await bulk.approved(crew(4))
    await bulk.runner().provision(batch.id)
    records = [
        r
        async for r in AuditLog(bulk.database).iter_range(
            fixed_clock().replace(year=2000), fixed_clock().replace(year=2100)
        )
    ]
    writes = Counter(r.action for r in records if r.action.startswith("graph."))
    assert writes == Counter(
        {AuditAction.ACCOUNT_CREATED: 4, AuditAction.LICENSES_ASSIGNED: 4, AuditAction.GROUP_MEMBER_ADDED: 4}
    )
    assert all(r.graph_request_id for r in records if r.action.startswith("graph."))


async def test_the_submitter_cannot_approve_their_own_batch(bulk: Bulk) -> None:
    result = await bulk.imported(crew(2))
    assert result.batch is not None
    with pytest.raises(SelfApprovalRefused):
        await decide_batch(bulk.database, bulk.batches, bulk.requests, result.batch.id, ALICE, approve=True)
    assert (await bulk.batches.get(result.batch.id)).status is BatchStatus.PENDING_APPROVAL  # type: ignore[union-attr]


async def test_a_second_decision_is_refused_naming_the_first(bulk: Bulk) -> None:
    batch = await bulk.approved(crew(2))
    with pytest.raises(BatchNotPending) as refused:
        await decide_batch(
            bulk.database, bulk.batches, bulk.requests, batch.id, PAULA, approve=False, comment="no"
        )
    assert refused.value.batch.decision is not None
    assert refused.value.batch.decision.by.display_name == ADAM.display_name


async def test_a_rejected_batch_is_never_provisioned(bulk: Bulk) -> None:
    result = await bulk.imported(crew(2))
    assert result.batch is not None
    await decide_batch(
        bulk.database,
        bulk.batches,
        bulk.requests,
        result.batch.id,
        ADAM,
        approve=False,
        comment="wrong vendor",
    )
    outcome = await bulk.runner().provision(result.batch.id)
    assert outcome.provisioned == 0
    assert bulk.vendor_users() == []
    assert await statuses(bulk, result.batch.id) == Counter({RequestStatus.REJECTED: 2})


async def test_progress_is_reported_for_the_batch(bulk: Bulk) -> None:
    batch = await bulk.approved(crew(25))
    await bulk.runner().provision(batch.id)
    assert bulk.progress.changes
    assert set(bulk.progress.changes) == {batch.id}
