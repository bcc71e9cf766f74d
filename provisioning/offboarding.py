"""Offboarding: named, idempotent steps with a persisted step log, resumable after any crash; deletion later.

``offboard(upn, reason=..., by=...)`` is the handler of job kind ``offboard``. The account must be one this
bot created (its ``employeeId`` is the marker of the request that created it); it is marked ``disabled`` in
the database at once (so the scheduler never starts a second offboarding), then the steps of
:data:`OFFBOARDING_STEPS` run in order, each skipped when the step log (subject ``offboard:<upn>``) already
records it done:

``disable``   ``PATCH accountEnabled=false``: no new sign-in.
``revoke``    ``POST revokeSignInSessions``: refresh tokens and session cookies stop working.
``licenses``  ``assignLicense`` with every SKU the account holds in ``removeLicenses``: the seats come back.
``groups``    ``DELETE /groups/{g}/members/{id}/$ref`` for each planned group the account is still in.
``record``    the account becomes ``offboarded`` and its deletion is scheduled ``retention_days`` later; the
              sponsor is told once (a once-mark), across instances and restarts.

Every Graph write is audited with Graph's request-id; a crash anywhere resumes at the step that did not
finish (each step looks before it writes). A transient Graph error propagates, so the job queue retries the
job; a permanent one marks the step failed (audited, the sponsor told) and ``offboard <upn>`` again resumes.

``delete(upn)`` (job kind ``delete_account``, enqueued by the lifecycle scheduler once retention is over)
deletes the account. Entra keeps a deleted user restorable for 30 days (Entra admin center > Deleted users,
or ``POST /directory/deletedItems/{id}/restore``); after that it is gone for good.

``stamp_leave_date(upn)`` (job kind ``stamp_leave_date``, enqueued on every extension) writes the account's
current end date to ``employeeLeaveDateTime`` (and keeps ``employeeType`` ``Vendor``), so a tenant's own
Entra Lifecycle Workflows read the same date as the bot; see :mod:`onboarding.lifecycle`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from pydantic import ValidationError

from onboarding.audit import AuditAction, audit_detail
from onboarding.lifecycle import LifecyclePolicy, access_ends_at
from onboarding.requests import Person, format_request_id
from provisioning.directory import DirectoryUser, UserChanges
from provisioning.errors import GraphError, NotFound
from provisioning.graph import GraphGateway
from provisioning.graph_calls import capture_graph_calls, last_write_request_id
from provisioning.worker import BOT_ACTOR, BadJobPayload
from storage.accounts import AccountState, ServiceAccount, ServiceAccounts
from storage.audit import AuditLog
from storage.clock import utc_now
from storage.jobs import Job
from storage.lifecycle import AccountLifecycle, LifecycleSteps, Offboarding, Offboardings
from storage.once import OnceMarks
from storage.requests import RequestStore, StepState

__all__ = [
    "CHECKPOINTS",
    "JOB_DELETE_ACCOUNT",
    "JOB_OFFBOARD",
    "JOB_STAMP_LEAVE_DATE",
    "OFFBOARDING_STEPS",
    "OFFBOARDING_STEP_LABELS",
    "STEP_DELETE",
    "OffboardingNotices",
    "OffboardingRunner",
    "delete_payload",
    "offboard_payload",
    "offboarding_subject",
    "stamp_payload",
]

log = logging.getLogger(__name__)

JOB_OFFBOARD: Final = "offboard"
JOB_DELETE_ACCOUNT: Final = "delete_account"
JOB_STAMP_LEAVE_DATE: Final = "stamp_leave_date"

STEP_DISABLE: Final = "disable"
STEP_REVOKE: Final = "revoke"
STEP_LICENSES: Final = "licenses"
STEP_GROUPS: Final = "groups"
STEP_RECORD: Final = "record"
STEP_DELETE: Final = "delete"

#: The steps of an offboarding run, in order. Names are stored in the step log: never rename.
OFFBOARDING_STEPS: tuple[str, ...] = (STEP_DISABLE, STEP_REVOKE, STEP_LICENSES, STEP_GROUPS, STEP_RECORD)

OFFBOARDING_STEP_LABELS: dict[str, str] = {
    STEP_DISABLE: "Block sign-in",
    STEP_REVOKE: "Revoke sessions",
    STEP_LICENSES: "Remove licenses",
    STEP_GROUPS: "Remove from groups",
    STEP_RECORD: "Record",
    STEP_DELETE: "Delete account",
}

#: Where the ``checkpoint`` test hook is called: after each step is recorded done, and right after each
#: Graph write inside a step (before the step log knows about it).
CHECKPOINTS: tuple[str, ...] = (
    "disable:written",
    "disable:done",
    "revoke:written",
    "revoke:done",
    "licenses:written",
    "licenses:done",
    "groups:written",
    "groups:done",
    "record:done",
    "delete:written",
    "delete:done",
)

_BUSY_DETAIL = "Microsoft Graph is busy; trying again shortly"
_REASONS: Final = ("expired", "manual")


def offboarding_subject(upn: str) -> str:
    """The step-log subject of an account's offboarding."""
    return f"offboard:{upn.strip().lower()}"


def offboard_payload(upn: str, *, reason: str, by: Person | None) -> str:
    """The payload of an ``offboard`` job."""
    if reason not in _REASONS:
        raise ValueError(f"offboarding reason must be one of {_REASONS}")
    return json.dumps({"upn": upn, "reason": reason, "by": by.model_dump(mode="json") if by else None})


def delete_payload(upn: str) -> str:
    """The payload of a ``delete_account`` job."""
    return json.dumps({"upn": upn})


def stamp_payload(upn: str) -> str:
    """The payload of a ``stamp_leave_date`` job."""
    return json.dumps({"upn": upn})


class OffboardingNotices(Protocol):
    """Told when an offboarding ends (the bot's lifecycle notifier implements it; it must not raise)."""

    async def account_offboarded(self, account: ServiceAccount, offboarding: Offboarding) -> None:
        """``account`` was offboarded; tell its sponsor (once: the runner guards it with a once-mark)."""
        ...

    async def offboarding_failed(self, account: ServiceAccount, step_label: str, reason: str) -> None:
        """Offboarding of ``account`` stopped at a step for good; tell its sponsor."""
        ...


class _StepFailed(Exception):
    def __init__(self, reason: str, graph_request_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.graph_request_id = graph_request_id


class _Gone(Exception):
    """The account is no longer in the directory (deleted outside the bot)."""


@dataclass
class _Run:
    account: ServiceAccount
    marker: str | None
    group_ids: tuple[str, ...]
    user: DirectoryUser | None = None

    @property
    def subject(self) -> str:
        return offboarding_subject(self.account.upn)


class OffboardingRunner:
    """Offboards, deletes and stamps leave dates of service accounts; safe to run again at any point."""

    def __init__(
        self,
        graph: GraphGateway,
        *,
        accounts: ServiceAccounts,
        lifecycle: AccountLifecycle,
        requests: RequestStore,
        offboardings: Offboardings,
        steps: LifecycleSteps,
        audit: AuditLog,
        marks: OnceMarks,
        policy: LifecyclePolicy,
        instance_id: str,
        notices: OffboardingNotices | None = None,
        clock: Callable[[], datetime] = utc_now,
        checkpoint: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        """Wire the run. ``checkpoint`` is a test hook called at each of :data:`CHECKPOINTS` (raise from it
        to simulate a crash there); ``notices`` tells sponsors (``None``: nobody is told)."""
        self._graph = graph
        self._accounts = accounts
        self._lifecycle = lifecycle
        self._requests = requests
        self._offboardings = offboardings
        self._steps = steps
        self._audit = audit
        self._marks = marks
        self._policy = policy
        self._instance_id = instance_id
        self._notices = notices
        self._clock = clock
        self._checkpoint = checkpoint
        self._handlers: dict[str, Callable[[_Run], Awaitable[tuple[str, str | None]]]] = {
            STEP_DISABLE: self._disable,
            STEP_REVOKE: self._revoke,
            STEP_LICENSES: self._licenses,
            STEP_GROUPS: self._groups,
            STEP_RECORD: self._record,
        }

    # -------------------------------------------------------------------------------- job handlers

    def job_handlers(self) -> dict[str, Callable[[Job], Awaitable[None]]]:
        """Handlers for the worker: ``offboard``, ``delete_account`` and ``stamp_leave_date``."""
        return {
            JOB_OFFBOARD: self.offboard_job,
            JOB_DELETE_ACCOUNT: self.delete_job,
            JOB_STAMP_LEAVE_DATE: self.stamp_job,
        }

    async def offboard_job(self, job: Job) -> None:
        """Run an ``offboard`` job (payload from :func:`offboard_payload`)."""
        payload = _payload(job)
        reason = payload.get("reason")
        if reason not in _REASONS:
            raise BadJobPayload(f"job {job.id} ({job.kind}): unknown offboarding reason")
        by: Person | None = None
        if payload.get("by") is not None:
            try:
                by = Person.model_validate(payload["by"])
            except ValidationError:
                raise BadJobPayload(f"job {job.id} ({job.kind}): the payload's 'by' is malformed") from None
        try:
            await self.offboard(payload["upn"], reason=reason, by=by)
        except GraphError as err:
            if not err.retryable or job.attempts < job.max_attempts:
                raise
            await self._give_up(payload["upn"], err)

    async def delete_job(self, job: Job) -> None:
        """Run a ``delete_account`` job."""
        await self.delete(_payload(job)["upn"])

    async def stamp_job(self, job: Job) -> None:
        """Run a ``stamp_leave_date`` job."""
        await self.stamp_leave_date(_payload(job)["upn"])

    # ------------------------------------------------------------------------------------ offboard

    async def offboard(self, upn: str, *, reason: str, by: Person | None) -> bool:
        """Offboard ``upn``; True when it is offboarded (now or before), False when it stopped or was refused.

        Raises the transient :class:`~provisioning.errors.GraphError` it met, for the job queue to retry.
        """
        account = await self._accounts.get(upn)
        if account is None:
            log.warning("offboard: no such service account", extra={"upn": upn})
            return False
        if account.state in (AccountState.OFFBOARDED.value, AccountState.DELETED.value):
            return True
        offboarding = await self._offboardings.start(
            account.upn,
            reason=reason,
            requested_by_aad_id=by.aad_object_id if by else None,
            requested_by_name=by.display_name if by else BOT_ACTOR,
        )
        if await self._lifecycle.move_state(
            account.upn, from_states=(AccountState.ACTIVE,), to=AccountState.DISABLED
        ):
            await self._audit_event(
                AuditAction.OFFBOARDING_REQUESTED,
                account,
                actor=by,
                detail={"reason": offboarding.reason},
            )
        run = await self._prepare(account)
        recorded = await self._steps.steps(run.subject)
        for step in OFFBOARDING_STEPS:
            previous = recorded.get(step)
            if previous is not None and previous.state is StepState.DONE:
                continue
            if not await self._run_step(run, step):
                return False
        return True

    async def _prepare(self, account: ServiceAccount) -> _Run:
        stored = await self._requests.get(account.request_number)
        if stored is None:
            return _Run(account, marker=None, group_ids=())
        return _Run(account, marker=stored.plan.employee_id, group_ids=tuple(stored.plan.group_ids))

    async def _run_step(self, run: _Run, step: str) -> bool:
        await self._steps.mark(run.subject, step, StepState.RUNNING)
        try:
            detail, request_id = await self._handlers[step](run)
        except _Gone:
            detail, request_id = "the account is no longer in the directory", None
        except _StepFailed as failure:
            await self._fail(run, step, failure.reason, failure.graph_request_id)
            return False
        except GraphError as err:
            if err.retryable:
                await self._steps.mark(run.subject, step, StepState.RUNNING, detail=_BUSY_DETAIL)
                raise
            reason = (
                f"Microsoft Graph refused to {OFFBOARDING_STEP_LABELS[step].lower()} "
                f"({err.graph_code or err.code}). (Graph request-id: {err.request_id or 'none'})"
            )
            await self._fail(run, step, reason, err.request_id)
            return False
        await self._steps.mark(run.subject, step, StepState.DONE, detail=detail, graph_request_id=request_id)
        await self._audit_event(
            AuditAction.OFFBOARDING_STEP_COMPLETED,
            run.account,
            detail={"step": step, "detail": detail},
            graph_request_id=request_id,
        )
        await self._reached(f"{step}:done")
        return True

    async def _fail(self, run: _Run, step: str, reason: str, graph_request_id: str | None) -> None:
        await self._steps.mark(
            run.subject, step, StepState.FAILED, detail=reason, graph_request_id=graph_request_id
        )
        await self._audit_event(
            AuditAction.OFFBOARDING_FAILED,
            run.account,
            detail={"step": step, "reason": reason},
            graph_request_id=graph_request_id,
        )
        log.warning("offboarding failed", extra={"upn": run.account.upn, "step": step})
        if self._notices is not None:
            try:
                await self._notices.offboarding_failed(run.account, OFFBOARDING_STEP_LABELS[step], reason)
            except Exception:
                log.exception("could not tell the sponsor that offboarding failed")

    async def _give_up(self, upn: str, err: GraphError) -> None:
        """The job's last attempt met a transient error too: fail the step that was running."""
        account = await self._accounts.get(upn)
        if account is None:
            return
        run = await self._prepare(account)
        recorded = await self._steps.steps(run.subject)
        step = next(
            (s for s in OFFBOARDING_STEPS if (r := recorded.get(s)) is None or r.state is not StepState.DONE),
            STEP_RECORD,
        )
        reason = (
            f"Microsoft Graph did not answer while trying to {OFFBOARDING_STEP_LABELS[step].lower()}, after "
            "several attempts. Run the offboard command again later."
        )
        await self._fail(run, step, reason, err.request_id)

    # --------------------------------------------------------------------------------------- steps

    async def _user(self, run: _Run, *, fresh: bool = False) -> DirectoryUser:
        """The account in the directory; refuses one without this bot's marker (never offboard a stranger)."""
        if run.user is not None and not fresh:
            return run.user
        try:
            user = await self._graph.get_user(run.account.user_id)
        except NotFound:
            raise _Gone from None
        if run.marker is not None and user.employee_id != run.marker:
            raise _StepFailed(
                f"The account {run.account.upn} in the directory is not the one this bot created "
                "(its employeeId differs); it was left alone. Ask a bot administrator to check it."
            )
        run.user = user
        return user

    async def _disable(self, run: _Run) -> tuple[str, str | None]:
        user = await self._user(run, fresh=True)
        if user.account_enabled is False:
            return "sign-in was already blocked", None
        with capture_graph_calls() as calls:
            await self._graph.disable_user(user.id)
        request_id = last_write_request_id(calls)
        await self._audit_event(
            AuditAction.ACCOUNT_DISABLED,
            run.account,
            detail={"user_id": user.id},
            graph_request_id=request_id,
        )
        await self._reached("disable:written")
        return "sign-in blocked", request_id

    async def _revoke(self, run: _Run) -> tuple[str, str | None]:
        user = await self._user(run)
        with capture_graph_calls() as calls:
            await self._graph.revoke_sessions(user.id)
        request_id = last_write_request_id(calls)
        await self._audit_event(
            AuditAction.SESSIONS_REVOKED,
            run.account,
            detail={"user_id": user.id},
            graph_request_id=request_id,
        )
        await self._reached("revoke:written")
        return "sessions revoked", request_id

    async def _licenses(self, run: _Run) -> tuple[str, str | None]:
        user = await self._user(run, fresh=True)
        if not user.assigned_sku_ids:
            return "no licenses were assigned", None
        parts = {sku.sku_id: sku.part_number for sku in await self._graph.list_skus()}
        held = sorted(user.assigned_sku_ids, key=str)
        with capture_graph_calls() as calls:
            await self._graph.remove_licenses(user.id, held)
        request_id = last_write_request_id(calls)
        names = [parts.get(sku_id, str(sku_id)) for sku_id in held]
        await self._audit_event(
            AuditAction.LICENSES_REMOVED,
            run.account,
            detail={"user_id": user.id, "skus": names},
            graph_request_id=request_id,
        )
        await self._reached("licenses:written")
        return f"removed {', '.join(names)}", request_id

    async def _groups(self, run: _Run) -> tuple[str, str | None]:
        if not run.group_ids:
            return "no groups planned", None
        user = await self._user(run)
        member_of = await self._graph.check_member_groups(user.id, run.group_ids)
        removed = 0
        request_id: str | None = None
        for group_id in run.group_ids:
            if group_id not in member_of:
                continue
            with capture_graph_calls() as calls:
                await self._graph.remove_group_member(group_id, user.id)
            request_id = last_write_request_id(calls)
            removed += 1
            await self._audit_event(
                AuditAction.GROUP_MEMBER_REMOVED,
                run.account,
                target=group_id,
                detail={"user_id": user.id, "group_id": group_id},
                graph_request_id=request_id,
            )
            await self._reached("groups:written")
        return (f"removed from {removed} group(s)" if removed else "not in any planned group"), request_id

    async def _record(self, run: _Run) -> tuple[str, str | None]:
        now = self._clock()
        delete_after = now + timedelta(days=self._policy.retention_days)
        await self._offboardings.mark_offboarded(run.account.upn, delete_after=delete_after)
        await self._lifecycle.move_state(
            run.account.upn,
            from_states=(AccountState.ACTIVE, AccountState.DISABLED),
            to=AccountState.OFFBOARDED,
        )
        offboarding = await self._offboardings.get(run.account.upn)
        assert offboarding is not None  # started at the beginning of the run
        await self._audit_event(
            AuditAction.ACCOUNT_OFFBOARDED,
            run.account,
            detail={
                "reason": offboarding.reason,
                "delete_after": offboarding.delete_after or delete_after,
            },
        )
        if self._notices is not None and await self._marks.claim(
            f"notice:offboarded:{run.account.upn}", owner=self._instance_id
        ):
            try:
                await self._notices.account_offboarded(run.account, offboarding)
            except Exception:
                # A sponsor who is not told is logged; the offboarding itself is done.
                log.exception("could not tell the sponsor about the offboarding")
        return "offboarded; deletion scheduled", None

    # -------------------------------------------------------------------------------------- delete

    async def delete(self, upn: str) -> bool:
        """Delete an offboarded account whose retention is over; True when it is deleted (now or before)."""
        account = await self._accounts.get(upn)
        if account is None:
            return False
        if account.state == AccountState.DELETED.value:
            return True
        offboarding = await self._offboardings.get(upn)
        now = self._clock()
        if (
            account.state != AccountState.OFFBOARDED.value
            or offboarding is None
            or offboarding.delete_after is None
            or offboarding.delete_after > now
        ):
            log.info("delete: not due", extra={"upn": upn, "state": account.state})
            return False
        run = await self._prepare(account)
        await self._steps.mark(run.subject, STEP_DELETE, StepState.RUNNING)
        try:
            user = await self._user(run, fresh=True)
        except _Gone:
            detail, request_id = "the account was already gone from the directory", None
        except _StepFailed as failure:
            await self._fail(run, STEP_DELETE, failure.reason, None)
            return False
        else:
            with capture_graph_calls() as calls:
                await self._graph.delete_user(user.id)
            request_id = last_write_request_id(calls)
            detail = f"deleted {account.upn}; restorable in Microsoft Entra for 30 days"
            await self._audit_event(
                AuditAction.ACCOUNT_DELETED,
                account,
                detail={"user_id": user.id, "upn": account.upn},
                graph_request_id=request_id,
            )
            await self._reached("delete:written")
        await self._lifecycle.move_state(
            account.upn, from_states=(AccountState.OFFBOARDED,), to=AccountState.DELETED
        )
        await self._offboardings.mark_deleted(account.upn)
        await self._steps.mark(
            run.subject, STEP_DELETE, StepState.DONE, detail=detail, graph_request_id=request_id
        )
        await self._audit_event(AuditAction.ACCOUNT_RETENTION_DELETED, account, detail={"detail": detail})
        await self._reached("delete:done")
        return True

    # ------------------------------------------------------------------------------ leave date

    async def stamp_leave_date(self, upn: str) -> bool:
        """Write the account's current end date to ``employeeLeaveDateTime``; True when Graph holds it."""
        account = await self._accounts.get(upn)
        if account is None or account.state != AccountState.ACTIVE.value:
            return False
        leave_at = access_ends_at(account.end_date)
        run = await self._prepare(account)
        try:
            user = await self._user(run, fresh=True)
        except (_Gone, _StepFailed):
            log.warning("stamp leave date: the account is not ours or gone", extra={"upn": upn})
            return False
        if user.employee_leave_date_time == leave_at and user.employee_type == "Vendor":
            return True
        with capture_graph_calls() as calls:
            await self._graph.update_user(
                user.id, UserChanges(employee_leave_date_time=leave_at, employee_type="Vendor")
            )
        await self._audit_event(
            AuditAction.LEAVE_DATE_STAMPED,
            account,
            detail={"user_id": user.id, "employee_leave_date_time": leave_at},
            graph_request_id=last_write_request_id(calls),
        )
        return True

    # ------------------------------------------------------------------------------------ helpers

    async def _audit_event(
        self,
        action: AuditAction,
        account: ServiceAccount,
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
            request_id=_request_id(account),
            target=target or account.upn,
            detail=audit_detail(**detail),
            graph_request_id=graph_request_id,
        )

    async def _reached(self, checkpoint: str) -> None:
        if self._checkpoint is not None:
            await self._checkpoint(checkpoint)


def _request_id(account: ServiceAccount) -> str:
    # The onboarding request id ties the account's whole life together in the audit log.
    return format_request_id(account.request_number)


def _payload(job: Job) -> dict[str, Any]:
    try:
        payload = json.loads(job.payload_json)
    except json.JSONDecodeError:
        raise BadJobPayload(f"job {job.id} ({job.kind}): the payload is not JSON") from None
    upn = payload.get("upn") if isinstance(payload, dict) else None
    if not isinstance(upn, str) or "@" not in upn or len(upn) > 113:
        raise BadJobPayload(f"job {job.id} ({job.kind}): the payload has no account name")
    assert isinstance(payload, dict)
    return payload
