"""The onboarding wizard's typed state, and the values the wizard exchanges with its service.

:class:`WizardState` is what the dialog keeps between clicks. It lives in the dialog instance of
botbuilder's ``ConversationState`` as plain JSON (:meth:`WizardState.to_stored` /
:meth:`WizardState.from_stored`), so it survives a restart and never needs a class to be rebuilt from
storage. It holds what the requester typed (strings, per input id), who they are, the sponsor they
chose, and where the card message is; never anything secret.

The other types are the contract between the dialog and its service (:mod:`bot.wizard_service`): the
choices a step offers, the outcome of checking a step, the plan shown on the review, and the result of
a submission. They are frozen and carry already-decided, display-ready values.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cards.actions import InputId, WizardStep
from cards.views import (
    Attribute,
    FieldError,
    LicenseProfileOption,
    SegmentOption,
    SkuSeats,
)

#: Bumped when the stored shape changes incompatibly; older stored wizards are then treated as ended.
STATE_SCHEMA_VERSION: Final = 1

#: The inputs each step's card sends with Next/Submit, in the card's order.
STEP_INPUTS: Mapping[WizardStep, tuple[InputId, ...]] = {
    WizardStep.CONTRACTOR: (
        InputId.VENDOR_COMPANY,
        InputId.FIRST_NAME,
        InputId.LAST_NAME,
        InputId.CONTRACTOR_EMAIL,
        InputId.USAGE_LOCATION,
    ),
    WizardStep.ACCESS: (InputId.LICENSE_PROFILE, InputId.END_DATE, InputId.SPONSOR),
    WizardStep.BARRIERS: (InputId.REACH_EVERYONE, InputId.SEGMENT),
    WizardStep.REVIEW: (),
}

# Wizard ids travel in card payloads, whose id pattern allows letters, digits and ``._:-``: hex is safe.
_WIZARD_ID_BYTES = 12


def new_wizard_id() -> str:
    """A random, URL-safe wizard id (24 hex characters) that nobody can guess from another one."""
    return secrets.token_hex(_WIZARD_ID_BYTES)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Requester(_Frozen):
    """Who runs the wizard, as Teams says (``from.aadObjectId``), never as a card says."""

    aad_object_id: str = Field(min_length=1, max_length=64)
    name: str = Field(max_length=256)


class Sponsor(_Frozen):
    """The person responsible for the contractor, resolved in the directory from what was typed."""

    aad_object_id: str = Field(min_length=1, max_length=64)
    name: str = Field(max_length=256)
    upn: str = Field(min_length=3, max_length=254)


class WizardState(_Frozen):
    """One running wizard. Immutable: every change makes a new value (``model_copy(update=...)``)."""

    schema_version: Literal[1] = 1
    wizard_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$")
    #: Incremented each time a card is rendered; a click carrying another version is stale.
    card_version: int = Field(default=0, ge=0, le=2**31 - 1)
    step: WizardStep = WizardStep.CONTRACTOR
    #: What was entered so far, per input id, as typed (or as cleaned once the step passed).
    inputs: dict[InputId, str] = Field(default_factory=dict)
    requester: Requester
    sponsor: Sponsor | None = None
    #: The id of the chat message that shows the wizard's card (to update it in place).
    activity_id: str | None = None
    #: The UPN the review card showed; submission refuses to go ahead with a different one.
    reviewed_upn: str | None = None

    @classmethod
    def start(cls, requester: Requester, *, wizard_id: str | None = None) -> WizardState:
        """A new wizard on the first step, with nothing entered."""
        return cls(wizard_id=wizard_id or new_wizard_id(), requester=requester)

    def value(self, input_id: InputId) -> str:
        """What was entered for ``input_id`` (empty when nothing was)."""
        return self.inputs.get(input_id, "")

    def with_inputs(self, values: Mapping[InputId, str]) -> WizardState:
        """A copy with ``values`` merged over the inputs entered so far."""
        return self.model_copy(update={"inputs": {**self.inputs, **values}})

    def rendered(self) -> WizardState:
        """A copy for a new rendering of the card (the version that clicks must carry next)."""
        return self.model_copy(update={"card_version": self.card_version + 1})

    def to_stored(self) -> dict[str, Any]:
        """Plain JSON for the dialog instance's state."""
        return self.model_dump(mode="json")

    @classmethod
    def from_stored(cls, stored: object) -> WizardState | None:
        """The state saved by :meth:`to_stored`, or ``None`` when it is missing or of another shape."""
        if not isinstance(stored, Mapping):
            return None
        try:
            return cls.model_validate(dict(stored))
        except ValidationError:
            return None


class WizardUnavailable(Exception):
    """The service cannot answer now (Graph or the database is down, say).

    ``message`` is catalogue text for the requester; the dialog shows it at the top of the current step.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class AccessOptions:
    """What the access step offers: the profiles with live seats, and the end-date window."""

    profiles: tuple[LicenseProfileOption, ...]
    min_end_date: date
    max_end_date: date
    default_end_date: date


@dataclass(frozen=True, slots=True)
class BarriersOptions:
    """What the barriers step offers; ``unavailable_reason`` set means no segment can be chosen now."""

    segments: tuple[SegmentOption, ...]
    ib_license: SkuSeats | None = None
    unavailable_reason: str | None = None


@dataclass(frozen=True, slots=True)
class StepCheck:
    """The outcome of checking one step: errors (all of them), else the cleaned values to keep."""

    errors: tuple[FieldError, ...] = ()
    values: Mapping[InputId, str] = field(default_factory=dict)
    #: The access step resolves the sponsor in the directory.
    sponsor: Sponsor | None = None

    @property
    def ok(self) -> bool:
        """True when the step may be left forward."""
        return not self.errors


@dataclass(frozen=True, slots=True)
class ReviewPlan:
    """The exact plan the review shows. ``blockers`` are the reasons it cannot be submitted now."""

    upn: str
    display_name: str
    attributes: tuple[Attribute, ...]
    licenses: tuple[str, ...]
    groups: tuple[str, ...]
    end_date: date
    sponsor: str
    segment: str | None = None
    segment_placement: str | None = None
    warnings: tuple[str, ...] = ()
    blockers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Submitted:
    """The request was stored and waits for approval (``approvals_channel`` None: no channel is bound)."""

    request_id: str
    approvals_channel: str | None


@dataclass(frozen=True, slots=True)
class SubmitRefused:
    """Nothing was created; ``reasons`` say why (shown at the top of the review)."""

    reasons: tuple[str, ...]


SubmitOutcome = Submitted | SubmitRefused


@dataclass(frozen=True, slots=True)
class WizardEnded:
    """How a wizard ended, remembered so that a late or repeated click gets the same final card."""

    outcome: Literal["submitted", "cancelled"]
    request_id: str | None = None
    approvals_channel: str | None = None

    def to_stored(self) -> dict[str, str | None]:
        """Plain JSON for conversation state."""
        return {
            "outcome": self.outcome,
            "requestId": self.request_id,
            "approvalsChannel": self.approvals_channel,
        }

    @classmethod
    def from_stored(cls, stored: object) -> WizardEnded | None:
        """The value saved by :meth:`to_stored`, or ``None`` for anything else."""
        if not isinstance(stored, Mapping):
            return None
        outcome = stored.get("outcome")
        request_id = stored.get("requestId")
        channel = stored.get("approvalsChannel")
        if outcome == "cancelled":
            return cls("cancelled")
        if outcome == "submitted" and isinstance(request_id, str):
            return cls("submitted", request_id, channel if isinstance(channel, str) else None)
        return None


__all__ = [
    "STATE_SCHEMA_VERSION",
    "STEP_INPUTS",
    "AccessOptions",
    "BarriersOptions",
    "Requester",
    "ReviewPlan",
    "Sponsor",
    "StepCheck",
    "SubmitOutcome",
    "SubmitRefused",
    "Submitted",
    "WizardEnded",
    "WizardState",
    "WizardUnavailable",
    "new_wizard_id",
]
