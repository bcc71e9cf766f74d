"""OnceMarks: insert-if-absent wins exactly once, also under concurrency across engines."""

from __future__ import annotations

import asyncio

import pytest

from storage.database import Database
from storage.once import OnceMarks
from tests.storage.conftest import FakeClock


@pytest.fixture
def marks(database: Database, clock: FakeClock) -> OnceMarks:
    return OnceMarks(database, clock=clock)


async def test_first_claim_wins(marks: OnceMarks) -> None:
    assert await marks.claim("reminder:14d:acct-1", owner="w1")


async def test_second_claim_of_the_same_key_loses(marks: OnceMarks) -> None:
    await marks.claim("reminder:14d:acct-1", owner="w1")
    assert not await marks.claim("reminder:14d:acct-1", owner="w2")


async def test_mark_records_the_winner_and_when(marks: OnceMarks, clock: FakeClock) -> None:
    await marks.claim("k", owner="w1")
    await marks.claim("k", owner="w2")
    mark = await marks.get("k")
    assert mark is not None
    assert (mark.owner, mark.created_at) == ("w1", clock.now)


async def test_released_key_can_be_claimed_again(marks: OnceMarks) -> None:
    await marks.claim("k", owner="w1")
    assert await marks.release("k")
    assert await marks.claim("k", owner="w2")


async def test_concurrent_claims_on_two_engines_have_one_winner(
    database: Database, second_database: Database
) -> None:
    instances = [OnceMarks(database), OnceMarks(second_database)]
    outcomes = await asyncio.gather(
        *(instances[n % 2].claim("offboard:acct-9:2030-01-31", owner=f"w{n}") for n in range(20))
    )
    assert outcomes.count(True) == 1
