"""Bulk onboarding end to end: a 200-row CSV with 5 bad rows, one approval card, 195 accounts, a restart.

The file is imported as the command line does (``provisioning.bulk.import_csv`` with the bot's database and
``jobs``), so the running bot's worker posts the batch's one approval card into "Vendor approvals" in the
real Agents Playground. Adam approves there; the bot provisions the 195 good rows with progress on that same
card. In the middle of the run the bot is cut off (its running jobs cancelled, as a crash would) and a new
bot starts on the same data folder; the run resumes and the sandbox ends with exactly 195 vendor users, each
with its own request-id marker, no duplicates.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from onboarding.bulk import BULK_COLUMNS
from onboarding.config import load_onboarding_config
from onboarding.requests import Person
from onboarding.segments import load_catalog
from provisioning.bulk import import_csv
from provisioning.graph import GraphGateway, StaticTokenCredential
from settings import SANDBOX_VENDOR_ACCOUNTS_GROUP_ID
from storage.bulk import BulkBatches
from storage.database import Database
from storage.repositories import JobQueue
from tests.onboarding.test_bulk import to_csv
from tests.provisioning.pipeline_fixtures import FAST
from tests.support.cards import CHANNEL, click, message_id, text_of, wait_card
from tests.support.playground import PlaygroundClient, PlaygroundEvent
from tests.support.product import ProductStack

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
REMOTE_ASSIST = "MICROSOFT_REMOTE_ASSIST"
ALICE = Person(aad_object_id="a11ce000-0000-4000-8000-000000000001", display_name="Alice Requester")
VENDOR = "Northwind Rigging"
#: Spreadsheet row (header = 1) -> the column broken on it.
BAD_ROWS = {
    5: "contractor_email",
    52: "usage_location",
    101: "end_date",
    152: "license_profile",
    200: "first_name",
}
PROGRESS = re.compile(r"(\d+) / (\d+) provisioned")


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, module_database_url: str | None
) -> Iterator[ProductStack]:
    # A short lease: the jobs a restart cuts off are claimed again within seconds, not a minute. Not shorter:
    # on a saturated 2-core machine a heartbeat (every third of the lease) can come late enough that the
    # lease runs out, and the run starts over again and again (seen with 2 s on PostgreSQL under load).
    folder = Path(tmp_path_factory.mktemp("bulk-e2e"))
    with ProductStack(folder, database_url=module_database_url, worker_lease_seconds=6.0) as product:
        product.sandbox.tenant.set_prepaid_units(REMOTE_ASSIST, 1000)
        yield product


@pytest.fixture(scope="module")
def bot_endpoint(stack: ProductStack) -> str:
    return stack.bot_endpoint


def crew_csv(today: datetime) -> str:
    """200 contractor rows valid today, five of them broken (one column each, see BAD_ROWS)."""
    end = (today.date() + timedelta(days=30)).isoformat()
    rows = [
        {
            "vendor_company": VENDOR,
            "first_name": "Rig",
            "last_name": f"Hand{chr(ord('a') + n % 26)}{chr(ord('a') + n // 26)}",
            "contractor_email": f"rig{n}@northwind.example",
            "usage_location": "DE",
            "license_profile": "remote-assist-technician",
            "end_date": end,
            "sponsor_upn": "",
            "segment": "",
        }
        for n in range(200)
    ]
    broken = {
        "contractor_email": "not-an-address",
        "usage_location": "XX",
        "end_date": (today.date() + timedelta(days=400)).isoformat(),
        "license_profile": "no-such-profile",
        "first_name": "",
    }
    for row, column in BAD_ROWS.items():
        rows[row - 2][column] = broken[column]
    return to_csv(rows, BULK_COLUMNS)


def progress_of(event: PlaygroundEvent) -> tuple[int, int] | None:
    match = PROGRESS.search(text_of(event.cards[0])) if event.cards else None
    return (int(match.group(1)), int(match.group(2))) if match else None


def vendor_users(stack: ProductStack) -> list[dict[str, object]]:
    tenant = stack.sandbox.tenant
    with tenant.lock:
        return [dict(u) for u in tenant.users.values() if u.get("companyName") == VENDOR]


async def test_200_rows_5_bad_one_card_195_accounts_and_no_duplicates_after_a_restart(
    pg: PlaygroundClient,
    stack: ProductStack,
    tmp_path: Path,
) -> None:
    tenant = stack.sandbox.tenant
    consumed_before, _ = tenant.seats(REMOTE_ASSIST)
    channel = pg.config.channel_id(CHANNEL)
    await pg.send_activity_as("29:adam", text="approvals here", conversation_id=channel, mention_bot=True)
    await wait_card(pg, lambda e: "approval" in text_of(e.cards[0]).lower())

    # The import, as the command line runs it: every problem in one pass, one batch of 195 requests.
    path = tmp_path / "northwind-crew.csv"
    path.write_text(crew_csv(datetime.now(UTC)), encoding="utf-8")
    pg.mark()
    assert stack.settings is not None
    # The command line is a process of its own: nothing of it stays open once the import is done.
    database = await Database.connect(stack.settings.effective_database_url)
    try:
        async with GraphGateway(stack.sandbox.base_url, StaticTokenCredential(), options=FAST) as graph:
            result = await import_csv(
                path,
                submitted_by=ALICE,
                config=load_onboarding_config(REPO / "config" / "onboarding.example.toml"),
                catalog=load_catalog(REPO / "config" / "segments.example.toml"),
                graph=graph,
                batches=BulkBatches(database),
                audit_database=database,
                vendor_accounts_group_id=SANDBOX_VENDOR_ACCOUNTS_GROUP_ID,
                jobs=JobQueue(database),
            )
    finally:
        await database.close()
    assert {(e.row, e.column) for e in result.errors} == set(BAD_ROWS.items())
    assert result.batch is not None
    assert result.accepted == 195

    # The bot's worker posts the batch's one approval card; Adam approves it there.
    posted = await wait_card(
        pg,
        lambda e: (
            e.is_new_message
            and e.conversation_id.startswith(channel)
            and "bulk.approve" in text_of(e.cards[0])
        ),
    )
    card_id = message_id(posted)
    assert "195" in text_of(posted.cards[0])
    # Slow writes enough that the card shows a partial count (updates are coalesced to one per 2 s) well
    # before the end: an envelope of 20 writes takes 2.4 s, a row's three writes go in three envelopes one
    # after the other, so the run needs ~10 s and the first partial count shows ~4 s in.
    tenant.faults.set_latency(per_write=0.12)
    thread = f"{posted.conversation_id};messageid={card_id}"
    await click(
        pg, posted.cards[0], "bulk.approve", message_id=card_id, conversation_id=thread, as_user="29:adam"
    )

    def on_the_card(low: int, high: int) -> Callable[[PlaygroundEvent], bool]:
        def check(event: PlaygroundEvent) -> bool:
            shown = progress_of(event)
            on_card = event.message is not None and event.message.message_id == card_id
            return on_card and shown is not None and shown[1] == 195 and low <= shown[0] <= high

        return check

    midway = await wait_card(pg, on_the_card(1, 194), timeout=90)
    partial = progress_of(midway)
    # Once seen, slow the writes still to come to a crawl, so the run cannot end before the cut-off however
    # loaded the machine is (a write already past its delay still lands, as on a real crash).
    tenant.faults.set_latency(per_write=1.0)
    cut_off = stack.restart_bot(interrupt_jobs=True)
    tenant.faults.set_latency(per_write=0.0)
    # The restart did cut the run off: the card showed it unfinished, and the bulk job was running.
    assert partial is not None
    assert partial[0] < 195
    assert cut_off >= 1, "the bulk run had already ended when the bot was cut off"

    await wait_card(pg, on_the_card(195, 195), timeout=90)
    await asyncio.sleep(0.5)  # let any cut-off write that was still in flight land before counting
    users = vendor_users(stack)
    assert len(users) == 195
    assert len({u["employeeId"] for u in users}) == 195
    assert len({u["userPrincipalName"] for u in users}) == 195
    with tenant.lock:
        members: set[str] = set(tenant.members.get(SANDBOX_VENDOR_ACCOUNTS_GROUP_ID, set()))
        assert all(u["id"] in members for u in users)
    assert tenant.seats(REMOTE_ASSIST)[0] == consumed_before + 195
