"""Text commands are parsed by whole words; everything else is UNKNOWN."""

import pytest

from bot.commands import CommandName, parse_command


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ("help", CommandName.HELP, ()),
        ("  HELP  ", CommandName.HELP, ()),
        ("onboard", CommandName.ONBOARD, ()),
        ("extend sa-contoso-bob@abc.com", CommandName.EXTEND, ("sa-contoso-bob@abc.com",)),
        ("offboard   sa-x@abc.com", CommandName.OFFBOARD, ("sa-x@abc.com",)),
        ("accounts", CommandName.ACCOUNTS, ()),
        ("accounts Contoso", CommandName.ACCOUNTS, ("Contoso",)),
        ("<at>Vendor Onboarding</at> approvals here", CommandName.APPROVALS_HERE, ()),
        ("<at>Vendor Onboarding</at>  Approvals   HERE ", CommandName.APPROVALS_HERE, ()),
        ("cancel", CommandName.CANCEL, ()),
    ],
)
def test_known_commands(text: str, name: CommandName, args: tuple[str, ...]) -> None:
    command = parse_command(text)
    assert (command.name, command.args) == (name, args)


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "   ",
        "please don't onboard",
        "onboarding",
        "help me",
        "extend",
        "extend a b",
        "approvals",
        "approvals here now",
        "<at>Bot</at>",
    ],
)
def test_anything_else_is_unknown(text: str | None) -> None:
    assert parse_command(text).name is CommandName.UNKNOWN


def test_unknown_keeps_the_cleaned_text_for_the_reply() -> None:
    command = parse_command("<at>Bot</at>  what   now?")
    assert command.text == "what now?"


def test_huge_input_is_cut_before_parsing() -> None:
    command = parse_command("help " + "x" * 100_000)
    assert command.name is CommandName.UNKNOWN
    assert len(command.text) <= 512


@pytest.mark.parametrize(
    ("text", "args"),
    [
        ("segment sa-x@abc.com", ("sa-x@abc.com",)),
        ("segment sa-x@abc.com Vendor - Fabrikam", ("sa-x@abc.com", "Vendor", "-", "Fabrikam")),
        ("SEGMENT  sa-x@abc.com O'Brien  Field Services", ("sa-x@abc.com", "O'Brien", "Field", "Services")),
    ],
)
def test_segment_takes_an_account_and_a_segment_name_with_spaces(text: str, args: tuple[str, ...]) -> None:
    command = parse_command(text)
    assert (command.name, command.args) == (CommandName.SEGMENT, args)


@pytest.mark.parametrize("text", ["segment", "segment a b c d e f g h i j"])
def test_segment_without_an_account_or_with_too_many_words_is_unknown(text: str) -> None:
    assert parse_command(text).name is CommandName.UNKNOWN
