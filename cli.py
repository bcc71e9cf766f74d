"""The operator command line: ``python -m cli --help``.

Commands (each documented by its ``--help``)::

    sandbox reset                         restore the sandbox tenant's seed (state file, or a running sandbox)
    package                               build the Teams app package (manifest + icons) as a zip
    barriers script --out FILE            validate the segment catalog and write its PowerShell
    audit export --from D --to D --out F  the audit log of a date range (inclusive) as CSV
    accounts list [--vendor NAME]         the service accounts the bot manages
    bulk import FILE --as UPN [--dry-run] a CSV of contractors as one batch, pending approval in Teams

The database is ``--database-url``, else ``DATABASE_URL``, else the bot's default (SQLite under ``data/``);
the catalog is ``--catalog``, else ``SEGMENTS_CATALOG_PATH``. Problems go to stderr and give a non-zero
exit status: 1 when the input is wrong (an invalid catalog, reversed dates), 2 when something is missing.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Column, Table

if TYPE_CHECKING:
    from provisioning.bulk import ImportResult
    from storage.database import Database

T = TypeVar("T")

app = typer.Typer(
    name="cli",
    help="Vendor Onboarding bot: operator commands.",
    no_args_is_help=True,
    add_completion=False,
    # Operators get one line saying what is wrong, never a page of framework frames.
    pretty_exceptions_enable=False,
)
sandbox_app = typer.Typer(help="The local sandbox tenant.", no_args_is_help=True)
barriers_app = typer.Typer(
    help="Information barriers: the segment catalog and its PowerShell.", no_args_is_help=True
)
audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)
accounts_app = typer.Typer(help="Service accounts.", no_args_is_help=True)
bulk_app = typer.Typer(help="Bulk onboarding from a CSV file.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(barriers_app, name="barriers")
app.add_typer(audit_app, name="audit")
app.add_typer(accounts_app, name="accounts")
app.add_typer(bulk_app, name="bulk")

out = Console()
err = Console(stderr=True)

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url", help="SQLAlchemy URL of the bot's database (default: DATABASE_URL or data/bot.db)"
    ),
]


def _run(coroutine: Callable[[], Coroutine[Any, Any, T]]) -> T:
    try:
        return asyncio.run(coroutine())
    except MissingDatabase as error:
        raise _fail(
            f"the database {error} has no bot tables: check --database-url / DATABASE_URL "
            "(the bot creates them when it starts)",
            2,
        ) from None


def _fail(message: str, code: int) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False, markup=True)
    return typer.Exit(code)


def database_url(explicit: str | None) -> str:
    """The database: the option, else ``DATABASE_URL``, else the bot's SQLite default under DATA_DIR."""
    if explicit:
        return explicit
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    data_dir = Path(os.environ.get("DATA_DIR", "data"))
    return f"sqlite+aiosqlite:///{(data_dir / 'bot.db').as_posix()}"


# ---------------------------------------------------------------------------------------------- sandbox


@sandbox_app.command("reset")
def sandbox_reset(
    data_dir: Annotated[Path, typer.Option(help="the sandbox's data folder (its state file)")] = Path("data"),
    url: Annotated[
        str | None,
        typer.Option(
            help="reset a running sandbox instead, e.g. http://127.0.0.1:3979 (needs --enable-control)"
        ),
    ] = None,
) -> None:
    """Restore the sandbox tenant to its seed: users, groups, licenses and seats as shipped."""
    if url is not None:
        import httpx

        try:
            response = httpx.post(url.rstrip("/") + "/_sandbox/reset", timeout=10)
        except httpx.HTTPError as error:
            raise _fail(f"the sandbox at {url} did not answer ({type(error).__name__})", 2) from None
        if response.status_code != 204:
            raise _fail(
                f"the sandbox at {url} answered {response.status_code}; is it started with --enable-control?",
                2,
            )
        out.print(f"sandbox at {url} reset to its seed")
        return
    from sandbox.persistence import reset, state_file

    path = state_file(data_dir)
    reset(path)
    out.print(f"sandbox tenant reset to its seed in {path}")


# ---------------------------------------------------------------------------------------------- package


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def package(ctx: typer.Context) -> None:
    """Build the Teams app package (runs manifest.build; `python -m manifest.build --help` lists options)."""
    from manifest.build import main as build_main

    code = build_main(list(ctx.args))
    if code:
        raise typer.Exit(code)


# ---------------------------------------------------------------------------------------------- barriers


@barriers_app.command("script")
def barriers_script(
    out_file: Annotated[Path, typer.Option("--out", help="where to write the PowerShell script")],
    catalog: Annotated[
        Path | None, typer.Option(help="the segment catalog (default: SEGMENTS_CATALOG_PATH)")
    ] = None,
) -> None:
    """Validate the segment catalog and write the idempotent Security & Compliance PowerShell.

    The validation result goes to stderr; with errors nothing is written and the exit status is 1.
    """
    from onboarding.errors import ConfigurationError
    from onboarding.segments import load_catalog, powershell_script, validate_catalog

    path = catalog or (
        Path(os.environ["SEGMENTS_CATALOG_PATH"]) if os.environ.get("SEGMENTS_CATALOG_PATH") else None
    )
    if path is None:
        raise _fail("no catalog: pass --catalog FILE or set SEGMENTS_CATALOG_PATH", 2)
    try:
        loaded = load_catalog(path)
    except ConfigurationError as error:
        raise _fail(str(error), 1) from None
    validation = validate_catalog(loaded)
    for issue in validation.errors:
        err.print(f"error: {issue.message}", markup=False, highlight=False)
    for issue in validation.warnings:
        err.print(f"warning: {issue.message}", markup=False, highlight=False)
    if not validation.ok:
        raise _fail(f"{len(validation.errors)} error(s) in {path}: no script written", 1)
    script = powershell_script(loaded, validation=validation)
    out_file.write_text(script, encoding="utf-8", newline="\n")
    err.print(
        f"catalog OK ({len(loaded.segments)} segments, {len(loaded.policies)} policies, "
        f"{len(validation.warnings)} warning(s)); wrote {out_file}",
        markup=False,
        highlight=False,
    )


# ---------------------------------------------------------------------------------------------- audit


@audit_app.command("export")
def audit_export(
    start: Annotated[str, typer.Option("--from", help="first day, YYYY-MM-DD (UTC)")],
    end: Annotated[str, typer.Option("--to", help="last day, YYYY-MM-DD (UTC), included")],
    out_file: Annotated[Path, typer.Option("--out", help="the CSV file to write ('-' for stdout)")],
    db: DatabaseOption = None,
) -> None:
    """Write the audit events of a date range as CSV (RFC 4180; no passwords or tokens are ever recorded)."""
    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError:
        raise _fail("dates are written YYYY-MM-DD", 1) from None
    if last < first:
        raise _fail("--from must not be after --to", 1)
    lower = datetime.combine(first, time(), tzinfo=UTC)
    upper = datetime.combine(last + timedelta(days=1), time(), tzinfo=UTC)
    url = database_url(db)

    async def export() -> int:
        from storage.audit import AuditLog

        database = await _open_database(url)
        written = 0
        try:
            handle = sys.stdout if str(out_file) == "-" else out_file.open("w", encoding="utf-8", newline="")
            try:
                with _progress(transient=str(out_file) == "-") as progress:
                    task = progress.add_task("exporting audit events", total=None)
                    async for line in AuditLog(database).export_csv(lower, upper):
                        handle.write(line)
                        written += 1
                        progress.advance(task)
            finally:
                if handle is not sys.stdout:
                    handle.close()
        finally:
            await database.close()
        return written - 1  # the header line

    events = _run(export)
    err.print(
        f"{events} event(s) from {first} to {last} written to {out_file}", markup=False, highlight=False
    )


# ---------------------------------------------------------------------------------------------- accounts


@accounts_app.command("list")
def accounts_list(
    vendor: Annotated[str | None, typer.Option(help="only this vendor (exact name, any case)")] = None,
    db: DatabaseOption = None,
) -> None:
    """The bot's service accounts: UPN, contractor, vendor, sponsor, licenses, segment, end date, state."""
    url = database_url(db)

    async def read() -> list[tuple[str, ...]]:
        from storage.accounts import ServiceAccounts

        database = await _open_database(url)
        rows: list[tuple[str, ...]] = []
        try:
            store = ServiceAccounts(database)
            offset = 0
            while True:
                batch = await store.list(limit=500, offset=offset)
                for account in batch:
                    if vendor is not None and account.vendor.casefold() != vendor.strip().casefold():
                        continue
                    rows.append(
                        (
                            account.upn,
                            account.contractor_name,
                            account.vendor,
                            account.sponsor_name,
                            ", ".join(account.license_part_numbers),
                            account.segment or "",
                            account.end_date.isoformat(),
                            account.state,
                        )
                    )
                if len(batch) < 500:
                    break
                offset += 500
        finally:
            await database.close()
        return rows

    rows = _run(read)
    table = Table("Contractor", "Vendor", "Sponsor", "Licenses", "Segment", "Ends", "State")
    # An admin copies UPNs from here: the other columns are shortened first, never the UPN.
    widest = max((len(row[0]) for row in rows), default=3)
    table.columns.insert(0, Column("UPN", no_wrap=True, min_width=widest))
    for row in rows:
        table.add_row(*row)
    Console().print(table)  # sized now (COLUMNS or the terminal), not when the module was imported
    err.print(f"{len(rows)} account(s)", markup=False, highlight=False)


# ---------------------------------------------------------------------------------------------- bulk


@bulk_app.command("import")
def bulk_import(
    csv_file: Annotated[Path, typer.Argument(help="the CSV (columns: config/bulk-template.csv)")],
    submitted_by: Annotated[
        str, typer.Option("--as", help="sign-in address of the submitter (the default sponsor)")
    ],
    dry_run: Annotated[bool, typer.Option(help="check every row, store nothing")] = False,
    db: DatabaseOption = None,
) -> None:
    """Check a CSV of contractors row by row and store its good rows as one batch pending approval.

    Every problem of every row is printed at once. The running bot posts the batch's one approval card to
    the approvals channel and, once approved, provisions it with progress on that card. Uses the bot's
    settings (environment / .env): Graph credentials, onboarding configuration, segment catalog, database.
    Exit status: 0 all rows accepted; 1 some rows refused (the good ones are stored unless --dry-run) or
    none accepted; 2 settings, database or the submitter missing.
    """
    from settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as error:
        raise _fail(str(error), 2) from None
    if not csv_file.is_file():
        raise _fail(f"{csv_file} does not exist", 2)
    url = db or settings.effective_database_url

    async def run() -> ImportResult:
        from onboarding.config import load_onboarding_config
        from onboarding.requests import Person
        from onboarding.segments import load_catalog
        from provisioning.bulk import import_csv
        from provisioning.graph import create_graph_gateway
        from storage.bulk import BulkBatches
        from storage.jobs import JobQueue

        assert settings.onboarding_config_path is not None  # settings require it outside sandbox mode
        config = load_onboarding_config(settings.onboarding_config_path)
        catalog = load_catalog(settings.segments_catalog_path) if settings.segments_catalog_path else None
        database = await _open_database(url)
        try:
            async with create_graph_gateway(settings) as graph:
                submitter = await graph.find_user_by_upn(submitted_by.strip())
                if submitter is None or submitter.account_enabled is False:
                    raise MissingSubmitter(submitted_by)
                with _progress(transient=True) as progress:
                    progress.add_task(f"checking {csv_file.name}", total=None)
                    return await import_csv(
                        csv_file,
                        submitted_by=Person(
                            aad_object_id=submitter.id, display_name=submitter.display_name or submitted_by
                        ),
                        config=config,
                        catalog=catalog,
                        graph=graph,
                        batches=BulkBatches(database),
                        audit_database=database,
                        vendor_accounts_group_id=settings.vendor_accounts_group_id,
                        dry_run=dry_run,
                        # The bot's worker posts the approval card: this process has no Teams adapter.
                        jobs=JobQueue(database),
                    )
        finally:
            await database.close()

    try:
        result = _run(run)
    except MissingSubmitter as error:
        raise _fail(f"no enabled user {error} in the directory (--as)", 2) from None
    for problem in result.errors:
        err.print(problem.describe(), markup=False, highlight=False)
    good = len(result.plan.planned) if result.plan is not None else 0
    if result.batch is not None:
        summary = (
            f"batch {result.batch.id}: {result.accepted} of {result.total_rows} row(s) stored, "
            f"pending approval in the approvals channel; {len(result.errors)} problem(s)"
        )
    elif dry_run:
        summary = (
            f"dry run: {good} of {result.total_rows} row(s) would be stored; {len(result.errors)} problem(s)"
        )
    else:
        summary = f"nothing stored: {len(result.errors)} problem(s) in {result.total_rows} row(s)"
    err.print(summary, markup=False, highlight=False)
    if result.errors or (result.batch is None and not dry_run):
        raise typer.Exit(1)


class MissingSubmitter(Exception):
    """The ``--as`` user is not in the directory, or is disabled."""


class MissingDatabase(Exception):
    """The database has no tables: the bot never ran against it, or the URL points elsewhere."""


async def _open_database(url: str) -> Database:
    from storage.database import Database

    database = await Database.connect(url)
    if await database.current_revision() is None:
        await database.close()
        raise MissingDatabase(url)
    return database


def _progress(*, transient: bool) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        transient=transient,
    )


def main() -> None:
    """Console entry point."""
    app()


if __name__ == "__main__":
    main()
