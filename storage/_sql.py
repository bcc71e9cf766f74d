"""Small SQL helpers shared by the repositories (private to the package)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

#: Both dialects' INSERT with ``ON CONFLICT`` support; they share the methods used here.
UpsertInsert = sqlite.Insert | postgresql.Insert

#: Keys per ``IN (...)`` list: far below SQLite's and asyncpg's bound-parameter limits.
CHUNK = 500


def dialect_insert(dialect_name: str, table: Any) -> UpsertInsert:
    """An ``INSERT`` for ``table`` that supports ``on_conflict_do_*`` on this dialect."""
    if dialect_name == "postgresql":
        return postgresql.insert(table)
    if dialect_name == "sqlite":
        return sqlite.insert(table)
    raise ValueError(f"unsupported dialect {dialect_name!r}")


def chunks(items: Iterable[str], size: int = CHUNK) -> Iterator[list[str]]:
    """Split ``items`` into lists of at most ``size``."""
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def unique(items: Iterable[str]) -> list[str]:
    """``items`` without repeats, in first-seen order."""
    return list(dict.fromkeys(items))
