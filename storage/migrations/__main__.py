"""Developer commands for migrations (no alembic.ini needed).

    python -m storage.migrations revision "add onboarding requests"        # empty revision to fill in
    python -m storage.migrations revision --autogenerate "add requests"    # drafted from storage/models.py
    python -m storage.migrations upgrade [DATABASE_URL]                     # what the bot does at start
    python -m storage.migrations current [DATABASE_URL]

``--autogenerate`` compares the models with a temporary SQLite database migrated to head, so it needs no
server; read the draft before committing it (partial indexes and check constraints need a human eye).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from storage.database import Database, alembic_config

DEFAULT_URL = "sqlite+aiosqlite:///data/bot.db"


def _next_revision_id() -> str:
    """Sequential ids (0001, 0002, ...) read better in file listings than random hex."""
    script = ScriptDirectory.from_config(alembic_config())
    return f"{len(list(script.walk_revisions())) + 1:04d}"


async def _revision(message: str, autogenerate: bool) -> None:
    config = alembic_config()
    rev_id = _next_revision_id()
    if not autogenerate:
        command.revision(config, message=message, rev_id=rev_id)
        return
    with tempfile.TemporaryDirectory() as folder:
        database = await Database.connect(f"sqlite+aiosqlite:///{Path(folder) / 'head.db'}")
        try:
            await database.migrate()

            def draft(conn: Connection) -> None:
                config.attributes["connection"] = conn
                command.revision(config, message=message, rev_id=rev_id, autogenerate=True)

            async with database.transaction(write=False) as conn:
                await conn.run_sync(draft)
        finally:
            await database.close()


async def _upgrade(url: str) -> None:
    database = await Database.connect(url)
    try:
        print(await database.migrate())
    finally:
        await database.close()


async def _current(url: str) -> None:
    database = await Database.connect(url)
    try:
        print(await database.current_revision())
    finally:
        await database.close()


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run one command; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m storage.migrations", description=__doc__.split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    revision = commands.add_parser("revision", help="create a new migration file")
    revision.add_argument("message")
    revision.add_argument("--autogenerate", action="store_true", help="draft it from storage/models.py")
    for name in ("upgrade", "current"):
        sub = commands.add_parser(name, help=f"{name} a database (default: $DATABASE_URL or {DEFAULT_URL})")
        sub.add_argument("url", nargs="?", default=os.environ.get("DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args(argv)
    if args.command == "revision":
        asyncio.run(_revision(args.message, args.autogenerate))
    elif args.command == "upgrade":
        asyncio.run(_upgrade(args.url))
    else:
        asyncio.run(_current(args.url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
