"""The gateway's value types: secrets stay hidden, markers are checked, seats are computed."""

from uuid import uuid4

import pytest
from pydantic import SecretStr

from provisioning.directory import (
    DirectoryUser,
    NewUser,
    SkuSeats,
    UserChanges,
    extension_attributes,
)


def new_user(**overrides: object) -> NewUser:
    values: dict[str, object] = {
        "user_principal_name": "sa-contoso-bob@abc.example",
        "display_name": "Bob (Contoso)",
        "mail_nickname": "sa-contoso-bob",
        "password": SecretStr("Xq7!vendor-Pass"),
        "marker": "VND-000042",
    }
    values.update(overrides)
    return NewUser(**values)  # type: ignore[arg-type]


def test_new_user_repr_never_shows_the_password() -> None:
    spec = new_user()
    assert "Xq7!vendor-Pass" not in repr(spec)
    assert "Xq7!vendor-Pass" not in str(spec)


@pytest.mark.parametrize("marker", ["", "x" * 17])
def test_new_user_refuses_a_marker_graph_cannot_store(marker: str) -> None:
    with pytest.raises(ValueError, match="marker"):
        new_user(marker=marker)


def test_new_user_refuses_an_extension_attribute_outside_1_to_15() -> None:
    with pytest.raises(ValueError, match=r"outside 1\.\.15"):
        new_user(extension_attributes=((16, "x"),))


def test_extension_attributes_helper_sorts_into_pairs() -> None:
    assert extension_attributes({7: "b", 2: "a"}) == ((2, "a"), (7, "b"))


def test_directory_user_reads_one_extension_attribute() -> None:
    user = DirectoryUser(id="1", user_principal_name="a@b.c", extension_attributes=((3, "Vendors-A"),))
    assert (user.extension_attribute(3), user.extension_attribute(4)) == ("Vendors-A", None)


def test_free_seats_never_go_negative() -> None:
    over_assigned = SkuSeats(uuid4(), "SPE_E5", enabled=10, consumed=12, capability_status="Enabled")
    assert over_assigned.free == 0
    assert SkuSeats(uuid4(), "SPE_E5", 10, 4, "Enabled").free == 6


def test_user_changes_know_when_they_are_empty() -> None:
    assert UserChanges().is_empty
    assert not UserChanges(department=None).is_empty
    assert not UserChanges(extension_attributes=((1, None),)).is_empty
