"""JSON batching through the gateway's SDK client, against the sandbox's $batch."""

from __future__ import annotations

from uuid import UUID

import pytest

from provisioning.batch import GraphBatch
from provisioning.directory import LicenseAssignment, UserChanges
from provisioning.errors import AlreadyExists, DependencyFailed, InvalidRequest, NotFound, Throttled
from provisioning.graph import GraphGateway
from sandbox.seed import REMOTE_ASSIST_SKU_ID
from sandbox.testing import RunningSandbox
from settings import SANDBOX_VENDOR_ACCOUNTS_GROUP_ID
from tests.provisioning.conftest import new_user

REMOTE_ASSIST = LicenseAssignment(UUID(REMOTE_ASSIST_SKU_ID))
BATCH = "POST /$batch"
ASSIGN = "POST /users/{id}/assignLicense"
REMOVE_MEMBER = "DELETE /groups/{id}/members/{id}/$ref"
ALICE_ID = "a11ce000-0000-4000-8000-000000000001"


def onboarding_batch(gateway: GraphGateway, accounts: int) -> tuple[GraphBatch, list[tuple[str, str]]]:
    """Create + license per account, the license step depending on its create (addressed by UPN)."""
    batch = GraphBatch(gateway)
    steps = []
    for _ in range(accounts):
        spec = new_user()
        create = batch.create_user(spec)
        assign = batch.assign_licenses(spec.user_principal_name, add=[REMOTE_ASSIST], depends_on=[create])
        steps.append((create, assign))
    return batch, steps


async def test_create_and_license_accounts_in_one_round_trip(
    gateway: GraphGateway, sandbox: RunningSandbox
) -> None:
    batch, steps = onboarding_batch(gateway, 6)
    results = await batch.send()
    assert all(result.ok for result in results.values())
    assert sandbox.tenant.requests.count(BATCH) == 1
    assert sandbox.tenant.seats("MICROSOFT_REMOTE_ASSIST") == (6, 25)
    created = results[steps[0][0]].user
    assert created is not None
    assert sandbox.tenant.users[created.id]["employeeId"] == created.employee_id


async def test_group_membership_follows_in_a_second_batch_by_id(
    gateway: GraphGateway, sandbox: RunningSandbox
) -> None:
    batch, steps = onboarding_batch(gateway, 3)
    results = await batch.send()
    members = GraphBatch(gateway)
    for create, _ in steps:
        user = results[create].user
        assert user is not None
        members.add_group_member(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID, user.id)
    assert all(result.ok for result in (await members.send()).values())
    assert len(sandbox.tenant.members[SANDBOX_VENDOR_ACCOUNTS_GROUP_ID]) == 3
    # Three writes per account (create, license, group) and no reads at all.
    inner = [r for r in sandbox.tenant.requests if r.batch_request_id]
    assert sum(r.is_write for r in inner) == 9
    assert sandbox.tenant.requests.reads == sandbox.tenant.requests.count(BATCH) == 2


async def test_more_than_twenty_steps_go_in_chunks_that_keep_chains_together(
    gateway: GraphGateway, sandbox: RunningSandbox
) -> None:
    batch, steps = onboarding_batch(gateway, 11)  # 22 steps
    results = await batch.send()
    assert all(result.ok for result in results.values())
    assert sandbox.tenant.requests.count(BATCH) == 2
    envelope_of = {r.path: r.batch_request_id for r in sandbox.tenant.requests if r.batch_request_id}
    for create, _ in steps:
        user = results[create].user
        assert user is not None
        assert envelope_of[f"/users/{user.user_principal_name}/assignLicense"] is not None


async def test_a_chain_longer_than_a_batch_is_refused_before_sending(
    gateway: GraphGateway, sandbox: RunningSandbox
) -> None:
    batch = GraphBatch(gateway)
    previous = batch.revoke_sessions(ALICE_ID)
    for _ in range(20):
        previous = batch.revoke_sessions(ALICE_ID, depends_on=[previous])
    with pytest.raises(ValueError, match="at most 20"):
        await batch.send()
    assert len(sandbox.tenant.requests) == 0


async def test_a_failed_step_fails_its_dependants_with_424(
    gateway: GraphGateway, sandbox: RunningSandbox
) -> None:
    batch = GraphBatch(gateway)
    spec = new_user(user_principal_name="sa-x@contoso-unverified.com")
    create = batch.create_user(spec)
    assign = batch.assign_licenses(spec.user_principal_name, add=[REMOTE_ASSIST], depends_on=[create])
    results = await batch.send()
    assert isinstance(results[create].error, InvalidRequest)
    dependant = results[assign].error
    assert isinstance(dependant, DependencyFailed)
    assert dependant.retryable
    assert sandbox.tenant.seats("MICROSOFT_REMOTE_ASSIST") == (0, 25)


async def test_a_throttled_step_reports_its_retry_after(
    gateway: GraphGateway, sandbox: RunningSandbox
) -> None:
    batch, _ = onboarding_batch(gateway, 2)
    sandbox.tenant.faults.inject("throttle", route=ASSIGN, times=1, retry_after=1)
    results = await batch.send()
    throttled = [r for r in results.values() if not r.ok]
    assert len(throttled) == 1
    assert isinstance(throttled[0].error, Throttled)
    assert throttled[0].error.retry_after == 1
    assert sandbox.tenant.seats("MICROSOFT_REMOTE_ASSIST") == (1, 25)


async def test_sending_the_same_onboarding_again_reconciles_instead_of_doubling(
    gateway: GraphGateway, sandbox: RunningSandbox
) -> None:
    spec = new_user()
    first = GraphBatch(gateway)
    first.create_user(spec)
    [original] = (await first.send()).values()
    again = GraphBatch(gateway)
    again.create_user(spec)
    [replayed] = (await again.send()).values()
    assert replayed.ok
    assert replayed.reconciled
    assert replayed.user is not None
    assert original.user is not None
    assert replayed.user.id == original.user.id
    assert [u["id"] for u in sandbox.tenant.users.values() if u.get("employeeId") == spec.marker] == [
        original.user.id
    ]


async def test_a_upn_held_by_another_marker_is_already_exists(gateway: GraphGateway) -> None:
    taken = await gateway.create_user(new_user())
    batch = GraphBatch(gateway)
    step = batch.create_user(new_user(user_principal_name=taken.user_principal_name))
    results = await batch.send()
    assert isinstance(results[step].error, AlreadyExists)


async def test_a_replayed_envelope_creates_nobody_twice(
    gateway: GraphGateway, sandbox: RunningSandbox
) -> None:
    # The whole batch runs, its answer is a 504, the SDK sends the envelope again: every create is a
    # duplicate the second time, every license already held; all of it reconciles to success.
    batch, _ = onboarding_batch(gateway, 3)
    sandbox.tenant.faults.inject("gateway_timeout", route=BATCH, times=1, after_effect=True)
    results = await batch.send()
    assert all(result.ok for result in results.values())
    # 1: ran and lost its answer; 2: the SDK's replay (creates duplicate, licenses 424);
    # 3: the licenses again, now that their creates reconciled.
    assert sandbox.tenant.requests.count(BATCH) == 3
    assert sandbox.tenant.seats("MICROSOFT_REMOTE_ASSIST") == (3, 25)
    markers = [u.get("employeeId") for u in sandbox.tenant.users.values() if u.get("employeeId")]
    assert len(markers) == len(set(markers)) == 3


async def test_offboarding_steps_already_done_are_success(
    gateway: GraphGateway, sandbox: RunningSandbox
) -> None:
    user = await gateway.create_user(new_user())
    batch = GraphBatch(gateway)
    batch.update_user(user.id, UserChanges(account_enabled=False))
    batch.revoke_sessions(user.id)
    removal = batch.remove_group_member(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID, user.id)  # never a member
    # Offboarding's order: out of the group, then deleted (a removal 404 is checked against the account).
    delete = batch.delete_user(user.id, depends_on=[removal])
    batch.delete_user(user.id, depends_on=[delete])  # already gone by then
    results = await batch.send()
    assert all(result.ok for result in results.values())
    assert user.id not in sandbox.tenant.users


async def test_a_removal_404_for_an_account_still_in_the_group_is_not_success(
    gateway: GraphGateway, sandbox: RunningSandbox
) -> None:
    # Graph answers the removal 404 while the account replicates although it is in the group; the batch
    # asks checkMemberGroups before calling that "not a member", and hands the caller the NotFound.
    sandbox.tenant.faults.inject("replication_lag", route=REMOVE_MEMBER, times=1, seconds=30)
    user = await gateway.create_user(new_user())
    await gateway.add_group_member(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID, user.id)
    batch = GraphBatch(gateway)
    step = batch.remove_group_member(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID, user.id)
    result = (await batch.send())[step]
    assert isinstance(result.error, NotFound)
    assert not result.reconciled
    assert user.id in sandbox.tenant.members[SANDBOX_VENDOR_ACCOUNTS_GROUP_ID]
    assert sandbox.tenant.requests.count("POST /users/{id}/checkMemberGroups", status=200) == 1


async def test_a_removal_404_for_an_account_not_in_the_group_is_success(
    gateway: GraphGateway, sandbox: RunningSandbox
) -> None:
    user = await gateway.create_user(new_user())
    batch = GraphBatch(gateway)
    step = batch.remove_group_member(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID, user.id)
    result = (await batch.send())[step]
    assert result.ok
    assert result.reconciled
    assert sandbox.tenant.requests.count("POST /users/{id}/checkMemberGroups", status=200) == 1


async def test_a_batch_is_sent_once(gateway: GraphGateway) -> None:
    batch = GraphBatch(gateway)
    batch.revoke_sessions(ALICE_ID)
    await batch.send()
    with pytest.raises(RuntimeError):
        await batch.send()
