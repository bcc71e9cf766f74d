"""The product as a user meets it: the sandbox tenant and the real bot, served from background threads.

Both live for a whole test module (the Playground needs the bot up across sync browser tests and async
API tests). The bot runs in sandbox mode exactly as `make run` starts it, except that its database and
the sandbox's state live in a temporary folder and the ports are free ones.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from app import create_app
from sandbox.testing import SandboxThread
from settings import load_settings
from tests.support.playground import AppThread


class ProductStack:
    """``with ProductStack(tmp) as stack:`` -> ``stack.bot_endpoint``, ``stack.sandbox.tenant``."""

    def __init__(self, data_dir: Path, **settings: Any) -> None:
        self.data_dir = data_dir
        self.sandbox = SandboxThread()
        self._settings = settings
        self._bot: AppThread | None = None

    @property
    def bot_endpoint(self) -> str:
        assert self._bot is not None
        return f"{self._bot.url}/api/messages"

    def __enter__(self) -> Self:
        self.sandbox.start()
        settings = load_settings(
            bot_mode="sandbox",
            data_dir=self.data_dir,
            graph_base_url=self.sandbox.base_url,
            **self._settings,
        )

        async def make_app() -> web.Application:
            return create_app(settings)

        self._bot = AppThread(make_app).__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._bot is not None:
            self._bot.__exit__(kind, error, trace)
        self.sandbox.stop()
