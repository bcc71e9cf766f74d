"""``once_marks``: make "do X once for key K" idempotent across instances.

The expiry scheduler, for instance, sends the "3 days left" reminder for an account only if
``await marks.claim(f"reminder:3d:{account_id}:{end_date}", owner=worker_id)`` returns ``True``: of any
number of callers, on any number of instances, exactly one gets ``True``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from storage._sql import dialect_insert
from storage.clock import Clock, utc_now
from storage.database import Database
from storage.models import OnceMark


@dataclass(frozen=True, slots=True)
class Mark:
    """Who claimed a key first, and when."""

    key: str
    owner: str
    created_at: datetime


class OnceMarks:
    """Insert-if-absent marks: the first :meth:`claim` of a key wins, every later one loses."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        """Use ``database``; ``clock`` stamps when a mark was made."""
        self._db = database
        self._clock = clock

    async def claim(self, key: str, *, owner: str) -> bool:
        """Mark ``key`` as done by ``owner``; return ``True`` only for the caller that made the mark."""
        if not key or len(key) > 255:
            raise ValueError("a mark key must be 1-255 characters")
        if not owner or len(owner) > 255:
            raise ValueError("a mark owner must be 1-255 characters")
        statement = (
            dialect_insert(self._db.dialect_name, OnceMark)
            .values(key=key, owner=owner, created_at=self._clock())
            .on_conflict_do_nothing(index_elements=[OnceMark.key])
            .returning(OnceMark.key)
        )
        async with self._db.transaction(write=True) as conn:
            return (await conn.execute(statement)).first() is not None

    async def get(self, key: str) -> Mark | None:
        """The mark for ``key``, or ``None`` if nobody has claimed it."""
        async with self._db.transaction(write=False) as conn:
            row = (
                await conn.execute(
                    select(OnceMark.key, OnceMark.owner, OnceMark.created_at).where(OnceMark.key == key)
                )
            ).first()
        return None if row is None else Mark(row.key, row.owner, row.created_at)

    async def release(self, key: str) -> bool:
        """Remove the mark (the action failed and may be tried again); return whether there was one."""
        async with self._db.transaction(write=True) as conn:
            result = await conn.execute(delete(OnceMark).where(OnceMark.key == key).returning(OnceMark.key))
            return result.first() is not None
