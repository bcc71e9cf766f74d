"""Issue 8, items 3 and 4: bulk provisioning against Graph's write quota, and Graph requests per account.

The sandbox answers every write after ``write_seconds`` (150 ms) and enforces a per-app write quota of
``quota_writes`` per ``quota_window`` seconds. Graph's real quota is 3,000 writes per 150 s: 20 writes/s,
with a bucket so large that 300 contractors (900 writes) would never touch it. So the quota is *scaled*:
the rate stays Graph's, 20 writes/s, but the window shrinks from 150 s to ``quota_window`` (3 s: 60
writes per 3 s), which keeps the bucket small next to the run and makes the quota, not the latency,
the limit. The bulk runner's pacer is told the same quota, as it would be told Graph's.

Two runs, each in a fresh child process (``python -m bench.bulk``) on a freshly reset sandbox:

* **bulk**: the product's bulk path (:mod:`provisioning.bulk`): a CSV of ``rows`` contractors imported
  as one batch, approved, then provisioned by :class:`~provisioning.bulk.BulkRunner` (``$batch``
  envelopes, paced under the quota). Timed from the start of provisioning to its end; the import is
  timed and its Graph reads counted separately.
* **sequential**: what a script would do: for each contractor, create the account, assign the license,
  add it to the group, one call after the other, through the same Graph gateway. Its rate is constant
  (every account is three 150 ms writes in a row), so by default it runs the first ``sequential_rows``
  (50) of the 300 to keep ``python -m bench`` within its 10-minute budget; the full 300 add about two
  minutes and give the same accounts per second (``python -m bench --only bulk --sequential-rows 300``).

Figures: bulk accounts per second as a fraction of the quota-limited maximum, which is the time the
quota needs for the minimum 3 writes per account, ``(3 * rows - bucket) / rate`` (the bucket starts
full); bulk over sequential (accounts per second); failures and duplicates (accounts in the tenant per
planned name, read from the sandbox). Graph economy (item 4): the sandbox's own count of the requests
during bulk provisioning, writes and reads (``$batch`` envelopes count as reads, as Graph counts them
as requests), per provisioned account, against the minimum of 3 writes and 0 reads.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import aiohttp

from bench.flows import name_suffix
from bench.processes import Child, start_child
from bench.report import Figure, info, judged
from bench.world import SandboxControl

TARGET_QUOTA_FRACTION = 0.85
TARGET_SPEED_UP = 4.0
TARGET_WRITES = 3.0
TARGET_READS = 0.2
REMOTE_ASSIST = "MICROSOFT_REMOTE_ASSIST"
#: Minimum writes per account: create (with every attribute), assign license, join one group.
MIN_WRITES_PER_ACCOUNT = 3


@dataclass(frozen=True)
class BulkConfig:
    """Contractors, write latency and the scaled quota."""

    rows: int = 300
    sequential_rows: int = 50
    write_seconds: float = 0.15
    quota_writes: int = 60
    quota_window: float = 3.0

    @property
    def quota_rate(self) -> float:
        return self.quota_writes / self.quota_window

    def quota_limited_seconds(self, accounts: int) -> float:
        """The least time the quota allows for ``accounts`` accounts at the minimum writes each."""
        return max(0, MIN_WRITES_PER_ACCOUNT * accounts - self.quota_writes) / self.quota_rate


# ------------------------------------------------------------------------------------------ child side


def _csv(rows: int, path: Path) -> None:
    from onboarding.bulk import BULK_COLUMNS

    # Within any sensible maximum access period, and in the future whenever the benchmark runs.
    end_date = (date.today() + timedelta(days=30)).isoformat()
    lines = [",".join(BULK_COLUMNS)]
    for number in range(rows):
        values = {
            "vendor_company": "Contoso",
            "first_name": "Bob",
            "last_name": f"Bulk{name_suffix(number)}",
            "contractor_email": f"bob.{number}@contoso1.example",
            "usage_location": "US",
            "license_profile": "remote-assist-technician",
            "end_date": end_date,
            "sponsor_upn": "",
            "segment": "",
        }
        lines.append(",".join(values.get(column, "") for column in BULK_COLUMNS))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


async def _counted(control: SandboxControl) -> dict[str, int]:
    recorded = await control.requests()
    return {
        "writes": sum(1 for r in recorded if r["isWrite"]),
        "reads": sum(1 for r in recorded if not r["isWrite"]),
        "envelopes": sum(1 for r in recorded if r["path"].endswith("/$batch")),
    }


async def _bulk_child(args: argparse.Namespace) -> dict[str, Any]:
    from onboarding.config import load_onboarding_config
    from onboarding.requests import Person
    from onboarding.segments import load_catalog
    from provisioning.bulk import BulkRunner, NullBatchProgress, WritePacer, decide_batch, import_csv
    from provisioning.graph import create_graph_gateway
    from provisioning.graph_calls import RequestIdCapture
    from settings import SANDBOX_VENDOR_ACCOUNTS_GROUP_ID, load_settings
    from storage.bulk import BulkBatches
    from storage.database import Database
    from storage.requests import RequestStore, StepLog
    from storage.vault import CredentialVault, generate_key

    settings = load_settings(bot_mode="sandbox", graph_base_url=args.graph_url, data_dir=args.data_dir)
    assert settings.onboarding_config_path is not None
    config = load_onboarding_config(settings.onboarding_config_path)
    catalog = load_catalog(settings.segments_catalog_path) if settings.segments_catalog_path else None
    alice = Person(aad_object_id="a11ce000-0000-4000-8000-000000000001", display_name="Alice Requester")
    adam = Person(aad_object_id="adaa0000-0000-4000-8000-000000000003", display_name="Adam Approver")
    database = await Database.create(settings.effective_database_url)
    graph = create_graph_gateway(settings, transport=RequestIdCapture.for_base_url(args.graph_url))
    async with aiohttp.ClientSession() as session:
        control = SandboxControl(session, urlsplit(args.graph_url).port or 80)
        try:
            await database.migrate()
            await graph.warm_up()
            batches = BulkBatches(database)
            requests = RequestStore(database)
            csv_path = Path(args.data_dir) / "contractors.csv"
            _csv(args.rows, csv_path)
            await control.clear_requests()
            started = time.perf_counter()
            imported = await import_csv(
                csv_path,
                submitted_by=alice,
                config=config,
                catalog=catalog,
                graph=graph,
                batches=batches,
                audit_database=database,
                vendor_accounts_group_id=SANDBOX_VENDOR_ACCOUNTS_GROUP_ID,
            )
            if imported.batch is None:
                raise RuntimeError(
                    f"the import stored nothing: {[e.describe() for e in imported.errors][:5]}"
                )
            await decide_batch(database, batches, requests, imported.batch.id, adam, approve=True)
            import_seconds = time.perf_counter() - started
            import_counts = await _counted(control)
            await control.clear_requests()
            runner = BulkRunner(
                graph,
                database,
                requests,
                StepLog(database),
                CredentialVault(database, generate_key()),
                batches,
                NullBatchProgress(),
                pacer=WritePacer(args.quota_writes, args.quota_window),
            )
            started = time.perf_counter()
            outcome = await runner.provision(imported.batch.id)
            seconds = time.perf_counter() - started
            counts = await _counted(control)
        finally:
            await graph.close()
            await database.close()
    return {
        "rows": args.rows,
        "accepted": imported.accepted,
        "importErrors": len(imported.errors),
        "importSeconds": round(import_seconds, 3),
        "importGraph": import_counts,
        "seconds": round(seconds, 3),
        "provisioned": outcome.provisioned,
        "failed": outcome.failed,
        "unfinished": outcome.unfinished,
        "runnerWrites": outcome.writes,
        "envelopes": outcome.envelopes,
        "pacerWaitedSeconds": round(runner.pacer.waited, 3),
        "graph": counts,
    }


async def _sequential_child(args: argparse.Namespace) -> dict[str, Any]:
    from pydantic import SecretStr

    from onboarding.passwords import generate_temporary_password
    from provisioning.directory import LicenseAssignment, NewUser
    from provisioning.errors import GraphError
    from provisioning.graph import create_graph_gateway
    from sandbox.seed import REMOTE_ASSIST_SKU_ID
    from settings import SANDBOX_VENDOR_ACCOUNTS_GROUP_ID, load_settings

    settings = load_settings(bot_mode="sandbox", graph_base_url=args.graph_url, data_dir=args.data_dir)
    graph = create_graph_gateway(settings)
    failures: list[str] = []
    provisioned = 0
    try:
        await graph.warm_up()
        started = time.perf_counter()
        for number in range(args.rows):
            letters = name_suffix(number)
            try:
                user = await graph.create_user(
                    NewUser(
                        user_principal_name=f"sa-seq-{letters}@abc.onmicrosoft.com",
                        display_name=f"Bob Seq{letters} (Contoso)",
                        mail_nickname=f"sa-seq-{letters}",
                        password=SecretStr(generate_temporary_password()),
                        marker=f"SEQ-{number}",
                        usage_location="US",
                        given_name="Bob",
                        surname=f"Seq{letters}",
                        company_name="Contoso",
                        other_mails=(f"bob.{number}@contoso1.example",),
                    )
                )
                await graph.assign_licenses(user.id, [LicenseAssignment(UUID(REMOTE_ASSIST_SKU_ID))])
                await graph.add_group_member(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID, user.id)
            except GraphError as err:
                failures.append(f"{number}: {type(err).__name__}")
                continue
            provisioned += 1
        seconds = time.perf_counter() - started
    finally:
        await graph.close()
    return {
        "rows": args.rows,
        "seconds": round(seconds, 3),
        "provisioned": provisioned,
        "failed": len(failures),
        "failureExamples": failures[:5],
    }


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.bulk {bulk,sequential} ...``: one run; prints its result as one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.bulk")
    parser.add_argument("mode", choices=("bulk", "sequential"))
    parser.add_argument("--graph-url", required=True)
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--quota-writes", type=int, default=60)
    parser.add_argument("--quota-window", type=float, default=3.0)
    args = parser.parse_args(argv)
    run = _bulk_child if args.mode == "bulk" else _sequential_child
    print(json.dumps(asyncio.run(run(args))), flush=True)
    return 0


# ------------------------------------------------------------------------------------------ parent side


@dataclass
class BulkResult:
    """Both runs, and what the tenant holds afterwards."""

    config: BulkConfig
    bulk: dict[str, Any]
    sequential: dict[str, Any]
    bulk_duplicates: int
    sequential_duplicates: int

    @property
    def bulk_rate(self) -> float:
        return float(self.bulk["provisioned"]) / float(self.bulk["seconds"])

    @property
    def quota_fraction(self) -> float:
        return self.config.quota_limited_seconds(self.config.rows) / float(self.bulk["seconds"])

    @property
    def sequential_rate(self) -> float:
        return float(self.sequential["provisioned"]) / float(self.sequential["seconds"])

    @property
    def speed_up(self) -> float:
        return self.bulk_rate / self.sequential_rate

    def per_account(self, kind: str) -> float:
        provisioned = int(self.bulk["provisioned"])
        return float(self.bulk["graph"][kind]) / provisioned if provisioned else float("nan")

    @property
    def bulk_failures(self) -> int:
        """Rows not provisioned: refused at import, failed, or left unfinished."""
        return self.config.rows - int(self.bulk["provisioned"])

    def figures(self) -> list[Figure]:
        rows = self.config.rows
        clean = self.bulk_failures == 0 and self.bulk_duplicates == 0
        writes, reads = self.per_account("writes"), self.per_account("reads")
        return [
            info("bulk.accounts_per_second", f"Bulk: {rows} contractors, accounts/s", self.bulk_rate, "/s"),
            judged(
                "bulk.quota_fraction",
                f"Bulk: share of the quota-limited maximum ({self.config.quota_rate:g} writes/s)",
                self.quota_fraction,
                "x",
                target=f">= {TARGET_QUOTA_FRACTION}",
                met=self.quota_fraction >= TARGET_QUOTA_FRACTION and clean,
            ),
            info(
                "bulk.sequential_per_second",
                f"Sequential loop ({self.sequential['rows']} of them): accounts/s",
                self.sequential_rate,
                "/s",
            ),
            judged(
                "bulk.speed_up",
                "Bulk / sequential loop",
                self.speed_up,
                "x",
                target=f">= {TARGET_SPEED_UP:g}",
                met=self.speed_up >= TARGET_SPEED_UP and clean,
            ),
            judged(
                "bulk.failures",
                "Bulk: failed or missing rows",
                self.bulk_failures,
                "",
                target="0",
                met=self.bulk_failures == 0,
            ),
            judged(
                "bulk.duplicates",
                "Bulk: duplicate accounts",
                self.bulk_duplicates,
                "",
                target="0",
                met=self.bulk_duplicates == 0,
            ),
            judged(
                "graph.writes_per_account",
                "Graph writes per account (bulk)",
                writes,
                "",
                target=f"{TARGET_WRITES:g} (minimum 3)",
                met=writes <= TARGET_WRITES,
            ),
            judged(
                "graph.reads_per_account",
                "Graph reads per account (bulk, $batch envelopes included)",
                reads,
                "",
                target=f"<= {TARGET_READS} (minimum 0)",
                met=reads <= TARGET_READS,
            ),
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.config.rows,
            "sequentialRows": self.config.sequential_rows,
            "writeSeconds": self.config.write_seconds,
            "quota": {"writes": self.config.quota_writes, "windowSeconds": self.config.quota_window},
            "quotaLimitedSeconds": round(self.config.quota_limited_seconds(self.config.rows), 3),
            "bulk": self.bulk,
            "sequential": self.sequential,
            "bulkDuplicates": self.bulk_duplicates,
            "sequentialDuplicates": self.sequential_duplicates,
            "bulkAccountsPerSecond": round(self.bulk_rate, 3),
            "quotaFraction": round(self.quota_fraction, 3),
            "sequentialAccountsPerSecond": round(self.sequential_rate, 3),
            "speedUp": round(self.speed_up, 2),
            "writesPerAccount": round(self.per_account("writes"), 3),
            "readsPerAccount": round(self.per_account("reads"), 3),
        }


async def _accounts(session: aiohttp.ClientSession, graph_origin: str, marker_prefix: str) -> Counter[str]:
    """Accounts in the tenant per ``employeeId`` marker starting with ``marker_prefix``."""
    markers: Counter[str] = Counter()
    params: dict[str, str] | None = {"$select": "id,employeeId", "$top": "999"}
    next_url: str | None = f"{graph_origin}/v1.0/users"
    while next_url:
        async with session.get(
            next_url, params=params, headers={"Authorization": "Bearer bench"}
        ) as response:
            response.raise_for_status()
            page = await response.json()
        for user in page.get("value", []):
            marker = str(user.get("employeeId") or "")
            if marker.startswith(marker_prefix):
                markers[marker] += 1
        next_url, params = page.get("@odata.nextLink"), None
    return markers


def duplicates(accounts: Counter[str]) -> int:
    """Accounts beyond the first for one marker (one request, one contractor)."""
    return sum(count - 1 for count in accounts.values())


async def _child_run(
    mode: str, config: BulkConfig, world: Child, log_dir: Path, control: SandboxControl
) -> dict[str, Any]:
    await control.reset()
    await control.set_seats(REMOTE_ASSIST, config.rows + 25)
    await control.set_quota(limit=config.quota_writes, window_seconds=config.quota_window)
    await control.set_latency(per_write=config.write_seconds)
    graph_url = f"http://127.0.0.1:{world.ready['graph']}/v1.0"
    with tempfile.TemporaryDirectory(prefix=f"bench-{mode}-") as data_dir:
        args = ["-m", "bench.bulk", mode, "--graph-url", graph_url, "--data-dir", data_dir]
        rows = config.rows if mode == "bulk" else config.sequential_rows
        args += ["--rows", str(rows), "--quota-writes", str(config.quota_writes)]
        args += ["--quota-window", str(config.quota_window)]
        timeout = 120 + 2 * config.rows * MIN_WRITES_PER_ACCOUNT * config.write_seconds
        # The child prints its result when it is done: wait for that line off the event loop.
        child = await asyncio.to_thread(start_child, f"bulk-{mode}", args, log_dir, timeout=timeout)
        child.stop()
    return child.ready


async def run_bulk(config: BulkConfig, world: Child, log_dir: Path) -> BulkResult:
    """The bulk run, then the sequential loop, each on a reset sandbox; the sandbox is reset after."""
    graph_origin = f"http://127.0.0.1:{world.ready['graph']}"
    async with aiohttp.ClientSession() as session:
        control = SandboxControl(session, int(world.ready["graph"]))
        try:
            bulk = await _child_run("bulk", config, world, log_dir, control)
            bulk_accounts = await _accounts(session, graph_origin, "VND-")
            sequential = await _child_run("sequential", config, world, log_dir, control)
            sequential_accounts = await _accounts(session, graph_origin, "SEQ-")
        finally:
            await control.reset()
            await control.restore_quota()
    bulk["accountsInTenant"] = sum(bulk_accounts.values())
    sequential["accountsInTenant"] = sum(sequential_accounts.values())
    return BulkResult(config, bulk, sequential, duplicates(bulk_accounts), duplicates(sequential_accounts))


if __name__ == "__main__":
    raise SystemExit(main())
