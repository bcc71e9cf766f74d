"""``python -m bench.profile``: where a bot's turn time goes, ours against the framework's, with py-spy.

Runs the turn-cost load (:mod:`bench.turn_cost`) against one or both bots while ``py-spy record``
samples the bot's process from outside (no GIL bias, no per-call hook), then prints for each bot the
busy time per activity of its event-loop thread by *owner*, by package (self time), the functions with
the most self time, and the other threads' busy time. ``--output`` also writes the numbers as JSON.

Owner attribution answers "ours or the framework's?": a sample belongs to the innermost frame on its
stack that is first-party (:data:`FIRST_PARTY`) or Bot Framework stack (:data:`FRAMEWORK`); helpers either
one calls (the standard library, pydantic, jsonpickle...) count for the caller. So ``copy.deepcopy``
called by botbuilder's ``TurnContext`` is botbuilder's, and pydantic validation called from ``cards`` is
ours. SQLAlchemy's async engine runs queries in greenlets whose stacks py-spy sees cut at the greenlet;
only ``storage`` uses SQLAlchemy, so those samples are counted as ``storage (SQLAlchemy greenlet)``.

py-spy is not a project dependency (it is a profiler binary): pass ``--py-spy PATH`` or have ``py-spy``
on PATH or in the virtual environment. Not part of ``python -m bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.loadgen import BotClient, MessageTurn, Target, client_session
from bench.processes import ROOT, Child, start_child
from bench.turn_cost import BotUnderTest, TurnCostConfig

#: This repository's top-level packages and modules (the benchmark's own code is not among them).
FIRST_PARTY = frozenset(
    {"app", "settings", "observability", "bot", "dialogs", "cards", "onboarding", "provisioning", "storage"}
)
#: The Bot Framework stack a stock bot is made of.
FRAMEWORK = frozenset({"botbuilder", "botframework", "msrest", "aiohttp", "requests", "urllib3", "msal"})
SQLALCHEMY_GREENLET = "storage (SQLAlchemy greenlet)"

_STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>.*):(?P<line>\d+)\)$")
DEFAULT_RATE = 250


def package_of(filename: str) -> str:
    """The package a source file belongs to: top-level folder for ours, distribution folder for installed
    code, ``stdlib.<module>`` for the standard library."""
    parts = Path(filename).parts
    for marker in ("site-packages", "dist-packages"):
        if marker in parts and parts.index(marker) + 1 < len(parts):
            return parts[parts.index(marker) + 1].removesuffix(".py")
    path = Path(filename)
    if path.is_absolute():
        if path.is_relative_to(_STDLIB):
            return f"stdlib.{path.relative_to(_STDLIB).parts[0].removesuffix('.py')}"
        if path.is_relative_to(ROOT):
            return path.relative_to(ROOT).parts[0].removesuffix(".py")
    return filename if filename.startswith("<") else "(other)"


@dataclass(frozen=True)
class Frame:
    function: str
    file: str
    line: int

    @property
    def package(self) -> str:
        return package_of(self.file)


@dataclass(frozen=True)
class Stack:
    """One line of py-spy's collapsed output: a thread, its frames outermost first, a sample count."""

    thread: str
    frames: tuple[Frame, ...]
    count: int


def parse_collapsed(text: str) -> Iterator[Stack]:
    """Parse ``py-spy record --format raw --threads`` output."""
    for line in text.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        thread, *rest = stack.split(";")
        frames = []
        for item in rest:
            match = _FRAME.match(item)
            if match:
                frames.append(Frame(match["function"], match["file"], int(match["line"])))
        yield Stack(thread.split(":", 1)[-1].strip(), tuple(frames), int(count))


def owner_of(frames: Sequence[Frame]) -> str:
    """The innermost first-party or framework package on the stack (see the module docstring)."""
    for frame in reversed(frames):
        package = frame.package
        if package in FIRST_PARTY or package in FRAMEWORK:
            return package
    if frames and frames[0].package == "sqlalchemy":
        return SQLALCHEMY_GREENLET
    return frames[-1].package if frames else "(no Python frame)"


def group_of(owner: str) -> str:
    """ours, framework or other."""
    if owner in FIRST_PARTY or owner == SQLALCHEMY_GREENLET:
        return "ours"
    return "framework" if owner in FRAMEWORK else "other"


@dataclass
class Attribution:
    """Busy samples of the event-loop thread by owner, package and function; other threads by name."""

    loop_samples: int = 0
    idle_samples: int = 0
    by_owner: Counter[str] = field(default_factory=Counter)
    by_package: Counter[str] = field(default_factory=Counter)
    by_function: Counter[str] = field(default_factory=Counter)
    other_threads: Counter[str] = field(default_factory=Counter)

    @classmethod
    def of(cls, stacks: Iterator[Stack], loop_thread: str = "MainThread") -> Attribution:
        found = cls()
        for stack in stacks:
            if stack.thread != loop_thread:
                # Pool threads are named ThreadPoolExecutor-N_M / asyncio_N; strip the numbers.
                found.other_threads[re.sub(r"[-_]\d+(_\d+)?$", "", stack.thread)] += stack.count
                continue
            if stack.frames and _waits_for_events(stack.frames[-1]):
                found.idle_samples += stack.count
                continue
            found.loop_samples += stack.count
            found.by_owner[owner_of(stack.frames)] += stack.count
            if stack.frames:
                leaf = stack.frames[-1]
                found.by_package[leaf.package] += stack.count
                found.by_function[
                    f"{leaf.package}: {leaf.function} ({Path(leaf.file).name}:{leaf.line})"
                ] += stack.count
        return found

    def to_json(self, rate: int, activities: int) -> dict[str, Any]:
        def ms(counter: Counter[str], limit: int = 25) -> dict[str, float]:
            return {k: round(1000 * v / rate / activities, 3) for k, v in counter.most_common(limit)}

        groups: Counter[str] = Counter()
        for owner, count in self.by_owner.items():
            groups[group_of(owner)] += count
        return {
            "loopMsPerActivity": round(1000 * self.loop_samples / rate / activities, 3),
            "loopIdleMsPerActivity": round(1000 * self.idle_samples / rate / activities, 3),
            "byGroup": ms(groups),
            "byOwner": ms(self.by_owner),
            "byPackage": ms(self.by_package, 15),
            "topFunctions": ms(self.by_function, 20),
            "otherThreads": ms(self.other_threads, 10),
        }


def _waits_for_events(leaf: Frame) -> bool:
    # py-spy cannot always tell a thread blocked in epoll_wait from a running one (it depends on what
    # the kernel reports inside this VM); an event loop in its selector is idle, whatever py-spy says.
    return leaf.package == "stdlib.selectors" and leaf.function.endswith(("select", "poll"))


def find_py_spy(explicit: Path | None) -> Path | None:
    """``explicit``, else ``py-spy`` on PATH, else next to this interpreter."""
    if explicit is not None:
        return explicit if explicit.exists() else None
    found = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    return Path(found) if found else None


async def profile_bot(
    name: str, child: Child, world: Child, config: TurnCostConfig, py_spy: Path, rate: int, out: Path
) -> dict[str, Any]:
    """Warm the bot up, then run one loaded phase under ``py-spy record``; returns the attribution."""
    connector = f"http://127.0.0.1:{world.ready['connector']}"
    origin = f"http://127.0.0.1:{child.ready['port']}"
    async with client_session(config.conversations) as session:
        scenario = MessageTurn("help", name="echo") if name == "stock" else None
        bot = BotUnderTest(name, child, BotClient(session, Target(origin, connector)), scenario)
        await bot.warm_up(config)
        # A blocking Popen is fine here: nothing else runs on this loop until the phase starts.
        spy = subprocess.Popen(  # noqa: S603, ASYNC220 - the profiler binary the user pointed at
            [
                str(py_spy),
                "record",
                "--pid",
                str(child.pid),
                "--rate",
                str(rate),
                "--format",
                "raw",
                "--full-filenames",
                "--threads",
                "--nonblocking",
                "--output",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        await asyncio.sleep(1.0)  # py-spy attaches before the measured phase starts
        phase = await bot.phase(conversations=config.conversations, steps=config.steps, prefix="profiled")
        spy.send_signal(signal.SIGINT)
        _, errors = spy.communicate(timeout=60)
    try:
        collapsed = out.read_text()  # noqa: ASYNC240 - the load is over; nothing waits on this loop
    except FileNotFoundError:
        raise RuntimeError(f"py-spy wrote nothing: {errors.decode(errors='replace')[-500:]}") from None
    assert bot.scenario is not None
    attribution = Attribution.of(parse_collapsed(collapsed))
    return {
        "scenario": bot.scenario.name,
        "activities": phase.activities,
        "cpuMsPerActivity": round(1000 * phase.cpu_seconds / phase.activities, 3),
        "rate": rate,
    } | attribution.to_json(rate, phase.activities)


def render(name: str, report: dict[str, Any]) -> str:
    """A bot's report as text: ms per activity as sampled, and each line's share of the busy loop.

    Shares are the robust part: py-spy's sampling rate drifts under load, so the absolute sampled ms
    can disagree with the process CPU time measured by the bot itself (``cpuMsPerActivity``).
    """
    busy = report["loopMsPerActivity"] or 1.0
    lines = [
        f"== {name}: {report['scenario']}; {report['activities']} activities; process CPU "
        f"{report['cpuMsPerActivity']} ms/activity; event loop busy "
        f"{report['loopMsPerActivity']} ms/activity",
    ]
    for title, key in (
        ("event loop by group", "byGroup"),
        ("event loop by owner (helpers counted for their first-party or framework caller)", "byOwner"),
        ("event loop self time by package", "byPackage"),
        ("event loop: functions with the most self time", "topFunctions"),
        ("other threads", "otherThreads"),
    ):
        lines.append(f"{title}:")
        lines += [f"  {k:<86} {v:7.3f} ms {100 * v / busy:5.1f} %" for k, v in report[key].items()]
    return "\n".join(lines)


async def run(
    bots: Sequence[str], config: TurnCostConfig, py_spy: Path, rate: int, work_dir: Path
) -> dict[str, Any]:
    """Profile each named bot in its own process against one outside world."""
    reports: dict[str, Any] = {}
    world = start_child("world", ["-m", "bench.world"], work_dir)
    try:
        graph_url = f"http://127.0.0.1:{world.ready['graph']}/v1.0"
        for name in bots:
            data_dir = work_dir / f"data-{name}"
            data_dir.mkdir()
            args = ["-m", "bench.serve", name]
            if name == "ours":
                args += ["--graph-url", graph_url, "--data-dir", str(data_dir)]
            child = start_child(f"bot-{name}", args, work_dir)
            try:
                reports[name] = await profile_bot(
                    name, child, world, config, py_spy, rate, work_dir / f"{name}.collapsed"
                )
            finally:
                child.stop()
    finally:
        world.stop()
    return reports


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m bench.profile``."""
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    parser.add_argument("--bot", choices=("ours", "stock", "both"), default="both")
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rate", type=int, default=DEFAULT_RATE, help="samples per second")
    parser.add_argument("--py-spy", type=Path, help="the py-spy binary (default: on PATH or in the venv)")
    parser.add_argument("--output", type=Path, help="also write the numbers as JSON here")
    args = parser.parse_args(argv)
    py_spy = find_py_spy(args.py_spy)
    if py_spy is None:
        print("py-spy not found: install it (pip install py-spy) or pass --py-spy PATH", file=sys.stderr)
        return 2
    bots = ("stock", "ours") if args.bot == "both" else (args.bot,)
    config = TurnCostConfig(conversations=args.conversations, steps=args.steps, warmup_steps=2)
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as work_dir:
        reports = asyncio.run(run(bots, config, py_spy, args.rate, Path(work_dir)))
    for name, report in reports.items():
        print(render(name, report), end="\n\n")
    if args.output:
        args.output.write_text(json.dumps(reports, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
