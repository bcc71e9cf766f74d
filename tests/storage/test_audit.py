"""AuditLog: append-only events, queries by time and request, the secret guard, and the CSV export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta, timezone

import pytest

from storage import audit as audit_module
from storage.audit import AuditLog
from storage.database import Database
from storage.errors import SecretInAuditDetailError
from tests.storage.conftest import START, FakeClock


@pytest.fixture
def audit(database: Database, clock: FakeClock) -> AuditLog:
    return AuditLog(database, clock=clock)


async def _csv(log: AuditLog, start: datetime, end: datetime) -> list[list[str]]:
    text = "".join([line async for line in log.export_csv(start, end)])
    return list(csv.reader(io.StringIO(text)))


async def test_appended_event_reads_back_whole(audit: AuditLog, clock: FakeClock) -> None:
    await audit.append(
        "request.approved",
        actor_aad_id="aad-approver",
        actor_name="Alex Approver",
        request_id="VND-000042",
        target="sa-contoso1-bob@abc.com",
        detail={"comment": "ok", "seats": {"free": 3}},
        graph_request_id="graph-req-1",
        correlation_id="corr-1",
    )
    (record,) = await audit.query()
    assert record.at == clock.now
    assert record.action == "request.approved"
    assert (record.actor_aad_id, record.actor_name) == ("aad-approver", "Alex Approver")
    assert (record.request_id, record.target) == ("VND-000042", "sa-contoso1-bob@abc.com")
    assert record.detail == {"comment": "ok", "seats": {"free": 3}}
    assert (record.graph_request_id, record.correlation_id) == ("graph-req-1", "corr-1")


async def test_times_are_stored_as_aware_utc(audit: AuditLog) -> None:
    paris_winter = timezone(timedelta(hours=1))
    await audit.append("x", at=datetime(2030, 1, 1, 10, 0, tzinfo=paris_winter))
    (record,) = await audit.query()
    assert record.at == datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
    assert record.at.tzinfo is UTC


async def test_query_by_range_includes_start_and_excludes_end(audit: AuditLog) -> None:
    for minutes in (0, 10, 20):
        await audit.append("x", at=START + timedelta(minutes=minutes), detail={"m": minutes})
    records = await audit.query(start=START, end=START + timedelta(minutes=20))
    assert [record.detail["m"] for record in records] == [0, 10]


async def test_query_by_request_id(audit: AuditLog) -> None:
    await audit.append("request.submitted", request_id="VND-000001")
    await audit.append("request.submitted", request_id="VND-000002")
    await audit.append("request.approved", request_id="VND-000001")
    records = await audit.for_request("VND-000001")
    assert [record.action for record in records] == ["request.submitted", "request.approved"]


@pytest.mark.parametrize(
    "detail",
    [
        {"password": "x"},
        {"temporaryPassword": "x"},
        {"client_secret": "x"},
        {"access-token": "x"},
        {"body": {"passwordProfile": {"forceChangePasswordNextSignIn": True}}},
        {"items": [{"ok": 1}, {"Authorization": "Bearer x"}]},
    ],
    ids=["password", "camel-case", "client-secret", "token", "nested", "in-list"],
)
async def test_secret_named_detail_key_is_refused_and_nothing_stored(
    audit: AuditLog, detail: dict[str, object]
) -> None:
    with pytest.raises(SecretInAuditDetailError):
        await audit.append("graph.account_created", detail=detail)
    assert await audit.query() == []


async def test_export_has_header_then_one_row_per_event(audit: AuditLog) -> None:
    await audit.append(
        "request.created", actor_name="Rita", request_id="VND-000001", detail={"vendor": "Contoso"}
    )
    rows = await _csv(audit, START, START + timedelta(days=1))
    assert rows[0] == list(audit_module.CSV_COLUMNS)
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["at"] == "2030-01-01T09:00:00Z"
    assert (row["action"], row["actor_name"], row["request_id"]) == ("request.created", "Rita", "VND-000001")
    assert row["detail"] == '{"vendor": "Contoso"}'


async def test_export_defuses_spreadsheet_formulas(audit: AuditLog) -> None:
    await audit.append("request.created", actor_name='=HYPERLINK("http://evil")')
    rows = await _csv(audit, START, START + timedelta(days=1))
    assert rows[1][rows[0].index("actor_name")] == '\'=HYPERLINK("http://evil")'


async def test_export_streams_every_event_across_pages(
    audit: AuditLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit_module, "_PAGE", 3)
    # Several events share a timestamp, so paging must also order by id.
    for n in range(10):
        await audit.append("x", at=START + timedelta(seconds=n // 4), detail={"n": n})
    rows = await _csv(audit, START, START + timedelta(hours=1))
    assert [int(row[0]) for row in rows[1:]] == sorted(int(row[0]) for row in rows[1:])
    assert len(rows) == 11


async def test_export_leaves_out_events_outside_the_range(audit: AuditLog) -> None:
    await audit.append("before", at=START - timedelta(seconds=1))
    await audit.append("inside", at=START)
    await audit.append("after", at=START + timedelta(days=1))
    rows = await _csv(audit, START, START + timedelta(days=1))
    assert [row[rows[0].index("action")] for row in rows[1:]] == ["inside"]


async def test_naive_time_is_refused(audit: AuditLog) -> None:
    with pytest.raises(ValueError, match="naive"):
        await audit.append("x", at=datetime(2030, 1, 1))  # naive on purpose
