"""The load generator: many conversations at once over loopback, each a scenario of activities.

One :class:`BotClient` (one aiohttp session, keep-alive) posts activities to the bot under test the way
the Bot Connector service does, tagged with ``X-Bench-Tag`` so the bot's in-process timer
(:mod:`bench.instrument`) can tell measured activities from set-up ones. Replies the bot sends go to the
recording connector (:mod:`bench.world`), where scenarios that need the card the bot posted (to click a
button on it) read it back.

A :class:`Scenario` says what one conversation does: ``prepare`` (not measured, e.g. ``onboard``) and
``step`` (one measured activity, plus any unmeasured activity that brings the conversation back to where
the next step can repeat). :func:`run_conversations` runs ``count`` conversations, ``concurrency`` at a
time, each preparing once and then doing ``steps`` steps one after the other (a closed loop: a
conversation sends its next activity when the bot has answered the previous one, as a person would).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from bench.activities import JsonObject, card_click, card_of_invoke_response, cards_of, execute_data, message
from bench.instrument import TAG_HEADER

MEASURED = "measured"
SETUP = "setup"
WARMUP = "warmup"


class ScenarioFailed(RuntimeError):
    """The bot answered something a scenario did not expect (a status, or a card without its button)."""


@dataclass(frozen=True)
class Target:
    """Where the bot under test listens and where its replies go."""

    bot_origin: str
    connector_origin: str

    @property
    def messages_url(self) -> str:
        return f"{self.bot_origin}/api/messages"

    @property
    def service_url(self) -> str:
        """The ``serviceUrl`` activities carry (trailing slash, as Teams sends it)."""
        return f"{self.connector_origin}/"


class BotClient:
    """Posts activities to the bot and reads back what the connector recorded."""

    def __init__(self, session: aiohttp.ClientSession, target: Target) -> None:
        self.session = session
        self.target = target

    async def post(self, activity: JsonObject, *, tag: str) -> tuple[int, Any]:
        """Send one activity; returns the HTTP status and the JSON body (None when there is none)."""
        async with self.session.post(
            self.target.messages_url, json=activity, headers={TAG_HEADER: tag}
        ) as response:
            body: Any = None
            if response.content_type == "application/json":
                body = await response.json()
            else:
                await response.read()
            return response.status, body

    async def last_sent(self, conversation_id: str) -> JsonObject | None:
        """The last activity the bot sent to ``conversation_id`` (None if it sent nothing)."""
        url = f"{self.target.connector_origin}/_bench/last/{conversation_id}"
        async with self.session.get(url) as response:
            if response.status == 404:
                return None
            response.raise_for_status()
            sent: JsonObject = await response.json()
            return sent


class Scenario(Protocol):
    """What one conversation does; ``prepare`` returns the conversation's state, ``step`` updates it."""

    @property
    def name(self) -> str:
        """What the results call the measured activity."""
        ...

    async def prepare(self, client: BotClient, conversation_id: str) -> Any: ...

    async def step(self, client: BotClient, conversation_id: str, state: Any, *, tag: str) -> Any: ...


@dataclass(frozen=True)
class MessageTurn:
    """Each step is one typed message; the bot's answer is a 201 (a reply goes to the connector)."""

    text: str
    name: str = "message"

    async def prepare(self, client: BotClient, conversation_id: str) -> None:
        return None

    async def step(self, client: BotClient, conversation_id: str, state: None, *, tag: str) -> None:
        activity = message(conversation_id, self.text, service_url=client.target.service_url)
        status, _ = await client.post(activity, tag=tag)
        if status not in (200, 201):
            raise ScenarioFailed(f"message {self.text!r} answered {status}")


#: What the requester types on the wizard's Contractor step (Teams merges input values into ``data``).
CONTRACTOR_INPUTS: Mapping[str, str] = {
    "vendorCompany": "Contoso",
    "firstName": "Bob",
    "lastName": "Builder",
    "contractorEmail": "bob@contoso1.com",
    "usageLocation": "US",
}


@dataclass(frozen=True)
class WizardStepTurn:
    """Each step is ``wizard.next`` on the Contractor step of a started onboarding wizard.

    ``prepare`` types ``onboard`` and takes the wizard card the bot posted. A step clicks Next with valid
    contractor details (measured: validation, dialog, storage, the Access step's card), then clicks Back
    on the card it got (not measured) so that the next step is again Next on the Contractor step.
    """

    inputs: Mapping[str, str] = field(default_factory=lambda: dict(CONTRACTOR_INPUTS))
    name: str = "wizard.next (Contractor step)"

    async def prepare(self, client: BotClient, conversation_id: str) -> JsonObject:
        activity = message(conversation_id, "onboard", service_url=client.target.service_url)
        status, _ = await client.post(activity, tag=SETUP)
        if status not in (200, 201):
            raise ScenarioFailed(f"onboard answered {status}")
        sent = await client.last_sent(conversation_id)
        cards = cards_of(sent or {})
        data = execute_data(cards[0], "wizard.next") if cards else None
        if data is None:
            raise ScenarioFailed("onboard did not post a wizard card with a Next button")
        return data

    async def step(
        self, client: BotClient, conversation_id: str, state: JsonObject, *, tag: str
    ) -> JsonObject:
        service_url = client.target.service_url
        click = card_click(conversation_id, "wizard.next", {**state, **self.inputs}, service_url=service_url)
        status, body = await client.post(click, tag=tag)
        card = card_of_invoke_response(body)
        back = execute_data(card, "wizard.back") if status == 200 and card else None
        if back is None:
            raise ScenarioFailed(f"wizard.next answered {status} without a card that has a Back button")
        status, body = await client.post(
            card_click(conversation_id, "wizard.back", back, service_url=service_url), tag=SETUP
        )
        card = card_of_invoke_response(body)
        following = execute_data(card, "wizard.next") if status == 200 and card else None
        if following is None:
            raise ScenarioFailed(f"wizard.back answered {status} without a card that has a Next button")
        return following


@dataclass
class LoadResult:
    """What the load generator saw (the bot's own timings are read separately)."""

    conversations: int
    steps: int
    wall_seconds: float
    failures: int = 0
    failure_examples: list[str] = field(default_factory=list)

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.wall_seconds if self.wall_seconds > 0 else 0.0


async def run_conversations(
    client: BotClient,
    scenario: Scenario,
    *,
    count: int,
    steps: int,
    concurrency: int,
    prefix: str,
    tag: str = MEASURED,
) -> LoadResult:
    """Run ``count`` conversations (ids ``a:<prefix>-<n>``), ``concurrency`` at a time, ``steps`` each.

    A failed conversation stops there and is counted; the others go on.
    """
    gate = asyncio.Semaphore(concurrency)
    result = LoadResult(conversations=count, steps=0, wall_seconds=0.0)

    async def conversation(number: int) -> None:
        conversation_id = f"a:{prefix}-{number}"
        async with gate:
            try:
                state = await scenario.prepare(client, conversation_id)
                for _ in range(steps):
                    state = await scenario.step(client, conversation_id, state, tag=tag)
                    result.steps += 1
            except (TimeoutError, ScenarioFailed, aiohttp.ClientError) as err:
                result.failures += 1
                if len(result.failure_examples) < 5:
                    result.failure_examples.append(f"{conversation_id}: {type(err).__name__}: {err}")

    started = time.perf_counter()
    await asyncio.gather(*(conversation(n) for n in range(count)))
    result.wall_seconds = time.perf_counter() - started
    return result


def client_session(concurrency: int) -> aiohttp.ClientSession:
    """A keep-alive session sized for ``concurrency`` conversations (plus reads of the connector)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency + 8),
        timeout=aiohttp.ClientTimeout(total=60),
    )
