"""Cards of the everyday commands (DESIGN §3.4): ``requests``, ``accounts``, ``licenses``, ``audit export``.

Pure functions of the view models in :mod:`cards.views`. Long lists are paged: the card shows one page and
**Previous** / **Next** buttons (``list.page``) that ask the bot for the neighbouring page; the bot, not the
card, decides what the clicker may see on it.
"""

from __future__ import annotations

from microsoft_teams.cards import CardElement
from microsoft_teams.cards.core import Action, ContainerStyle

from cards._elements import Run, action_row, box, card, day, execute, facts, heading, line, moment, note, said
from cards.actions import ListName, ListPagePayload, OpenRequestPayload
from cards.approval import STATUS_TEXT
from cards.render import CardContent
from cards.views import (
    AccountListView,
    AccountRow,
    AuditExportView,
    LicenseRow,
    LicensesView,
    Paging,
    RequestListView,
    RequestRow,
    RequestStatus,
)

_STATUS_STYLE: dict[RequestStatus, ContainerStyle] = {
    RequestStatus.PROVISIONED: "good",
    RequestStatus.FAILED: "attention",
    RequestStatus.REJECTED: "attention",
    RequestStatus.PENDING_APPROVAL: "accent",
}


def paging_actions(list_name: ListName, paging: Paging) -> list[Action]:
    """Previous / Next buttons for a paged list (none on a list that fits one page)."""
    buttons: list[Action] = []
    if paging.has_previous:
        buttons.append(
            execute(
                "Previous",
                ListPagePayload(list_name=list_name, page=paging.page - 1, vendor=paging.vendor),
                send_inputs=False,
            )
        )
    if paging.has_next:
        buttons.append(
            execute(
                "Next",
                ListPagePayload(list_name=list_name, page=paging.page + 1, vendor=paging.vendor),
                send_inputs=False,
            )
        )
    return buttons


def _page_note(paging: Paging) -> list[CardElement]:
    if not paging.has_previous and not paging.has_next:
        return []
    return [note(f"Page {paging.page + 1}")]


# ---------------------------------------------------------------------------------------------- requests


def requests_card(view: RequestListView) -> CardContent:
    """The caller's requests, newest first: state, what happens next, and a button to open each."""
    body: list[CardElement] = [heading("Your onboarding requests")]
    if not view.rows:
        body.append(
            note(
                "No more requests."
                if view.paging.page
                else "You have no onboarding requests yet. Type **onboard** to start one.",
                subtle=False,
            )
        )
    for row in view.rows:
        body.append(_request_row(row))
    body += _page_note(view.paging)
    return card(body, paging_actions("requests", view.paging), full_width=True)


def _request_row(row: RequestRow) -> CardElement:
    pairs: list[tuple[str, str | tuple[str, ...]]] = [
        ("Contractor", (row.contractor_name, row.vendor_company)),
        ("Status", STATUS_TEXT[row.status]),
        ("Next", row.next_step),
        ("Updated", moment(row.updated_at)),
    ]
    if row.upn:
        pairs.insert(1, ("Account", row.upn))
    return box(
        [
            line(Run(row.request_id, weight="Bolder")),
            facts(pairs),
            action_row([execute("Open", OpenRequestPayload(request_id=row.request_id), send_inputs=False)]),
        ],
        style=_STATUS_STYLE.get(row.status, "emphasis"),
    )


# ---------------------------------------------------------------------------------------------- accounts


def accounts_card(view: AccountListView) -> CardContent:
    """Service accounts by vendor: UPN, contractor, sponsor, licenses, segment, end date, state."""
    title = "Service accounts"
    if view.paging.vendor:
        title += " of one vendor"
    body: list[CardElement] = [heading(title)]
    if view.paging.vendor:
        body.append(line(said("Vendor: "), Run(view.paging.vendor, weight="Bolder")))
    body.append(
        note(
            "All service accounts the bot manages."
            if view.all_accounts
            else "The service accounts you sponsor (approvers and bot administrators see all)."
        )
    )
    if not view.rows:
        body.append(note("No service accounts to show.", subtle=False))
    for row in view.rows:
        body.append(_account_row(row))
    body += _page_note(view.paging)
    return card(body, paging_actions("accounts", view.paging), full_width=True)


def _account_row(row: AccountRow) -> CardElement:
    return box(
        [
            line(Run(row.upn, weight="Bolder", font_type="Monospace")),
            facts(
                [
                    ("Contractor", row.contractor_name),
                    ("Vendor", row.vendor),
                    ("Sponsor", row.sponsor),
                    ("Licenses", row.licenses),
                    ("Segment", row.segment or "None: can find and contact everyone"),
                    ("Access ends", day(row.end_date)),
                    ("State", row.state),
                ]
            ),
        ],
        style="emphasis",
    )


# ---------------------------------------------------------------------------------------------- licenses


def licenses_card(view: LicensesView) -> CardContent:
    """Seats of every SKU in the license profiles and the IB-capable preference list."""
    body: list[CardElement] = [heading("Licenses")]
    if view.as_of is None:
        body.append(
            note("The tenant's seat counts could not be read from Microsoft Graph just now.", color="Warning")
        )
    else:
        suffix = " (Microsoft Graph did not answer since; these may be out of date)" if view.stale else ""
        body.append(note(f"Seats as of {moment(view.as_of)}{suffix}."))
    for row in view.rows:
        body.append(_license_row(row))
    return card(body, full_width=True)


def _count(value: int | None) -> str:
    return "unknown" if value is None else str(value)


def _license_row(row: LicenseRow) -> CardElement:
    exhausted = row.free is not None and row.free <= 0
    return box(
        [
            line(Run(row.name, weight="Bolder"), said("  "), Run(row.part_number, font_type="Monospace")),
            facts(
                [
                    ("Total", _count(row.total) if row.total is not None else "not in this tenant"),
                    ("Used", _count(row.used)),
                    ("Free", _count(row.free)),
                    ("Held by this bot's accounts", str(row.held_by_bot)),
                    ("Listed for", row.purpose),
                ]
            ),
        ],
        style="attention" if exhausted else "emphasis",
    )


# ---------------------------------------------------------------------------------------------- audit export


def audit_export_card(view: AuditExportView) -> CardContent:
    """How to get the audit CSV for a date range (Teams cannot receive a file from the bot here)."""
    body: list[CardElement] = [
        heading("Audit export"),
        facts(
            [
                ("From", day(view.start)),
                ("To (inclusive)", day(view.end)),
                ("Events", str(view.events)),
            ]
        ),
        note(
            "The CSV is written by the operator command line on the bot's host (it holds no passwords or "
            "tokens). Run:",
            subtle=False,
        ),
        box([line(Run(view.cli_command, font_type="Monospace", limit=400))], style="emphasis"),
        note(
            "Sending the file into this chat needs the Teams file-consent flow, which this bot does not use.",
        ),
    ]
    return card(body, full_width=True)


# ---------------------------------------------------------------------------------------------- refusals


def not_allowed_card(what: str, group: str | None) -> CardContent:
    """ "You're not allowed to <what>." and, when a group would allow it, the group to ask for."""
    body: list[CardElement] = [
        heading("Not allowed", size="Medium"),
        note(f"You're not allowed to {what}.", subtle=False),
    ]
    if group is not None:
        body.append(note(f"Ask your admin to add you to the {group} group.", subtle=False))
    return card(body)
