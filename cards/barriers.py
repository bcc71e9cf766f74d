"""Information-barrier cards: the ``barriers`` command and the segment-change cards (DESIGN §3.6).

The ``barriers`` card shows the catalog (segments, how the bot places accounts, policies), the validation
result as sentences an administrator can act on, and the generated PowerShell in a ``CodeBlock`` (shown
literally, never as markdown). A script too big for one card (Teams refuses cards over about 28 KB) is
split over pages with **Previous** / **Next**, and the card always names the CLI command that writes the
whole script to a file.
"""

from __future__ import annotations

from microsoft_teams.cards import CardElement, Choice, ChoiceSetInput, CodeBlock, TextInput
from microsoft_teams.cards.core import Action, ContainerStyle

from cards._elements import Run, box, card, execute, facts, heading, line, moment, note, said
from cards.actions import (
    INPUT_MAX_LENGTHS,
    InputId,
    SegmentChangeApprovePayload,
    SegmentChangeProposePayload,
    SegmentChangeRejectPayload,
    SegmentChangeRetryPayload,
)
from cards.lists import paging_actions
from cards.render import CardContent
from cards.views import BarriersView, SegmentChangeFormView, SegmentChangeView


def barriers_card(view: BarriersView) -> CardContent:
    """The catalog, its validation result and (a page of) the PowerShell that applies it."""
    body: list[CardElement] = [heading("Information barriers")]
    if not view.configured:
        body.append(
            note(
                "No segment catalog is configured (SEGMENTS_CATALOG_PATH), so contractors are onboarded "
                "without information barriers: they can find and contact everyone.",
                subtle=False,
            )
        )
        return card(body, full_width=True)
    if view.show_catalog:
        body += _catalog(view)
        body += _validation(view)
    if view.script_page is not None:
        title = "PowerShell (Security & Compliance)"
        if view.script_parts > 1:
            title += f", part {view.script_part} of {view.script_parts}"
        body.append(note(title, subtle=False))
        body.append(
            CodeBlock(
                code_snippet=view.script_page,
                language="PowerShell",
                start_line_number=view.first_line,
                spacing="Small",
            )
        )
    if view.cli_command:
        body.append(note("The whole script as a file, on the bot's host:"))
        body.append(box([line(Run(view.cli_command, font_type="Monospace", limit=400))], style="emphasis"))
    return card(body, paging_actions("barriers", view.paging), full_width=True)


def _catalog(view: BarriersView) -> list[CardElement]:
    # One line per segment and per policy: a catalog of a few dozen segments must still fit one card.
    items: list[CardElement] = [line(said("Mode: "), Run(view.mode, weight="Bolder"))]
    items.append(note("Segments", subtle=False))
    for segment in view.segments:
        parts: list[Run | str] = [
            Run(segment.name, weight="Bolder"),
            said(f" ({segment.kind}): "),
            Run(segment.user_group_filter, font_type="Monospace", limit=400),
        ]
        if segment.placement:
            parts += [said(" · the bot sets "), Run(segment.placement, limit=300)]
        items.append(line(*parts))
    if view.more_segments:
        items.append(note(f"… and {view.more_segments} more segments (all are in the script)."))
    items.append(note("Policies", subtle=False))
    if not view.policies and not view.more_policies:
        items.append(note("None: segments alone separate nobody."))
    for policy in view.policies:
        items.append(
            line(
                Run(policy.name, weight="Bolder"),
                said(": "),
                Run(policy.segment),
                said(f" {policy.relation} "),
                Run(", ".join(policy.targets), limit=600),
            )
        )
    if view.more_policies:
        items.append(note(f"… and {view.more_policies} more policies (all are in the script)."))
    return items


def _validation(view: BarriersView) -> list[CardElement]:
    if not view.errors and not view.warnings:
        return [box([line(said("The catalog follows the information-barrier rules."))], style="good")]
    items: list[CardElement] = []
    if view.errors:
        items.append(
            box(
                [
                    line(
                        said(
                            f"{len(view.errors)} error(s): no script is generated and nobody can be "
                            "onboarded into a segment until the catalog is fixed."
                        ),
                        color="Attention",
                    ),
                    *(line(Run(message, limit=600), color="Attention") for message in view.errors),
                ],
                style="attention",
            )
        )
    if view.warnings:
        items.append(
            box(
                [
                    line(said(f"{len(view.warnings)} warning(s):"), color="Warning"),
                    *(line(Run(message, limit=600), color="Warning") for message in view.warnings),
                ],
                style="warning",
            )
        )
    return items


# ---------------------------------------------------------------------------------------- segment change

_CHANGE_STATUS_TEXT = {
    "pending": "Segment change waiting for approval",
    "approved": "Segment change approved: moving the account",
    "applied": "Segment changed",
    "failed": "Segment change failed",
    "rejected": "Segment change rejected",
}
_CHANGE_STYLE: dict[str, ContainerStyle] = {
    "applied": "good",
    "failed": "attention",
    "rejected": "attention",
    "pending": "accent",
}
REAPPLY_NOTE = (
    "The account's segment attribute or group is set, but information barriers only follow it after an "
    "administrator runs Start-InformationBarrierPoliciesApplication (it takes 30 minutes or more)."
)


def segment_change_form_card(view: SegmentChangeFormView) -> CardContent:
    """Pick the segment an existing account should move to; **Ask for approval** sends it to the approvers."""
    body: list[CardElement] = [
        heading("Change segment"),
        line(Run(view.upn, weight="Bolder", font_type="Monospace")),
        facts([("Current segment", view.current_segment or "None: can find and contact everyone")]),
    ]
    if view.notice:
        body.append(box([line(view.notice, color="Attention")], style="attention"))
    actions: list[Action] = []
    if view.options:
        body.append(
            ChoiceSetInput(
                id=InputId.SEGMENT.value,
                label="New segment",
                is_required=True,
                error_message="Pick a segment.",
                choices=[Choice(title=option.title, value=option.value) for option in view.options],
                style="expanded",
            )
        )
        actions.append(
            execute("Ask for approval", SegmentChangeProposePayload(upn=view.upn), style="positive")
        )
    else:
        body.append(note("There is no other vendor segment to move this account to.", subtle=False))
    return card(body, actions, full_width=True)


def segment_change_card(view: SegmentChangeView) -> CardContent:
    """The approval card of a segment change, in every state."""
    body: list[CardElement] = [
        line(Run("Segment change ", trusted=True, weight="Bolder"), Run(view.change_id, weight="Bolder")),
        box(
            [line(said(_CHANGE_STATUS_TEXT.get(view.status, view.status)))],
            style=_CHANGE_STYLE.get(view.status, "emphasis"),
        ),
    ]
    if view.notice:
        body.append(box([line(view.notice, color="Attention")], style="attention"))
    body.append(
        facts(
            [
                ("Account", view.upn),
                ("Proposed by", view.proposed_by),
                ("From segment", view.from_segment or "None"),
                ("To segment", view.to_segment),
                ("Placement", view.placement),
            ]
        )
    )
    if view.decision is not None:
        verb = "Rejected" if view.status == "rejected" else "Approved"
        body.append(
            line(
                said(f"{verb} by "),
                Run(view.decision.name, weight="Bolder"),
                said(f" at {moment(view.decision.at)}"),
            )
        )
    if view.status == "failed" and view.failure:
        body.append(box([line(Run(view.failure, limit=400), color="Attention")], style="attention"))
    if view.status == "applied":
        body.append(note(REAPPLY_NOTE, subtle=False))
    actions: list[Action] = []
    if view.viewer_may_act and view.status == "pending":
        body.append(
            TextInput(
                id=InputId.COMMENT.value,
                label="Comment",
                is_multiline=True,
                max_length=INPUT_MAX_LENGTHS[InputId.COMMENT],
                spacing="Medium",
            )
        )
        actions = [
            execute(
                "Approve",
                SegmentChangeApprovePayload(change_id=view.change_id, card_version=view.card_version),
                style="positive",
            ),
            execute(
                "Reject",
                SegmentChangeRejectPayload(change_id=view.change_id, card_version=view.card_version),
                style="destructive",
            ),
        ]
    elif view.viewer_may_act and view.status == "failed":
        actions = [
            execute(
                "Retry",
                SegmentChangeRetryPayload(change_id=view.change_id, card_version=view.card_version),
                style="positive",
            )
        ]
    return card(body, actions, full_width=True)
