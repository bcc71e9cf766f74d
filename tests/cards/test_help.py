"""Help, welcome, unknown-text, error, refusal and channel-binding cards."""

from __future__ import annotations

import pytest

from cards import help
from cards.actions import CommandRunPayload, parse_action
from cards.views import ErrorView, RefusedAction
from tests.cards import walk

COMMAND_WORDS = ("help", "onboard", "requests", "accounts", "licenses", "extend", "offboard", "barriers")


def _command_titles(content: dict[str, object]) -> list[str]:
    return [run["text"] for run in walk.of_type(content, "TextRun") if run.get("fontType") == "Monospace"]


def test_help_lists_every_command() -> None:
    titles = _command_titles(help.help_card())
    assert [title.split()[0] for title in titles] == [
        "help",
        "onboard",
        "cancel",
        "requests",
        "accounts",
        "licenses",
        "extend",
        "offboard",
        "barriers",
        "segment",
    ]


def test_every_command_has_a_one_line_description() -> None:
    assert all(description.endswith(".") and "\n" not in description for _, description in help.COMMANDS)


def test_help_mentions_approvals_here_only_for_channel_admins() -> None:
    assert "approvals here" not in walk.all_text(help.help_card())
    assert "@bot approvals here" in walk.all_text(help.help_card(show_channel_admin=True))


def test_welcome_offers_onboarding_and_help() -> None:
    buttons = walk.buttons(help.welcome_card("Alice"))
    assert [parse_action(action["verb"], action["data"]) for action in buttons.values()] == [
        CommandRunPayload(command="onboard"),
        CommandRunPayload(command="help"),
    ]


def test_welcome_greets_by_name() -> None:
    assert "Hi Alice!" in walk.rich_lines(help.welcome_card("Alice"))


def test_unknown_text_is_quoted_literally() -> None:
    content = help.unknown_command_card("**Evil**](http://x)")
    assert "I didn't understand “**Evil**](http://x)”. Here is what I can do:" in walk.rich_lines(content)


def test_unknown_text_is_never_in_a_markdown_block() -> None:
    content = help.unknown_command_card("**Evil**](http://x)")
    assert not [text for text in walk.text_blocks(content) if "Evil" in text]


def test_unknown_text_is_shortened() -> None:
    content = help.unknown_command_card("y" * 5000)
    quoted = next(text for text in walk.text_runs(content) if text.startswith("y"))
    assert len(quoted) == 100


def test_unknown_card_lists_the_commands() -> None:
    titles = _command_titles(help.unknown_command_card("hello"))
    assert {title.split()[0] for title in titles} >= set(COMMAND_WORDS)


def test_error_card_shows_catalogue_text_and_reference() -> None:
    content = help.error_card(ErrorView("I couldn't save that. Try again.", "c0ffee-42"))
    lines = walk.rich_lines(content)
    assert "I couldn't save that. Try again." in lines
    assert "Reference: c0ffee-42" in lines


def test_refusal_names_the_action_and_the_group() -> None:
    text = walk.all_text(help.refusal_card(RefusedAction.BIND_CHANNEL))
    assert "You're not allowed to choose the approvals channel." in text
    assert "Ask your admin to add you to the bot administrators group." in text


def test_refusal_accepts_the_plain_key() -> None:
    assert help.refusal_card("bind_channel") == help.refusal_card(RefusedAction.BIND_CHANNEL)


def test_refusal_uses_the_configured_group_name() -> None:
    text = walk.all_text(help.refusal_card(RefusedAction.APPROVE, group_name="IT Approvers"))
    assert "Ask your admin to add you to the IT Approvers group." in text


def test_own_request_refusal_names_no_group() -> None:
    text = walk.all_text(help.refusal_card(RefusedAction.APPROVE_OWN))
    assert "your own request" in text
    assert "Ask your admin" not in text


def test_unknown_refusal_key_is_an_error() -> None:
    with pytest.raises(ValueError, match="not_a_thing"):
        help.refusal_card("not_a_thing")


def test_every_refusal_has_catalogue_text() -> None:
    for action in RefusedAction:
        assert "You're not allowed to" in walk.all_text(help.refusal_card(action))


def test_channel_bound_names_the_channel() -> None:
    content = help.channel_bound_card("Vendor approvals", "Adam Approver")
    lines = walk.rich_lines(content)
    assert "New onboarding requests will be posted in Vendor approvals." in lines
    assert "Set by Adam Approver." in lines
