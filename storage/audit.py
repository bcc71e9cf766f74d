"""``audit_events``: the append-only audit log, its queries and a streaming CSV export.

Nothing secret may be stored: :meth:`AuditLog.append` refuses any detail key named like a secret
(``password``, ``secret``, ``token``, ...) before writing, anywhere in nested details.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any
from uuid import UUID

from sqlalchemy import Row, and_, insert, or_, select

from storage.clock import Clock, as_utc, utc_now
from storage.database import Database
from storage.errors import SecretInAuditDetailError
from storage.models import AuditEventRow

#: Fragments that mark a key as secret, matched in the key lower-cased without ``-``, ``_``, ``.``, spaces.
SECRET_KEY_FRAGMENTS = (
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "token",
    "credential",
    "apikey",
    "privatekey",
    "authorization",
    "cookie",
)

CSV_COLUMNS = (
    "id",
    "at",
    "actor_aad_id",
    "actor_name",
    "action",
    "request_id",
    "target",
    "graph_request_id",
    "correlation_id",
    "detail",
)

_PAGE = 500
_ID_CHARS = 64
_NAME_CHARS = 256
_TARGET_CHARS = 512
_COLUMNS = tuple(AuditEventRow.__table__.c)
_KEY_NOISE = re.compile(r"[\s_\-.]")
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """A recorded audit event as read back."""

    id: int
    at: datetime
    actor_aad_id: str | None
    actor_name: str | None
    action: str
    request_id: str | None
    target: str | None
    detail: dict[str, Any]
    graph_request_id: str | None
    correlation_id: str | None


def check_no_secret_keys(detail: Mapping[str, Any]) -> None:
    """Raise :class:`SecretInAuditDetailError` if any key, at any depth, is named like a secret."""
    _check(detail, "")


class AuditLog:
    """Append to and read the audit log. There is no update or delete: the log is append-only."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        """Use ``database``; ``clock`` stamps events that carry no time of their own."""
        self._db = database
        self._clock = clock

    async def append(
        self,
        action: str,
        *,
        actor_aad_id: str | None = None,
        actor_name: str | None = None,
        request_id: str | None = None,
        target: str | None = None,
        detail: Mapping[str, Any] | None = None,
        graph_request_id: str | None = None,
        correlation_id: str | None = None,
        at: datetime | None = None,
    ) -> AuditRecord:
        """Record one event; ``at`` defaults to the log's clock, ``detail`` must be JSON-serialisable.

        Refuses (before writing anything) a detail with a key named like a secret, at any depth.
        """
        if not action or len(action) > 64:
            raise ValueError("an audit action must be 1-64 characters")
        for name, value in (
            ("actor_aad_id", actor_aad_id),
            ("request_id", request_id),
            ("graph_request_id", graph_request_id),
            ("correlation_id", correlation_id),
        ):
            # Ids are never truncated (that would break look-ups); PostgreSQL would refuse them anyway.
            if value is not None and len(value) > _ID_CHARS:
                raise ValueError(f"audit {name} is longer than {_ID_CHARS} characters")
        detail = detail or {}
        check_no_secret_keys(detail)
        detail_json = json.dumps(dict(detail), sort_keys=True, default=_json_default, ensure_ascii=False)
        values = {
            "at": self._clock() if at is None else as_utc(at),
            "actor_aad_id": actor_aad_id,
            # Display text is cut to the column rather than losing the whole record.
            "actor_name": None if actor_name is None else actor_name[:_NAME_CHARS],
            # A StrEnum action is stored as its plain value.
            "action": str(action),
            "request_id": request_id,
            "target": None if target is None else target[:_TARGET_CHARS],
            "detail_json": detail_json,
            "graph_request_id": graph_request_id,
            "correlation_id": correlation_id,
        }
        async with self._db.transaction(write=True) as conn:
            row = (await conn.execute(insert(AuditEventRow).values(values).returning(*_COLUMNS))).one()
        return _record(row)

    async def query(
        self,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        request_id: str | None = None,
        action: str | None = None,
        limit: int = 1000,
    ) -> list[AuditRecord]:
        """Events with ``start <= at < end`` (either bound optional), optionally of one request or action.

        Oldest first, at most ``limit``.
        """
        statement = select(*_COLUMNS).order_by(AuditEventRow.at, AuditEventRow.id).limit(limit)
        if start is not None:
            statement = statement.where(AuditEventRow.at >= as_utc(start))
        if end is not None:
            statement = statement.where(AuditEventRow.at < as_utc(end))
        if request_id is not None:
            statement = statement.where(AuditEventRow.request_id == request_id)
        if action is not None:
            statement = statement.where(AuditEventRow.action == action)
        async with self._db.transaction(write=False) as conn:
            rows = (await conn.execute(statement)).all()
        return [_record(row) for row in rows]

    async def for_request(self, request_id: str) -> list[AuditRecord]:
        """Every event of one onboarding request, oldest first."""
        records: list[AuditRecord] = []
        async for record in self._iterate(AuditEventRow.request_id == request_id):
            records.append(record)
        return records

    async def iter_range(self, start: datetime, end: datetime) -> AsyncIterator[AuditRecord]:
        """Every event with ``start <= at < end``, oldest first, read page by page.

        No connection is held between pages, so a slow consumer (an HTTP download) blocks nobody.
        """
        async for record in self._iterate(AuditEventRow.at >= as_utc(start), AuditEventRow.at < as_utc(end)):
            yield record

    async def export_csv(self, start: datetime, end: datetime) -> AsyncIterator[str]:
        """Stream the events with ``start <= at < end`` as CSV lines (RFC 4180), the header line first.

        Times are ISO 8601 UTC; ``detail`` is its JSON. Cells a spreadsheet would run as a formula are
        prefixed with ``'``.
        """
        yield _csv_line(CSV_COLUMNS)
        async for record in self.iter_range(start, end):
            yield _csv_line(
                (
                    str(record.id),
                    record.at.isoformat().replace("+00:00", "Z"),
                    record.actor_aad_id or "",
                    record.actor_name or "",
                    record.action,
                    record.request_id or "",
                    record.target or "",
                    record.graph_request_id or "",
                    record.correlation_id or "",
                    json.dumps(record.detail, sort_keys=True, ensure_ascii=False),
                )
            )

    async def _iterate(self, *conditions: Any) -> AsyncIterator[AuditRecord]:
        last: tuple[datetime, int] | None = None
        while True:
            statement = (
                select(*_COLUMNS).where(*conditions).order_by(AuditEventRow.at, AuditEventRow.id).limit(_PAGE)
            )
            if last is not None:
                last_at, last_id = last
                statement = statement.where(
                    or_(
                        AuditEventRow.at > last_at,
                        and_(AuditEventRow.at == last_at, AuditEventRow.id > last_id),
                    )
                )
            async with self._db.transaction(write=False) as conn:
                rows = (await conn.execute(statement)).all()
            for row in rows:
                record = _record(row)
                yield record
                last = (record.at, record.id)
            if len(rows) < _PAGE:
                return


def _check(value: Any, path: str) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            key_path = f"{path}.{key}" if path else str(key)
            normalised = _KEY_NOISE.sub("", str(key).lower())
            if any(fragment in normalised for fragment in SECRET_KEY_FRAGMENTS):
                raise SecretInAuditDetailError(key_path)
            _check(item, key_path)
    elif isinstance(value, list | tuple | set | frozenset):
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    raise TypeError(f"audit detail value of type {type(value).__name__} is not JSON-serialisable")


def _csv_line(cells: tuple[str, ...]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(_defuse(cell) for cell in cells)
    return buffer.getvalue()


def _defuse(cell: str) -> str:
    return f"'{cell}" if cell.startswith(_FORMULA_START) else cell


def _record(row: Row[tuple[object, ...]]) -> AuditRecord:
    fields = row._asdict()
    fields["detail"] = json.loads(fields.pop("detail_json"))
    return AuditRecord(**fields)
