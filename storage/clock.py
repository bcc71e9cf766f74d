"""Time as the storage layer sees it: an injectable clock returning aware UTC datetimes.

Repositories never call ``datetime.now()`` themselves; they take a :data:`Clock` so tests (and the
expiry scheduler's tests) can move time without sleeping.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

#: A callable returning the current time as a timezone-aware datetime (any zone; stored as UTC).
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real clock: now, aware, in UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Return ``value`` converted to UTC; refuse naive datetimes, whose zone would be a guess."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError("naive datetime: storage needs timezone-aware datetimes")
    return value.astimezone(UTC)
