"""Child processes of the benchmark: start, wait for their ready line, read their memory, stop.

A child started with :func:`start_child` announces readiness with one JSON line on stdout and runs until
its stdin closes (:func:`until_stdin_closes`), so none outlives the benchmark even if it is killed.
Their stderr (logs) goes to a file per child, shown when a child fails to start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

#: The repository root: children run from here so ``app``, ``settings`` and ``bench`` import.
ROOT = Path(__file__).resolve().parent.parent


class ChildFailed(RuntimeError):
    """A child process exited or stayed silent instead of announcing readiness."""


@dataclass
class Child:
    """A running child process and what it announced."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    started_at: float
    #: Whether the child exits when its stdin closes (ours do; ``python app.py`` waits for SIGTERM).
    lifeline: bool = True
    ready: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_mb(self) -> float:
        """Resident set size now (``VmRSS`` in ``/proc/<pid>/status``), in MiB."""
        return rss_mb(self.pid)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """Close its stdin (a child with a lifeline exits by itself), then terminate, then kill."""
        stdin: IO[bytes] | None = self.process.stdin
        if stdin is not None and not stdin.closed:
            with contextlib.suppress(OSError):
                stdin.close()
        if not self.lifeline and self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if self.process.stdout is not None:
            self.process.stdout.close()


def rss_mb(pid: int) -> float:
    """``VmRSS`` of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ChildFailed(f"process {pid} reports no VmRSS (exited?)")


def start_child(
    name: str,
    args: list[str],
    log_dir: Path,
    *,
    env: dict[str, str] | None = None,
    announces: bool = True,
    timeout: float = 60.0,
) -> Child:
    """Start ``python <args>`` from the repository root.

    ``announces``: the child prints a JSON ready line (waited for here) and exits when its stdin closes;
    otherwise it is stopped with SIGTERM.
    """
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        started = time.monotonic()
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and our own modules
            [sys.executable, *args],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env={**os.environ, **(env or {})},
        )
    child = Child(name, process, log_path, started, lifeline=announces)
    if announces:
        try:
            child.ready = _read_ready_line(child, timeout)
        except BaseException:
            child.stop()
            raise
    return child


def _read_ready_line(child: Child, timeout: float) -> dict[str, Any]:
    stdout = child.process.stdout
    assert stdout is not None
    deadline = time.monotonic() + timeout
    buffer = b""
    while b"\n" not in buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ChildFailed(f"{child.name} did not become ready in {timeout:.0f} s:\n{child.log_tail()}")
        readable, _, _ = select.select([stdout], [], [], min(remaining, 0.5))
        if readable:
            chunk = os.read(stdout.fileno(), 4096)
            if not chunk:
                child.process.wait(5)
                raise ChildFailed(
                    f"{child.name} exited with {child.process.returncode} before it was ready:\n"
                    f"{child.log_tail()}"
                )
            buffer += chunk
    ready = json.loads(buffer.split(b"\n", 1)[0])
    if not isinstance(ready, dict):
        raise ChildFailed(f"{child.name} announced {ready!r}, not a JSON object")
    return ready


async def until_stdin_closes() -> None:
    """Return when standard input reaches end of file (the parent closed it or went away).

    Read in a dedicated thread, not the loop's default executor: botbuilder sends replies through that
    executor, and a thread parked there for the whole run would shrink the pool the bot under test uses.
    """
    loop = asyncio.get_running_loop()
    closed = asyncio.Event()

    def wait_for_eof() -> None:
        sys.stdin.buffer.read()
        loop.call_soon_threadsafe(closed.set)

    threading.Thread(target=wait_for_eof, name="stdin-lifeline", daemon=True).start()
    await closed.wait()
