"""Bulk onboarding from a CSV file: the format, row-by-row validation and account-name planning.

Everything here is pure: text in, decisions out. Reading the file, asking the directory which account
names are taken and storing the batch are the caller's (``provisioning.bulk.import_csv``).

The format (UTF-8, a BOM is tolerated; comma-separated; the first line names the columns, in any order;
``config/bulk-template.csv`` is the shipped template)::

    vendor_company    the vendor's company name (1-64 characters)                     required
    first_name        the contractor's first name                                      required
    last_name         the contractor's last name                                       required
    contractor_email  the contractor's own email address (their identity at home)      required
    usage_location    ISO 3166-1 alpha-2 country code, e.g. DE (needed for licensing)   required
    license_profile   a license profile key of the onboarding configuration           required
    end_date          access end date, YYYY-MM-DD, from today to the configured maximum required
    sponsor_upn       the sponsoring employee's sign-in address; empty = the submitter  optional column
    segment           an information-barrier vendor segment; empty = reach everyone     optional column

Rows are numbered as a spreadsheet shows them: the header is row 1, the first contractor row 2. Every
problem of every row is reported at once (:class:`RowError`: row, column, sentence), so a file is fixed in
one pass. Rows that are entirely empty are skipped.

:func:`parse_bulk_csv` checks each row on its own with the wizard's rules (:mod:`onboarding.validation`);
:func:`plan_bulk` then checks rows against each other and against the outside world the caller looked up:
a contractor email twice in the file or already in an open request, account names (the first free one of
``base``, ``base2``, ... not taken in the directory, by an open request, or by an earlier row of the file),
the segment and the licenses of each row, and how many seats of each SKU the whole batch needs.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Final

from onboarding.config import OnboardingConfig
from onboarding.errors import NamingError, SegmentError, UnknownLicenseProfile, UnknownSegment, UnusableName
from onboarding.licensing import LicensePlan, LicenseShortage, SeatCount, decide_licenses
from onboarding.messages import user_message
from onboarding.naming import UpnPlan, plan_upn
from onboarding.segments import Placement, SegmentCatalog, is_usable_for_onboarding, placement_for
from onboarding.validation import (
    AccessInput,
    ContractorInput,
    ValidatedAccess,
    ValidatedContractor,
    validate_access,
    validate_contractor,
    validate_email,
)

__all__ = [
    "BULK_COLUMNS",
    "MAX_BULK_ROWS",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "BulkCode",
    "BulkPlan",
    "BulkRow",
    "ParsedCsv",
    "PlannedRow",
    "RowError",
    "parse_bulk_csv",
    "plan_bulk",
    "uncovered_upns",
    "upn_prefixes",
]

#: Every column, in the template's order.
BULK_COLUMNS: Final = (
    "vendor_company",
    "first_name",
    "last_name",
    "contractor_email",
    "usage_location",
    "license_profile",
    "end_date",
    "sponsor_upn",
    "segment",
)
OPTIONAL_COLUMNS: Final = frozenset({"sponsor_upn", "segment"})
REQUIRED_COLUMNS: Final = tuple(c for c in BULK_COLUMNS if c not in OPTIONAL_COLUMNS)
#: More rows than this is refused: one approval card must stay readable and one batch reviewable.
MAX_BULK_ROWS: Final = 1000
#: Longest cell accepted; anything longer is not a name, a date or an address.
_MAX_CELL: Final = 512
HEADER_ROW: Final = 1

# The validators' field names -> the CSV columns they check.
_COLUMN_OF_FIELD: Final = {
    "vendor_company": "vendor_company",
    "first_name": "first_name",
    "last_name": "last_name",
    "email": "contractor_email",
    "usage_location": "usage_location",
    "license_profile": "license_profile",
    "end_date": "end_date",
    "sponsor": "sponsor_upn",
}
# The naming module's name parts -> the CSV columns they came from.
_COLUMN_OF_NAME_PART: Final = {
    "vendor company": "vendor_company",
    "first name": "first_name",
    "last name": "last_name",
}


class BulkCode(StrEnum):
    """Stable codes of the problems this module finds (besides the validators' own field codes)."""

    EMPTY_FILE = "bulk.empty_file"
    MISSING_COLUMNS = "bulk.missing_columns"
    UNKNOWN_COLUMNS = "bulk.unknown_columns"
    DUPLICATE_COLUMNS = "bulk.duplicate_columns"
    NOT_CSV = "bulk.not_csv"
    TOO_MANY_ROWS = "bulk.too_many_rows"
    NO_ROWS = "bulk.no_rows"
    EXTRA_CELLS = "bulk.extra_cells"
    CELL_TOO_LONG = "bulk.cell_too_long"
    FIELD = "bulk.field"
    DUPLICATE_EMAIL = "bulk.duplicate_email"
    OPEN_REQUEST = "bulk.open_request"
    NAME = "bulk.name"
    SEGMENT = "bulk.segment"
    NO_CATALOG = "bulk.no_catalog"
    SPONSOR = "bulk.sponsor"
    LICENSES = "bulk.licenses"


_TEXTS: Final[dict[BulkCode, str]] = {
    BulkCode.EMPTY_FILE: "The file is empty; start from the template (config/bulk-template.csv).",
    BulkCode.MISSING_COLUMNS: "The header lacks the column(s) {columns}; start from the template.",
    BulkCode.UNKNOWN_COLUMNS: "The header has unknown column(s) {columns}. Known: {known}.",
    BulkCode.DUPLICATE_COLUMNS: "The header names {columns} more than once.",
    BulkCode.NOT_CSV: "The file is not readable CSV ({detail}).",
    BulkCode.TOO_MANY_ROWS: "The file has {count} contractor rows; one batch holds at most {max}. Split it.",
    BulkCode.NO_ROWS: "The file has a header but no contractor rows.",
    BulkCode.EXTRA_CELLS: "This row has {count} cells more than the header has columns.",
    BulkCode.CELL_TOO_LONG: "This value is {length} characters long; at most {max} are accepted.",
    BulkCode.DUPLICATE_EMAIL: "{email} is also on row {first}; each contractor gets one account.",
    BulkCode.OPEN_REQUEST: "{email} already has an open onboarding request ({request_id}).",
    BulkCode.NO_CATALOG: "No information-barrier segment catalog is configured, so no segment can be chosen.",
    BulkCode.SPONSOR: "No one in the directory signs in as {upn}.",
}


def _text(code: BulkCode, **params: object) -> str:
    return _TEXTS[code].format(**params)


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem: the spreadsheet row (1 = header), the column (None = the whole row), the sentence."""

    row: int
    column: str | None
    code: str
    message: str

    def describe(self) -> str:
        """ "Row 7, contractor_email: ..." as the approval card and the command line print it."""
        where = f"Row {self.row}" + (f", {self.column}" if self.column else "")
        return f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class BulkRow:
    """A row whose own cells passed every rule, with cleaned values."""

    row: int
    contractor: ValidatedContractor
    access: ValidatedAccess
    #: The sponsor's sign-in address (lower-cased), or None for "the submitter".
    sponsor_upn: str | None
    #: The segment name as written, or None for "may reach everyone".
    segment: str | None


@dataclass(frozen=True, slots=True)
class ParsedCsv:
    """The rows that passed, and every problem found (file-level problems carry row 1)."""

    rows: tuple[BulkRow, ...]
    errors: tuple[RowError, ...]
    #: Contractor rows in the file (empty lines not counted).
    total_rows: int

    @property
    def ok(self) -> bool:
        """True when no row has a problem."""
        return not self.errors


def _cell(record: Mapping[str, str | None], column: str) -> str | None:
    value = record.get(column)
    return None if value is None or not value.strip() else value


def parse_bulk_csv(
    text: str,
    *,
    config: OnboardingConfig,
    today: date,
    max_rows: int = MAX_BULK_ROWS,
) -> ParsedCsv:
    """Read the CSV ``text`` and check every row with the wizard's rules; report every problem at once.

    File-level problems (no header, missing or unknown columns, too many rows) stop the reading: their
    errors carry row 1 and no row is returned.
    """
    body = text.removeprefix("\ufeff")
    if not body.strip():
        return ParsedCsv(
            (), (RowError(HEADER_ROW, None, BulkCode.EMPTY_FILE, _text(BulkCode.EMPTY_FILE)),), 0
        )
    try:
        records = list(csv.reader(io.StringIO(body, newline=""), strict=True))
    except csv.Error as err:
        error = RowError(HEADER_ROW, None, BulkCode.NOT_CSV, _text(BulkCode.NOT_CSV, detail=str(err)[:120]))
        return ParsedCsv((), (error,), 0)
    header = [name.strip().lower() for name in records[0]]
    header_errors = _header_errors(header)
    # Spreadsheet rows: the header is row 1; blank lines keep their number so row numbers match the file.
    data = [(index + 2, cells) for index, cells in enumerate(records[1:]) if any(c.strip() for c in cells)]
    if header_errors:
        return ParsedCsv((), tuple(header_errors), len(data))
    if not data:
        return ParsedCsv((), (RowError(HEADER_ROW, None, BulkCode.NO_ROWS, _text(BulkCode.NO_ROWS)),), 0)
    if len(data) > max_rows:
        message = _text(BulkCode.TOO_MANY_ROWS, count=len(data), max=max_rows)
        return ParsedCsv((), (RowError(HEADER_ROW, None, BulkCode.TOO_MANY_ROWS, message),), len(data))
    rows: list[BulkRow] = []
    errors: list[RowError] = []
    for number, cells in data:
        row, row_errors = _check_row(number, header, cells, config=config, today=today)
        errors.extend(row_errors)
        if row is not None:
            rows.append(row)
    return ParsedCsv(tuple(rows), tuple(errors), len(data))


def _header_errors(header: list[str]) -> list[RowError]:
    errors: list[RowError] = []
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        errors.append(
            RowError(
                HEADER_ROW,
                None,
                BulkCode.MISSING_COLUMNS,
                _text(BulkCode.MISSING_COLUMNS, columns=", ".join(missing)),
            )
        )
    unknown = [column for column in header if column and column not in BULK_COLUMNS]
    if unknown:
        message = _text(
            BulkCode.UNKNOWN_COLUMNS, columns=", ".join(unknown[:5]), known=", ".join(BULK_COLUMNS)
        )
        errors.append(RowError(HEADER_ROW, None, BulkCode.UNKNOWN_COLUMNS, message))
    repeated = [column for column, count in Counter(c for c in header if c).items() if count > 1]
    if repeated:
        message = _text(BulkCode.DUPLICATE_COLUMNS, columns=", ".join(repeated))
        errors.append(RowError(HEADER_ROW, None, BulkCode.DUPLICATE_COLUMNS, message))
    return errors


def _check_row(
    number: int, header: list[str], cells: list[str], *, config: OnboardingConfig, today: date
) -> tuple[BulkRow | None, list[RowError]]:
    errors: list[RowError] = []
    extra = [cell for cell in cells[len(header) :] if cell.strip()]
    if extra:
        errors.append(
            RowError(number, None, BulkCode.EXTRA_CELLS, _text(BulkCode.EXTRA_CELLS, count=len(extra)))
        )
    record: dict[str, str | None] = {}
    for column, value in zip(header, cells, strict=False):
        if column and len(value) > _MAX_CELL:
            message = _text(BulkCode.CELL_TOO_LONG, length=len(value), max=_MAX_CELL)
            errors.append(RowError(number, column, BulkCode.CELL_TOO_LONG, message))
            record[column] = None
        elif column:
            record[column] = value
    too_long = {error.column for error in errors}
    contractor = validate_contractor(
        ContractorInput(
            vendor_company=_cell(record, "vendor_company"),
            first_name=_cell(record, "first_name"),
            last_name=_cell(record, "last_name"),
            email=_cell(record, "contractor_email"),
            usage_location=_cell(record, "usage_location"),
        )
    )
    access = validate_access(
        AccessInput(license_profile=_cell(record, "license_profile"), end_date=_cell(record, "end_date")),
        today=today,
        policy=config.access,
        profile_keys=config.licensing.profile_keys,
    )
    for field_error in (*contractor.errors, *access.errors):
        column = _COLUMN_OF_FIELD.get(field_error.field, field_error.field)
        if column not in too_long:
            errors.append(
                RowError(number, column, f"{BulkCode.FIELD}.{field_error.code}", field_error.message)
            )
    sponsor_upn: str | None = None
    sponsor_cell = _cell(record, "sponsor_upn")
    if sponsor_cell is not None:
        sponsor = validate_email(sponsor_cell, field="sponsor_upn", label="Sponsor")
        if sponsor.value is None:
            errors += [
                RowError(number, "sponsor_upn", f"{BulkCode.FIELD}.{e.code}", e.message)
                for e in sponsor.errors
            ]
        else:
            sponsor_upn = sponsor.value.lower()
    segment_cell = _cell(record, "segment")
    if errors or contractor.value is None or access.value is None:
        return None, errors
    segment = " ".join(segment_cell.split()) if segment_cell is not None else None
    return BulkRow(number, contractor.value, access.value, sponsor_upn, segment), []


# ------------------------------------------------------------------------------------------ planning


@dataclass(frozen=True, slots=True)
class PlannedRow:
    """A row ready to become an onboarding request: its names, licenses and segment placement decided."""

    row: BulkRow
    upn: UpnPlan
    licenses: LicensePlan
    placement: Placement | None


@dataclass(frozen=True, slots=True)
class BulkPlan:
    """The outcome of planning: the rows to submit, every problem, and the seats the batch needs."""

    planned: tuple[PlannedRow, ...]
    errors: tuple[RowError, ...]
    total_rows: int
    #: Seats the planned rows need, by SKU part number, in first-seen order.
    seats_needed: Mapping[str, int]

    @property
    def ok(self) -> bool:
        """True when every row of the file was planned."""
        return not self.errors

    def shortages(self, seats: Mapping[str, SeatCount]) -> dict[str, tuple[int, int]]:
        """SKUs the batch needs more seats of than are free: part number -> (needed, free)."""
        return {
            part: (needed, seats[part].free if part in seats else 0)
            for part, needed in self.seats_needed.items()
            if needed > (seats[part].free if part in seats else 0)
        }


def upn_prefixes(rows: Sequence[BulkRow], config: OnboardingConfig) -> tuple[str, ...]:
    """Lower-cased local-part prefixes under which the planned account names of ``rows`` fall.

    The caller asks the directory once per prefix (``startswith(userPrincipalName, prefix)``) instead of
    once per row: for ``sa-{vendor}-{first}.{last}`` that is one question per vendor (``sa-contoso-``). A
    template that starts with a person's name has no shared prefix (empty tuple). Names that do not fall
    under a prefix (a very long vendor name shortened differently) are found by :func:`uncovered_upns`.
    """
    prefixes: dict[str, None] = {}
    for vendor in dict.fromkeys(row.contractor.vendor_company for row in rows):
        try:
            # Two different one-letter people: the base names part ways where the person's name starts.
            one = plan_upn("x", "x", vendor, policy=config.naming).local_part
            two = plan_upn("y", "y", vendor, policy=config.naming).local_part
        except NamingError:
            continue
        length = 0
        for a, b in zip(one, two, strict=False):
            if a != b:
                break
            length += 1
        if length:
            prefixes[one[:length].lower()] = None
    return tuple(prefixes)


def uncovered_upns(plan: BulkPlan, prefixes: Collection[str]) -> tuple[str, ...]:
    """Planned account names that fall under none of ``prefixes`` (the caller looks these up one by one)."""
    return tuple(
        item.upn.upn.lower()
        for item in plan.planned
        if not any(item.upn.local_part.lower().startswith(prefix) for prefix in prefixes)
    )


def plan_bulk(
    parsed: ParsedCsv,
    *,
    config: OnboardingConfig,
    catalog: SegmentCatalog | None,
    taken_upns: Collection[str] | Callable[[str], bool] = (),
    open_requests_by_email: Mapping[str, str] | None = None,
    seats: Mapping[str, SeatCount] | None = None,
    unknown_sponsors: Collection[str] = (),
) -> BulkPlan:
    """Plan every row of ``parsed``; report every cross-row and outside-world problem at once.

    ``taken_upns``: account names in use in the directory or held by open requests (case-insensitive).
    ``open_requests_by_email``: lower-cased contractor email -> request id of an open request.
    ``seats``: live seat counts (when None, licenses are planned without checking free seats; the
    approval card shows the shortage and provisioning checks again). ``unknown_sponsors``: lower-cased
    sponsor addresses the directory does not know.
    """
    errors = list(parsed.errors)
    open_by_email = {k.lower(): v for k, v in (open_requests_by_email or {}).items()}
    unknown = {upn.lower() for upn in unknown_sponsors}
    if callable(taken_upns):
        directory_taken = taken_upns
    else:
        held = {upn.lower() for upn in taken_upns}

        def directory_taken(upn: str) -> bool:
            return upn in held

    planned_here: set[str] = set()

    def is_taken(upn: str) -> bool:
        lowered = upn.lower()
        return lowered in planned_here or directory_taken(lowered)

    usable_catalog = catalog is not None and is_usable_for_onboarding(catalog)
    first_row_of: dict[str, int] = {}
    planned: list[PlannedRow] = []
    needed: Counter[str] = Counter()
    for row in parsed.rows:
        row_errors: list[RowError] = []
        email = row.contractor.email.lower()
        if email in first_row_of:
            message = _text(BulkCode.DUPLICATE_EMAIL, email=row.contractor.email, first=first_row_of[email])
            row_errors.append(RowError(row.row, "contractor_email", BulkCode.DUPLICATE_EMAIL, message))
        else:
            first_row_of[email] = row.row
        if email in open_by_email:
            message = _text(
                BulkCode.OPEN_REQUEST, email=row.contractor.email, request_id=open_by_email[email]
            )
            row_errors.append(RowError(row.row, "contractor_email", BulkCode.OPEN_REQUEST, message))
        if row.sponsor_upn is not None and row.sponsor_upn in unknown:
            message = _text(BulkCode.SPONSOR, upn=row.sponsor_upn)
            row_errors.append(RowError(row.row, "sponsor_upn", BulkCode.SPONSOR, message))
        placement = _placement(row, catalog if usable_catalog else None, catalog is not None, row_errors)
        licenses = _licenses(row, config, seats, row_errors)
        upn: UpnPlan | None = None
        if not row_errors:
            upn = _upn(row, config, is_taken, row_errors)
        if row_errors or upn is None or licenses is None:
            errors.extend(row_errors)
            continue
        planned_here.add(upn.upn.lower())
        needed.update(licenses.part_numbers)
        planned.append(PlannedRow(row, upn, licenses, placement))
    errors.sort(key=lambda e: (e.row, BULK_COLUMNS.index(e.column) if e.column in BULK_COLUMNS else -1))
    return BulkPlan(tuple(planned), tuple(errors), parsed.total_rows, dict(needed))


def _placement(
    row: BulkRow, catalog: SegmentCatalog | None, configured: bool, errors: list[RowError]
) -> Placement | None:
    if row.segment is None:
        return None
    if catalog is None:
        errors.append(RowError(row.row, "segment", BulkCode.NO_CATALOG, _text(BulkCode.NO_CATALOG)))
        return None
    segment = catalog.find(row.segment)
    try:
        if segment is None:
            raise UnknownSegment(row.segment[:64])
        return placement_for(segment)
    except SegmentError as err:
        errors.append(RowError(row.row, "segment", BulkCode.SEGMENT, user_message(err)))
        return None


def _licenses(
    row: BulkRow, config: OnboardingConfig, seats: Mapping[str, SeatCount] | None, errors: list[RowError]
) -> LicensePlan | None:
    try:
        profile = config.licensing.profile(row.access.license_profile)
    except UnknownLicenseProfile as err:  # pragma: no cover - parse_bulk_csv checked the key
        errors.append(RowError(row.row, "license_profile", BulkCode.LICENSES, user_message(err)))
        return None
    if seats is None:
        # Without seat counts a segment's IB license is the first preferred one; the card shows seats later.
        parts = list(profile.sku_part_numbers)
        preference = config.licensing.ib_capable_preference
        if row.segment is not None and not any(part in preference for part in parts):
            parts.append(preference[0])
        return LicensePlan(part_numbers=tuple(parts))
    decision = decide_licenses(
        profile,
        seats,
        segment_chosen=row.segment is not None,
        ib_capable_preference=config.licensing.ib_capable_preference,
    )
    if isinstance(decision, LicenseShortage):
        # A missing or suspended subscription is this row's problem. A mere lack of free seats is the
        # batch's: the approval card shows seats needed against seats free, and provisioning gives seats
        # to rows in file order, failing only the rows left without one.
        plenty = {
            part: SeatCount(
                part, max(count.enabled, count.consumed + 1), count.consumed, count.capability_status
            )
            for part, count in seats.items()
        }
        decision = decide_licenses(
            profile,
            plenty,
            segment_chosen=row.segment is not None,
            ib_capable_preference=config.licensing.ib_capable_preference,
        )
        if isinstance(decision, LicenseShortage):
            errors.append(
                RowError(row.row, "license_profile", BulkCode.LICENSES, "; ".join(decision.reasons))
            )
            return None
    return decision


def _upn(
    row: BulkRow, config: OnboardingConfig, is_taken: Callable[[str], bool], errors: list[RowError]
) -> UpnPlan | None:
    contractor = row.contractor
    try:
        return plan_upn(
            contractor.first_name,
            contractor.last_name,
            contractor.vendor_company,
            policy=config.naming,
            taken=is_taken,
        )
    except UnusableName as err:
        column = _COLUMN_OF_NAME_PART.get(err.field, "first_name")
        errors.append(RowError(row.row, column, BulkCode.NAME, user_message(err)))
    except NamingError as err:  # NoFreeUpn: every name from base to base99 is taken
        errors.append(RowError(row.row, "last_name", BulkCode.NAME, user_message(err)))
    return None
