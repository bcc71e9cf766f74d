"""The product as a user meets it: the sandbox tenant and the real bot, served from background threads.

Both live for a whole test module (the Playground needs the bot up across sync browser tests and async
API tests). The bot runs in sandbox mode exactly as `make run` starts it, except that its database and
the sandbox's state live in a temporary folder and the ports are free ones.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from app import create_app
from sandbox.testing import SandboxThread
from settings import Settings, load_settings
from tests.support.playground import AppThread

_RUNNING_JOB = re.compile(r"job-\d+-.+")
_JOB_TASK = re.compile(r"job-worker|job-\d+-.+|heartbeat-\d+")


class ProductStack:
    """``with ProductStack(tmp) as stack:`` -> ``stack.bot_endpoint``, ``stack.sandbox.tenant``."""

    def __init__(self, data_dir: Path, *, database_url: str | None = None, **settings: Any) -> None:
        """``database_url``: the bot's database; None, its default SQLite file in ``data_dir``."""
        self.data_dir = data_dir
        self.sandbox = SandboxThread()
        self._settings = settings if database_url is None else {**settings, "database_url": database_url}
        self._bot: AppThread | None = None
        #: The bot's settings once started (its database URL, data folder, ports).
        self.settings: Settings | None = None

    @property
    def bot_endpoint(self) -> str:
        assert self._bot is not None
        return f"{self._bot.url}/api/messages"

    def __enter__(self) -> Self:
        self.sandbox.start()
        self.settings = load_settings(
            bot_mode="sandbox",
            data_dir=self.data_dir,
            graph_base_url=self.sandbox.base_url,
            **self._settings,
        )
        self._start_bot()
        return self

    def _start_bot(self, port: int = 0) -> None:
        settings = self.settings
        assert settings is not None

        async def make_app() -> web.Application:
            return create_app(settings)

        self._bot = AppThread(make_app, port=port).__enter__()

    def restart_bot(self, *, interrupt_jobs: bool = True) -> int:
        """Stop the bot and start a new one on the same data folder and port (the Playground keeps its URL).

        With ``interrupt_jobs`` the job worker is cut off first, as a crash would: its task, the job it runs
        and their heartbeats are cancelled, so the leases stay held until they run out (set a short
        ``worker_lease_seconds``) and the new bot claims the jobs again. Returns how many jobs were cut
        off. Without it the bot stops as on SIGTERM (running jobs get their grace) and this returns 0.
        """
        bot = self._bot
        assert bot is not None
        loop = bot._loop  # the thread's own loop: the only way to reach its tasks
        cut = 0
        if interrupt_jobs and loop is not None:

            async def cut_off() -> int:
                # app.py names the worker's loop "job-worker"; the worker names a running job
                # "job-<id>-<kind>" and its lease renewal "heartbeat-<id>". Cancelling the loop too matters:
                # a worker left running would claim the jobs again once their leases ran out, in the old bot.
                tasks = [t for t in asyncio.all_tasks() if _JOB_TASK.fullmatch(t.get_name()) and not t.done()]
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                return sum(1 for t in tasks if _RUNNING_JOB.fullmatch(t.get_name()))

            cut = asyncio.run_coroutine_threadsafe(cut_off(), loop).result(10)
        port = bot.port
        bot.__exit__(None, None, None)
        self._bot = None
        self._start_bot(port)
        return cut

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._bot is not None:
            self._bot.__exit__(kind, error, trace)
        self.sandbox.stop()
