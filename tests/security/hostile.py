"""Hostile and odd values, and hypothesis strategies that generate them, for the hostile-input suite."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from cards.actions import (
    INPUT_MAX_LENGTHS,
    ApprovePayload,
    BulkApprovePayload,
    BulkRejectPayload,
    BulkRetryFailedPayload,
    CancelRequestPayload,
    CommandRunPayload,
    InputId,
    LifecycleApprovePayload,
    LifecycleExtendPayload,
    LifecycleOffboardPayload,
    LifecycleRejectPayload,
    LifecycleResetPasswordPayload,
    ListPagePayload,
    OpenRequestPayload,
    RecordBarriersAppliedPayload,
    RefreshApprovalPayload,
    RejectPayload,
    RetryPayload,
    RevealPasswordPayload,
    SegmentChangeApprovePayload,
    SegmentChangeProposePayload,
    SegmentChangeRejectPayload,
    SegmentChangeRetryPayload,
    Verb,
    WizardBackPayload,
    WizardCancelPayload,
    WizardNextPayload,
    WizardSubmitPayload,
)

#: OData injection attempts: each would widen a ``$filter`` if a value were pasted in unquoted.
ODATA_INJECTIONS = (
    "x' or 1 eq 1 or 'a' eq 'a",
    "x' or startswith(userPrincipalName,'a') or employeeId eq 'y",
    "' or accountEnabled eq true or '",
    "x'') or (''a'' eq ''a",
    "%27 or 1 eq 1",
    "x\\' or 1 eq 1 --",
    "$filter=startswith(displayName,'A')",
)

#: Markdown, HTML, Adaptive Card templating, mentions and bidi tricks that must show as typed.
MARKUP_INJECTIONS = (
    "**Evil**](http://x) _x_ [y](http://z)",
    "[click me](javascript:alert(1))",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<at>Adam Approver</at>",
    "{{DATE(2017-02-14T06:08:39Z, SHORT)}}",
    "${requester.name}",
    "&lt;b&gt;bold&lt;/b&gt;",
    "\u202eevil\u202c",
    "zero\u200bwidth",
    "# Heading\n- item\n1. item",
)

#: Names and values people really have (issue 7: the named cases).
NAMED_VALUES = {
    "apostrophe": "O'Brien",
    "accents": "José Müller-Lüdenscheidt",
    "cyrillic": "Дмитрий Шостакович",
    "cjk": "王小明",
    "arabic-rtl": "محمد عبد الله",
    "hebrew-rtl": "שרה כהן",
    "emoji": "Bob 👩🏽\u200d💻🚀",
    "10kB": "x" * 10_240,
    "whitespace-only": " \t\u00a0\u2003 ",
    "empty": "",
}

COMMAND_WORDS = (
    "help",
    "onboard",
    "cancel",
    "requests",
    "accounts",
    "licenses",
    "extend",
    "offboard",
    "barriers",
    "approvals here",
)

_EMOJI = "😀🚀👩🏽\u200d💻🏳️\u200d🌈🇫🇷❤️\ufe0f"

#: Text that is odd in many ways (any unicode, RTL scripts, emoji, markup, injections, blank), short.
short_hostile_text = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=st.characters(min_codepoint=0x0590, max_codepoint=0x08FF), max_size=80),
    st.text(alphabet=st.sampled_from(_EMOJI + "\u202e\u202d\u200f\u200e\u2066\u2069"), max_size=60),
    st.sampled_from(
        ODATA_INJECTIONS + MARKUP_INJECTIONS + tuple(v for v in NAMED_VALUES.values() if len(v) < 100)
    ),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=4),
    st.text(alphabet=" \t\r\n\u00a0\u2003\u3000", max_size=20),
)

#: About 10 kB of text (a repeated piece of anything): long, yet far below the request size cap.
long_text = st.builds(
    lambda piece, size: (piece * (size // len(piece) + 1))[:size],
    st.text(min_size=1, max_size=5),
    st.integers(9_000, 11_000),
)

#: Odd text of any length.
hostile_text = st.one_of(short_hostile_text, short_hostile_text, long_text)

#: What a user may type: a command word with hostile arguments, an @mention, or anything at all.
typed_text = st.one_of(
    hostile_text,
    st.builds(lambda word, rest: f"{word} {rest}", st.sampled_from(COMMAND_WORDS), hostile_text),
    st.builds(
        lambda name, rest: f"<at>{name}</at> {rest}",
        st.sampled_from(["Vendor Onboarding", "", "<at>", "**x**"]),
        st.one_of(st.sampled_from(COMMAND_WORDS), hostile_text),
    ),
    st.sampled_from(COMMAND_WORDS),
)

#: Any JSON value, nested a few levels.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | short_hostile_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)

#: A minimal valid ``data`` for every verb: the starting point the payload mutations depart from.
VALID_DATA: dict[Verb, dict[str, Any]] = {
    Verb.COMMAND_RUN: CommandRunPayload(command="help").to_data(),
    Verb.WIZARD_NEXT: WizardNextPayload(wizard_id="wz-1", step=1, card_version=0).to_data(),
    Verb.WIZARD_BACK: WizardBackPayload(wizard_id="wz-1", step=2, card_version=1).to_data(),
    Verb.WIZARD_CANCEL: WizardCancelPayload(wizard_id="wz-1", step=1, card_version=0).to_data(),
    Verb.WIZARD_SUBMIT: WizardSubmitPayload(wizard_id="wz-1", step=4, card_version=3).to_data(),
    Verb.APPROVAL_APPROVE: ApprovePayload(request_id="REQ-1", card_version=0).to_data(),
    Verb.APPROVAL_REJECT: RejectPayload(request_id="REQ-1", card_version=0).to_data(),
    Verb.APPROVAL_RETRY: RetryPayload(request_id="REQ-1", card_version=0).to_data(),
    Verb.APPROVAL_CANCEL: CancelRequestPayload(request_id="REQ-1", card_version=0).to_data(),
    Verb.APPROVAL_REFRESH: RefreshApprovalPayload(request_id="REQ-1", card_version=0).to_data(),
    Verb.CREDENTIALS_REVEAL: RevealPasswordPayload(request_id="REQ-1").to_data(),
    Verb.BARRIERS_RECORD_APPLIED: RecordBarriersAppliedPayload(request_id="REQ-1", card_version=0).to_data(),
    Verb.LIST_PAGE: ListPagePayload(list_name="accounts", page=1, vendor="Contoso").to_data(),
    Verb.REQUEST_OPEN: OpenRequestPayload(request_id="REQ-1").to_data(),
    Verb.SEGMENT_CHANGE_PROPOSE: SegmentChangeProposePayload(
        upn="sa-x@abc.com", segment="Vendor - Contoso"
    ).to_data(),
    Verb.SEGMENT_CHANGE_APPROVE: SegmentChangeApprovePayload(change_id="sc-1", card_version=0).to_data(),
    Verb.SEGMENT_CHANGE_REJECT: SegmentChangeRejectPayload(
        change_id="sc-1", card_version=0, comment="no"
    ).to_data(),
    Verb.SEGMENT_CHANGE_RETRY: SegmentChangeRetryPayload(change_id="sc-1", card_version=0).to_data(),
    Verb.BULK_APPROVE: BulkApprovePayload(batch_id=1, card_version=0).to_data(),
    Verb.BULK_REJECT: BulkRejectPayload(batch_id=1, card_version=0).to_data(),
    Verb.BULK_RETRY_FAILED: BulkRetryFailedPayload(batch_id=1, card_version=0).to_data(),
    Verb.LIFECYCLE_EXTEND: LifecycleExtendPayload(
        upn="sa-x@abc.com", days=30, end_date="2030-01-31"
    ).to_data(),
    Verb.LIFECYCLE_OFFBOARD: LifecycleOffboardPayload(upn="sa-x@abc.com").to_data(),
    Verb.LIFECYCLE_RESET_PASSWORD: LifecycleResetPasswordPayload(upn="sa-x@abc.com").to_data(),
    Verb.LIFECYCLE_APPROVE: LifecycleApprovePayload(
        lifecycle_request_id="LC-000001", card_version=0
    ).to_data(),
    Verb.LIFECYCLE_REJECT: LifecycleRejectPayload(
        lifecycle_request_id="LC-000001", card_version=0, comment="no"
    ).to_data(),
}

#: Values a card could legitimately send for a field, per wire name (so mutations stay near-valid).
_PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "wizardId": st.sampled_from(["wz-1", "wz-2", "a" * 64, "x"]),
    "step": st.integers(0, 5),
    "cardVersion": st.integers(-1, 2**31),
    "requestId": st.sampled_from(["REQ-1", "REQ-999999999999", "AB-0", "REQ-"]),
    "command": st.sampled_from(["help", "onboard", "requests", "accounts", "licenses", "barriers", "x"]),
    InputId.USAGE_LOCATION.value: st.sampled_from(["US", "fr", "", "ZZ", "USA"]),
    InputId.END_DATE.value: st.sampled_from(["2030-01-31", "1999-12-31", "2026-02-30", "", "31/01/2030"]),
    InputId.REACH_EVERYONE.value: st.sampled_from(["yes", "no", "", "maybe"]),
    InputId.CONTRACTOR_EMAIL.value: st.sampled_from(
        ["bob@contoso1.com", "o'brien@example.com", "a@b", "x' or 1 eq 1 or 'a' eq 'a@x.com"]
    ),
}


def _field_value(name: str) -> st.SearchStrategy[Any]:
    """A value for one field: plausible for it, hostile text, or any JSON at all."""
    plausible = _PLAUSIBLE.get(name, hostile_text)
    return st.one_of(plausible, plausible, hostile_text, json_values)


@st.composite
def payload_data(draw: st.DrawFn, verb: Verb) -> Any:
    """``data`` for a click on ``verb``: valid-shaped with mutated fields, extra fields, or garbage."""
    shape = draw(st.sampled_from(["valid", "mutated", "mutated", "mutated", "garbage"]))
    base = dict(VALID_DATA[verb])
    if shape == "valid":
        return base
    if shape == "garbage":
        return draw(json_values)
    data: dict[str, Any] = {}
    for name, value in base.items():
        action = draw(st.sampled_from(["keep", "replace", "drop"]))
        if action == "keep":
            data[name] = value
        elif action == "replace":
            data[name] = draw(_field_value(name))
    # The card's inputs (Teams merges their values into data) and fields no card has.
    for input_id in draw(st.lists(st.sampled_from(list(InputId)), max_size=4, unique=True)):
        data[input_id.value] = draw(_field_value(input_id.value))
    for extra in draw(
        st.lists(st.sampled_from(["isAdmin", "role", "aadObjectId", "verb", "__proto__"]), max_size=2)
    ):
        data[extra] = draw(json_values)
    return data


def long_input(input_id: InputId) -> str:
    """A value one character over the input's limit."""
    return "y" * (INPUT_MAX_LENGTHS[input_id] + 1)
