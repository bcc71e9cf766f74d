"""WizardState: JSON round trip, ids that card payloads accept, immutability, refusal of foreign shapes."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cards.actions import InputId, WizardNextPayload, WizardStep
from dialogs.wizard_state import Requester, Sponsor, WizardEnded, WizardState, new_wizard_id

ALICE = Requester(aad_object_id="a11ce000-0000-4000-8000-000000000001", name="Alice Requester")


def test_state_survives_its_stored_json() -> None:
    state = (
        WizardState.start(ALICE)
        .with_inputs({InputId.FIRST_NAME: "José", InputId.USAGE_LOCATION: "DE"})
        .model_copy(
            update={
                "step": WizardStep.BARRIERS,
                "sponsor": Sponsor(aad_object_id="s-1", name="Sam", upn="sam@abc.com"),
                "activity_id": "1:abc",
            }
        )
        .rendered()
    )

    assert WizardState.from_stored(state.to_stored()) == state


def test_stored_inputs_are_keyed_by_the_card_input_ids() -> None:
    stored = WizardState.start(ALICE).with_inputs({InputId.VENDOR_COMPANY: "Contoso"}).to_stored()

    assert stored["inputs"] == {"vendorCompany": "Contoso"}


@pytest.mark.parametrize(
    "stored",
    [None, "text", {"wizard_id": "x"}, {**WizardState.start(ALICE).to_stored(), "schema_version": 2}],
)
def test_a_foreign_or_older_shape_reads_as_no_state(stored: object) -> None:
    assert WizardState.from_stored(stored) is None


def test_wizard_ids_are_accepted_by_the_card_payload_model() -> None:
    for _ in range(200):
        wizard_id = new_wizard_id()
        WizardNextPayload(wizard_id=wizard_id, step=1, card_version=1)


def test_wizard_ids_do_not_repeat() -> None:
    assert len({new_wizard_id() for _ in range(1000)}) == 1000


def test_state_is_immutable() -> None:
    state = WizardState.start(ALICE)

    with pytest.raises(ValidationError):
        state.card_version = 5  # type: ignore[misc]


def test_rendering_increments_the_card_version() -> None:
    state = WizardState.start(ALICE)

    assert state.rendered().rendered().card_version == state.card_version + 2


def test_a_remembered_ending_round_trips() -> None:
    ended = WizardEnded("submitted", "VND-000042", None)

    assert WizardEnded.from_stored(ended.to_stored()) == ended
    assert WizardEnded.from_stored({"outcome": "submitted"}) is None
