"""Settings fail fast and name what is missing; sandbox mode is explicit and loopback-only."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from settings import SANDBOX_TENANT_ID, Mode, SettingsError, load_settings

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION = {
    "bot_app_id": "00000000-0000-0000-0000-0000000000b0",
    "bot_app_password": "not-a-real-secret",
    "bot_app_tenant_id": "tenant",
    "allowed_tenant_id": "tenant",
    "graph_tenant_id": "tenant",
    "graph_client_id": "graph-app",
    "graph_client_secret": "not-a-real-secret",
    "requesters_group_id": "g1",
    "approvers_group_id": "g2",
    "admins_group_id": "g3",
    "secrets_key": "k" * 44,
    "onboarding_config_path": str(ROOT / "config" / "onboarding.example.toml"),
}


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("BOT_", "GRAPH_")) or name in {
            "DATABASE_URL",
            "SECRETS_KEY",
            "ALLOWED_TENANT_ID",
        }:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env from the working tree


def test_production_is_the_default_and_names_every_missing_setting() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    for name in (
        "BOT_APP_ID",
        "BOT_APP_PASSWORD",
        "BOT_APP_TENANT_ID",
        "ALLOWED_TENANT_ID",
        "GRAPH_CLIENT_SECRET",
        "REQUESTERS_GROUP_ID",
        "APPROVERS_GROUP_ID",
        "ADMINS_GROUP_ID",
        "SECRETS_KEY",
    ):
        assert name in message


@pytest.mark.parametrize("dropped", sorted(PRODUCTION))
def test_each_production_setting_is_required(dropped: str) -> None:
    values = {k: v for k, v in PRODUCTION.items() if k != dropped}
    with pytest.raises(SettingsError, match=dropped.upper()):
        load_settings(**values)


def test_complete_production_settings_load() -> None:
    settings = load_settings(**PRODUCTION)
    assert settings.bot_mode is Mode.PRODUCTION
    assert settings.effective_graph_base_url == "https://graph.microsoft.com/v1.0"


def test_managed_identity_replaces_the_graph_secret() -> None:
    values = {k: v for k, v in PRODUCTION.items() if not k.startswith("graph_")}
    settings = load_settings(**values, graph_use_managed_identity=True)
    assert settings.graph_use_managed_identity


def test_secrets_do_not_show_in_repr() -> None:
    settings = load_settings(**PRODUCTION)
    assert "not-a-real-secret" not in repr(settings)


def test_sandbox_fills_the_sandbox_tenant_and_stays_on_loopback() -> None:
    settings = load_settings(bot_mode="sandbox")
    assert settings.allowed_tenant_id == SANDBOX_TENANT_ID
    assert settings.effective_graph_base_url == "http://127.0.0.1:3979/v1.0"


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.5", "example.com", "::"])  # noqa: S104 - refused
def test_sandbox_refuses_a_non_loopback_listener(host: str) -> None:
    with pytest.raises(SettingsError, match="loopback"):
        load_settings(bot_mode="sandbox", bot_host=host)


def test_sandbox_refuses_bot_credentials() -> None:
    with pytest.raises(SettingsError, match="sandbox mode runs without bot credentials"):
        load_settings(bot_mode="sandbox", bot_app_id="x")


def test_the_bot_process_exits_non_zero_naming_what_is_missing(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, str(ROOT / "app.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "BOT_APP_ID" in result.stderr
    assert "GRAPH_CLIENT_SECRET" in result.stderr
