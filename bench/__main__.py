"""``python -m bench`` (``make bench``): run the benchmarks, print one table, write ``bench/results.json``.

Options: ``--quick`` (tiny load: checks that everything runs; the numbers mean little); ``--only NAME``
(repeatable: ``turn``, ``click``, ``bulk``, ``memory``); ``--output PATH``; ``--log-dir DIR`` (child
process logs; a temporary folder by default, kept and named when something fails); ``--sequential-rows
N`` (the bulk benchmark's sequential loop; 50 by default). Exit status 0 when every benchmark ran,
whether or not its targets were met; 1 when one could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.bulk import BulkConfig, run_bulk
from bench.click_latency import ClickConfig, run_click_latency
from bench.memory import MemoryConfig, run_memory
from bench.processes import ROOT, Child, start_child
from bench.report import Figure, table, write_results
from bench.turn_cost import TurnCostConfig, run_turn_cost

DEFAULT_OUTPUT = ROOT / "bench" / "results.json"


@dataclass(frozen=True)
class Plan:
    """The configuration of every benchmark for one run."""

    turn: TurnCostConfig
    click: ClickConfig
    bulk: BulkConfig
    memory: MemoryConfig


FULL = Plan(turn=TurnCostConfig(), click=ClickConfig(), bulk=BulkConfig(), memory=MemoryConfig())
QUICK = Plan(
    turn=TurnCostConfig(conversations=4, steps=4, rounds=2, warmup_steps=1, unloaded_steps=5),
    click=ClickConfig(requests=3),
    bulk=BulkConfig(rows=6, sequential_rows=3),
    memory=MemoryConfig(conversations=10, repeats=2, concurrency=5),
)

Outcome = tuple[list[Figure], dict[str, Any]]
Benchmark = Callable[[Plan, Child, Path], Awaitable[Outcome]]


async def _turn(plan: Plan, world: Child, log_dir: Path) -> Outcome:
    result = await run_turn_cost(plan.turn, world, log_dir)
    return result.figures(), result.to_json()


async def _click(plan: Plan, world: Child, log_dir: Path) -> Outcome:
    result = await run_click_latency(plan.click, world, log_dir)
    return result.figures(), result.to_json()


async def _bulk(plan: Plan, world: Child, log_dir: Path) -> Outcome:
    result = await run_bulk(plan.bulk, world, log_dir)
    return result.figures(), result.to_json()


async def _memory(plan: Plan, world: Child, log_dir: Path) -> Outcome:
    result = await run_memory(plan.memory, world, log_dir)
    return result.figures(), result.to_json()


BENCHMARKS: dict[str, Benchmark] = {"turn": _turn, "click": _click, "bulk": _bulk, "memory": _memory}


async def run(plan: Plan, names: Sequence[str], log_dir: Path) -> tuple[list[Figure], dict[str, Any], bool]:
    """Run the named benchmarks against one outside world; returns figures, details, and success."""
    figures: list[Figure] = []
    details: dict[str, Any] = {}
    ok = True
    world = start_child("world", ["-m", "bench.world"], log_dir)
    try:
        for name in names:
            started = time.perf_counter()
            print(f"running {name} ...", file=sys.stderr, flush=True)
            try:
                found, detail = await BENCHMARKS[name](plan, world, log_dir)
            except Exception as err:
                ok = False
                traceback.print_exc()
                details[name] = {"error": f"{type(err).__name__}: {err}"}
                continue
            figures += found
            details[name] = detail | {"seconds": round(time.perf_counter() - started, 1)}
    finally:
        world.stop()
    return figures, details, ok


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m bench``."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny load: a smoke run, not a measurement")
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), help="run only these")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where results.json goes")
    parser.add_argument("--log-dir", type=Path, help="where child process logs go (default: a temp dir)")
    parser.add_argument(
        "--sequential-rows", type=int, help="contractors the sequential loop provisions (bulk: 50 of 300)"
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.sequential_rows:
        plan = replace(plan, bulk=replace(plan.bulk, sequential_rows=args.sequential_rows))
    names = args.only or list(BENCHMARKS)
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="bench-logs-"))
    log_dir.mkdir(parents=True, exist_ok=True)

    started_at = datetime.now(UTC)
    started = time.perf_counter()
    figures, details, ok = asyncio.run(run(plan, names, log_dir))
    seconds = time.perf_counter() - started
    write_results(
        args.output,
        figures=figures,
        details=details,
        started=started_at,
        seconds=seconds,
        quick=args.quick,
        root=ROOT,
    )
    print(table(figures))
    print(f"\n{len(figures)} figures in {seconds:.0f} s; results in {args.output}")
    if ok and args.log_dir is None:
        shutil.rmtree(log_dir, ignore_errors=True)
    elif not ok:
        print(f"a benchmark failed; child process logs are in {log_dir}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
