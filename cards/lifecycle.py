"""Lifecycle cards: the account card (``extend <upn>``, expiry reminders), the lifecycle approval card, the
offboarding result told to the sponsor, and the reveal card of a reset password.

Pure functions of the frozen views in :mod:`cards.views`; every string from a view goes through
:func:`cards.text.safe_text` (``line``/``facts``/``user_text``), catalogue text is written here.
"""

from __future__ import annotations

from microsoft_teams.cards import CardElement, TextInput
from microsoft_teams.cards.core import Action

from cards._elements import (
    Run,
    action_row,
    box,
    card,
    day,
    execute,
    facts,
    heading,
    line,
    moment,
    note,
    said,
    user_text,
)
from cards.actions import (
    INPUT_MAX_LENGTHS,
    InputId,
    LifecycleApprovePayload,
    LifecycleExtendPayload,
    LifecycleOffboardPayload,
    LifecycleRejectPayload,
    LifecycleResetPasswordPayload,
    RevealPasswordPayload,
)
from cards.handoff import REVEAL_TITLE
from cards.render import CardContent
from cards.views import AccountLifecycleView, LifecycleApprovalView, OffboardedView, PasswordResetView

OFFBOARD_TITLE = "Offboard now"
RESET_TITLE = "Reset password"

_ACTION_LABELS = {
    "extend": "Extend access",
    "offboard": "Offboard now",
    "reset_password": "New temporary password",
}
_STATE_LABELS = {
    "active": "Active",
    "disabled": "Offboarding",
    "offboarded": "Offboarded",
    "deleted": "Deleted",
}


def extend_title(days: int) -> str:
    """The title of an "Extend N days" button."""
    return f"Extend {days} days"


def account_card(view: AccountLifecycleView) -> CardContent:
    """An account with its end date and the actions the viewer may take (a reminder when ``days_left``)."""
    if view.days_left is not None:
        when = (
            "today" if view.days_left == 0 else f"in {view.days_left} day{'s' if view.days_left != 1 else ''}"
        )
        title = f"Access ends {when}"
    else:
        title = "Service account"
    body: list[CardElement] = [
        heading(title, size="Medium"),
        box([user_text(view.upn, weight="Bolder", monospace=True)]),
        facts(
            [
                ("Contractor", view.contractor_name),
                ("Vendor", view.vendor),
                ("Sponsor", view.sponsor),
                ("Access ends", f"{day(view.end_date)} (end of day, UTC)"),
                ("State", _STATE_LABELS.get(view.state, view.state)),
                ("Licenses", view.licenses),
            ]
        ),
    ]
    if view.days_left is not None:
        body.append(
            note(
                "At the end date the account is offboarded automatically: sign-in blocked, sessions revoked, "
                "licenses and groups removed.",
                subtle=False,
            )
        )
    if view.notice:
        body.append(box([line(Run(view.notice, limit=400))], style="emphasis"))
    actions: list[Action] = []
    if view.may_extend:
        end = view.end_date.isoformat()
        actions += [
            execute(extend_title(days), LifecycleExtendPayload(upn=view.upn, days=days, end_date=end))
            for days in view.extension_choices
        ]
    if view.may_offboard:
        actions.append(execute(OFFBOARD_TITLE, LifecycleOffboardPayload(upn=view.upn), style="destructive"))
    if view.may_reset_password:
        actions.append(execute(RESET_TITLE, LifecycleResetPasswordPayload(upn=view.upn)))
    if actions:
        body.append(action_row(actions))
    return card(body)


def offboard_confirm_card(view: AccountLifecycleView) -> CardContent:
    """``offboard <upn>``: what offboarding does, and the one button that does it."""
    body: list[CardElement] = [
        heading("Offboard this account?", size="Medium"),
        box([user_text(view.upn, weight="Bolder", monospace=True)]),
        facts([("Contractor", view.contractor_name), ("Vendor", view.vendor), ("Sponsor", view.sponsor)]),
        note(
            "Offboarding blocks sign-in, revokes every session, removes the licenses (the seats come back) "
            "and the group memberships. The account is deleted after the retention period; Microsoft Entra "
            "keeps a deleted user restorable for 30 days after that.",
            subtle=False,
        ),
    ]
    if view.notice:
        body.append(box([line(Run(view.notice, limit=400))], style="emphasis"))
    if view.may_offboard:
        body.append(
            action_row([execute(OFFBOARD_TITLE, LifecycleOffboardPayload(upn=view.upn), style="destructive")])
        )
    return card(body)


def lifecycle_approval_card(view: LifecycleApprovalView) -> CardContent:
    """The approval card of a lifecycle request, pending or decided."""
    label = _ACTION_LABELS.get(view.action, view.action)
    rows: list[tuple[str, str | tuple[str, ...]]] = [
        ("Account", view.upn),
        ("Contractor", view.contractor_name),
        ("Vendor", view.vendor),
        ("Asked by", view.requested_by),
        ("Access ends", day(view.current_end_date)),
    ]
    if view.new_end_date is not None:
        rows.append(("New end date", day(view.new_end_date)))
    body: list[CardElement] = [
        heading(label, size="Medium"),
        line(said("Request "), Run(view.request_id, weight="Bolder")),
        facts(rows),
    ]
    if view.decision is not None:
        verdict = "Approved" if view.decision.approved else "Rejected"
        body.append(
            line(
                said(f"{verdict} by "),
                Run(view.decision.by, weight="Bolder"),
                said(f" at {moment(view.decision.at)}."),
                color="Good" if view.decision.approved else "Attention",
            )
        )
        if view.decision.comment:
            body.append(line(said("Comment: "), Run(view.decision.comment, limit=500)))
    if view.notice:
        body.append(box([line(Run(view.notice, limit=400))], style="emphasis"))
    if view.status == "pending" and view.viewer_may_act:
        body.append(
            TextInput(
                id=InputId.COMMENT.value,
                label="Comment (optional)",
                is_multiline=True,
                max_length=INPUT_MAX_LENGTHS[InputId.COMMENT],
            )
        )
        ids, version = view.request_id, view.card_version
        approve = LifecycleApprovePayload(lifecycle_request_id=ids, card_version=version)
        reject = LifecycleRejectPayload(lifecycle_request_id=ids, card_version=version)
        body.append(
            action_row(
                [
                    execute("Approve", approve, style="positive"),
                    execute("Reject", reject, style="destructive"),
                ]
            )
        )
    return card(body)


def offboarded_card(view: OffboardedView) -> CardContent:
    """Told to the sponsor: the account was offboarded (or its offboarding stopped at a step)."""
    if view.failure is not None:
        return card(
            [
                heading("Offboarding stopped", size="Medium"),
                box([user_text(view.upn, weight="Bolder", monospace=True)], style="attention"),
                line(
                    said("Stopped at "),
                    Run(view.failed_step or "a step", weight="Bolder"),
                    said(": "),
                    Run(view.failure, limit=400),
                    color="Attention",
                ),
                note("Run “offboard” with the account name again to resume, or ask a bot administrator."),
            ]
        )
    why = "Its access ended" if view.reason == "expired" else "Offboarding was requested"
    body: list[CardElement] = [
        heading("Account offboarded", size="Medium"),
        box([user_text(view.upn, weight="Bolder", monospace=True)], style="good"),
        line(said(f"{why}, so the account of "), view.contractor_name, said(" was offboarded.")),
        note(
            "Sign-in is blocked, sessions are revoked, licenses and group memberships are removed.",
            subtle=False,
        ),
    ]
    if view.delete_after is not None:
        body.append(
            note(
                f"It will be deleted on {moment(view.delete_after)}; Microsoft Entra keeps a deleted user "
                "restorable for 30 days after that."
            )
        )
    return card(body)


def password_reset_card(view: PasswordResetView) -> CardContent:
    """A new temporary password is ready: the one-time **Reveal** button, for the person who asked."""
    return card(
        [
            heading("New temporary password", size="Medium"),
            box([user_text(view.upn, weight="Bolder", monospace=True)], style="good"),
            note(
                f"Reveal it once, before {moment(view.reveal_until)}, and give it to the contractor through "
                "a secure channel. They must change it at the next sign-in; earlier sessions were ended.",
                subtle=False,
            ),
        ],
        [execute(REVEAL_TITLE, RevealPasswordPayload(request_id=view.request_id), style="positive")],
    )


def lifecycle_notice_card(title: str, message: str) -> CardContent:
    """A short answer (refusal, "asked for approval", "not found"); the message may quote user input."""
    return card([heading(title, size="Medium"), line(Run(message, limit=400))])
