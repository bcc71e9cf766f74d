"""The command desk: requests, accounts, licenses, barriers, audit export and recording barrier application.

Real database, real stores, the real msgraph-sdk gateway on the sandbox tenant (seats are read live from
it); roles from a recording membership source; a recording stand-in for the Teams notifier.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.approvals import Clicker
from bot.barriers_record import BarriersApplications
from bot.commands_desk import (
    AuditRangeError,
    CommandDesk,
    audit_range,
    split_script,
)
from bot.roles import RoleDirectory, RoleGroups
from bot.seats import SeatSnapshot
from cards.actions import ListPagePayload, OpenRequestPayload, RecordBarriersAppliedPayload
from onboarding.audit import AuditAction
from onboarding.licensing import LicensingConfig
from onboarding.requests import Person
from onboarding.segments import AttributePlacement, load_catalog, parse_catalog, powershell_script
from storage.once import OnceMarks
from tests.provisioning.pipeline_fixtures import (  # noqa: F401 - fixtures
    ADAM,
    ALICE,
    PAULA,
    Pipeline,
    pipeline,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_CATALOG = ROOT / "config" / "segments.example.toml"
APPROVERS = "g-approvers"
REQUESTERS = "g-requesters"
ADMINS = "g-admins"
RITA = Person(aad_object_id="01da0000-0000-4000-8000-000000000002", display_name="Rita Requester")
OMAR = Person(aad_object_id="0aa00000-0000-4000-8000-000000000006", display_name="Omar Operator")
NORA = Person(aad_object_id="0b0a0000-0000-4000-8000-000000000005", display_name="Nora NoRole")
NOW = datetime(2030, 1, 20, 12, 0, tzinfo=UTC)
CONTOSO = AttributePlacement("onPremisesExtensionAttributes.extensionAttribute1", "Vendor-Contoso")


class Membership:
    def __init__(self, members: dict[str, set[str]]) -> None:
        self.members = members

    async def check_member_groups(self, user_id: str, group_ids: Iterable[str]) -> frozenset[str]:
        return frozenset(set(group_ids) & self.members.get(user_id, set()))

    async def group_member_ids(self, group_id: str) -> frozenset[str]:
        return frozenset(user for user, groups in self.members.items() if group_id in groups)


class RecordingNotifier:
    def __init__(self) -> None:
        self.changed: list[int] = []

    async def request_changed(self, number: int) -> None:
        self.changed.append(number)


def clicker(person: Person) -> Clicker:
    return Clicker(person.aad_object_id, person.display_name)


def text(card: object) -> str:
    return json.dumps(card, ensure_ascii=False)


def verbs(card: Any) -> list[str]:
    found: list[str] = []
    if isinstance(card, dict):
        if card.get("type") == "Action.Execute":
            found.append(card["verb"])
        for value in card.values():
            found += verbs(value)
    elif isinstance(card, list):
        for item in card:
            found += verbs(item)
    return found


def code_blocks(card: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(card, dict):
        if card.get("type") == "CodeBlock":
            found.append(card)
        for value in card.values():
            found += code_blocks(value)
    elif isinstance(card, list):
        for item in card:
            found += code_blocks(item)
    return found


def desk_for(wired: Pipeline, *, catalog_text: str | None = None, page_size: int = 8) -> CommandDesk:
    roles = RoleDirectory(
        Membership(
            {
                ALICE.aad_object_id: {REQUESTERS},
                RITA.aad_object_id: {REQUESTERS},
                ADAM.aad_object_id: {APPROVERS, ADMINS},
                PAULA.aad_object_id: {APPROVERS},
                OMAR.aad_object_id: {ADMINS},
            }
        ),
        RoleGroups(requesters=REQUESTERS, approvers=APPROVERS, administrators=ADMINS),
        ttl_seconds=60,
    )
    catalog = parse_catalog(catalog_text) if catalog_text is not None else load_catalog(EXAMPLE_CATALOG)
    notifier = RecordingNotifier()
    desk = CommandDesk(
        requests=wired.requests,
        steps=wired.steps,
        accounts=wired.accounts,
        audit=wired.audit,
        marks=OnceMarks(wired.database),
        roles=roles,
        seats=SeatSnapshot(wired.graph),
        licensing=LicensingConfig(),
        catalog=catalog,
        notifier=notifier,
        clock=lambda: NOW,
        page_size=page_size,
    )
    desk.recorded_notifier = notifier  # type: ignore[attr-defined]
    return desk


async def provisioned(wired: Pipeline, **kwargs: Any) -> int:
    stored = await wired.approved(**kwargs)
    await wired.runner().provision(stored.request.number)
    return stored.request.number


# ---------------------------------------------------------------------------- requests


async def test_requests_lists_only_the_callers_own_requests(pipeline: Pipeline) -> None:  # noqa: F811
    desk = desk_for(pipeline)
    mine = await pipeline.submitted(first="Bob")
    card = await desk.requests(clicker(ALICE))
    assert mine.request.request_id in text(card)
    assert "Your onboarding requests" in text(card)
    assert "An approver decides it" in text(card)
    other = await desk.requests(clicker(RITA))
    assert mine.request.request_id not in text(other)


async def test_each_request_has_an_open_button_carrying_its_id(pipeline: Pipeline) -> None:  # noqa: F811
    desk = desk_for(pipeline)
    mine = await pipeline.submitted()
    card = await desk.requests(clicker(ALICE))
    opens = [a for a in _actions(card) if a["verb"] == "request.open"]
    assert [a["data"]["requestId"] for a in opens] == [mine.request.request_id]


async def test_requests_are_paged_with_next_and_previous(pipeline: Pipeline) -> None:  # noqa: F811
    desk = desk_for(pipeline, page_size=2)
    ids = [(await pipeline.submitted(first=f"Bob{n}")).request.request_id for n in range(5)]
    first = await desk.requests(clicker(ALICE))
    assert verbs(first).count("list.page") == 1  # Next only
    assert ids[4] in text(first)
    assert ids[3] in text(first)
    assert ids[2] not in text(first)
    second = await desk.page(clicker(ALICE), ListPagePayload(list_name="requests", page=1))
    assert ids[2] in text(second)
    assert ids[1] in text(second)
    assert ids[4] not in text(second)
    assert verbs(second).count("list.page") == 2  # Previous and Next
    last = await desk.page(clicker(ALICE), ListPagePayload(list_name="requests", page=2))
    assert ids[0] in text(last)
    assert verbs(last).count("list.page") == 1  # Previous only


async def test_open_shows_the_requester_a_read_only_card(pipeline: Pipeline) -> None:  # noqa: F811
    desk = desk_for(pipeline)
    mine = await pipeline.submitted()
    card = await desk.open_request(clicker(ALICE), OpenRequestPayload(request_id=mine.request.request_id))
    assert mine.request.request_id in text(card)
    assert "approval.approve" not in verbs(card)


async def test_open_shows_an_approver_the_decision_buttons(pipeline: Pipeline) -> None:  # noqa: F811
    desk = desk_for(pipeline)
    mine = await pipeline.submitted()
    card = await desk.open_request(clicker(PAULA), OpenRequestPayload(request_id=mine.request.request_id))
    assert "approval.approve" in verbs(card)


async def test_open_refuses_someone_elses_request(pipeline: Pipeline) -> None:  # noqa: F811
    desk = desk_for(pipeline)
    mine = await pipeline.submitted()
    card = await desk.open_request(clicker(RITA), OpenRequestPayload(request_id=mine.request.request_id))
    assert "Not allowed" in text(card)
    assert "Bob" not in text(card)
    refusals = await pipeline.audit.query(action=AuditAction.ACCESS_REFUSED.value)
    assert [r.actor_aad_id for r in refusals] == [RITA.aad_object_id]


# ---------------------------------------------------------------------------- accounts


async def test_accounts_lists_a_provisioned_account_with_its_details(pipeline: Pipeline) -> None:  # noqa: F811
    desk = desk_for(pipeline)
    number = await provisioned(
        pipeline, segment="Vendor - Contoso", placement=CONTOSO, extra_licenses=("SPE_E5",)
    )
    stored = await pipeline.current(number)
    card = text(await desk.accounts(clicker(ADAM)))
    for expected in (
        stored.plan.upn,
        "Bob Builder",
        "Contoso1",
        "Alice Requester",
        "Dynamics 365 Remote Assist",
        "Vendor - Contoso",
        "31 Mar 2030",
        "Active",
    ):
        assert expected in card, expected


async def test_a_requester_sees_only_the_accounts_they_sponsor(pipeline: Pipeline) -> None:  # noqa: F811
    desk = desk_for(pipeline)
    number = await provisioned(pipeline)
    upn = (await pipeline.current(number)).plan.upn
    assert upn in text(await desk.accounts(clicker(ALICE)))
    rita = text(await desk.accounts(clicker(RITA)))
    assert upn not in rita
    assert "you sponsor" in rita


async def test_accounts_filter_by_vendor_ignores_case(pipeline: Pipeline) -> None:  # noqa: F811
    desk = desk_for(pipeline)
    contoso = await provisioned(pipeline, first="Bob", vendor="Contoso1")
    fabrikam = await provisioned(pipeline, first="Eve", vendor="Fabrikam")
    card = text(await desk.accounts(clicker(ADAM), "fabrikam"))
    assert (await pipeline.current(fabrikam)).plan.upn in card
    assert (await pipeline.current(contoso)).plan.upn not in card


async def test_accounts_pages_keep_the_vendor_filter(pipeline: Pipeline) -> None:  # noqa: F811
    desk = desk_for(pipeline, page_size=1)
    for first in ("Ann", "Ben"):
        await provisioned(pipeline, first=first, vendor="Fabrikam")
    await provisioned(pipeline, first="Cat", vendor="Contoso1")
    card = await desk.accounts(clicker(ADAM), "Fabrikam")
    nexts = [a for a in _actions(card) if a["verb"] == "list.page"]
    assert [a["data"] for a in nexts] == [{"listName": "accounts", "page": 1, "vendor": "Fabrikam"}]
    second = text(
        await desk.page(clicker(ADAM), ListPagePayload(list_name="accounts", page=1, vendor="Fabrikam"))
    )
    assert "sa-fabrikam-ben" in second.lower()
    assert "contoso1" not in second.lower()


async def test_accounts_refuse_someone_without_a_role(pipeline: Pipeline) -> None:  # noqa: F811
    desk = desk_for(pipeline)
    await provisioned(pipeline)
    card = text(await desk.accounts(clicker(NORA)))
    assert "Not allowed" in card
    assert "Bob" not in card


# ---------------------------------------------------------------------------- licenses


async def test_licenses_show_the_sandbox_numbers_and_what_the_bot_holds(pipeline: Pipeline) -> None:  # noqa: F811
    desk = desk_for(pipeline)
    await provisioned(pipeline)
    consumed, enabled = pipeline.seats("MICROSOFT_REMOTE_ASSIST")
    card = await desk.licenses(clicker(ALICE))
    row = _license_facts(card, "MICROSOFT_REMOTE_ASSIST")
    assert row == {
        "Total": str(enabled),
        "Used": str(consumed),
        "Free": str(enabled - consumed),
        "Held by this bot's accounts": "1",
        "Listed for": "profile “Remote Assist technician”",
    }


async def test_licenses_list_the_ib_capable_preference(pipeline: Pipeline) -> None:  # noqa: F811
    desk = desk_for(pipeline)
    card = await desk.licenses(clicker(ALICE))
    row = _license_facts(card, "SPE_E5")
    assert row["Listed for"].startswith("information barriers (preference 1 of")
    assert row["Held by this bot's accounts"] == "0"


async def test_licenses_refuse_someone_without_a_role(pipeline: Pipeline) -> None:  # noqa: F811
    desk = desk_for(pipeline)
    assert "Not allowed" in text(await desk.licenses(clicker(NORA)))


# ---------------------------------------------------------------------------- barriers


async def test_barriers_show_the_example_catalogs_script_exactly(pipeline: Pipeline) -> None:  # noqa: F811
    desk = desk_for(pipeline)
    card = await desk.barriers(clicker(OMAR))
    blocks = code_blocks(card)
    expected = powershell_script(load_catalog(EXAMPLE_CATALOG))
    assert [b["language"] for b in blocks] == ["PowerShell"]
    assert blocks[0]["codeSnippet"] == expected
    assert "Vendor - Fabrikam" in text(card)
    assert "python -m cli barriers script --out" in text(card)


async def test_barriers_show_validation_errors_and_no_script(pipeline: Pipeline) -> None:  # noqa: F811
    broken = """
version = 1
[[segments]]
name = "Vendor - A"
kind = "vendor"
attribute = "Department"
value = "A"
[[segments]]
name = "Vendor - B"
kind = "vendor"
attribute = "Department"
value = "B"
[[policies]]
segment = "Vendor - A"
blocks = ["Vendor - B"]
"""
    desk = desk_for(pipeline, catalog_text=broken)
    card = await desk.barriers(clicker(ADAM))
    assert code_blocks(card) == []
    assert "error(s)" in text(card)
    assert "Vendor - B" in text(card)


async def test_a_large_script_is_paged_and_every_card_stays_under_28_kb(pipeline: Pipeline) -> None:  # noqa: F811
    catalog = _large_catalog(120)
    desk = desk_for(pipeline, catalog_text=catalog)
    script = powershell_script(parse_catalog(catalog))
    pages: list[str] = []
    card = await desk.barriers(clicker(ADAM))
    while True:
        assert len(text(card).encode("utf-8")) < 28_000
        pages += [b["codeSnippet"] for b in code_blocks(card)]
        nexts = [a for a in _actions(card) if a["verb"] == "list.page" and a["title"] == "Next"]
        if not nexts:
            break
        card = await desk.page(
            clicker(ADAM), ListPagePayload(list_name="barriers", page=nexts[0]["data"]["page"])
        )
    assert len(pages) > 1
    assert "".join(pages) == script


async def test_barriers_are_refused_to_a_requester(pipeline: Pipeline) -> None:  # noqa: F811
    desk = desk_for(pipeline)
    card = await desk.barriers(clicker(ALICE))
    assert "Not allowed" in text(card)
    assert code_blocks(card) == []


def test_split_script_keeps_whole_lines() -> None:
    script = "".join(f"line {n}\n" for n in range(100))
    pages = split_script(script, limit=50)
    assert "".join(pages) == script
    assert all(page.endswith("\n") and len(page) <= 50 for page in pages)


# ---------------------------------------------------------------------------- record applied


async def test_an_administrator_records_application_once_with_its_time(pipeline: Pipeline) -> None:  # noqa: F811
    desk = desk_for(pipeline)
    number = await provisioned(pipeline, segment="Vendor - Contoso", placement=CONTOSO)
    stored = await pipeline.current(number)
    payload = RecordBarriersAppliedPayload(request_id=stored.request.request_id, card_version=stored.version)
    cards = await asyncio.gather(
        desk.record_barriers_applied(clicker(OMAR), payload),
        desk.record_barriers_applied(clicker(ADAM), payload),
    )
    events = await pipeline.audit.query(action=AuditAction.BARRIERS_APPLICATION_RECORDED.value)
    assert len(events) == 1
    assert events[0].at == NOW
    assert events[0].request_id == stored.request.request_id
    assert sum("Already recorded by" in text(card) for card in cards) == 1
    assert all("policy application started by" in text(card) for card in cards)
    assert desk.recorded_notifier.changed == [number]  # type: ignore[attr-defined]
    recorded = await BarriersApplications(pipeline.audit).recorded(stored.request.request_id)
    assert recorded is not None
    assert recorded.at == NOW


async def test_recording_application_is_refused_to_a_non_administrator(pipeline: Pipeline) -> None:  # noqa: F811
    desk = desk_for(pipeline)
    number = await provisioned(pipeline, segment="Vendor - Contoso", placement=CONTOSO)
    stored = await pipeline.current(number)
    payload = RecordBarriersAppliedPayload(request_id=stored.request.request_id, card_version=stored.version)
    card = await desk.record_barriers_applied(clicker(PAULA), payload)
    assert "not allowed to record that policy application was started" in text(card)
    assert "bot administrators" in text(card)
    assert stored.request.contractor.email not in text(card)  # a refusal shows nothing of the request
    assert await pipeline.audit.query(action=AuditAction.BARRIERS_APPLICATION_RECORDED.value) == []


async def test_recording_application_needs_a_segment(pipeline: Pipeline) -> None:  # noqa: F811
    desk = desk_for(pipeline)
    number = await provisioned(pipeline)
    stored = await pipeline.current(number)
    payload = RecordBarriersAppliedPayload(request_id=stored.request.request_id, card_version=stored.version)
    card = await desk.record_barriers_applied(clicker(OMAR), payload)
    assert "no segment" in text(card)
    assert await pipeline.audit.query(action=AuditAction.BARRIERS_APPLICATION_RECORDED.value) == []


# ---------------------------------------------------------------------------- audit export


async def test_audit_export_tells_an_administrator_the_count_and_the_command(pipeline: Pipeline) -> None:  # noqa: F811
    desk = desk_for(pipeline)
    for _ in range(3):
        await pipeline.audit.append("test.event", at=datetime(2030, 1, 10, 8, 0, tzinfo=UTC))
    await pipeline.audit.append("test.event", at=datetime(2030, 1, 11, 8, 0, tzinfo=UTC))
    card = text(await desk.audit_export(clicker(OMAR), ("2030-01-10", "2030-01-10")))
    assert '"3"' in card
    assert "python -m cli audit export --from 2030-01-10 --to 2030-01-10" in card


async def test_audit_export_is_refused_to_an_approver(pipeline: Pipeline) -> None:  # noqa: F811
    desk = desk_for(pipeline)
    card = text(await desk.audit_export(clicker(PAULA)))
    assert "Not allowed" in card
    assert "python -m cli" not in card


def test_audit_range_defaults_to_the_last_30_days() -> None:
    assert audit_range((), date(2030, 1, 31)) == (date(2030, 1, 2), date(2030, 1, 31))


def test_audit_range_refuses_reversed_dates() -> None:
    with pytest.raises(AuditRangeError):
        audit_range(("2030-02-01", "2030-01-01"), date(2030, 3, 1))


def test_audit_range_refuses_a_non_date() -> None:
    with pytest.raises(AuditRangeError):
        audit_range(("yesterday",), date(2030, 3, 1))


# ---------------------------------------------------------------------------- helpers


def _actions(card: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(card, dict):
        if card.get("type") == "Action.Execute":
            found.append(card)
        for value in card.values():
            found += _actions(value)
    elif isinstance(card, list):
        for item in card:
            found += _actions(item)
    return found


def _texts(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        if node.get("type") == "TextRun":
            found.append(node["text"])
        for value in node.values():
            found += _texts(value)
    elif isinstance(node, list):
        for item in node:
            found += _texts(item)
    return found


def _license_facts(card: dict[str, Any], part_number: str) -> dict[str, str]:
    """The title/value rows of the box whose heading line names ``part_number``."""
    for element in card["body"]:
        if element.get("type") == "Container" and part_number in _texts(element["items"][0]):
            rows: dict[str, str] = {}
            for column_set in element["items"][1]["items"]:
                title, value = (_texts(column)[0] for column in column_set["columns"])
                rows[title] = value
            return rows
    raise AssertionError(f"no row for {part_number}")


def _large_catalog(vendors: int) -> str:
    parts = ['version = 1\nmode = "single-segment"\n']
    names = [f"Vendor {n:03d} Field Services Company" for n in range(vendors)]
    for n, name in enumerate(names):
        parts.append(
            f'[[segments]]\nname = "{name}"\nkind = "vendor"\nattribute = "Department"\nvalue = "V{n:03d}"\n'
        )
    for n, name in enumerate(names):
        others = [names[(n + 1) % vendors], names[(n - 1) % vendors]]
        parts.append(f'[[policies]]\nsegment = "{name}"\nblocks = {json.dumps(others)}\n')
    return "\n".join(parts)
