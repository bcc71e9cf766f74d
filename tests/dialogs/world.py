"""The outside world of the wizard for integration tests: the sandbox tenant behind the real Graph gateway,
a migrated SQLite database with the request store and audit log, and a recording approval poster.

``open_world(database_url)`` yields a :class:`World`; ``world.service(**overrides)`` builds a real
:class:`bot.wizard_service.WizardService` on it (the example segment catalog, the default configuration over
``abc.com``, a clock standing at :data:`NOW`, seats read afresh on every look so tests can change them).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.seats import SeatSnapshot
from bot.wizard_service import WizardService
from onboarding.config import default_onboarding_config
from onboarding.segments import load_catalog
from provisioning.graph import GraphGateway, StaticTokenCredential
from sandbox.testing import RunningSandbox, running_sandbox
from settings import SANDBOX_VENDOR_ACCOUNTS_GROUP_ID
from storage import AuditLog, Database
from storage.requests import RequestStore
from tests.provisioning.conftest import FAST

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_CATALOG = ROOT / "config" / "segments.example.toml"
NOW = datetime(2030, 1, 10, 9, 0, tzinfo=UTC)
#: The SKUs of the seed that include information barriers, in the default preference order.
IB_SKUS = ("SPE_E5", "ENTERPRISEPREMIUM", "INFORMATION_PROTECTION_COMPLIANCE")


@dataclass
class ApprovalPoster:
    """Records the request numbers it was asked to post; answers with ``channel`` or raises."""

    channel: str | None = "Vendor approvals"
    fail: bool = False
    numbers: list[int] = field(default_factory=list)

    async def __call__(self, number: int) -> str | None:
        self.numbers.append(number)
        if self.fail:
            raise ConnectionError("the Bot Connector is down")
        return self.channel


@dataclass
class World:
    sandbox: RunningSandbox
    gateway: GraphGateway
    database: Database
    requests: RequestStore
    audit: AuditLog
    poster: ApprovalPoster

    def service(self, **overrides: Any) -> WizardService:
        values: dict[str, Any] = {
            "config": default_onboarding_config("abc.com"),
            "catalog": load_catalog(EXAMPLE_CATALOG),
            "directory": self.gateway,
            # No caching: tests change seats in the tenant and expect the next look to see it.
            "seats": SeatSnapshot(self.gateway, ttl_seconds=0, wait_seconds=10),
            "requests": self.requests,
            "audit": self.audit,
            "on_submitted": self.poster,
            "vendor_accounts_group_id": SANDBOX_VENDOR_ACCOUNTS_GROUP_ID,
            "clock": lambda: NOW,
        }
        values.update(overrides)
        return WizardService(**values)


@asynccontextmanager
async def open_world(database_url: str) -> AsyncIterator[World]:
    """A fresh seeded tenant and the database at ``database_url`` (migrated, without rows)."""
    database = await Database.connect(database_url)
    try:
        async with (
            running_sandbox() as sandbox,
            GraphGateway(sandbox.base_url, StaticTokenCredential(), options=FAST) as gateway,
        ):
            yield World(
                sandbox,
                gateway,
                database,
                RequestStore(database, clock=lambda: NOW),
                AuditLog(database, clock=lambda: NOW),
                ApprovalPoster(),
            )
    finally:
        await database.close()
