"""Run the sandbox tenant inside tests: on a free loopback port, in this event loop or in a thread.

::

    async with running_sandbox() as sb:
        client.request_adapter.base_url = sb.base_url      # http://127.0.0.1:<port>/v1.0
        sb.tenant.faults.inject("throttle", route="POST /users", times=2)
        ...
        assert sb.tenant.seats("MICROSOFT_REMOTE_ASSIST") == (1, 25)

    with SandboxThread() as sb:                            # its own loop in a background thread
        ...
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from aiohttp import web

from sandbox.seed import seed_tenant
from sandbox.server import create_app
from sandbox.tenant import Tenant

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class RunningSandbox:
    """A started sandbox: where it listens and its live tenant."""

    port: int
    tenant: Tenant

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:<port>`` (the control endpoint lives under ``/_sandbox`` here)."""
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def base_url(self) -> str:
        """The Graph base URL for msgraph-sdk: ``http://127.0.0.1:<port>/v1.0``, no trailing slash."""
        return f"{self.origin}/v1.0"


async def _start(
    tenant: Tenant, control: bool, data_file: Path | None, port: int
) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(create_app(tenant, control=control, data_file=data_file), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, LOOPBACK, port)
    await site.start()
    return runner, int(runner.addresses[0][1])


@asynccontextmanager
async def running_sandbox(
    tenant: Tenant | None = None, *, control: bool = True, data_file: Path | None = None, port: int = 0
) -> AsyncIterator[RunningSandbox]:
    """Serve ``tenant`` (a fresh seed when None) on a free loopback port in the current event loop."""
    live = tenant if tenant is not None else seed_tenant()
    runner, bound = await _start(live, control, data_file, port)
    try:
        yield RunningSandbox(bound, live)
    finally:
        await runner.cleanup()


class SandboxThread:
    """The sandbox on its own event loop in a daemon thread, for code that must not share the loop.

    ``start()`` returns once the server listens; ``stop()`` shuts it down. The tenant is shared with the
    caller's thread: read or change it with ``tenant.lock`` held when requests may be in flight.
    """

    def __init__(
        self,
        tenant: Tenant | None = None,
        *,
        control: bool = True,
        data_file: Path | None = None,
        port: int = 0,
    ) -> None:
        self.tenant = tenant if tenant is not None else seed_tenant()
        self._control = control
        self._data_file = data_file
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1.0`` once started."""
        return f"http://{LOOPBACK}:{self.port}/v1.0"

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:<port>`` once started."""
        return f"http://{LOOPBACK}:{self.port}"

    def start(self, timeout: float = 10.0) -> SandboxThread:
        """Start serving; raise if the server did not come up within ``timeout`` seconds."""
        if self._thread is not None:
            raise RuntimeError("already started")
        self._thread = threading.Thread(target=self._run, name="sandbox-tenant", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the sandbox tenant did not start in time")
        if self._error is not None:
            raise RuntimeError("the sandbox tenant failed to start") from self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        finally:
            loop.close()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        try:
            runner, self.port = await _start(self.tenant, self._control, self._data_file, self._port)
        except BaseException as err:  # reported to start()
            self._error = err
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            await runner.cleanup()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and join the thread."""
        if self._thread is None:
            return
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout)
        self._thread = None

    def __enter__(self) -> SandboxThread:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
