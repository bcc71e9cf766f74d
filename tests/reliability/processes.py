"""The sandbox tenant and the bot as OS processes on free loopback ports, for crash and multi-instance tests.

A thread cannot be killed with SIGKILL; a process can. These helpers start ``python -m sandbox`` and
``python app.py`` (sandbox mode) as subprocesses, wait until they answer, kill them with ``kill -9`` or stop
them with SIGTERM, and read their logs. Each process writes stdout and stderr to one log file that survives
restarts (appended), so a failing test can show what the bot said before it died.

::

    with SandboxProcess(tmp_path / "sandbox") as tenant, BotProcess(
        "bot-a", data_dir=tmp_path / "bot", graph_base_url=tenant.base_url
    ) as bot:
        bot.kill9()
        bot.start()
        tenant.users_with_marker("VND-000001")

:class:`DatabaseReader` gives a synchronous test the bot's database (the product's own stores) on one event
loop of its own, so a test can poll the step log every few milliseconds without reconnecting each time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self, TypeVar

import requests

from storage.database import Database

T = TypeVar("T")

#: The repository root (where ``app.py`` lives).
ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0
#: Environment variables a child inherits; everything else (a developer's BOT_* or DATABASE_URL) is left out.
_INHERITED = ("PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "SYSTEMROOT")


class ProcessFailed(RuntimeError):
    """A child did not start, or died when it should have been serving; the message has its log tail."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the child binds it; a clash: start() retries)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until(condition: Callable[[], bool], *, timeout: float, interval: float = 0.02, what: str) -> None:
    """Call ``condition`` until it is true; :class:`TimeoutError` naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def _base_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {name: os.environ[name] for name in _INHERITED if name in os.environ}
    env.setdefault("LANG", "C.UTF-8")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class ManagedProcess:
    """One child process: started on a fresh free port each time, its output appended to ``log_path``."""

    def __init__(self, name: str, log_path: Path, cwd: Path) -> None:
        """A process called ``name`` (in messages) writing to ``log_path``, run in ``cwd``."""
        self.name = name
        self.log_path = log_path
        self.cwd = cwd
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        """The running child's process id."""
        if self._process is None:
            raise ProcessFailed(f"{self.name} is not running")
        return self._process.pid

    @property
    def running(self) -> bool:
        """Whether the child is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{LOOPBACK}:{self.port}"

    def command(self, port: int) -> list[str]:
        """The argv that serves on ``port``."""
        raise NotImplementedError

    def environment(self, port: int) -> dict[str, str]:
        """The child's environment when it serves on ``port``."""
        return _base_env({})

    def ready(self) -> bool:
        """Whether the child answers (one quick HTTP probe)."""
        raise NotImplementedError

    def start(self, *, port: int | None = None) -> Self:
        """Start the child and return once it answers; a port taken meanwhile is retried on another one."""
        if self.running:
            raise ProcessFailed(f"{self.name} is already running")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        attempts = 1 if port is not None else 3
        for attempt in range(1, attempts + 1):
            self.port = port if port is not None else free_port()
            self._log = self.log_path.open("ab")
            self._log.write(f"\n===== {self.name} start (port {self.port}) =====\n".encode())
            self._log.flush()
            self._process = subprocess.Popen(
                self.command(self.port),
                cwd=self.cwd,
                env=self.environment(self.port),
                stdout=self._log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            try:
                wait_until(
                    lambda: self.ready() or not self.running,
                    timeout=START_TIMEOUT_SECONDS,
                    interval=0.05,
                    what=f"{self.name} to answer",
                )
            except TimeoutError:
                self.kill9()
                raise ProcessFailed(f"{self.name} did not answer in time:\n{self.log_tail()}") from None
            if self.running:
                return self
            self._close_log()
            if attempt == attempts:
                raise ProcessFailed(f"{self.name} exited at start-up:\n{self.log_tail()}")
        raise AssertionError("unreachable")  # pragma: no cover

    def kill9(self) -> None:
        """``kill -9`` the child (no clean-up runs in it) and reap it."""
        if self._process is None:
            return
        if self._process.poll() is None:
            os.kill(self._process.pid, signal.SIGKILL)
        self._process.wait(STOP_TIMEOUT_SECONDS)
        self._process = None
        self._close_log()

    def stop(self) -> None:
        """Stop the child with SIGTERM (kill -9 if it does not exit in time)."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(STOP_TIMEOUT_SECONDS)
        self._process = None
        self._close_log()

    def log_text(self) -> str:
        """Everything the child (in every start) wrote so far."""
        if self._log is not None:
            self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of :meth:`log_text`."""
        return "\n".join(self.log_text().splitlines()[-lines:])

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        return self.start() if not self.running else self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


class SandboxProcess(ManagedProcess):
    """``python -m sandbox --enable-control --reset`` on a free port, with typed access to its tenant."""

    def __init__(self, data_dir: Path, *, name: str = "sandbox") -> None:
        """Keep the tenant's state file in ``data_dir`` (started from the seed each time)."""
        data_dir.mkdir(parents=True, exist_ok=True)
        super().__init__(name, data_dir / f"{name}.log", ROOT)
        self.data_dir = data_dir
        self._http = requests.Session()

    @property
    def base_url(self) -> str:
        """The Graph base URL the bot is given: ``http://127.0.0.1:<port>/v1.0``."""
        return f"{self.origin}/v1.0"

    def command(self, port: int) -> list[str]:
        return [
            sys.executable, "-m", "sandbox", "--port", str(port), "--data-dir", str(self.data_dir),
            "--enable-control", "--reset",
        ]  # fmt: skip

    def ready(self) -> bool:
        try:
            return requests.get(f"{self.origin}/_sandbox/seats", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def stop(self) -> None:
        self._http.close()
        super().stop()

    # -------------------------------------------------------------------------------- control endpoint

    def control(self, method: str, path: str, body: Any = None) -> Any:
        """Call ``/_sandbox/<path>``; the JSON answer (None for 204). Raises on a 4xx/5xx."""
        response = self._http.request(method, f"{self.origin}/_sandbox/{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json() if response.content else None

    def inject(self, kind: str, route: str | None, *, times: int | None = 1, seconds: float = 0) -> None:
        """Inject a fault (``latency`` delays ``route`` by ``seconds``; ``times=None``: until cleared)."""
        self.control("POST", "faults", {"kind": kind, "route": route, "times": times, "seconds": seconds})

    def clear_faults(self) -> None:
        """Remove every injected fault and latency (a delay already being served still runs out)."""
        self.control("DELETE", "faults")

    def recorded(self) -> list[dict[str, Any]]:
        """Every Graph request the tenant answered so far (passwords redacted), oldest first."""
        result: list[dict[str, Any]] = self.control("GET", "requests")
        return result

    def seats(self, part_number: str) -> tuple[int, int]:
        """(consumed, enabled) seats of one SKU."""
        seat = self.control("GET", "seats")[part_number]
        return int(seat["consumed"]), int(seat["enabled"])

    # ------------------------------------------------------------------------------------ Graph reads

    def graph(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """``GET /v1.0/<path>`` with a bearer token (the sandbox accepts any); the JSON answer."""
        response = self._http.get(
            f"{self.base_url}/{path.lstrip('/')}",
            params=dict(params or {}),
            headers={"Authorization": "Bearer test-process", "ConsistencyLevel": "eventual"},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()

    def users_with_marker(self, marker: str) -> list[dict[str, Any]]:
        """Every user whose ``employeeId`` is ``marker`` (the request id the bot stamps on its accounts)."""
        escaped = marker.replace("'", "''")
        answer = self.graph("users", {"$filter": f"employeeId eq '{escaped}'", "$select": "id,employeeId"})
        users: list[dict[str, Any]] = answer["value"]
        return users

    def assigned_sku_ids(self, user_id: str) -> list[str]:
        """The skuIds of the licenses a user holds (one entry per assignment)."""
        user = self.graph(f"users/{user_id}", {"$select": "id,assignedLicenses,accountEnabled"})
        return [str(lic["skuId"]) for lic in user.get("assignedLicenses", [])]

    def account_enabled(self, user_id: str) -> bool:
        """Whether the user may sign in."""
        return bool(self.graph(f"users/{user_id}", {"$select": "id,accountEnabled"})["accountEnabled"])

    def member_ids(self, group_id: str) -> list[str]:
        """The ids of a group's direct members (one entry per membership)."""
        answer = self.graph(f"groups/{group_id}/members", {"$select": "id", "$top": "999"})
        return [str(member["id"]) for member in answer["value"]]

    def sku_id(self, part_number: str) -> str:
        """The skuId of a SKU by part number."""
        for sku in self.graph("subscribedSkus")["value"]:
            if sku["skuPartNumber"] == part_number:
                return str(sku["skuId"])
        raise KeyError(part_number)


class BotProcess(ManagedProcess):
    """``python app.py`` in sandbox mode on a free port, with its own data folder and instance id."""

    def __init__(
        self,
        name: str,
        *,
        data_dir: Path,
        graph_base_url: str,
        database_url: str | None = None,
        lease_seconds: float = 2.0,
        poll_seconds: float = 0.1,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        """A bot called ``name`` (its INSTANCE_ID); SQLite in ``data_dir`` unless ``database_url`` is given.

        ``settings`` adds environment variables (upper-case names, as the bot reads them).
        """
        data_dir.mkdir(parents=True, exist_ok=True)
        # Run in the data folder: the bot reads a `.env` from its working directory, and there is none there.
        super().__init__(name, data_dir / f"{name}.log", data_dir)
        self.data_dir = data_dir
        self.graph_base_url = graph_base_url
        self.database_url = database_url or f"sqlite+aiosqlite:///{(data_dir / 'bot.db').as_posix()}"
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.settings = dict(settings or {})

    @property
    def endpoint(self) -> str:
        """Where Teams posts activities."""
        return f"{self.origin}/api/messages"

    def command(self, port: int) -> list[str]:
        return [sys.executable, str(ROOT / "app.py")]

    def environment(self, port: int) -> dict[str, str]:
        return _base_env(
            {
                "BOT_MODE": "sandbox",
                "BOT_HOST": LOOPBACK,
                "BOT_PORT": str(port),
                "DATA_DIR": str(self.data_dir),
                "DATABASE_URL": self.database_url,
                "GRAPH_BASE_URL": self.graph_base_url,
                "INSTANCE_ID": self.name,
                "WORKER_LEASE_SECONDS": str(self.lease_seconds),
                "WORKER_POLL_SECONDS": str(self.poll_seconds),
                "LOG_LEVEL": "INFO",
                **self.settings,
            }
        )

    def ready(self) -> bool:
        try:
            return requests.get(f"{self.origin}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False


class DatabaseReader:
    """The bot's database for a synchronous test: ``reader.run(lambda db: StepLog(db).steps(1))``.

    One connection pool on one private event loop, opened on enter and closed on exit.
    """

    def __init__(self, database_url: str) -> None:
        """Read (and seed) the database at ``database_url``."""
        self.database_url = database_url
        self._runner: asyncio.Runner | None = None
        self._database: Database | None = None

    def __enter__(self) -> Self:
        self._runner = asyncio.Runner()
        self._database = self._runner.run(Database.connect(self.database_url))
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._runner is None:
            return
        with contextlib.suppress(Exception):
            if self._database is not None:
                self._runner.run(self._database.close())
        self._runner.close()
        self._runner = None

    def run(self, work: Callable[[Database], Awaitable[T]]) -> T:
        """Run ``work`` on the database and return its result."""
        assert self._runner is not None, "use DatabaseReader in a with block"
        assert self._database is not None
        database = self._database

        async def call() -> T:
            return await work(database)

        return self._runner.run(call())
