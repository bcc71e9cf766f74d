"""Requester notifications and the one-time credential hand-off."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cards import handoff
from cards.actions import RevealPasswordPayload, Verb, parse_action
from cards.views import (
    ActorAt,
    CredentialsReadyView,
    Failure,
    RequestStatus,
    RevealedPasswordView,
    RevealRefusal,
    RevealRefusedView,
    StatusView,
)
from tests.cards import samples, walk

UPN = "sa-contoso-bob@abc.onmicrosoft.com"
READY = CredentialsReadyView(
    "VND-000042", UPN, "Bob Builder (Contoso)", "Bob Builder", datetime(2026, 7, 1, tzinfo=UTC)
)


def _status(status: RequestStatus, **changes: object) -> StatusView:
    values: dict[str, object] = {
        "request_id": "VND-000042",
        "status": status,
        "contractor_name": "Bob Builder",
        "vendor_company": "Contoso",
    }
    values.update(changes)
    return StatusView(**values)  # type: ignore[arg-type]


def test_ready_card_shows_the_upn() -> None:
    assert UPN in walk.text_runs(handoff.credentials_ready_card(READY))


def test_ready_card_has_one_reveal_button_for_this_request() -> None:
    buttons = walk.buttons(handoff.credentials_ready_card(READY))
    assert list(buttons) == ["Reveal temporary password"]
    action = buttons["Reveal temporary password"]
    assert parse_action(action["verb"], action["data"]) == RevealPasswordPayload(request_id="VND-000042")


def test_ready_card_says_until_when_and_first_sign_in_change() -> None:
    text = walk.all_text(handoff.credentials_ready_card(READY))
    assert "before 1 Jul 2026, 00:00 UTC" in text
    assert "change it at first sign-in" in text


def test_revealed_card_shows_the_password_exactly() -> None:
    content = handoff.revealed_password_card(RevealedPasswordView("VND-000042", UPN, "a*b_c[d](e)<f>{{g}}"))
    assert "a*b_c[d](e)<f>{{g}}" in walk.text_runs(content)


def test_revealed_card_says_shown_once_and_change_at_first_sign_in() -> None:
    text = walk.all_text(
        handoff.revealed_password_card(RevealedPasswordView("VND-000042", UPN, "Xy7!abcdEFGH"))
    )
    assert "Shown once" in text
    assert "It must be changed at first sign-in." in text


def test_password_view_repr_hides_the_password() -> None:
    view = RevealedPasswordView("VND-000042", UPN, samples.SAMPLE_PASSWORD)
    assert samples.SAMPLE_PASSWORD not in repr(view)


@pytest.mark.parametrize("password", ["", "has space", "tab\there", "naïve-pass1"])
def test_password_must_be_printable_ascii(password: str) -> None:
    with pytest.raises(ValueError, match="printable ASCII"):
        RevealedPasswordView("VND-000042", UPN, password)


def test_already_revealed_says_when() -> None:
    content = handoff.reveal_refused_card(
        RevealRefusedView("VND-000042", RevealRefusal.ALREADY_REVEALED, UPN, samples.PROVISIONED_AT)
    )
    assert (
        f"The temporary password for {UPN} was already revealed at 30 Jun 2026, 14:09 UTC."
        in walk.rich_lines(content)
    )


def test_expired_says_so() -> None:
    content = handoff.reveal_refused_card(RevealRefusedView("VND-000042", RevealRefusal.EXPIRED))
    assert "The temporary password can no longer be revealed: it expired." in walk.rich_lines(content)


def test_not_yours_says_only_the_requester_can_reveal() -> None:
    content = handoff.reveal_refused_card(RevealRefusedView("VND-000042", RevealRefusal.NOT_YOURS))
    assert "Only the person who requested this account can reveal its password." in walk.all_text(content)


@pytest.mark.parametrize("reason", list(RevealRefusal))
def test_refusals_offer_no_second_reveal(reason: RevealRefusal) -> None:
    assert walk.executes(handoff.reveal_refused_card(RevealRefusedView("VND-000042", reason))) == []


def test_status_pending_names_the_channel() -> None:
    content = handoff.status_card(
        _status(RequestStatus.PENDING_APPROVAL, approvals_channel="Vendor approvals")
    )
    assert "Waiting for approval in Vendor approvals." in walk.rich_lines(content)


def test_status_pending_without_channel_says_it_waits() -> None:
    content = handoff.status_card(_status(RequestStatus.PENDING_APPROVAL))
    assert "no approvals channel is set yet" in walk.all_text(content)


def test_status_approved_says_who_and_when() -> None:
    content = handoff.status_card(
        _status(RequestStatus.APPROVED, actor=ActorAt("Adam Approver", samples.DECIDED_AT))
    )
    assert (
        "Approved by Adam Approver at 30 Jun 2026, 14:05 UTC. I'm creating the account now."
        in walk.rich_lines(content)
    )


def test_status_rejected_shows_the_comment() -> None:
    content = handoff.status_card(
        _status(
            RequestStatus.REJECTED, actor=ActorAt("Paula Approver", samples.DECIDED_AT), comment="Not now"
        )
    )
    assert "Comment: Not now" in walk.rich_lines(content)


def test_status_failed_names_step_and_reason() -> None:
    content = handoff.status_card(
        _status(RequestStatus.FAILED, failure=Failure("Create account", "UPN taken"))
    )
    assert "Provisioning stopped at Create account: UPN taken" in walk.rich_lines(content)


def test_status_provisioned_shows_the_upn() -> None:
    assert UPN in walk.text_runs(handoff.status_card(_status(RequestStatus.PROVISIONED, upn=UPN)))


def test_status_cards_link_to_my_requests() -> None:
    buttons = walk.buttons(handoff.status_card(_status(RequestStatus.CANCELLED)))
    assert buttons["My requests"]["verb"] == Verb.COMMAND_RUN
