"""The provisioning run: named, idempotent steps with a persisted step log, resumable after any crash.

``provision(number)`` is the handler of job kind ``provision``. It moves an approved request to
``provisioning`` (compare-and-set), then runs the steps of :data:`~provisioning.progress.PROVISIONING_STEPS`
in order, skipping each one the step log already records as done:

``check``
    Every planned SKU has a free seat (``GET /subscribedSkus``) and the UPN is free or already ours (its
    ``employeeId`` is this request's id). Nothing has been created when this fails, e.g. "no free seats of
    Dynamics 365 Remote Assist (25 of 25 used)".
``create``
    The temporary password is generated (:mod:`onboarding.passwords`) and stored in the vault *first*, then
    the account is created with every attribute in one ``POST /users``. An account already holding the UPN
    and our marker is taken as is; a password still held in the vault is reused, so a re-run can neither
    create a second account nor leave the account with a password the vault does not have.
``license``
    Only the planned SKUs the account does not hold yet are assigned; a 404 right after creation
    (replication) is retried with backoff for up to ``replication_wait`` seconds.
``groups``
    The account is added to each planned group it is not in yet (same replication retry).
``record``
    The :class:`~storage.accounts.ServiceAccount` row is written and the vault entry's reveal window starts;
    then the request is marked provisioned (compare-and-set).

Each step is marked running, then done or failed, in the step log; every transition and every Graph write is
audited (with Graph's request-id, never a password); the :class:`~provisioning.progress.ProgressSink` is told
after each change. A step that fails for good marks the request failed with one catalogue sentence, and the
job completes; Retry (an approver) resumes at that step. A transient Graph error (throttled or unavailable
after the SDK's own retries) propagates, so the job queue retries the job later while the request stays
``provisioning``; on the job's last attempt the request is marked failed instead.

``cancel(number, by)`` (job kind ``cancel_request``) marks a draft, pending or failed request cancelled
(compare-and-set, first, so no Retry can start while undoing), then undoes what was done: licenses removed,
groups left, the account deleted (only if it carries our marker), the vault entry discarded.

Graph's request-ids come from :class:`~provisioning.graph_calls.RequestIdCapture`, an ``httpx`` transport
the gateway is built with (``GraphGateway(..., transport=RequestIdCapture())``); without it the audit
records carry no request-id.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, TypeVar, cast

from pydantic import SecretStr, ValidationError

from onboarding import requests as domain
from onboarding.audit import AuditAction, audit_detail
from onboarding.errors import NoFreeSeats as NoFreeSeatsError
from onboarding.licensing import LicenseProfile, LicenseShortage, decide_licenses
from onboarding.messages import user_message
from onboarding.passwords import generate_temporary_password
from onboarding.plan import ProvisioningPlan
from onboarding.requests import OnboardingRequest, Person, RequestStatus
from provisioning.accounts import (
    is_password_refusal,
    new_user,
    seat_count,
    service_account,
    unsupported_attributes,
)
from provisioning.directory import DirectoryUser, LicenseAssignment, SkuSeats
from provisioning.errors import GraphError, InvalidRequest, NoFreeSeats, NotFound
from provisioning.graph import GraphGateway
from provisioning.graph_calls import capture_graph_calls, last_write_request_id
from provisioning.progress import (
    PROVISIONING_STEPS,
    STEP_CHECK,
    STEP_CREATE,
    STEP_GROUPS,
    STEP_LICENSE,
    STEP_RECORD,
    STEP_UNDO,
    ProgressSink,
)
from provisioning.reasons import MAX_REASON_CHARS, REASONS, failure_reason
from provisioning.worker import BOT_ACTOR, BadJobPayload
from storage.accounts import AccountState, ServiceAccounts
from storage.audit import AuditLog
from storage.clock import utc_now
from storage.errors import ConcurrencyError
from storage.jobs import Job
from storage.requests import RequestStore, StepLog, StepRecord, StepState, StoredRequest
from storage.vault import CredentialVault

__all__ = [
    "CHECKPOINTS",
    "JOB_CANCEL_REQUEST",
    "JOB_PROVISION",
    "ProvisioningRunner",
    "StepFailed",
    "cancel_payload",
    "provision_payload",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

JOB_PROVISION: Final = "provision"
JOB_CANCEL_REQUEST: Final = "cancel_request"

#: Where the ``checkpoint`` test hook is called, in run order: after each step is recorded done, and right
#: after each Graph write or vault write inside a step (before the step log knows about it).
CHECKPOINTS: tuple[str, ...] = (
    "check:done",
    "create:password_stored",
    "create:account_created",
    "create:done",
    "license:assigned",
    "license:done",
    "groups:added",
    "groups:done",
    "record:recorded",
    "record:done",
)

_BUSY_DETAIL = "Microsoft Graph is busy; trying again shortly"
_MAX_PASSWORD_ATTEMPTS = 3
_MAX_BACKOFF_SECONDS = 15.0
_MAX_CAS_ATTEMPTS = 5

# ------------------------------------------------------------------------------------- errors, jobs


class StepFailed(Exception):
    """A step cannot succeed by trying again now; ``reason`` is the sentence the approver reads."""

    def __init__(self, reason: str, *, graph_request_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason[:MAX_REASON_CHARS]
        self.graph_request_id = graph_request_id


def provision_payload(number: int) -> str:
    """The payload of a ``provision`` job for request ``number``."""
    return json.dumps({"number": number})


def cancel_payload(number: int, by: Person) -> str:
    """The payload of a ``cancel_request`` job: the request number and who cancelled it."""
    return json.dumps({"number": number, "by": by.model_dump(mode="json")})


def _payload(job: Job) -> dict[str, Any]:
    try:
        payload = json.loads(job.payload_json)
    except json.JSONDecodeError:
        raise BadJobPayload(f"job {job.id} ({job.kind}): the payload is not JSON") from None
    number = payload.get("number") if isinstance(payload, dict) else None
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise BadJobPayload(f"job {job.id} ({job.kind}): the payload has no request number")
    return cast(dict[str, Any], payload)


# ------------------------------------------------------------------------------------------ the run


@dataclass
class _Run:
    """What one provision() call knows while it runs."""

    stored: StoredRequest
    #: The account, once the run has created or found it.
    user: DirectoryUser | None = None

    @property
    def number(self) -> int:
        return self.stored.request.number

    @property
    def request(self) -> OnboardingRequest:
        return self.stored.request

    @property
    def plan(self) -> ProvisioningPlan:
        return self.stored.plan

    @property
    def marker(self) -> str:
        return self.stored.plan.employee_id


@dataclass(frozen=True)
class _Done:
    """How a step ended well: a short detail for the card and the audit log, Graph's last request-id."""

    detail: str
    graph_request_id: str | None = None


class ProvisioningRunner:
    """Runs provisioning and cancellation for one request at a time; safe to run again at any point."""

    def __init__(
        self,
        graph: GraphGateway,
        requests: RequestStore,
        steps: StepLog,
        vault: CredentialVault,
        accounts: ServiceAccounts,
        audit: AuditLog,
        progress: ProgressSink,
        *,
        clock: Callable[[], datetime] = utc_now,
        password_ttl: timedelta = timedelta(hours=24),
        replication_wait: float = 120.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        checkpoint: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        """Wire the run. ``password_ttl`` is how long the requester may reveal the password once the
        account is provisioned; ``replication_wait`` bounds the retries of a 404 right after creation;
        ``sleep`` is what waits between them; ``checkpoint`` is a test hook called at each of
        :data:`CHECKPOINTS` (raise from it to simulate a crash there)."""
        self._graph = graph
        self._requests = requests
        self._steps = steps
        self._vault = vault
        self._accounts = accounts
        self._audit = audit
        self._progress = progress
        self._clock = clock
        self._password_ttl = password_ttl
        self._replication_wait = replication_wait
        self._sleep = sleep
        self._checkpoint = checkpoint
        self._handlers: dict[str, Callable[[_Run], Awaitable[_Done]]] = {
            STEP_CHECK: self._check,
            STEP_CREATE: self._create,
            STEP_LICENSE: self._license,
            STEP_GROUPS: self._groups,
            STEP_RECORD: self._record,
        }

    # -------------------------------------------------------------------------------- job handlers

    def job_handlers(self) -> dict[str, Callable[[Job], Awaitable[None]]]:
        """The handlers for :class:`~provisioning.worker.JobWorker`: ``provision`` and ``cancel_request``."""
        return {JOB_PROVISION: self.provision_job, JOB_CANCEL_REQUEST: self.cancel_job}

    async def provision_job(self, job: Job) -> None:
        """Run a ``provision`` job; on its last attempt a transient Graph failure marks the request failed."""
        number = _payload(job)["number"]
        try:
            await self.provision(number)
        except GraphError as err:
            if not err.retryable or job.attempts < job.max_attempts:
                raise
            await self._give_up(number, err)

    async def cancel_job(self, job: Job) -> None:
        """Run a ``cancel_request`` job (payload from :func:`cancel_payload`)."""
        payload = _payload(job)
        try:
            by = Person.model_validate(payload.get("by"))
        except ValidationError:
            raise BadJobPayload(
                f"job {job.id} ({job.kind}): the payload does not say who cancelled"
            ) from None
        try:
            await self.cancel(payload["number"], by)
        except GraphError as err:
            if not err.retryable or job.attempts < job.max_attempts:
                raise
            await self._undo_given_up(payload["number"], err)

    # ---------------------------------------------------------------------------------- provision

    async def provision(self, number: int) -> None:
        """Provision request ``number``: start it if approved, resume it if provisioning, else do nothing.

        Raises the transient :class:`~provisioning.errors.GraphError` (``retryable``) it met, for the job
        queue to retry later; every other outcome (done, failed for good, stale job) returns normally.
        """
        stored = await self._requests.get(number)
        if stored is None:
            log.warning("provision: no such request", extra={"request_number": number})
            return
        if stored.request.status is RequestStatus.APPROVED:
            started = await self._transition(
                number, lambda r: domain.start_provisioning(r, at=self._clock()), {RequestStatus.APPROVED}
            )
            if started is not None:
                await self._audit_event(
                    AuditAction.PROVISIONING_STARTED, started, detail={"attempt": started.request.attempts}
                )
                await self._notify(number)
            stored = await self._requests.get(number)
            if stored is None:  # pragma: no cover - requests are never deleted
                return
        if stored.request.status is not RequestStatus.PROVISIONING:
            log.info(
                "provision: nothing to do in this state (stale job)",
                extra={"request_id": stored.request.request_id, "status": stored.request.status.value},
            )
            return
        run = _Run(stored)
        log.info(
            "provisioning",
            extra={"request_id": stored.request.request_id, "attempt": stored.request.attempts},
        )
        recorded = await self._steps.steps(number)
        for step in PROVISIONING_STEPS:
            previous = recorded.get(step)
            if previous is not None and previous.state is StepState.DONE:
                continue
            if not await self._run_step(run, step):
                return
        finished = await self._transition(
            number, lambda r: domain.mark_provisioned(r, at=self._clock()), {RequestStatus.PROVISIONING}
        )
        if finished is not None:
            await self._audit_event(
                AuditAction.PROVISIONING_SUCCEEDED, finished, target=finished.plan.upn, detail={}
            )
            log.info("provisioned", extra={"request_id": finished.request.request_id})
        await self._notify(number)

    async def _run_step(self, run: _Run, step: str) -> bool:
        """Run one step; True when it is done, False when it failed for good (the request is then failed)."""
        number = run.number
        await self._steps.mark(number, step, StepState.RUNNING)
        await self._notify(number)
        try:
            done = await self._handlers[step](run)
        except StepFailed as failure:
            await self._fail(run, step, failure.reason, failure.graph_request_id)
            return False
        except GraphError as err:
            if err.retryable:
                await self._steps.mark(number, step, StepState.RUNNING, detail=_BUSY_DETAIL)
                await self._notify(number)
                log.warning(
                    "provisioning step deferred: Graph is busy",
                    extra={"request_id": run.request.request_id, "step": step, "error_code": err.code},
                )
                raise
            await self._fail(run, step, self._graph_reason(err, run.plan, step), err.request_id)
            return False
        await self._steps.mark(
            number, step, StepState.DONE, detail=done.detail, graph_request_id=done.graph_request_id
        )
        await self._audit_event(
            AuditAction.PROVISIONING_STEP_COMPLETED,
            run.stored,
            detail={"step": step, "detail": done.detail},
            graph_request_id=done.graph_request_id,
        )
        await self._notify(number)
        await self._reached(f"{step}:done")
        return True

    async def _fail(self, run: _Run, step: str, reason: str, graph_request_id: str | None) -> None:
        number = run.number
        await self._steps.mark(
            number, step, StepState.FAILED, detail=reason, graph_request_id=graph_request_id
        )
        failed = await self._transition(
            number,
            lambda r: domain.mark_failed(r, step, reason, at=self._clock()),
            {RequestStatus.PROVISIONING},
        )
        if failed is not None:
            await self._audit_event(
                AuditAction.PROVISIONING_FAILED,
                failed,
                detail={"step": step, "reason": reason},
                graph_request_id=graph_request_id,
            )
        log.warning(
            "provisioning failed",
            extra={"request_id": run.request.request_id, "step": step, "reason": reason},
        )
        await self._notify(number)

    async def _give_up(self, number: int, err: GraphError) -> None:
        """The job's last attempt met a transient error too: fail the step that was running."""
        stored = await self._requests.get(number)
        if stored is None or stored.request.status is not RequestStatus.PROVISIONING:
            return
        recorded = await self._steps.steps(number)
        step = next(
            (
                s
                for s in PROVISIONING_STEPS
                if (r := recorded.get(s)) is not None and r.state is not StepState.DONE
            ),
            STEP_CHECK,
        )
        reason = failure_reason("graph.gave_up", action=_STEP_ACTIONS[step])
        await self._fail(_Run(stored), step, reason, err.request_id)

    async def _undo_given_up(self, number: int, err: GraphError) -> None:
        """The cancel job's last attempt met a transient error too: record the undo as failed."""
        stored = await self._requests.get(number)
        if stored is None:
            return
        reason = failure_reason("graph.gave_up", action=_STEP_ACTIONS[STEP_UNDO])
        await self._steps.mark(
            number, STEP_UNDO, StepState.FAILED, detail=reason, graph_request_id=err.request_id
        )
        log.error("cancel: undo given up", extra={"request_id": stored.request.request_id})
        await self._notify(number)

    # ------------------------------------------------------------------------------------- steps

    async def _check(self, run: _Run) -> _Done:
        """Seats for every planned SKU the account does not hold yet, and the UPN free or ours."""
        plan = run.plan
        unsupported = unsupported_attributes(plan)
        if unsupported:
            raise StepFailed(failure_reason("unsupported_attribute", property=unsupported[0]))
        skus = await self._load_skus()
        existing = await self._graph.find_user_by_upn(plan.upn)
        if existing is not None and existing.employee_id != run.marker:
            raise StepFailed(failure_reason("upn_taken", upn=plan.upn))
        held = existing.assigned_sku_ids if existing is not None else frozenset()
        needed = tuple(
            part for part in plan.license_part_numbers if part not in skus or skus[part].sku_id not in held
        )
        if needed:
            seats = {part: seat_count(sku) for part, sku in skus.items()}
            profile = LicenseProfile(key="plan", display_name="plan", sku_part_numbers=needed)
            decision = decide_licenses(profile, seats, segment_chosen=False)
            if isinstance(decision, LicenseShortage):
                raise StepFailed(user_message(NoFreeSeatsError(decision.reasons)))
        seat_text = "; ".join(seat_count(skus[part]).describe() for part in plan.license_part_numbers)
        name_text = "is ours from an earlier attempt" if existing is not None else "is free"
        return _Done(f"{seat_text}; {plan.upn} {name_text}")

    async def _create(self, run: _Run) -> _Done:
        """The account with every attribute, the password in the vault first; idempotent by UPN and marker."""
        plan = run.plan
        existing = await self._graph.find_user_by_upn(plan.upn)
        if existing is not None:
            if existing.employee_id != run.marker:
                raise StepFailed(failure_reason("upn_taken", upn=plan.upn))
            run.user = existing
            return _Done(f"{plan.upn} already existed (created by an earlier attempt)")
        # A password the vault still holds was made by an earlier attempt whose create may have gone through
        # unseen (replication): sending the same one keeps the account and the vault in agreement.
        password = await self._vault.pending_password(run.number)
        if password is None:
            password = await self._issue_password(run, replace=False)
        for attempt in range(1, _MAX_PASSWORD_ATTEMPTS + 1):
            try:
                with capture_graph_calls() as calls:
                    user = await self._graph.create_user(new_user(plan, password))
            except InvalidRequest as err:
                # Entra's banned-password list can refuse a random password; nothing was created (a 400),
                # so the refused password is replaced in the vault before trying another.
                if not is_password_refusal(err):
                    raise
                log.warning("Entra refused the temporary password", extra={"request_id": plan.employee_id})
                if attempt == _MAX_PASSWORD_ATTEMPTS:
                    weak = failure_reason("weak_password")
                    raise StepFailed(weak, graph_request_id=err.request_id) from None
                password = await self._issue_password(run, replace=True)
                continue
            break
        request_id = last_write_request_id(calls)
        run.user = user
        await self._audit_event(
            AuditAction.ACCOUNT_CREATED,
            run.stored,
            target=plan.upn,
            detail={"user_id": user.id, "upn": plan.upn, "marker": run.marker},
            graph_request_id=request_id,
        )
        await self._reached("create:account_created")
        return _Done(f"created {plan.upn}", request_id)

    async def _issue_password(self, run: _Run, *, replace: bool) -> SecretStr:
        """A new temporary password, stored in the vault before any account gets it.

        Without ``replace``, a password another run stored meanwhile wins, and that one is returned: whatever
        the interleaving, the account is created with the password the vault holds.
        """
        candidate = generate_temporary_password()
        issued = await self._vault.store(
            run.number,
            run.plan.upn,
            run.request.requester.aad_object_id,
            candidate,
            ttl=self._password_ttl,
            replace=replace,
        )
        held = await self._vault.pending_password(run.number)
        if held is None:  # pragma: no cover - stored a moment ago with a positive ttl
            raise RuntimeError(f"{run.request.request_id}: the vault did not keep the temporary password")
        if issued:
            await self._audit_event(
                AuditAction.CREDENTIALS_ISSUED,
                run.stored,
                target=run.plan.upn,
                detail={"owner_aad_id": run.request.requester.aad_object_id},
            )
            await self._reached("create:password_stored")
        return held

    async def _license(self, run: _Run) -> _Done:
        """Assign the planned SKUs the account does not hold yet."""
        plan = run.plan
        user = await self._our_user(run, fresh=True)
        skus = await self._load_skus()
        missing_parts = [part for part in plan.license_part_numbers if part not in skus]
        if missing_parts:
            raise StepFailed(user_message(NoFreeSeatsError(_shortages(missing_parts, skus))))
        to_add = [
            part for part in plan.license_part_numbers if skus[part].sku_id not in user.assigned_sku_ids
        ]
        if not to_add:
            return _Done("every planned license was already assigned")
        add = [LicenseAssignment(sku_id=skus[part].sku_id) for part in to_add]
        try:
            with capture_graph_calls() as calls:
                await self._until_replicated(
                    "assign licenses", lambda: self._graph.assign_licenses(user.id, add=add)
                )
        except NoFreeSeats as err:
            fresh = await self._load_skus()
            reasons = _shortages(to_add, fresh) or [f"no free seats of {', '.join(to_add)}"]
            raise StepFailed(
                user_message(NoFreeSeatsError(reasons)), graph_request_id=err.request_id
            ) from None
        request_id = last_write_request_id(calls)
        await self._audit_event(
            AuditAction.LICENSES_ASSIGNED,
            run.stored,
            target=plan.upn,
            detail={"user_id": user.id, "skus": to_add},
            graph_request_id=request_id,
        )
        await self._reached("license:assigned")
        return _Done(f"assigned {', '.join(to_add)}", request_id)

    async def _groups(self, run: _Run) -> _Done:
        """Add the account to each planned group it is not a member of yet."""
        plan = run.plan
        if not plan.group_ids:
            return _Done("no groups planned")
        user = await self._our_user(run)
        member_of = await self._until_replicated(
            "check group memberships", lambda: self._graph.check_member_groups(user.id, plan.group_ids)
        )
        added: list[str] = []
        request_id: str | None = None
        for group_id in plan.group_ids:
            if group_id in member_of:
                continue
            with capture_graph_calls() as calls:
                await self._until_replicated(
                    "add the account to a group",
                    functools.partial(self._graph.add_group_member, group_id, user.id),
                )
            request_id = last_write_request_id(calls)
            added.append(group_id)
            await self._audit_event(
                AuditAction.GROUP_MEMBER_ADDED,
                run.stored,
                target=group_id,
                detail={"user_id": user.id, "group_id": group_id},
                graph_request_id=request_id,
            )
            await self._reached("groups:added")
        if not added:
            return _Done("already a member of every planned group")
        return _Done(f"added to {len(added)} group(s)", request_id)

    async def _record(self, run: _Run) -> _Done:
        """The service-account row, and the reveal window starting now."""
        request, plan = run.request, run.plan
        user = await self._our_user(run)
        await self._accounts.record(
            service_account(
                request,
                plan,
                number=run.number,
                user_id=user.id,
                created_at=user.created_date_time or self._clock(),
            )
        )
        renewed = await self._vault.renew(run.number, ttl=self._password_ttl)
        if not renewed:
            log.warning(
                "the temporary password is no longer held; the requester cannot reveal it",
                extra={"request_id": request.request_id},
            )
        await self._reached("record:recorded")
        return _Done("recorded" if renewed else "recorded; the temporary password had expired")

    # ------------------------------------------------------------------------------------- cancel

    async def cancel(self, number: int, by: Person) -> None:
        """Cancel request ``number`` for ``by`` and undo what provisioning did.

        A draft, pending or failed request is marked cancelled first (compare-and-set), so no Retry can start
        while its account is being removed; a request already cancelled has its undo finished (a re-run of
        this job). Requests in any other state are left alone.
        """
        stored = await self._requests.get(number)
        if stored is None:
            log.warning("cancel: no such request", extra={"request_number": number})
            return
        cancellable = domain.ALLOWED_FROM[domain.RequestAction.CANCEL]
        if stored.request.status in cancellable:
            cancelled = await self._transition(
                number, lambda r: domain.cancel(r, by, self._clock()), set(cancellable)
            )
            if cancelled is None:
                await self._notify(number)
                return
            await self._audit_event(
                AuditAction.REQUEST_CANCELLED,
                cancelled,
                actor=by,
                detail={"from_status": stored.request.status.value},
            )
            await self._notify(number)
            stored = cancelled
        elif stored.request.status is not RequestStatus.CANCELLED:
            log.info(
                "cancel: the request cannot be cancelled in this state",
                extra={"request_id": stored.request.request_id, "status": stored.request.status.value},
            )
            await self._notify(number)
            return
        recorded = await self._steps.steps(number)
        undo = recorded.get(STEP_UNDO)
        if undo is not None and undo.state is StepState.DONE:
            return
        if stored.request.attempts == 0 and not recorded:
            await self._vault.discard(number)
            return
        await self._undo(stored, recorded, by)

    async def _undo(self, stored: StoredRequest, recorded: dict[str, StepRecord], by: Person) -> None:
        number, plan = stored.request.number, stored.plan
        await self._steps.mark(number, STEP_UNDO, StepState.RUNNING)
        await self._notify(number)
        try:
            done = await self._undo_in_graph(stored, recorded, by)
        except GraphError as err:
            if err.retryable:
                await self._steps.mark(number, STEP_UNDO, StepState.RUNNING, detail=_BUSY_DETAIL)
                await self._notify(number)
                raise
            reason = self._graph_reason(err, plan, STEP_UNDO)
            await self._steps.mark(
                number, STEP_UNDO, StepState.FAILED, detail=reason, graph_request_id=err.request_id
            )
            log.error(
                "cancel: undo failed", extra={"request_id": stored.request.request_id, "reason": reason}
            )
            await self._notify(number)
            return
        account = await self._accounts.get(plan.upn)
        if account is not None and account.request_number == number:
            await self._accounts.set_state(plan.upn, AccountState.DELETED)
        await self._vault.discard(number)
        await self._steps.mark(number, STEP_UNDO, StepState.DONE, detail=done)
        await self._notify(number)

    async def _undo_in_graph(self, stored: StoredRequest, recorded: dict[str, StepRecord], by: Person) -> str:
        number, plan, marker = stored.request.number, stored.plan, stored.plan.employee_id
        create = recorded.get(STEP_CREATE)
        if create is None or create.state is StepState.UNDONE:
            # No create was ever sent (the run stopped at the check), or the account is already deleted.
            return "nothing to undo: no account exists"
        # A create was sent (its outcome may even be unknown): the account may exist without having
        # replicated yet, so wait for it rather than leak it.
        user = await self._find_replicated(plan.upn)
        if user is None:
            return "nothing to undo: no account was created"
        if user.employee_id != marker:
            log.warning("cancel: the UPN belongs to another account; left alone", extra={"upn": plan.upn})
            return "nothing to undo: the account name belongs to an account this request did not create"
        skus = await self._load_skus()
        held = [
            part
            for part in plan.license_part_numbers
            if part in skus and skus[part].sku_id in user.assigned_sku_ids
        ]
        if held:
            with capture_graph_calls() as calls:
                await self._graph.remove_licenses(user.id, [skus[part].sku_id for part in held])
            await self._audit_event(
                AuditAction.LICENSES_REMOVED,
                stored,
                actor=by,
                target=plan.upn,
                detail={"user_id": user.id, "skus": held},
                graph_request_id=last_write_request_id(calls),
            )
        await self._steps.mark(number, STEP_LICENSE, StepState.UNDONE, detail="licenses removed")
        for group_id in plan.group_ids:
            with capture_graph_calls() as calls:
                await self._graph.remove_group_member(group_id, user.id)
            await self._audit_event(
                AuditAction.GROUP_MEMBER_REMOVED,
                stored,
                actor=by,
                target=group_id,
                detail={"user_id": user.id, "group_id": group_id},
                graph_request_id=last_write_request_id(calls),
            )
        await self._steps.mark(number, STEP_GROUPS, StepState.UNDONE, detail="removed from groups")
        with capture_graph_calls() as calls:
            await self._graph.delete_user(user.id)
        await self._audit_event(
            AuditAction.ACCOUNT_DELETED,
            stored,
            actor=by,
            target=plan.upn,
            detail={"user_id": user.id, "upn": plan.upn},
            graph_request_id=last_write_request_id(calls),
        )
        await self._steps.mark(number, STEP_CREATE, StepState.UNDONE, detail="account deleted")
        return f"deleted {plan.upn}; its licenses and group memberships were removed"

    # ----------------------------------------------------------------------------------- helpers

    async def _our_user(self, run: _Run, *, fresh: bool = False) -> DirectoryUser:
        """The account of this request, waiting out replication; refuses an account without our marker."""
        if run.user is not None and not fresh:
            return run.user
        plan = run.plan
        try:
            user = await self._until_replicated("read the account", lambda: self._graph.get_user(plan.upn))
        except StepFailed:
            raise StepFailed(
                failure_reason("account_missing", upn=plan.upn, seconds=self._replication_wait)
            ) from None
        if user.employee_id != run.marker:
            raise StepFailed(failure_reason("upn_taken", upn=plan.upn))
        run.user = user
        return user

    async def _find_replicated(self, upn: str) -> DirectoryUser | None:
        """The account with ``upn``, waiting out replication; None when it never appears."""
        try:
            return await self._until_replicated("find the account", lambda: self._graph.get_user(upn))
        except StepFailed:
            return None

    async def _until_replicated(self, action: str, operation: Callable[[], Awaitable[T]]) -> T:
        """Run ``operation``, retrying a 404 with backoff for up to ``replication_wait`` seconds."""
        waited = 0.0
        delay = 1.0
        while True:
            try:
                return await operation()
            except NotFound as err:
                if waited >= self._replication_wait:
                    raise StepFailed(
                        failure_reason("not_found", action=action, seconds=self._replication_wait),
                        graph_request_id=err.request_id,
                    ) from None
                pause = min(delay, self._replication_wait - waited)
                log.info("graph 404, waiting for replication", extra={"action": action, "seconds": pause})
                await self._sleep(pause)
                waited += pause
                delay = min(delay * 2, _MAX_BACKOFF_SECONDS)

    async def _load_skus(self) -> dict[str, SkuSeats]:
        return {sku.part_number: sku for sku in await self._graph.list_skus()}

    async def _transition(
        self,
        number: int,
        change: Callable[[OnboardingRequest], OnboardingRequest],
        allowed: set[RequestStatus] | frozenset[RequestStatus],
    ) -> StoredRequest | None:
        """Apply ``change`` as a compare-and-set while the request is in ``allowed``; None once it is not."""
        for _ in range(_MAX_CAS_ATTEMPTS):
            stored = await self._requests.get(number)
            if stored is None or stored.request.status not in allowed:
                return None
            try:
                return await self._requests.replace(number, stored.version, change(stored.request))
            except ConcurrencyError:
                continue
        raise ConcurrencyError(f"onboarding request {number}", "kept changing")

    def _graph_reason(self, err: GraphError, plan: ProvisioningPlan, step: str) -> str:
        code = err.code if err.code in REASONS else "graph.invalid_request"
        return failure_reason(
            code,
            upn=plan.upn,
            action=_STEP_ACTIONS.get(step, "change the directory"),
            graph_code=err.graph_code or err.code,
            request_id=err.request_id or "none",
        )

    async def _audit_event(
        self,
        action: AuditAction,
        stored: StoredRequest,
        *,
        detail: dict[str, object],
        actor: Person | None = None,
        target: str | None = None,
        graph_request_id: str | None = None,
    ) -> None:
        await self._audit.append(
            action,
            actor_aad_id=actor.aad_object_id if actor is not None else None,
            actor_name=actor.display_name if actor is not None else BOT_ACTOR,
            request_id=stored.request.request_id,
            target=target,
            detail=audit_detail(**detail),
            graph_request_id=graph_request_id,
        )

    async def _notify(self, number: int) -> None:
        try:
            await self._progress.request_changed(number)
        except Exception:
            # A card that cannot be updated must never stop (or repeat) the Graph work.
            log.exception("progress sink failed", extra={"request_number": number})

    async def _reached(self, checkpoint: str) -> None:
        if self._checkpoint is not None:
            await self._checkpoint(checkpoint)


_STEP_ACTIONS: Final = {
    STEP_CHECK: "check seats and the account name",
    STEP_CREATE: "create the account",
    STEP_LICENSE: "assign licenses",
    STEP_GROUPS: "add the account to its groups",
    STEP_RECORD: "read the account",
    STEP_UNDO: "remove the account",
}


def _shortages(parts: list[str], skus: dict[str, SkuSeats]) -> list[str]:
    profile = LicenseProfile(key="plan", display_name="plan", sku_part_numbers=tuple(parts))
    decision = decide_licenses(
        profile, {part: seat_count(sku) for part, sku in skus.items()}, segment_chosen=False
    )
    return list(decision.reasons) if isinstance(decision, LicenseShortage) else []
