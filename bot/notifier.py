"""Proactive messages: the approval card in the bound channel, its live updates, and the requester's chat.

Cards are always rendered from what the database holds now, so any instance can update any card and
the result is the same. Updates of one approval card are coalesced: at most one every
``min_interval`` seconds (Teams allows a bot about 7 messages a second and 60 per 30 s per
conversation). Each status change is told to the requester once, across restarts and instances (a
once-mark per request, status and attempt). A 429 from the Bot Connector is waited out (Retry-After)
and the same send is tried again; it was not delivered, so nothing is duplicated.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from botbuilder.core import CardFactory, MessageFactory, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity, ConversationReference
from botframework.connector.models import ErrorResponseException

from bot.barriers_record import BarriersApplications
from bot.views import approval_view, status_view
from cards.approval import approval_card
from cards.handoff import credentials_ready_card, status_card
from cards.views import ActorAt, CredentialsReadyView
from onboarding.requests import RequestStatus
from storage.repositories import APPROVALS_CHANNEL, ConversationRefs, OnceMarks, user_chat_name
from storage.requests import RequestStore, StepLog, StoredRequest

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Statuses the requester hears about in their 1:1 chat.
_TOLD_TO_REQUESTER = frozenset(
    {
        RequestStatus.APPROVED,
        RequestStatus.REJECTED,
        RequestStatus.PROVISIONED,
        RequestStatus.FAILED,
        RequestStatus.CANCELLED,
    }
)
_MAX_SEND_ATTEMPTS = 5


class TeamsNotifier:
    """Posts and updates cards outside of a user's turn (proactive messaging)."""

    def __init__(
        self,
        adapter: CloudAdapter,
        *,
        app_id: str,
        requests: RequestStore,
        steps: StepLog,
        conversations: ConversationRefs,
        marks: OnceMarks,
        instance_id: str,
        reveal_window: timedelta,
        barriers: BarriersApplications | None = None,
        min_interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._adapter = adapter
        self._app_id = app_id
        self._requests = requests
        self._steps = steps
        self._conversations = conversations
        self._marks = marks
        self._instance_id = instance_id
        self._reveal_window = reveal_window
        self._barriers = barriers
        self._min_interval = min_interval
        self._clock = clock
        self._sleep = sleep
        self._dirty: set[int] = set()
        self._flushers: dict[int, asyncio.Task[None]] = {}
        self._last_flush: dict[int, float] = {}

    # ------------------------------------------------------------------ approval card

    async def approvals_channel_name(self) -> str | None:
        stored = await self._conversations.get(APPROVALS_CHANNEL)
        if stored is None:
            return None
        name = stored.reference.get("channel_name")
        return str(name) if name else "the approvals channel"

    async def post_approval_card(self, number: int) -> str | None:
        """Post the request's approval card into the bound channel; the channel's name, or None if unbound."""
        stored_ref = await self._conversations.get(APPROVALS_CHANNEL)
        stored = await self._requests.get(number)
        if stored_ref is None or stored is None:
            return None
        if stored.approval_activity_id:
            # Already posted (a retried submit or a second instance): never post twice.
            return await self.approvals_channel_name()
        reference = ConversationReference().deserialize(stored_ref.reference)
        card = approval_card(approval_view(stored, await self._steps.steps(number)))
        activity_id = await self._send(reference, MessageFactory.attachment(CardFactory.adaptive_card(card)))
        if activity_id:
            await self._requests.set_approval_card(number, activity_id, stored_ref.reference)
        return await self.approvals_channel_name()

    async def request_changed(self, number: int) -> None:
        """Something about the request changed: refresh its card (coalesced) and tell the requester."""
        self._dirty.add(number)
        task = self._flushers.get(number)
        if task is None or task.done():
            self._flushers[number] = asyncio.create_task(
                self._flush_when_due(number), name=f"notify-{number}"
            )

    async def flush(self) -> None:
        """Wait for every scheduled update (tests, shutdown)."""
        while self._flushers:
            tasks = [t for t in self._flushers.values() if not t.done()]
            if not tasks:
                break
            await asyncio.gather(*tasks, return_exceptions=True)
        self._flushers = {n: t for n, t in self._flushers.items() if not t.done()}

    async def close(self) -> None:
        for task in self._flushers.values():
            task.cancel()
        await asyncio.gather(*self._flushers.values(), return_exceptions=True)
        self._flushers.clear()

    async def _flush_when_due(self, number: int) -> None:
        try:
            while number in self._dirty:
                wait = self._last_flush.get(number, float("-inf")) + self._min_interval - self._clock()
                if wait > 0:
                    await self._sleep(wait)
                self._dirty.discard(number)
                self._last_flush[number] = self._clock()
                await self._refresh(number)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("could not update the cards of a request", extra={"request_number": number})

    async def _refresh(self, number: int) -> None:
        stored = await self._requests.get(number)
        if stored is None:
            return
        steps = await self._steps.steps(number)
        if stored.approval_activity_id and stored.approval_conversation:
            reference = ConversationReference().deserialize(stored.approval_conversation)
            card = approval_card(approval_view(stored, steps, barriers_applied=await self._applied(stored)))
            update = MessageFactory.attachment(CardFactory.adaptive_card(card))
            update.id = stored.approval_activity_id
            await self._update(reference, update)
        await self._tell_requester(stored)

    async def _applied(self, stored: StoredRequest) -> ActorAt | None:
        if self._barriers is None or not stored.plan.segment:
            return None
        return await self._barriers.recorded(stored.request.request_id)

    # ------------------------------------------------------------------ requester

    async def _tell_requester(self, stored: StoredRequest) -> None:
        request = stored.request
        if request.status not in _TOLD_TO_REQUESTER:
            return
        key = f"notify:{request.request_id}:{request.status.value}:{request.attempts}"
        if not await self._marks.claim(key, owner=self._instance_id):
            return
        cards = [status_card(status_view(stored, approvals_channel=None))]
        if request.status is RequestStatus.PROVISIONED and request.provisioned_at is not None:
            cards.append(
                credentials_ready_card(
                    CredentialsReadyView(
                        request_id=request.request_id,
                        upn=stored.plan.upn,
                        display_name=stored.plan.display_name,
                        contractor_name=f"{request.contractor.first_name} {request.contractor.last_name}",
                        reveal_until=request.provisioned_at + self._reveal_window,
                    )
                )
            )
        try:
            await self.send_to_user(request.requester.aad_object_id, cards)
        except Exception:
            # Let a later change (or a restart) try again rather than lose the message.
            await self._marks.release(key)
            raise

    async def send_to_user(self, aad_object_id: str, cards: list[dict[str, Any]]) -> bool:
        """Send cards to a user's 1:1 chat with the bot; False when they never talked to the bot."""
        stored_ref = await self._conversations.get(user_chat_name(aad_object_id))
        if stored_ref is None:
            log.warning("no 1:1 conversation with the requester yet; status not delivered")
            return False
        reference = ConversationReference().deserialize(stored_ref.reference)
        for card in cards:
            await self._send(reference, MessageFactory.attachment(CardFactory.adaptive_card(card)))
        return True

    # ------------------------------------------------------------------ Bot Connector calls

    async def _send(self, reference: ConversationReference, activity: Activity) -> str | None:
        result: list[str | None] = []

        async def send(turn_context: TurnContext) -> None:
            response = await _waiting_out_throttling(
                lambda: turn_context.send_activity(activity), self._sleep
            )
            result.append(response.id if response is not None else None)

        await self._adapter.continue_conversation(reference, send, self._app_id)
        return result[0] if result else None

    async def _update(self, reference: ConversationReference, activity: Activity) -> None:
        async def update(turn_context: TurnContext) -> None:
            await _waiting_out_throttling(lambda: turn_context.update_activity(activity), self._sleep)

        await self._adapter.continue_conversation(reference, update, self._app_id)

    # ------------------------------------------------------------------ any card (bulk batches)

    async def post_to_approvals_channel(self, card: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """Post ``card`` into the bound approvals channel: (activity id, the channel's reference), or None
        when no channel is bound or the post got no id."""
        stored_ref = await self._conversations.get(APPROVALS_CHANNEL)
        if stored_ref is None:
            return None
        reference = ConversationReference().deserialize(stored_ref.reference)
        activity_id = await self._send(reference, MessageFactory.attachment(CardFactory.adaptive_card(card)))
        return (activity_id, stored_ref.reference) if activity_id else None

    async def update_posted_card(
        self, reference: dict[str, Any], activity_id: str, card: dict[str, Any]
    ) -> None:
        """Replace the card of a message the bot posted (Bot Connector 429s are waited out)."""
        update = MessageFactory.attachment(CardFactory.adaptive_card(card))
        update.id = activity_id
        await self._update(ConversationReference().deserialize(reference), update)


async def _waiting_out_throttling(
    call: Callable[[], Awaitable[T]], sleep: Callable[[float], Awaitable[None]]
) -> T:
    """Call the Bot Connector; on 429 wait ``Retry-After`` (bounded) and call again."""
    for attempt in range(1, _MAX_SEND_ATTEMPTS + 1):
        try:
            return await call()
        except ErrorResponseException as err:
            response = getattr(err, "response", None)
            status = getattr(response, "status_code", None)
            if status != 429 or attempt == _MAX_SEND_ATTEMPTS:
                raise
            await sleep(_retry_after(response, attempt))
    raise AssertionError("unreachable")


def _retry_after(response: Any, attempt: int) -> float:
    try:
        seconds = float(str(response.headers.get("Retry-After", "")))
    except (TypeError, ValueError, AttributeError):
        return min(30.0, 0.5 * 2.0**attempt)
    return min(60.0, max(0.0, seconds))
