"""Fixtures for the storage tests: a migrated database on SQLite and on PostgreSQL, and a clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from storage.database import Database
from tests.support.postgres import (  # noqa: F401
    any_database_url,
    any_migrated_database_url,
    postgres_database_url,
    postgres_url,
)

START = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)


class FakeClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def database(any_migrated_database_url: str) -> AsyncIterator[Database]:  # noqa: F811
    """A migrated, empty database; each test runs once on SQLite and once on PostgreSQL."""
    db = await Database.connect(any_migrated_database_url)
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
async def second_database(
    database: Database,
    any_migrated_database_url: str,  # noqa: F811
) -> AsyncIterator[Database]:
    """Another engine on the same database, as a second bot instance would have."""
    db = await Database.connect(any_migrated_database_url)
    try:
        yield db
    finally:
        await db.close()
