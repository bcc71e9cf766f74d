"""``cli bulk import``: a CSV of contractors checked against the sandbox tenant and stored in a real database
as one batch, with the job that asks the running bot to post its approval card."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from cli import app
from onboarding.bulk import BULK_COLUMNS
from provisioning.bulk import JOB_BULK_POST_CARD
from sandbox.testing import SandboxThread
from storage.database import Database
from tests.onboarding.test_bulk import to_csv

runner = CliRunner()
ALICE_UPN = "alice@abc.onmicrosoft.com"


@pytest.fixture
def sandbox() -> Iterator[SandboxThread]:
    running = SandboxThread().start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def database_url(
    tmp_path: Path, sandbox: SandboxThread, monkeypatch: pytest.MonkeyPatch, any_migrated_database_url: str
) -> str:
    """The bot's settings for the command (sandbox mode, this sandbox) and a migrated, empty database
    (SQLite, and as a second case PostgreSQL)."""
    monkeypatch.setenv("BOT_MODE", "sandbox")
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GRAPH_BASE_URL", sandbox.base_url)
    monkeypatch.setenv("DATABASE_URL", any_migrated_database_url)
    return any_migrated_database_url


def rows(count: int) -> list[dict[str, str]]:
    end = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
    return [
        {
            "vendor_company": "Tailspin",
            "first_name": "Tom",
            "last_name": f"Pilot{chr(ord('a') + n)}",
            "contractor_email": f"tom{n}@tailspin.example",
            "usage_location": "FR",
            "license_profile": "remote-assist-technician",
            "end_date": end,
            "sponsor_upn": "",
            "segment": "",
        }
        for n in range(count)
    ]


def write(tmp_path: Path, content: list[dict[str, str]]) -> Path:
    path = tmp_path / "crew.csv"
    path.write_text(to_csv(content, BULK_COLUMNS), encoding="utf-8")
    return path


def stored(url: str) -> tuple[int, int, list[str]]:
    """(batches, requests in them, kinds of queued jobs) in the database."""

    async def read() -> tuple[int, int, list[str]]:
        database = await Database.connect(url)
        try:
            async with database.engine.connect() as connection:
                kinds = [r[0] for r in await connection.execute(text("select kind from jobs"))]
                batches = (await connection.execute(text("select count(*) from bulk_batches"))).scalar_one()
                requests = (await connection.execute(text("select count(*) from bulk_rows"))).scalar_one()
            return int(batches), int(requests), kinds
        finally:
            await database.close()

    return asyncio.run(read())


def test_a_good_file_becomes_one_batch_and_asks_the_bot_to_post_its_card(
    tmp_path: Path, database_url: str
) -> None:
    result = runner.invoke(app, ["bulk", "import", str(write(tmp_path, rows(3))), "--as", ALICE_UPN])
    assert result.exit_code == 0, result.output
    assert "3 of 3 row(s) stored" in result.output
    assert stored(database_url) == (1, 3, [JOB_BULK_POST_CARD])


def test_every_bad_row_is_reported_at_once_and_the_good_rows_are_still_stored(
    tmp_path: Path, database_url: str
) -> None:
    content = rows(4)
    content[0]["contractor_email"] = "not-an-address"
    content[2]["usage_location"] = "XX"
    result = runner.invoke(app, ["bulk", "import", str(write(tmp_path, content)), "--as", ALICE_UPN])
    assert result.exit_code == 1, result.output
    assert "Row 2, contractor_email" in result.output
    assert "Row 4, usage_location" in result.output
    assert stored(database_url)[:2] == (1, 2)


def test_a_dry_run_stores_nothing(tmp_path: Path, database_url: str) -> None:
    result = runner.invoke(
        app, ["bulk", "import", str(write(tmp_path, rows(2))), "--as", ALICE_UPN, "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert "would be stored" in result.output
    assert stored(database_url) == (0, 0, [])


def test_an_unknown_submitter_stops_with_status_2(tmp_path: Path, database_url: str) -> None:
    result = runner.invoke(app, ["bulk", "import", str(write(tmp_path, rows(1))), "--as", "nobody@abc.com"])
    assert result.exit_code == 2
    assert "nobody@abc.com" in result.output
    assert stored(database_url) == (0, 0, [])
