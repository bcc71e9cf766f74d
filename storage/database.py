"""The database handle: one async SQLAlchemy engine, its pragmas, transactions and migrations.

SQLite (the default, a file under ``data/``) runs through aiosqlite with WAL, foreign keys on and a busy
timeout; write transactions start with ``BEGIN IMMEDIATE`` so two writers queue on the lock instead of
failing half-way. Writers of this process queue first on an asyncio lock (SQLite admits one writer at a
time anyway, and its busy handler waits by sleeping up to 100 ms at a time), so only another process
(the CLI) ever makes a writer wait inside SQLite. Each aiosqlite connection is a thread: SQLite gets a
small fixed pool. PostgreSQL runs through asyncpg with a larger pool; migrations there take an advisory
lock so several instances starting together apply them once.

Short transactions written as plain functions of a connection (:meth:`Database.run_transaction`, used for
bot state on every turn) run on SQLite without any thread: a SQLite statement on a local file takes
microseconds, while each aiosqlite call is a hop to its thread and back (about nine per transaction)
that lets every other turn's work in before this one goes on. Such a transaction never waits on the
event loop: if another process holds the database, it runs through aiosqlite instead and waits there.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from storage.errors import DatabaseUnavailableError

if TYPE_CHECKING:
    from settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: Key of the PostgreSQL advisory lock held while migrating ("vobmigr" in ASCII); any constant works as
#: long as every instance uses the same one.
MIGRATION_LOCK_KEY = 0x766F626D696772

#: Execution option read by the SQLite ``begin`` hook: which ``BEGIN`` to emit.
_SQLITE_BEGIN_OPTION = "storage_sqlite_begin"

#: Connections (each an aiosqlite thread) kept for SQLite. Writers take turns on the write lock, so one
#: writer and a few readers at a time is all SQLite can use; a fixed pool never opens and closes
#: connections (and threads) under load, and more concurrent transactions queue for a connection.
SQLITE_POOL_SIZE = 3
#: How long a SQLite writer waits for the write lock (this process's, then SQLite's own), and any SQLite
#: transaction for a pooled connection, before it fails.
DEFAULT_SQLITE_BUSY_TIMEOUT_SECONDS = 30.0


def normalize_url(url: str | URL) -> URL:
    """Return the async-driver form of a database URL.

    ``postgres://`` and ``postgresql://`` become ``postgresql+asyncpg://`` (libpq's ``sslmode`` becomes
    asyncpg's ``ssl``); ``sqlite://`` becomes ``sqlite+aiosqlite://``. Other drivers are refused, since
    every query here is written for these two.
    """
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError as err:
        raise ValueError("DATABASE_URL is not a valid database URL") from err
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgres", "postgresql"):
        if driver not in ("", "asyncpg"):
            raise ValueError(
                f"DATABASE_URL: use postgresql+asyncpg:// (or postgresql://), not {parsed.drivername}"
            )
        parsed = parsed.set(drivername="postgresql+asyncpg")
        if "sslmode" in parsed.query and "ssl" not in parsed.query:
            query = dict(parsed.query)
            query["ssl"] = query.pop("sslmode")
            parsed = parsed.set(query=query)
        return parsed
    if backend == "sqlite":
        if driver not in ("", "aiosqlite"):
            raise ValueError(f"DATABASE_URL: use sqlite+aiosqlite:// (or sqlite://), not {parsed.drivername}")
        parsed = parsed.set(drivername="sqlite+aiosqlite")
        if not parsed.database or parsed.database == ":memory:" or "mode=memory" in str(parsed):
            # One in-memory connection would be shared by concurrent transactions: refuse rather than corrupt.
            raise ValueError(
                "DATABASE_URL: in-memory SQLite is not supported; use a file (tests: a temp dir)"
            )
        return parsed
    raise ValueError(f"DATABASE_URL: unsupported database {backend!r}; use SQLite or PostgreSQL")


def alembic_config() -> Config:
    """A programmatic Alembic configuration for the migrations shipped in this package (no alembic.ini)."""
    config = Config()
    # ConfigParser interpolation treats '%' specially.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    return config


def head_revision() -> str | None:
    """The newest migration shipped with this code."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


class Database:
    """An open database: the engine, transactions, migrations and a health check.

    Build it with :meth:`connect` (or :meth:`build`, which does no I/O), then ``await db.migrate()``
    once at start, and ``await db.close()`` at shutdown. Repositories (``KeyValueStore``, ``JobQueue``,
    ``AuditLog``, ...) take it as their only dependency besides a clock.
    """

    def __init__(
        self, engine: AsyncEngine, *, busy_timeout_seconds: float = DEFAULT_SQLITE_BUSY_TIMEOUT_SECONDS
    ) -> None:
        """Wrap an engine made by :meth:`build`; use :meth:`connect` instead."""
        self._engine = engine
        self._busy_timeout = busy_timeout_seconds
        # SQLite only: this process's writers queue here, in order, before BEGIN IMMEDIATE.
        self._write_lock = asyncio.Lock() if engine.dialect.name == "sqlite" else None
        # SQLite only: the thread-free connection of run_transaction, opened on first use.
        self._direct: _DirectSqlite | None = None
        self._direct_opening: asyncio.Lock | None = None

    @classmethod
    def build(
        cls,
        url: str | URL,
        *,
        echo: bool = False,
        sqlite_busy_timeout_seconds: float = DEFAULT_SQLITE_BUSY_TIMEOUT_SECONDS,
    ) -> Database:
        """Build the engine for ``url`` without connecting (a SQLite file's folder is created)."""
        parsed = normalize_url(url)
        if parsed.get_backend_name() == "sqlite":
            return cls(
                _sqlite_engine(parsed, echo=echo, busy_timeout=sqlite_busy_timeout_seconds),
                busy_timeout_seconds=sqlite_busy_timeout_seconds,
            )
        engine = create_async_engine(parsed, echo=echo, pool_pre_ping=True, pool_size=5, max_overflow=10)
        return cls(engine)

    @classmethod
    async def connect(cls, url: str | URL, *, echo: bool = False) -> Database:
        """Build the engine and check that the database answers (:class:`DatabaseUnavailableError` if not)."""
        database = cls.build(url, echo=echo)
        try:
            async with database._engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            if database._write_lock is not None:
                # Open run_transaction's connection now, not in the first turn that needs it.
                await database._direct_connection()
        except Exception as err:
            await database.close()
            raise DatabaseUnavailableError(
                f"cannot open database {database.display_url}: {type(err).__name__}"
            ) from err
        return database

    @classmethod
    async def create(cls, url: str | URL, *, echo: bool = False) -> Database:
        """Same as :meth:`connect`."""
        return await cls.connect(url, echo=echo)

    @classmethod
    async def from_settings(cls, settings: Settings) -> Database:
        """Connect to ``settings.effective_database_url`` (SQLite under ``data/`` unless DATABASE_URL)."""
        return await cls.connect(settings.effective_database_url)

    @property
    def engine(self) -> AsyncEngine:
        """The underlying SQLAlchemy engine (for repositories in this package)."""
        return self._engine

    @property
    def dialect_name(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._engine.dialect.name

    @property
    def is_postgresql(self) -> bool:
        """Whether this is PostgreSQL (several instances may share it)."""
        return self.dialect_name == "postgresql"

    @property
    def display_url(self) -> str:
        """The URL with its password masked, safe for logs."""
        return self._engine.url.render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"Database({self.display_url!r})"

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[AsyncConnection]:
        """One transaction on one connection: committed on normal exit, rolled back on an exception.

        ``write=True`` on SQLite takes the write lock at BEGIN (``BEGIN IMMEDIATE``), so a read-then-write
        transaction cannot fail at its first write because another writer slipped in; it waits up to the
        busy timeout instead (first for this process's other writers, then for another process's), and
        then fails as a busy SQLite does (``sqlalchemy.exc.OperationalError``, "database is locked").
        ``write=False`` is for read-only work (readers never block in WAL mode).
        """
        if self._write_lock is not None and write:
            async with self._sqlite_writer(), self._sqlite_transaction("IMMEDIATE") as conn:
                yield conn
        elif self._write_lock is not None:
            async with self._sqlite_transaction("DEFERRED") as conn:
                yield conn
        else:
            async with self._engine.connect() as conn, conn.begin():
                yield conn

    @asynccontextmanager
    async def _sqlite_transaction(self, begin: str) -> AsyncIterator[AsyncConnection]:
        async with self._engine.connect() as conn:
            await conn.execution_options(**{_SQLITE_BEGIN_OPTION: begin})
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def _sqlite_writer(self) -> AsyncIterator[None]:
        """Hold this process's SQLite write lock, waiting at most the busy timeout for it."""
        assert self._write_lock is not None
        try:
            async with asyncio.timeout(self._busy_timeout):
                await self._write_lock.acquire()
        except TimeoutError:
            # What SQLite's own busy handler raises after the same wait, so callers see one error.
            raise OperationalError(
                "BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked")
            ) from None
        try:
            yield
        finally:
            self._write_lock.release()

    async def run_transaction(self, work: Callable[[Connection], T], *, write: bool = True) -> T:
        """Run ``work`` in one transaction and return what it returns (commit, or rollback if it raises).

        ``work`` executes statements synchronously on the SQLAlchemy ``Connection`` it is given and does
        nothing else: on SQLite it may be run a second time (below), and on SQLite it runs on the event
        loop's thread, so it must be a few short statements. ``write`` is as for :meth:`transaction`.

        SQLite: the statements go straight to a plain ``sqlite3`` connection, with no thread hop and no
        suspension while this process's write lock is free; if another process holds the database (the
        connection does not wait: busy timeout 0), the attempt is rolled back and ``work`` runs again
        through aiosqlite, waiting up to the busy timeout off the event loop. PostgreSQL: ``work`` runs in
        :meth:`transaction` through ``run_sync``.
        """
        if self._write_lock is None:
            async with self.transaction(write=write) as conn:
                return await conn.run_sync(work)
        begin = "IMMEDIATE" if write else "DEFERRED"
        direct = await self._direct_connection()
        if direct is not None and not (write and self._write_lock.locked()):
            # Nothing suspends from here to the commit, so no other transaction of this process can run
            # meanwhile and a writer need not take the lock: queueing on it behind waiters already woken
            # but not yet resumed would cost a round of the event loop for nothing.
            try:
                return direct.run(work, begin)
            except OperationalError as err:
                if not _is_busy(err):
                    raise
                log.debug("SQLite is busy in another process; waiting through aiosqlite")
                direct = None
        if write:
            async with self._sqlite_writer():
                return await self._run_sqlite(work, begin, direct)
        return await self._run_sqlite(work, begin, None)

    async def _run_sqlite(
        self, work: Callable[[Connection], T], begin: str, direct: _DirectSqlite | None
    ) -> T:
        """``work`` on ``direct`` if given and SQLite is free, else through aiosqlite (waits if busy)."""
        if direct is not None:
            try:
                return direct.run(work, begin)
            except OperationalError as err:
                if not _is_busy(err):
                    raise
        async with self._sqlite_transaction(begin) as conn:
            return await conn.run_sync(work)

    async def _direct_connection(self) -> _DirectSqlite | None:
        """The thread-free connection, opened (off the event loop) on first use; None on another thread."""
        if self._direct is None or not self._direct.usable:
            if self._direct_opening is None:
                self._direct_opening = asyncio.Lock()
            async with self._direct_opening:
                if self._direct is not None and not self._direct.usable:
                    self._direct.close()
                    self._direct = None
                if self._direct is None:
                    direct = _DirectSqlite(self._engine.url, busy_timeout=self._busy_timeout)
                    await asyncio.to_thread(direct.open)
                    self._direct = direct
        # sqlite3 connections must not be shared between threads that may run at the same time.
        return self._direct if self._direct.thread == threading.get_ident() else None

    async def ping(self, timeout_seconds: float = 2.0) -> bool:
        """Whether the database answers ``SELECT 1`` within the timeout (for ``/healthz``); never raises."""
        try:
            async with asyncio.timeout(timeout_seconds):
                async with self._engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
        except Exception as err:
            log.warning(
                "database ping failed", extra={"database": self.display_url, "error": type(err).__name__}
            )
            return False
        return True

    async def migrate(self) -> str | None:
        """Apply every pending migration; return the revision the database is at afterwards.

        Safe when several instances start together: PostgreSQL serialises them on an advisory lock held for
        the migration's transaction (DDL is transactional there), SQLite on its write lock.
        """
        config = alembic_config()
        async with self.transaction(write=True) as conn:
            if self.is_postgresql:
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            before = await conn.run_sync(_current_revision)
            await conn.run_sync(_upgrade_to_head, config)
            after = await conn.run_sync(_current_revision)
        if before != after:
            log.info("database migrated", extra={"from_revision": before, "to_revision": after})
        return after

    async def current_revision(self) -> str | None:
        """The migration revision the database is at (``None`` before the first migration)."""
        async with self.transaction(write=False) as conn:
            return await conn.run_sync(_current_revision)

    async def close(self) -> None:
        """Close every pooled connection. The object is unusable afterwards."""
        if self._direct is not None:
            self._direct.close()
            self._direct = None
        await self._engine.dispose()


def _current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _upgrade_to_head(conn: Connection, config: Config) -> None:
    # env.py picks the connection up from here instead of opening its own.
    config.attributes["connection"] = conn
    command.upgrade(config, "head")


def _sqlite_engine(url: URL, *, echo: bool, busy_timeout: float) -> AsyncEngine:
    database = url.database or ""
    if not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        url,
        echo=echo,
        connect_args={"timeout": busy_timeout},
        pool_size=SQLITE_POOL_SIZE,
        max_overflow=0,
        pool_timeout=busy_timeout,
    )
    busy_ms = int(busy_timeout * 1000)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        _prepare_sqlite_connection(dbapi_connection, busy_ms=busy_ms)

    event.listen(engine.sync_engine, "begin", _on_sqlite_begin)
    return engine


class _DirectSqlite:
    """The ``sqlite3`` connection of :meth:`Database.run_transaction` (through a synchronous engine).

    Used only on the thread that first asked for it (the event loop's), one whole transaction at a time:
    :meth:`run` never suspends, so no other transaction can start on it half-way. Its busy timeout is 0:
    it never waits for a lock on the event loop (the caller falls back to aiosqlite instead).
    """

    def __init__(self, url: URL, *, busy_timeout: float) -> None:
        self._busy_ms = int(busy_timeout * 1000)
        self._engine: Engine = create_engine(
            url.set(drivername="sqlite+pysqlite"),
            poolclass=StaticPool,
            # Opened on a worker thread (open), used on the event loop's thread afterwards.
            connect_args={"check_same_thread": False, "timeout": 0},
        )
        self.thread = threading.get_ident()
        event.listen(self._engine, "connect", self._on_connect)
        self._conn: Connection | None = None
        self._raw: Any = None

    def open(self) -> None:
        """Open the connection and apply the pragmas (run this off the event loop: it may wait)."""
        self._conn = self._engine.connect()
        # BEGIN goes straight to sqlite3 (SQLAlchemy's own BEGIN is a no-op for pysqlite); SQLAlchemy's
        # commit and rollback end it (sqlite3 issues COMMIT/ROLLBACK when a transaction is open).
        self._raw = self._conn.connection.driver_connection

    @property
    def usable(self) -> bool:
        """Whether the connection is open and valid (SQLAlchemy invalidates it after a fatal error)."""
        return self._conn is not None and not self._conn.closed and not self._conn.invalidated

    def run(self, work: Callable[[Connection], T], begin: str) -> T:
        """``work`` in one transaction, ``BEGIN IMMEDIATE`` or ``BEGIN``; busy is an ``OperationalError``."""
        conn = self._conn
        assert conn is not None, "open() first"
        try:
            with conn.begin():
                try:
                    self._raw.execute("BEGIN IMMEDIATE" if begin == "IMMEDIATE" else "BEGIN")
                except sqlite3.OperationalError as err:
                    raise OperationalError("BEGIN", None, err) from err
                return work(conn)
        finally:
            # Whatever went wrong (a failed COMMIT included), never leave a transaction open on SQLite.
            if self._raw.in_transaction:
                self._raw.rollback()

    def close(self) -> None:
        """Close the connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._engine.dispose()

    def _on_connect(self, dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        # The switch to WAL (a no-op once the file is in WAL mode) may wait for a concurrent opener, which
        # is why this runs on a worker thread; afterwards the connection never waits (busy timeout 0).
        _prepare_sqlite_connection(dbapi_connection, busy_ms=self._busy_ms, then_busy_ms=0)


def _prepare_sqlite_connection(
    dbapi_connection: DBAPIConnection, *, busy_ms: int, then_busy_ms: int | None = None
) -> None:
    """The pragmas every SQLite connection of ours gets; ``then_busy_ms``: the busy timeout after them."""
    # Let SQLAlchemy emit BEGIN itself (see _on_sqlite_begin): sqlite3's implicit transactions would skip
    # BEGIN for SELECT and DDL, breaking read-then-write atomicity and transactional migrations.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # busy_timeout first, so switching to WAL waits for a concurrent opener instead of failing.
        cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        # NORMAL is durable across application crashes in WAL mode, and much faster than FULL.
        cursor.execute("PRAGMA synchronous = NORMAL")
        if then_busy_ms is not None:
            cursor.execute(f"PRAGMA busy_timeout = {int(then_busy_ms)}")
    finally:
        cursor.close()


def _on_sqlite_begin(conn: Connection) -> None:
    mode: Any = conn.get_execution_options().get(_SQLITE_BEGIN_OPTION, "DEFERRED")
    conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")


def _is_busy(err: OperationalError) -> bool:
    """Whether SQLite refused because another connection holds a lock (SQLITE_BUSY or SQLITE_LOCKED)."""
    code = getattr(err.orig, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
