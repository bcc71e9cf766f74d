"""Verbs and payload models: a click parses into exactly one model, or is rejected with a typed error."""

from __future__ import annotations

from typing import Any

import pytest

from cards.actions import (
    INPUT_MAX_LENGTHS,
    PAYLOAD_MODELS,
    ActionParseError,
    ApprovePayload,
    CommandRunPayload,
    InputId,
    InvalidPayloadError,
    RejectPayload,
    RevealPasswordPayload,
    UnknownVerbError,
    Verb,
    WizardNextPayload,
    WizardStep,
    parse_action,
)

WIZARD = {"wizardId": "wiz-7f3a", "step": 2, "cardVersion": 5}
REQUEST = {"requestId": "VND-000042", "cardVersion": 3}


def _invalid(verb: str, data: Any) -> InvalidPayloadError:
    with pytest.raises(InvalidPayloadError) as caught:
        parse_action(verb, data)
    return caught.value


def test_every_verb_has_a_payload_model() -> None:
    assert set(PAYLOAD_MODELS) == set(Verb)


def test_each_model_declares_the_verb_it_is_registered_under() -> None:
    assert all(model.verb is verb for verb, model in PAYLOAD_MODELS.items())


def test_every_input_has_a_max_length() -> None:
    assert set(INPUT_MAX_LENGTHS) == set(InputId)


def test_wizard_payloads_accept_every_wizard_input_id() -> None:
    aliases = {field.alias for field in WizardNextPayload.model_fields.values()}
    assert {input_id.value for input_id in InputId if input_id is not InputId.COMMENT} <= aliases


def test_wizard_click_parses_with_its_inputs() -> None:
    payload = parse_action("wizard.next", {**WIZARD, "firstName": "Bob", "usageLocation": "DE"})
    assert isinstance(payload, WizardNextPayload)
    assert (payload.wizard_id, payload.wizard_step, payload.card_version) == (
        "wiz-7f3a",
        WizardStep.ACCESS,
        5,
    )
    assert payload.inputs() == {InputId.FIRST_NAME: "Bob", InputId.USAGE_LOCATION: "DE"}


def test_empty_inputs_are_accepted_for_the_server_to_judge() -> None:
    payload = parse_action("wizard.next", {**WIZARD, "firstName": "", "endDate": "", "reachEveryone": ""})
    assert isinstance(payload, WizardNextPayload)
    assert payload.first_name == ""


def test_payload_round_trips_through_card_data() -> None:
    original = RejectPayload(request_id="VND-000042", card_version=3, comment="no")
    assert parse_action(original.verb, original.to_data()) == original


def test_card_data_uses_camel_case_and_omits_absent_inputs() -> None:
    data = WizardNextPayload(wizard_id="w1", step=1, card_version=0).to_data()
    assert data == {"wizardId": "w1", "step": 1, "cardVersion": 0}


def test_approval_comment_is_optional() -> None:
    payload = parse_action("approval.approve", dict(REQUEST))
    assert isinstance(payload, ApprovePayload)
    assert payload.comment is None


def test_unknown_verb_is_rejected() -> None:
    with pytest.raises(UnknownVerbError) as caught:
        parse_action("approval.approve_all", dict(REQUEST))
    assert caught.value.code == "action.unknown_verb"


@pytest.mark.parametrize("verb", [None, 42, ["approval.approve"]])
def test_verb_that_is_not_a_string_is_rejected(verb: object) -> None:
    with pytest.raises(UnknownVerbError):
        parse_action(verb, dict(REQUEST))


def test_errors_share_one_base_that_callers_catch() -> None:
    assert issubclass(UnknownVerbError, ActionParseError)
    assert issubclass(InvalidPayloadError, ActionParseError)
    assert issubclass(ActionParseError, ValueError)


def test_extra_field_is_rejected() -> None:
    error = _invalid("approval.approve", {**REQUEST, "approved": True})
    assert error.problems == ("approved: Extra inputs are not permitted",)


def test_snake_case_look_alike_is_rejected() -> None:
    error = _invalid("credentials.reveal", {"request_id": "VND-000042"})
    assert any(problem.startswith("requestId:") for problem in error.problems)


def test_missing_field_is_rejected() -> None:
    error = _invalid("approval.retry", {"requestId": "VND-000042"})
    assert error.problems == ("cardVersion: Field required",)


@pytest.mark.parametrize("step", ["2", 2.0, True, None])
def test_step_must_be_an_integer(step: object) -> None:
    error = _invalid("wizard.next", {**WIZARD, "step": step})
    assert any(problem.startswith("step:") for problem in error.problems)


@pytest.mark.parametrize("step", [0, 5])
def test_step_must_exist(step: int) -> None:
    _invalid("wizard.back", {**WIZARD, "step": step})


def test_numeric_input_value_is_rejected() -> None:
    # Inputs arrive as strings; a number means the data was not made by our card.
    error = _invalid("wizard.next", {**WIZARD, "firstName": 42})
    assert any(problem.startswith("firstName:") for problem in error.problems)


@pytest.mark.parametrize("input_id", list(InputId))
def test_too_long_input_is_rejected(input_id: InputId) -> None:
    verb = "approval.reject" if input_id is InputId.COMMENT else "wizard.next"
    base = REQUEST if input_id is InputId.COMMENT else WIZARD
    error = _invalid(verb, {**base, input_id.value: "x" * (INPUT_MAX_LENGTHS[input_id] + 1)})
    assert any(problem.startswith(f"{input_id.value}:") for problem in error.problems)


def test_comment_is_not_accepted_by_retry() -> None:
    _invalid("approval.retry", {**REQUEST, "comment": "please"})


def test_reach_everyone_accepts_only_the_card_values() -> None:
    _invalid("wizard.next", {**WIZARD, "reachEveryone": "maybe"})


def test_usage_location_must_look_like_a_country_code() -> None:
    _invalid("wizard.next", {**WIZARD, "usageLocation": "D1"})


def test_end_date_must_be_iso() -> None:
    _invalid("wizard.next", {**WIZARD, "endDate": "30/09/2026"})


@pytest.mark.parametrize("request_id", ["", "VND-", "vnd-000042", "VND-000042; DROP", "X" * 30])
def test_request_id_format_is_enforced(request_id: str) -> None:
    _invalid("credentials.reveal", {"requestId": request_id})


def test_negative_card_version_is_rejected() -> None:
    _invalid("approval.approve", {**REQUEST, "cardVersion": -1})


def test_wizard_id_with_odd_characters_is_rejected() -> None:
    _invalid("wizard.cancel", {**WIZARD, "wizardId": "../etc"})


@pytest.mark.parametrize("data", [None, "VND-000042", ["VND-000042"], 42])
def test_data_that_is_not_an_object_is_rejected(data: object) -> None:
    error = _invalid("credentials.reveal", data)
    assert error.problems == ("data: must be an object",)


def test_command_run_accepts_only_argument_free_commands() -> None:
    assert parse_action("command.run", {"command": "onboard"}) == CommandRunPayload(command="onboard")
    _invalid("command.run", {"command": "offboard"})


def test_problems_never_echo_the_values_sent() -> None:
    secret_looking = "hunter2-" + "y" * 600
    error = _invalid("approval.reject", {**REQUEST, "comment": secret_looking, "token": secret_looking})
    assert secret_looking not in " ".join(error.problems)
    assert secret_looking not in str(error)


def test_reveal_payload_carries_only_the_request_id() -> None:
    assert set(RevealPasswordPayload.model_fields) == {"request_id"}


def test_payloads_are_immutable() -> None:
    payload = ApprovePayload(request_id="VND-000042", card_version=1)
    with pytest.raises(ValueError, match="frozen"):
        payload.card_version = 2  # type: ignore[misc]
