"""Teams-shaped activities and reading buttons off the bot's cards."""

from bench.activities import ALICE, card_click, card_of_invoke_response, cards_of, execute_data, message
from settings import SANDBOX_TENANT_ID

CARD = {
    "type": "AdaptiveCard",
    "body": [
        {"type": "Container", "items": [{"type": "TextBlock", "text": "Step 1"}]},
        {
            "type": "ActionSet",
            "actions": [{"type": "Action.Execute", "verb": "wizard.back", "data": {"wizardId": "w1"}}],
        },
    ],
    "actions": [{"type": "Action.Execute", "verb": "wizard.next", "data": {"wizardId": "w1", "step": 1}}],
}


def test_message_carries_tenant_sender_and_service_url() -> None:
    activity = message("a:c1", "help", service_url="http://127.0.0.1:9/")
    assert activity["channelData"]["tenant"]["id"] == SANDBOX_TENANT_ID
    assert activity["from"]["aadObjectId"] == ALICE.aad_object_id
    assert (activity["serviceUrl"], activity["text"]) == ("http://127.0.0.1:9/", "help")


def test_each_activity_gets_a_new_id() -> None:
    first = message("a:c1", "x", service_url="http://127.0.0.1:9/")
    second = message("a:c1", "x", service_url="http://127.0.0.1:9/")
    assert first["id"] != second["id"]


def test_card_click_is_a_universal_action_invoke() -> None:
    click = card_click("a:c1", "wizard.next", {"step": 1}, service_url="http://127.0.0.1:9/")
    assert (click["type"], click["name"]) == ("invoke", "adaptiveCard/action")
    assert click["value"]["action"] == {"type": "Action.Execute", "verb": "wizard.next", "data": {"step": 1}}


def test_execute_data_finds_buttons_in_the_body_and_the_actions() -> None:
    assert execute_data(CARD, "wizard.back") == {"wizardId": "w1"}
    assert execute_data(CARD, "wizard.next") == {"wizardId": "w1", "step": 1}


def test_execute_data_is_none_for_a_missing_verb() -> None:
    assert execute_data(CARD, "wizard.submit") is None


def test_cards_of_reads_adaptive_card_attachments_only() -> None:
    sent = {
        "attachments": [
            {"contentType": "text/plain", "content": "x"},
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": CARD},
        ]
    }
    assert cards_of(sent) == [CARD]


def test_invoke_response_card_is_read_from_its_value() -> None:
    body = {"statusCode": 200, "type": "application/vnd.microsoft.card.adaptive", "value": CARD}
    assert card_of_invoke_response(body) == CARD


def test_an_error_invoke_response_has_no_card() -> None:
    body = {"statusCode": 400, "type": "application/vnd.microsoft.error", "value": {"code": "BadRequest"}}
    assert card_of_invoke_response(body) is None
