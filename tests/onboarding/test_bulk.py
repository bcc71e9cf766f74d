"""The bulk CSV: every problem of every row reported in one pass; names planned across rows."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import pytest

from onboarding.bulk import (
    BULK_COLUMNS,
    BulkCode,
    BulkRow,
    parse_bulk_csv,
    plan_bulk,
    uncovered_upns,
    upn_prefixes,
)
from onboarding.config import load_onboarding_config
from onboarding.licensing import SeatCount
from onboarding.segments import load_catalog

ROOT = Path(__file__).resolve().parents[2]
CONFIG = load_onboarding_config(ROOT / "config" / "onboarding.example.toml")
CATALOG = load_catalog(ROOT / "config" / "segments.example.toml")
TODAY = date(2030, 1, 2)
PROFILE = "remote-assist-technician"


def good_row(n: int) -> dict[str, str]:
    return {
        "vendor_company": "Contoso",
        "first_name": "Bob",
        "last_name": f"Builder{chr(ord('a') + n % 26)}{chr(ord('a') + n // 26)}",
        "contractor_email": f"bob{n}@contoso.example",
        "usage_location": "DE",
        "license_profile": PROFILE,
        "end_date": "2030-03-01",
        "sponsor_upn": "",
        "segment": "",
    }


def to_csv(rows: list[dict[str, str]], columns: tuple[str, ...] = BULK_COLUMNS) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def two_hundred_with_five_bad() -> tuple[str, dict[int, str]]:
    """200 contractor rows; five of them broken, each in another column. Returns (csv, {row: column})."""
    rows = [good_row(n) for n in range(200)]
    broken = {
        3: ("contractor_email", "not-an-address"),
        50: ("usage_location", "XX"),
        99: ("end_date", "2031-12-31"),
        150: ("license_profile", "no-such-profile"),
        198: ("first_name", ""),
    }
    for index, (column, value) in broken.items():
        rows[index][column] = value
    # Spreadsheet rows: header is row 1, rows[i] is row i + 2.
    return to_csv(rows), {index + 2: column for index, (column, _) in broken.items()}


def test_two_hundred_rows_with_five_bad_ones_report_all_five_in_one_pass() -> None:
    text, expected = two_hundred_with_five_bad()
    parsed = parse_bulk_csv(text, config=CONFIG, today=TODAY)
    assert {(e.row, e.column) for e in parsed.errors} == set(expected.items())
    assert len(parsed.rows) == 195
    assert parsed.total_rows == 200


def test_the_good_rows_of_that_file_are_all_planned() -> None:
    text, _ = two_hundred_with_five_bad()
    plan = plan_bulk(parse_bulk_csv(text, config=CONFIG, today=TODAY), config=CONFIG, catalog=CATALOG)
    assert len(plan.planned) == 195
    assert len(plan.errors) == 5
    assert plan.seats_needed == {"MICROSOFT_REMOTE_ASSIST": 195}


def test_every_error_names_its_row_and_column_in_its_description() -> None:
    rows = [good_row(0)]
    rows[0]["usage_location"] = "XX"
    (error,) = parse_bulk_csv(to_csv(rows), config=CONFIG, today=TODAY).errors
    assert error.describe().startswith("Row 2, usage_location: ")


def test_a_row_with_several_problems_reports_each_of_them() -> None:
    rows = [good_row(0)]
    rows[0].update(first_name="", contractor_email="nope", end_date="yesterday")
    parsed = parse_bulk_csv(to_csv(rows), config=CONFIG, today=TODAY)
    assert [e.column for e in parsed.errors] == ["first_name", "contractor_email", "end_date"]


def test_a_missing_required_column_is_one_file_level_error() -> None:
    columns = tuple(c for c in BULK_COLUMNS if c != "usage_location")
    parsed = parse_bulk_csv(to_csv([good_row(0)], columns), config=CONFIG, today=TODAY)
    assert [(e.row, e.code) for e in parsed.errors] == [(1, BulkCode.MISSING_COLUMNS)]
    assert "usage_location" in parsed.errors[0].message
    assert parsed.rows == ()


def test_the_optional_columns_may_be_left_out() -> None:
    columns = tuple(c for c in BULK_COLUMNS if c not in ("sponsor_upn", "segment"))
    parsed = parse_bulk_csv(to_csv([good_row(0)], columns), config=CONFIG, today=TODAY)
    assert parsed.ok
    assert parsed.rows[0].sponsor_upn is None
    assert parsed.rows[0].segment is None


def test_an_unknown_column_is_refused_naming_it() -> None:
    text = to_csv([good_row(0)]).replace("segment\n", "segment,shoe_size\n", 1)
    parsed = parse_bulk_csv(text, config=CONFIG, today=TODAY)
    assert [e.code for e in parsed.errors] == [BulkCode.UNKNOWN_COLUMNS]
    assert "shoe_size" in parsed.errors[0].message


def test_columns_may_come_in_any_order_and_any_case_with_a_bom() -> None:
    columns = tuple(reversed(BULK_COLUMNS))
    text = "\ufeff" + to_csv([good_row(0)], columns).replace("vendor_company", "Vendor_Company", 1)
    parsed = parse_bulk_csv(text, config=CONFIG, today=TODAY)
    assert parsed.ok
    assert parsed.rows[0].contractor.vendor_company == "Contoso"


def test_blank_lines_are_skipped_but_row_numbers_still_match_the_file() -> None:
    rows = [good_row(0), good_row(1)]
    rows[1]["usage_location"] = "XX"
    lines = to_csv(rows).splitlines()
    text = "\n".join([lines[0], lines[1], "", ",,,,,,,,", lines[2]]) + "\n"
    parsed = parse_bulk_csv(text, config=CONFIG, today=TODAY)
    assert parsed.total_rows == 2
    assert [e.row for e in parsed.errors] == [5]


def test_an_empty_file_says_so() -> None:
    assert [e.code for e in parse_bulk_csv("", config=CONFIG, today=TODAY).errors] == [BulkCode.EMPTY_FILE]


def test_a_header_without_rows_says_so() -> None:
    parsed = parse_bulk_csv(to_csv([]), config=CONFIG, today=TODAY)
    assert [e.code for e in parsed.errors] == [BulkCode.NO_ROWS]


def test_too_many_rows_are_refused_before_any_row_is_checked() -> None:
    parsed = parse_bulk_csv(to_csv([good_row(n) for n in range(4)]), config=CONFIG, today=TODAY, max_rows=3)
    assert [e.code for e in parsed.errors] == [BulkCode.TOO_MANY_ROWS]


def test_cells_beyond_the_header_are_an_error_of_their_row() -> None:
    text = to_csv([good_row(0)]).rstrip("\n") + ",surprise\n"
    parsed = parse_bulk_csv(text, config=CONFIG, today=TODAY)
    assert [(e.row, e.code) for e in parsed.errors] == [(2, BulkCode.EXTRA_CELLS)]


def test_a_bad_sponsor_address_is_reported_on_the_sponsor_column() -> None:
    rows = [good_row(0)]
    rows[0]["sponsor_upn"] = "alice at abc"
    parsed = parse_bulk_csv(to_csv(rows), config=CONFIG, today=TODAY)
    assert [e.column for e in parsed.errors] == ["sponsor_upn"]


def test_a_sponsor_address_is_kept_lower_cased() -> None:
    rows = [good_row(0)]
    rows[0]["sponsor_upn"] = "Alice@ABC.com"
    assert parse_bulk_csv(to_csv(rows), config=CONFIG, today=TODAY).rows[0].sponsor_upn == "alice@abc.com"


# ------------------------------------------------------------------------------------------ planning


def test_the_same_contractor_twice_in_the_file_is_an_error_on_the_second_row() -> None:
    rows = [good_row(0), good_row(1)]
    rows[1]["contractor_email"] = rows[0]["contractor_email"].upper()
    plan = plan_bulk(parse_bulk_csv(to_csv(rows), config=CONFIG, today=TODAY), config=CONFIG, catalog=CATALOG)
    assert [(e.row, e.code) for e in plan.errors] == [(3, BulkCode.DUPLICATE_EMAIL)]
    assert "row 2" in plan.errors[0].message
    assert len(plan.planned) == 1


def test_a_contractor_with_an_open_request_is_an_error_naming_the_request() -> None:
    parsed = parse_bulk_csv(to_csv([good_row(0)]), config=CONFIG, today=TODAY)
    plan = plan_bulk(
        parsed, config=CONFIG, catalog=CATALOG, open_requests_by_email={"bob0@contoso.example": "VND-000007"}
    )
    assert [e.code for e in plan.errors] == [BulkCode.OPEN_REQUEST]
    assert "VND-000007" in plan.errors[0].message


def test_two_rows_with_the_same_name_get_different_account_names() -> None:
    rows = [good_row(0), good_row(1)]
    rows[1]["last_name"] = rows[0]["last_name"]
    plan = plan_bulk(parse_bulk_csv(to_csv(rows), config=CONFIG, today=TODAY), config=CONFIG, catalog=CATALOG)
    upns = [item.upn.upn for item in plan.planned]
    assert upns == ["sa-contoso-bob.builderaa@abc.com", "sa-contoso-bob.builderaa2@abc.com"]


def test_a_name_taken_in_the_directory_moves_the_row_to_the_next_free_name() -> None:
    parsed = parse_bulk_csv(to_csv([good_row(0)]), config=CONFIG, today=TODAY)
    plan = plan_bulk(parsed, config=CONFIG, catalog=CATALOG, taken_upns={"SA-contoso-bob.builderaa@abc.com"})
    assert plan.planned[0].upn.upn == "sa-contoso-bob.builderaa2@abc.com"


def test_an_unknown_sponsor_is_an_error_of_its_row() -> None:
    rows = [good_row(0)]
    rows[0]["sponsor_upn"] = "ghost@abc.com"
    parsed = parse_bulk_csv(to_csv(rows), config=CONFIG, today=TODAY)
    plan = plan_bulk(parsed, config=CONFIG, catalog=CATALOG, unknown_sponsors={"ghost@abc.com"})
    assert [(e.column, e.code) for e in plan.errors] == [("sponsor_upn", BulkCode.SPONSOR)]


def test_an_unknown_segment_is_an_error_of_its_row() -> None:
    rows = [good_row(0)]
    rows[0]["segment"] = "Vendor - Nobody"
    plan = plan_bulk(parse_bulk_csv(to_csv(rows), config=CONFIG, today=TODAY), config=CONFIG, catalog=CATALOG)
    assert [(e.column, e.code) for e in plan.errors] == [("segment", BulkCode.SEGMENT)]


def test_an_internal_segment_is_refused() -> None:
    rows = [good_row(0)]
    rows[0]["segment"] = "Finance"
    plan = plan_bulk(parse_bulk_csv(to_csv(rows), config=CONFIG, today=TODAY), config=CONFIG, catalog=CATALOG)
    assert [e.code for e in plan.errors] == [BulkCode.SEGMENT]


def test_a_segment_without_a_catalog_is_refused() -> None:
    rows = [good_row(0)]
    rows[0]["segment"] = "Vendor - Contoso"
    plan = plan_bulk(parse_bulk_csv(to_csv(rows), config=CONFIG, today=TODAY), config=CONFIG, catalog=None)
    assert [e.code for e in plan.errors] == [BulkCode.NO_CATALOG]


def test_a_segment_adds_the_preferred_information_barrier_license_with_a_free_seat() -> None:
    rows = [good_row(0)]
    rows[0]["segment"] = "Vendor - Fabrikam"
    seats = {
        "MICROSOFT_REMOTE_ASSIST": SeatCount("MICROSOFT_REMOTE_ASSIST", 25, 0),
        "SPE_E5": SeatCount("SPE_E5", 10, 10),
        "ENTERPRISEPREMIUM": SeatCount("ENTERPRISEPREMIUM", 5, 0),
    }
    parsed = parse_bulk_csv(to_csv(rows), config=CONFIG, today=TODAY)
    plan = plan_bulk(parsed, config=CONFIG, catalog=CATALOG, seats=seats)
    assert plan.planned[0].licenses.part_numbers == ("MICROSOFT_REMOTE_ASSIST", "ENTERPRISEPREMIUM")


def test_seats_short_for_the_batch_are_shown_as_needed_against_free_not_as_row_errors() -> None:
    seats = {"MICROSOFT_REMOTE_ASSIST": SeatCount("MICROSOFT_REMOTE_ASSIST", 25, 24)}
    parsed = parse_bulk_csv(to_csv([good_row(0), good_row(1)]), config=CONFIG, today=TODAY)
    plan = plan_bulk(parsed, config=CONFIG, catalog=CATALOG, seats=seats)
    assert plan.ok
    assert plan.shortages(seats) == {"MICROSOFT_REMOTE_ASSIST": (2, 1)}


def test_a_tenant_without_the_subscription_is_an_error_of_each_row() -> None:
    parsed = parse_bulk_csv(to_csv([good_row(0)]), config=CONFIG, today=TODAY)
    plan = plan_bulk(parsed, config=CONFIG, catalog=CATALOG, seats={})
    assert [(e.column, e.code) for e in plan.errors] == [("license_profile", BulkCode.LICENSES)]


def test_a_vendor_name_without_letters_is_an_error_on_its_column() -> None:
    rows = [good_row(0)]
    rows[0]["vendor_company"] = "!!!"
    parsed = parse_bulk_csv(to_csv(rows), config=CONFIG, today=TODAY)
    assert [e.column for e in parsed.errors] == ["vendor_company"]


def test_the_default_template_gives_one_directory_prefix_per_vendor() -> None:
    rows = [good_row(0), good_row(1)]
    rows[1]["vendor_company"] = "Fabrikam Ltd"
    parsed = parse_bulk_csv(to_csv(rows), config=CONFIG, today=TODAY)
    assert upn_prefixes(parsed.rows, CONFIG) == ("sa-contoso-", "sa-fabrikam-ltd-")


def test_planned_names_under_the_prefixes_need_no_lookup_of_their_own() -> None:
    parsed = parse_bulk_csv(to_csv([good_row(0)]), config=CONFIG, today=TODAY)
    plan = plan_bulk(parsed, config=CONFIG, catalog=CATALOG)
    assert uncovered_upns(plan, upn_prefixes(parsed.rows, CONFIG)) == ()
    assert uncovered_upns(plan, ("sa-other-",)) == ("sa-contoso-bob.builderaa@abc.com",)


@pytest.mark.parametrize("path", [ROOT / "config" / "bulk-template.csv"])
def test_the_shipped_template_is_valid(path: Path) -> None:
    parsed = parse_bulk_csv(path.read_text(encoding="utf-8"), config=CONFIG, today=TODAY)
    assert parsed.ok, [e.describe() for e in parsed.errors]
    assert len(parsed.rows) == 2
    assert isinstance(parsed.rows[1], BulkRow)
    assert parsed.rows[1].segment == "Vendor - Fabrikam"
