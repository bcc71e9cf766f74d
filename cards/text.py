"""The one way user-provided text reaches a card.

Adaptive Card hosts interpret text in several ways: ``TextBlock`` and ``Fact`` values are markdown
(bold, italics, lists, links), some Teams clients treat HTML-looking text as HTML, ``{{DATE(...)}}`` /
``{{TIME(...)}}`` are evaluated in any text element, ``<at>..</at>`` is a mention, and bidirectional
control characters can make a name display as something else. Backslash escaping of markdown is
rendered differently by the Teams desktop, web and mobile clients (AdaptiveCards issues 4677, 5590,
5758), so escaping cannot be relied on.

So the rule in this package is: text that comes from users or from the directory is never put into a
markdown-processing property. It goes through :func:`safe_text` and is then placed only where hosts do
not process markdown: a ``TextRun`` inside a ``RichTextBlock`` ("Markdown is not supported", per the
Adaptive Cards schema), a choice title, an input value, or an input's error message.
:func:`safe_text` handles what is left: control and invisible formatting characters, templating
braces, HTML-looking markup, and absurd lengths.
"""

from __future__ import annotations

import re
import unicodedata

#: Longest text shown for an ordinary field; callers pass a smaller or larger limit where it matters.
DEFAULT_LIMIT = 200
ELLIPSIS = "…"

# Joiners shape Indic and Persian text correctly, so they survive; every other invisible format
# character (bidi overrides, zero-width spaces, BOM, soft hyphen) is dropped.
_KEPT_FORMAT_CHARS = frozenset({"\u200c", "\u200d"})
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co"})
_WHITESPACE = re.compile(r"\s+")
# A word joiner between the braces stops `{{DATE(..)}}` being evaluated while looking unchanged.
_TEMPLATE_OPEN = re.compile(r"\{(?=\{)")
_ENTITY = re.compile(r"&(?=#?[0-9A-Za-z]+;)")
_WORD_JOINER = "\u2060"
# Text that the full path below would change: anything outside printable ASCII, markup and entity
# characters, template braces, and spaces that would be folded or stripped. Text without any of these
# (most names, every country) comes back unchanged, so it skips the per-character loop.
_NEEDS_CLEANING = re.compile(r"[^ -~]|[<>&]|\{\{|  |^ | $")


def safe_text(value: str, limit: int = DEFAULT_LIMIT) -> str:
    """Return ``value`` made safe to show literally on a card, at most ``limit`` characters long.

    Removes control and invisible formatting characters, folds line breaks and runs of whitespace into
    single spaces, breaks ``{{`` so date/time templating never fires, replaces ``<``/``>`` with the
    look-alike single angle quotes and breaks ``&name;`` entities so nothing reads as HTML or as a
    Teams mention, and truncates with an ellipsis. Markdown characters are kept as typed: the card
    builders place the result only in elements that do not render markdown (see the module docstring).
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if len(value) <= limit and _NEEDS_CLEANING.search(value) is None:
        return value
    return _clean(value, limit)


def _clean(value: str, limit: int) -> str:
    """The full cleaning of :func:`safe_text` (which skips it for text this would return unchanged)."""
    text = unicodedata.normalize("NFC", value)
    text = "".join(
        " " if char in "\t\n\r\v\f" else char
        for char in text
        if char in "\t\n\r\v\f"
        or char in _KEPT_FORMAT_CHARS
        or unicodedata.category(char) not in _DROPPED_CATEGORIES
    )
    text = _WHITESPACE.sub(" ", text).strip()
    text = text.replace("<", "‹").replace(">", "›")
    text = _ENTITY.sub("&" + _WORD_JOINER, text)
    text = _TEMPLATE_OPEN.sub("{" + _WORD_JOINER, text)
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + ELLIPSIS
    return text
