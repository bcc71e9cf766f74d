"""The database handle: one async SQLAlchemy engine, its pragmas, transactions and migrations.

SQLite (the default, a file under ``data/``) runs through aiosqlite with WAL, foreign keys on and a busy
timeout; write transactions start with ``BEGIN IMMEDIATE`` so two writers queue on the lock instead of
failing half-way. PostgreSQL runs through asyncpg; migrations there take an advisory lock so several
instances starting together apply them once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from storage.errors import DatabaseUnavailableError

if TYPE_CHECKING:
    from settings import Settings

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: Key of the PostgreSQL advisory lock held while migrating ("vobmigr" in ASCII); any constant works as
#: long as every instance uses the same one.
MIGRATION_LOCK_KEY = 0x766F626D696772

#: Execution option read by the SQLite ``begin`` hook: which ``BEGIN`` to emit.
_SQLITE_BEGIN_OPTION = "storage_sqlite_begin"


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

    def __init__(self, engine: AsyncEngine) -> None:
        """Wrap an engine made by :meth:`build`; use :meth:`connect` instead."""
        self._engine = engine

    @classmethod
    def build(
        cls, url: str | URL, *, echo: bool = False, sqlite_busy_timeout_seconds: float = 30.0
    ) -> Database:
        """Build the engine for ``url`` without connecting (a SQLite file's folder is created)."""
        parsed = normalize_url(url)
        if parsed.get_backend_name() == "sqlite":
            return cls(_sqlite_engine(parsed, echo=echo, busy_timeout=sqlite_busy_timeout_seconds))
        engine = create_async_engine(parsed, echo=echo, pool_pre_ping=True, pool_size=5, max_overflow=10)
        return cls(engine)

    @classmethod
    async def connect(cls, url: str | URL, *, echo: bool = False) -> Database:
        """Build the engine and check that the database answers (:class:`DatabaseUnavailableError` if not)."""
        database = cls.build(url, echo=echo)
        try:
            async with database._engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
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
        busy timeout instead. ``write=False`` is for read-only work (readers never block in WAL mode).
        """
        async with self._engine.connect() as conn:
            if self.dialect_name == "sqlite":
                await conn.execution_options(**{_SQLITE_BEGIN_OPTION: "IMMEDIATE" if write else "DEFERRED"})
            async with conn.begin():
                yield conn

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
    engine = create_async_engine(url, echo=echo, connect_args={"timeout": busy_timeout})
    busy_ms = int(busy_timeout * 1000)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy emit BEGIN itself (below): sqlite3's implicit transactions would skip BEGIN for
        # SELECT and DDL, breaking read-then-write atomicity and transactional migrations.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # busy_timeout first, so switching to WAL waits for a concurrent opener instead of failing.
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA foreign_keys = ON")
            # NORMAL is durable across application crashes in WAL mode, and much faster than FULL.
            cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode: Any = conn.get_execution_options().get(_SQLITE_BEGIN_OPTION, "DEFERRED")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")

    return engine
