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


def _next_number(migrations: Path) -> tuple[str, str]:
    """The number the next revision gets, and the current head's, from the files present."""
    numbers = sorted(int(p.name[:4]) for p in (migrations / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    return f"{numbers[-1] + 1:04d}", f"{numbers[-1]:04d}"


def test_revision_creates_the_next_numbered_file(migrations_copy: Path) -> None:
    following, head = _next_number(migrations_copy)
    main(["revision", "add onboarding requests"])
    created = migrations_copy / "versions" / f"{following}_add_onboarding_requests.py"
    assert created.exists()
    assert f'down_revision: str | None = "{head}"' in created.read_text()


def test_autogenerate_against_head_finds_nothing_to_change(migrations_copy: Path) -> None:
    following, _ = _next_number(migrations_copy)
    main(["revision", "--autogenerate", "nothing new"])
    text = (migrations_copy / "versions" / f"{following}_nothing_new.py").read_text()
    assert "op." not in text


def test_upgrade_command_migrates_the_given_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["upgrade", f"sqlite:///{tmp_path / 'bot.db'}"])
    assert capsys.readouterr().out.strip() == database_module.head_revision()
