"""SeatSnapshot: cached seat counts with single-flight refresh that never raises into a click.

A recording fake source answers (or fails, or hangs until released) on demand; a hand-moved monotonic
clock ages the cache. The last test reads the real sandbox tenant through the real Graph gateway.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import UUID

import pytest

from bot.seats import SeatSnapshot
from provisioning.directory import SkuSeats
from provisioning.graph import GraphGateway, StaticTokenCredential
from sandbox.testing import running_sandbox
from tests.provisioning.conftest import FAST

AS_OF = datetime(2030, 1, 10, 9, 30, tzinfo=UTC)
REMOTE_ASSIST = UUID("7a551360-26c4-4f61-84e6-ef715673e083")


def skus(consumed: int) -> tuple[SkuSeats, ...]:
    return (
        SkuSeats(
            REMOTE_ASSIST,
            "MICROSOFT_REMOTE_ASSIST",
            enabled=25,
            consumed=consumed,
            capability_status="Enabled",
        ),
    )


class FakeSource:
    """Answers ``list_skus`` with ``answer``; records every call; can fail or hang until released."""

    def __init__(self) -> None:
        self.calls = 0
        self.consumed = 0
        self.fail = False
        self.gate: asyncio.Event | None = None
        #: Set when a call has started (and, with ``gate``, is waiting to be released).
        self.called = asyncio.Event()

    async def list_skus(self) -> tuple[SkuSeats, ...]:
        self.calls += 1
        self.called.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise ConnectionError("graph is down")
        return skus(self.consumed)


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def source() -> FakeSource:
    return FakeSource()


@pytest.fixture
def monotonic() -> Monotonic:
    return Monotonic()


@pytest.fixture
async def snapshot(source: FakeSource, monotonic: Monotonic) -> AsyncIterator[SeatSnapshot]:
    seats = SeatSnapshot(source, ttl_seconds=30, wait_seconds=5, monotonic=monotonic, clock=lambda: AS_OF)
    yield seats
    await seats.close()


async def test_the_first_reading_asks_graph(snapshot: SeatSnapshot, source: FakeSource) -> None:
    reading = await snapshot.current()

    assert source.calls == 1
    count = reading.get("MICROSOFT_REMOTE_ASSIST")
    assert count is not None
    assert (count.free, count.enabled, reading.as_of, reading.stale) == (25, 25, AS_OF, False)


async def test_a_young_cache_answers_without_graph(
    snapshot: SeatSnapshot, source: FakeSource, monotonic: Monotonic
) -> None:
    await snapshot.current()
    source.consumed = 5
    monotonic.now += 29

    reading = await snapshot.current()

    assert source.calls == 1
    assert reading.counts["MICROSOFT_REMOTE_ASSIST"].free == 25


async def test_an_old_cache_is_refreshed(
    snapshot: SeatSnapshot, source: FakeSource, monotonic: Monotonic
) -> None:
    await snapshot.current()
    source.consumed = 5
    monotonic.now += 30

    reading = await snapshot.current()

    assert source.calls == 2
    assert reading.counts["MICROSOFT_REMOTE_ASSIST"].free == 20


async def test_concurrent_readers_share_one_refresh(snapshot: SeatSnapshot, source: FakeSource) -> None:
    source.gate = asyncio.Event()
    readers = [asyncio.create_task(snapshot.current()) for _ in range(10)]
    await source.called.wait()
    await asyncio.sleep(0)  # let every reader reach the shared refresh
    source.gate.set()

    readings = await asyncio.gather(*readers)

    assert source.calls == 1
    assert all(reading.known for reading in readings)


async def test_a_failed_refresh_gives_the_last_counts_marked_stale(
    snapshot: SeatSnapshot, source: FakeSource, monotonic: Monotonic
) -> None:
    await snapshot.current()
    source.fail = True
    monotonic.now += 60

    reading = await snapshot.current()

    assert (reading.known, reading.stale, reading.as_of) == (True, True, AS_OF)
    assert reading.counts["MICROSOFT_REMOTE_ASSIST"].free == 25


async def test_without_any_reading_a_failure_gives_unknown(
    snapshot: SeatSnapshot, source: FakeSource
) -> None:
    source.fail = True

    reading = await snapshot.current()

    assert (reading.known, reading.get("MICROSOFT_REMOTE_ASSIST")) == (False, None)


async def test_a_slow_graph_does_not_hold_a_click(source: FakeSource, monotonic: Monotonic) -> None:
    snapshot = SeatSnapshot(source, ttl_seconds=30, wait_seconds=0, monotonic=monotonic, clock=lambda: AS_OF)
    await snapshot.refresh()
    monotonic.now += 60
    source.consumed = 7
    source.gate = asyncio.Event()

    reading = await snapshot.current()

    assert (reading.stale, reading.counts["MICROSOFT_REMOTE_ASSIST"].free) == (True, 25)
    source.gate.set()
    refreshed = await snapshot.refresh()
    assert (refreshed.stale, refreshed.counts["MICROSOFT_REMOTE_ASSIST"].free) == (False, 18)
    assert source.calls == 2
    await snapshot.close()


async def test_invalidate_makes_the_next_reader_refresh(snapshot: SeatSnapshot, source: FakeSource) -> None:
    await snapshot.prefetch()
    source.consumed = 25

    snapshot.invalidate()
    reading = await snapshot.current()

    assert reading.counts["MICROSOFT_REMOTE_ASSIST"].free == 0
    assert source.calls == 2


async def test_prefetch_fills_the_cache(snapshot: SeatSnapshot, source: FakeSource) -> None:
    await snapshot.prefetch()

    assert snapshot.last().known
    assert source.calls == 1


async def test_counts_come_from_the_tenant_through_the_gateway() -> None:
    async with running_sandbox() as sandbox:
        sandbox.tenant.set_prepaid_units("SPE_E5", 3)
        async with GraphGateway(sandbox.base_url, StaticTokenCredential(), options=FAST) as gateway:
            snapshot = SeatSnapshot(gateway)
            reading = await snapshot.current()

    e5 = reading.get("SPE_E5")
    assert e5 is not None
    assert (e5.enabled, e5.free) == (3, 3)
    assert reading.get("MICROSOFT_REMOTE_ASSIST") is not None
