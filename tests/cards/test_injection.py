"""Every card built with hostile text in every user-provided field renders that text literally.

Markdown is neutralised by placement: untrusted text only ever lands in a ``TextRun`` (never parsed as
markdown), a choice title or an input value. Templating, HTML, mentions and bidi tricks are neutralised
by ``safe_text``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.cards import walk
from tests.cards.samples import build_all

MARKDOWN = "**Evil**](http://x) _x_ [y](http://z)"
HOSTILE = MARKDOWN + " <at>Adam</at> {{DATE(2017-02-14T06:08:39Z, SHORT)}} &lt; \u202eevil\u200b"
CARDS = build_all(lambda _: HOSTILE)


def _cards() -> list[Any]:
    return [pytest.param(content, id=name) for name, content in CARDS.items()]


@pytest.mark.parametrize("content", _cards())
def test_hostile_text_never_reaches_a_markdown_element(content: dict[str, Any]) -> None:
    assert not [text for text in walk.text_blocks(content) if "Evil" in text]
    assert not walk.of_type(content, "FactSet")


@pytest.mark.parametrize("content", _cards())
def test_hostile_markdown_is_shown_as_typed(content: dict[str, Any]) -> None:
    # Hostile text may sit inside a sentence ("No free seats of ...") or be cut short by the length limit.
    runs = [text for text in walk.text_runs(content) if "Evil" in text]
    assert all(MARKDOWN in text or text.endswith("…") for text in runs)


@pytest.mark.parametrize("content", _cards())
def test_no_templating_html_mention_or_bidi_survives(content: dict[str, Any]) -> None:
    serialised = json.dumps(content, ensure_ascii=False)
    for forbidden in ("{{", "<at>", "&lt;", "\u202e", "\u200b", "<"):
        assert forbidden not in serialised, forbidden


def test_the_hostile_text_is_actually_shown_somewhere() -> None:
    # Guards the tests above against passing vacuously (e.g. if hostile text were dropped entirely).
    assert any(text.startswith(MARKDOWN) for content in CARDS.values() for text in walk.text_runs(content))
