"""The onboarding wizard dialog, driven through real ConversationState over DatabaseStorage on SQLite.

The service is a recording fake here: these tests are about what the dialog shows and remembers (steps,
inline errors, Back, Cancel, stale clicks, restarts, several chats). tests/dialogs/test_wizard_flow.py
runs the same dialog with the real service against the sandbox tenant.
"""

from __future__ import annotations

import asyncio
from typing import Any

from botbuilder.schema import Activity

from cards.actions import InputId
from dialogs.onboarding_wizard import CANCELLED_TEXT, OnboardingWizard
from dialogs.wizard_state import SubmitRefused, WizardUnavailable
from storage import Database
from tests.cards.walk import all_text, buttons
from tests.dialogs.harness import (
    CONTRACTOR,
    RITA_ID,
    Chat,
    RecordingBackend,
    is_cancelled,
    is_submitted,
    new_wizard,
    step_of,
    storage_on,
    value_of,
    version_of,
)

CardJson = dict[str, Any]


async def to_review(chat: Chat) -> CardJson:
    card = await chat.onboard()
    card = await chat.click(card, "Next", CONTRACTOR)
    card = await chat.click(card, "Next")
    card = await chat.click(card, "Next", {InputId.REACH_EVERYONE: "yes"})
    assert step_of(card) == 4
    return card


async def test_onboard_sends_the_contractor_step_as_a_new_message(chat: Chat) -> None:
    card = await chat.onboard()

    assert (step_of(card), chat.cards_sent) == (1, 1)
    assert set(buttons(card)) == {"Next", "Cancel"}


async def test_next_shows_every_error_at_once_and_keeps_what_was_typed(chat: Chat) -> None:
    card = await chat.onboard()
    typed = {
        **CONTRACTOR,
        InputId.FIRST_NAME: "",
        InputId.LAST_NAME: "",
        InputId.CONTRACTOR_EMAIL: "bob-at-x",
    }

    again = await chat.click(card, "Next", typed)

    text = all_text(again)
    assert step_of(again) == 1
    assert "First name is required." in text
    assert "Last name is required." in text
    assert "Contractor email isn't a valid email address." in text
    assert value_of(again, InputId.VENDOR_COMPANY) == "Contoso"
    assert value_of(again, InputId.CONTRACTOR_EMAIL) == "bob-at-x"
    assert version_of(again) == version_of(card) + 1


async def test_next_moves_to_access_prefilled_with_the_defaults(chat: Chat) -> None:
    card = await chat.onboard()

    access = await chat.click(card, "Next", CONTRACTOR)

    assert step_of(access) == 2
    assert value_of(access, InputId.LICENSE_PROFILE) == "remote-assist-technician"
    assert value_of(access, InputId.END_DATE) == "2030-02-09"
    assert value_of(access, InputId.SPONSOR) == "alice@abc.onmicrosoft.com"


async def test_back_shows_the_previous_step_with_what_was_entered(chat: Chat) -> None:
    card = await chat.onboard()
    access = await chat.click(card, "Next", CONTRACTOR)
    barriers = await chat.click(access, "Next", {InputId.END_DATE: "2030-03-01"})

    access_again = await chat.click(barriers, "Back")
    contractor_again = await chat.click(access_again, "Back")

    assert value_of(access_again, InputId.END_DATE) == "2030-03-01"
    assert step_of(contractor_again) == 1
    assert [value_of(contractor_again, input_id) for input_id in CONTRACTOR] == list(CONTRACTOR.values())


async def test_going_forward_again_after_back_keeps_later_steps(chat: Chat) -> None:
    review = await to_review(chat)
    barriers = await chat.click(review, "Back")
    access = await chat.click(barriers, "Back")

    barriers_again = await chat.click(access, "Next")

    assert value_of(barriers_again, InputId.REACH_EVERYONE) == "yes"


async def test_submit_ends_the_wizard_with_the_submitted_card(
    chat: Chat, backend: RecordingBackend, wizard: OnboardingWizard
) -> None:
    review = await to_review(chat)

    submitted = await chat.click(review, "Submit for approval")

    assert is_submitted(submitted)
    assert "VND-000001" in all_text(submitted)
    assert "Vendor approvals" in all_text(submitted)
    assert backend.count("submit") == 1
    assert backend.submitted[0].value(InputId.FIRST_NAME) == "Bob"
    assert backend.submitted[0].reviewed_upn == "sa-contoso-bob@abc.com"


async def test_a_click_after_submission_gets_the_submitted_card_again(
    chat: Chat, backend: RecordingBackend
) -> None:
    review = await to_review(chat)
    await chat.click(review, "Submit for approval")

    repeated = await chat.click(review, "Submit for approval")

    assert is_submitted(repeated)
    assert "VND-000001" in all_text(repeated)
    assert backend.count("submit") == 1


async def test_a_refused_submission_stays_on_the_review_with_the_reasons(
    chat: Chat, backend: RecordingBackend
) -> None:
    backend.submit_outcome = SubmitRefused(
        ("Not enough licenses: no free seats of Dynamics 365 Remote Assist.",)
    )
    review = await to_review(chat)

    again = await chat.click(review, "Submit for approval")

    assert step_of(again) == 4
    assert "no free seats of Dynamics 365 Remote Assist" in all_text(again)
    assert buttons(again)["Submit for approval"]["data"]["cardVersion"] == version_of(review) + 1


async def test_cancel_button_ends_the_wizard(chat: Chat, backend: RecordingBackend) -> None:
    card = await chat.onboard()
    access = await chat.click(card, "Next", CONTRACTOR)

    cancelled = await chat.click(access, "Cancel")

    assert is_cancelled(cancelled)
    assert not await _running(chat)


async def test_a_click_on_a_cancelled_wizard_gets_the_cancelled_card_and_checks_nothing(
    chat: Chat, backend: RecordingBackend
) -> None:
    card = await chat.onboard()
    access = await chat.click(card, "Next", CONTRACTOR)
    await chat.click(access, "Cancel")
    checks = backend.count("check_step")

    late = await chat.click(access, "Next")

    assert is_cancelled(late)
    assert backend.count("check_step") == checks


async def test_typed_cancel_updates_the_card_in_place_and_says_so(chat: Chat) -> None:
    card = await chat.onboard()
    await chat.click(card, "Next", CONTRACTOR)

    was_running = await chat.type_cancel()

    assert was_running
    assert [update.id for update in chat.updates] == [chat.card_id]
    assert is_cancelled(chat.updates[0].attachments[0].content)
    assert chat.texts[-1] == CANCELLED_TEXT
    assert not await _running(chat)


async def test_typed_cancel_without_a_wizard_sends_nothing(chat: Chat) -> None:
    was_running = await chat.type_cancel()

    assert not was_running
    assert (chat.texts, chat.updates) == ([], [])


async def test_a_stale_click_gets_the_current_card_and_changes_nothing(
    chat: Chat, backend: RecordingBackend
) -> None:
    first = await chat.onboard()
    access = await chat.click(first, "Next", CONTRACTOR)
    checks = backend.count("check_step")

    stale = await chat.click(first, "Next", {**CONTRACTOR, InputId.FIRST_NAME: "Eve"})

    assert step_of(stale) == 2
    assert version_of(stale) == version_of(access)
    assert backend.count("check_step") == checks
    barriers = await chat.click(stale, "Next")
    assert step_of(barriers) == 3


async def test_the_wizard_survives_a_restart(database_url: str, backend: RecordingBackend) -> None:
    first_process = await Database.connect(database_url)
    await first_process.migrate()
    chat = Chat(new_wizard(storage_on(first_process), backend))
    card = await chat.onboard()
    access = await chat.click(card, "Next", CONTRACTOR)
    await first_process.close()

    second_process = await Database.connect(database_url)
    try:
        chat.wizard = new_wizard(storage_on(second_process), backend)
        barriers = await chat.click(access, "Next")
        contractor = await chat.click(await chat.click(barriers, "Back"), "Back")
    finally:
        await second_process.close()

    assert step_of(barriers) == 3
    assert value_of(contractor, InputId.LAST_NAME) == "Builder"


async def test_a_wizard_in_another_chat_is_independent(wizard: OnboardingWizard) -> None:
    alice = Chat(wizard)
    rita = Chat(wizard, conversation_id="a:chat-rita", user_id="29:rita", aad_object_id=RITA_ID, name="Rita")
    alice_card = await alice.onboard()
    rita_card = await rita.onboard()

    alice_access = await alice.click(alice_card, "Next", CONTRACTOR)
    rita_errors = await rita.click(rita_card, "Next", {InputId.VENDOR_COMPANY: "Fabrikam"})

    assert step_of(alice_access) == 2
    assert step_of(rita_errors) == 1
    assert value_of(rita_errors, InputId.VENDOR_COMPANY) == "Fabrikam"


async def test_a_card_from_another_chat_gets_the_ended_card(wizard: OnboardingWizard) -> None:
    alice = Chat(wizard)
    rita = Chat(wizard, conversation_id="a:chat-rita", user_id="29:rita", aad_object_id=RITA_ID, name="Rita")
    alice_card = await alice.onboard()
    await rita.onboard()

    foreign = await rita.click(alice_card, "Next", CONTRACTOR)
    alice_access = await alice.click(alice_card, "Next", CONTRACTOR)

    assert is_cancelled(foreign)
    assert step_of(alice_access) == 2


async def test_a_click_in_a_chat_without_a_wizard_gets_the_ended_card(wizard: OnboardingWizard) -> None:
    alice = Chat(wizard)
    card = await alice.onboard()
    elsewhere = Chat(wizard, conversation_id="a:other-chat")

    answer = await elsewhere.click(card, "Next", CONTRACTOR)

    assert is_cancelled(answer)


async def test_someone_else_clicking_in_the_chat_changes_nothing(
    wizard: OnboardingWizard, backend: RecordingBackend
) -> None:
    alice = Chat(wizard)
    card = await alice.onboard()
    intruder = Chat(wizard, user_id="29:rita", aad_object_id=RITA_ID, name="Rita")

    answer = await intruder.click(card, "Next", CONTRACTOR, message_id=alice.card_id)

    assert is_cancelled(answer)
    assert backend.count("check_step") == 0
    assert step_of(await alice.click(card, "Next", CONTRACTOR)) == 2


async def test_onboard_again_ends_the_running_wizard_in_place(chat: Chat) -> None:
    first = await chat.onboard()
    first_id = chat.card_id

    second = await chat.onboard()

    assert [update.id for update in chat.updates] == [first_id]
    assert is_cancelled(await chat.click(first, "Next", CONTRACTOR))
    assert step_of(await chat.click(second, "Next", CONTRACTOR)) == 2


async def test_two_submit_clicks_at_once_submit_once(chat: Chat, backend: RecordingBackend) -> None:
    review = await to_review(chat)
    backend.submit_gate = asyncio.Event()

    first = asyncio.create_task(chat.click(review, "Submit for approval"))
    second = asyncio.create_task(chat.click(review, "Submit for approval"))
    await backend.submit_started.wait()
    backend.submit_gate.set()
    answers = await asyncio.gather(first, second)

    assert backend.count("submit") == 1
    assert all(is_submitted(answer) for answer in answers)


async def test_no_review_when_the_plan_cannot_be_made_now(chat: Chat, backend: RecordingBackend) -> None:
    backend.review_error = WizardUnavailable("I couldn't reach the directory just now.")
    card = await chat.onboard()
    access = await chat.click(card, "Next", CONTRACTOR)
    barriers = await chat.click(access, "Next")

    again = await chat.click(
        barriers, "Next", {InputId.REACH_EVERYONE: "no", InputId.SEGMENT: "Vendor - Contoso"}
    )

    assert step_of(again) == 3
    assert "I couldn't reach the directory just now." in all_text(again)
    assert value_of(again, InputId.SEGMENT) == "Vendor - Contoso"


async def test_the_stored_state_is_plain_json_without_classes_of_ours(chat: Chat, database: Database) -> None:
    card = await chat.onboard()
    await chat.click(card, "Next", CONTRACTOR)

    stored = await _stored_conversation(database)

    assert '"vendorCompany":"Contoso"' in stored
    assert '"py/object":"dialogs.' not in stored


async def _running(chat: Chat) -> bool:
    running: list[bool] = []

    async def logic(turn_context: Any) -> None:
        running.append(await chat.wizard.is_running(turn_context))

    await chat.adapter.process_activity(Activity(type="message", text="status"), logic)
    return running[0]


async def _stored_conversation(database: Database) -> str:
    from storage import KeyValueStore

    stored = await KeyValueStore(database).read(["msteams/conversations/a:chat-alice"])
    return stored["msteams/conversations/a:chat-alice"][0]
