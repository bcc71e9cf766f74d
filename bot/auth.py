"""Inbound token validation and outbound credentials for the Bot Framework connection.

Three things the stock botbuilder-python 4.17 set-up gets wrong for us (FACTS.md):

* ``CloudAdapter`` maps only ``PermissionError`` to 401; forged tokens raise PyJWT errors, ``IndexError``
  (unknown kid) or bare ``Exception`` (alg, endorsements) and come out as 500. A token without ``exp`` is
  accepted. :class:`StrictBotFrameworkAuthentication` turns every validation failure into 401 and
  requires ``exp``.
* The stock credentials factory builds a new MSAL client, hence a new token request, on every turn.
  :class:`CachingCredentialsFactory` keeps one credentials object per (app, scope, login endpoint).
* MSAL refuses ``http://`` authorities, so a local identity server (tests) cannot be used through it.
  For a *loopback* login URL only, :class:`ClientCredentialsGrant` does the plain OAuth 2.0
  client-credentials request itself.
"""

from __future__ import annotations

import logging
import threading
import time
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import requests
from botbuilder.integration.aiohttp import ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity
from botframework.connector.auth import (
    AppCredentials,
    AuthenticateRequestResult,
    AuthenticationConstants,
    CertificateServiceClientCredentialsFactory,
    PasswordServiceClientCredentialFactory,
    ServiceClientCredentialsFactory,
)
from msrest.authentication import Authentication
from msrest.universal_http.requests import ClientRetryPolicy

from settings import Settings, is_loopback_host

log = logging.getLogger(__name__)

#: The issuer of tokens the Bot Connector service sends to bots.
BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"


class StrictBotFrameworkAuthentication(ConfigurationBotFrameworkAuthentication):  # type: ignore[misc]
    """Every failure to validate an inbound token is a ``PermissionError`` (401), never a 500.

    Failures to *fetch* the OpenID metadata or keys stay server errors: they are our outage, not the
    caller's fault, and turning them into 401 would hide it.
    """

    async def authenticate_request(self, activity: Activity, auth_header: str) -> AuthenticateRequestResult:
        try:
            result = await super().authenticate_request(activity, auth_header)
        except (PermissionError, requests.RequestException):
            raise
        except Exception as err:
            # The exception text can quote token contents; log the type only.
            raise PermissionError(f"Unauthorized: {type(err).__name__}") from err
        identity = result.claims_identity
        validated = identity is not None and (
            identity.authentication_type != AuthenticationConstants.ANONYMOUS_AUTH_TYPE
        )
        if validated and "exp" not in (identity.claims or {}):
            # PyJWT only checks `exp` when present; a token that never expires is a forgery risk.
            raise PermissionError("Unauthorized: token has no expiry")
        return result


class ClientCredentialsGrant(AppCredentials):  # type: ignore[misc]
    """OAuth 2.0 client-credentials against ``{login_endpoint}/oauth2/v2.0/token``, for loopback only.

    botbuilder calls ``get_access_token`` synchronously on the event loop; the token is cached until a
    minute before it expires, so that happens once an hour.
    """

    def __init__(self, app_id: str, password: str, oauth_scope: str, login_endpoint: str) -> None:
        super().__init__(app_id=app_id, oauth_scope=oauth_scope)
        self._token_url = f"{login_endpoint.rstrip('/')}/oauth2/v2.0/token"
        self._password = password
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    def get_access_token(self, force_refresh: bool = False) -> str:
        with self._lock:
            if self._token and not force_refresh and time.time() < self._expires_at - 60:
                return self._token
            scope = (
                self.oauth_scope if self.oauth_scope.endswith("/.default") else f"{self.oauth_scope}/.default"
            )
            response = requests.post(
                self._token_url,
                timeout=10,
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.microsoft_app_id,
                    "client_secret": self._password,
                    "scope": scope,
                },
            )
            if response.status_code != 200:
                raise PermissionError(f"token endpoint answered {response.status_code}")
            body = response.json()
            self._token = str(body["access_token"])
            self._expires_at = time.time() + int(body.get("expires_in", 3600))
            return self._token


class CachingCredentialsFactory(ServiceClientCredentialsFactory):  # type: ignore[misc]
    """Wraps botbuilder's password or certificate factory and keeps the credentials it creates.

    ``create_credentials`` runs for every inbound activity (connector and user-token client); reusing
    the credentials object reuses its token cache instead of asking Entra for a new token per turn.
    """

    def __init__(self, inner: ServiceClientCredentialsFactory, *, app_id: str, password: str | None) -> None:
        self._inner = inner
        self._app_id = app_id
        self._password = password
        self._cache: dict[tuple[str, str, str], Authentication] = {}
        self._lock = threading.Lock()

    async def is_valid_app_id(self, app_id: str) -> bool:
        return bool(await self._inner.is_valid_app_id(app_id))

    async def is_authentication_disabled(self) -> bool:
        return bool(await self._inner.is_authentication_disabled())

    async def create_credentials(
        self, app_id: str, oauth_scope: str, login_endpoint: str, validate_authority: bool
    ) -> Authentication:
        key = (app_id, oauth_scope or "", login_endpoint or "")
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        if await self.is_authentication_disabled():
            created = await self._inner.create_credentials(
                app_id, oauth_scope, login_endpoint, validate_authority
            )
        elif not await self.is_valid_app_id(app_id):
            raise PermissionError("Invalid app_id")
        elif login_endpoint and _is_loopback_url(login_endpoint):
            if self._password is None:
                raise PermissionError("a loopback login endpoint needs a client secret")
            created = ClientCredentialsGrant(app_id, self._password, oauth_scope, login_endpoint)
        else:
            created = await self._inner.create_credentials(
                app_id, oauth_scope, login_endpoint, validate_authority
            )
        with self._lock:
            return self._cache.setdefault(key, created)


def _is_loopback_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and is_loopback_host(parts.hostname or "")


def credentials_factory_for(settings: Settings) -> CachingCredentialsFactory:
    """The outbound credentials factory the settings ask for (secret or certificate; none in sandbox)."""
    app_id = settings.bot_app_id or ""
    password = settings.bot_app_password.get_secret_value() if settings.bot_app_password else None
    tenant = settings.bot_app_tenant_id
    inner: ServiceClientCredentialsFactory
    if settings.bot_certificate_thumbprint and settings.bot_certificate_private_key_path:
        private_key = settings.bot_certificate_private_key_path.read_text(encoding="utf-8")
        inner = CertificateServiceClientCredentialsFactory(
            app_id=app_id,
            certificate_thumbprint=settings.bot_certificate_thumbprint,
            certificate_private_key=private_key,
            tenant_id=tenant,
        )
    else:
        inner = PasswordServiceClientCredentialFactory(app_id, password, tenant)
    return CachingCredentialsFactory(inner, app_id=app_id, password=password)


def bot_framework_configuration(settings: Settings) -> SimpleNamespace:
    """The upper-case configuration object botbuilder reads with ``getattr``.

    Setting any ``TO_*`` endpoint switches botbuilder to its "parameterized" path, which then needs all
    of them; so either none is set (Microsoft's public cloud) or all are.
    """
    values: dict[str, Any] = {
        "APP_ID": settings.bot_app_id or "",
        "APP_PASSWORD": settings.bot_app_password.get_secret_value() if settings.bot_app_password else "",
        "APP_TYPE": settings.bot_app_type,
        "APP_TENANTID": settings.bot_app_tenant_id or "",
    }
    if settings.bot_openid_metadata_url or settings.bot_login_url or settings.bot_token_issuer:
        default_login = (
            f"{AuthenticationConstants.TO_CHANNEL_FROM_BOT_LOGIN_URL_PREFIX}{settings.bot_app_tenant_id}"
        )
        metadata = str(
            settings.bot_openid_metadata_url
            or AuthenticationConstants.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL
        )
        values.update(
            TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL=metadata,
            TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL=metadata,
            TO_BOT_FROM_CHANNEL_TOKEN_ISSUER=settings.bot_token_issuer or BOT_FRAMEWORK_ISSUER,
            TO_CHANNEL_FROM_BOT_LOGIN_URL=str(settings.bot_login_url or default_login),
            TO_CHANNEL_FROM_BOT_OAUTH_SCOPE=settings.bot_oauth_scope
            or AuthenticationConstants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE,
            CALLER_ID="urn:botframework:azure",
            VALIDATE_AUTHORITY=True,
        )
    return SimpleNamespace(**values)


def create_bot_authentication(settings: Settings) -> StrictBotFrameworkAuthentication:
    """The authentication the adapter uses; strict in every mode."""
    return StrictBotFrameworkAuthentication(
        bot_framework_configuration(settings), credentials_factory=credentials_factory_for(settings)
    )


def speed_up_msrest_retry_policy() -> None:
    """Make msrest's retry-policy construction cheap (about 6 ms of every turn, FACTS.md).

    ``ClientRetryPolicy.__init__`` builds a list comprehension over ``safe_codes`` (a list of ~400 ints,
    searched linearly per element); a frozenset gives the same membership answers in O(1).
    """
    if not isinstance(ClientRetryPolicy.safe_codes, frozenset):
        ClientRetryPolicy.safe_codes = frozenset(ClientRetryPolicy.safe_codes)  # type: ignore[assignment]
