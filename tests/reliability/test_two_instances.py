"""Two bots on one PostgreSQL database: concurrent approvals, jobs and sweeps; nothing doubled or lost.

One sandbox tenant and two bots (A and B, sandbox mode, the same throwaway PostgreSQL database, a 2 s job
lease) run as subprocesses; a recording Bot Connector in this process takes their replies. The scenario runs
in order, one test per stage, on one module-scoped stack:

1. **approvals**: several pending requests are seeded; each is approved by the same approver clicking on
   *both* instances at the same moment (Teams re-sending to another instance behind the load balancer): every
   request is approved once (one audit record), gets one provision job, and one of the two answers says it
   was already approved.
2. **jobs and a SIGKILL**: ``POST /users`` is slowed so runs overlap; as soon as A holds a running provision
   job, A is killed with SIGKILL. B takes A's job over once the lease runs out and finishes everything: every
   request provisioned, one account per request created by exactly one ``POST /users`` (counted in the
   sandbox's request log), one license each.
3. **expiry sweeps on both**: A is started again; some accounts get an end date in the past; several sweep
   jobs are enqueued at once so both instances sweep concurrently: each expired account is offboarded exactly
   once (one disable, one session revocation, one offboarding audited), the others stay active.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import select

from cards.actions import Verb
from onboarding.audit import AuditAction
from onboarding.requests import RequestStatus
from provisioning.lifecycle import JOB_LIFECYCLE_SWEEP
from provisioning.offboarding import JOB_OFFBOARD
from provisioning.runner import JOB_PROVISION
from sandbox.routes import describe, normalise
from settings import SANDBOX_TENANT_ID
from storage.accounts import AccountState, ServiceAccounts
from storage.audit import AuditLog
from storage.database import Database
from storage.jobs import JobQueue
from storage.lifecycle import AccountLifecycle
from storage.models import JobRow
from storage.requests import RequestStore, StoredRequest
from tests.reliability.processes import BotProcess, DatabaseReader, SandboxProcess, wait_until
from tests.reliability.seeding import REMOTE_ASSIST, Seeder, person
from tests.security.stack import ALICE, APPROVALS_CHANNEL_ID, BOT_ACCOUNT, PAULA, RITA, execute_value
from tests.support.identity import LocalIdentityServer
from tests.support.postgres import create_database, drop_database, postgres_url  # noqa: F401

pytestmark = pytest.mark.postgres

REQUESTER = person(ALICE.aad_object_id, ALICE.name)
SPONSOR = person(RITA.aad_object_id, RITA.name)
REQUESTS = 6
EXPIRED = 2
LEASE_SECONDS = 2.0
#: Slows every account creation, so both workers are mid-run when A is killed.
CREATE_LATENCY = 1.0
FINISH_TIMEOUT = 60.0


@dataclass
class Cluster:
    """The sandbox, two bots on one database, the recording connector, and a reader of that database."""

    sandbox: SandboxProcess
    a: BotProcess
    b: BotProcess
    connector: LocalIdentityServer
    db: DatabaseReader
    requests: list[StoredRequest] = field(default_factory=list)
    seats_before: int = 0

    def jobs(self, kind: str) -> list[JobRow]:
        async def read(database: Database) -> list[JobRow]:
            async with database.transaction(write=False) as conn:
                rows = (await conn.execute(select(JobRow).where(JobRow.kind == kind))).all()
            return [JobRow(**row._mapping) for row in rows]

        return self.db.run(read)

    def statuses(self) -> dict[int, RequestStatus]:
        async def read(database: Database) -> dict[int, RequestStatus]:
            store = RequestStore(database)
            found = {}
            for stored in self.requests:
                current = await store.get(stored.request.number)
                assert current is not None
                found[stored.request.number] = current.request.status
            return found

        return self.db.run(read)

    def audited(self, action: str) -> list[Any]:
        return self.db.run(lambda database: AuditLog(database).query(action=action, limit=100_000))

    def calls(self, method: str, route: str) -> list[dict[str, Any]]:
        """The requests the tenant answered on ``route`` (``"PATCH /users/{id}"`` form)."""
        key = describe(normalise(f"{method} {route}"))
        return [r for r in self.sandbox.recorded() if r["route"] == key]


def approve_activity(cluster: Cluster, stored: StoredRequest) -> dict[str, Any]:
    """Paula's click on Approve of ``stored``'s approval card, as Teams posts it to the bot."""
    data = {"requestId": stored.request.request_id, "cardVersion": stored.version}
    return {
        "type": "invoke",
        "name": "adaptiveCard/action",
        "id": str(uuid.uuid4()),
        "channelId": "msteams",
        "serviceUrl": cluster.connector.service_url,
        "from": {"id": PAULA.channel_id, "name": PAULA.name, "aadObjectId": PAULA.aad_object_id},
        "recipient": BOT_ACCOUNT,
        "conversation": {
            "id": f"{APPROVALS_CHANNEL_ID};messageid=1700000000000",
            "conversationType": "channel",
            "isGroup": True,
        },
        "channelData": {"tenant": {"id": SANDBOX_TENANT_ID}, "channel": {"id": APPROVALS_CHANNEL_ID}},
        "locale": "en-US",
        "value": execute_value(Verb.APPROVAL_APPROVE, data),
    }


def post(endpoint: str, activity: dict[str, Any]) -> tuple[int, str]:
    response = requests.post(endpoint, json=activity, timeout=30)
    return response.status_code, response.text


@pytest.fixture(scope="module")
def cluster(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:  # noqa: F811
    root = tmp_path_factory.mktemp("two-instances")
    url = asyncio.run(create_database(postgres_url))
    try:
        # Migrated once here: two instances starting together on an empty database would race to migrate.
        with DatabaseReader(url) as db:
            db.run(lambda database: database.migrate())
            with SandboxProcess(root / "sandbox") as sandbox, LocalIdentityServer() as connector:
                common: dict[str, Any] = {
                    "graph_base_url": sandbox.base_url,
                    "database_url": url,
                    "lease_seconds": LEASE_SECONDS,
                }
                a = BotProcess("bot-a", data_dir=root / "a", **common)
                b = BotProcess("bot-b", data_dir=root / "b", **common)
                # Both must hold the same key to encrypt and reveal the same passwords.
                (root / "b").mkdir(parents=True, exist_ok=True)
                with a:
                    key = (root / "a" / "sandbox-secrets.key").read_bytes()
                    (root / "b" / "sandbox-secrets.key").write_bytes(key)
                    with b:
                        yield Cluster(sandbox, a, b, connector, db)
    finally:
        asyncio.run(drop_database(url))


def test_approvals_clicked_on_both_instances_take_effect_once(cluster: Cluster) -> None:
    cluster.seats_before = cluster.sandbox.seats(REMOTE_ASSIST)[0]
    # Account creation is slow from here on: the runs overlap and A can be caught mid-run (next test).
    cluster.sandbox.inject("latency", "POST /users", times=None, seconds=CREATE_LATENCY)
    cluster.requests = [
        cluster.db.run(lambda database: Seeder(database).pending(REQUESTER, SPONSOR)) for _ in range(REQUESTS)
    ]
    deliveries = []
    for stored in cluster.requests:
        click = approve_activity(cluster, stored)
        again = {**click, "id": str(uuid.uuid4())}
        deliveries += [(cluster.a.endpoint, click), (cluster.b.endpoint, again)]
    with ThreadPoolExecutor(len(deliveries)) as pool:
        answers = list(pool.map(lambda delivery: post(*delivery), deliveries))
    assert [status for status, _ in answers] == [200] * len(deliveries)
    approved = [r.request_id for r in cluster.audited(AuditAction.REQUEST_APPROVED)]
    assert sorted(approved) == sorted(s.request.request_id for s in cluster.requests)
    provision_jobs = sorted(json.loads(job.payload_json)["number"] for job in cluster.jobs(JOB_PROVISION))
    assert provision_jobs == sorted(s.request.number for s in cluster.requests)
    already = sum("Already approved by Paula Approver" in text for _, text in answers)
    assert already == REQUESTS


def test_a_killed_instance_loses_nothing_and_each_job_runs_once(cluster: Cluster) -> None:
    def a_is_running_a_job() -> bool:
        return any(
            job.state == "running" and job.lease_owner == cluster.a.name
            for job in cluster.jobs(JOB_PROVISION)
        )

    wait_until(a_is_running_a_job, timeout=30, interval=0.02, what="bot A to run a provision job")
    cluster.a.kill9()
    [orphaned] = [
        job.id
        for job in cluster.jobs(JOB_PROVISION)
        if job.state == "running" and job.lease_owner == cluster.a.name
    ]
    cluster.sandbox.clear_faults()
    wait_until(
        lambda: set(cluster.statuses().values()) <= {RequestStatus.PROVISIONED, RequestStatus.FAILED},
        timeout=FINISH_TIMEOUT,
        interval=0.2,
        what="bot B to finish every request",
    )
    assert set(cluster.statuses().values()) == {RequestStatus.PROVISIONED}
    creates = cluster.calls("POST", "/users")
    for stored in cluster.requests:
        marker = stored.plan.employee_id
        mine = [r for r in creates if isinstance(r["body"], dict) and r["body"].get("employeeId") == marker]
        assert [r["status"] for r in mine] == [201], marker
        assert len(cluster.sandbox.users_with_marker(marker)) == 1, marker
    assert all(job.state == "done" for job in cluster.jobs(JOB_PROVISION))
    # The job A held was claimed again (by B, A being dead) after its lease ran out.
    [taken_over] = [job for job in cluster.jobs(JOB_PROVISION) if job.id == orphaned]
    assert taken_over.attempts >= 2
    assert cluster.sandbox.seats(REMOTE_ASSIST)[0] == cluster.seats_before + REQUESTS


def test_sweeps_on_both_instances_offboard_each_expired_account_once(cluster: Cluster) -> None:
    expired = cluster.requests[:EXPIRED]
    yesterday = datetime.now(UTC).date() - timedelta(days=1)

    async def expire(database: Database) -> None:
        for stored in expired:
            moved = await AccountLifecycle(database).move_end_date(
                stored.plan.upn, expected=stored.request.end_date, new=yesterday
            )
            assert moved, stored.plan.upn

    cluster.db.run(expire)
    cluster.a.start()
    slots = [datetime(2000, 1, 1, tzinfo=UTC) + timedelta(hours=n) for n in range(4)]

    async def enqueue_sweeps(database: Database) -> None:
        queue = JobQueue(database)
        for slot in slots:
            stamp = slot.isoformat()
            await queue.enqueue(
                JOB_LIFECYCLE_SWEEP,
                json.dumps({"slot": stamp}),
                dedupe_key=f"{JOB_LIFECYCLE_SWEEP}:{stamp}",
                max_attempts=1,
            )

    cluster.db.run(enqueue_sweeps)

    def offboarded(upn: str) -> bool:
        account = cluster.db.run(lambda database: ServiceAccounts(database).get(upn))
        return account is not None and account.state == AccountState.OFFBOARDED

    wait_until(
        lambda: all(offboarded(s.plan.upn) for s in expired),
        timeout=FINISH_TIMEOUT,
        interval=0.2,
        what="the expired accounts to be offboarded",
    )
    sweeps = [job for job in cluster.jobs(JOB_LIFECYCLE_SWEEP) if job.payload_json in _payloads(slots)]
    wait_until(
        lambda: all(
            job.state == "done"
            for job in cluster.jobs(JOB_LIFECYCLE_SWEEP)
            if job.payload_json in _payloads(slots)
        ),
        timeout=FINISH_TIMEOUT,
        what="the sweeps to finish",
    )
    assert len(sweeps) == len(slots)
    offboard_jobs = [json.loads(job.payload_json) for job in cluster.jobs(JOB_OFFBOARD)]
    users = {
        s.plan.upn: cluster.sandbox.users_with_marker(s.plan.employee_id)[0]["id"] for s in cluster.requests
    }
    disables = [r for r in cluster.calls("PATCH", "/users/{id}") if r["body"].get("accountEnabled") is False]
    revokes = cluster.calls("POST", "/users/{id}/revokeSignInSessions")
    audited = [r.target for r in cluster.audited(AuditAction.ACCOUNT_OFFBOARDED)]
    for stored in expired:
        upn, user_id = stored.plan.upn, users[stored.plan.upn]
        assert sum(1 for job in offboard_jobs if job.get("upn") == upn) == 1, upn
        assert sum(1 for r in disables if user_id in r["path"] or upn in r["path"]) == 1, upn
        assert sum(1 for r in revokes if user_id in r["path"] or upn in r["path"]) == 1, upn
        assert audited.count(upn) == 1, upn
        assert not cluster.sandbox.account_enabled(user_id)
        assert cluster.sandbox.assigned_sku_ids(user_id) == []
    for stored in cluster.requests[EXPIRED:]:
        assert not offboarded(stored.plan.upn)
        assert cluster.sandbox.account_enabled(users[stored.plan.upn])
    assert cluster.sandbox.seats(REMOTE_ASSIST)[0] == cluster.seats_before + REQUESTS - EXPIRED


def _payloads(slots: list[datetime]) -> set[str]:
    return {json.dumps({"slot": slot.isoformat()}) for slot in slots}
