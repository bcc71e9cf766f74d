"""Shared fixtures of the provisioning-pipeline tests: the sandbox tenant on a manual clock, the real
msgraph-sdk gateway on it, a migrated database with every store, and a recording progress sink.

Import the fixtures a test module uses by name (``from tests.provisioning.pipeline_fixtures import
pipeline``), with ``any_migrated_database_url`` and ``postgres_url`` from ``tests.support.postgres`` for
``any_pipeline``. Replication lag is deterministic: the runner's injected ``sleep`` advances the tenant's
clock instead of waiting, and the gateway's own 404 wait is off, so the runner's bounded retry is what runs.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from onboarding import requests as domain
from onboarding.licensing import LicensePlan
from onboarding.naming import NamingPolicy, plan_upn
from onboarding.plan import ProvisioningPlan, build_plan
from onboarding.requests import Contractor, OnboardingRequest, Person
from onboarding.segments import AttributePlacement, GroupPlacement
from provisioning.graph import GraphGateway, GraphGatewayOptions, StaticTokenCredential
from provisioning.graph_calls import RequestIdCapture
from provisioning.runner import ProvisioningRunner
from sandbox.clock import ManualClock
from sandbox.seed import seed_tenant
from sandbox.testing import RunningSandbox, running_sandbox
from settings import SANDBOX_VENDOR_ACCOUNTS_GROUP_ID
from storage.accounts import ServiceAccounts
from storage.audit import AuditLog
from storage.database import Database
from storage.requests import RequestStore, StepLog, StoredRequest
from storage.vault import CredentialVault, generate_key
from tests.support.postgres import (  # noqa: F401  (fixtures used by any_pipeline_database)
    any_migrated_database_url,
    postgres_url,
)

ALICE = Person(aad_object_id="a11ce000-0000-4000-8000-000000000001", display_name="Alice Requester")
ADAM = Person(aad_object_id="adaa0000-0000-4000-8000-000000000003", display_name="Adam Approver")
PAULA = Person(aad_object_id="0a01a000-0000-4000-8000-000000000004", display_name="Paula Approver")
REMOTE_ASSIST = "MICROSOFT_REMOTE_ASSIST"
SEGMENT_GROUP = "6a000000-0000-4000-8000-000000000010"
NAMING = NamingPolicy(domain="abc.com")
T0 = datetime(2030, 1, 2, 9, 0, tzinfo=UTC)
PASSWORD_TTL = timedelta(hours=24)
REPLICATION_WAIT = 30.0

#: Real msgraph-sdk gateway, test-sized: no SDK retry pauses, and no 404 wait of its own.
FAST = GraphGatewayOptions(
    connect_timeout=2.0,
    read_timeout=5.0,
    max_retries=1,
    retry_delay=0.0,
    transport_retries=1,
    transport_retry_delay=0.01,
    create_attempts=3,
    create_backoff=0.01,
    max_retry_after=2.0,
    replication_wait=0.0,
    replication_poll=0.01,
    reachable_timeout=1.0,
)


class RecordingProgress:
    """A progress sink that records every notification, in order."""

    def __init__(self) -> None:
        self.changes: list[int] = []

    async def request_changed(self, number: int) -> None:
        self.changes.append(number)


class CreateBodies(httpx.AsyncBaseTransport):
    """Test-only inner transport: keeps the JSON body of every ``POST /users`` (passwords included), so a
    test can compare the password the account got with the one the vault holds."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.bodies: list[dict[str, Any]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.rstrip("/").endswith("/v1.0/users"):
            self.bodies.append(json.loads(await request.aread()))
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass
class Pipeline:
    """Everything a provisioning test touches, wired like the bot wires it."""

    sandbox: RunningSandbox
    tenant_clock: ManualClock
    graph: GraphGateway
    database: Database
    requests: RequestStore
    steps: StepLog
    vault: CredentialVault
    accounts: ServiceAccounts
    audit: AuditLog
    progress: RecordingProgress
    create_bodies: CreateBodies
    sleeps: list[float] = field(default_factory=list)

    async def sleep(self, seconds: float) -> None:
        """The runner's sleep: time passes for the tenant (replication), not for the test."""
        self.sleeps.append(seconds)
        self.tenant_clock.advance(seconds)

    def runner(
        self,
        *,
        checkpoint: Callable[[str], Awaitable[None]] | None = None,
        replication_wait: float = REPLICATION_WAIT,
    ) -> ProvisioningRunner:
        """A runner on these stores (a new one per simulated process)."""
        return ProvisioningRunner(
            self.graph,
            self.requests,
            self.steps,
            self.vault,
            self.accounts,
            self.audit,
            self.progress,
            password_ttl=PASSWORD_TTL,
            replication_wait=replication_wait,
            sleep=self.sleep,
            checkpoint=checkpoint,
        )

    # ----------------------------------------------------------------------------- requests

    async def submitted(
        self,
        *,
        first: str = "Bob",
        last: str = "Builder",
        vendor: str = "Contoso1",
        segment: str | None = None,
        placement: AttributePlacement | GroupPlacement | None = None,
        extra_licenses: tuple[str, ...] = (),
        vendor_group: str | None = SANDBOX_VENDOR_ACCOUNTS_GROUP_ID,
    ) -> StoredRequest:
        """A request planned as the wizard plans it (Alice, for Bob Builder of Contoso1), pending approval."""
        names = plan_upn(first, last, vendor, policy=NAMING)
        licenses = LicensePlan(part_numbers=(REMOTE_ASSIST, *extra_licenses))

        def make(number: int) -> tuple[OnboardingRequest, ProvisioningPlan]:
            request = OnboardingRequest(
                number=number,
                contractor=Contractor(
                    first_name=first, last_name=last, email=f"{first.lower()}@contoso1.com"
                ),
                vendor_company=vendor,
                usage_location="DE",
                license_profile="remote-assist-technician",
                end_date=date(2030, 3, 31),
                sponsor=ALICE,
                requester=ALICE,
                segment=segment,
                created_at=T0,
            )
            plan = build_plan(
                request,
                upn=names,
                licenses=licenses,
                placement=placement,
                vendor_accounts_group_id=vendor_group,
            )
            return request, plan

        stored = await self.requests.create(make)
        return await self.requests.replace(
            stored.request.number, stored.version, domain.submit(stored.request, at=T0)
        )

    async def approved(
        self,
        *,
        first: str = "Bob",
        last: str = "Builder",
        vendor: str = "Contoso1",
        segment: str | None = None,
        placement: AttributePlacement | GroupPlacement | None = None,
        extra_licenses: tuple[str, ...] = (),
        vendor_group: str | None = SANDBOX_VENDOR_ACCOUNTS_GROUP_ID,
    ) -> StoredRequest:
        """Like :meth:`submitted`, then approved by Adam."""
        stored = await self.submitted(
            first=first,
            last=last,
            vendor=vendor,
            segment=segment,
            placement=placement,
            extra_licenses=extra_licenses,
            vendor_group=vendor_group,
        )
        return await self.requests.replace(
            stored.request.number, stored.version, domain.approve(stored.request, ADAM, T0)
        )

    async def current(self, number: int) -> StoredRequest:
        stored = await self.requests.get(number)
        assert stored is not None
        return stored

    async def retried(self, number: int) -> StoredRequest:
        """What the Retry button does: failed -> provisioning (compare-and-set)."""
        stored = await self.current(number)
        return await self.requests.replace(number, stored.version, domain.retry(stored.request, at=T0))

    # ------------------------------------------------------------------------------- tenant

    def users_with_marker(self, marker: str) -> list[dict[str, Any]]:
        tenant = self.sandbox.tenant
        with tenant.lock:
            return [dict(u) for u in tenant.users.values() if u.get("employeeId") == marker]

    def seats(self, part_number: str = REMOTE_ASSIST) -> tuple[int, int]:
        """(consumed, enabled)."""
        return self.sandbox.tenant.seats(part_number)

    def fill_seats(self, part_number: str = REMOTE_ASSIST) -> None:
        """Use every seat of ``part_number``: licensed employees join the tenant until none is free."""
        tenant = self.sandbox.tenant
        with tenant.lock:
            sku_id = tenant.sku_by_part_number(part_number)["skuId"]
            consumed, enabled = tenant.seats(part_number)
            for n in range(consumed, enabled):
                user = tenant.create_user(
                    {
                        "accountEnabled": True,
                        "displayName": f"Technician {n}",
                        "mailNickname": f"tech{n}",
                        "userPrincipalName": f"tech{n}@abc.com",
                        "usageLocation": "US",
                        "passwordProfile": {"password": "Vq8#lantern-Orbit"},
                    }
                )
                tenant.assign_license(
                    user, {"addLicenses": [{"skuId": sku_id, "disabledPlans": []}], "removeLicenses": []}
                )

    def group_members(self, group_id: str) -> list[str]:
        tenant = self.sandbox.tenant
        with tenant.lock:
            return list(tenant.members[group_id])

    def writes(self, route: str) -> int:
        """How many requests hit ``route`` successfully."""
        return sum(1 for r in self.sandbox.tenant.requests.for_route(route) if r.status < 400)


async def _pipeline(url: str) -> AsyncIterator[Pipeline]:
    clock = ManualClock(start=datetime(2030, 1, 2, 9, 0, tzinfo=UTC))
    database = await Database.connect(url)
    bodies = CreateBodies()
    try:
        async with running_sandbox(seed_tenant(clock=clock)) as sandbox:
            gateway = GraphGateway(
                sandbox.base_url, StaticTokenCredential(), options=FAST, transport=RequestIdCapture(bodies)
            )
            async with gateway:
                yield Pipeline(
                    sandbox=sandbox,
                    tenant_clock=clock,
                    graph=gateway,
                    database=database,
                    requests=RequestStore(database),
                    steps=StepLog(database),
                    vault=CredentialVault(database, generate_key()),
                    accounts=ServiceAccounts(database),
                    audit=AuditLog(database),
                    progress=RecordingProgress(),
                    create_bodies=bodies,
                )
    finally:
        await database.close()


@pytest.fixture
async def pipeline(any_migrated_database_url: str) -> AsyncIterator[Pipeline]:  # noqa: F811
    """The pipeline on SQLite and, as a second case, on PostgreSQL."""
    async for wired in _pipeline(any_migrated_database_url):
        yield wired
