"""A throwaway PostgreSQL server for tests, started from the machine image's binaries.

The server is started once per test session (``initdb`` + ``pg_ctl`` into a temp dir, TCP on
127.0.0.1 with a free port, its unix socket in the temp dir, trust auth, fsync off) and deleted at
the end. Tests that need a clean database get their own (``CREATE DATABASE``, fast on a local server).

Fixtures (import them into a ``conftest.py`` to use them)::

    from tests.support.postgres import any_database_url, postgres_database_url, postgres_url  # noqa: F401

* ``postgres_url`` (session): the server's URL (``postgresql+asyncpg://postgres@127.0.0.1:PORT/postgres``);
  skips with a reason when no PostgreSQL binaries are installed.
* ``postgres_database_url`` (function): the URL of a new, empty database on that server, dropped after.
* ``any_database_url`` (function, parametrised ``sqlite`` / ``postgresql``): a new, empty database URL on
  each backend, so one test runs on both. The PostgreSQL case carries the ``postgres`` marker.
* ``migrated_postgres_database_url`` / ``any_migrated_database_url``: the same, but already migrated to
  head and empty of rows. PostgreSQL databases are recycled between tests (other sessions terminated,
  every table truncated, identities restarted), which is ~10x faster than ``CREATE DATABASE``; one whose
  schema a test changed is dropped instead of reused.

Several conftests may import these; they share one server (reference-counted).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

#: Where Debian's postgresql packages put the server binaries, one folder per major version.
DEBIAN_PG_ROOT = Path("/usr/lib/postgresql")
#: Set to a folder holding ``initdb`` and ``pg_ctl`` to use other binaries.
BIN_DIR_ENV = "POSTGRES_BIN_DIR"
#: The OS user that runs the server when the tests run as root (initdb refuses root).
SERVER_OS_USER = "postgres"
SUPERUSER = "postgres"
START_TIMEOUT_SECONDS = 30

T = TypeVar("T")

_NAME_OK = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def find_bin_dir() -> Path | None:
    """The folder with ``initdb`` and ``pg_ctl``: $POSTGRES_BIN_DIR, the newest Debian version, or PATH."""
    candidates: list[Path] = []
    if os.environ.get(BIN_DIR_ENV):
        candidates.append(Path(os.environ[BIN_DIR_ENV]))
    if DEBIAN_PG_ROOT.is_dir():
        versions = [child for child in DEBIAN_PG_ROOT.iterdir() if child.name.replace(".", "").isdigit()]
        versions.sort(key=lambda child: tuple(int(part) for part in child.name.split(".")), reverse=True)
        candidates += [version / "bin" for version in versions]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "pg_ctl").is_file():
            return candidate
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _server_os_user() -> pwd.struct_passwd | None:
    """The user to run the server as: ``None`` (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_OS_USER)
    except KeyError:
        # Debian's postgresql package creates this user; a bare image may lack it.
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_OS_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SERVER_OS_USER)


class PostgresServer:
    """One PostgreSQL cluster in a temp dir. :meth:`start`, then :attr:`url`, then :meth:`stop`."""

    def __init__(self, bin_dir: Path) -> None:
        """Use the ``initdb``/``pg_ctl`` in ``bin_dir``."""
        self.bin_dir = bin_dir
        self.port = 0
        self._root: Path | None = None
        self._os_user = _server_os_user()

    @property
    def url(self) -> str:
        """URL of the server's ``postgres`` database (the superuser, no password: trust auth on loopback)."""
        if not self.port:
            raise RuntimeError("the server is not started")
        return f"postgresql+asyncpg://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory."""
        if self._root is None:
            raise RuntimeError("the server is not started")
        return self._root / "data"

    def start(self) -> None:
        """Create the cluster and start the server; return once it accepts connections."""
        # The server's OS user must reach the folder: under root, $TMPDIR may be private to root.
        base = "/tmp" if self._os_user is not None and Path("/tmp").is_dir() else None
        self._root = Path(tempfile.mkdtemp(prefix="pytest-pg-", dir=base))
        if self._os_user is not None:
            os.chown(self._root, self._os_user.pw_uid, self._os_user.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        # A free port can be taken between probing and binding: try a few.
        last_error: subprocess.CalledProcessError | None = None
        for _ in range(3):
            self.port = _free_port()
            self._write_config()
            try:
                self._run(
                    "pg_ctl", "-D", str(self.data_dir), "-l", str(self._root / "server.log"), "-w",
                    "-t", str(START_TIMEOUT_SECONDS), "start",
                )  # fmt: skip
                atexit.register(self.stop)
                return
            except subprocess.CalledProcessError as err:
                last_error = err
        log = (self._root / "server.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"PostgreSQL did not start:\n{log}") from last_error

    def stop(self) -> None:
        """Stop the server (immediately: nothing here is worth a clean checkpoint) and delete its files."""
        if self._root is None:
            return
        with contextlib.suppress(subprocess.CalledProcessError, FileNotFoundError):
            if (self.data_dir / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self._root, ignore_errors=True)
        self._root = None
        self.port = 0
        atexit.unregister(self.stop)

    def _write_config(self) -> None:
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self._root}'",
            # Throwaway data: durability only costs time here.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            "logging_collector": "off",
        }
        conf = self.data_dir / "postgresql.auto.conf"
        conf.write_text("".join(f"{key} = {value}\n" for key, value in settings.items()))

    def _run(self, program: str, *args: str) -> None:
        kwargs: dict[str, Any] = {}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
        if self._os_user is not None:
            kwargs = {"user": self._os_user.pw_uid, "group": self._os_user.pw_gid, "extra_groups": []}
            env["HOME"] = str(self._root)
        subprocess.run(
            [str(self.bin_dir / program), *args],
            check=True,
            capture_output=True,
            cwd=self._root,
            env=env,
            timeout=START_TIMEOUT_SECONDS + 30,
            **kwargs,
        )


class _SharedServer:
    """One server for the whole session, however many conftests import the fixtures."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._server: PostgresServer | None = None
        self._users = 0

    def acquire(self, bin_dir: Path) -> PostgresServer:
        with self._lock:
            if self._server is None:
                server = PostgresServer(bin_dir)
                server.start()
                self._server = server
            self._users += 1
            return self._server

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0 and self._server is not None:
                self._server.stop()
                self._server = None


_shared = _SharedServer()

NO_BINARIES_REASON = (
    "PostgreSQL server binaries not found (looked in $POSTGRES_BIN_DIR, /usr/lib/postgresql/*/bin, PATH); "
    "install Debian's postgresql package to run the PostgreSQL tests"
)


async def create_database(server_url: str, name: str | None = None) -> str:
    """Create an empty database on the server at ``server_url``; return its URL."""
    name = name or f"t_{uuid.uuid4().hex[:16]}"
    if not _NAME_OK.match(name):
        raise ValueError(f"unsafe database name {name!r}")
    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
    finally:
        await engine.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def drop_database(database_url: str) -> None:
    """Drop the database at ``database_url``, disconnecting whoever is still connected."""
    url = make_url(database_url)
    name = url.database or ""
    if not _NAME_OK.match(name):
        raise ValueError(f"unsafe database name {name!r}")
    engine = create_async_engine(
        url.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await engine.dispose()


class _MigratedPool:
    """Migrated databases, handed out one test at a time and wiped in between."""

    def __init__(self) -> None:
        self._free: dict[str, list[str]] = {}
        self._tables: dict[str, set[str]] = {}

    async def take(self, server_url: str) -> str:
        free = self._free.setdefault(server_url, [])
        if free:
            return free.pop()
        # Imported here: the server fixtures themselves need nothing from the bot's code.
        from storage.database import Database

        url = await create_database(server_url)
        database = await Database.connect(url)
        try:
            await database.migrate()
        finally:
            await database.close()
        self._tables[url] = await _table_names(url)
        return url

    async def give_back(self, server_url: str, url: str) -> None:
        try:
            reusable = await self._wipe(url)
        except Exception:
            reusable = False
        if reusable:
            self._free.setdefault(server_url, []).append(url)
        else:
            self._tables.pop(url, None)
            await drop_database(url)

    async def _wipe(self, url: str) -> bool:
        from storage.database import head_revision

        engine = create_async_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                # A test may leave a connection (or a transaction) behind: end it so TRUNCATE cannot wait.
                await conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
                tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
                revision = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
                if tables != self._tables.get(url) or revision != head_revision():
                    return False
                await conn.execute(text("SET lock_timeout = '5s'"))
                wiped = ", ".join(f'"{table}"' for table in sorted(tables - {"alembic_version"}))
                await conn.execute(text(f"TRUNCATE {wiped} RESTART IDENTITY CASCADE"))
        finally:
            await engine.dispose()
        return True


async def _table_names(url: str) -> set[str]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


_migrated = _MigratedPool()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a throwaway PostgreSQL server for the session; skipped when PostgreSQL is not installed."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.skip(NO_BINARIES_REASON)
    server = _shared.acquire(bin_dir)
    try:
        yield server.url
    finally:
        _shared.release()


@pytest.fixture
async def postgres_database_url(postgres_url: str) -> AsyncIterator[str]:
    """URL of a new, empty database on the session's server, dropped after the test."""
    url = await create_database(postgres_url)
    try:
        yield url
    finally:
        await drop_database(url)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
async def any_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A new, empty database on SQLite (a temp file) and, as a second case, on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    server_url: str = request.getfixturevalue("postgres_url")
    url = await create_database(server_url)
    try:
        yield url
    finally:
        await drop_database(url)


@pytest.fixture
async def migrated_postgres_database_url(postgres_url: str) -> AsyncIterator[str]:
    """URL of a database on the session's server, migrated to head and without rows."""
    url = await _migrated.take(postgres_url)
    try:
        yield url
    finally:
        await _migrated.give_back(postgres_url, url)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
async def any_migrated_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database migrated to head and without rows, on SQLite and, as a second case, on PostgreSQL."""
    if request.param == "sqlite":
        from storage.database import Database

        url = f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        database = await Database.connect(url)
        try:
            await database.migrate()
        finally:
            await database.close()
        yield url
        return
    server_url: str = request.getfixturevalue("postgres_url")
    url = await _migrated.take(server_url)
    try:
        yield url
    finally:
        await _migrated.give_back(server_url, url)


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ],
)
def module_database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """For a bot that runs for a whole module: ``None`` (its default SQLite file in its data folder) and,
    as a second case, a new, empty PostgreSQL database (the bot migrates it at start), dropped after."""
    if request.param == "sqlite":
        yield None
        return
    server_url: str = request.getfixturevalue("postgres_url")
    url = _on_own_loop(create_database(server_url))
    try:
        yield url
    finally:
        _on_own_loop(drop_database(url))


def _on_own_loop(work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` to its end on a new loop in another thread, leaving this thread's event loop alone
    (pytest-asyncio's module-scoped loops live there)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, work).result()
