"""Requests, batches and lifecycle work put straight into a bot's database, as the product would write them.

The reliability suites drive a running bot (a thread or a subprocess) and need requests that are pending,
failed or provisioned, bulk batches awaiting approval or with a failed row, accounts ending soon, lifecycle
requests and segment changes waiting for an approver, without clicking through the wizard (or running the
import) each time. :class:`Seeder` writes them through the product's own stores (compare-and-set
transitions of the domain state machine, the bulk import's batch creation and decision), so what the bot
reads is exactly what it would have written itself.
"""

from __future__ import annotations

import itertools
import string
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from onboarding import requests as domain
from onboarding.licensing import LicensePlan
from onboarding.lifecycle import LifecycleAction
from onboarding.naming import NamingPolicy, plan_upn
from onboarding.plan import ProvisioningPlan, build_plan
from onboarding.requests import Contractor, OnboardingRequest, Person
from provisioning.bulk import decide_batch
from settings import SANDBOX_VENDOR_ACCOUNTS_GROUP_ID
from storage.accounts import AccountState, ServiceAccount, ServiceAccounts
from storage.bulk import BulkBatches, MakeRequest, StoredBatch
from storage.database import Database
from storage.lifecycle import AccountLifecycle, LifecycleRequests, StoredLifecycleRequest
from storage.requests import RequestStore, StoredRequest
from storage.segment_changes import ChangeDecision, ChangeStatus, SegmentChange, SegmentChanges
from storage.vault import CredentialVault

REMOTE_ASSIST = "MICROSOFT_REMOTE_ASSIST"
#: The sandbox tenant's verified domain for service accounts (config/onboarding.example.toml).
NAMING = NamingPolicy(domain="abc.com")
T0 = datetime(2030, 1, 2, 9, 0, tzinfo=UTC)
REVEAL_TTL = timedelta(hours=24)
TEMPORARY_PASSWORD = "Seeded#Temporary-Password-42"

_names = itertools.count()


def unique_first_name() -> str:
    """A first name no other seeded request in this process uses (letters only, as naming wants)."""
    n = next(_names)
    letters = ""
    while True:
        n, rest = divmod(n, 26)
        letters = string.ascii_lowercase[rest] + letters
        if n == 0:
            break
        n -= 1
    return f"Bo{letters}"


def person(aad_object_id: str, name: str) -> Person:
    """A domain person (requester, sponsor, approver) from a Teams identity."""
    return Person(aad_object_id=aad_object_id, display_name=name)


def new_request(requester: Person, sponsor: Person | None = None, *, submitted: bool) -> MakeRequest:
    """Builds a request (draft, or submitted as a bulk import stores it) and its plan for a new contractor,
    for the number the store allocates."""
    first = unique_first_name()
    names = plan_upn(first, "Builder", "Contoso1", policy=NAMING)

    def make(number: int) -> tuple[OnboardingRequest, ProvisioningPlan]:
        draft = OnboardingRequest(
            number=number,
            contractor=Contractor(
                first_name=first, last_name="Builder", email=f"{first.lower()}@contoso1.com"
            ),
            vendor_company="Contoso1",
            usage_location="DE",
            license_profile="remote-assist-technician",
            end_date=date(2030, 3, 31),
            sponsor=sponsor or requester,
            requester=requester,
            created_at=T0,
        )
        request = domain.submit(draft, at=T0) if submitted else draft
        plan = build_plan(
            request,
            upn=names,
            licenses=LicensePlan(part_numbers=(REMOTE_ASSIST,)),
            placement=None,
            vendor_accounts_group_id=SANDBOX_VENDOR_ACCOUNTS_GROUP_ID,
        )
        return request, plan

    return make


@dataclass
class Seeder:
    """Builds requests in one database: ``await Seeder(db).pending(requester, sponsor)`` and friends."""

    database: Database

    @property
    def requests(self) -> RequestStore:
        return RequestStore(self.database)

    async def pending(self, requester: Person, sponsor: Person | None = None) -> StoredRequest:
        """A submitted request waiting for an approver."""
        stored = await self.requests.create(new_request(requester, sponsor, submitted=False))
        return await self.requests.replace(
            stored.request.number, stored.version, domain.submit(stored.request, at=T0)
        )

    async def approved(
        self, requester: Person, approver: Person, sponsor: Person | None = None
    ) -> StoredRequest:
        """A request an approver approved (its provisioning job is not enqueued)."""
        stored = await self.pending(requester, sponsor)
        return await self.requests.replace(
            stored.request.number, stored.version, domain.approve(stored.request, approver, T0)
        )

    async def failed(
        self, requester: Person, approver: Person, sponsor: Person | None = None
    ) -> StoredRequest:
        """A request whose provisioning failed at the license step (Retry and Cancel apply)."""
        stored = await self.approved(requester, approver, sponsor)
        running = await self.requests.replace(
            stored.request.number, stored.version, domain.start_provisioning(stored.request, at=T0)
        )
        return await self.requests.replace(
            running.request.number,
            running.version,
            domain.mark_failed(running.request, "license", "no free seats (seeded)", at=T0),
        )

    async def provisioned(
        self,
        requester: Person,
        approver: Person,
        sponsor: Person | None = None,
        *,
        vault_key: str | None = None,
    ) -> StoredRequest:
        """A provisioned request with its account row and, given the vault key, a revealable password."""
        stored = await self.approved(requester, approver, sponsor)
        running = await self.requests.replace(
            stored.request.number, stored.version, domain.start_provisioning(stored.request, at=T0)
        )
        done = await self.requests.replace(
            running.request.number, running.version, domain.mark_provisioned(running.request, at=T0)
        )
        request = done.request
        await ServiceAccounts(self.database).record(
            ServiceAccount(
                upn=done.plan.upn,
                user_id=f"00000000-0000-4000-8000-{request.number:012d}",
                request_number=request.number,
                vendor=request.vendor_company,
                contractor_name=f"{request.contractor.first_name} {request.contractor.last_name}",
                contractor_email=request.contractor.email,
                sponsor_aad_id=request.sponsor.aad_object_id,
                sponsor_name=request.sponsor.display_name,
                license_part_numbers=(REMOTE_ASSIST,),
                segment=None,
                end_date=request.end_date,
                state=AccountState.ACTIVE.value,
                created_at=T0,
            )
        )
        if vault_key is not None:
            await CredentialVault(self.database, vault_key).store(
                request.number, done.plan.upn, requester.aad_object_id, TEMPORARY_PASSWORD, ttl=REVEAL_TTL
            )
        return done

    async def active_account(
        self,
        requester: Person,
        approver: Person,
        sponsor: Person | None = None,
        *,
        ends_on: date | None = None,
    ) -> ServiceAccount:
        """The active account of a provisioned request; ``ends_on`` moves its end date as extending would."""
        done = await self.provisioned(requester, approver, sponsor)
        accounts = ServiceAccounts(self.database)
        account = await accounts.get(done.plan.upn)
        assert account is not None  # recorded by provisioned()
        if ends_on is not None and ends_on != account.end_date:
            moved = await AccountLifecycle(self.database).move_end_date(
                account.upn, expected=account.end_date, new=ends_on
            )
            assert moved
            account = await accounts.get(account.upn)
            assert account is not None
        return account

    async def lifecycle_request(
        self,
        account: ServiceAccount,
        asked_by: Person,
        action: LifecycleAction = LifecycleAction.OFFBOARD,
        *,
        new_end_date: date | None = None,
    ) -> StoredLifecycleRequest:
        """A lifecycle request on ``account`` waiting for an approver, as the desk stores one (an extension
        carries its ``new_end_date``)."""
        return await LifecycleRequests(self.database).create(
            action.value,
            account.upn,
            requested_by_aad_id=asked_by.aad_object_id,
            requested_by_name=asked_by.display_name,
            new_end_date=new_end_date,
        )

    async def segment_change(
        self, account: ServiceAccount, proposed_by: Person, to_segment: str
    ) -> SegmentChange:
        """A proposed move of ``account`` to ``to_segment`` waiting for an approver, as the desk stores it."""
        return await SegmentChanges(self.database).propose(
            upn=account.upn,
            user_id=account.user_id,
            from_segment=account.segment,
            to_segment=to_segment,
            proposed_by_aad_id=proposed_by.aad_object_id,
            proposed_by_name=proposed_by.display_name,
        )

    async def segment_change_failed(
        self, account: ServiceAccount, proposed_by: Person, approver: Person, to_segment: str
    ) -> SegmentChange:
        """A move of ``account`` that an approver approved and whose run failed (its Retry button applies)."""
        changes = SegmentChanges(self.database)
        proposed = await self.segment_change(account, proposed_by, to_segment)
        decision = ChangeDecision(approver.aad_object_id, approver.display_name, T0)
        approved = await changes.transition(
            proposed.number,
            expected_version=proposed.version,
            status=ChangeStatus.APPROVED,
            decision=decision,
        )
        return await changes.transition(
            approved.number,
            expected_version=approved.version,
            status=ChangeStatus.FAILED,
            failure="no license that includes information barriers has a free seat (seeded)",
        )

    async def bulk_pending(
        self, submitter: Person, sponsor: Person | None = None, *, rows: int = 1
    ) -> StoredBatch:
        """A bulk batch of ``rows`` good rows waiting for an approver, as the import stores one."""
        return await BulkBatches(self.database).create(
            submitted_by=submitter,
            source_name="crew.csv",
            total_rows=rows,
            problems=(),
            seats_needed={REMOTE_ASSIST: rows},
            rows=[(row + 2, new_request(submitter, sponsor, submitted=True)) for row in range(rows)],
        )

    async def bulk_failed(
        self, submitter: Person, approver: Person, sponsor: Person | None = None
    ) -> tuple[StoredBatch, StoredRequest]:
        """An approved batch whose one row failed at the license step (its Retry button applies)."""
        batches = BulkBatches(self.database)
        pending = await self.bulk_pending(submitter, sponsor)
        batch = await decide_batch(
            self.database, batches, self.requests, pending.id, approver, approve=True, clock=lambda: T0
        )
        (row,) = await batches.rows(batch.id)
        approved = await self.requests.get(row.request_number)
        assert approved is not None
        running = await self.requests.replace(
            approved.request.number, approved.version, domain.start_provisioning(approved.request, at=T0)
        )
        failed = await self.requests.replace(
            running.request.number,
            running.version,
            domain.mark_failed(running.request, "license", "no free seats (seeded)", at=T0),
        )
        return batch, failed
