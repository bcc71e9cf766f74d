"""ConversationRefs: named references saved with who and when, replaced, listed, deleted."""

from __future__ import annotations

import pytest

from storage.conversation_refs import APPROVALS_CHANNEL, ConversationRefs, user_chat_name
from storage.database import Database
from tests.storage.conftest import FakeClock

REFERENCE = {
    "activityId": "1",
    "bot": {"id": "28:bot", "name": "Vendor Onboarding"},
    "channelId": "msteams",
    "conversation": {"id": "19:abc@thread.tacv2", "isGroup": True, "tenantId": "t"},
    "serviceUrl": "https://smba.trafficmanager.net/emea/",
}


@pytest.fixture
def refs(database: Database, clock: FakeClock) -> ConversationRefs:
    return ConversationRefs(database, clock=clock)


async def test_saved_reference_reads_back_with_who_and_when(refs: ConversationRefs, clock: FakeClock) -> None:
    await refs.save(APPROVALS_CHANNEL, REFERENCE, set_by="aad-admin", set_by_name="Ada Admin")
    stored = await refs.get(APPROVALS_CHANNEL)
    assert stored is not None
    assert stored.reference == REFERENCE
    assert (stored.set_by, stored.set_by_name) == ("aad-admin", "Ada Admin")
    assert stored.updated_at == clock.now


async def test_reference_may_be_given_as_json_text(refs: ConversationRefs) -> None:
    await refs.save("x", '{"channelId": "msteams"}')
    stored = await refs.get("x")
    assert stored is not None
    assert stored.reference == {"channelId": "msteams"}


async def test_saving_again_replaces_but_keeps_created_at(refs: ConversationRefs, clock: FakeClock) -> None:
    first = await refs.save(APPROVALS_CHANNEL, REFERENCE, set_by="aad-1")
    clock.advance(60)
    second = await refs.save(APPROVALS_CHANNEL, {"channelId": "msteams"}, set_by="aad-2")
    assert second.created_at == first.created_at
    assert second.updated_at == clock.now
    assert second.set_by == "aad-2"
    assert second.reference == {"channelId": "msteams"}


async def test_unknown_name_reads_none(refs: ConversationRefs) -> None:
    assert await refs.get("nothing") is None


async def test_user_chats_are_listed_by_prefix(refs: ConversationRefs) -> None:
    await refs.save(user_chat_name("aad-b"), REFERENCE)
    await refs.save(user_chat_name("aad-a"), REFERENCE)
    await refs.save(APPROVALS_CHANNEL, REFERENCE)
    names = [stored.name for stored in await refs.by_prefix(user_chat_name("aad-")[: -len("aad-")])]
    assert names == [user_chat_name("aad-a"), user_chat_name("aad-b")]


async def test_delete_reports_whether_there_was_a_reference(refs: ConversationRefs) -> None:
    await refs.save(APPROVALS_CHANNEL, REFERENCE)
    assert await refs.delete(APPROVALS_CHANNEL)
    assert not await refs.delete(APPROVALS_CHANNEL)
    assert await refs.get(APPROVALS_CHANNEL) is None


async def test_non_object_reference_is_refused(refs: ConversationRefs) -> None:
    with pytest.raises(ValueError, match="JSON object"):
        await refs.save("x", "[1, 2]")
