"""Small builders shared by the card modules. Two kinds of text, never mixed:

* catalogue text written in this package (``heading``, ``note``): a ``TextBlock``, may use markdown;
* anything from a view model (``user_text``, ``facts``, ``error_line``): :func:`safe_text`, then only
  ``TextRun``s, which hosts do not parse as markdown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from microsoft_teams.cards import (
    ActionSet,
    AdaptiveCard,
    CardElement,
    Column,
    ColumnSet,
    Container,
    ExecuteAction,
    RefreshDefinition,
    RichTextBlock,
    TeamsCardProperties,
    TextBlock,
    TextRun,
)
from microsoft_teams.cards.core import (
    Action,
    ActionStyle,
    AssociatedInputs,
    ContainerStyle,
    FontType,
    TextColor,
    TextSize,
    TextWeight,
)

from cards.actions import ActionPayload
from cards.render import CARD_SCHEMA, CARD_VERSION, CardContent, to_attachment_content
from cards.text import DEFAULT_LIMIT, safe_text


@dataclass(frozen=True, slots=True)
class Run:
    """A piece of a line: catalogue text (``trusted=True``) or untrusted text, with its style."""

    text: str
    trusted: bool = False
    weight: TextWeight | None = None
    color: TextColor | None = None
    font_type: FontType | None = None
    italic: bool | None = None
    size: TextSize | None = None
    limit: int = DEFAULT_LIMIT

    def to_text_run(self, default_color: TextColor | None = None) -> TextRun:
        """The ``TextRun`` for this piece; untrusted text goes through ``safe_text`` here."""
        text = self.text if self.trusted else safe_text(self.text, self.limit)
        return TextRun(
            text=text,
            weight=self.weight,
            color=self.color or default_color,
            font_type=self.font_type,
            italic=self.italic,
            size=self.size,
        )


def said(text: str) -> Run:
    """Catalogue text as part of a line (trusted: written in this package)."""
    return Run(text, trusted=True)


def line(*runs: Run | str, color: TextColor | None = None) -> RichTextBlock:
    """One line of mixed text; plain ``str`` parts are untrusted and go through ``safe_text``."""
    inlines: list[CardElement] = [
        (Run(part) if isinstance(part, str) else part).to_text_run(color) for part in runs
    ]
    return RichTextBlock(inlines=inlines)


def user_text(
    text: str, *, limit: int = DEFAULT_LIMIT, weight: TextWeight | None = None, monospace: bool = False
) -> RichTextBlock:
    """A line holding one untrusted string, shown literally."""
    return line(Run(text, limit=limit, weight=weight, font_type="Monospace" if monospace else None))


def heading(text: str, *, size: TextSize = "Large") -> TextBlock:
    """A catalogue heading."""
    return TextBlock(text=text, size=size, weight="Bolder", wrap=True, style="heading")


def note(text: str, *, subtle: bool = True, color: TextColor | None = None) -> TextBlock:
    """A catalogue sentence (small print or explanation)."""
    return TextBlock(text=text, wrap=True, is_subtle=subtle or None, color=color, spacing="Small")


def error_line(message: str) -> RichTextBlock:
    """An inline validation message in red; the message may quote user input, so it is untrusted."""
    return line(Run(message, color="Attention", limit=300))


def box(items: Sequence[CardElement], *, style: ContainerStyle | None = None) -> Container:
    """Group elements; ``style`` tints warnings, failures (``attention``) or success (``good``)."""
    return Container(items=list(items), style=style, spacing="Medium")


def facts(pairs: Sequence[tuple[str, str | Sequence[str]]], *, monospace_titles: bool = False) -> Container:
    """Title/value rows. Not a ``FactSet``: hosts render markdown in facts, so values go in ``TextRun``s.

    A value is one string or several shown one per line; titles and values go through ``safe_text``.
    """
    rows: list[CardElement] = []
    for title, value in pairs:
        values = [value] if isinstance(value, str) else list(value) or ["—"]
        # Titles are often catalogue text, but attribute labels come from a view: treat all as untrusted.
        title_run = Run(title, weight="Bolder", font_type="Monospace" if monospace_titles else None)
        rows.append(
            ColumnSet(
                spacing="Small",
                columns=[
                    Column(width=2, items=[line(title_run)]),
                    Column(width=3, items=[user_text(item) for item in values]),
                ],
            )
        )
    return Container(items=rows, spacing="Small")


def execute(
    title: str,
    payload: ActionPayload,
    *,
    style: ActionStyle | None = None,
    send_inputs: bool = True,
) -> ExecuteAction:
    """An ``Action.Execute`` whose verb and data come from one payload model.

    ``send_inputs=False`` sets ``associatedInputs: none``: the click is not blocked by required inputs
    and sends none (Back, Cancel).
    """
    associated: AssociatedInputs | None = None if send_inputs else "none"
    return ExecuteAction(
        title=title,
        verb=payload.verb.value,
        data=payload.to_data(),
        style=style,
        associated_inputs=associated,
    )


def action_row(actions: Sequence[Action]) -> ActionSet:
    """Buttons inside the body (below the element they belong to)."""
    return ActionSet(actions=list(actions), spacing="Medium")


def card(
    body: Sequence[CardElement],
    actions: Sequence[Action] = (),
    *,
    refresh: tuple[ActionPayload, Sequence[str]] | None = None,
    full_width: bool = False,
) -> CardContent:
    """Assemble and serialise a version 1.5 card.

    ``refresh`` is (payload, Teams user ids): those users' clients ask for a fresh card through the
    payload's verb when they show it.
    """
    built = AdaptiveCard(
        schema=CARD_SCHEMA,
        version=CARD_VERSION,
        body=list(body),
        actions=list(actions) or None,
    )
    if refresh is not None:
        payload, user_ids = refresh
        built.refresh = RefreshDefinition(
            action=ExecuteAction(title="Refresh", verb=payload.verb.value, data=payload.to_data()),
            user_ids=list(user_ids),
        )
    if full_width:
        built.msteams = TeamsCardProperties(width="full")
    return to_attachment_content(built)


def day(value: date) -> str:
    """A date as people read it everywhere ("30 Jun 2026")."""
    return f"{value.day} {_MONTHS[value.month - 1]} {value.year}"


def moment(value: datetime) -> str:
    """A time in UTC ("30 Jun 2026, 14:05 UTC"): the same for every viewer and in every test."""
    utc = value.astimezone(UTC)
    return f"{day(utc.date())}, {utc:%H:%M} UTC"


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
