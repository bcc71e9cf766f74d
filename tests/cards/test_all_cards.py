"""Properties every card must have, checked on every variant the package builds.

Each card's JSON is also written to ``test-artifacts/cards/<name>.json`` for people to look at (paste
one into https://adaptivecards.microsoft.com/designer to see it rendered).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from cards.actions import INPUT_MAX_LENGTHS, InputId, Verb, parse_action
from cards.render import CARD_SCHEMA
from cards.views import MAX_REFRESH_USERS
from tests.cards import walk
from tests.cards.samples import SAMPLE_PASSWORD, build_all

CARDS = build_all()
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "cards"
PASSWORD_LIKE = re.compile(r"pass(word)?|pwd|secret|credential", re.IGNORECASE)
REVEAL_CARD = "credentials-revealed"


@pytest.fixture(scope="module", autouse=True)
def _save_artifacts() -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name, content in CARDS.items():
        (ARTIFACTS / f"{name}.json").write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n")


def _cards() -> list[Any]:
    return [pytest.param(content, id=name) for name, content in CARDS.items()]


def _merged_inputs(content: dict[str, Any]) -> dict[str, str]:
    # What Teams adds to `data` on a click: every input's id with a realistic value.
    values: dict[str, str] = {}
    for input_id, element in walk.inputs(content).items():
        if element.get("choices"):
            values[input_id] = element["choices"][0]["value"]
        elif element["type"] == "Input.Date":
            values[input_id] = element.get("min", "2026-07-01")
        else:
            values[input_id] = "x" * min(5, INPUT_MAX_LENGTHS[InputId(input_id)])
    return values


@pytest.mark.parametrize("content", _cards())
def test_card_is_adaptive_card_1_5(content: dict[str, Any]) -> None:
    assert (content["type"], content["version"], content["$schema"]) == ("AdaptiveCard", "1.5", CARD_SCHEMA)


@pytest.mark.parametrize("content", _cards())
def test_card_is_plain_json(content: dict[str, Any]) -> None:
    assert json.loads(json.dumps(content)) == content


@pytest.mark.parametrize("content", _cards())
def test_card_has_a_body(content: dict[str, Any]) -> None:
    assert content["body"]


@pytest.mark.parametrize("content", _cards())
def test_only_universal_actions_are_used(content: dict[str, Any]) -> None:
    action_types = {
        obj["type"] for obj in walk.objects(content) if str(obj.get("type", "")).startswith("Action.")
    }
    assert action_types <= {"Action.Execute"}


@pytest.mark.parametrize("content", _cards())
def test_every_execute_has_a_known_verb_whose_model_parses_its_data(content: dict[str, Any]) -> None:
    for action in walk.executes(content):
        payload = parse_action(action["verb"], action["data"])
        assert payload.verb == Verb(action["verb"])


@pytest.mark.parametrize("content", _cards())
def test_every_button_still_parses_with_the_card_inputs_merged_in(content: dict[str, Any]) -> None:
    merged = _merged_inputs(content)
    for title, action in walk.buttons(content).items():
        sent = {**action["data"], **(merged if action.get("associatedInputs") != "none" else {})}
        assert parse_action(action["verb"], sent), title


@pytest.mark.parametrize("content", _cards())
def test_every_input_id_is_a_known_input_with_its_max_length(content: dict[str, Any]) -> None:
    for input_id, element in walk.inputs(content).items():
        known = InputId(input_id)
        if element["type"] == "Input.Text":
            assert element["maxLength"] == INPUT_MAX_LENGTHS[known]


@pytest.mark.parametrize("content", _cards())
def test_input_ids_never_collide_with_payload_keys(content: dict[str, Any]) -> None:
    # Teams merges inputs into `data`; an input named like a payload key would overwrite it.
    payload_keys = {key for action in walk.executes(content) for key in action["data"]}
    assert not (set(walk.inputs(content)) & payload_keys)


@pytest.mark.parametrize("content", _cards())
def test_refresh_targets_at_most_60_users(content: dict[str, Any]) -> None:
    refresh = content.get("refresh")
    if refresh is not None:
        assert 0 < len(refresh["userIds"]) <= MAX_REFRESH_USERS
        assert refresh["action"]["verb"] == Verb.APPROVAL_REFRESH


@pytest.mark.parametrize("name", [name for name in CARDS if name != REVEAL_CARD])
def test_no_card_but_the_reveal_card_has_a_password_like_field(name: str) -> None:
    content = CARDS[name]
    keys = {key for obj in walk.objects(content) for key in obj}
    ids = {str(obj["id"]) for obj in walk.objects(content) if "id" in obj}
    data_keys = {key for action in walk.executes(content) for key in action["data"]}
    assert not [field for field in keys | ids | data_keys if PASSWORD_LIKE.search(field)]
    assert not [obj for obj in walk.objects(content) if obj.get("style") == "Password"]


@pytest.mark.parametrize("name", [name for name in CARDS if name != REVEAL_CARD])
def test_no_card_but_the_reveal_card_contains_the_password(name: str) -> None:
    assert SAMPLE_PASSWORD not in json.dumps(CARDS[name], ensure_ascii=False)


def test_reveal_card_holds_the_password_once_and_only_as_body_text() -> None:
    content = CARDS[REVEAL_CARD]
    assert json.dumps(content, ensure_ascii=False).count(SAMPLE_PASSWORD) == 1
    assert SAMPLE_PASSWORD in walk.text_runs(content)
    assert not walk.executes(content)
    assert not walk.inputs(content)
    assert "fallbackText" not in content
    assert "speak" not in content


def test_artifacts_are_written() -> None:
    assert {path.stem for path in ARTIFACTS.glob("*.json")} >= set(CARDS)


@pytest.mark.parametrize("content", _cards())
def test_card_fits_in_a_teams_message(content: dict[str, Any]) -> None:
    # Teams refuses messages over about 28 KB, card included.
    assert len(json.dumps(content, ensure_ascii=False).encode()) < 28_000
