"""Help, welcome, "didn't understand", error, refusal and channel-binding cards."""

from __future__ import annotations

from microsoft_teams.cards import CardElement

from cards._elements import Run, box, card, execute, facts, heading, line, note, said, user_text
from cards.actions import CommandRunPayload
from cards.render import CardContent
from cards.views import ErrorView, RefusedAction

#: The 1:1 commands, one line each. `‹upn›` (not `<upn>`): some Teams clients read `<...>` as HTML.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("help", "Show this list."),
    ("onboard", "Onboard a contractor: a licensed service account, created after approval."),
    ("cancel", "Stop the onboarding you are filling in."),
    ("requests", "Your onboarding requests and where each one is."),
    ("accounts", "Service accounts with vendor, licenses, segment and end date."),
    ("licenses", "Free seats of every license in the license profiles."),
    ("extend ‹upn›", "Extend a service account's end date."),
    ("offboard ‹upn›", "Disable a service account now and free its licenses."),
    ("barriers", "Information-barrier segments, policies and the PowerShell to apply them."),
    ("segment ‹upn› ‹segment›", "Move a service account to another segment (after approval)."),
)
CHANNEL_ADMIN_COMMANDS: tuple[tuple[str, str], ...] = (
    ("@bot approvals here", "Administrators: post approval cards in this channel."),
)

_UNKNOWN_TEXT_LIMIT = 100

# What the user tried, and the role group that would allow it (None: no group can allow it).
_REFUSALS: dict[RefusedAction, tuple[str, str | None]] = {
    RefusedAction.ONBOARD: ("onboard contractors", "requesters"),
    RefusedAction.APPROVE: ("approve or reject onboarding requests", "approvers"),
    RefusedAction.APPROVE_OWN: ("approve or reject your own request: another approver must decide", None),
    RefusedAction.RETRY: ("retry a failed provisioning", "approvers"),
    RefusedAction.CANCEL_REQUEST: ("cancel this request", "approvers"),
    RefusedAction.BIND_CHANNEL: ("choose the approvals channel", "bot administrators"),
    RefusedAction.RECORD_BARRIERS: (
        "record that information-barrier policies were applied",
        "bot administrators",
    ),
    RefusedAction.REVEAL_CREDENTIALS: ("reveal this password: only the requester can", None),
    RefusedAction.MANAGE_ACCOUNTS: ("extend or offboard service accounts", "requesters"),
}


def help_card(*, show_channel_admin: bool = False) -> CardContent:
    """The command list; ``show_channel_admin`` adds the channel command for administrators."""
    commands = COMMANDS + (CHANNEL_ADMIN_COMMANDS if show_channel_admin else ())
    return card(
        [
            heading("Vendor onboarding"),
            note("Type one of these in this chat:", subtle=False),
            facts(commands, monospace_titles=True),
        ]
    )


def welcome_card(user_name: str | None = None) -> CardContent:
    """Shown once when the bot is installed in a personal scope."""
    greeting = line(said("Hi "), user_name, said("!")) if user_name else note("Hi!", subtle=False)
    return card(
        [
            heading("Welcome to Vendor onboarding"),
            greeting,
            note(
                "I create licensed service accounts for vendors and contractors who need to call your "
                "colleagues with Dynamics 365 Remote Assist, after an approver agrees, and I look after "
                "them until they are offboarded.",
                subtle=False,
            ),
            note("Type help at any time for the list of commands."),
        ],
        [
            execute("Onboard a contractor", CommandRunPayload(command="onboard"), style="positive"),
            execute("Show commands", CommandRunPayload(command="help")),
        ],
    )


def unknown_command_card(text: str) -> CardContent:
    """The short help shown for text that is not a command; ``text`` is shown literally, shortened."""
    return card(
        [
            line(
                said("I didn't understand “"),
                _untrusted(text, _UNKNOWN_TEXT_LIMIT),
                said("”. Here is what I can do:"),
            ),
            facts(COMMANDS, monospace_titles=True),
        ]
    )


def error_card(view: ErrorView) -> CardContent:
    """Catalogue text for an error, and the reference support needs; never exception text."""
    return card(
        [
            line(Run(view.title, weight="Bolder", size="Medium", limit=80)),
            user_text(view.message, limit=400),
            line(said("Reference: "), _untrusted(view.correlation_id, 64, monospace=True)),
        ]
    )


def refusal_card(action: RefusedAction | str, *, group_name: str | None = None) -> CardContent:
    """ "You're not allowed to ..." with the group to ask for; ``group_name`` overrides the default name."""
    what, group = _REFUSALS[RefusedAction(action)]
    body: list[CardElement] = [
        heading("Not allowed", size="Medium"),
        note(f"You're not allowed to {what}.", subtle=False),
    ]
    if group is not None:
        body.append(
            line(
                said("Ask your admin to add you to the "),
                group_name if group_name else said(group),
                said(" group."),
            )
        )
    return card(body)


def channel_bound_card(channel_name: str | None = None, bound_by: str | None = None) -> CardContent:
    """Confirms that approval cards will be posted in this channel from now on."""
    body: list[CardElement] = [heading("Approvals channel set", size="Medium")]
    if channel_name:
        body.append(line(said("New onboarding requests will be posted in "), channel_name, said(".")))
    else:
        body.append(note("New onboarding requests will be posted in this channel.", subtle=False))
    if bound_by:
        body.append(line(said("Set by "), bound_by, said(".")))
    body.append(box([note("Only approvers can approve or reject; everyone here sees the progress.")]))
    return card(body)


def _untrusted(text: str, limit: int, *, monospace: bool = False) -> Run:
    return Run(text, limit=limit, font_type="Monospace" if monospace else None)
