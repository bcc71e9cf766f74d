"""The throwaway-PostgreSQL helpers other suites rely on: finding binaries, recycling databases cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from storage.database import Database
from storage.jobs import JobQueue
from tests.support import postgres as support


def _fake_bin(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for program in ("initdb", "pg_ctl"):
        (folder / program).write_text("#!/bin/sh\n")
    return folder


def test_bin_dir_from_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = _fake_bin(tmp_path / "custom")
    monkeypatch.setenv(support.BIN_DIR_ENV, str(chosen))
    assert support.find_bin_dir() == chosen


def test_newest_debian_version_is_chosen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(support.BIN_DIR_ENV, raising=False)
    for version in ("9.6", "15", "16"):
        _fake_bin(tmp_path / version / "bin")
    monkeypatch.setattr(support, "DEBIAN_PG_ROOT", tmp_path)
    assert support.find_bin_dir() == tmp_path / "16" / "bin"


def test_no_binaries_means_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(support.BIN_DIR_ENV, raising=False)
    monkeypatch.setattr(support, "DEBIAN_PG_ROOT", tmp_path / "absent")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert support.find_bin_dir() is None


@pytest.mark.postgres
async def test_recycled_database_comes_back_without_rows(postgres_url: str) -> None:
    pool = support._MigratedPool()
    url = await pool.take(postgres_url)
    db = await Database.connect(url)
    await JobQueue(db).enqueue("k", "{}")
    await db.close()
    await pool.give_back(postgres_url, url)

    again = await pool.take(postgres_url)
    db = await Database.connect(again)
    try:
        assert again == url
        assert sum((await JobQueue(db).counts()).values()) == 0
        assert (await JobQueue(db).enqueue("k", "{}")).job.id == 1
    finally:
        await db.close()
        await pool.give_back(postgres_url, again)


@pytest.mark.postgres
async def test_database_whose_schema_changed_is_not_reused(postgres_url: str) -> None:
    pool = support._MigratedPool()
    url = await pool.take(postgres_url)
    db = await Database.connect(url)
    async with db.transaction() as conn:
        await conn.execute(text("DROP TABLE once_marks"))
    await db.close()
    await pool.give_back(postgres_url, url)
    fresh = await pool.take(postgres_url)
    await pool.give_back(postgres_url, fresh)
    assert fresh != url
