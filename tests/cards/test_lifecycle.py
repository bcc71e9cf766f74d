"""Lifecycle cards: the buttons each view allows, the payloads they carry, untrusted text kept literal, and no
password anywhere in the reset card."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime

from cards.actions import Verb, parse_action
from cards.lifecycle import (
    account_card,
    lifecycle_approval_card,
    offboard_confirm_card,
    offboarded_card,
    password_reset_card,
)
from cards.render import CARD_VERSION
from cards.views import (
    AccountLifecycleView,
    Decision,
    LifecycleApprovalView,
    OffboardedView,
    PasswordResetView,
)
from tests.cards.walk import all_text, buttons, inputs, text_blocks

AT = datetime(2030, 3, 17, 9, 0, tzinfo=UTC)
ACCOUNT = AccountLifecycleView(
    upn="sa-contoso1-bob.builder@abc.com",
    contractor_name="Bob Builder",
    vendor="Contoso1",
    sponsor="Alice Requester",
    end_date=date(2030, 3, 31),
    state="active",
    licenses=("MICROSOFT_REMOTE_ASSIST",),
    days_left=14,
    extension_choices=(30, 90),
    may_extend=True,
    may_offboard=True,
    may_reset_password=True,
)
APPROVAL = LifecycleApprovalView(
    request_id="LC-000001",
    card_version=1,
    action="extend",
    upn=ACCOUNT.upn,
    contractor_name="Bob Builder",
    vendor="Contoso1",
    requested_by="Alice Requester",
    current_end_date=date(2030, 3, 31),
    new_end_date=date(2030, 6, 29),
)


def test_a_reminder_says_when_access_ends() -> None:
    assert "Access ends in 14 days" in text_blocks(account_card(ACCOUNT))


def test_a_reminder_offers_extend_offboard_and_reset() -> None:
    assert set(buttons(account_card(ACCOUNT))) == {
        "Extend 30 days",
        "Extend 90 days",
        "Offboard now",
        "Reset password",
    }


def test_each_extend_button_carries_the_end_date_it_was_shown_with() -> None:
    action = buttons(account_card(ACCOUNT))["Extend 90 days"]
    payload = parse_action(action["verb"], action["data"])
    assert payload.verb is Verb.LIFECYCLE_EXTEND
    assert payload.model_dump() == {"upn": ACCOUNT.upn, "days": 90, "endDate": "2030-03-31"}


def test_a_viewer_who_may_not_act_gets_no_buttons() -> None:
    view = replace(ACCOUNT, may_extend=False, may_offboard=False, may_reset_password=False)
    assert buttons(account_card(view)) == {}


def test_the_offboard_confirmation_says_deleted_users_are_restorable_for_30_days() -> None:
    card = offboard_confirm_card(ACCOUNT)
    assert "restorable for 30 days" in all_text(card)
    assert set(buttons(card)) == {"Offboard now"}


def test_untrusted_names_stay_literal() -> None:
    card = account_card(replace(ACCOUNT, contractor_name="<at>Everyone</at> {{DATE(x)}}"))
    text = json.dumps(card, ensure_ascii=False)
    assert "<at>" not in text
    assert "{{DATE" not in text


def test_a_pending_approval_card_has_a_comment_and_both_decisions() -> None:
    card = lifecycle_approval_card(APPROVAL)
    assert set(buttons(card)) == {"Approve", "Reject"}
    assert "comment" in inputs(card)


def test_a_decided_approval_card_shows_who_decided_and_has_no_buttons() -> None:
    view = replace(APPROVAL, status="approved", decision=Decision(approved=True, by="Adam Approver", at=AT))
    card = lifecycle_approval_card(view)
    assert buttons(card) == {}
    assert "Adam Approver" in all_text(card)


def test_the_approval_card_version_is_what_the_buttons_send() -> None:
    action = buttons(lifecycle_approval_card(replace(APPROVAL, card_version=7)))["Approve"]
    assert action["data"]["cardVersion"] == 7


def test_the_offboarded_card_gives_the_deletion_date() -> None:
    card = offboarded_card(
        OffboardedView(upn=ACCOUNT.upn, contractor_name="Bob", reason="expired", delete_after=AT)
    )
    assert "17 Mar 2030" in all_text(card)


def test_the_reset_card_has_only_the_reveal_button_and_no_password() -> None:
    card = password_reset_card(PasswordResetView(request_id="VND-000001", upn=ACCOUNT.upn, reveal_until=AT))
    action = buttons(card)["Reveal temporary password"]
    assert action["data"] == {"requestId": "VND-000001"}
    assert card["version"] == CARD_VERSION
