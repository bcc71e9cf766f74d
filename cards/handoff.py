"""Cards for the requester's 1:1 chat: status changes and the credential hand-off.

The temporary password appears in exactly one place: the body of :func:`revealed_password_card`, which
the bot returns only as the invoke response to the requester's own Reveal click. It is in no action
data, no fallback or speak text, and not in the view's ``repr``.
"""

from __future__ import annotations

from microsoft_teams.cards import CardElement

from cards._elements import Run, box, card, execute, heading, line, moment, note, said, user_text
from cards.actions import CommandRunPayload, RevealPasswordPayload
from cards.render import CardContent
from cards.views import (
    CredentialsReadyView,
    RequestStatus,
    RevealedPasswordView,
    RevealRefusal,
    RevealRefusedView,
    StatusView,
)

REVEAL_TITLE = "Reveal temporary password"


def status_card(view: StatusView) -> CardContent:
    """A status change of the requester's request, told in their 1:1 chat."""
    body: list[CardElement] = [
        line(Run("Request ", trusted=True, weight="Bolder"), Run(view.request_id, weight="Bolder")),
        line(said("Contractor: "), view.contractor_name, said(" ("), view.vendor_company, said(")")),
    ]
    body += _status_lines(view)
    return card(body, [execute("My requests", CommandRunPayload(command="requests"))])


def _status_lines(view: StatusView) -> list[CardElement]:
    by: list[Run | str] = []
    if view.actor is not None:
        by = [said(" by "), Run(view.actor.name, weight="Bolder"), said(f" at {moment(view.actor.at)}")]
    comment: list[CardElement] = (
        [line(said("Comment: "), Run(view.comment, limit=500))] if view.comment else []
    )
    match view.status:
        case RequestStatus.PENDING_APPROVAL:
            if view.approvals_channel:
                return [
                    line(
                        said("Waiting for approval in "),
                        Run(view.approvals_channel, weight="Bolder"),
                        said("."),
                    )
                ]
            return [
                box(
                    [
                        note(
                            "Waiting: no approvals channel is set yet, so no approver has been asked. "
                            "A bot administrator must mention me with “approvals here” in the admin channel.",
                            subtle=False,
                        )
                    ],
                    style="warning",
                )
            ]
        case RequestStatus.APPROVED | RequestStatus.PROVISIONING:
            return [line(said("Approved"), *by, said(". I'm creating the account now.")), *comment]
        case RequestStatus.PROVISIONED:
            lines: list[CardElement] = [note("The account is ready.", subtle=False)]
            if view.upn:
                lines.append(box([user_text(view.upn, weight="Bolder", monospace=True)], style="good"))
            return lines
        case RequestStatus.FAILED:
            lines = [line(said("Provisioning stopped."), color="Attention")]
            if view.failure is not None:
                lines = [
                    line(
                        said("Provisioning stopped at "),
                        Run(view.failure.step_label, weight="Bolder"),
                        said(": "),
                        Run(view.failure.reason, limit=400),
                        color="Attention",
                    )
                ]
            lines.append(note("An approver can retry it or cancel the request from the approval card."))
            return lines
        case RequestStatus.REJECTED:
            return [line(said("Rejected"), *by, said("."), color="Attention"), *comment]
        case RequestStatus.CANCELLED:
            return [line(said("Cancelled"), *by, said(". Anything created for it was removed."))]


def credentials_ready_card(view: CredentialsReadyView) -> CardContent:
    """The account exists: its UPN and the one-time **Reveal temporary password** button."""
    return card(
        [
            heading("Account ready", size="Medium"),
            line(said("The service account for "), view.contractor_name, said(" is ready:")),
            box([user_text(view.upn, weight="Bolder", monospace=True)], style="good"),
            line(said("Display name: "), view.display_name),
            note(
                f"Reveal the temporary password once, before {moment(view.reveal_until)}, and give it to "
                "the contractor through a secure channel, separately from the user name. They must change "
                "it at first sign-in.",
                subtle=False,
            ),
        ],
        [execute(REVEAL_TITLE, RevealPasswordPayload(request_id=view.request_id), style="positive")],
    )


def revealed_password_card(view: RevealedPasswordView) -> CardContent:
    """The temporary password, shown once to the requester as the answer to their Reveal click."""
    return card(
        [
            heading("Temporary password", size="Medium"),
            line(said("Account: "), Run(view.upn, font_type="Monospace")),
            # Generated, printable ASCII (checked by the view): shown exactly, in a run hosts don't parse.
            box(
                [line(Run(view.password, trusted=True, weight="Bolder", font_type="Monospace"))],
                style="emphasis",
            ),
            note(
                "Shown once: copy it now. It must be changed at first sign-in. Give it to the contractor "
                "through a secure channel; never post it in a channel or email it with the user name.",
                subtle=False,
            ),
        ]
    )


def reveal_refused_card(view: RevealRefusedView) -> CardContent:
    """A Reveal click that shows no password: already revealed, expired, not the requester, not ready."""
    when = f" at {moment(view.at)}" if view.at is not None else ""
    account: list[Run | str] = [said(" for "), Run(view.upn, font_type="Monospace")] if view.upn else []
    match view.reason:
        case RevealRefusal.ALREADY_REVEALED:
            title = "Already revealed"
            body: list[CardElement] = [
                line(said("The temporary password"), *account, said(f" was already revealed{when}.")),
                note(
                    "It is shown only once. If it was lost, ask an administrator to reset the password.",
                    subtle=False,
                ),
            ]
        case RevealRefusal.EXPIRED:
            title = "No longer available"
            body = [
                line(
                    said("The temporary password"),
                    *account,
                    said(f" can no longer be revealed: it expired{when}."),
                ),
                note("Ask an administrator to reset the password.", subtle=False),
            ]
        case RevealRefusal.NOT_YOURS:
            title = "Not yours to reveal"
            body = [note("Only the person who requested this account can reveal its password.", subtle=False)]
        case RevealRefusal.NOT_READY:
            title = "Not ready yet"
            body = [note("The account is not ready yet. I'll tell you here when it is.", subtle=False)]
    return card(
        [heading(title, size="Medium"), line(said("Request "), Run(view.request_id, weight="Bolder")), *body]
    )
