"""Fixtures of the bulk tests: a sandbox on the real clock (its write quota must refill), the real gateway,
a migrated database with every store, a CSV writer, and helpers that import and approve a batch."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from onboarding.config import OnboardingConfig, load_onboarding_config
from onboarding.segments import SegmentCatalog, load_catalog
from provisioning.bulk import BulkRunner, ImportResult, WritePacer, decide_batch, import_csv
from provisioning.graph import GraphGateway, StaticTokenCredential
from provisioning.graph_calls import RequestIdCapture
from sandbox.seed import seed_tenant
from sandbox.testing import RunningSandbox, running_sandbox
from settings import SANDBOX_VENDOR_ACCOUNTS_GROUP_ID
from storage.bulk import BulkBatches, StoredBatch
from storage.database import Database
from storage.requests import RequestStore, StepLog
from storage.vault import CredentialVault, generate_key
from tests.onboarding.test_bulk import good_row, to_csv
from tests.provisioning.pipeline_fixtures import ADAM, ALICE, FAST

ROOT = Path(__file__).resolve().parents[2]
CONFIG: OnboardingConfig = load_onboarding_config(ROOT / "config" / "onboarding.example.toml")
CATALOG: SegmentCatalog = load_catalog(ROOT / "config" / "segments.example.toml")
REMOTE_ASSIST = "MICROSOFT_REMOTE_ASSIST"
#: The pacing tests' quota (Graph's 20 writes/s, scaled to a 3 s window): a 60-row run must wait for it.
QUOTA_WRITES = 60
QUOTA_WINDOW = 3.0
#: Every other test's quota: roomy, so tests that count requests or crash runs do not wait for the bucket.
ROOMY_WRITES = 600


def fixed_clock() -> datetime:
    return datetime(2030, 1, 2, 9, 0, tzinfo=UTC)


class RecordingBatchProgress:
    """A batch progress sink that records every notification."""

    def __init__(self) -> None:
        self.changes: list[int] = []

    async def batch_changed(self, batch_id: int) -> None:
        self.changes.append(batch_id)


@dataclass
class Bulk:
    """Everything a bulk test touches."""

    sandbox: RunningSandbox
    graph: GraphGateway
    database: Database
    requests: RequestStore
    steps: StepLog
    vault: CredentialVault
    batches: BulkBatches
    progress: RecordingBatchProgress
    tmp: Path
    runners: list[BulkRunner] = field(default_factory=list)

    def runner(
        self,
        *,
        checkpoint: Callable[[str], Awaitable[None]] | None = None,
        writes: int = ROOMY_WRITES,
        window: float = QUOTA_WINDOW,
        max_in_flight: int = 4,
    ) -> BulkRunner:
        """A runner on these stores (a new one per simulated process), paced for the test quota."""
        built = BulkRunner(
            self.graph,
            self.database,
            self.requests,
            self.steps,
            self.vault,
            self.batches,
            self.progress,
            pacer=WritePacer(writes, window),
            clock=fixed_clock,
            max_in_flight=max_in_flight,
            replication_wait=5.0,
            checkpoint=checkpoint,
        )
        self.runners.append(built)
        return built

    async def imported(self, rows: list[dict[str, str]], name: str = "crew.csv") -> ImportResult:
        path = self.tmp / name
        path.write_text(to_csv(rows), encoding="utf-8")
        return await import_csv(
            path,
            submitted_by=ALICE,
            config=CONFIG,
            catalog=CATALOG,
            graph=self.graph,
            batches=self.batches,
            audit_database=self.database,
            vendor_accounts_group_id=SANDBOX_VENDOR_ACCOUNTS_GROUP_ID,
            clock=fixed_clock,
        )

    async def approved(self, rows: list[dict[str, str]]) -> StoredBatch:
        """Import ``rows`` and approve the batch as Adam."""
        result = await self.imported(rows)
        assert result.batch is not None, [e.describe() for e in result.errors]
        return await decide_batch(
            self.database, self.batches, self.requests, result.batch.id, ADAM, approve=True, clock=fixed_clock
        )

    # ----------------------------------------------------------------------------- tenant views

    def users_with_marker(self, marker: str) -> int:
        tenant = self.sandbox.tenant
        with tenant.lock:
            return sum(1 for u in tenant.users.values() if u.get("employeeId") == marker)

    def vendor_users(self) -> list[dict[str, object]]:
        tenant = self.sandbox.tenant
        with tenant.lock:
            return [dict(u) for u in tenant.users.values() if str(u.get("employeeId", "")).startswith("VND-")]

    def group_members(self, group_id: str = SANDBOX_VENDOR_ACCOUNTS_GROUP_ID) -> list[str]:
        tenant = self.sandbox.tenant
        with tenant.lock:
            return list(tenant.members[group_id])

    def seats(self, part_number: str = REMOTE_ASSIST) -> tuple[int, int]:
        return self.sandbox.tenant.seats(part_number)


def crew(count: int, *, vendor: str = "Contoso") -> list[dict[str, str]]:
    """``count`` good rows (end dates valid for :func:`fixed_clock`)."""
    rows = [good_row(n) for n in range(count)]
    for row in rows:
        row["vendor_company"] = vendor
    return rows


@pytest.fixture
async def bulk(tmp_path: Path, any_migrated_database_url: str) -> AsyncIterator[Bulk]:
    """The bulk path on SQLite and, as a second case, on PostgreSQL."""
    database = await Database.connect(any_migrated_database_url)
    tenant = seed_tenant()
    tenant.set_prepaid_units(REMOTE_ASSIST, 1000)
    tenant.faults.write_quota.configure(limit=ROOMY_WRITES, window_seconds=QUOTA_WINDOW)
    try:
        async with running_sandbox(tenant) as sandbox:
            gateway = GraphGateway(
                sandbox.base_url, StaticTokenCredential(), options=FAST, transport=RequestIdCapture()
            )
            async with gateway:
                yield Bulk(
                    sandbox=sandbox,
                    graph=gateway,
                    database=database,
                    requests=RequestStore(database),
                    steps=StepLog(database),
                    vault=CredentialVault(database, generate_key()),
                    batches=BulkBatches(database),
                    progress=RecordingBatchProgress(),
                    tmp=tmp_path,
                )
    finally:
        await database.close()


__all__ = ["CONFIG", "Bulk", "bulk", "crew", "date"]
