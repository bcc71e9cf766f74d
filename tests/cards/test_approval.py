"""The approval card in each state of a request."""

from __future__ import annotations

import pytest

from cards import approval
from cards.actions import ApprovePayload, Verb, parse_action
from cards.views import ActorAt, Decision, Failure, RequestStatus
from tests.cards import samples, walk

APPROVED = Decision(True, "Adam Approver", samples.DECIDED_AT, "")
REJECTED = Decision(False, "Paula Approver", samples.DECIDED_AT, "Not this vendor")


def test_pending_card_shows_request_requester_contractor_and_vendor() -> None:
    text = walk.all_text(approval.approval_card(samples.approval_view()))
    for expected in (
        "Onboarding request VND-000042",
        "Alice Requester",
        "Bob Builder",
        "bob@contoso.com",
        "Contoso",
    ):
        assert expected in text, expected


def test_pending_card_shows_the_plan() -> None:
    text = walk.all_text(approval.approval_card(samples.approval_view()))
    for expected in (
        "sa-contoso-bob.builder@abc.onmicrosoft.com",
        "Office 365 E5",
        "Vendors-Contoso",
        "30 Sep 2026",
    ):
        assert expected in text, expected


def test_pending_card_shows_free_seats_now() -> None:
    lines = walk.rich_lines(approval.approval_card(samples.approval_view()))
    assert "Dynamics 365 Remote Assist: 3 of 25 free" in lines


def test_exhausted_seats_are_shown_in_red() -> None:
    content = approval.approval_card(samples.approval_view(seats=(samples.remote_assist(0),)))
    block = next(
        obj
        for obj in walk.of_type(content, "RichTextBlock")
        if "".join(run["text"] for run in obj["inlines"]) == "Dynamics 365 Remote Assist: 0 of 25 free"
    )
    assert {run["color"] for run in block["inlines"]} == {"Attention"}


def test_pending_card_shows_warnings() -> None:
    content = approval.approval_card(samples.approval_view(warnings=("The UPN is taken.",)))
    assert "The UPN is taken." in walk.rich_lines(content)


def test_pending_card_offers_approve_and_reject_with_a_comment() -> None:
    content = approval.approval_card(samples.approval_view())
    assert list(walk.buttons(content)) == ["Approve", "Reject"]
    assert "comment" in walk.inputs(content)


def test_approve_button_names_the_request_and_card_version() -> None:
    action = walk.buttons(approval.approval_card(samples.approval_view(card_version=9)))["Approve"]
    assert parse_action(action["verb"], action["data"]) == ApprovePayload(
        request_id="VND-000042", card_version=9
    )


def test_reject_sends_the_comment_input() -> None:
    action = walk.buttons(approval.approval_card(samples.approval_view()))["Reject"]
    assert action["verb"] == Verb.APPROVAL_REJECT
    assert action.get("associatedInputs") != "none"


def test_read_only_view_has_no_buttons_and_no_input() -> None:
    content = approval.approval_card(samples.approval_view(viewer_may_act=False))
    assert (walk.buttons(content), walk.inputs(content)) == ({}, {})


def test_pending_card_refreshes_for_the_listed_approvers() -> None:
    content = approval.approval_card(samples.approval_view())
    assert content["refresh"]["userIds"] == ["29:adam", "29:paula"]
    assert content["refresh"]["action"]["data"] == {"requestId": "VND-000042", "cardVersion": 1}


def test_no_refresh_without_users() -> None:
    assert "refresh" not in approval.approval_card(samples.approval_view(refresh_user_ids=()))


@pytest.mark.parametrize("status", [RequestStatus.REJECTED, RequestStatus.CANCELLED])
def test_settled_requests_stop_refreshing(status: RequestStatus) -> None:
    content = approval.approval_card(samples.approval_view(status=status, decision=REJECTED))
    assert "refresh" not in content


def test_more_than_60_refresh_users_is_refused() -> None:
    with pytest.raises(ValueError, match="60"):
        samples.approval_view(refresh_user_ids=tuple(f"29:user{index}" for index in range(61)))


def test_card_is_full_width_in_the_channel() -> None:
    assert approval.approval_card(samples.approval_view())["msteams"] == {"width": "full"}


def test_approved_card_says_who_and_when_for_everyone() -> None:
    content = approval.approval_card(
        samples.approval_view(status=RequestStatus.PROVISIONING, decision=APPROVED, viewer_may_act=False)
    )
    assert "Approved by Adam Approver at 30 Jun 2026, 14:05 UTC" in walk.rich_lines(content)


def test_decided_card_has_no_approve_or_reject() -> None:
    content = approval.approval_card(
        samples.approval_view(status=RequestStatus.PROVISIONING, decision=APPROVED)
    )
    assert walk.buttons(content) == {}


def test_rejected_card_shows_the_comment() -> None:
    content = approval.approval_card(samples.approval_view(status=RequestStatus.REJECTED, decision=REJECTED))
    assert "Rejected by Paula Approver at 30 Jun 2026, 14:05 UTC: Not this vendor" in walk.rich_lines(content)


def test_progress_line_marks_each_step() -> None:
    content = approval.approval_card(
        samples.approval_view(
            status=RequestStatus.PROVISIONING, decision=APPROVED, progress=samples.progress()
        )
    )
    assert "Creating account ✓ · Assigning licenses … · Segment" in walk.rich_lines(content)


def test_provisioned_card_shows_the_upn() -> None:
    content = approval.approval_card(
        samples.approval_view(status=RequestStatus.PROVISIONED, decision=APPROVED)
    )
    assert "Provisioned sa-contoso-bob.builder@abc.onmicrosoft.com" in walk.rich_lines(content)


def test_provisioned_into_a_segment_says_barriers_are_not_effective_yet() -> None:
    content = approval.approval_card(
        samples.approval_view(status=RequestStatus.PROVISIONED, decision=APPROVED)
    )
    assert "Barriers are not effective yet" in walk.all_text(content)
    assert walk.buttons(content)["Record: policy application started"]["verb"] == Verb.BARRIERS_RECORD_APPLIED


def test_recorded_policy_application_shows_who_and_when_and_stops_asking() -> None:
    content = approval.approval_card(
        samples.approval_view(
            status=RequestStatus.PROVISIONED,
            decision=APPROVED,
            barriers_applied=ActorAt("Omar Operator", samples.PROVISIONED_AT),
        )
    )
    assert any(
        line.startswith(
            "Information-barrier policy application started by Omar Operator at 30 Jun 2026, 14:09 UTC"
        )
        for line in walk.rich_lines(content)
    )
    assert walk.buttons(content) == {}
    assert "refresh" not in content


def test_provisioned_without_segment_has_nothing_to_record() -> None:
    content = approval.approval_card(
        samples.approval_view(
            status=RequestStatus.PROVISIONED,
            decision=APPROVED,
            plan=samples.plan(segment=None, segment_placement=None),
        )
    )
    assert walk.buttons(content) == {}
    assert "Barriers are not effective yet" not in walk.all_text(content)


def test_failed_card_names_the_step_and_reason_with_retry_and_cancel() -> None:
    failure = Failure("Assign licenses", "no free seats of Dynamics 365 Remote Assist (25 of 25 used)")
    content = approval.approval_card(
        samples.approval_view(status=RequestStatus.FAILED, decision=APPROVED, failure=failure)
    )
    assert (
        "Failed at Assign licenses: no free seats of Dynamics 365 Remote Assist (25 of 25 used)"
        in walk.rich_lines(content)
    )
    assert list(walk.buttons(content)) == ["Retry", "Cancel request"]


def test_failed_card_keeps_refreshing_so_a_retry_shows_up() -> None:
    failure = Failure("Assign licenses", "no seats")
    content = approval.approval_card(
        samples.approval_view(status=RequestStatus.FAILED, decision=APPROVED, failure=failure)
    )
    assert content["refresh"]["action"]["verb"] == Verb.APPROVAL_REFRESH


def test_cancelled_card_says_who_cancelled() -> None:
    content = approval.approval_card(
        samples.approval_view(
            status=RequestStatus.CANCELLED,
            decision=APPROVED,
            cancelled=ActorAt("Adam Approver", samples.PROVISIONED_AT),
        )
    )
    assert "Cancelled by Adam Approver at 30 Jun 2026, 14:09 UTC." in walk.rich_lines(content)
    assert walk.buttons(content) == {}


def test_notice_is_shown_on_top() -> None:
    notice = approval.already_decided_notice(APPROVED)
    assert notice == "Already approved by Adam Approver at 30 Jun 2026, 14:05 UTC."
    content = approval.approval_card(
        samples.approval_view(status=RequestStatus.PROVISIONING, decision=APPROVED, notice=notice)
    )
    assert walk.rich_lines(content).index(notice) < walk.rich_lines(content).index("Requester")


def test_naive_decision_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        Decision(True, "Adam", samples.DECIDED_AT.replace(tzinfo=None))
