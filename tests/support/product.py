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
from tests.support.playground import AppThread, awaiting

_RUNNING_JOB = re.compile(r"job-\d+-.+")


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

        With ``interrupt_jobs`` the job worker is cut off first, as a crash would: its loop and the job it
        runs are cancelled, so the job's lease stays held until it runs out (set a short
        ``worker_lease_seconds``) and the new bot claims the job again. Returns how many jobs were cut
        off. Without it the bot stops as on SIGTERM (running jobs get their grace) and this returns 0.
        """
        bot = self._bot
        assert bot is not None
        loop = bot._loop  # the thread's own loop: the only way to reach its tasks
        cut = 0
        if interrupt_jobs and loop is not None:

            async def cut_off() -> int:
                # Cancel the worker's loop (app.py names it "job-worker"): that cancels the job it awaits
                # ("job-<id>-<kind>") once, and the job's heartbeat with it, and nothing of the worker runs
                # on. Cancelling the job as well would cancel it twice, cutting into its own clean-up (a
                # rollback), which neither a crash nor a stop does.
                tasks = asyncio.all_tasks()
                running = [t for t in tasks if _RUNNING_JOB.fullmatch(t.get_name()) and not t.done()]
                workers = [t for t in tasks if t.get_name() == "job-worker"]
                for worker in workers:
                    worker.cancel()
                _, stuck = await asyncio.wait([*workers, *running], timeout=8)
                if stuck:
                    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                    where = "".join(f"task {t.get_name()}:\n{awaiting(t.get_coro())}" for t in others)
                    raise RuntimeError(f"the cut-off tasks did not end within 8 s; the bot's tasks:\n{where}")
                return len(running)

            cut = asyncio.run_coroutine_threadsafe(cut_off(), loop).result(10)
        port = bot.port
        bot.__exit__(None, None, None)
        self._bot = None
        try:
            self._start_bot(port)
        except RuntimeError as err:
            # What the old bot left running (a task inside a transaction keeps SQLite's write lock).
            left = [t for t in asyncio.all_tasks(loop) if not t.done()] if loop is not None else []
            where = "".join(f"old task {t.get_name()}:\n{awaiting(t.get_coro())}" for t in left)
            raise RuntimeError(f"{err}\n{where or 'the old bot left no task running'}") from err
        return cut

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._bot is not None:
            self._bot.__exit__(kind, error, trace)
        self.sandbox.stop()
