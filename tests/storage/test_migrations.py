"""Migrations: from empty to head on both databases, idempotent, concurrent-safe, matching the models."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect

from storage.database import Database, alembic_config, head_revision
from storage.models import Base

TABLES = {
    "kv_items",
    "conversation_refs",
    "jobs",
    "audit_events",
    "once_marks",
    "onboarding_requests",
    "provisioning_steps",
    "credential_vault",
    "service_accounts",
    "lifecycle_requests",
    "lifecycle_steps",
    "offboardings",
    "segment_changes",
    "bulk_batches",
    "bulk_rows",
    "alembic_version",
}


@pytest.fixture
async def empty_database(any_database_url: str) -> AsyncIterator[Database]:
    db = await Database.connect(any_database_url)
    try:
        yield db
    finally:
        await db.close()


def _table_names(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


async def test_empty_database_has_no_revision(empty_database: Database) -> None:
    assert await empty_database.current_revision() is None


async def test_migrate_brings_an_empty_database_to_head(empty_database: Database) -> None:
    assert await empty_database.migrate() == head_revision()
    async with empty_database.transaction(write=False) as conn:
        assert await conn.run_sync(_table_names) == TABLES


async def test_migrating_again_changes_nothing(empty_database: Database) -> None:
    await empty_database.migrate()
    assert await empty_database.migrate() == head_revision()
    assert await empty_database.current_revision() == head_revision()


async def test_models_match_the_migrated_schema(empty_database: Database) -> None:
    await empty_database.migrate()

    def differences(conn: Connection) -> list[object]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with empty_database.transaction(write=False) as conn:
        assert await conn.run_sync(differences) == []


async def test_two_instances_migrating_at_once_both_succeed(any_database_url: str) -> None:
    first, second = await Database.connect(any_database_url), await Database.connect(any_database_url)
    try:
        revisions = await asyncio.gather(first.migrate(), second.migrate())
    finally:
        await first.close()
        await second.close()
    assert list(revisions) == [head_revision(), head_revision()]


async def test_downgrade_to_base_and_up_again(empty_database: Database) -> None:
    await empty_database.migrate()

    def downgrade(conn: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, "base")

    async with empty_database.transaction(write=True) as conn:
        await conn.run_sync(downgrade)
    async with empty_database.transaction(write=False) as conn:
        assert await conn.run_sync(_table_names) <= {"alembic_version"}
    assert await empty_database.migrate() == head_revision()
