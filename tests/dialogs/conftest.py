"""Fixtures for the wizard dialog tests: a migrated database (SQLite, then PostgreSQL), the state storage
on it, a fake service."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from dialogs.onboarding_wizard import OnboardingWizard
from storage import Database
from tests.dialogs.harness import Chat, RecordingBackend, new_wizard, storage_on


@pytest.fixture
def database_url(any_database_url: str) -> str:
    """An empty database of its own per test, on each backend (a restart test opens it a second time)."""
    return any_database_url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = await Database.connect(database_url)
    await db.migrate()
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
def backend() -> RecordingBackend:
    return RecordingBackend()


@pytest.fixture
def wizard(database: Database, backend: RecordingBackend) -> OnboardingWizard:
    return new_wizard(storage_on(database), backend)


@pytest.fixture
def chat(wizard: OnboardingWizard) -> Chat:
    return Chat(wizard)
