"""Serve the real bot (``app.create_app``) on 127.0.0.1 and a free port, inside a test's event loop."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

from app import create_app
from settings import load_settings

#: Placeholder production credentials: never valid anywhere, only present so the settings load.
PRODUCTION_PLACEHOLDERS = {
    "graph_tenant_id": "00000000-0000-0000-0000-000000000000",
    "graph_client_id": "00000000-0000-0000-0000-000000000000",
    "graph_client_secret": "placeholder-not-a-secret",
    "requesters_group_id": "6a000000-0000-4000-8000-000000000001",
    "approvers_group_id": "6a000000-0000-4000-8000-000000000002",
    "admins_group_id": "6a000000-0000-4000-8000-000000000003",
    "secrets_key": "m9yGJ2cx7y2bq0YQpZ4x3m3xB3J0qk7n1cYv5c9lV2w=",
    "onboarding_config_path": str(Path(__file__).resolve().parents[2] / "config" / "onboarding.example.toml"),
}


class OfflineDirectory:
    """A Graph stand-in for tests about the Teams side only: answers role checks from a dict."""

    def __init__(self, members: dict[str, set[str]] | None = None) -> None:
        self.members = members or {}
        self.role_checks: list[str] = []

    async def warm_up(self) -> None:
        return None

    async def reachable(self) -> bool:
        return True

    async def close(self) -> None:
        return None

    async def check_member_groups(self, user_id: str, group_ids: Iterable[str]) -> frozenset[str]:
        self.role_checks.append(user_id)
        return frozenset(set(group_ids) & self.members.get(user_id, set()))

    async def group_member_ids(self, group_id: str) -> frozenset[str]:
        return frozenset(user for user, groups in self.members.items() if group_id in groups)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def running_bot(
    data_dir: Path, *, production: bool, graph: Any = None, port: int | None = None, **overrides: Any
) -> AsyncIterator[str]:
    """Start the bot; yields its ``/api/messages`` URL. SQLite lives in ``data_dir``."""
    values: dict[str, Any] = {"data_dir": data_dir, "bot_mode": "production" if production else "sandbox"}
    if production:
        values |= PRODUCTION_PLACEHOLDERS
    values |= overrides
    settings = load_settings(**values)
    gateway: Any = graph if graph is not None else OfflineDirectory()
    app = create_app(settings, graph=gateway)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    bound = port or free_port()
    site = web.TCPSite(runner, "127.0.0.1", bound)
    await site.start()
    try:
        yield f"http://127.0.0.1:{bound}/api/messages"
    finally:
        await runner.cleanup()
