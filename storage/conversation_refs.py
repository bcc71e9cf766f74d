"""``conversation_refs``: named Bot Framework conversation references, for proactive messages.

Two kinds of names are in use: :data:`APPROVALS_CHANNEL` (the channel bound with ``approvals here``) and
:func:`user_chat_name` (each user's 1:1 chat with the bot, by Entra object id). A reference is stored as
the JSON of ``ConversationReference.serialize()``; callers turn it back with
``ConversationReference().deserialize(stored.reference)``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, select

from storage._sql import dialect_insert
from storage.clock import Clock, utc_now
from storage.database import Database
from storage.models import ConversationRef

#: Name of the bound approvals channel's reference.
APPROVALS_CHANNEL = "approvals-channel"

_USER_CHAT_PREFIX = "user-chat:"
_COLUMNS = tuple(ConversationRef.__table__.c)


def user_chat_name(aad_object_id: str) -> str:
    """Name under which a user's 1:1 conversation reference is stored."""
    if not aad_object_id:
        raise ValueError("aad_object_id is required")
    return f"{_USER_CHAT_PREFIX}{aad_object_id}"


@dataclass(frozen=True, slots=True)
class StoredConversationRef:
    """A stored reference, who stored it and when."""

    name: str
    reference_json: str
    set_by: str | None
    set_by_name: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def reference(self) -> dict[str, Any]:
        """The reference as the dict ``ConversationReference.serialize()`` made."""
        value: dict[str, Any] = json.loads(self.reference_json)
        return value


class ConversationRefs:
    """Save, get, list and delete named conversation references."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        """Use ``database``; ``clock`` stamps when a reference was set."""
        self._db = database
        self._clock = clock

    async def save(
        self,
        name: str,
        reference: Mapping[str, Any] | str,
        *,
        set_by: str | None = None,
        set_by_name: str | None = None,
    ) -> StoredConversationRef:
        """Store (or replace) the reference under ``name``.

        ``reference`` is a JSON object, as a mapping (``ConversationReference.serialize()``) or as text.
        ``set_by`` identifies who stored it (their Entra object id), ``set_by_name`` is their display name.
        """
        if not name or len(name) > 255:
            raise ValueError("a conversation reference name must be 1-255 characters")
        if set_by is not None and len(set_by) > 256:
            raise ValueError("set_by must be at most 256 characters")
        reference_json = (
            reference if isinstance(reference, str) else json.dumps(dict(reference), sort_keys=True)
        )
        if not isinstance(json.loads(reference_json), dict):
            raise ValueError("a conversation reference must be a JSON object")
        now = self._clock()
        insert = dialect_insert(self._db.dialect_name, ConversationRef).values(
            name=name,
            reference_json=reference_json,
            set_by=set_by,
            set_by_name=None if set_by_name is None else set_by_name[:256],
            created_at=now,
            updated_at=now,
        )
        statement = insert.on_conflict_do_update(
            index_elements=[ConversationRef.name],
            set_={
                "reference_json": reference_json,
                "set_by": set_by,
                "set_by_name": None if set_by_name is None else set_by_name[:256],
                "updated_at": now,
            },
        ).returning(*_COLUMNS)
        # Every message in a 1:1 chat saves its reference: on SQLite this runs without a thread hop.
        row = await self._db.run_transaction(lambda conn: conn.execute(statement).one())
        return _record(row)

    async def get(self, name: str) -> StoredConversationRef | None:
        """The reference stored under ``name``, or ``None``."""
        async with self._db.transaction(write=False) as conn:
            row = (await conn.execute(select(*_COLUMNS).where(ConversationRef.name == name))).first()
        return None if row is None else _record(row)

    async def by_prefix(self, prefix: str = "") -> list[StoredConversationRef]:
        """Every reference whose name starts with ``prefix``, by name."""
        statement = select(*_COLUMNS).order_by(ConversationRef.name)
        if prefix:
            statement = statement.where(ConversationRef.name.startswith(prefix, autoescape=True))
        async with self._db.transaction(write=False) as conn:
            rows = (await conn.execute(statement)).all()
        return [_record(row) for row in rows]

    async def delete(self, name: str) -> bool:
        """Delete the reference under ``name``; return whether there was one."""
        async with self._db.transaction(write=True) as conn:
            result = await conn.execute(
                delete(ConversationRef).where(ConversationRef.name == name).returning(ConversationRef.name)
            )
            return result.first() is not None


def _record(row: Row[tuple[object, ...]]) -> StoredConversationRef:
    return StoredConversationRef(**row._asdict())
