"""DatabaseStorage: botbuilder's own storage contract tests on SQLite and PostgreSQL, plus restarts,
etag conflicts and refusing tampered state."""

from __future__ import annotations

import inspect
import json
import sys
import types
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from enum import StrEnum

import pytest
from botbuilder.core import StoreItem
from pydantic import BaseModel

from bot.state_storage import DatabaseStorage
from storage import ConcurrencyError, Database, KeyValueStore, StateDecodeError
from tests.support.postgres import any_database_url, any_migrated_database_url, postgres_url  # noqa: F401


def _import_storage_base_tests() -> type:
    # botbuilder-testing imports ``botbuilder.azure`` (for one isinstance check) at module level, and
    # botbuilder-azure is not installed: it drags in the Azure Storage and Cosmos SDKs and pins pytest 8.
    # A stand-in module with that one class lets the contract tests import; they only use it to decide
    # whether a storage may return {} for ``read(None)``, which ours must not (it raises).
    try:
        import botbuilder.azure  # noqa: F401
    except ImportError:
        stand_in = types.ModuleType("botbuilder.azure")
        stand_in.CosmosDbPartitionedStorage = type("CosmosDbPartitionedStorage", (), {})  # type: ignore[attr-defined]
        sys.modules["botbuilder.azure"] = stand_in
    from botbuilder.testing import StorageBaseTests

    return StorageBaseTests  # type: ignore[no-any-return]


StorageBaseTests = _import_storage_base_tests()
CONTRACT_CASES = sorted(
    name
    for name, member in vars(StorageBaseTests).items()
    if isinstance(member, staticmethod) and inspect.iscoroutinefunction(member.__func__)
)


class Counter(StoreItem):  # type: ignore[misc]
    """A StoreItem subclass, as bots define them."""


class Step(StrEnum):
    CONTRACTOR = "contractor"
    REVIEW = "review"


class Draft(BaseModel):
    """Typed dialog step state, as the wizard keeps it."""

    step: Step
    first_name: str
    end_date: date
    started_at: datetime


@pytest.fixture
async def database(any_migrated_database_url: str) -> AsyncIterator[Database]:  # noqa: F811
    db = await Database.connect(any_migrated_database_url)
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
def storage(database: Database) -> DatabaseStorage:
    return DatabaseStorage(KeyValueStore(database), trusted_packages=[__name__])


def test_every_contract_case_is_collected() -> None:
    # Guards the discovery above: botbuilder-testing 4.17.1 has eleven storage cases.
    assert len(CONTRACT_CASES) == 11


@pytest.mark.parametrize("case", CONTRACT_CASES)
async def test_botbuilder_storage_contract(storage: DatabaseStorage, case: str) -> None:
    assert await getattr(StorageBaseTests, case)(storage) is True


async def test_state_survives_a_restart(any_database_url: str) -> None:  # noqa: F811
    first = await Database.connect(any_database_url)
    await first.migrate()
    await DatabaseStorage(KeyValueStore(first)).write({"conversation/1": {"step": 3, "names": ["Bob"]}})
    await first.close()

    second = await Database.connect(any_database_url)
    await second.migrate()
    try:
        stored = await DatabaseStorage(KeyValueStore(second)).read(["conversation/1"])
    finally:
        await second.close()
    assert stored["conversation/1"]["step"] == 3
    assert stored["conversation/1"]["names"] == ["Bob"]


async def test_write_with_stale_etag_raises_and_keeps_the_newer_state(storage: DatabaseStorage) -> None:
    await storage.write({"k": {"count": 1}})
    mine = (await storage.read(["k"]))["k"]
    theirs = (await storage.read(["k"]))["k"]
    theirs["count"] = 2
    await storage.write({"k": theirs})
    mine["count"] = 99
    with pytest.raises(ConcurrencyError):
        await storage.write({"k": mine})
    assert (await storage.read(["k"]))["k"]["count"] == 2


async def test_same_item_can_be_written_twice_in_one_turn(storage: DatabaseStorage) -> None:
    await storage.write({"k": {"count": 1}})
    state = (await storage.read(["k"]))["k"]
    state["count"] = 2
    await storage.write({"k": state})
    state["count"] = 3
    await storage.write({"k": state})
    assert (await storage.read(["k"]))["k"]["count"] == 3


async def test_store_item_objects_round_trip_with_their_etag(storage: DatabaseStorage) -> None:
    await storage.write({"c": Counter(count=5, e_tag="*")})
    loaded = (await storage.read(["c"]))["c"]
    assert isinstance(loaded, Counter)
    assert loaded.count == 5
    assert loaded.e_tag not in (None, "", "*")


async def test_typed_dialog_state_round_trips(storage: DatabaseStorage) -> None:
    draft = Draft(
        step=Step.REVIEW,
        first_name="Zoë",
        end_date=date(2030, 1, 31),
        started_at=datetime(2030, 1, 1, tzinfo=UTC),
    )
    await storage.write({"k": {"draft": draft}})
    assert (await storage.read(["k"]))["k"]["draft"] == draft


async def test_failed_batch_writes_none_of_its_items(storage: DatabaseStorage) -> None:
    await storage.write({"a": {"v": 1}})
    stale = (await storage.read(["a"]))["a"]
    await storage.write({"a": {"v": 2, "e_tag": stale["e_tag"]}})
    with pytest.raises(ConcurrencyError):
        await storage.write({"b": {"v": 1}, "a": {"v": 3, "e_tag": stale["e_tag"]}})
    assert "b" not in await storage.read(["b"])


@pytest.mark.parametrize(
    "tampered",
    [
        {"py/object": "os._wrap_close"},
        {"py/reduce": [{"py/function": "os.system"}, {"py/tuple": ["true"]}]},
        {"x": {"py/repr": "os/os.system('true')"}},
        {"x": {"py/mod": "os/os.system"}},
        {"py/object": "botbuilder.core.storage.copy"},
    ],
    ids=["untrusted-class", "untrusted-function", "repr", "module", "trusted-module-import-path"],
)
async def test_tampered_state_is_refused(
    storage: DatabaseStorage, database: Database, tampered: dict[str, object]
) -> None:
    await KeyValueStore(database).write("evil", json.dumps(tampered))
    with pytest.raises(StateDecodeError) as raised:
        await storage.read(["evil"])
    assert raised.value.key == "evil"
