"""``python -m sandbox``: run the sandbox tenant on loopback; ``python -m sandbox reset``: restore the seed.

Flags: ``--host`` (loopback only), ``--port`` (3979), ``--data-dir`` (./data), ``--reset`` (start from
the seed), ``--enable-control`` (serve the ``/_sandbox`` control endpoint).
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from sandbox.persistence import DEFAULT_DATA_DIR, load_or_seed, reset, state_file
from sandbox.server import create_app

log = logging.getLogger("sandbox")

DEFAULT_PORT = 3979


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox", description="Local Microsoft Graph sandbox tenant"
    )
    parser.add_argument("command", nargs="?", choices=("serve", "reset"), default="serve")
    parser.add_argument(
        "--host", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="where the state file lives")
    parser.add_argument("--reset", action="store_true", help="start from the seed, discarding saved state")
    parser.add_argument("--enable-control", action="store_true", help="serve the /_sandbox control endpoint")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    path = state_file(args.data_dir)
    if args.command == "reset":
        reset(path)
        log.info("sandbox tenant reset to its seed in %s", path)
        return 0
    if not _is_loopback(args.host):
        # The sandbox accepts any bearer token and (with control) can be steered: never expose it.
        print(
            f"refusing to listen on {args.host!r}: the sandbox tenant serves loopback only", file=sys.stderr
        )
        return 2
    tenant = load_or_seed(path, reset=args.reset)
    app = create_app(tenant, control=args.enable_control, data_file=path)
    log.info(
        "sandbox tenant %s (%s) serving Microsoft Graph v1.0 at http://%s:%d/v1.0, state %s, "
        "control endpoint %s",
        tenant.organization.get("displayName"),
        tenant.tenant_id,
        args.host,
        args.port,
        path,
        "enabled" if args.enable_control else "disabled",
    )
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
