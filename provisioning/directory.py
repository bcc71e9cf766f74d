"""What the Graph gateway takes and returns: frozen, SDK-free views of directory objects.

Nothing here imports msgraph: provisioning runs, storage and the bot work with these types, and only
``provisioning/graph.py`` converts between them and the SDK's models.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal
from uuid import UUID

from pydantic import SecretStr

__all__ = [
    "MARKER_MAX_LENGTH",
    "UNCHANGED",
    "DirectoryUser",
    "LicenseAssignment",
    "NewUser",
    "SkuSeats",
    "Unchanged",
    "UserChanges",
    "VerifiedDomain",
    "extension_attributes",
]

#: Graph's limit for ``employeeId``, the property that carries our idempotency marker.
MARKER_MAX_LENGTH: Final = 16

#: Entra has ``extensionAttribute1`` .. ``extensionAttribute15`` (``onPremisesExtensionAttributes``).
_EXTENSION_ATTRIBUTE_RANGE: Final = range(1, 16)

ExtensionAttributes = tuple[tuple[int, str], ...]


def extension_attributes(values: Mapping[int, str]) -> ExtensionAttributes:
    """Normalise ``{index: value}`` into the sorted, hashable form the dataclasses hold.

    Raises ``ValueError`` for an index outside 1..15.
    """
    for index in values:
        _check_extension_index(index)
    return tuple(sorted(values.items()))


def _check_extension_index(index: int) -> None:
    if index not in _EXTENSION_ATTRIBUTE_RANGE:
        raise ValueError(f"extension attribute index {index} is outside 1..15")


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    """A user as the gateway reads it (exactly the properties it ``$select``s)."""

    id: str
    user_principal_name: str
    display_name: str | None = None
    given_name: str | None = None
    surname: str | None = None
    account_enabled: bool | None = None
    #: ``employeeId``: the idempotency marker (the onboarding request id) for accounts we created.
    employee_id: str | None = None
    employee_type: str | None = None
    company_name: str | None = None
    department: str | None = None
    usage_location: str | None = None
    mail: str | None = None
    other_mails: tuple[str, ...] = ()
    #: ``onPremisesExtensionAttributes`` that hold a value, as sorted ``(index, value)`` pairs.
    extension_attributes: ExtensionAttributes = ()
    employee_leave_date_time: datetime | None = None
    assigned_sku_ids: frozenset[UUID] = frozenset()
    created_date_time: datetime | None = None

    def extension_attribute(self, index: int) -> str | None:
        """The value of ``extensionAttribute<index>``, or ``None`` when it is not set."""
        _check_extension_index(index)
        return dict(self.extension_attributes).get(index)


@dataclass(frozen=True, slots=True)
class NewUser:
    """Everything a service account is created with, sent in one ``POST /users``.

    ``marker`` is written to ``employeeId`` and is how :meth:`GraphGateway.create_user` recognises an
    account it created itself when an earlier attempt's outcome was lost (Graph has no idempotency
    key). ``password`` is a :class:`~pydantic.SecretStr`, so ``repr()`` and logs show ``**********``.
    """

    user_principal_name: str
    display_name: str
    mail_nickname: str
    password: SecretStr
    marker: str
    usage_location: str | None = None
    given_name: str | None = None
    surname: str | None = None
    company_name: str | None = None
    department: str | None = None
    employee_type: str | None = "Vendor"
    other_mails: tuple[str, ...] = ()
    extension_attributes: ExtensionAttributes = ()
    employee_leave_date_time: datetime | None = None
    force_change_password_next_sign_in: bool = True
    account_enabled: bool = True

    def __post_init__(self) -> None:
        # The marker is what makes creation idempotent: an empty or over-long one would silently
        # break reconciliation (Graph truncates nothing, it rejects), so refuse it here.
        if not self.marker or len(self.marker) > MARKER_MAX_LENGTH:
            raise ValueError(f"marker must be 1..{MARKER_MAX_LENGTH} characters, got {len(self.marker)}")
        if "@" not in self.user_principal_name:
            raise ValueError("user_principal_name must be of the form local@domain")
        for index, _ in self.extension_attributes:
            _check_extension_index(index)


class _Unchanged(enum.Enum):
    UNCHANGED = "unchanged"

    def __repr__(self) -> str:
        return "UNCHANGED"


#: Sentinel for :class:`UserChanges`: leave this property as it is (``None`` clears it instead).
UNCHANGED: Final = _Unchanged.UNCHANGED
Unchanged = Literal[_Unchanged.UNCHANGED]


@dataclass(frozen=True, slots=True)
class UserChanges:
    """A ``PATCH /users/{id}``: only the properties given are sent; ``None`` clears a property.

    ``extension_attributes`` holds ``(index, value)`` pairs; a ``None`` value clears that attribute,
    attributes not listed are left alone.
    """

    display_name: str | Unchanged = UNCHANGED
    given_name: str | Unchanged | None = UNCHANGED
    surname: str | Unchanged | None = UNCHANGED
    company_name: str | Unchanged | None = UNCHANGED
    department: str | Unchanged | None = UNCHANGED
    usage_location: str | Unchanged | None = UNCHANGED
    employee_type: str | Unchanged | None = UNCHANGED
    employee_leave_date_time: datetime | Unchanged | None = UNCHANGED
    other_mails: tuple[str, ...] | Unchanged = UNCHANGED
    account_enabled: bool | Unchanged = UNCHANGED
    extension_attributes: tuple[tuple[int, str | None], ...] = field(default=())

    def __post_init__(self) -> None:
        for index, _ in self.extension_attributes:
            _check_extension_index(index)

    @property
    def is_empty(self) -> bool:
        """True when the change would send nothing."""
        return not self.extension_attributes and all(
            getattr(self, name) is UNCHANGED for name in _PLAIN_CHANGE_FIELDS
        )


_PLAIN_CHANGE_FIELDS: Final = (
    "display_name",
    "given_name",
    "surname",
    "company_name",
    "department",
    "usage_location",
    "employee_type",
    "employee_leave_date_time",
    "other_mails",
    "account_enabled",
)


@dataclass(frozen=True, slots=True)
class LicenseAssignment:
    """One SKU to assign, with the service plans of it to leave disabled."""

    sku_id: UUID
    disabled_plans: frozenset[UUID] = frozenset()


@dataclass(frozen=True, slots=True)
class SkuSeats:
    """A subscribed SKU and its seats (``GET /subscribedSkus``).

    ``enabled`` is ``prepaidUnits.enabled``; ``free`` is what can still be assigned.
    """

    sku_id: UUID
    part_number: str
    enabled: int
    consumed: int
    #: ``Enabled``, ``Warning``, ``Suspended``, ``Deleted`` or ``LockedOut``.
    capability_status: str

    @property
    def free(self) -> int:
        """Seats that can still be assigned (never negative, also when a tenant is over-assigned)."""
        return max(0, self.enabled - self.consumed)


@dataclass(frozen=True, slots=True)
class VerifiedDomain:
    """A verified domain of the tenant, usable as the UPN suffix of new accounts."""

    name: str
    is_default: bool = False
    is_initial: bool = False
