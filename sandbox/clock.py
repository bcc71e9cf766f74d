"""Time sources for the sandbox tenant.

Replication lag and the write quota are time-based models. Tests need them deterministic, so both
read time through a :class:`Clock` that can be swapped for a :class:`ManualClock` and advanced by hand.
Latency faults still sleep in real time (they exist to slow real HTTP calls down).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Where the tenant reads time from."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (for lag and quota arithmetic)."""
        ...

    def now(self) -> datetime:
        """The current UTC wall-clock time (for timestamps Graph returns)."""
        ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        """Seconds from :func:`time.monotonic`."""
        return time.monotonic()

    def now(self) -> datetime:
        """The current UTC time."""
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to; thread-safe so a test thread can drive a server thread."""

    def __init__(self, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._elapsed = 0.0
        self._start = start or datetime(2025, 1, 1, tzinfo=UTC)

    def monotonic(self) -> float:
        """Seconds advanced so far."""
        with self._lock:
            return self._elapsed

    def now(self) -> datetime:
        """The start time plus the seconds advanced so far."""
        with self._lock:
            return self._start + timedelta(seconds=self._elapsed)

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (must not be negative)."""
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        with self._lock:
            self._elapsed += seconds


def graph_timestamp(moment: datetime) -> str:
    """Format a time the way Graph writes DateTimeOffset values: ``2024-05-01T12:00:00Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
