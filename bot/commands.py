"""Text commands: parsed by whole words, never by substring.

``"please don't onboard"`` is not ``onboard``; ``"extend sa-x@abc.com"`` is ``extend`` with one
argument. The mention of the bot in a channel is removed before parsing (Teams puts ``<at>Bot</at>``
in the text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

_AT_TAG = re.compile(r"<at>.*?</at>", re.IGNORECASE | re.DOTALL)
_MAX_COMMAND_TEXT = 512


class CommandName(StrEnum):
    HELP = "help"
    ONBOARD = "onboard"
    CANCEL = "cancel"
    REQUESTS = "requests"
    ACCOUNTS = "accounts"
    LICENSES = "licenses"
    EXTEND = "extend"
    OFFBOARD = "offboard"
    BARRIERS = "barriers"
    AUDIT = "audit"
    SEGMENT = "segment"
    APPROVALS_HERE = "approvals here"
    UNKNOWN = "unknown"


#: Commands and how many arguments they take (min, max).
_ARITY: dict[CommandName, tuple[int, int]] = {
    CommandName.HELP: (0, 0),
    CommandName.ONBOARD: (0, 0),
    CommandName.CANCEL: (0, 0),
    CommandName.REQUESTS: (0, 0),
    # Vendor names may have spaces: `accounts Contoso Field Services`.
    CommandName.ACCOUNTS: (0, 8),
    CommandName.LICENSES: (0, 0),
    CommandName.EXTEND: (1, 1),
    CommandName.OFFBOARD: (1, 1),
    CommandName.BARRIERS: (0, 0),
    # `audit export [FROM [TO]]`
    CommandName.AUDIT: (1, 3),
    # `segment <upn> [segment name]`: names may have spaces and apostrophes (`O'Brien Field Services`).
    CommandName.SEGMENT: (1, 9),
}


@dataclass(frozen=True)
class Command:
    name: CommandName
    args: tuple[str, ...] = ()
    #: The text as typed (mention removed, whitespace collapsed), for "I didn't understand ...".
    text: str = ""


def parse_command(text: str | None) -> Command:
    """Parse what a user typed; anything that is not exactly a known command is ``UNKNOWN``."""
    cleaned = " ".join(_AT_TAG.sub(" ", text or "").split())[:_MAX_COMMAND_TEXT]
    words = cleaned.split(" ") if cleaned else []
    if not words:
        return Command(CommandName.UNKNOWN, text=cleaned)
    head = words[0].lower()
    if head == "approvals" and len(words) == 2 and words[1].lower() == "here":
        return Command(CommandName.APPROVALS_HERE, text=cleaned)
    try:
        name = CommandName(head)
    except ValueError:
        return Command(CommandName.UNKNOWN, text=cleaned)
    low, high = _ARITY.get(name, (0, 0))
    args = tuple(words[1:])
    if not low <= len(args) <= high:
        return Command(CommandName.UNKNOWN, text=cleaned)
    return Command(name, args, cleaned)
