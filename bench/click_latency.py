"""Issue 8, item 2: approve click -> invoke response, while every Graph call takes 2 s.

Set-up, with Graph at full speed: a fresh bot process (:mod:`bench.serve`, sandbox mode, SQLite); Adam
binds the approvals channel; Alice submits ``requests`` onboarding requests through the wizard, each in
its own chat; each approval card is taken from the channel (the recording connector).

Then the sandbox answers every Graph call after ``graph_seconds`` (2 s), and the approvers click
Approve on the cards one after the other, Adam and Paula in turn, each click on the card's own thread,
as Teams sends it. Every approval starts provisioning in the background against that slow Graph while
the next clicks arrive. The figure is the time from sending the click to receiving the invoke response
(the load generator's clock, loopback), p50 and p99; the bot's in-process time is reported alongside.
A click counts as answered when the response is 200 with the updated approval card naming the approver.
Target (issue 8): p99 < 300 ms.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.activities import ADAM, APPROVALS, PAULA
from bench.flows import (
    PendingApproval,
    approval_posted,
    bind_approvals_channel,
    click,
    contractor_inputs,
    submit_request,
)
from bench.loadgen import MEASURED, BotClient, ScenarioFailed, Target, client_session
from bench.processes import Child, start_child
from bench.report import Figure, info, judged
from bench.stats import Summary
from bench.world import SandboxControl

TARGET_P99_MS = 300.0
REMOTE_ASSIST = "MICROSOFT_REMOTE_ASSIST"


@dataclass(frozen=True)
class ClickConfig:
    """How many requests are approved, and how slow Graph is meanwhile."""

    requests: int = 20
    graph_seconds: float = 2.0


@dataclass
class ClickResult:
    """Client-side and in-process times of the approve clicks."""

    config: ClickConfig
    client_ns: list[int] = field(default_factory=list)
    server_ns: list[int] = field(default_factory=list)
    failures: int = 0
    failure_examples: list[str] = field(default_factory=list)
    setup_seconds: float = 0.0

    @property
    def client(self) -> Summary:
        return Summary.of_ns(self.client_ns)

    @property
    def server(self) -> Summary | None:
        return Summary.of_ns(self.server_ns) if self.server_ns else None

    def figures(self) -> list[Figure]:
        client = self.client
        server = self.server
        slow = f"Graph {self.config.graph_seconds:g} s/call"
        return [
            info("click.p50_ms", f"Approve click -> response, p50 ({slow})", client.median_ms, "ms"),
            judged(
                "click.p99_ms",
                f"Approve click -> response, p99 ({slow})",
                client.p99_ms,
                "ms",
                target=f"< {TARGET_P99_MS:g} ms",
                met=client.p99_ms < TARGET_P99_MS and self.failures == 0,
            ),
            info(
                "click.server_p99_ms",
                "Approve click, in-process p99",
                server.p99_ms if server else None,
                "ms",
            ),
            info("click.failures", "Approve clicks not answered with the card", self.failures, ""),
        ]

    def to_json(self) -> dict[str, Any]:
        server = self.server
        return {
            "requests": self.config.requests,
            "graphSecondsPerCall": self.config.graph_seconds,
            "clientTime": self.client.to_json(),
            "serverTime": server.to_json() if server else None,
            "failures": self.failures,
            "failureExamples": self.failure_examples,
            "setupSeconds": round(self.setup_seconds, 2),
        }


async def _pending_requests(client: BotClient, count: int) -> list[PendingApproval]:
    await bind_approvals_channel(client)
    pending: list[PendingApproval] = []
    for number in range(count):
        await submit_request(client, f"a:click-{number}", contractor_inputs(number))
        pending.append(await approval_posted(client, {p.request_id for p in pending}))
    return pending


async def run_click_latency(config: ClickConfig, world: Child, log_dir: Path) -> ClickResult:
    """Submit the requests, slow Graph down, then time each approve click."""
    result = ClickResult(config)
    async with client_session(8) as session:
        control = SandboxControl(session, int(world.ready["graph"]))
        await control.reset()
        # Seats are not what this measures: enough for every request, so provisioning goes on.
        await control.set_seats(REMOTE_ASSIST, config.requests + 25)
        with tempfile.TemporaryDirectory(prefix="bench-click-") as data_dir:
            graph_url = f"http://127.0.0.1:{world.ready['graph']}/v1.0"
            child = start_child(
                "bot-click",
                ["-m", "bench.serve", "ours", "--graph-url", graph_url, "--data-dir", data_dir],
                log_dir,
            )
            try:
                origin = f"http://127.0.0.1:{child.ready['port']}"
                client = BotClient(session, Target(origin, f"http://127.0.0.1:{world.ready['connector']}"))
                started = time.perf_counter()
                pending = await _pending_requests(client, config.requests)
                result.setup_seconds = time.perf_counter() - started
                await control.set_latency(every_call=config.graph_seconds)
                async with session.post(f"{origin}/_bench/reset") as response:
                    response.raise_for_status()
                for number, approval in enumerate(pending):
                    approver = (ADAM, PAULA)[number % 2]
                    thread = f"{APPROVALS.id};messageid={approval.message_id}"
                    clicked = time.perf_counter_ns()
                    try:
                        card = await click(
                            client,
                            thread,
                            approval.card,
                            "approval.approve",
                            sender=approver,
                            channel=APPROVALS,
                            reply_to_id=approval.message_id,
                            tag=MEASURED,
                        )
                    except ScenarioFailed as err:
                        result.failures += 1
                        result.failure_examples.append(f"{approval.request_id}: {err}"[:300])
                        continue
                    finally:
                        result.client_ns.append(time.perf_counter_ns() - clicked)
                    if approver.name not in str(card):
                        result.failures += 1
                        result.failure_examples.append(
                            f"{approval.request_id}: card does not name the approver"
                        )
                async with session.get(f"{origin}/_bench/timings") as response:
                    response.raise_for_status()
                    result.server_ns = (await response.json())["samples"].get(MEASURED, [])
            finally:
                child.stop()
                await control.reset()
    return result
