"""``kv_items``: JSON documents under string keys with etag optimistic concurrency (bot state lives here).

Every turn reads and writes bot state, so each method is one :meth:`Database.run_transaction` (on SQLite
that runs without a thread hop, see :mod:`storage.database`) of statements built once per dialect with
bound parameters: only the values change from call to call, and SQLAlchemy reuses the compiled SQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple, cast

from sqlalchemy import Connection, Executable, Table, bindparam, delete, select, update

from storage._sql import chunks, dialect_insert, unique
from storage.clock import Clock, utc_now
from storage.database import Database
from storage.errors import ConcurrencyError
from storage.models import KvItem

#: The etag meaning "write whatever is stored" (botbuilder's convention).
ANY_ETAG = "*"

_TABLE = cast(Table, KvItem.__table__)


class Versioned(NamedTuple):
    """A stored value and the etag it was stored under."""

    value_json: str
    etag: str


@dataclass(frozen=True, slots=True)
class _Statements:
    """The four statements of this table for one dialect (bound parameter names start with ``p_``)."""

    read: Executable
    upsert: Executable
    swap: Executable
    delete: Executable


@cache
def _statements(dialect_name: str) -> _Statements:
    columns = _TABLE.c
    keys = bindparam("p_keys", expanding=True, type_=columns.key.type)
    row: dict[str, Any] = {
        "value_json": bindparam("p_value_json", type_=columns.value_json.type),
        "etag": bindparam("p_new_etag", type_=columns.etag.type),
        "updated_at": bindparam("p_updated_at", type_=columns.updated_at.type),
    }
    insert = dialect_insert(dialect_name, _TABLE).values(
        key=bindparam("p_key", type_=columns.key.type), **row
    )
    return _Statements(
        read=select(columns.key, columns.value_json, columns.etag).where(columns.key.in_(keys)),
        upsert=insert.on_conflict_do_update(index_elements=[columns.key], set_=row),
        # The etag test and the write are one statement: of several writers holding the same etag exactly
        # one matches, on SQLite (single writer) and PostgreSQL (row lock) alike.
        swap=update(_TABLE)
        .where(columns.key == bindparam("p_key"), columns.etag == bindparam("p_etag"))
        .values(**row)
        .returning(columns.key),
        delete=delete(_TABLE).where(columns.key.in_(keys)).returning(columns.key),
    )


class KeyValueStore:
    """Read, write (compare-and-swap on etags) and delete JSON values by key. Atomic on both databases.

    Each successful write gives the item a new random etag. A write that passes an etag only succeeds if
    the stored item still has exactly that etag; ``None`` or ``"*"`` writes unconditionally.
    """

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        """Use ``database``; ``clock`` stamps ``updated_at``."""
        self._db = database
        self._clock = clock

    async def read(self, keys: Iterable[str]) -> dict[str, Versioned]:
        """Return the stored items among ``keys``; missing keys are simply absent from the result."""
        wanted = unique(keys)
        if not wanted:
            return {}
        statement = _statements(self._db.dialect_name).read

        def read_rows(conn: Connection) -> dict[str, Versioned]:
            found: dict[str, Versioned] = {}
            for batch in chunks(wanted):
                for key, value_json, etag in conn.execute(statement, {"p_keys": batch}):
                    found[key] = Versioned(value_json, etag)
            return found

        return await self._db.run_transaction(read_rows, write=False)

    async def write(self, key: str, value_json: str, etag: str | None = None) -> str:
        """Store ``value_json`` under ``key``; return the new etag.

        Raises :class:`ConcurrencyError` when ``etag`` is a concrete etag and the stored item has another
        one or no longer exists; ``ValueError`` for an empty etag (it cannot match anything).
        """
        return (await self.write_many({key: (value_json, etag)}))[key]

    async def write_many(self, items: Mapping[str, tuple[str, str | None]]) -> dict[str, str]:
        """Write several ``{key: (value_json, etag)}`` items in one transaction: all succeed or none do.

        Returns the new etag of each key.
        """
        for key, (_, etag) in items.items():
            if etag == "":
                raise ValueError(f"empty etag for key {key!r}: pass None or '*' to write unconditionally")
        if not items:
            return {}
        now = self._clock()
        statements = _statements(self._db.dialect_name)

        def write_rows(conn: Connection) -> dict[str, str]:
            new_etags: dict[str, str] = {}
            # A fixed order of row locks: two batches over the same keys cannot deadlock on PostgreSQL.
            for key in sorted(items):
                value_json, etag = items[key]
                new_etag = uuid.uuid4().hex
                values = _row(key, value_json, new_etag, now)
                if etag is None or etag == ANY_ETAG:
                    conn.execute(statements.upsert, values)
                elif conn.execute(statements.swap, {**values, "p_etag": etag}).first() is None:
                    raise ConcurrencyError(key, etag)
                new_etags[key] = new_etag
            return new_etags

        return await self._db.run_transaction(write_rows, write=True)

    async def delete(self, keys: Iterable[str]) -> int:
        """Delete ``keys`` (unknown keys are ignored); return how many items were deleted."""
        wanted = unique(keys)
        if not wanted:
            return 0
        statement = _statements(self._db.dialect_name).delete

        def delete_rows(conn: Connection) -> int:
            return sum(len(conn.execute(statement, {"p_keys": batch}).all()) for batch in chunks(wanted))

        return await self._db.run_transaction(delete_rows, write=True)


def _row(key: str, value_json: str, new_etag: str, now: datetime) -> dict[str, Any]:
    return {"p_key": key, "p_value_json": value_json, "p_new_etag": new_etag, "p_updated_at": now}
