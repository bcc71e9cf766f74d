"""License profiles and the seat decision: profile SKUs, the IB-capable addition, precise shortages."""

from __future__ import annotations

import pytest

from onboarding.errors import NoFreeSeats, UnknownLicenseProfile
from onboarding.licensing import (
    DEFAULT_IB_CAPABLE_PREFERENCE,
    DEFAULT_PROFILES,
    LicensePlan,
    LicenseProfile,
    LicenseShortage,
    LicensingConfig,
    SeatCount,
    decide_licenses,
    friendly_product_name,
    preferred_ib_license,
    require_licenses,
    seats_by_part_number,
)
from onboarding.messages import user_message

REMOTE_ASSIST = DEFAULT_PROFILES[0]


def seats(*counts: SeatCount) -> dict[str, SeatCount]:
    return seats_by_part_number(counts)


def ra(enabled: int = 25, consumed: int = 0, status: str = "Enabled") -> SeatCount:
    return SeatCount("MICROSOFT_REMOTE_ASSIST", enabled, consumed, status)


def test_default_profile_is_remote_assist_technician() -> None:
    assert (REMOTE_ASSIST.key, REMOTE_ASSIST.display_name, REMOTE_ASSIST.sku_part_numbers) == (
        "remote-assist-technician",
        "Remote Assist technician",
        ("MICROSOFT_REMOTE_ASSIST",),
    )


def test_default_ib_preference_starts_with_full_suites() -> None:
    assert DEFAULT_IB_CAPABLE_PREFERENCE[:2] == ("SPE_E5", "ENTERPRISEPREMIUM")
    assert {"INFORMATION_PROTECTION_COMPLIANCE", "EQUIVIO_ANALYTICS"} <= set(DEFAULT_IB_CAPABLE_PREFERENCE)


def test_without_segment_only_the_profile_skus_are_assigned() -> None:
    decision = decide_licenses(REMOTE_ASSIST, seats(ra(), SeatCount("SPE_E5", 10, 0)), segment_chosen=False)
    assert decision == LicensePlan(part_numbers=("MICROSOFT_REMOTE_ASSIST",))


def test_with_segment_the_first_preferred_ib_license_is_added() -> None:
    decision = decide_licenses(
        REMOTE_ASSIST,
        seats(ra(), SeatCount("SPE_E5", 10, 0), SeatCount("ENTERPRISEPREMIUM", 5, 0)),
        segment_chosen=True,
    )
    assert decision == LicensePlan(
        part_numbers=("MICROSOFT_REMOTE_ASSIST", "SPE_E5"), ib_part_number="SPE_E5"
    )


def test_a_full_preferred_ib_license_is_skipped_for_the_next_one() -> None:
    decision = decide_licenses(
        REMOTE_ASSIST,
        seats(ra(), SeatCount("SPE_E5", 10, 10), SeatCount("ENTERPRISEPREMIUM", 5, 4)),
        segment_chosen=True,
    )
    assert isinstance(decision, LicensePlan)
    assert decision.ib_part_number == "ENTERPRISEPREMIUM"


def test_a_suspended_ib_subscription_is_not_used() -> None:
    decision = decide_licenses(
        REMOTE_ASSIST,
        seats(
            ra(),
            SeatCount("SPE_E5", 10, 0, "Suspended"),
            SeatCount("INFORMATION_PROTECTION_COMPLIANCE", 10, 0),
        ),
        segment_chosen=True,
    )
    assert isinstance(decision, LicensePlan)
    assert decision.ib_part_number == "INFORMATION_PROTECTION_COMPLIANCE"


def test_profile_that_already_includes_ib_needs_no_extra_license() -> None:
    e5_profile = LicenseProfile("e5-technician", "E5 technician", ("MICROSOFT_REMOTE_ASSIST", "SPE_E5"))
    decision = decide_licenses(e5_profile, seats(ra(), SeatCount("SPE_E5", 10, 0)), segment_chosen=True)
    assert decision == LicensePlan(
        part_numbers=("MICROSOFT_REMOTE_ASSIST", "SPE_E5"), ib_part_number=None, ib_covered_by_profile=True
    )


def test_full_profile_sku_gives_the_precise_shortage() -> None:
    decision = decide_licenses(REMOTE_ASSIST, seats(ra(25, 25)), segment_chosen=False)
    assert decision == LicenseShortage(("no free seats of Dynamics 365 Remote Assist (25 of 25 used)",))


def test_missing_subscription_is_named() -> None:
    decision = decide_licenses(REMOTE_ASSIST, {}, segment_chosen=False)
    assert decision == LicenseShortage(("the tenant has no Dynamics 365 Remote Assist subscription",))


def test_suspended_profile_subscription_is_named() -> None:
    decision = decide_licenses(REMOTE_ASSIST, seats(ra(status="Suspended")), segment_chosen=False)
    assert decision == LicenseShortage(("the Dynamics 365 Remote Assist subscription is suspended",))


def test_no_ib_seat_lists_every_ib_license_present() -> None:
    decision = decide_licenses(
        REMOTE_ASSIST,
        seats(ra(), SeatCount("SPE_E5", 10, 10), SeatCount("ENTERPRISEPREMIUM", 5, 5)),
        segment_chosen=True,
    )
    assert decision == LicenseShortage(
        (
            "no free seats of any license that includes information barriers: "
            "Microsoft 365 E5 (10 of 10 used), Office 365 E5 (5 of 5 used)",
        )
    )


def test_no_ib_license_at_all_is_named() -> None:
    decision = decide_licenses(
        REMOTE_ASSIST, seats(ra()), segment_chosen=True, ib_capable_preference=("SPE_E5",)
    )
    assert decision == LicenseShortage(
        ("the tenant has no license that includes information barriers (looked for Microsoft 365 E5)",)
    )


def test_both_shortages_are_reported_together() -> None:
    decision = decide_licenses(REMOTE_ASSIST, seats(ra(1, 1), SeatCount("SPE_E5", 1, 1)), segment_chosen=True)
    assert isinstance(decision, LicenseShortage)
    assert len(decision.reasons) == 2


def test_require_licenses_raises_with_the_reasons_in_the_user_text() -> None:
    with pytest.raises(NoFreeSeats) as caught:
        require_licenses(REMOTE_ASSIST, seats(ra(25, 25)), segment_chosen=False)
    assert "no free seats of Dynamics 365 Remote Assist (25 of 25 used)" in user_message(caught.value)


def test_preferred_ib_license_is_the_first_with_a_free_seat() -> None:
    available = seats(SeatCount("SPE_E5", 10, 10), SeatCount("INFORMATION_PROTECTION_COMPLIANCE", 10, 3))
    found = preferred_ib_license(available)
    assert found is not None
    assert found.describe() == "Microsoft 365 E5 Compliance: 7 of 10 free"


def test_no_preferred_ib_license_when_all_are_full() -> None:
    assert preferred_ib_license(seats(SeatCount("SPE_E5", 10, 10))) is None


def test_seat_count_never_goes_negative() -> None:
    assert SeatCount("SPE_E5", 5, 7).free == 0


def test_seat_count_describes_itself() -> None:
    assert ra(25, 22).describe() == "Dynamics 365 Remote Assist: 3 of 25 free"


@pytest.mark.parametrize(
    ("part", "name"),
    [
        ("MICROSOFT_REMOTE_ASSIST", "Dynamics 365 Remote Assist"),
        ("ENTERPRISEPREMIUM", "Office 365 E5"),
        ("INFORMATION_PROTECTION_COMPLIANCE", "Microsoft 365 E5 Compliance"),
        ("EQUIVIO_ANALYTICS", "Office 365 Advanced Compliance"),
        ("SOMETHING_NEW", "SOMETHING_NEW"),
    ],
)
def test_friendly_product_names(part: str, name: str) -> None:
    assert friendly_product_name(part) == name


def test_config_finds_profiles_by_key() -> None:
    assert LicensingConfig().profile("remote-assist-technician") is REMOTE_ASSIST


def test_config_refuses_an_unknown_profile() -> None:
    with pytest.raises(UnknownLicenseProfile):
        LicensingConfig().profile("gold")


def test_config_refuses_duplicate_profile_keys() -> None:
    with pytest.raises(ValueError, match="unique"):
        LicensingConfig(profiles=(REMOTE_ASSIST, REMOTE_ASSIST))


def test_profile_needs_skus() -> None:
    with pytest.raises(ValueError, match="no SKU"):
        LicenseProfile("empty", "Empty", ())


def test_part_numbers_to_watch_lists_profiles_then_ib_licenses_once() -> None:
    watched = LicensingConfig().part_numbers_to_watch()
    assert watched[0] == "MICROSOFT_REMOTE_ASSIST"
    assert len(watched) == len(set(watched))
