"""Extend, offboard and reset: the ``extend <upn>`` / ``offboard <upn>`` commands and their card buttons.

Every click is checked on the server, whatever the card showed: who the clicker is (Teams' ``aadObjectId``,
never the card), their roles (Entra groups), and the account's current state and end date. Graph work never
runs here: a click changes the database (compare-and-set) and enqueues a job for the background worker.

Who may do what (the rules live in :mod:`onboarding.lifecycle`)::

    action                      sponsor of the account   approver            bot administrator
    see the account card        yes                      no                  yes
    extend within the maximum   yes (at once)            no                  yes (at once)
    extend beyond the maximum   asks an approver         approves            asks an approver
    offboard now                yes (asks an approver    approves (when      yes, at once
                                when configured)         configured)
    new temporary password      yes (asks an approver    approves (when      yes, at once
                                when configured)         configured)
    approve / reject            never                    yes, except their   yes, except their
                                                         own requests and    own requests and
                                                         accounts they       accounts they
                                                         sponsor             sponsor

An extension moves the end date in the database at once (only from the date the card showed, so two clicks
extend once) and enqueues ``stamp_leave_date``, which writes ``employeeLeaveDateTime`` in Entra. Approval
requests are posted to the bound approvals channel; of two decisions exactly one wins (compare-and-set).

:class:`LifecycleNotifier` is the bot side of the background work: it sends reminders, offboarding results
and reset-password cards to a person's 1:1 chat, and posts/updates lifecycle approval cards in the channel.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import date, datetime

from botbuilder.core import CardFactory, MessageFactory, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import ConversationReference

from bot.approvals import Clicker
from bot.notifier import TeamsNotifier
from bot.roles import Role, RoleDirectory
from cards.actions import (
    LifecycleApprovePayload,
    LifecycleExtendPayload,
    LifecycleOffboardPayload,
    LifecycleRejectPayload,
    LifecycleResetPasswordPayload,
)
from cards.lifecycle import (
    account_card,
    lifecycle_approval_card,
    lifecycle_notice_card,
    offboard_confirm_card,
    offboarded_card,
    password_reset_card,
)
from cards.render import CardContent
from cards.views import (
    AccountLifecycleView,
    Decision,
    LifecycleApprovalView,
    OffboardedView,
    PasswordResetView,
)
from onboarding.audit import AuditAction, audit_detail
from onboarding.lifecycle import (
    LifecycleAction,
    LifecyclePolicy,
    decide_extension,
    may,
    needs_approval,
)
from onboarding.requests import Person, format_request_id
from provisioning.credentials import JOB_RESET_PASSWORD, reset_payload
from provisioning.offboarding import JOB_OFFBOARD, JOB_STAMP_LEAVE_DATE, offboard_payload, stamp_payload
from storage.accounts import AccountState, ServiceAccount, ServiceAccounts
from storage.errors import ConcurrencyError
from storage.lifecycle import (
    AccountLifecycle,
    LifecycleRequests,
    Offboarding,
    PendingRequestExists,
    StoredLifecycleRequest,
    parse_lifecycle_id,
)
from storage.repositories import APPROVALS_CHANNEL, AuditLog, ConversationRefs, JobQueue

__all__ = ["LifecycleDesk", "LifecycleNotifier"]

log = logging.getLogger(__name__)

_MAX_UPN = 113


class LifecycleNotifier:
    """Sends lifecycle cards to people and posts lifecycle approval cards (proactive messages).

    Implements :class:`provisioning.lifecycle.ReminderSender`, :class:`provisioning.offboarding.
    OffboardingNotices` and :class:`provisioning.credentials.CredentialNotices`.
    """

    def __init__(
        self,
        adapter: CloudAdapter,
        *,
        app_id: str,
        notifier: TeamsNotifier,
        conversations: ConversationRefs,
        lifecycle_requests: LifecycleRequests,
        accounts: ServiceAccounts,
        policy: LifecyclePolicy,
    ) -> None:
        self._adapter = adapter
        self._app_id = app_id
        self._notifier = notifier
        self._conversations = conversations
        self._requests = lifecycle_requests
        self._accounts = accounts
        self._policy = policy

    async def send_reminder(self, account: ServiceAccount, days_left: int) -> bool:
        """The expiry reminder with Extend / Offboard now / Reset password, to the sponsor's 1:1 chat."""
        view = _account_view(account, self._policy, may_act=True, days_left=days_left)
        return await self._notifier.send_to_user(account.sponsor_aad_id, [account_card(view)])

    async def account_offboarded(self, account: ServiceAccount, offboarding: Offboarding) -> None:
        """Tell the sponsor the account was offboarded, and when it will be deleted."""
        view = OffboardedView(
            upn=account.upn,
            contractor_name=account.contractor_name,
            reason=offboarding.reason,
            delete_after=offboarding.delete_after,
        )
        await self._notifier.send_to_user(account.sponsor_aad_id, [offboarded_card(view)])

    async def offboarding_failed(self, account: ServiceAccount, step_label: str, reason: str) -> None:
        """Tell the sponsor offboarding stopped at a step."""
        view = OffboardedView(
            upn=account.upn,
            contractor_name=account.contractor_name,
            reason="manual",
            failed_step=step_label,
            failure=reason,
        )
        await self._notifier.send_to_user(account.sponsor_aad_id, [offboarded_card(view)])

    async def password_reset(self, account: ServiceAccount, owner: Person, reveal_until: datetime) -> None:
        """Send the person who asked the one-time Reveal card of the new temporary password."""
        view = PasswordResetView(
            request_id=format_request_id(account.request_number), upn=account.upn, reveal_until=reveal_until
        )
        await self._notifier.send_to_user(owner.aad_object_id, [password_reset_card(view)])

    async def post_approval_card(self, stored: StoredLifecycleRequest) -> bool:
        """Post the request's approval card to the bound channel; False when no channel is bound."""
        channel = await self._conversations.get(APPROVALS_CHANNEL)
        if channel is None:
            return False
        card = await self.approval_card(stored)
        reference = ConversationReference().deserialize(channel.reference)
        activity_ids: list[str] = []

        async def send(turn_context: TurnContext) -> None:
            response = await turn_context.send_activity(
                MessageFactory.attachment(CardFactory.adaptive_card(card))
            )
            if response is not None and response.id:
                activity_ids.append(response.id)

        await self._adapter.continue_conversation(reference, send, self._app_id)
        if activity_ids:
            await self._requests.set_approval_card(stored.id, activity_ids[0], channel.reference)
        return True

    async def update_approval_card(self, stored: StoredLifecycleRequest) -> None:
        """Show the request's current state on its channel card, for everyone."""
        if not stored.approval_activity_id or not stored.approval_conversation:
            return
        update = MessageFactory.attachment(CardFactory.adaptive_card(await self.approval_card(stored)))
        update.id = stored.approval_activity_id
        reference = ConversationReference().deserialize(stored.approval_conversation)

        async def send(turn_context: TurnContext) -> None:
            await turn_context.update_activity(update)

        try:
            await self._adapter.continue_conversation(reference, send, self._app_id)
        except Exception:
            # The clicker already got the new card as the invoke answer; others see it on refresh.
            log.exception("could not update a lifecycle approval card")

    async def approval_card(
        self, stored: StoredLifecycleRequest, *, notice: str | None = None, may_act: bool = True
    ) -> CardContent:
        """The approval card of ``stored`` as it stands."""
        account = await self._accounts.get(stored.upn)
        decision = None
        if stored.decided_at is not None:
            decision = Decision(
                approved=stored.status == "approved",
                by=stored.decided_by_name or "someone",
                at=stored.decided_at,
                comment=stored.comment or "",
            )
        return lifecycle_approval_card(
            LifecycleApprovalView(
                request_id=stored.request_id,
                card_version=stored.version,
                action=stored.action,
                upn=stored.upn,
                contractor_name=account.contractor_name if account else "",
                vendor=account.vendor if account else "",
                requested_by=stored.requested_by_name,
                current_end_date=account.end_date if account else date.min,
                new_end_date=stored.new_end_date,
                status=stored.status,
                decision=decision,
                notice=notice,
                viewer_may_act=may_act,
            )
        )


class LifecycleDesk:
    """The server side of the lifecycle commands and buttons."""

    def __init__(
        self,
        *,
        accounts: ServiceAccounts,
        lifecycle: AccountLifecycle,
        lifecycle_requests: LifecycleRequests,
        jobs: JobQueue,
        audit: AuditLog,
        roles: RoleDirectory,
        notices: LifecycleNotifier,
        policy: LifecyclePolicy,
        clock: Callable[[], datetime],
        on_enqueued: Callable[[], None] = lambda: None,
    ) -> None:
        self._accounts = accounts
        self._lifecycle = lifecycle
        self._requests = lifecycle_requests
        self._jobs = jobs
        self._audit = audit
        self._roles = roles
        self._notices = notices
        self._policy = policy
        self._clock = clock
        self._on_enqueued = on_enqueued

    # ------------------------------------------------------------------ commands

    async def extend_command(self, clicker: Clicker, upn: str) -> CardContent:
        """``extend <upn>``: the account card with the actions the caller may take."""
        account, refusal = await self._account_for(clicker, upn)
        if account is None:
            return refusal
        return account_card(_account_view(account, self._policy, may_act=True))

    async def offboard_command(self, clicker: Clicker, upn: str) -> CardContent:
        """``offboard <upn>``: what offboarding does, and the button that does it."""
        account, refusal = await self._account_for(clicker, upn)
        if account is None:
            return refusal
        view = _account_view(account, self._policy, may_act=True)
        if account.state != AccountState.ACTIVE.value:
            view = _account_view(
                account, self._policy, may_act=False, notice="This account is already offboarded."
            )
        return offboard_confirm_card(view)

    # ------------------------------------------------------------------ buttons

    async def extend(self, clicker: Clicker, payload: LifecycleExtendPayload) -> CardContent:
        """Extend by ``payload.days`` from the end date the card showed; beyond the maximum, ask first."""
        account, refusal = await self._account_for(clicker, payload.upn)
        if account is None:
            return refusal
        person = _person(clicker)
        if account.state != AccountState.ACTIVE.value:
            return self._card(account, "This account is no longer active, so it cannot be extended.")
        seen = date.fromisoformat(payload.end_date)
        if seen != account.end_date:
            return self._card(
                account, "The end date changed since this card was shown; here is the current one."
            )
        today = self._clock().date()
        decision = decide_extension(account.end_date, payload.days, today, self._policy)
        is_admin = await self._roles.has_role(clicker.aad_object_id, Role.ADMINISTRATOR)
        if needs_approval(
            LifecycleAction.EXTEND, self._policy, is_administrator=is_admin, extension=decision
        ):
            return await self._ask_approval(
                account, person, LifecycleAction.EXTEND, new_end_date=decision.new_end_date
            )
        if not await self._lifecycle.move_end_date(account.upn, expected=seen, new=decision.new_end_date):
            current = await self._accounts.get(account.upn) or account
            return self._card(
                current, "Someone else changed this account a moment ago; here is how it stands."
            )
        await self._after_extension(account, person, seen, decision.new_end_date, approved_by=None)
        current = await self._accounts.get(account.upn) or account
        return self._card(current, f"Extended: access now ends on {decision.new_end_date.isoformat()}.")

    async def offboard(self, clicker: Clicker, payload: LifecycleOffboardPayload) -> CardContent:
        """Offboard now (enqueue the run), or ask an approver when configured."""
        return await self._act_now_or_ask(
            clicker,
            payload.upn,
            LifecycleAction.OFFBOARD,
            inactive="This account is already being offboarded or is offboarded.",
            enqueue=self._enqueue_offboard,
            started=(
                "Offboarding started: sign-in is blocked first, then sessions, licenses and groups. "
                "I'll tell you here when it is done."
            ),
            may_act_after=False,
        )

    async def reset_password(self, clicker: Clicker, payload: LifecycleResetPasswordPayload) -> CardContent:
        """A new temporary password (revealed once, to the clicker), or ask an approver when configured."""
        return await self._act_now_or_ask(
            clicker,
            payload.upn,
            LifecycleAction.RESET_PASSWORD,
            inactive="This account is not active, so its password cannot be reset.",
            enqueue=self._enqueue_reset,
            started="A new temporary password is being set. I'll send you the Reveal button here.",
            may_act_after=True,
        )

    async def _act_now_or_ask(
        self,
        clicker: Clicker,
        upn: str,
        action: LifecycleAction,
        *,
        inactive: str,
        enqueue: Callable[[ServiceAccount, Person], Awaitable[None]],
        started: str,
        may_act_after: bool,
    ) -> CardContent:
        """An action on an active account: carried out (enqueued) at once, or an approval request when the
        policy wants one for this clicker (``needs_approval``)."""
        account, refusal = await self._account_for(clicker, upn)
        if account is None:
            return refusal
        if account.state != AccountState.ACTIVE.value:
            return self._card(account, inactive)
        person = _person(clicker)
        is_admin = await self._roles.has_role(clicker.aad_object_id, Role.ADMINISTRATOR)
        if needs_approval(action, self._policy, is_administrator=is_admin):
            return await self._ask_approval(account, person, action)
        await enqueue(account, person)
        return self._card(account, started, may_act=may_act_after)

    async def approve(self, clicker: Clicker, payload: LifecycleApprovePayload) -> CardContent:
        """An approver approves a lifecycle request; the action is carried out in the background."""
        return await self._decide(
            clicker, payload.lifecycle_request_id, payload.card_version, True, payload.comment
        )

    async def reject(self, clicker: Clicker, payload: LifecycleRejectPayload) -> CardContent:
        """An approver rejects a lifecycle request."""
        return await self._decide(
            clicker, payload.lifecycle_request_id, payload.card_version, False, payload.comment
        )

    # ------------------------------------------------------------------ approvals

    async def _ask_approval(
        self,
        account: ServiceAccount,
        person: Person,
        action: LifecycleAction,
        *,
        new_end_date: date | None = None,
    ) -> CardContent:
        try:
            stored = await self._requests.create(
                action.value,
                account.upn,
                requested_by_aad_id=person.aad_object_id,
                requested_by_name=person.display_name,
                new_end_date=new_end_date,
            )
        except PendingRequestExists:
            return self._card(
                account, "A request for this is already waiting for an approver.", may_act=False
            )
        await self._audit.append(
            AuditAction.LIFECYCLE_APPROVAL_REQUESTED,
            actor_aad_id=person.aad_object_id,
            actor_name=person.display_name,
            request_id=stored.request_id,
            target=account.upn,
            detail=audit_detail(action=action.value, new_end_date=new_end_date),
        )
        posted = await self._notices.post_approval_card(stored)
        where = (
            "in the approvals channel" if posted else "once a bot administrator binds an approvals channel"
        )
        return self._card(
            account, f"An approver must agree first: I asked {where} ({stored.request_id}).", may_act=False
        )

    async def _may_decide(self, aad_object_id: str | None) -> bool:
        """Approvers and bot administrators decide lifecycle requests (onboarding.lifecycle's table)."""
        return await self._roles.has_role(aad_object_id, Role.APPROVER) or await self._roles.has_role(
            aad_object_id, Role.ADMINISTRATOR
        )

    async def _decide(
        self, clicker: Clicker, request_id: str, version: int, approve: bool, comment: str | None
    ) -> CardContent:
        number = parse_lifecycle_id(request_id)
        stored = await self._requests.get(number) if number is not None else None
        if stored is None:
            return lifecycle_notice_card("Not found", "There is no such lifecycle request.")
        person = clicker.person()
        account = await self._accounts.get(stored.upn)
        if person is None or not await self._may_decide(clicker.aad_object_id):
            await self._refused(clicker, stored.request_id, "not an approver")
            return await self._notices.approval_card(
                stored, notice="Only approvers and bot administrators can decide.", may_act=False
            )
        own = {stored.requested_by_aad_id, account.sponsor_aad_id if account else ""}
        if person.aad_object_id.lower() in {x.lower() for x in own}:
            await self._refused(clicker, stored.request_id, "self-approval")
            return await self._notices.approval_card(
                stored,
                notice="You asked for this or sponsor this account, so another approver must decide.",
                may_act=False,
            )
        try:
            decided = await self._requests.decide(
                stored.id,
                version,
                approved=approve,
                by_aad_id=person.aad_object_id,
                by_name=person.display_name,
                comment=(comment or "").strip() or None,
            )
        except ConcurrencyError:
            current = await self._requests.get(stored.id) or stored
            return await self._notices.approval_card(current, notice="Already decided.", may_act=False)
        await self._audit.append(
            AuditAction.LIFECYCLE_APPROVED if approve else AuditAction.LIFECYCLE_REJECTED,
            actor_aad_id=person.aad_object_id,
            actor_name=person.display_name,
            request_id=decided.request_id,
            target=decided.upn,
            detail=audit_detail(action=decided.action, comment_given=bool(decided.comment)),
        )
        notice = None
        if approve and account is not None:
            notice = await self._carry_out(decided, account, person)
        await self._notices.update_approval_card(decided)
        return await self._notices.approval_card(decided, notice=notice, may_act=False)

    async def _carry_out(
        self, decided: StoredLifecycleRequest, account: ServiceAccount, approver: Person
    ) -> str:
        requester = Person(aad_object_id=decided.requested_by_aad_id, display_name=decided.requested_by_name)
        if account.state != AccountState.ACTIVE.value:
            return "The account is no longer active; nothing was changed."
        match decided.action:
            case LifecycleAction.EXTEND.value:
                assert decided.new_end_date is not None
                if not await self._lifecycle.move_end_date(
                    account.upn, expected=account.end_date, new=decided.new_end_date
                ):
                    return "The end date changed meanwhile; nothing was changed."
                await self._after_extension(
                    account, requester, account.end_date, decided.new_end_date, approved_by=approver
                )
                return f"Extended: access now ends on {decided.new_end_date.isoformat()}."
            case LifecycleAction.OFFBOARD.value:
                await self._enqueue_offboard(account, requester)
                return "Offboarding started."
            case _:
                await self._enqueue_reset(account, requester)
                return "A new temporary password is being set for the person who asked."

    # ------------------------------------------------------------------ helpers

    async def _after_extension(
        self, account: ServiceAccount, by: Person, old: date, new: date, *, approved_by: Person | None
    ) -> None:
        await self._jobs.enqueue(JOB_STAMP_LEAVE_DATE, stamp_payload(account.upn))
        self._on_enqueued()
        await self._audit.append(
            AuditAction.ACCOUNT_EXTENDED,
            actor_aad_id=by.aad_object_id,
            actor_name=by.display_name,
            request_id=format_request_id(account.request_number),
            target=account.upn,
            detail=audit_detail(
                from_end_date=old,
                to_end_date=new,
                approved_by=approved_by.display_name if approved_by else None,
            ),
        )

    async def _enqueue_offboard(self, account: ServiceAccount, by: Person) -> None:
        await self._jobs.enqueue(
            JOB_OFFBOARD,
            offboard_payload(account.upn, reason="manual", by=by),
            dedupe_key=f"{JOB_OFFBOARD}:{account.upn}",
        )
        self._on_enqueued()

    async def _enqueue_reset(self, account: ServiceAccount, by: Person) -> None:
        key = secrets.token_hex(8)
        await self._jobs.enqueue(
            JOB_RESET_PASSWORD,
            reset_payload(account.upn, key=key, by=by),
            dedupe_key=f"{JOB_RESET_PASSWORD}:{account.upn}",
        )
        self._on_enqueued()
        await self._audit.append(
            AuditAction.CREDENTIALS_RESET_REQUESTED,
            actor_aad_id=by.aad_object_id,
            actor_name=by.display_name,
            request_id=format_request_id(account.request_number),
            target=account.upn,
        )

    async def _account_for(self, clicker: Clicker, upn: str) -> tuple[ServiceAccount | None, CardContent]:
        """The account, if the clicker may act on it; else the card that says why not."""
        cleaned = upn.strip()
        if clicker.aad_object_id is None:
            return None, lifecycle_notice_card("Not allowed", "I could not tell who you are.")
        if not 3 <= len(cleaned) <= _MAX_UPN or "@" not in cleaned:
            return None, lifecycle_notice_card(
                "Not an account name", f"“{cleaned[:_MAX_UPN]}” is not an account name."
            )
        account = await self._accounts.get(cleaned)
        is_sponsor = account is not None and account.sponsor_aad_id.lower() == clicker.aad_object_id.lower()
        is_admin = await self._roles.has_role(clicker.aad_object_id, Role.ADMINISTRATOR)
        # "Not found" and "not yours" read the same: the card must not reveal which accounts exist.
        if account is None or not may(is_sponsor=is_sponsor, is_administrator=is_admin):
            if account is not None:
                await self._refused(
                    clicker, format_request_id(account.request_number), "not sponsor or admin"
                )
            return None, lifecycle_notice_card(
                "Not found",
                f"I know no service account “{cleaned}” that you sponsor. "
                "Bot administrators can act on every account.",
            )
        return account, {}

    def _card(self, account: ServiceAccount, notice: str, *, may_act: bool = True) -> CardContent:
        return account_card(
            _account_view(account, self._policy, may_act=may_act and account.state == "active", notice=notice)
        )

    async def _refused(self, clicker: Clicker, request_id: str, reason: str) -> None:
        log.info("refused a lifecycle click: %s", reason)
        await self._audit.append(
            AuditAction.ACCESS_REFUSED,
            actor_aad_id=clicker.aad_object_id,
            actor_name=clicker.name,
            request_id=request_id,
            detail={"reason": reason},
        )


def _person(clicker: Clicker) -> Person:
    person = clicker.person()
    assert person is not None  # _account_for refused callers without an id
    return person


def _account_view(
    account: ServiceAccount,
    policy: LifecyclePolicy,
    *,
    may_act: bool,
    days_left: int | None = None,
    notice: str | None = None,
) -> AccountLifecycleView:
    active = may_act and account.state == AccountState.ACTIVE.value
    return AccountLifecycleView(
        upn=account.upn,
        contractor_name=account.contractor_name,
        vendor=account.vendor,
        sponsor=account.sponsor_name,
        end_date=account.end_date,
        state=account.state,
        licenses=account.license_part_numbers,
        days_left=days_left,
        extension_choices=policy.extension_choices,
        may_extend=active,
        may_offboard=active,
        may_reset_password=active,
        notice=notice,
    )
