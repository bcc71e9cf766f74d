"""Helpers of the lifecycle tests: a provisioned account on the pipeline, a movable clock, the lifecycle
stores, an offboarding runner and a scheduler wired like the bot wires them, and notice sinks that record."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from onboarding.lifecycle import LifecyclePolicy
from onboarding.requests import Person
from provisioning.credentials import PasswordResetter
from provisioning.graph import GraphGateway
from provisioning.lifecycle import LifecycleScheduler
from provisioning.offboarding import OffboardingRunner
from storage.accounts import ServiceAccount, ServiceAccounts
from storage.audit import AuditLog
from storage.database import Database
from storage.jobs import JobQueue
from storage.lifecycle import AccountLifecycle, LifecycleRequests, LifecycleSteps, Offboarding, Offboardings
from storage.once import OnceMarks
from storage.requests import RequestStore
from storage.vault import CredentialVault, generate_key
from tests.provisioning.pipeline_fixtures import Pipeline

UPN = "sa-contoso1-bob.builder@abc.com"
#: The lifecycle vault's key (a reset's password is revealed through this vault, not the pipeline's).
VAULT_KEY = generate_key()


class MovableClock:
    """Now, as the test says; ``advance`` moves it."""

    def __init__(self, start: datetime = datetime(2030, 1, 2, 9, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def set(self, when: datetime) -> None:
        self.now = when

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class RecordingNotices:
    """Records what sponsors would be told."""

    reminders: list[tuple[str, int]] = field(default_factory=list)
    offboarded: list[tuple[str, str]] = field(default_factory=list)
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    resets: list[tuple[str, str]] = field(default_factory=list)
    deliver: bool = True

    async def send_reminder(self, account: ServiceAccount, days_left: int) -> bool:
        self.reminders.append((account.upn, days_left))
        return self.deliver

    async def account_offboarded(self, account: ServiceAccount, offboarding: Offboarding) -> None:
        self.offboarded.append((account.upn, offboarding.reason))

    async def offboarding_failed(self, account: ServiceAccount, step_label: str, reason: str) -> None:
        self.failures.append((account.upn, step_label, reason))

    async def password_reset(self, account: ServiceAccount, owner: Person, reveal_until: datetime) -> None:
        self.resets.append((account.upn, owner.aad_object_id))


@dataclass
class Lifecycle:
    """The lifecycle stores and services on one database (one per simulated instance)."""

    database: Database
    clock: MovableClock
    graph: GraphGateway
    policy: LifecyclePolicy
    notices: RecordingNotices
    instance_id: str
    jobs: JobQueue = field(init=False)
    accounts: ServiceAccounts = field(init=False)
    lifecycle: AccountLifecycle = field(init=False)
    offboardings: Offboardings = field(init=False)
    steps: LifecycleSteps = field(init=False)
    requests: RequestStore = field(init=False)
    lifecycle_requests: LifecycleRequests = field(init=False)
    audit: AuditLog = field(init=False)
    marks: OnceMarks = field(init=False)
    vault: CredentialVault = field(init=False)
    vault_key: str = ""

    def __post_init__(self) -> None:
        db, clock = self.database, self.clock
        self.jobs = JobQueue(db, clock=clock)
        self.accounts = ServiceAccounts(db, clock=clock)
        self.lifecycle = AccountLifecycle(db, clock=clock)
        self.offboardings = Offboardings(db, clock=clock)
        self.steps = LifecycleSteps(db, clock=clock)
        self.requests = RequestStore(db, clock=clock)
        self.lifecycle_requests = LifecycleRequests(db, clock=clock)
        self.audit = AuditLog(db, clock=clock)
        self.marks = OnceMarks(db, clock=clock)
        self.vault = CredentialVault(db, self.vault_key, clock=clock)

    def runner(self, *, checkpoint: Callable[[str], Awaitable[None]] | None = None) -> OffboardingRunner:
        return OffboardingRunner(
            self.graph,
            accounts=self.accounts,
            lifecycle=self.lifecycle,
            requests=self.requests,
            offboardings=self.offboardings,
            steps=self.steps,
            audit=self.audit,
            marks=self.marks,
            policy=self.policy,
            instance_id=self.instance_id,
            notices=self.notices,
            clock=self.clock,
            checkpoint=checkpoint,
        )

    def scheduler(self) -> LifecycleScheduler:
        return LifecycleScheduler(
            jobs=self.jobs,
            lifecycle=self.lifecycle,
            offboardings=self.offboardings,
            vault=self.vault,
            marks=self.marks,
            audit=self.audit,
            policy=self.policy,
            instance_id=self.instance_id,
            reminders=self.notices,
            clock=self.clock,
        )

    def resetter(self, *, checkpoint: Callable[[str], Awaitable[None]] | None = None) -> PasswordResetter:
        return PasswordResetter(
            self.graph,
            accounts=self.accounts,
            requests=self.requests,
            vault=self.vault,
            steps=self.steps,
            audit=self.audit,
            marks=self.marks,
            instance_id=self.instance_id,
            notices=self.notices,
            clock=self.clock,
            checkpoint=checkpoint,
        )


def lifecycle_on(
    pipeline: Pipeline,
    *,
    database: Database | None = None,
    clock: MovableClock | None = None,
    policy: LifecyclePolicy | None = None,
    notices: RecordingNotices | None = None,
    instance_id: str = "instance-1",
) -> Lifecycle:
    """The lifecycle services on the pipeline's database (or another handle on the same data)."""
    return Lifecycle(
        database=database or pipeline.database,
        clock=clock or MovableClock(),
        graph=pipeline.graph,
        policy=policy or LifecyclePolicy(),
        notices=notices or RecordingNotices(),
        instance_id=instance_id,
        vault_key=VAULT_KEY,
    )


async def provisioned(pipeline: Pipeline) -> ServiceAccount:
    """Bob Builder's account, provisioned by the real runner (end date 2030-03-31)."""
    stored = await pipeline.approved()
    await pipeline.runner().provision(stored.request.number)
    account = await pipeline.accounts.get(stored.plan.upn)
    assert account is not None, "provisioning did not record the account"
    return account
