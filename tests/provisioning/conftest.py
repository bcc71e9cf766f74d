"""Fixtures for the Graph gateway tests: a fresh sandbox tenant per test and a gateway on it.

The gateway is the real one (real msgraph-sdk, real kiota middleware, real HTTP on loopback) with
small timeouts and retry budgets so fault tests stay fast; the sandbox answers Retry-After 1.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import pytest
from pydantic import SecretStr

from provisioning.directory import NewUser
from provisioning.graph import GraphGateway, GraphGatewayOptions, StaticTokenCredential
from sandbox.testing import RunningSandbox, running_sandbox

#: The sandbox's verified custom domain (seed).
DOMAIN = "abc.com"
PASSWORD = "Vq8#lantern-Orbit"

FAST = GraphGatewayOptions(
    connect_timeout=2.0,
    read_timeout=2.0,
    max_retries=3,
    retry_delay=0.0,
    transport_retries=2,
    transport_retry_delay=0.05,
    create_attempts=4,
    create_backoff=0.05,
    max_retry_after=5.0,
    replication_wait=5.0,
    replication_poll=0.1,
    reachable_timeout=1.0,
)

_serial = itertools.count(1)


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    """A freshly seeded sandbox tenant on a free loopback port."""
    async with running_sandbox() as running:
        yield running


@pytest.fixture
async def gateway(sandbox: RunningSandbox) -> AsyncIterator[GraphGateway]:
    """The gateway pointed at the sandbox, with test-sized timeouts and retries."""
    async with GraphGateway(sandbox.base_url, StaticTokenCredential(), options=FAST) as opened:
        yield opened


@pytest.fixture
async def make_gateway(sandbox: RunningSandbox) -> AsyncIterator[Callable[..., GraphGateway]]:
    """Build gateways on the sandbox with some of the FAST options changed; closed at teardown."""
    made: list[GraphGateway] = []

    def make(**changes: Any) -> GraphGateway:
        built = GraphGateway(sandbox.base_url, StaticTokenCredential(), options=replace(FAST, **changes))
        made.append(built)
        return built

    yield make
    for built in made:
        await built.close()


def new_user(**overrides: Any) -> NewUser:
    """A complete service-account spec with a unique UPN and marker."""
    n = next(_serial)
    values: dict[str, Any] = {
        "user_principal_name": f"sa-contoso-bob{n}@{DOMAIN}",
        "display_name": f"Bob Builder {n} (Contoso)",
        "mail_nickname": f"sa-contoso-bob{n}",
        "password": SecretStr(PASSWORD),
        "marker": f"VND-{n:06d}",
        "given_name": "Bob",
        "surname": "Builder",
        "usage_location": "DE",
        "company_name": "Contoso",
        "department": "Vendors",
        "other_mails": ("bob@contoso.example",),
        "extension_attributes": ((1, "Contoso"),),
    }
    values.update(overrides)
    return NewUser(**values)
