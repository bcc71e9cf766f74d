"""The wizard end to end in one process: the dialog over ConversationState on SQLite, the real
WizardService, the real Graph gateway and the sandbox tenant. A requester clicks through the four steps
as the cards offer them; what is stored afterwards is what provisioning will create.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from cards.actions import InputId
from onboarding.requests import RequestStatus
from settings import SANDBOX_VENDOR_ACCOUNTS_GROUP_ID
from storage import Database
from tests.cards.walk import all_text, buttons, inputs
from tests.dialogs.harness import CONTRACTOR, Chat, is_submitted, new_wizard, step_of, storage_on
from tests.dialogs.world import IB_SKUS, World, open_world
from tests.provisioning.conftest import new_user

CardJson = dict[str, Any]
CONTOSO = {InputId.REACH_EVERYONE: "no", InputId.SEGMENT: "Vendor - Contoso"}


@pytest.fixture
async def world(any_migrated_database_url: str) -> AsyncIterator[World]:
    async with open_world(any_migrated_database_url) as opened:
        yield opened


@pytest.fixture
def chat(world: World, database: Database) -> Chat:
    return Chat(new_wizard(storage_on(database), world.service()))


async def test_a_requester_onboards_a_contractor_into_a_segment(world: World, chat: Chat) -> None:
    contractor = await chat.onboard()
    access = await chat.click(contractor, "Next", CONTRACTOR)
    barriers = await chat.click(access, "Next")
    review = await chat.click(barriers, "Next", CONTOSO)
    submitted = await chat.click(review, "Submit for approval")

    assert "Dynamics 365 Remote Assist: 25 of 25 free" in all_text(access)
    assert "Microsoft 365 E5: 10 of 10 free" in all_text(barriers)
    assert "sa-contoso-bob.builder@abc.com" in all_text(review)
    assert is_submitted(submitted)
    assert "VND-000001" in all_text(submitted)
    stored = await world.requests.get(1)
    assert stored is not None
    assert stored.request.status is RequestStatus.PENDING_APPROVAL
    assert stored.request.sponsor.aad_object_id == stored.request.requester.aad_object_id
    assert stored.plan.upn == "sa-contoso-bob.builder@abc.com"
    assert stored.plan.license_part_numbers == ("MICROSOFT_REMOTE_ASSIST", "SPE_E5")
    assert stored.plan.attributes == {"onPremisesExtensionAttributes.extensionAttribute1": "Vendor-Contoso"}
    assert stored.plan.group_ids == (SANDBOX_VENDOR_ACCOUNTS_GROUP_ID,)
    assert world.poster.numbers == [1]


async def test_the_domain_rules_show_every_error_inline(chat: Chat) -> None:
    contractor = await chat.onboard()
    typed = {
        **CONTRACTOR,
        InputId.FIRST_NAME: "B0b",
        InputId.CONTRACTOR_EMAIL: "bob@contoso",
        InputId.USAGE_LOCATION: "",
    }

    again = await chat.click(contractor, "Next", typed)

    text = all_text(again)
    assert step_of(again) == 1
    assert "First name can contain only letters" in text
    assert "isn't a valid internet domain" in text
    assert "Usage location is required." in text
    assert inputs(again)[InputId.FIRST_NAME.value]["value"] == "B0b"


async def test_a_taken_account_name_gets_a_suffix_on_the_review(world: World, chat: Chat) -> None:
    await world.gateway.create_user(new_user(user_principal_name="sa-contoso-bob.builder@abc.com"))
    contractor = await chat.onboard()
    access = await chat.click(contractor, "Next", CONTRACTOR)
    barriers = await chat.click(access, "Next")

    review = await chat.click(barriers, "Next", {InputId.REACH_EVERYONE: "yes"})

    assert "sa-contoso-bob.builder2@abc.com" in all_text(review)


async def test_no_free_seat_is_refused_before_submission_and_nothing_is_stored(
    world: World, chat: Chat
) -> None:
    world.sandbox.tenant.set_prepaid_units("MICROSOFT_REMOTE_ASSIST", 0)
    contractor = await chat.onboard()
    access = await chat.click(contractor, "Next", CONTRACTOR)
    barriers = await chat.click(access, "Next")
    review = await chat.click(barriers, "Next", {InputId.REACH_EVERYONE: "yes"})

    refused = await chat.click(review, "Submit for approval")

    assert "No free seats of Dynamics 365 Remote Assist (0 of 0 used)" in all_text(access)
    assert "no free seats of Dynamics 365 Remote Assist" in all_text(review)
    assert step_of(refused) == 4
    assert await world.requests.get(1) is None
    assert world.poster.numbers == []


async def test_with_no_ib_seat_the_barriers_step_says_so(world: World, chat: Chat) -> None:
    for part in IB_SKUS:
        world.sandbox.tenant.set_prepaid_units(part, 0)
    contractor = await chat.onboard()
    access = await chat.click(contractor, "Next", CONTRACTOR)

    barriers = await chat.click(access, "Next")
    refused = await chat.click(barriers, "Next", {InputId.REACH_EVERYONE: "no"})

    assert "Segments are not available now" in all_text(barriers)
    assert InputId.SEGMENT.value not in inputs(barriers)
    assert step_of(refused) == 3
    assert "Answer yes to continue without a barrier" in all_text(refused)


async def test_the_sponsor_can_be_someone_else(world: World, chat: Chat) -> None:
    contractor = await chat.onboard()
    access = await chat.click(contractor, "Next", CONTRACTOR)
    barriers = await chat.click(access, "Next", {InputId.SPONSOR: "paula@abc.onmicrosoft.com"})
    review = await chat.click(barriers, "Next", {InputId.REACH_EVERYONE: "yes"})
    await chat.click(review, "Submit for approval")

    stored = await world.requests.get(1)
    assert stored is not None
    assert stored.request.sponsor.display_name == "Paula Approver"
    assert "Paula Approver (paula@abc.onmicrosoft.com)" in all_text(review)
    assert set(buttons(review)) == {"Submit for approval", "Back", "Cancel"}
