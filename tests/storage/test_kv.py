"""KeyValueStore: reads, etag compare-and-swap writes, atomic batches, deletes, races."""

from __future__ import annotations

import asyncio

import pytest

from storage.database import Database
from storage.errors import ConcurrencyError
from storage.kv import KeyValueStore


@pytest.fixture
def kv(database: Database) -> KeyValueStore:
    return KeyValueStore(database)


async def test_reading_unknown_keys_gives_nothing(kv: KeyValueStore) -> None:
    assert await kv.read(["nope", "nothing"]) == {}


async def test_written_value_reads_back_with_the_returned_etag(kv: KeyValueStore) -> None:
    etag = await kv.write("k", '{"a": 1}')
    assert await kv.read(["k"]) == {"k": ('{"a": 1}', etag)}


async def test_write_with_current_etag_replaces_value_and_changes_etag(kv: KeyValueStore) -> None:
    first = await kv.write("k", '"one"')
    second = await kv.write("k", '"two"', first)
    assert second != first
    assert await kv.read(["k"]) == {"k": ('"two"', second)}


async def test_write_with_stale_etag_is_refused_and_keeps_value(kv: KeyValueStore) -> None:
    stale = await kv.write("k", '"one"')
    current = await kv.write("k", '"two"', stale)
    with pytest.raises(ConcurrencyError) as raised:
        await kv.write("k", '"three"', stale)
    assert raised.value.key == "k"
    assert await kv.read(["k"]) == {"k": ('"two"', current)}


@pytest.mark.parametrize("etag", [None, "*"], ids=["none", "star"])
async def test_write_without_etag_or_star_overwrites(kv: KeyValueStore, etag: str | None) -> None:
    await kv.write("k", '"one"')
    await kv.write("k", '"two"', etag)
    assert (await kv.read(["k"]))["k"].value_json == '"two"'


async def test_empty_etag_is_refused(kv: KeyValueStore) -> None:
    await kv.write("k", '"one"')
    with pytest.raises(ValueError, match="empty etag"):
        await kv.write("k", '"two"', "")


async def test_write_with_etag_for_deleted_item_is_a_conflict(kv: KeyValueStore) -> None:
    etag = await kv.write("k", '"one"')
    await kv.delete(["k"])
    with pytest.raises(ConcurrencyError):
        await kv.write("k", '"two"', etag)
    assert await kv.read(["k"]) == {}


async def test_batch_with_one_stale_item_writes_nothing(kv: KeyValueStore) -> None:
    stale = await kv.write("b", '"b1"')
    await kv.write("b", '"b2"', stale)
    with pytest.raises(ConcurrencyError):
        await kv.write_many({"a": ('"a1"', None), "b": ('"b3"', stale)})
    stored = await kv.read(["a", "b"])
    assert "a" not in stored
    assert stored["b"].value_json == '"b2"'


async def test_delete_removes_known_keys_and_ignores_unknown(kv: KeyValueStore) -> None:
    await kv.write_many({"a": ("1", None), "b": ("2", None)})
    assert await kv.delete(["a", "unknown"]) == 1
    assert set(await kv.read(["a", "b"])) == {"b"}


async def test_odd_keys_round_trip(kv: KeyValueStore) -> None:
    key = "msteams/conversations/19:abc@thread.tacv2;messageid=1/!@#$%^&*()_+??><\":QASD~`%_'"
    await kv.write(key, "1")
    assert set(await kv.read([key])) == {key}


async def test_many_keys_are_read_in_chunks(kv: KeyValueStore) -> None:
    keys = [f"key-{n}" for n in range(600)]
    await kv.write_many({key: ("0", None) for key in keys})
    assert len(await kv.read(keys)) == 600


async def test_concurrent_writers_with_same_etag_exactly_one_wins(kv: KeyValueStore) -> None:
    etag = await kv.write("race", "0")

    async def attempt(n: int) -> bool:
        try:
            await kv.write("race", str(n), etag)
        except ConcurrencyError:
            return False
        return True

    outcomes = await asyncio.gather(*(attempt(n) for n in range(1, 21)))
    assert outcomes.count(True) == 1
    winner = outcomes.index(True) + 1
    assert (await kv.read(["race"]))["race"].value_json == str(winner)


async def test_writers_on_two_engines_with_same_etag_exactly_one_wins(
    database: Database, second_database: Database
) -> None:
    stores = [KeyValueStore(database), KeyValueStore(second_database)]
    etag = await stores[0].write("race", "0")

    async def attempt(n: int) -> bool:
        try:
            await stores[n % 2].write("race", str(n), etag)
        except ConcurrencyError:
            return False
        return True

    outcomes = await asyncio.gather(*(attempt(n) for n in range(1, 17)))
    assert outcomes.count(True) == 1
