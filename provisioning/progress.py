"""The provisioning run's named steps and how the run tells the bot that something changed.

The run never renders cards: after every change it calls :meth:`ProgressSink.request_changed`, and the bot's
notifier re-reads the request and its step log and updates the approval card and the requester's chat
(coalescing bursts, within Teams' rate limits). A sink must not raise for a card it cannot update; the run
logs and ignores it if it does, because a missed card update must never stop or repeat Graph work.
"""

from __future__ import annotations

from typing import Final, Protocol

__all__ = [
    "PROVISIONING_STEPS",
    "STEP_CHECK",
    "STEP_CREATE",
    "STEP_GROUPS",
    "STEP_LABELS",
    "STEP_LICENSE",
    "STEP_RECORD",
    "STEP_UNDO",
    "NullProgress",
    "ProgressSink",
]

STEP_CHECK: Final = "check"
STEP_CREATE: Final = "create"
STEP_LICENSE: Final = "license"
STEP_GROUPS: Final = "groups"
STEP_RECORD: Final = "record"
#: Not a provisioning step: the step-log entry of a cancellation's undo (shown only when it fails).
STEP_UNDO: Final = "undo"

#: The steps of a provisioning run, in the order they run. Names are stored in the step log: never rename.
PROVISIONING_STEPS: tuple[str, ...] = (STEP_CHECK, STEP_CREATE, STEP_LICENSE, STEP_GROUPS, STEP_RECORD)

#: How each step reads on the cards ("Failed at *Assign licenses*: ...").
STEP_LABELS: dict[str, str] = {
    STEP_CHECK: "Check seats and name",
    STEP_CREATE: "Create account",
    STEP_LICENSE: "Assign licenses",
    STEP_GROUPS: "Add to groups",
    STEP_RECORD: "Record",
    STEP_UNDO: "Undo for cancellation",
}


class ProgressSink(Protocol):
    """Told after every change of a request or its step log (the bot's notifier implements it)."""

    async def request_changed(self, number: int) -> None:
        """Request ``number`` or its step log changed: re-read them and update what shows them."""
        ...


class NullProgress:
    """A sink that tells nobody (command-line runs, and tests where cards are not the point)."""

    async def request_changed(self, number: int) -> None:
        """Do nothing."""
