"""The list cards (requests, accounts, licenses, audit export) and the barriers cards, as pure functions."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from cards.actions import SegmentChangeRetryPayload, parse_action
from cards.barriers import barriers_card, segment_change_card, segment_change_form_card
from cards.lists import accounts_card, audit_export_card, licenses_card, not_allowed_card, requests_card
from cards.views import (
    AccountListView,
    AccountRow,
    ActorAt,
    AuditExportView,
    BarriersView,
    CatalogPolicyRow,
    CatalogSegmentRow,
    LicenseRow,
    LicensesView,
    Paging,
    RequestListView,
    RequestRow,
    RequestStatus,
    SegmentChangeFormView,
    SegmentChangeView,
    SegmentOption,
)

AT = datetime(2030, 1, 2, 9, 0, tzinfo=UTC)
HOSTILE = "**Bob** <at>Adam</at> {{DATE(2030-01-01)}}"


def walk(node: Any, kind: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if node.get("type") == kind:
            found.append(node)
        for value in node.values():
            found += walk(value, kind)
    elif isinstance(node, list):
        for item in node:
            found += walk(item, kind)
    return found


def request_row(**changes: Any) -> RequestRow:
    values: dict[str, Any] = {
        "request_id": "VND-000042",
        "contractor_name": "Bob Builder",
        "vendor_company": "Contoso",
        "status": RequestStatus.PENDING_APPROVAL,
        "updated_at": AT,
        "next_step": "An approver decides it in the approvals channel.",
    }
    return RequestRow(**(values | changes))


def account_row(**changes: Any) -> AccountRow:
    values: dict[str, Any] = {
        "upn": "sa-contoso-bob.builder@abc.com",
        "contractor_name": "Bob Builder",
        "vendor": "Contoso",
        "sponsor": "Alice Requester",
        "licenses": ("Dynamics 365 Remote Assist",),
        "segment": "Vendor - Contoso",
        "end_date": date(2030, 3, 31),
        "state": "Active",
    }
    return AccountRow(**(values | changes))


def test_every_button_parses_with_its_own_payload_model() -> None:
    cards = [
        requests_card(RequestListView(rows=(request_row(),), paging=Paging(page=1, has_next=True))),
        accounts_card(
            AccountListView(rows=(account_row(),), all_accounts=True, paging=Paging(1, True, "Contoso"))
        ),
        segment_change_form_card(
            SegmentChangeFormView("sa-x@abc.com", None, (SegmentOption("Vendor - A", "Vendor - A", "d = A"),))
        ),
        segment_change_card(
            SegmentChangeView(
                "sc-1", 2, "sa-x@abc.com", "Alice", None, "Vendor - A", "department = A", "pending"
            )
        ),
        segment_change_card(
            SegmentChangeView(
                "sc-1", 4, "sa-x@abc.com", "Alice", None, "Vendor - A", "department = A", "failed"
            )
        ),
    ]
    for card in cards:
        for action in walk(card, "Action.Execute"):
            parse_action(action["verb"], action["data"])


def test_requests_card_pages_both_ways() -> None:
    card = requests_card(RequestListView(rows=(request_row(),), paging=Paging(page=1, has_next=True)))
    pages = [a["data"]["page"] for a in walk(card, "Action.Execute") if a["verb"] == "list.page"]
    assert pages == [0, 2]


def test_a_single_page_has_no_paging_buttons() -> None:
    card = requests_card(RequestListView(rows=(request_row(),)))
    assert [a["verb"] for a in walk(card, "Action.Execute")] == ["request.open"]


def test_user_text_never_reaches_markdown() -> None:
    card = accounts_card(
        AccountListView(rows=(account_row(contractor_name=HOSTILE, vendor=HOSTILE),), all_accounts=True)
    )
    blocks = " ".join(block["text"] for block in walk(card, "TextBlock"))
    assert "Bob" not in blocks
    runs = " ".join(run["text"] for run in walk(card, "TextRun"))
    assert "<at>" not in runs
    assert "{{" not in runs


def test_accounts_card_says_whose_accounts_a_requester_sees() -> None:
    card = json.dumps(accounts_card(AccountListView(rows=(), all_accounts=False)))
    assert "you sponsor" in card


def test_licenses_card_shows_unknown_counts_as_unknown() -> None:
    row = LicenseRow("Office 365 E5", "ENTERPRISEPREMIUM", None, None, None, 0, "information barriers")
    card = json.dumps(licenses_card(LicensesView(rows=(row,), as_of=None)))
    assert "not in this tenant" in card
    assert "could not be read" in card


def test_barriers_card_puts_the_script_in_a_powershell_code_block_verbatim() -> None:
    script = "# header\nNew-OrganizationSegment -Name 'O''Brien' -UserGroupFilter \"Department -eq 'x'\"\n"
    view = BarriersView(
        configured=True,
        mode="legacy",
        segments=(
            CatalogSegmentRow("O'Brien", "vendor", "Department -eq 'O''Brien'", "department = O'Brien"),
        ),
        policies=(CatalogPolicyRow("O'Brien policy", "O'Brien", "allows only", ("O'Brien", "Field")),),
        script_page=script,
        cli_command="python -m cli barriers script --out ib.ps1",
    )
    blocks = walk(barriers_card(view), "CodeBlock")
    assert blocks == [
        {
            "type": "CodeBlock",
            "codeSnippet": script,
            "language": "PowerShell",
            "startLineNumber": 1,
            "spacing": "Small",
        }
    ]


def test_barriers_card_without_a_catalog_says_so() -> None:
    card = json.dumps(barriers_card(BarriersView(configured=False)))
    assert "No segment catalog is configured" in card


def test_barriers_card_with_errors_lists_them() -> None:
    card = json.dumps(
        barriers_card(BarriersView(configured=True, mode="legacy", errors=("Segment “A” blocks “B” but …",)))
    )
    assert "1 error(s)" in card
    assert walk(json.loads(card), "CodeBlock") == []


def test_audit_export_card_gives_the_command() -> None:
    card = json.dumps(
        audit_export_card(
            AuditExportView(date(2030, 1, 1), date(2030, 1, 31), 12, "python -m cli audit export")
        )
    )
    assert "python -m cli audit export" in card
    assert "file-consent" in card


def test_not_allowed_card_names_the_group() -> None:
    card = json.dumps(not_allowed_card("see license seats", "requesters"))
    assert "not allowed to see license seats" in card
    assert "requesters group" in card


def test_applied_segment_change_says_what_to_reapply() -> None:
    view = SegmentChangeView(
        "sc-1",
        3,
        "sa-x@abc.com",
        "Alice",
        "Vendor - A",
        "Vendor - B",
        "department = B",
        "applied",
        decision=ActorAt("Adam", AT),
    )
    card = json.dumps(segment_change_card(view))
    assert "Start-InformationBarrierPoliciesApplication" in card
    assert walk(json.loads(card), "Action.Execute") == []


def test_a_failed_segment_change_says_why_and_offers_a_retry_to_whoever_may_act() -> None:
    view = SegmentChangeView(
        "SEG-7",
        4,
        "sa-x@abc.com",
        "Alice",
        "Vendor - A",
        "Vendor - B",
        "group IB Vendor - B",
        "failed",
        decision=ActorAt("Adam", AT),
        failure="no license that includes information barriers has a free seat (SPE_E5)",
    )
    card = segment_change_card(view)
    assert "has a free seat" in json.dumps(card)
    (retry,) = walk(card, "Action.Execute")
    assert (retry["title"], retry["verb"]) == ("Retry", "segment.retry")
    assert parse_action(retry["verb"], retry["data"]) == SegmentChangeRetryPayload(
        change_id="SEG-7", card_version=4
    )
    read_only = segment_change_card(replace(view, viewer_may_act=False))
    assert walk(read_only, "Action.Execute") == []
    assert "has a free seat" in json.dumps(read_only)
