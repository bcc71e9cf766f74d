"""Database: URL handling, SQLite pragmas, transactions, health check, settings."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from sqlalchemy import text

from settings import Settings
from storage.database import Database, normalize_url
from storage.errors import DatabaseUnavailableError


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
