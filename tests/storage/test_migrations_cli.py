"""The migration helper (`python -m storage.migrations`) drafts numbered revisions without alembic.ini."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from storage import database as database_module
from storage.migrations.__main__ import main


@pytest.fixture
def migrations_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # Work on a copy so the test never adds a revision to the real package.
    copy = tmp_path / "migrations"
    shutil.copytree(database_module.MIGRATIONS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(database_module, "MIGRATIONS_DIR", copy)
    return copy


def test_revision_creates_the_next_numbered_file(migrations_copy: Path) -> None:
    main(["revision", "add onboarding requests"])
    created = migrations_copy / "versions" / "0002_add_onboarding_requests.py"
    assert created.exists()
    assert 'down_revision: str | None = "0001"' in created.read_text()


def test_autogenerate_against_head_finds_nothing_to_change(migrations_copy: Path) -> None:
    main(["revision", "--autogenerate", "nothing new"])
    text = (migrations_copy / "versions" / "0002_nothing_new.py").read_text()
    assert "op." not in text


def test_upgrade_command_migrates_the_given_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["upgrade", f"sqlite:///{tmp_path / 'bot.db'}"])
    assert capsys.readouterr().out.strip() == database_module.head_revision()
