"""Typed settings, read from the environment and `.env`, validated once at start-up.

Two modes:

* ``production`` (the default): every credential must be given; a missing one stops start-up with a
  message naming the variable. There is no silent downgrade to unauthenticated operation.
* ``sandbox``: must be asked for explicitly (``BOT_MODE=sandbox``). The bot then accepts the Agents
  Playground's unauthenticated calls, talks to the local sandbox tenant, and listens on loopback only.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Self

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The sandbox tenant's fixed identifiers. They match ``playground/.m365agentsplayground.yml`` and the
#: sandbox seed, so that `make run` works with no configuration at all.
SANDBOX_TENANT_ID = "7d1f5a3e-0c2b-4e8a-9f61-2b7c4d9e8a10"
SANDBOX_REQUESTERS_GROUP_ID = "6a000000-0000-4000-8000-000000000001"
SANDBOX_APPROVERS_GROUP_ID = "6a000000-0000-4000-8000-000000000002"
SANDBOX_ADMINS_GROUP_ID = "6a000000-0000-4000-8000-000000000003"
SANDBOX_VENDOR_ACCOUNTS_GROUP_ID = "6a000000-0000-4000-8000-000000000004"
SANDBOX_GRAPH_URL = "http://127.0.0.1:3979/v1.0"
PUBLIC_GRAPH_URL = "https://graph.microsoft.com/v1.0"
_CONFIG_DIR = Path(__file__).resolve().parent / "config"
SANDBOX_ONBOARDING_CONFIG = _CONFIG_DIR / "onboarding.example.toml"
SANDBOX_SEGMENTS_CATALOG = _CONFIG_DIR / "segments.example.toml"


class Mode(StrEnum):
    PRODUCTION = "production"
    SANDBOX = "sandbox"


class SettingsError(Exception):
    """Settings are missing or invalid; the message names every offending variable."""


Seconds = Annotated[float, Field(gt=0)]


class Settings(BaseSettings):
    """Every variable the bot reads. README's settings table documents each one."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", case_sensitive=False, extra="ignore", frozen=True
    )

    bot_mode: Mode = Mode.PRODUCTION
    bot_host: str = "127.0.0.1"
    bot_port: int = Field(default=3978, ge=1, le=65535)
    log_level: str = "INFO"
    data_dir: Path = Path("data")
    database_url: str | None = None

    # Bot identity (Azure Bot registration).
    bot_app_id: str | None = None
    bot_app_password: SecretStr | None = None
    bot_certificate_thumbprint: str | None = None
    bot_certificate_private_key_path: Path | None = None
    bot_app_tenant_id: str | None = None
    bot_app_type: str = "SingleTenant"
    allowed_tenant_id: str | None = None
    # Bot Framework endpoints; set only to point token validation at another identity server (tests).
    bot_openid_metadata_url: AnyHttpUrl | None = None
    bot_token_issuer: str | None = None
    bot_login_url: AnyHttpUrl | None = None
    bot_oauth_scope: str | None = None
    #: Service URLs the bot may send to; an activity whose serviceUrl is not under one of these is refused.
    allowed_service_url_prefixes: tuple[str, ...] = ("https://smba.trafficmanager.net/",)

    # Microsoft Graph (the identity that creates and licenses accounts).
    graph_base_url: str | None = None
    graph_tenant_id: str | None = None
    graph_client_id: str | None = None
    graph_client_secret: SecretStr | None = None
    graph_certificate_path: Path | None = None
    graph_use_managed_identity: bool = False
    graph_managed_identity_client_id: str | None = None

    # Roles: Entra security groups (object ids).
    requesters_group_id: str | None = None
    approvers_group_id: str | None = None
    admins_group_id: str | None = None
    vendor_accounts_group_id: str | None = None
    role_cache_seconds: Seconds = 60.0

    #: Key that encrypts temporary passwords until they are revealed (urlsafe base64, 32 bytes; Fernet).
    secrets_key: SecretStr | None = None

    max_request_bytes: int = Field(default=256 * 1024, ge=1024)

    # Onboarding policy: naming, access duration, license profiles; and the information-barrier catalog.
    onboarding_config_path: Path | None = None
    segments_catalog_path: Path | None = None
    #: How long after provisioning the requester may reveal the temporary password (once).
    password_reveal_hours: float = Field(default=24.0, gt=0, le=24 * 14)
    #: Identifies this process in job leases and once-marks; defaults to host name and PID.
    instance_id: str | None = None
    #: How often the background worker looks for due jobs when idle.
    worker_poll_seconds: Seconds = 0.5
    #: How long a claimed job stays leased without a heartbeat: after a crash, another instance (or the
    #: restarted one) takes the job over once this has passed.
    worker_lease_seconds: Seconds = 60.0

    @property
    def sandbox(self) -> bool:
        return self.bot_mode is Mode.SANDBOX

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{(self.data_dir / 'bot.db').as_posix()}"

    @property
    def effective_graph_base_url(self) -> str:
        url = self.graph_base_url or (SANDBOX_GRAPH_URL if self.sandbox else PUBLIC_GRAPH_URL)
        return url.rstrip("/")

    @model_validator(mode="after")
    def _check_mode(self) -> Self:
        if self.sandbox:
            return self._check_sandbox()
        return self._check_production()

    def _check_sandbox(self) -> Self:
        if not is_loopback_host(self.bot_host):
            raise ValueError(
                f"BOT_HOST={self.bot_host!r}: sandbox mode accepts unauthenticated calls and listens on "
                "loopback only (127.0.0.1, ::1 or localhost)"
            )
        if self.bot_app_id or self.bot_app_password:
            raise ValueError("BOT_APP_ID/BOT_APP_PASSWORD are set: sandbox mode runs without bot credentials")
        # Fill the sandbox tenant's fixed ids where nothing was configured (frozen model: bypass setattr).
        defaults = {
            "onboarding_config_path": SANDBOX_ONBOARDING_CONFIG,
            "segments_catalog_path": SANDBOX_SEGMENTS_CATALOG,
            "allowed_tenant_id": SANDBOX_TENANT_ID,
            "requesters_group_id": SANDBOX_REQUESTERS_GROUP_ID,
            "approvers_group_id": SANDBOX_APPROVERS_GROUP_ID,
            "admins_group_id": SANDBOX_ADMINS_GROUP_ID,
            "vendor_accounts_group_id": SANDBOX_VENDOR_ACCOUNTS_GROUP_ID,
            "allowed_service_url_prefixes": ("http://localhost:", "http://127.0.0.1:"),
        }
        for name, value in defaults.items():
            if name not in self.model_fields_set:
                object.__setattr__(self, name, value)
        return self

    def _check_production(self) -> Self:
        missing = [name.upper() for name in _PRODUCTION_REQUIRED if not getattr(self, name)]
        if not (
            self.bot_app_password
            or (self.bot_certificate_thumbprint and self.bot_certificate_private_key_path)
        ):
            missing.append(
                "BOT_APP_PASSWORD (or BOT_CERTIFICATE_THUMBPRINT + BOT_CERTIFICATE_PRIVATE_KEY_PATH)"
            )
        if not self.graph_use_managed_identity:
            missing += [n.upper() for n in ("graph_tenant_id", "graph_client_id") if not getattr(self, n)]
            if not (self.graph_client_secret or self.graph_certificate_path):
                missing.append(
                    "GRAPH_CLIENT_SECRET (or GRAPH_CERTIFICATE_PATH, or GRAPH_USE_MANAGED_IDENTITY=true)"
                )
        if missing:
            raise ValueError(
                "production mode needs these settings: "
                + ", ".join(missing)
                + " (or set BOT_MODE=sandbox to run against the local sandbox tenant)"
            )
        return self


_PRODUCTION_REQUIRED = (
    "onboarding_config_path",
    "bot_app_id",
    "bot_app_tenant_id",
    "allowed_tenant_id",
    "requesters_group_id",
    "approvers_group_id",
    "admins_group_id",
    "secrets_key",
)


def is_loopback_host(host: str) -> bool:
    """True for localhost and any loopback address (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment and `.env`; raise :class:`SettingsError` with a readable message."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as err:
        problems = []
        for error in err.errors():
            where = ".".join(str(part).upper() for part in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{where}: {message}" if where else message)
        raise SettingsError("invalid settings:\n  " + "\n  ".join(problems)) from None
