"""The operator command line, run through typer's CliRunner against real files, a real database and a real
provisioning run on the sandbox tenant."""

from __future__ import annotations

import asyncio
import csv
import io
import zipfile
from pathlib import Path

from typer.testing import CliRunner

from cli import app
from onboarding.audit import AuditAction
from onboarding.segments import load_catalog, powershell_script
from sandbox.persistence import load_or_seed, save, state_file
from tests.provisioning.pipeline_fixtures import Pipeline, pipeline  # noqa: F401 - fixture
from tests.security.leaks import assert_no_secrets

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_CATALOG = ROOT / "config" / "segments.example.toml"
BROKEN_CATALOG = """
version = 1
[[segments]]
name = "Vendor - A"
kind = "vendor"
attribute = "Department"
value = "A"
[[segments]]
name = "Vendor - B"
kind = "vendor"
attribute = "Department"
value = "B"
[[policies]]
segment = "Vendor - A"
blocks = ["Vendor - B"]
"""

runner = CliRunner()


# ---------------------------------------------------------------------------- barriers


def test_barriers_script_writes_the_example_catalogs_script_byte_for_byte(tmp_path: Path) -> None:
    target = tmp_path / "ib.ps1"
    result = runner.invoke(
        app, ["barriers", "script", "--catalog", str(EXAMPLE_CATALOG), "--out", str(target)]
    )
    assert result.exit_code == 0, result.output
    expected = powershell_script(load_catalog(EXAMPLE_CATALOG)).encode("utf-8")
    assert target.read_bytes() == expected


def test_barriers_script_quotes_the_apostrophe_segment(tmp_path: Path) -> None:
    target = tmp_path / "ib.ps1"
    runner.invoke(app, ["barriers", "script", "--catalog", str(EXAMPLE_CATALOG), "--out", str(target)])
    lines = target.read_text(encoding="utf-8").splitlines()
    assert (
        "    New-OrganizationSegment -Name 'O''Brien Field Services' "
        "-UserGroupFilter 'Department -eq ''O''''Brien Field Services'''"
    ) in lines


def test_barriers_script_reports_warnings_on_stderr(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["barriers", "script", "--catalog", str(EXAMPLE_CATALOG), "--out", str(tmp_path / "ib.ps1")]
    )
    assert "warning:" in result.stderr
    assert "catalog OK" in result.stderr
    assert result.stdout == ""


def test_barriers_script_refuses_an_invalid_catalog_and_writes_nothing(tmp_path: Path) -> None:
    catalog = tmp_path / "segments.toml"
    catalog.write_text(BROKEN_CATALOG, encoding="utf-8")
    target = tmp_path / "ib.ps1"
    result = runner.invoke(app, ["barriers", "script", "--catalog", str(catalog), "--out", str(target)])
    assert result.exit_code == 1
    assert "error: " in result.stderr
    assert "Vendor - B" in result.stderr
    assert not target.exists()


def test_barriers_script_without_a_catalog_says_how_to_give_one(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["barriers", "script", "--out", str(tmp_path / "ib.ps1")], env={"SEGMENTS_CATALOG_PATH": ""}
    )
    assert result.exit_code == 2
    assert "--catalog" in result.stderr


# ---------------------------------------------------------------------------- audit + accounts


async def test_audit_export_has_every_transition_and_graph_write_and_no_password(
    pipeline: Pipeline,  # noqa: F811
    tmp_path: Path,
) -> None:
    stored = await pipeline.approved()
    await pipeline.runner().provision(stored.request.number)
    recorded = await pipeline.audit.for_request(stored.request.request_id)
    target = tmp_path / "audit.csv"
    url = str(pipeline.database.engine.url)
    result = await asyncio.to_thread(
        runner.invoke,
        app,
        [
            "audit",
            "export",
            "--from",
            "2000-01-01",
            "--to",
            "2100-12-31",
            "--out",
            str(target),
            "--database-url",
            url,
        ],
    )
    assert result.exit_code == 0, result.output
    text = target.read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    exported = {row["id"]: row["action"] for row in rows if row["request_id"] == stored.request.request_id}
    assert exported == {str(r.id): r.action for r in recorded}
    actions = set(exported.values())
    assert {AuditAction.PROVISIONING_STARTED, AuditAction.PROVISIONING_SUCCEEDED} <= actions
    assert {AuditAction.ACCOUNT_CREATED, AuditAction.LICENSES_ASSIGNED} <= actions
    passwords = [body["passwordProfile"]["password"] for body in pipeline.create_bodies.bodies]
    assert passwords
    assert_no_secrets([text], passwords)


async def test_audit_export_range_is_inclusive_of_both_days(pipeline: Pipeline, tmp_path: Path) -> None:  # noqa: F811
    from datetime import UTC, datetime

    for day in (9, 10, 11, 12):
        await pipeline.audit.append(
            "test.day", detail={"day": day}, at=datetime(2030, 1, day, 23, 59, tzinfo=UTC)
        )
    target = tmp_path / "audit.csv"
    result = await asyncio.to_thread(
        runner.invoke,
        app,
        [
            "audit",
            "export",
            "--from",
            "2030-01-10",
            "--to",
            "2030-01-11",
            "--out",
            str(target),
            "--database-url",
            str(pipeline.database.engine.url),
        ],
    )
    assert result.exit_code == 0, result.output
    days = [row["detail"] for row in csv.DictReader(io.StringIO(target.read_text(encoding="utf-8")))]
    assert days == ['{"day": 10}', '{"day": 11}']


def test_audit_export_refuses_reversed_dates(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["audit", "export", "--from", "2030-02-01", "--to", "2030-01-01", "--out", str(tmp_path / "a.csv")],
    )
    assert result.exit_code == 1
    assert not (tmp_path / "a.csv").exists()


def test_audit_export_names_a_database_without_tables(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    result = runner.invoke(
        app,
        [
            "audit",
            "export",
            "--from",
            "2030-01-01",
            "--to",
            "2030-01-02",
            "--out",
            "-",
            "--database-url",
            url,
        ],
    )
    assert result.exit_code == 2
    assert "no bot tables" in result.stderr


async def test_accounts_list_shows_a_provisioned_account(pipeline: Pipeline) -> None:  # noqa: F811
    stored = await pipeline.approved()
    await pipeline.runner().provision(stored.request.number)
    url = str(pipeline.database.engine.url)
    result = await asyncio.to_thread(
        runner.invoke, app, ["accounts", "list", "--database-url", url], env={"COLUMNS": "400"}
    )
    assert result.exit_code == 0, result.output
    assert stored.plan.upn in result.stdout
    assert "MICROSOFT_REMOTE_ASSIST" in result.stdout
    assert "1 account(s)" in result.stderr


async def test_a_narrow_terminal_shortens_the_other_columns_never_the_upn(pipeline: Pipeline) -> None:  # noqa: F811
    stored = await pipeline.approved()
    await pipeline.runner().provision(stored.request.number)
    url = str(pipeline.database.engine.url)
    result = await asyncio.to_thread(
        runner.invoke, app, ["accounts", "list", "--database-url", url], env={"COLUMNS": "50"}
    )
    assert result.exit_code == 0, result.output
    assert stored.plan.upn in result.stdout


async def test_accounts_list_filters_by_vendor(pipeline: Pipeline) -> None:  # noqa: F811
    stored = await pipeline.approved()
    await pipeline.runner().provision(stored.request.number)
    url = str(pipeline.database.engine.url)
    result = await asyncio.to_thread(
        runner.invoke,
        app,
        ["accounts", "list", "--vendor", "Fabrikam", "--database-url", url],
        env={"COLUMNS": "400"},
    )
    assert stored.plan.upn not in result.stdout
    assert "0 account(s)" in result.stderr


# ---------------------------------------------------------------------------- sandbox, package


def test_sandbox_reset_restores_the_seed_in_the_state_file(tmp_path: Path) -> None:
    path = state_file(tmp_path)
    tenant = load_or_seed(path)
    seeded = len(tenant.users)
    tenant.create_user(
        {
            "accountEnabled": True,
            "displayName": "Extra",
            "mailNickname": "extra",
            "userPrincipalName": "extra@abc.com",
            "passwordProfile": {"password": "Vq8#lantern-Orbit"},
        }
    )
    save(tenant, path)
    assert len(load_or_seed(path).users) == seeded + 1
    result = runner.invoke(app, ["sandbox", "reset", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert len(load_or_seed(path).users) == seeded


def test_package_builds_the_teams_app_zip(tmp_path: Path) -> None:
    target = tmp_path / "app.zip"
    result = runner.invoke(
        app, ["package", "--app-id", "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "--out", str(target)]
    )
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(target) as archive:
        assert "manifest.json" in archive.namelist()


def test_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    for command in ("sandbox", "package", "barriers", "audit", "accounts"):
        assert command in result.stdout
