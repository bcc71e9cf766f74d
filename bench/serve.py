"""A bot under test, in its own process: ``python -m bench.serve {ours,stock} [options]``.

* ``ours``: :func:`app.create_app` with sandbox-mode settings (SQLite in ``--data-dir``, Graph at
  ``--graph-url``), logging configured as ``python app.py`` configures it;
* ``stock``: :func:`bench.stock_echo.create_stock_echo_app`.

Either is instrumented by :func:`bench.instrument.instrument`, served on a free loopback port, and
announces itself with one JSON line ``{"port": <port>}`` on stdout once it accepts requests (for ours,
after start-up, including the Graph warm-up). It runs until its standard input closes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from bench.instrument import instrument
from bench.processes import until_stdin_closes

LOOPBACK = "127.0.0.1"


def _ours(graph_url: str, data_dir: Path, log_level: str) -> web.Application:
    from app import create_app
    from observability import configure_logging
    from settings import load_settings

    settings = load_settings(
        bot_mode="sandbox", graph_base_url=graph_url, data_dir=data_dir, log_level=log_level
    )
    configure_logging(settings.log_level)
    return create_app(settings)


def _stock() -> web.Application:
    from bench.stock_echo import create_stock_echo_app

    return create_stock_echo_app()


async def serve(app: web.Application) -> None:
    """Serve ``app`` on a free loopback port until standard input closes."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, LOOPBACK, 0)
        await site.start()
        print(json.dumps({"port": int(runner.addresses[0][1])}), flush=True)
        await until_stdin_closes()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m bench.serve``."""
    parser = argparse.ArgumentParser(prog="python -m bench.serve")
    parser.add_argument("bot", choices=("ours", "stock"))
    parser.add_argument("--graph-url", default="")
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    if args.bot == "ours":
        if not args.graph_url:
            parser.error("ours needs --graph-url (the sandbox tenant)")
        app = _ours(args.graph_url, args.data_dir, args.log_level)
    else:
        app = _stock()
    asyncio.run(serve(instrument(app)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
