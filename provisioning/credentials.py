"""A new temporary password for a service account, delivered like the first one: revealed once, to one person.

``reset(upn, key=..., by=...)`` is the handler of job kind ``reset_password`` (``key`` names this reset; the
step log's subject is ``reset:<key>``). Steps, each skipped when already done:

``store``  a new password is generated and stored, encrypted, in the vault under the account's onboarding
           request number, revealable only by ``by`` (the sponsor or administrator who asked) *before* Graph
           gets it: a crash after this step cannot leave the account with a password nobody can reveal;
``patch``  ``PATCH /users/{id}`` ``passwordProfile`` with ``forceChangePasswordNextSignIn`` (the contractor
           must change it at first sign-in), then ``revokeSignInSessions`` (old sessions end).

Then the person who asked is sent the reveal card once (a once-mark). The password is never logged, never
audited, never in a job payload; the audit log records that it was issued and when it was set.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Final, Protocol

from pydantic import SecretStr, ValidationError

from onboarding.audit import AuditAction, audit_detail
from onboarding.passwords import generate_temporary_password
from onboarding.requests import Person, format_request_id
from provisioning.errors import GraphError, NotFound
from provisioning.graph import GraphGateway
from provisioning.graph_calls import capture_graph_calls, last_write_request_id
from provisioning.worker import BOT_ACTOR, BadJobPayload
from storage.accounts import AccountState, ServiceAccount, ServiceAccounts
from storage.audit import AuditLog
from storage.clock import utc_now
from storage.jobs import Job
from storage.lifecycle import LifecycleSteps
from storage.once import OnceMarks
from storage.requests import RequestStore, StepRecord, StepState
from storage.vault import CredentialVault

__all__ = ["JOB_RESET_PASSWORD", "CredentialNotices", "PasswordResetter", "reset_payload"]

log = logging.getLogger(__name__)

JOB_RESET_PASSWORD: Final = "reset_password"  # noqa: S105 - a job kind, not a password
STEP_STORE: Final = "store"
STEP_PATCH: Final = "patch"


def reset_payload(upn: str, *, key: str, by: Person) -> str:
    """The payload of a ``reset_password`` job (no password in it: the job generates one)."""
    return json.dumps({"upn": upn, "key": key, "by": by.model_dump(mode="json")})


class CredentialNotices(Protocol):
    """Tells the person who asked that the new password can be revealed (the bot implements it)."""

    async def password_reset(self, account: ServiceAccount, owner: Person, reveal_until: datetime) -> None:
        """Send ``owner`` the reveal card for ``account``'s new temporary password."""
        ...


class PasswordResetter:
    """Resets temporary passwords of service accounts; safe to run again at any point."""

    def __init__(
        self,
        graph: GraphGateway,
        *,
        accounts: ServiceAccounts,
        requests: RequestStore,
        vault: CredentialVault,
        steps: LifecycleSteps,
        audit: AuditLog,
        marks: OnceMarks,
        instance_id: str,
        notices: CredentialNotices | None = None,
        password_ttl: timedelta = timedelta(hours=24),
        clock: Callable[[], datetime] = utc_now,
        checkpoint: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        """Wire the reset; ``password_ttl`` is how long the new password can be revealed."""
        self._graph = graph
        self._accounts = accounts
        self._requests = requests
        self._vault = vault
        self._steps = steps
        self._audit = audit
        self._marks = marks
        self._instance_id = instance_id
        self._notices = notices
        self._ttl = password_ttl
        self._clock = clock
        self._checkpoint = checkpoint

    def job_handlers(self) -> dict[str, Callable[[Job], Awaitable[None]]]:
        """The worker handler for ``reset_password``."""
        return {JOB_RESET_PASSWORD: self.reset_job}

    async def reset_job(self, job: Job) -> None:
        """Run a ``reset_password`` job (payload from :func:`reset_payload`)."""
        try:
            payload = json.loads(job.payload_json)
            upn, key = payload["upn"], payload["key"]
            by = Person.model_validate(payload["by"])
        except (ValueError, KeyError, TypeError, ValidationError):
            raise BadJobPayload(f"job {job.id} ({job.kind}): malformed payload") from None
        if not isinstance(upn, str) or not isinstance(key, str) or not 0 < len(key) <= 64:
            raise BadJobPayload(f"job {job.id} ({job.kind}): malformed payload")
        await self.reset(upn, key=key, by=by)

    async def reset(self, upn: str, *, key: str, by: Person) -> bool:
        """Give ``upn`` a new temporary password that ``by`` can reveal once; True when it is set.

        Raises the transient :class:`~provisioning.errors.GraphError` it met, for the job queue to retry.
        """
        account = await self._accounts.get(upn)
        if account is None or account.state != AccountState.ACTIVE.value:
            log.info("reset password: no active account", extra={"upn": upn})
            return False
        subject = f"reset:{key}"
        recorded = await self._steps.steps(subject)
        if STEP_PATCH not in recorded or recorded[STEP_PATCH].state is not StepState.DONE:
            stored = await self._requests.get(account.request_number)
            marker = stored.plan.employee_id if stored is not None else None
            try:
                user = await self._graph.get_user(account.user_id)
            except NotFound:
                await self._steps.mark(subject, STEP_PATCH, StepState.FAILED, detail="account not found")
                return False
            if marker is not None and user.employee_id != marker:
                await self._steps.mark(
                    subject,
                    STEP_PATCH,
                    StepState.FAILED,
                    detail="the account is not the one this bot created",
                )
                return False
            password = await self._stored_password(account, subject, recorded, by)
            await self._steps.mark(subject, STEP_PATCH, StepState.RUNNING)
            try:
                with capture_graph_calls() as calls:
                    await self._graph.reset_password(user.id, password)
                    await self._graph.revoke_sessions(user.id)
            except GraphError as err:
                if not err.retryable:
                    await self._steps.mark(
                        subject,
                        STEP_PATCH,
                        StepState.FAILED,
                        detail=f"Microsoft Graph refused the new password ({err.graph_code or err.code})",
                        graph_request_id=err.request_id,
                    )
                    return False
                raise
            request_id = last_write_request_id(calls)
            await self._audit_event(
                AuditAction.CREDENTIALS_RESET,
                account,
                actor=by,
                detail={"user_id": user.id},
                request_id=request_id,
            )
            await self._steps.mark(
                subject, STEP_PATCH, StepState.DONE, detail="password set", graph_request_id=request_id
            )
            await self._reached("patch:done")
        notice = f"notice:{subject}"
        if self._notices is not None and await self._marks.claim(notice, owner=self._instance_id):
            try:
                await self._notices.password_reset(account, by, self._clock() + self._ttl)
            except Exception:
                await self._marks.release(notice)
                log.exception("could not send the reveal card for a reset password")
        return True

    async def _stored_password(
        self, account: ServiceAccount, subject: str, recorded: Mapping[str, StepRecord], by: Person
    ) -> SecretStr:
        """The password this reset stored; stored now (before Graph sees it) when it has none yet."""
        if STEP_STORE in recorded:
            held = await self._vault.pending_password(account.request_number)
            if held is not None:
                return held
        # First run, or the stored one expired or was revealed early: a new one, stored before use.
        candidate = generate_temporary_password()
        await self._vault.store(
            account.request_number, account.upn, by.aad_object_id, candidate, ttl=self._ttl, replace=True
        )
        await self._steps.mark(subject, STEP_STORE, StepState.DONE, detail="new password stored")
        await self._audit_event(
            AuditAction.CREDENTIALS_ISSUED, account, actor=by, detail={"owner_aad_id": by.aad_object_id}
        )
        await self._reached("store:done")
        return SecretStr(candidate)

    async def _audit_event(
        self,
        action: AuditAction,
        account: ServiceAccount,
        *,
        actor: Person | None,
        detail: dict[str, object],
        request_id: str | None = None,
    ) -> None:
        await self._audit.append(
            action,
            actor_aad_id=actor.aad_object_id if actor else None,
            actor_name=actor.display_name if actor else BOT_ACTOR,
            request_id=format_request_id(account.request_number),
            target=account.upn,
            detail=audit_detail(**detail),
            graph_request_id=request_id,
        )

    async def _reached(self, checkpoint: str) -> None:
        if self._checkpoint is not None:
            await self._checkpoint(checkpoint)
