"""Moving an existing service account to another information-barrier segment: the chat side (issue 5, item 5).

``segment <upn> [segment name]`` shows the account's sponsor (or a bot administrator) a form to pick the new
segment; **Ask for approval** stores a pending :class:`~storage.segment_changes.SegmentChange` and posts its
card to the approvals channel. An approver (never the person who proposed it) approves or rejects there; the
decision is a compare-and-set on the change's version, so of two clicks exactly one wins. Approval only
enqueues the ``segment_change`` job (:class:`~provisioning.segment_change.SegmentChangeRunner`): Graph work
never runs inside a Teams request. When the run ends, :meth:`SegmentChangeDesk.change_changed` redraws the
channel card in place; an applied change says that policy application must be started again.

Who may do what (checked on every command and click, from Entra groups, never from the card)::

    action                     sponsor   bot administrator   approver
    see the form / propose     yes       yes                 no (unless sponsor or administrator)
    approve / reject           no        no                  yes, except changes they proposed
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Final, Protocol

from bot.approvals import Clicker
from bot.roles import Role, RoleDirectory
from cards.actions import (
    SegmentChangeApprovePayload,
    SegmentChangeProposePayload,
    SegmentChangeRejectPayload,
    SegmentChangeRetryPayload,
)
from cards.barriers import segment_change_card, segment_change_form_card
from cards.lifecycle import lifecycle_notice_card
from cards.render import CardContent
from cards.views import ActorAt, SegmentChangeFormView, SegmentChangeView, SegmentOption
from onboarding.audit import AuditAction
from onboarding.errors import SegmentNotPlaceable
from onboarding.licensing import friendly_product_name
from onboarding.lifecycle import may
from onboarding.segments import (
    AttributePlacement,
    Placement,
    Segment,
    SegmentCatalog,
    SegmentKind,
    is_usable_for_onboarding,
    placement_for,
    validate_catalog,
)
from provisioning.segment_change import JOB_SEGMENT_CHANGE, SegmentChangeFailed, attribute_changes
from storage.accounts import AccountState, ServiceAccount, ServiceAccounts
from storage.errors import ConcurrencyError
from storage.jobs import Job
from storage.repositories import AuditLog, JobQueue
from storage.segment_changes import (
    ChangeAlreadyOpen,
    ChangeDecision,
    ChangeStatus,
    SegmentChange,
    SegmentChanges,
    change_number,
)

__all__ = ["JOB_SEGMENT_CHANGE_POST_CARD", "ChannelCards", "SegmentChangeDesk", "segment_change_payload"]

log = logging.getLogger(__name__)

#: Posts a change's card to the approvals channel when the click could not (no channel bound yet, a
#: Bot Connector error): retried by the queue until an administrator binds the channel.
JOB_SEGMENT_CHANGE_POST_CARD: Final = "segment_change_post_card"
_MAX_UPN: Final = 113
# Teams' clients turn a typed ' into a typographic one; catalog names use the plain one.
_TYPOGRAPHIC_QUOTES: Final = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'"})


class ChannelCards(Protocol):
    """What the desk needs of :class:`~bot.notifier.TeamsNotifier`."""

    async def post_to_approvals_channel(self, card: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """Post into the approvals channel: (activity id, channel reference), or None when unbound."""
        ...

    async def update_posted_card(
        self, reference: dict[str, Any], activity_id: str, card: dict[str, Any]
    ) -> None:
        """Replace the card of a message the bot posted."""
        ...

    async def send_to_user(self, aad_object_id: str, cards: list[dict[str, Any]]) -> bool:
        """Send cards to a user's 1:1 chat; False when they never talked to the bot."""
        ...


def segment_change_payload(number: int) -> str:
    """The job payload of change ``number`` (the runner's and the card poster's)."""
    return json.dumps({"number": number})


class _NoChannelYet(Exception):
    """No approvals channel is bound yet: retrying later can succeed."""

    retryable = True


class SegmentChangeDesk:
    """The ``segment`` command, the form's **Ask for approval**, and the approval card's buttons."""

    def __init__(
        self,
        *,
        changes: SegmentChanges,
        accounts: ServiceAccounts,
        jobs: JobQueue,
        audit: AuditLog,
        roles: RoleDirectory,
        notifier: ChannelCards,
        catalog: SegmentCatalog | None,
        clock: Callable[[], datetime],
        on_enqueued: Callable[[], None] = lambda: None,
    ) -> None:
        """``catalog`` is the one the bot started with (validated once here); ``None`` when there is none."""
        self._changes = changes
        self._accounts = accounts
        self._jobs = jobs
        self._audit = audit
        self._roles = roles
        self._notifier = notifier
        self._catalog = catalog
        self._clock = clock
        self._on_enqueued = on_enqueued
        # Like onboarding: never place an account from a catalog that breaks information barriers' rules.
        self._catalog_usable = catalog is not None and is_usable_for_onboarding(
            catalog, validate_catalog(catalog)
        )

    def job_handlers(self) -> dict[str, Callable[[Job], Awaitable[None]]]:
        """For the worker: ``segment_change_post_card`` (a card the click could not post)."""
        return {JOB_SEGMENT_CHANGE_POST_CARD: self._post_card_job}

    # ------------------------------------------------------------------ command and form

    async def form(self, caller: Clicker, upn: str) -> CardContent:
        """The form to pick the account's new segment (its sponsor or a bot administrator only)."""
        account, refusal = await self._account_for(caller, upn)
        if account is None:
            return refusal
        return segment_change_form_card(await self._form_view(account))

    async def command(self, caller: Clicker, upn: str, segment: str | None = None) -> CardContent:
        """``segment <upn> [name]``: without a name, the form; with one, as if picked on the form."""
        if segment is None or not segment.strip():
            return await self.form(caller, upn)
        # Typed text is not a validated payload: the same checks as a click, without the wire model.
        return await self._propose(caller, upn, segment.strip()[:64])

    async def propose(self, clicker: Clicker, payload: SegmentChangeProposePayload) -> CardContent:
        """Store a pending change to the picked segment and post its card for the approvers."""
        return await self._propose(clicker, payload.upn, payload.segment or "")

    async def _propose(self, clicker: Clicker, upn: str, segment: str) -> CardContent:
        account, refusal = await self._account_for(clicker, upn)
        if account is None:
            return refusal
        assert clicker.aad_object_id is not None  # _account_for refuses callers without an id
        view = await self._form_view(account)
        if view.notice is not None:
            return segment_change_form_card(view)
        target = self._vendor_segment(segment.translate(_TYPOGRAPHIC_QUOTES))
        if target is None:
            shown = segment.strip()
            notice = f"“{shown}” is not a segment this account can move to." if shown else "Pick a segment."
            return segment_change_form_card(_with_notice(view, notice))
        problem = self._move_problem(account, target)
        if problem is not None:
            return segment_change_form_card(_with_notice(view, problem))
        try:
            change = await self._changes.propose(
                upn=account.upn,
                user_id=account.user_id,
                from_segment=account.segment,
                to_segment=target.name,
                proposed_by_aad_id=clicker.aad_object_id,
                proposed_by_name=clicker.name[:256] or "someone",
            )
        except ChangeAlreadyOpen as open_one:
            return segment_change_form_card(
                _with_notice(view, f"Segment change SEG-{open_one.number} for this account is still open.")
            )
        await self._audit.append(
            AuditAction.SEGMENT_CHANGE_REQUESTED,
            actor_aad_id=clicker.aad_object_id,
            actor_name=clicker.name,
            target=account.upn,
            detail={"change": change.change_id, "from": change.from_segment, "to": change.to_segment},
        )
        posted = await self._post_card(change)
        where = (
            "in the approvals channel" if posted else "once a bot administrator binds an approvals channel"
        )
        return self.card(change, notice=f"An approver must agree first: I asked {where}.", may_act=False)

    # ------------------------------------------------------------------ decisions

    async def approve(self, clicker: Clicker, payload: SegmentChangeApprovePayload) -> CardContent:
        """An approver (not the proposer) approves: the change is enqueued as a ``segment_change`` job."""
        return await self._decide(clicker, payload.change_id, payload.card_version, True, payload.comment)

    async def reject(self, clicker: Clicker, payload: SegmentChangeRejectPayload) -> CardContent:
        """An approver (not the proposer) rejects, saying why: nothing changes in the directory."""
        return await self._decide(clicker, payload.change_id, payload.card_version, False, payload.comment)

    async def _decide(
        self, clicker: Clicker, change_id: str, version: int, approve: bool, comment: str | None
    ) -> CardContent:
        number = change_number(change_id)
        change = await self._changes.get(number) if number is not None else None
        if change is None:
            return lifecycle_notice_card("Not found", "There is no such segment change.")
        person = clicker.person()
        if person is None or not await self._roles.has_role(clicker.aad_object_id, Role.APPROVER):
            await self._refused(clicker, change, "not an approver")
            return self.card(change, notice="Only members of the approvers group can decide.", may_act=False)
        if person.aad_object_id.lower() == change.proposed_by_aad_id.lower():
            await self._refused(clicker, change, "self-approval")
            return self.card(
                change, notice="You proposed this change, so another approver must decide it.", may_act=False
            )
        if change.status is not ChangeStatus.PENDING or version != change.version:
            return self.card(change, notice=_already_notice(change), may_act=False)
        text = (comment or "").strip()
        if not approve and not text:
            return self.card(change, notice="Say why in the comment box before rejecting.")
        if approve and self._placement(change.to_segment) is None:
            # The catalog changed since the proposal (a restart with another file): nothing to run against.
            return self.card(
                change, notice=f"“{change.to_segment}” is no longer a usable vendor segment.", may_act=False
            )
        decision = ChangeDecision(person.aad_object_id, person.display_name, self._clock(), text)
        try:
            decided = await self._changes.transition(
                change.number,
                expected_version=version,
                status=ChangeStatus.APPROVED if approve else ChangeStatus.REJECTED,
                decision=decision,
            )
        except ConcurrencyError:
            current = await self._changes.get(change.number) or change
            return self.card(current, notice=_already_notice(current), may_act=False)
        await self._audit.append(
            AuditAction.SEGMENT_CHANGE_APPROVED if approve else AuditAction.SEGMENT_CHANGE_REJECTED,
            actor_aad_id=person.aad_object_id,
            actor_name=person.display_name,
            target=decided.upn,
            detail={"change": decided.change_id, "commentGiven": bool(text)},
        )
        if approve:
            await self._jobs.enqueue(
                JOB_SEGMENT_CHANGE,
                segment_change_payload(decided.number),
                dedupe_key=f"segment-change:{decided.number}",
            )
            self._on_enqueued()
        await self.change_changed(decided.number)
        return self.card(decided, may_act=False)

    async def retry(self, clicker: Clicker, payload: SegmentChangeRetryPayload) -> CardContent:
        """An approver runs a failed change again (after fixing its cause, e.g. buying IB seats): the run
        starts at the step it stopped at. A failed change stands for its account until it is applied."""
        number = change_number(payload.change_id)
        change = await self._changes.get(number) if number is not None else None
        if change is None:
            return lifecycle_notice_card("Not found", "There is no such segment change.")
        person = clicker.person()
        if person is None or not await self._roles.has_role(clicker.aad_object_id, Role.APPROVER):
            await self._refused(clicker, change, "retry by a non-approver")
            return self.card(change, notice="Only approvers can retry a segment change.", may_act=False)
        if change.status is not ChangeStatus.FAILED or payload.card_version != change.version:
            # A stale card of a change that failed again: the fresh card, with its own Retry.
            stale = change.status is ChangeStatus.FAILED
            return self.card(change, notice=_no_retry_notice(change), may_act=stale)
        try:
            retried = await self._changes.transition(
                change.number, expected_version=change.version, status=ChangeStatus.APPROVED
            )
        except ConcurrencyError:
            current = await self._changes.get(change.number) or change
            return self.card(
                current, notice=_no_retry_notice(current), may_act=current.status is ChangeStatus.FAILED
            )
        await self._audit.append(
            AuditAction.SEGMENT_CHANGE_RETRIED,
            actor_aad_id=person.aad_object_id,
            actor_name=person.display_name,
            target=retried.upn,
            detail={"change": retried.change_id, "stepsDone": list(retried.steps_done)},
        )
        await self._jobs.enqueue(
            JOB_SEGMENT_CHANGE,
            segment_change_payload(retried.number),
            dedupe_key=f"segment-change:{retried.number}",
        )
        self._on_enqueued()
        await self.change_changed(retried.number)
        return self.card(retried, may_act=False)

    # ------------------------------------------------------------------ the channel card

    async def change_changed(self, number: int) -> None:
        """Redraw the change's channel card for everyone; tell the proposer when it is applied, failed or
        rejected. The runner's ``on_changed``: never raises (a card that cannot be updated must not fail
        the run)."""
        change = await self._changes.get(number)
        if change is None:
            return
        try:
            if change.card_activity_id and change.card_conversation_json:
                await self._notifier.update_posted_card(
                    json.loads(change.card_conversation_json),
                    change.card_activity_id,
                    # Approvers act on the channel card: decide a pending change, retry a failed one.
                    self.card(change, may_act=change.status in (ChangeStatus.PENDING, ChangeStatus.FAILED)),
                )
            if change.status in (ChangeStatus.APPLIED, ChangeStatus.FAILED, ChangeStatus.REJECTED):
                await self._notifier.send_to_user(
                    change.proposed_by_aad_id, [self.card(change, may_act=False)]
                )
        except Exception:
            log.exception("could not update a segment change card", extra={"change": change.change_id})

    def card(self, change: SegmentChange, *, notice: str | None = None, may_act: bool = True) -> CardContent:
        """The approval card of ``change`` as it stands."""
        placement = self._placement(change.to_segment)
        decision = None
        if change.decision is not None:
            decision = ActorAt(name=change.decision.name, at=change.decision.at)
        if notice is None and change.status is ChangeStatus.APPLIED and change.added_license:
            notice = (
                f"Also assigned {friendly_product_name(change.added_license)}: information barriers need "
                "a license that includes them."
            )
        return segment_change_card(
            SegmentChangeView(
                change_id=change.change_id,
                card_version=change.version,
                upn=change.upn,
                proposed_by=change.proposed_by_name,
                from_segment=change.from_segment,
                to_segment=change.to_segment,
                placement=placement.describe() if placement is not None else "unknown: not in the catalog",
                status=change.status.value,
                decision=decision,
                failure=change.failure,
                notice=notice,
                viewer_may_act=may_act,
            )
        )

    async def _post_card(self, change: SegmentChange) -> bool:
        """Post the change's card now; when that cannot be done, leave it to a job. True when posted."""
        try:
            posted = await self._notifier.post_to_approvals_channel(self.card(change))
        except Exception:
            log.exception("could not post a segment change card", extra={"change": change.change_id})
            posted = None
        if posted is not None:
            await self._changes.set_card(change.number, posted[0], json.dumps(posted[1]))
            return True
        await self._jobs.enqueue(
            JOB_SEGMENT_CHANGE_POST_CARD,
            segment_change_payload(change.number),
            dedupe_key=f"{JOB_SEGMENT_CHANGE_POST_CARD}:{change.number}",
        )
        self._on_enqueued()
        return False

    async def _post_card_job(self, job: Job) -> None:
        change = await self._changes.get(int(json.loads(job.payload_json)["number"]))
        if change is None or change.card_activity_id:
            return
        posted = await self._notifier.post_to_approvals_channel(self.card(change))
        if posted is None:
            raise _NoChannelYet(f"job {job.id}: no approvals channel to post {change.change_id} to")
        await self._changes.set_card(change.number, posted[0], json.dumps(posted[1]))

    # ------------------------------------------------------------------ helpers

    async def _account_for(self, caller: Clicker, upn: str) -> tuple[ServiceAccount | None, CardContent]:
        """The account, if the caller sponsors it or is a bot administrator; else the card saying why not."""
        cleaned = upn.strip()
        if caller.aad_object_id is None:
            return None, lifecycle_notice_card("Not allowed", "I could not tell who you are.")
        if not 3 <= len(cleaned) <= _MAX_UPN or "@" not in cleaned:
            return None, lifecycle_notice_card(
                "Not an account name", f"“{cleaned[:_MAX_UPN]}” is not an account name."
            )
        account = await self._accounts.get(cleaned)
        is_sponsor = account is not None and account.sponsor_aad_id.lower() == caller.aad_object_id.lower()
        is_admin = await self._roles.has_role(caller.aad_object_id, Role.ADMINISTRATOR)
        # "Not found" and "not yours" read the same: the card must not reveal which accounts exist.
        if account is None or not may(is_sponsor=is_sponsor, is_administrator=is_admin):
            if account is not None:
                await self._audit.append(
                    AuditAction.ACCESS_REFUSED,
                    actor_aad_id=caller.aad_object_id,
                    actor_name=caller.name,
                    target=account.upn,
                    detail={"reason": "segment change by someone neither sponsor nor administrator"},
                )
            return None, lifecycle_notice_card(
                "Not found",
                f"I know no service account “{cleaned}” that you sponsor. "
                "Bot administrators can act on every account.",
            )
        return account, {}

    async def _form_view(self, account: ServiceAccount) -> SegmentChangeFormView:
        """The form's view; ``notice`` set (and no options) when no change can be proposed now."""

        def refused(notice: str) -> SegmentChangeFormView:
            return SegmentChangeFormView(account.upn, account.segment, (), notice=notice)

        if account.state != AccountState.ACTIVE.value:
            return refused("This account is not active, so its segment cannot be changed.")
        if self._catalog is None:
            return refused("No segment catalog is configured, so there are no segments to move accounts to.")
        if not self._catalog_usable:
            return refused(
                "The segment catalog has errors (see barriers): nobody can be moved into a segment."
            )
        open_one = await self._changes.open_for(account.upn)
        if open_one is not None:
            state = "failed" if open_one.status is ChangeStatus.FAILED else "still open"
            return refused(f"Segment change {open_one.change_id} for this account is {state}.")
        options = tuple(
            SegmentOption(value=segment.name, title=segment.name, placement=placement.describe())
            for segment in self._catalog.vendor_segments
            if (placement := self._placement(segment.name)) is not None
            and self._move_problem(account, segment) is None
        )
        return SegmentChangeFormView(account.upn, account.segment, options)

    def _vendor_segment(self, name: str) -> Segment | None:
        found = self._catalog.find(name) if self._catalog is not None and name.strip() else None
        return found if found is not None and found.kind is SegmentKind.VENDOR else None

    def _placement(self, name: str) -> Placement | None:
        segment = self._vendor_segment(name) if self._catalog_usable else None
        if segment is None:
            return None
        try:
            return placement_for(segment)
        except SegmentNotPlaceable:
            return None

    def _move_problem(self, account: ServiceAccount, target: Segment) -> str | None:
        """Why the account cannot be moved to ``target`` (checked before anyone is asked to approve)."""
        if account.segment is not None and account.segment.casefold() == target.name.casefold():
            return f"The account is already in “{target.name}”."
        new = self._placement(target.name)
        if new is None:
            return f"The bot cannot place accounts in “{target.name}”."
        old = self._placement(account.segment) if account.segment else None
        try:
            # The run sets the new attribute and clears the old one (unless the new one overwrites it):
            # refuse now what the run could only fail at, e.g. clearing usageLocation.
            if isinstance(new, AttributePlacement):
                attribute_changes(new, new.value)
            if isinstance(old, AttributePlacement) and not (
                isinstance(new, AttributePlacement) and new.graph_property == old.graph_property
            ):
                attribute_changes(old, None)
        except SegmentChangeFailed as err:
            return f"Moving this account to “{target.name}” is not possible: {err}."
        return None

    async def _refused(self, clicker: Clicker, change: SegmentChange, reason: str) -> None:
        log.info("refused a segment change click: %s", reason, extra={"change": change.change_id})
        await self._audit.append(
            AuditAction.ACCESS_REFUSED,
            actor_aad_id=clicker.aad_object_id,
            actor_name=clicker.name,
            target=change.upn,
            detail={"reason": reason, "change": change.change_id},
        )


def _with_notice(view: SegmentChangeFormView, notice: str) -> SegmentChangeFormView:
    return SegmentChangeFormView(view.upn, view.current_segment, view.options, notice=notice)


def _no_retry_notice(change: SegmentChange) -> str:
    if change.status is ChangeStatus.FAILED:
        return "This card was out of date: here is the change as it stands."
    return f"This segment change is {change.status.value}: there is nothing to retry."


def _already_notice(change: SegmentChange) -> str:
    decision = change.decision
    if decision is None:
        return f"This segment change is {change.status.value}."
    verb = "rejected" if change.status is ChangeStatus.REJECTED else "approved"
    return f"Already {verb} by {decision.name} at {decision.at:%Y-%m-%d %H:%M} UTC."
