"""Issue 8, item 5: start-up time and resident memory of the bot process, and whether memory grows.

The bot is started the way it runs in production, ``python app.py`` (sandbox mode, a fresh SQLite file,
Graph at the benchmark's sandbox tenant). Figures:

* start-up: from just before the process is spawned until ``GET /healthz`` first answers 200; the
  application only listens once its start-up is done (database migrations, Graph warm-up), so this is
  the time until it can serve;
* RSS (``VmRSS`` in ``/proc/<pid>/status``) after start-up, then after each of ``repeats`` rounds of
  ``conversations`` new conversations (``concurrency`` at a time), each typing ``onboard``: a wizard is
  started, its state stored and its card posted (``help`` instead while the bot offers no wizard). One
  turn per conversation keeps ten rounds of 1,000 within the benchmark's time budget; the per-
  conversation state a process could leak (dialog state, locks, caches keyed by conversation) is all
  created by that first turn;
* growth: RSS after the last round minus RSS after the first. The first round includes one-off growth
  (caches, lazily imported modules, allocator pools), so growth is judged from there on: "flat" means
  less than :data:`FLAT_MB` over the remaining rounds.

Targets (issue 8): RSS < 250 MB, flat, healthy in < 5 s.
"""

from __future__ import annotations

import asyncio
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.loadgen import (
    BotClient,
    LoadResult,
    MessageTurn,
    Target,
    WizardStepTurn,
    client_session,
    run_conversations,
)
from bench.processes import Child, ChildFailed, start_child
from bench.report import Figure, info, judged
from bench.turn_cost import choose_scenario

TARGET_RSS_MB = 250.0
TARGET_STARTUP_SECONDS = 5.0
#: Growth over the rounds after the first below which memory counts as flat (allocator noise is ~1 MB).
FLAT_MB = 5.0


@dataclass(frozen=True)
class MemoryConfig:
    """Rounds of new conversations between RSS readings."""

    conversations: int = 1000
    repeats: int = 10
    concurrency: int = 50


@dataclass
class MemoryResult:
    """Start-up time and the RSS series."""

    config: MemoryConfig
    scenario: str
    startup_seconds: float
    rss_after_startup_mb: float
    rss_after_round_mb: list[float] = field(default_factory=list)
    rounds: list[LoadResult] = field(default_factory=list)

    @property
    def growth_mb(self) -> float:
        """RSS after the last round minus after the first (0 with a single round)."""
        return self.rss_after_round_mb[-1] - self.rss_after_round_mb[0]

    @property
    def peak_mb(self) -> float:
        return max([self.rss_after_startup_mb, *self.rss_after_round_mb])

    @property
    def failures(self) -> int:
        return sum(r.failures for r in self.rounds)

    def figures(self) -> list[Figure]:
        n = self.config.conversations
        repeats = self.config.repeats
        return [
            judged(
                "startup.seconds",
                "Start-up to /healthz 200 (with Graph warm-up)",
                self.startup_seconds,
                "s",
                target=f"< {TARGET_STARTUP_SECONDS:g} s",
                met=self.startup_seconds < TARGET_STARTUP_SECONDS,
            ),
            judged(
                "memory.rss_startup_mb",
                "RSS after start-up",
                self.rss_after_startup_mb,
                "MB",
                target=f"< {TARGET_RSS_MB:g} MB",
                met=self.rss_after_startup_mb < TARGET_RSS_MB,
            ),
            judged(
                "memory.rss_first_mb",
                f"RSS after {n:,} conversations [{self.scenario}]",
                self.rss_after_round_mb[0],
                "MB",
                target=f"< {TARGET_RSS_MB:g} MB",
                met=self.rss_after_round_mb[0] < TARGET_RSS_MB,
            ),
            judged(
                "memory.rss_last_mb",
                f"RSS after {repeats} x {n:,} conversations",
                self.rss_after_round_mb[-1],
                "MB",
                target=f"< {TARGET_RSS_MB:g} MB",
                met=self.peak_mb < TARGET_RSS_MB,
            ),
            judged(
                "memory.growth_mb",
                f"RSS growth, rounds 2..{repeats}",
                self.growth_mb,
                "MB",
                target=f"flat (< {FLAT_MB:g} MB)",
                met=self.growth_mb < FLAT_MB and self.failures == 0,
            ),
            info("memory.failures", "Memory: failed conversations", self.failures, ""),
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "conversationsPerRound": self.config.conversations,
            "rounds": self.config.repeats,
            "concurrency": self.config.concurrency,
            "scenario": self.scenario,
            "startupSeconds": round(self.startup_seconds, 3),
            "rssAfterStartupMb": round(self.rss_after_startup_mb, 1),
            "rssAfterRoundMb": [round(x, 1) for x in self.rss_after_round_mb],
            "roundSeconds": [round(r.wall_seconds, 2) for r in self.rounds],
            "growthMb": round(self.growth_mb, 1),
            "failures": self.failures,
            "failureExamples": [e for r in self.rounds for e in r.failure_examples][:5],
        }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_healthy(session: aiohttp.ClientSession, child: Child, url: str, *, within: float) -> float:
    """Poll ``url`` every 10 ms until it answers 200; seconds since the child was spawned."""
    deadline = child.started_at + within
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise ChildFailed(f"the bot exited with {child.process.returncode}:\n{child.log_tail()}")
        try:
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response:
                if response.status == 200:
                    return time.monotonic() - child.started_at
        except (TimeoutError, aiohttp.ClientError):
            pass
        await asyncio.sleep(0.01)
    raise ChildFailed(f"the bot was not healthy within {within:.0f} s:\n{child.log_tail()}")


async def run_memory(config: MemoryConfig, world: Child, log_dir: Path) -> MemoryResult:
    """Start ``python app.py``, time it to healthy, then read RSS after each round of conversations."""
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as data_dir:
        env = {
            "BOT_MODE": "sandbox",
            "BOT_HOST": "127.0.0.1",
            "BOT_PORT": str(port),
            "DATA_DIR": data_dir,
            "DATABASE_URL": "",
            "GRAPH_BASE_URL": f"http://127.0.0.1:{world.ready['graph']}/v1.0",
            "LOG_LEVEL": "INFO",
        }
        child = start_child("bot-app", ["app.py"], log_dir, env=env, announces=False)
        try:
            origin = f"http://127.0.0.1:{port}"
            async with client_session(config.concurrency) as session:
                startup = await wait_healthy(session, child, f"{origin}/healthz", within=60)
                result = MemoryResult(config, "", startup, child.rss_mb())
                client = BotClient(session, Target(origin, f"http://127.0.0.1:{world.ready['connector']}"))
                offered = await choose_scenario(client)
                scenario = (
                    MessageTurn("onboard", name="onboard")
                    if isinstance(offered, WizardStepTurn)
                    else MessageTurn("help", name="help")
                )
                result.scenario = scenario.name
                for number in range(config.repeats):
                    load = await run_conversations(
                        client,
                        scenario,
                        count=config.conversations,
                        steps=1,
                        concurrency=config.concurrency,
                        prefix=f"memory-{number}",
                    )
                    result.rounds.append(load)
                    result.rss_after_round_mb.append(child.rss_mb())
        finally:
            child.stop()
    return result
