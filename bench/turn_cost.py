"""Issue 8, item 1: server time per activity, our bot against a stock botbuilder echo bot.

Each bot runs in its own process (:mod:`bench.serve`), one after the other, against the same outside
world (:mod:`bench.world`: recording connector and sandbox tenant) and the same load generator
(:mod:`bench.loadgen`): ``conversations`` conversations at once over loopback, each ``steps`` activities
one after the other. The bot times each activity in-process (:mod:`bench.instrument`); only activities
tagged "measured" count, after a warm-up round in other conversations.

(a) is our bot through ``create_app`` in sandbox mode with SQLite. Its activity is ``wizard.next`` on the
Contractor step of a started onboarding wizard when the bot offers the wizard (``onboard`` answers with a
wizard card), and the ``help`` command otherwise; the results name the one measured. (b) is
:mod:`bench.stock_echo` answering a message. Target: median(a) / median(b) <= 0.5.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.loadgen import (
    MEASURED,
    WARMUP,
    BotClient,
    LoadResult,
    MessageTurn,
    Scenario,
    ScenarioFailed,
    Target,
    WizardStepTurn,
    client_session,
    run_conversations,
)
from bench.processes import Child, start_child
from bench.report import Figure, info, judged
from bench.stats import Summary

TARGET_RATIO = 0.5


@dataclass(frozen=True)
class TurnCostConfig:
    """Load shape.

    ``conversations`` at once, ``steps`` measured activities each, split over ``rounds`` that alternate
    between the two bots (so a change in background load hits both alike); ``warmup_steps`` per
    conversation before measuring; then ``unloaded_steps`` in one conversation alone (the turn's own
    latency with nothing queued in front of it).
    """

    conversations: int = 50
    steps: int = 20
    rounds: int = 2
    warmup_steps: int = 2
    unloaded_steps: int = 100


@dataclass
class Phase:
    """What one measured phase produced."""

    samples_ns: list[int]
    cpu_seconds: float
    activities: int
    load: LoadResult


@dataclass
class BotRun:
    """One bot's figures, pooled over its loaded phases, and its unloaded phase."""

    bot: str
    scenario: str
    loaded: list[Phase]
    unloaded: Phase | None

    @property
    def server(self) -> Summary:
        return Summary.of_ns([s for phase in self.loaded for s in phase.samples_ns])

    @property
    def unloaded_server(self) -> Summary | None:
        return Summary.of_ns(self.unloaded.samples_ns) if self.unloaded else None

    @property
    def cpu_ms_per_activity(self) -> float:
        activities = sum(p.activities for p in self.loaded)
        return 1000 * sum(p.cpu_seconds for p in self.loaded) / activities

    @property
    def failures(self) -> int:
        return sum(p.load.failures for p in self.loaded) + (
            self.unloaded.load.failures if self.unloaded else 0
        )

    @property
    def measured_per_second(self) -> float:
        steps = sum(p.load.steps for p in self.loaded)
        seconds = sum(p.load.wall_seconds for p in self.loaded)
        return steps / seconds if seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        unloaded = self.unloaded_server
        examples = [e for p in self.loaded for e in p.load.failure_examples][:5]
        return {
            "bot": self.bot,
            "scenario": self.scenario,
            "serverTime": self.server.to_json(),
            "serverTimeUnloaded": unloaded.to_json() if unloaded else None,
            "cpuMsPerActivity": round(self.cpu_ms_per_activity, 3),
            "measuredPerSecond": round(self.measured_per_second, 1),
            "phases": [
                {
                    "measured": len(p.samples_ns),
                    "activitiesInWindow": p.activities,
                    "cpuSeconds": round(p.cpu_seconds, 3),
                    "wallSeconds": round(p.load.wall_seconds, 3),
                    "medianMs": Summary.of_ns(p.samples_ns).median_ms if p.samples_ns else None,
                }
                for p in self.loaded
            ],
            "failures": self.failures,
            "failureExamples": examples,
        }


@dataclass
class TurnCostResult:
    """Both runs and their ratios."""

    ours: BotRun
    stock: BotRun
    config: TurnCostConfig

    @property
    def median_ratio(self) -> float:
        return self.ours.server.median_ms / self.stock.server.median_ms

    @property
    def p99_ratio(self) -> float:
        return self.ours.server.p99_ms / self.stock.server.p99_ms

    @property
    def cpu_ratio(self) -> float:
        return self.ours.cpu_ms_per_activity / self.stock.cpu_ms_per_activity

    def figures(self) -> list[Figure]:
        ours, stock = self.ours, self.stock
        ours_server, stock_server = ours.server, stock.server
        failures = ours.failures + stock.failures
        n = self.config.conversations
        figures = [
            info(
                "turn.ours.median_ms",
                f"Turn (a) ours [{ours.scenario}], {n} conv.: median",
                ours_server.median_ms,
                "ms",
            ),
            info("turn.ours.p99_ms", f"Turn (a) ours, {n} conv.: p99", ours_server.p99_ms, "ms"),
            info(
                "turn.stock.median_ms",
                f"Turn (b) stock echo, {n} conv.: median",
                stock_server.median_ms,
                "ms",
            ),
            info("turn.stock.p99_ms", f"Turn (b) stock echo, {n} conv.: p99", stock_server.p99_ms, "ms"),
            judged(
                "turn.ratio.median",
                "Turn ratio (a)/(b), median",
                self.median_ratio,
                "x",
                target=f"<= {TARGET_RATIO}",
                met=self.median_ratio <= TARGET_RATIO and failures == 0,
            ),
            judged(
                "turn.ratio.p99",
                "Turn ratio (a)/(b), p99",
                self.p99_ratio,
                "x",
                target=f"<= {TARGET_RATIO}",
                met=self.p99_ratio <= TARGET_RATIO and failures == 0,
            ),
            info("turn.ours.cpu_ms", "Turn (a) ours: CPU per activity", ours.cpu_ms_per_activity, "ms"),
            info("turn.stock.cpu_ms", "Turn (b) stock: CPU per activity", stock.cpu_ms_per_activity, "ms"),
            info("turn.ratio.cpu", "Turn ratio (a)/(b), CPU per activity", self.cpu_ratio, "x"),
        ]
        ours_alone, stock_alone = ours.unloaded_server, stock.unloaded_server
        if ours_alone and stock_alone:
            figures += [
                info(
                    "turn.ours.unloaded_median_ms", "Turn (a) ours, alone: median", ours_alone.median_ms, "ms"
                ),
                info(
                    "turn.stock.unloaded_median_ms",
                    "Turn (b) stock, alone: median",
                    stock_alone.median_ms,
                    "ms",
                ),
            ]
        figures.append(info("turn.failures", "Turn: failed conversations", failures, ""))
        return figures

    def to_json(self) -> dict[str, Any]:
        return {
            "conversations": self.config.conversations,
            "stepsPerConversation": self.config.steps,
            "rounds": self.config.rounds,
            "warmupStepsPerConversation": self.config.warmup_steps,
            "unloadedSteps": self.config.unloaded_steps,
            "ours": self.ours.to_json(),
            "stock": self.stock.to_json(),
            "medianRatio": round(self.median_ratio, 3),
            "p99Ratio": round(self.p99_ratio, 3),
            "cpuRatio": round(self.cpu_ratio, 3),
        }


async def choose_scenario(client: BotClient) -> Scenario:
    """The wizard step if the bot offers the onboarding wizard; the ``help`` command otherwise."""
    wizard = WizardStepTurn()
    try:
        await wizard.prepare(client, "a:bench-probe")
    except ScenarioFailed:
        return MessageTurn("help", name="help")
    return wizard


class BotUnderTest:
    """A bot process, the client that loads it, and the phases measured so far."""

    def __init__(self, name: str, child: Child, client: BotClient, scenario: Scenario | None) -> None:
        self.name = name
        self.child = child
        self.client = client
        self.scenario = scenario
        self.loaded: list[Phase] = []
        self.unloaded: Phase | None = None

    @property
    def origin(self) -> str:
        return self.client.target.bot_origin

    async def warm_up(self, config: TurnCostConfig) -> None:
        """Pick the scenario (if not given) and run it unmeasured in other conversations."""
        if self.scenario is None:
            self.scenario = await choose_scenario(self.client)
        warm = await run_conversations(
            self.client,
            self.scenario,
            count=config.conversations,
            steps=config.warmup_steps,
            concurrency=config.conversations,
            prefix=f"{self.name}-warm",
            tag=WARMUP,
        )
        if warm.failures:
            raise ScenarioFailed(f"{self.name}: warm-up failed: {warm.failure_examples}")

    async def phase(self, *, conversations: int, steps: int, prefix: str) -> Phase:
        """Reset the bot's timer, run the load, read the timer back."""
        assert self.scenario is not None
        session = self.client.session
        async with session.post(f"{self.origin}/_bench/reset") as response:
            response.raise_for_status()
        load = await run_conversations(
            self.client,
            self.scenario,
            count=conversations,
            steps=steps,
            concurrency=conversations,
            prefix=f"{self.name}-{prefix}",
            tag=MEASURED,
        )
        async with session.get(f"{self.origin}/_bench/timings") as response:
            response.raise_for_status()
            timings: dict[str, Any] = await response.json()
        samples: dict[str, list[int]] = timings["samples"]
        measured = samples.get(MEASURED, [])
        if not measured:
            raise ScenarioFailed(
                f"{self.name}: no measured activity reached the bot: {load.failure_examples}"
            )
        return Phase(measured, timings["cpuSeconds"], sum(len(v) for v in samples.values()), load)

    def result(self) -> BotRun:
        assert self.scenario is not None
        return BotRun(self.name, self.scenario.name, self.loaded, self.unloaded)


async def run_turn_cost(config: TurnCostConfig, world: Child, log_dir: Path) -> TurnCostResult:
    """Start both bots, warm both up, then alternate measured rounds between them, then one alone each."""
    connector = f"http://127.0.0.1:{world.ready['connector']}"
    graph_url = f"http://127.0.0.1:{world.ready['graph']}/v1.0"
    steps_per_round = max(1, -(-config.steps // config.rounds))
    with tempfile.TemporaryDirectory(prefix="bench-turn-") as data_dir:
        children: list[Child] = []
        try:
            children.append(start_child("bot-stock", ["-m", "bench.serve", "stock"], log_dir))
            children.append(
                start_child(
                    "bot-ours",
                    ["-m", "bench.serve", "ours", "--graph-url", graph_url, "--data-dir", data_dir],
                    log_dir,
                )
            )
            async with client_session(config.conversations) as session:
                stock_child, ours_child = children
                stock = BotUnderTest(
                    "stock",
                    stock_child,
                    BotClient(session, Target(f"http://127.0.0.1:{stock_child.ready['port']}", connector)),
                    MessageTurn("help", name="echo"),
                )
                ours = BotUnderTest(
                    "ours",
                    ours_child,
                    BotClient(session, Target(f"http://127.0.0.1:{ours_child.ready['port']}", connector)),
                    None,
                )
                bots = (stock, ours)
                for bot in bots:
                    await bot.warm_up(config)
                for number in range(config.rounds):
                    for bot in bots:
                        bot.loaded.append(
                            await bot.phase(
                                conversations=config.conversations,
                                steps=steps_per_round,
                                prefix=f"round{number}",
                            )
                        )
                if config.unloaded_steps:
                    for bot in bots:
                        bot.unloaded = await bot.phase(
                            conversations=1, steps=config.unloaded_steps, prefix="alone"
                        )
        finally:
            for child in children:
                child.stop()
    return TurnCostResult(ours=ours.result(), stock=stock.result(), config=config)
