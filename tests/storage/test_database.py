"""Database: URL handling, SQLite pragmas, transactions, health check, settings."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

from settings import Settings
from storage.database import SQLITE_POOL_SIZE, Database, normalize_url
from storage.errors import DatabaseUnavailableError

T = TypeVar("T")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@db:5432/bot", "postgresql+asyncpg://u:p@db:5432/bot"),
        ("postgres://u:p@db/bot", "postgresql+asyncpg://u:p@db/bot"),
        ("postgresql+asyncpg://u@db/bot", "postgresql+asyncpg://u@db/bot"),
        ("postgresql://u@db/bot?sslmode=require", "postgresql+asyncpg://u@db/bot?ssl=require"),
        ("sqlite:///data/bot.db", "sqlite+aiosqlite:///data/bot.db"),
        ("sqlite+aiosqlite:////abs/bot.db", "sqlite+aiosqlite:////abs/bot.db"),
    ],
)
def test_urls_are_normalised_to_the_async_drivers(given: str, expected: str) -> None:
    assert normalize_url(given).render_as_string(hide_password=False) == expected


@pytest.mark.parametrize(
    "url",
    ["postgresql+psycopg://u@db/bot", "mysql://u@db/bot", "sqlite://", "sqlite:///:memory:", "not a url"],
    ids=["other-driver", "other-database", "sqlite-no-file", "sqlite-memory", "garbage"],
)
def test_unsupported_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="DATABASE_URL"):
        normalize_url(url)


async def test_sqlite_file_folder_is_created(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "data" / "bot.db"
    db = await Database.connect(f"sqlite:///{path}")
    await db.close()
    assert path.exists()


@pytest.mark.parametrize(
    ("pragma", "expected"),
    [("journal_mode", "wal"), ("foreign_keys", 1), ("busy_timeout", 30000)],
)
async def test_sqlite_connections_are_configured(tmp_path: Path, pragma: str, expected: object) -> None:
    db = await Database.connect(f"sqlite:///{tmp_path / 'bot.db'}")
    try:
        async with db.transaction(write=False) as conn:
            assert (await conn.execute(text(f"PRAGMA {pragma}"))).scalar() == expected
    finally:
        await db.close()


async def test_sqlite_write_transactions_never_lose_an_update(tmp_path: Path) -> None:
    # Read-modify-write from two engines: BEGIN IMMEDIATE makes them queue instead of interleaving.
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    engines = [await Database.connect(url), await Database.connect(url)]
    try:
        async with engines[0].transaction() as conn:
            await conn.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
            await conn.execute(text("INSERT INTO counter VALUES (0)"))

        async def increment(db: Database) -> None:
            async with db.transaction(write=True) as conn:
                n = (await conn.execute(text("SELECT n FROM counter"))).scalar_one()
                await asyncio.sleep(0)
                await conn.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})

        await asyncio.gather(*(increment(engines[i % 2]) for i in range(20)))
        async with engines[1].transaction(write=False) as conn:
            assert (await conn.execute(text("SELECT n FROM counter"))).scalar_one() == 20
    finally:
        for db in engines:
            await db.close()


async def test_transaction_rolls_back_on_error(database: Database) -> None:
    async def insert_then_fail() -> None:
        async with database.transaction() as conn:
            await conn.execute(text("INSERT INTO once_marks VALUES ('k', 'w', '2030-01-01 00:00:00')"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await insert_then_fail()
    async with database.transaction(write=False) as conn:
        assert (await conn.execute(text("SELECT count(*) FROM once_marks"))).scalar_one() == 0


async def test_ping_answers_true_when_the_database_is_up(database: Database) -> None:
    assert await database.ping()


async def test_ping_answers_false_when_the_server_is_down() -> None:
    db = Database.build(f"postgresql://bot@127.0.0.1:{_closed_port()}/bot")
    try:
        assert not await db.ping(timeout_seconds=5)
    finally:
        await db.close()


async def test_connect_failure_names_the_database_without_its_password() -> None:
    with pytest.raises(DatabaseUnavailableError) as raised:
        await Database.connect(f"postgresql://bot:hunter2@127.0.0.1:{_closed_port()}/bot")
    assert "hunter2" not in str(raised.value)
    assert "127.0.0.1" in str(raised.value)


def test_display_url_masks_the_password() -> None:
    db = Database.build("postgresql://bot:hunter2@db.example/bot")
    assert "hunter2" not in db.display_url
    assert "hunter2" not in repr(db)


async def test_from_settings_uses_the_sqlite_file_under_data_dir(tmp_path: Path) -> None:
    settings = Settings(bot_mode="sandbox", data_dir=tmp_path / "data", _env_file=None)
    db = await Database.from_settings(settings)
    try:
        assert db.dialect_name == "sqlite"
    finally:
        await db.close()
    assert (tmp_path / "data" / "bot.db").exists()


# ------------------------------------------------------------------------------ run_transaction


def _insert_mark(key: str) -> Callable[[Connection], int]:
    def work(conn: Connection) -> int:
        conn.execute(text("INSERT INTO once_marks VALUES (:k, 'w', '2030-01-01 00:00:00')"), {"k": key})
        return int(conn.execute(text("SELECT count(*) FROM once_marks")).scalar_one())

    return work


async def _marks(database: Database) -> list[str]:
    async with database.transaction(write=False) as conn:
        return list((await conn.execute(text("SELECT key FROM once_marks ORDER BY key"))).scalars())


async def test_run_transaction_commits_and_returns_what_work_returns(database: Database) -> None:
    assert await database.run_transaction(_insert_mark("a")) == 1
    assert await _marks(database) == ["a"]


async def test_run_transaction_rolls_back_when_work_raises(database: Database) -> None:
    def insert_then_fail(conn: Connection) -> None:
        _insert_mark("a")(conn)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await database.run_transaction(insert_then_fail)
    assert await _marks(database) == []


async def test_run_transaction_sees_what_transaction_wrote_and_the_other_way_round(
    database: Database,
) -> None:
    async with database.transaction() as conn:
        await conn.execute(text("INSERT INTO once_marks VALUES ('a', 'w', '2030-01-01 00:00:00')"))

    seen = await database.run_transaction(
        lambda conn: list(conn.execute(text("SELECT key FROM once_marks")).scalars()), write=False
    )
    await database.run_transaction(_insert_mark("b"))

    assert seen == ["a"]
    assert await _marks(database) == ["a", "b"]


async def test_sqlite_increments_through_both_kinds_of_transaction_never_lose_an_update(
    tmp_path: Path,
) -> None:
    database = await Database.connect(f"sqlite:///{tmp_path / 'bot.db'}")
    try:
        assert await _count_to_twenty(database) == 20
    finally:
        await database.close()


async def _count_to_twenty(database: Database) -> int:
    """Ten read-then-write transactions across awaits and ten thread-free ones, all at once."""
    await database.run_transaction(lambda conn: conn.execute(text("CREATE TABLE counter (n INTEGER)")))
    await database.run_transaction(lambda conn: conn.execute(text("INSERT INTO counter VALUES (0)")))

    def increment_now(conn: Connection) -> None:
        conn.execute(text("UPDATE counter SET n = n + 1"))

    async def increment_across_awaits() -> None:
        async with database.transaction(write=True) as conn:
            n = (await conn.execute(text("SELECT n FROM counter"))).scalar_one()
            await asyncio.sleep(0)
            await conn.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})

    await asyncio.gather(
        *(increment_across_awaits() for _ in range(10)),
        *(database.run_transaction(increment_now) for _ in range(10)),
    )
    return int(
        await database.run_transaction(
            lambda conn: conn.execute(text("SELECT n FROM counter")).scalar_one(), write=False
        )
    )


def _completes_without_suspending(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` one step: it must finish in it, never handing control back to the event loop."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return cast(T, done.value)
    coroutine.close()
    raise AssertionError("the coroutine suspended (it waited for a thread or a lock)")


async def test_a_sqlite_transaction_runs_without_a_thread_hop_once_warm(tmp_path: Path) -> None:
    database = await Database.connect(f"sqlite:///{tmp_path / 'bot.db'}")
    try:
        await database.migrate()
        await database.run_transaction(_insert_mark("warm-up"))

        written = _completes_without_suspending(database.run_transaction(_insert_mark("a")))
        read = _completes_without_suspending(
            database.run_transaction(lambda conn: conn.execute(text("SELECT 1")).scalar_one(), write=False)
        )
    finally:
        await database.close()
    assert (written, read) == (2, 1)


_HOLD_THE_WRITE_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO once_marks VALUES ('other-process', 'w', '2030-01-01 00:00:00')")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
"""


async def test_a_write_waits_off_the_event_loop_while_another_process_holds_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    database = await Database.connect(f"sqlite:///{path}")
    other = None
    try:
        await database.migrate()
        await database.run_transaction(_insert_mark("warm-up"))
        other = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _HOLD_THE_WRITE_LOCK,
            str(path),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert other.stdout is not None
        assert other.stdin is not None
        assert (await other.stdout.readline()).strip() == b"locked"

        write = asyncio.create_task(database.run_transaction(_insert_mark("ours")))
        ticks = 0
        while ticks < 20:  # the event loop keeps running other work while the write waits
            await asyncio.sleep(0.01)
            ticks += 1
        assert not write.done()

        other.stdin.write(b"go\n")
        await other.stdin.drain()
        assert await write == 3
        assert await other.wait() == 0
    finally:
        if other is not None and other.returncode is None:
            other.kill()
            await other.wait()
        await database.close()
    assert await _marks_of(path) == ["other-process", "ours", "warm-up"]


async def _marks_of(path: Path) -> list[str]:
    database = await Database.connect(f"sqlite:///{path}")
    try:
        return await _marks(database)
    finally:
        await database.close()


@pytest.mark.parametrize("through", ["run_transaction", "transaction"])
async def test_a_sqlite_writer_gives_up_after_the_busy_timeout_as_a_busy_database_does(
    tmp_path: Path, through: str
) -> None:
    database = Database.build(f"sqlite:///{tmp_path / 'bot.db'}", sqlite_busy_timeout_seconds=0.2)
    holding, release = asyncio.Event(), asyncio.Event()

    async def hold_the_write_lock() -> None:
        async with database.transaction(write=True) as conn:
            await conn.execute(text("SELECT 1"))
            holding.set()
            await release.wait()

    async def write() -> None:
        if through == "run_transaction":
            await database.run_transaction(lambda conn: conn.execute(text("SELECT 1")))
        else:
            async with database.transaction(write=True) as conn:
                await conn.execute(text("SELECT 1"))

    holder = asyncio.create_task(hold_the_write_lock())
    try:
        await holding.wait()
        with pytest.raises(OperationalError, match="database is locked"):
            await write()
    finally:
        release.set()
        await holder
        await database.close()


async def test_sqlite_keeps_a_fixed_pool_and_more_concurrent_transactions_queue_for_it(
    tmp_path: Path,
) -> None:
    database = await Database.connect(f"sqlite:///{tmp_path / 'bot.db'}")
    inside = most_inside = 0
    pool_in_use, go = asyncio.Event(), asyncio.Event()

    async def read() -> int:
        nonlocal inside, most_inside
        async with database.transaction(write=False) as conn:
            inside += 1
            most_inside = max(most_inside, inside)
            if inside == SQLITE_POOL_SIZE:
                pool_in_use.set()
            await go.wait()
            value = int((await conn.execute(text("SELECT 1"))).scalar_one())
            inside -= 1
            return value

    try:
        readers = [asyncio.create_task(read()) for _ in range(3 * SQLITE_POOL_SIZE)]
        await pool_in_use.wait()
        go.set()
        assert await asyncio.gather(*readers) == [1] * (3 * SQLITE_POOL_SIZE)
    finally:
        await database.close()
    assert most_inside == SQLITE_POOL_SIZE


async def test_run_transaction_from_another_thread_goes_through_aiosqlite(tmp_path: Path) -> None:
    database = await Database.connect(f"sqlite:///{tmp_path / 'bot.db'}")
    try:
        await database.migrate()
        await database.run_transaction(_insert_mark("loop-thread"))

        count = await asyncio.to_thread(asyncio.run, database.run_transaction(_insert_mark("other-thread")))

        assert count == 2
        assert await _marks(database) == ["loop-thread", "other-thread"]
    finally:
        await database.close()
