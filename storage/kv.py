"""``kv_items``: JSON documents under string keys with etag optimistic concurrency (bot state lives here)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from sqlalchemy import delete, select, update

from storage._sql import chunks, dialect_insert, unique
from storage.clock import Clock, utc_now
from storage.database import Database
from storage.errors import ConcurrencyError
from storage.models import KvItem

#: The etag meaning "write whatever is stored" (botbuilder's convention).
ANY_ETAG = "*"


class Versioned(NamedTuple):
    """A stored value and the etag it was stored under."""

    value_json: str
    etag: str


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
        found: dict[str, Versioned] = {}
        if not wanted:
            return found
        async with self._db.transaction(write=False) as conn:
            for batch in chunks(wanted):
                rows = await conn.execute(
                    select(KvItem.key, KvItem.value_json, KvItem.etag).where(KvItem.key.in_(batch))
                )
                for key, value_json, etag in rows:
                    found[key] = Versioned(value_json, etag)
        return found

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
        new_etags: dict[str, str] = {}
        if not items:
            return new_etags
        now = self._clock()
        async with self._db.transaction(write=True) as conn:
            # A fixed order of row locks: two batches over the same keys cannot deadlock on PostgreSQL.
            for key in sorted(items):
                value_json, etag = items[key]
                new_etag = uuid.uuid4().hex
                if etag is None or etag == ANY_ETAG:
                    insert = dialect_insert(self._db.dialect_name, KvItem).values(
                        key=key, value_json=value_json, etag=new_etag, updated_at=now
                    )
                    await conn.execute(
                        insert.on_conflict_do_update(
                            index_elements=[KvItem.key],
                            set_={"value_json": value_json, "etag": new_etag, "updated_at": now},
                        )
                    )
                else:
                    # The etag test and the write are one statement: of several writers holding the same
                    # etag exactly one matches, on SQLite (single writer) and PostgreSQL (row lock) alike.
                    result = await conn.execute(
                        update(KvItem)
                        .where(KvItem.key == key, KvItem.etag == etag)
                        .values(value_json=value_json, etag=new_etag, updated_at=now)
                        .returning(KvItem.key)
                    )
                    if result.first() is None:
                        raise ConcurrencyError(key, etag)
                new_etags[key] = new_etag
        return new_etags

    async def delete(self, keys: Iterable[str]) -> int:
        """Delete ``keys`` (unknown keys are ignored); return how many items were deleted."""
        wanted = unique(keys)
        deleted = 0
        if not wanted:
            return deleted
        async with self._db.transaction(write=True) as conn:
            for batch in chunks(wanted):
                result = await conn.execute(delete(KvItem).where(KvItem.key.in_(batch)).returning(KvItem.key))
                deleted += len(result.all())
        return deleted
