"""The approval card of a bulk onboarding batch: one card for the whole file, in every state of the batch.

Pending: the count of contractors, licenses needed against seats free, every refused row with its
problem, a comment box and **Approve all** / **Reject**. Approved: progress ``12 / 50`` (updated in place,
coalesced), then the outcome, with **Retry failed rows** while some rows failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from microsoft_teams.cards import CardElement, TextInput
from microsoft_teams.cards.core import Action, ContainerStyle

from cards._elements import Run, box, card, execute, facts, line, moment, note, said
from cards.actions import (
    INPUT_MAX_LENGTHS,
    BulkApprovePayload,
    BulkRejectPayload,
    BulkRetryFailedPayload,
    InputId,
)
from cards.render import CardContent

#: Refused rows listed on the card; the rest are counted ("and 12 more: see the command line output").
MAX_PROBLEMS_SHOWN = 25


@dataclass(frozen=True)
class SeatNeed:
    """One SKU: the product's name, seats the batch needs, seats free now (None: unknown)."""

    name: str
    needed: int
    free: int | None


@dataclass(frozen=True)
class BulkCardView:
    """Everything the batch's card shows; built by the bot from the stored batch and its requests."""

    batch_id: int
    #: ``pending_approval``, ``approved``, ``rejected`` or ``completed``.
    status: str
    card_version: int
    source_name: str
    submitted_by: str
    submitted_at: datetime
    total_rows: int
    accepted_rows: int
    #: "Row 7, contractor_email: ..." sentences.
    problems: tuple[str, ...]
    seats: tuple[SeatNeed, ...]
    provisioned: int = 0
    failed: int = 0
    in_progress: int = 0
    decided_by: str | None = None
    decided_at: datetime | None = None
    comment: str | None = None
    notice: str | None = None
    viewer_may_act: bool = True


_STATUS_TEXT = {
    "pending_approval": "Waiting for approval",
    "approved": "Approved: provisioning",
    "rejected": "Rejected",
    "completed": "Provisioned",
}
_STATUS_STYLE: dict[str, ContainerStyle] = {
    "pending_approval": "accent",
    "rejected": "attention",
    "completed": "good",
}


def bulk_card(view: BulkCardView) -> CardContent:
    """The batch's approval card for ``view``'s state."""
    status = _STATUS_TEXT.get(view.status, view.status)
    if view.status == "approved" and view.failed and not view.in_progress:
        status = "Provisioning finished with failed rows"
    body: list[CardElement] = [
        line(
            Run("Bulk onboarding ", trusted=True, weight="Bolder"),
            Run(f"batch {view.batch_id}", weight="Bolder"),
        ),
        box([line(said(status))], style=_STATUS_STYLE.get(view.status, "emphasis")),
    ]
    if view.notice:
        body.append(box([line(view.notice, color="Attention")], style="attention"))
    body.append(
        facts(
            [
                ("File", view.source_name),
                ("Submitted by", f"{view.submitted_by}, {moment(view.submitted_at)}"),
                ("Contractors", f"{view.accepted_rows} to onboard of {view.total_rows} rows"),
            ]
        )
    )
    if view.seats:
        body.append(
            facts([("Licenses", tuple(_seat_text(seat) for seat in view.seats))]),
        )
    if view.problems:
        shown = view.problems[:MAX_PROBLEMS_SHOWN]
        lines = [line(problem, color="Attention") for problem in shown]
        if len(view.problems) > len(shown):
            lines.append(line(f"… and {len(view.problems) - len(shown)} more rows with problems"))
        body.append(note(f"{len(view.problems)} row(s) will not be onboarded:", subtle=False))
        body.append(box(lines, style="warning"))
    if view.decided_by is not None and view.decided_at is not None:
        verb = "Rejected" if view.status == "rejected" else "Approved"
        text = f"{verb} by {view.decided_by} at {moment(view.decided_at)}"
        body.append(line(text + (f": {view.comment}" if view.comment else "")))
    if view.status in ("approved", "completed"):
        body.append(line(said(progress_text(view))))
    actions: list[Action] = []
    if view.viewer_may_act and view.status == "pending_approval":
        body.append(
            TextInput(
                id=InputId.COMMENT.value,
                label="Comment (required to reject)",
                is_multiline=True,
                max_length=INPUT_MAX_LENGTHS[InputId.COMMENT],
            )
        )
        actions = [
            execute(
                f"Approve {view.accepted_rows}",
                BulkApprovePayload(batch_id=view.batch_id, card_version=view.card_version),
                style="positive",
            ),
            execute("Reject", BulkRejectPayload(batch_id=view.batch_id, card_version=view.card_version)),
        ]
    elif view.viewer_may_act and view.status == "approved" and view.failed and not view.in_progress:
        actions = [
            execute(
                f"Retry {view.failed} failed row(s)",
                BulkRetryFailedPayload(batch_id=view.batch_id, card_version=view.card_version),
                send_inputs=False,
            )
        ]
    return card(body, actions, full_width=True)


def bulk_unknown_card() -> CardContent:
    """The answer to a click on a batch that does not exist (a forged or foreign card)."""
    return card([box([line(said("There is no such bulk batch; nothing was changed."))], style="attention")])


def progress_text(view: BulkCardView) -> str:
    """ "12 / 50 provisioned · 1 failed" (what the card shows while and after provisioning)."""
    text = f"{view.provisioned} / {view.accepted_rows} provisioned"
    if view.failed:
        text += f" · {view.failed} failed"
    return text


def _seat_text(seat: SeatNeed) -> str:
    if seat.free is None:
        return f"{seat.name}: {seat.needed} needed (free seats unknown)"
    short = " (not enough: the last rows will fail)" if seat.needed > seat.free else ""
    return f"{seat.name}: {seat.needed} needed, {seat.free} free{short}"
