"""Fixtures: a fresh sandbox tenant per test and the real msgraph-sdk client pointed at it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_http.middleware.options import RetryHandlerOption
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.password_profile import PasswordProfile
from msgraph.generated.models.user import User
from msgraph.graph_service_client import GraphServiceClient

from sandbox.clock import ManualClock
from sandbox.seed import seed_tenant
from sandbox.tenant import Tenant
from sandbox.testing import RunningSandbox, running_sandbox

STRONG_PASSWORD = "Vq7#kLz2!mWp"


class StaticTokenCredential:
    """An azure-identity compatible async credential that hands out a fixed token."""

    def __init__(self, token: str = "sandbox-test-token") -> None:
        self.token = token

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> StaticTokenCredential:
        return self

    async def __aexit__(self, *args: object) -> None:
        return None


def make_client(base_url: str, token: str = "sandbox-test-token") -> GraphServiceClient:
    """A stock GraphServiceClient (default middleware, retries included) aimed at the sandbox."""
    client = GraphServiceClient(
        credentials=StaticTokenCredential(token), scopes=["https://graph.microsoft.com/.default"]
    )
    client.request_adapter.base_url = base_url
    return client


def no_retry(config: RequestConfiguration[Any] | None = None) -> RequestConfiguration[Any]:
    """A request configuration with the SDK's RetryHandler off, to see a single answer."""
    config = config or RequestConfiguration()
    config.options = [*(config.options or []), RetryHandlerOption(max_retries=0, should_retry=False)]
    return config


def new_user(name: str = "vendor1", **overrides: Any) -> User:
    """A valid create-user body for the sandbox's verified domain abc.com."""
    values: dict[str, Any] = {
        "account_enabled": True,
        "display_name": f"Vendor {name}",
        "mail_nickname": name,
        "user_principal_name": f"{name}@abc.com",
        "usage_location": "US",
        "password_profile": PasswordProfile(
            password=STRONG_PASSWORD, force_change_password_next_sign_in=True
        ),
    }
    values.update(overrides)
    return User(**values)


def headers(err: pytest.ExceptionInfo[ODataError]) -> dict[str, str]:
    """The response headers of a Graph error raised by the SDK."""
    return dict(err.value.response_headers or {})


def odata(err: pytest.ExceptionInfo[ODataError]) -> tuple[int | None, str | None, str | None]:
    """(status, code, message) of a Graph error raised by the SDK."""
    main = err.value.error
    return err.value.response_status_code, main.code if main else None, main.message if main else None


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def tenant(clock: ManualClock) -> Tenant:
    return seed_tenant(clock=clock)


@pytest.fixture
async def sb(tenant: Tenant) -> AsyncIterator[RunningSandbox]:
    async with running_sandbox(tenant) as running:
        yield running


@pytest.fixture
def client(sb: RunningSandbox) -> GraphServiceClient:
    return make_client(sb.base_url)


@pytest.fixture
def create(client: GraphServiceClient) -> Callable[..., Any]:
    """Create a user through the SDK and return it."""

    async def _create(name: str = "vendor1", **overrides: Any) -> User:
        created = await client.users.post(new_user(name, **overrides))
        assert created is not None
        return created

    return _create
