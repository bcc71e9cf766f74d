"""Free seats per SKU, read through the Graph gateway and cached, so that a card click answers fast.

:class:`SeatSnapshot` keeps the last ``GET /subscribedSkus`` answer for ``ttl_seconds`` (30 s by default).
A reader that finds it older starts one refresh (concurrent readers share it: single flight) and waits
for it at most ``wait_seconds``; past that, or when Graph fails, it gets the last known counts marked
with their "as of" time, or "unknown" when there never were any. Reading never raises: a click must not
fail because Graph is slow. The refresh it started goes on in the background and fills the cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Protocol

from onboarding.licensing import SeatCount
from provisioning.directory import SkuSeats
from storage.clock import utc_now

log = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 30.0
#: How long a click waits for a refresh before it takes the last known counts.
DEFAULT_WAIT_SECONDS = 0.8


class SkuSource(Protocol):
    """What the snapshot reads (the Graph gateway implements it)."""

    async def list_skus(self) -> tuple[SkuSeats, ...]:
        """Every subscribed SKU with its seats (``GET /subscribedSkus``)."""
        ...


@dataclass(frozen=True, slots=True)
class SeatReading:
    """Seats per SKU part number as of ``as_of``; ``known`` is False when they could never be read."""

    counts: Mapping[str, SeatCount] = field(default_factory=lambda: MappingProxyType({}))
    as_of: datetime | None = None
    #: True when the counts are older than the snapshot's time to live (the last refresh failed or is late).
    stale: bool = False

    @property
    def known(self) -> bool:
        """False when no count was ever read."""
        return self.as_of is not None

    def get(self, part_number: str) -> SeatCount | None:
        """The seats of ``part_number``, or None when the tenant has no such SKU (or nothing is known)."""
        return self.counts.get(part_number)


UNKNOWN = SeatReading()


def _to_counts(skus: tuple[SkuSeats, ...]) -> Mapping[str, SeatCount]:
    return MappingProxyType(
        {
            sku.part_number: SeatCount(
                part_number=sku.part_number,
                enabled=sku.enabled,
                consumed=sku.consumed,
                capability_status=sku.capability_status or "Enabled",
            )
            for sku in skus
        }
    )


class SeatSnapshot:
    """The tenant's seat counts, cached for a short time with single-flight refresh (see the module)."""

    def __init__(
        self,
        source: SkuSource,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        wait_seconds: float = DEFAULT_WAIT_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """``monotonic`` measures the age of the cache; ``clock`` stamps the "as of" time."""
        if ttl_seconds < 0 or wait_seconds < 0:
            raise ValueError("ttl_seconds and wait_seconds must not be negative")
        self._source = source
        self._ttl = ttl_seconds
        self._wait = wait_seconds
        self._monotonic = monotonic
        self._clock = clock
        self._counts: Mapping[str, SeatCount] | None = None
        self._as_of: datetime | None = None
        self._read_at: float | None = None
        self._refresh: asyncio.Task[None] | None = None

    def last(self) -> SeatReading:
        """What is cached now, without any I/O."""
        if self._counts is None or self._read_at is None:
            return UNKNOWN
        stale = self._monotonic() - self._read_at >= self._ttl
        return SeatReading(self._counts, self._as_of, stale)

    async def current(self) -> SeatReading:
        """Fresh counts when the cache is young or Graph answers within ``wait_seconds``; else the last."""
        cached = self.last()
        if cached.known and not cached.stale:
            return cached
        task = self._start_refresh()
        with contextlib.suppress(TimeoutError):
            # shield: a reader that gives up does not cancel the refresh others may be waiting for.
            await asyncio.wait_for(asyncio.shield(task), timeout=self._wait)
        return self.last()

    async def refresh(self) -> SeatReading:
        """Read the counts now (joining a refresh under way) and wait for the answer; never raises."""
        await asyncio.shield(self._start_refresh())
        return self.last()

    async def prefetch(self) -> SeatReading:
        """Fill the cache at start-up (same as :meth:`refresh`)."""
        return await self.refresh()

    def invalidate(self) -> None:
        """Make the next reader refresh (after the bot itself assigned or freed seats, say)."""
        if self._read_at is not None:
            self._read_at = self._monotonic() - self._ttl

    async def close(self) -> None:
        """Stop a refresh under way (at shutdown)."""
        task, self._refresh = self._refresh, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _start_refresh(self) -> asyncio.Task[None]:
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.get_running_loop().create_task(self._read(), name="seat-snapshot-refresh")
        return self._refresh

    async def _read(self) -> None:
        try:
            skus = await self._source.list_skus()
        except Exception as err:
            # Swallowed (logged by type only) so that a refresh nobody waits for any more cannot raise
            # unobserved: readers get the last known counts, and the next reader tries again.
            log.warning("could not read subscribed SKUs", extra={"error_type": type(err).__name__})
            return
        self._counts = _to_counts(skus)
        self._as_of = self._clock()
        self._read_at = self._monotonic()
