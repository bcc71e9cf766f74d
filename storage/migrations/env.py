"""Alembic environment: runs on the connection ``Database.migrate()`` hands over (no alembic.ini)."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection

from storage.columns import UTCDateTime
from storage.models import Base

config = context.config


def _render_item(kind: str, item: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Write ``UTCDateTime`` columns as plain ``sa.DateTime(timezone=True)`` in generated migrations.

    Migrations stay self-contained (no import of today's models); the type only matters to Python code.
    """
    if kind == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_item=_render_item,
        # SQLite cannot ALTER most things: batch mode copies the table instead, on both databases alike.
        render_as_batch=True,
        compare_type=True,
        # Database.migrate() emits BEGIN itself on SQLite too, so DDL is transactional on both databases.
        transactional_ddl=True,
    )


def run_migrations_offline() -> None:
    """Render SQL for a URL without connecting (``--sql``), e.g. for a DBA to review."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=Base.metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate on the caller's connection, inside the caller's transaction."""
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("migrations run through storage.Database.migrate(), which passes a connection")
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
