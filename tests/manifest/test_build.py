"""Rendering the template and writing the package zip, through the functions and the command line."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from manifest.build import (
    SANDBOX_PLACEHOLDER_APP_ID,
    BuildError,
    InvalidManifestError,
    ManifestValues,
    build_package,
    fill_placeholders,
    main,
    render_manifest,
)
from manifest.validate import validate_package

from .conftest import APP_ID

_SETTINGS_ENV = ("BOT_MODE", "BOT_APP_ID", "BOT_APP_PASSWORD")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, schema_root: Path) -> Path:
    """No settings from the environment or a `.env` file leak into the command line tests."""
    for name in _SETTINGS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _read_zip(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


# --- rendering ------------------------------------------------------------------------------------------


def test_rendering_fills_app_id_version_and_domains(values: ManifestValues) -> None:
    manifest = render_manifest(values)
    assert manifest["bots"][0]["botId"] == APP_ID
    assert manifest["version"] == "1.2.3"
    assert manifest["validDomains"] == ["bot.contoso.com"]


def test_package_id_is_derived_from_the_app_id_and_stable() -> None:
    first = ManifestValues(app_id=APP_ID, version="1.0.0").effective_package_id
    again = ManifestValues(app_id=APP_ID.upper(), version="2.0.0").effective_package_id
    other = ManifestValues(
        app_id="9d8c7b6a-1111-4222-8333-944455556666", version="1.0.0"
    ).effective_package_id
    assert first == again
    assert first != other
    assert first != APP_ID


def test_configured_package_id_wins(values: ManifestValues) -> None:
    package_id = "6f9619ff-8b86-4d11-b42d-00c04fc964ff"
    manifest = render_manifest(ManifestValues(app_id=APP_ID, version="1.0.0", package_id=package_id))
    assert manifest["id"] == package_id


def test_list_placeholder_splices_its_items() -> None:
    template = {"validDomains": ["a.example", "${{DOMAINS}}"], "note": "v${{V}}"}
    assert fill_placeholders(template, {"DOMAINS": ("b.example", "c.example"), "V": "1"}) == {
        "validDomains": ["a.example", "b.example", "c.example"],
        "note": "v1",
    }


def test_empty_list_placeholder_leaves_no_item() -> None:
    assert fill_placeholders({"validDomains": ["${{DOMAINS}}"]}, {"DOMAINS": ()}) == {"validDomains": []}


def test_values_are_not_json_escaped_by_hand() -> None:
    # Substitution works on parsed JSON, so a quote in a value cannot break the document.
    assert fill_placeholders({"name": "${{N}}"}, {"N": 'Contoso "IT"'}) == {"name": 'Contoso "IT"'}


def test_placeholder_without_value_is_an_error() -> None:
    with pytest.raises(BuildError, match="MISSING"):
        fill_placeholders({"name": "${{MISSING}}"}, {})


# --- the package ----------------------------------------------------------------------------------------


def test_package_holds_manifest_and_icons_at_its_root(
    values: ManifestValues, tmp_path: Path, schema_root: Path
) -> None:
    out = tmp_path / "build" / "appPackage.zip"
    build_package(values, out, schema_root=schema_root)
    assert sorted(_read_zip(out)) == ["color.png", "manifest.json", "outline.png"]


def test_packaged_manifest_validates(values: ManifestValues, tmp_path: Path, schema_root: Path) -> None:
    out = tmp_path / "appPackage.zip"
    build_package(values, out, schema_root=schema_root)
    files = _read_zip(out)
    manifest: dict[str, Any] = json.loads(files.pop("manifest.json"))
    assert validate_package(manifest, files, schema_root) == []
    assert manifest["bots"][0]["botId"] == APP_ID


def test_same_inputs_give_identical_packages(
    values: ManifestValues, tmp_path: Path, schema_root: Path
) -> None:
    build_package(values, tmp_path / "one.zip", schema_root=schema_root)
    build_package(values, tmp_path / "two.zip", schema_root=schema_root)
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()


def test_invalid_manifest_is_not_written(tmp_path: Path, schema_root: Path) -> None:
    values = ManifestValues(app_id=APP_ID, version="1.0.0", developer_name="x" * 40)
    out = tmp_path / "appPackage.zip"
    with pytest.raises(InvalidManifestError) as raised:
        build_package(values, out, schema_root=schema_root)
    assert raised.value.problems == ("/developer/name: '" + "x" * 40 + "' is too long",)
    assert list(tmp_path.iterdir()) == []


def test_prerelease_version_is_rejected(tmp_path: Path, schema_root: Path) -> None:
    values = ManifestValues(app_id=APP_ID, version="1.0.0rc1")
    with pytest.raises(InvalidManifestError, match=r"/version: '1\.0\.0rc1' is not MAJOR\.MINOR\.PATCH"):
        build_package(values, tmp_path / "appPackage.zip", schema_root=schema_root)


# --- the command line -----------------------------------------------------------------------------------


def test_cli_writes_the_package_for_the_given_app_id(
    clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--app-id", APP_ID, "--out", "out/appPackage.zip", "--valid-domain", "bot.contoso.com"]) == 0
    manifest = json.loads(_read_zip(clean_env / "out" / "appPackage.zip")["manifest.json"])
    assert manifest["bots"][0]["botId"] == APP_ID
    assert manifest["validDomains"] == ["bot.contoso.com"]
    assert f"app id {APP_ID}" in capsys.readouterr().out


def test_cli_takes_the_app_id_from_settings(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Only BOT_APP_ID: packaging must not need the bot's other production credentials.
    monkeypatch.setenv("BOT_APP_ID", APP_ID)
    assert main(["--out", "appPackage.zip"]) == 0
    manifest = json.loads(_read_zip(clean_env / "appPackage.zip")["manifest.json"])
    assert manifest["bots"][0]["botId"] == APP_ID


def test_cli_in_sandbox_uses_the_placeholder_and_says_so(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BOT_MODE", "sandbox")
    assert main(["--out", "appPackage.zip"]) == 0
    manifest = json.loads(_read_zip(clean_env / "appPackage.zip")["manifest.json"])
    assert manifest["bots"][0]["botId"] == SANDBOX_PLACEHOLDER_APP_ID
    assert f"placeholder {SANDBOX_PLACEHOLDER_APP_ID}" in capsys.readouterr().err


def test_cli_reads_the_app_id_from_a_dot_env_file(clean_env: Path) -> None:
    (clean_env / ".env").write_text(f"BOT_APP_ID={APP_ID}\n")
    assert main(["--out", "appPackage.zip"]) == 0
    manifest = json.loads(_read_zip(clean_env / "appPackage.zip")["manifest.json"])
    assert manifest["bots"][0]["botId"] == APP_ID


def test_cli_without_app_id_or_settings_exits_2_naming_the_fix(
    clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--out", "appPackage.zip"]) == 2
    assert "--app-id" in capsys.readouterr().err
    assert not (clean_env / "appPackage.zip").exists()


def test_cli_rejects_an_app_id_that_is_not_a_guid(
    clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--app-id", "28:vendor-onboarding-bot"]) == 2
    assert "is not a GUID" in capsys.readouterr().err


def test_cli_exits_1_with_the_problems_when_the_manifest_is_invalid(
    clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--app-id", APP_ID, "--out", "appPackage.zip", "--valid-domain", "https://x.example"]) == 1
    assert "/validDomains/0: 'https://x.example' must be a host name" in capsys.readouterr().err
    assert not (clean_env / "appPackage.zip").exists()
