"""Hostile and odd input, posted to the real bot over HTTP: a clear answer every time, never a 500.

One bot (sandbox mode, real sandbox tenant for Graph, a recording Bot Connector) serves the whole
module. Hypothesis generates text commands (any unicode, RTL, emoji, 10 kB strings, markup, ``<at>``
tags, blank, no text at all) and ``adaptiveCard/action`` invokes for every verb in
:class:`cards.actions.Verb` with valid-shaped, mutated and garbage data, unknown verbs and malformed
values. For every request:

* the HTTP status is below 500;
* an invoke answer is a well-formed Adaptive Card or an ``application/vnd.microsoft.error`` body
  with a code (for invoke names the bot does not implement: the Bot Framework's 501 with such a body);
* every card the bot sends is a well-formed 1.5 card whose buttons parse with their verb's model;
* nothing is logged at ERROR or with a traceback (the product's own logging, captured).

The generated cases run with ``derandomize=True`` so CI sees the same cases on every run. The named
cases of issue 7 follow, then OData injection against the Graph gateway and the real sandbox tenant.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from cards.actions import InputId, Verb, parse_action
from provisioning.directory import NewUser
from provisioning.errors import InvalidRequest
from provisioning.graph import GraphGateway, GraphGatewayOptions, StaticTokenCredential
from sandbox.testing import RunningSandbox, running_sandbox
from tests.cards import walk
from tests.security.hostile import (
    MARKUP_INJECTIONS,
    NAMED_VALUES,
    ODATA_INJECTIONS,
    VALID_DATA,
    hostile_text,
    json_values,
    long_input,
    payload_data,
    typed_text,
)
from tests.security.stack import (
    ADAM,
    ALICE,
    PEOPLE,
    CapturedLogs,
    Person,
    SandboxBotStack,
    encode,
    execute_value,
)

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
ERROR_BODY = "application/vnd.microsoft.error"
CARD_ACTION = "adaptiveCard/action"

#: Settings shared by the generated suites: reproducible, no wall-clock deadline, no example database.
GENERATED = settings(
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.function_scoped_fixture,
    ],
)

#: Texts that mean an exception (its traceback or repr) escaped to the user.
_LEAKED_ERROR_TEXT = ("Traceback", 'File "', "Error(", "Exception(")


def generated(max_examples: int) -> settings:
    """The shared settings with this many generated cases."""
    return settings(GENERATED, max_examples=max_examples)


people = st.sampled_from([*PEOPLE, None])

#: How the bot answers a non-invoke activity it accepted (413: the generated body was over the size cap).
ANSWERED = (200, 201, 202, 413)


# ----------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def logs() -> Iterator[CapturedLogs]:
    with CapturedLogs("INFO") as captured:
        yield captured


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, logs: CapturedLogs, module_database_url: str | None
) -> Iterator[SandboxBotStack]:
    with SandboxBotStack(
        tmp_path_factory.mktemp("hostile-input"), database_url=module_database_url
    ) as running:
        yield running


# ------------------------------------------------------------------------------------------ checks


def assert_well_formed_card(card: Any) -> None:
    """An Adaptive Card 1.5 whose every button carries a known verb and data its model accepts."""
    assert isinstance(card, dict), f"a card must be an object, got {type(card).__name__}"
    assert (card.get("type"), card.get("version")) == ("AdaptiveCard", "1.5")
    assert isinstance(card.get("body"), list)
    for action in walk.executes(card):
        # Raises (and so fails the test) for an unknown verb or data that does not parse.
        parse_action(action.get("verb"), action.get("data", {}))


def assert_no_error_text(text: str) -> None:
    for marker in _LEAKED_ERROR_TEXT:
        assert marker not in text, f"exception text reached the user: {marker!r}"


def assert_invoke_answer(response: requests.Response, invoke_name: str) -> None:
    """A card (200) or an error body with a code; never a 5xx for a card action."""
    if invoke_name == CARD_ACTION:
        assert response.status_code < 500, f"HTTP {response.status_code}: {response.text[:300]}"
    else:
        # botbuilder's own answer to an invoke a bot does not implement is 501, with a body.
        assert response.status_code < 500 or response.status_code == 501, response.status_code
    body = response.json()
    assert isinstance(body, dict)
    assert body.get("statusCode") == response.status_code
    if body.get("type") == ADAPTIVE_CARD:
        assert response.status_code == 200
        assert_well_formed_card(body.get("value"))
        return
    assert body.get("type") == ERROR_BODY, f"unexpected invoke answer type {body.get('type')!r}"
    value = body.get("value")
    assert isinstance(value, dict)
    assert isinstance(value.get("code"), str)
    assert value["code"]
    assert isinstance(value.get("message"), str)
    assert value["message"]
    assert_no_error_text(value["message"])


def assert_sent_is_well_formed(sent: list[dict[str, Any]]) -> None:
    for activity in sent:
        assert_no_error_text(activity.get("text") or "")
        for attachment in activity.get("attachments") or []:
            assert attachment.get("contentType") == ADAPTIVE_CARD
            assert_well_formed_card(attachment.get("content"))


def exchange(stack: SandboxBotStack, logs: CapturedLogs, activity: dict[str, Any]) -> requests.Response:
    """Post one activity and check everything the property promises about its outcome."""
    sent_before = stack.sent_count()
    failures_before = logs.failure_count()
    body = encode(activity)
    response = stack.post_bytes(body)
    if len(body) > stack.max_request_bytes:
        # Over the size cap: refused before anything else looks at it.
        assert response.status_code == 413
        assert stack.sent_since(sent_before) == []
        return response
    assert response.status_code != 413, f"a body of {len(body)} bytes is under the cap"
    assert response.status_code < 500 or (
        activity.get("type") == "invoke"
        and activity.get("name") != CARD_ACTION
        and response.status_code == 501
    ), f"HTTP {response.status_code} for a {activity.get('type')!r} activity"
    if activity.get("type") == "invoke":
        assert_invoke_answer(response, str(activity.get("name")))
    assert_sent_is_well_formed(stack.sent_since(sent_before))
    assert logs.failures_since(failures_before) == []
    return response


# ------------------------------------------------------------------------------- generated: text


@generated(700)
@given(text=typed_text, person=people, in_channel=st.booleans())
def test_typed_text_always_gets_a_clear_answer(
    stack: SandboxBotStack, logs: CapturedLogs, text: str, person: Person | None, in_channel: bool
) -> None:
    activity = (
        stack.channel_message(text, person=person) if in_channel else stack.message(text, person=person)
    )
    response = exchange(stack, logs, activity)
    assert response.status_code in ANSWERED


@generated(250)
@given(value=json_values, person=people, text=st.sampled_from([None, ""]))
def test_a_message_without_text_but_with_a_value_is_answered(
    stack: SandboxBotStack, logs: CapturedLogs, value: Any, person: Person | None, text: str | None
) -> None:
    activity = stack.message(text, person=person, value=value)
    assert exchange(stack, logs, activity).status_code in ANSWERED


@generated(250)
@given(
    name=hostile_text,
    channel_name=hostile_text,
    conversation_name=hostile_text,
    text=typed_text,
)
def test_hostile_names_and_ids_around_a_message_are_harmless(
    stack: SandboxBotStack,
    logs: CapturedLogs,
    name: str,
    channel_name: str,
    conversation_name: str,
    text: str,
) -> None:
    activity = stack.channel_message(text, person=ADAM)
    activity["from"]["name"] = name
    activity["channelData"]["channel"]["name"] = channel_name
    activity["conversation"]["name"] = conversation_name
    assert exchange(stack, logs, activity).status_code in ANSWERED


@generated(200)
@given(
    kind=st.sampled_from(
        [
            "conversationUpdate",
            "installationUpdate",
            "messageReaction",
            "typing",
            "event",
            "messageUpdate",
            "messageDelete",
            "endOfConversation",
            "x-unknown",
        ]
    ),
    action=st.sampled_from([None, "add", "remove", "add-upgrade", "?"]),
    value=json_values,
    person=people,
)
def test_other_activity_types_are_answered(
    stack: SandboxBotStack,
    logs: CapturedLogs,
    kind: str,
    action: str | None,
    value: Any,
    person: Person | None,
) -> None:
    activity = stack.activity(person=person, type=kind, value=value)
    if action is not None:
        activity["action"] = action
    assert exchange(stack, logs, activity).status_code in ANSWERED


# ----------------------------------------------------------------------------- generated: invokes


@st.composite
def card_clicks(draw: st.DrawFn) -> tuple[Verb, Any]:
    verb = draw(st.sampled_from(list(Verb)))
    return verb, draw(payload_data(verb))


@generated(1500)
@given(click=card_clicks(), person=people, in_channel=st.booleans())
def test_every_verb_with_any_data_gets_a_card_or_an_error_code(
    stack: SandboxBotStack,
    logs: CapturedLogs,
    click: tuple[Verb, Any],
    person: Person | None,
    in_channel: bool,
) -> None:
    verb, data = click
    base = stack.channel_message(None, person=person) if in_channel else stack.message(None, person=person)
    activity = stack.invoke(
        execute_value(verb.value, data),
        conversation=base["conversation"],
        channel_data=base["channelData"],
        person=person,
    )
    exchange(stack, logs, activity)


@generated(400)
@given(
    verb=st.one_of(
        st.text(max_size=40).filter(lambda verb: verb not in {v.value for v in Verb}),
        st.sampled_from(
            ["WIZARD.NEXT", "wizard.next ", "approval.approve\u200b", "approval.*", "../wizard.next"]
        ),
        json_values.filter(lambda verb: not isinstance(verb, str)),
    ),
    data=json_values,
)
def test_unknown_verbs_get_an_error_code(
    stack: SandboxBotStack, logs: CapturedLogs, verb: Any, data: Any
) -> None:
    response = exchange(stack, logs, stack.invoke(execute_value(verb, data)))
    assert response.status_code == 413 or response.json()["type"] == ERROR_BODY


@generated(400)
@given(
    value=st.one_of(
        json_values,
        st.fixed_dictionaries({"action": json_values}),
        st.fixed_dictionaries(
            {
                "action": st.fixed_dictionaries(
                    {"type": json_values, "verb": st.sampled_from(list(Verb)), "data": json_values}
                )
            }
        ),
        st.fixed_dictionaries(
            {
                "action": st.fixed_dictionaries(
                    {"type": st.just("Action.Execute"), "verb": st.sampled_from(list(Verb))}
                )
            }
        ),
    )
)
def test_malformed_invoke_values_get_an_error_code(
    stack: SandboxBotStack, logs: CapturedLogs, value: Any
) -> None:
    exchange(stack, logs, stack.invoke(value))


@generated(150)
@given(
    name=st.one_of(
        st.sampled_from(
            [
                "adaptiveCard/action ",
                "task/fetch",
                "task/submit",
                "composeExtension/query",
                "signin/verifyState",
                "config/fetch",
                "fileConsent/invoke",
                "actionableMessage/executeAction",
                "healthCheck",
                "",
            ]
        ),
        hostile_text,
    ),
    value=json_values,
)
def test_other_invoke_names_get_an_error_body(
    stack: SandboxBotStack, logs: CapturedLogs, name: str, value: Any
) -> None:
    exchange(stack, logs, stack.invoke(value, name=name))


# ------------------------------------------------------------------------------------ named cases


def test_every_verb_has_a_valid_example_that_parses() -> None:
    # Guards the generators above: they start from these; a new verb must get one.
    assert set(VALID_DATA) == set(Verb)
    for verb, data in VALID_DATA.items():
        assert parse_action(verb.value, data).verb is verb


@pytest.mark.parametrize("input_id", list(InputId), ids=lambda input_id: input_id.value)
@pytest.mark.parametrize("case", sorted(NAMED_VALUES))
def test_named_values_in_every_wizard_input(
    stack: SandboxBotStack, logs: CapturedLogs, case: str, input_id: InputId
) -> None:
    data = VALID_DATA[Verb.WIZARD_NEXT] | {input_id.value: NAMED_VALUES[case]}
    exchange(stack, logs, stack.invoke(execute_value(Verb.WIZARD_NEXT.value, data)))


@pytest.mark.parametrize("input_id", list(InputId), ids=lambda input_id: input_id.value)
def test_a_value_over_an_inputs_limit_gets_an_error_code(
    stack: SandboxBotStack, logs: CapturedLogs, input_id: InputId
) -> None:
    data = VALID_DATA[Verb.WIZARD_NEXT] | {input_id.value: long_input(input_id)}
    response = exchange(stack, logs, stack.invoke(execute_value(Verb.WIZARD_NEXT.value, data)))
    assert response.json()["type"] == ERROR_BODY


@pytest.mark.parametrize("case", sorted(NAMED_VALUES))
def test_named_values_typed_as_text(stack: SandboxBotStack, logs: CapturedLogs, case: str) -> None:
    sent_before = stack.sent_count()
    exchange(stack, logs, stack.message(NAMED_VALUES[case]))
    assert len(stack.sent_since(sent_before)) == 1, "every message gets exactly one answer"


@pytest.mark.parametrize("injection", MARKUP_INJECTIONS)
def test_markup_typed_by_a_user_is_shown_inert_on_the_reply_card(
    stack: SandboxBotStack, logs: CapturedLogs, injection: str
) -> None:
    sent_before = stack.sent_count()
    exchange(stack, logs, stack.message(f"zq {injection}"))
    (reply,) = stack.sent_since(sent_before)
    card = reply["attachments"][0]["content"]
    # The echo of what was typed lives in a TextRun (no markdown); never in a TextBlock.
    assert not [text for text in walk.text_blocks(card) if "zq" in text]
    assert [text for text in walk.text_runs(card) if "zq" in text], "the typed text is echoed literally"
    serialised = json.dumps(card, ensure_ascii=False)
    for live in ("<script", "<img", "<at>", "{{", "\u202e", "\u200b", "&lt;"):
        assert live not in serialised, live


@pytest.mark.parametrize("injection", MARKUP_INJECTIONS + ODATA_INJECTIONS)
def test_markup_and_odata_in_the_wizard_name_inputs_never_break_the_answer(
    stack: SandboxBotStack, logs: CapturedLogs, injection: str
) -> None:
    data = VALID_DATA[Verb.WIZARD_NEXT] | {
        input_id.value: injection[:64]
        for input_id in (InputId.VENDOR_COMPANY, InputId.FIRST_NAME, InputId.LAST_NAME)
    }
    response = exchange(stack, logs, stack.invoke(execute_value(Verb.WIZARD_NEXT.value, data)))
    body = response.json()
    if body["type"] == ADAPTIVE_CARD:
        card = body["value"]
        assert not [text for text in walk.text_blocks(card) if injection[:64] in text]


def test_personal_commands_from_someone_not_in_the_directory_are_answered(
    stack: SandboxBotStack, logs: CapturedLogs
) -> None:
    stranger = Person("29:stranger", "Stranger", "5e000000-0000-4000-8000-00000000dead")
    sent_before = stack.sent_count()
    exchange(stack, logs, stack.message("help", person=stranger))
    assert len(stack.sent_since(sent_before)) == 1


STRANGER_IDS = (
    "5e000000-0000-4000-8000-00000000dead",
    "not-a-guid",
    "../groups/6a000000-0000-4000-8000-000000000003",
)


@pytest.mark.parametrize("aad_object_id", STRANGER_IDS)
def test_approvals_here_from_someone_not_in_the_directory_is_refused_politely(
    stack: SandboxBotStack, logs: CapturedLogs, aad_object_id: str
) -> None:
    stranger = Person("29:stranger", "Stranger", aad_object_id)
    sent_before = stack.sent_count()
    exchange(stack, logs, stack.channel_message("<at>Vendor Onboarding</at> approvals here", person=stranger))
    (reply,) = stack.sent_since(sent_before)
    assert "approvals channel" in json.dumps(reply)


@pytest.mark.parametrize("aad_object_id", STRANGER_IDS)
def test_onboard_from_someone_not_in_the_directory_is_refused_politely(
    stack: SandboxBotStack, logs: CapturedLogs, aad_object_id: str
) -> None:
    stranger = Person("29:stranger", "Stranger", aad_object_id)
    sent_before = stack.sent_count()
    exchange(stack, logs, stack.message("onboard", person=stranger))
    assert len(stack.sent_since(sent_before)) == 1


def test_an_onboard_button_click_from_someone_not_in_the_directory_gets_no_failure(
    stack: SandboxBotStack, logs: CapturedLogs
) -> None:
    stranger = Person("29:stranger", "Stranger", STRANGER_IDS[0])
    value = execute_value(Verb.COMMAND_RUN.value, {"command": "onboard"})
    exchange(stack, logs, stack.invoke(value, person=stranger))


def test_approvals_here_from_a_person_without_the_role_is_refused_politely(
    stack: SandboxBotStack, logs: CapturedLogs
) -> None:
    sent_before = stack.sent_count()
    exchange(stack, logs, stack.channel_message("<at>Vendor Onboarding</at> approvals here", person=ALICE))
    (reply,) = stack.sent_since(sent_before)
    assert "approvals channel" in json.dumps(reply)


# ------------------------------------------------------------ OData injection against the sandbox

FAST = GraphGatewayOptions(
    connect_timeout=2.0,
    read_timeout=2.0,
    max_retries=0,
    retry_delay=0.0,
    transport_retries=0,
    replication_wait=0.5,
    replication_poll=0.1,
    reachable_timeout=1.0,
)
ALICE_UPN = "alice@abc.onmicrosoft.com"
OBRIEN_UPN = "o'brien.test@abc.com"
OBRIEN_MARKER = "O'Brien-7"

#: Values a $filter (or a path) could be widened with; each would match seeded users if pasted in raw.
FILTER_INJECTIONS = (
    *ODATA_INJECTIONS,
    "x' or startswith(userPrincipalName,'alice') or employeeId eq 'y",
    "$x' or startswith(userPrincipalName,'a') or userPrincipalName eq 'y",
    f"{ALICE_UPN}' or userPrincipalName eq '{ALICE_UPN}",
)
#: UPN look-ups go into the URL path: these would address another resource if not escaped.
PATH_INJECTIONS = (
    f"{ALICE_UPN}?$select=id",
    f"{ALICE_UPN}#fragment",
    f"../users/{ALICE_UPN}",
    f"{ALICE_UPN}/checkMemberGroups",
    "%61lice@abc.onmicrosoft.com",
    f"{ALICE_UPN}%00",
)


@pytest.fixture
async def graph() -> AsyncIterator[tuple[RunningSandbox, GraphGateway]]:
    async with (
        running_sandbox() as sandbox,
        GraphGateway(sandbox.base_url, StaticTokenCredential(), options=FAST) as gateway,
    ):
        await gateway.create_user(
            NewUser(
                user_principal_name=OBRIEN_UPN,
                display_name="Seán O'Brien",
                mail_nickname="obrien.test",
                password=SecretStr("Vq8#lantern-Orbit"),
                marker=OBRIEN_MARKER,
                given_name="Seán",
                surname="O'Brien",
                usage_location="IE",
            )
        )
        yield sandbox, gateway


async def test_lookups_find_real_users_so_the_injection_checks_are_not_vacuous(
    graph: tuple[RunningSandbox, GraphGateway],
) -> None:
    _, gateway = graph
    alice = await gateway.find_user_by_upn(ALICE_UPN)
    obrien_by_upn = await gateway.find_user_by_upn(OBRIEN_UPN)
    obrien_by_marker = await gateway.find_user_by_marker(OBRIEN_MARKER)
    assert alice is not None
    assert obrien_by_upn is not None
    assert obrien_by_marker is not None
    assert obrien_by_upn.id == obrien_by_marker.id


@pytest.mark.parametrize("injection", FILTER_INJECTIONS)
async def test_odata_injection_in_a_marker_finds_nobody(
    graph: tuple[RunningSandbox, GraphGateway], injection: str
) -> None:
    _, gateway = graph
    assert await gateway.find_user_by_marker(injection) is None


@pytest.mark.parametrize("injection", FILTER_INJECTIONS + PATH_INJECTIONS)
async def test_injection_in_a_upn_finds_nobody(
    graph: tuple[RunningSandbox, GraphGateway], injection: str
) -> None:
    _, gateway = graph
    try:
        found = await gateway.find_user_by_upn(injection)
    except InvalidRequest:
        # Refusing a value no UPN can hold (e.g. a control character) is as good as finding nobody.
        return
    assert found is None, f"{injection!r} found {found.user_principal_name if found else None}"


@pytest.mark.parametrize("value", ["O'Brien", "'", "''", "x'y'z", "'; DROP TABLE users; --"])
async def test_apostrophes_in_a_marker_are_matched_literally(
    graph: tuple[RunningSandbox, GraphGateway], value: str
) -> None:
    _, gateway = graph
    assert await gateway.find_user_by_marker(value) is None


# ------------------------------------------------- names shown on cards, end to end through the wizard

#: The UPN's local part as Graph allows it (FACTS.md), with the domain after it.
UPN = re.compile(r"^[A-Za-z0-9'.\-_!#^~]{1,64}@[A-Za-z0-9.\-]+$")


def click(
    stack: SandboxBotStack, logs: CapturedLogs, card: dict[str, Any], title: str, values: dict[str, str]
) -> dict[str, Any]:
    """Click a button on a card the way Teams does: its data plus the values of the card's inputs."""
    action = walk.buttons(card)[title]
    data = dict(action.get("data", {})) | values
    response = exchange(stack, logs, stack.invoke(execute_value(action["verb"], data)))
    body = response.json()
    assert body["type"] == ADAPTIVE_CARD, body
    card = body["value"]
    assert isinstance(card, dict)
    return card


def defaults(card: dict[str, Any]) -> dict[str, str]:
    """What a user accepting every prefilled value or first choice would send."""
    values = {}
    for input_id, element in walk.inputs(card).items():
        choices = element.get("choices") or [{}]
        values[input_id] = str(element.get("value") or choices[0].get("value") or element.get("min") or "")
    return values


def review_card(stack: SandboxBotStack, logs: CapturedLogs, contractor: dict[str, str]) -> dict[str, Any]:
    """Alice starts a fresh wizard, enters ``contractor`` on step 1 and accepts defaults up to the review."""
    exchange(stack, logs, stack.message("cancel"))
    sent_before = stack.sent_count()
    exchange(stack, logs, stack.message("onboard"))
    card = stack.sent_since(sent_before)[-1]["attachments"][0]["content"]
    assert InputId.FIRST_NAME.value in walk.inputs(card), "onboard did not start at the contractor step"
    values = {InputId.CONTRACTOR_EMAIL.value: "bob@contoso1.com", InputId.USAGE_LOCATION.value: "IE"}
    card = click(stack, logs, card, "Next", values | contractor)
    for _ in range(3):
        if "Submit for approval" in walk.buttons(card):
            return card
        step_before = walk.buttons(card)["Next"]["data"]["step"]
        card = click(stack, logs, card, "Next", defaults(card))
        step_after = walk.buttons(card).get("Next", {}).get("data", {}).get("step")
        assert step_after != step_before, (
            f"the wizard refused step {step_before}: {walk.all_text(card)[:500]}"
        )
    assert "Submit for approval" in walk.buttons(card), "the wizard did not reach the review"
    return card


HOSTILE_COMPANIES = {
    "markdown": "**Evil** [x](http://e) _y_ `z`",
    "templating": "{{DATE(2017-02-14T06:08:39Z, SHORT)}}",
    "entities": "&lt;b&gt;bold&lt;/b&gt; &amp;",
}


@pytest.mark.parametrize("case", sorted(HOSTILE_COMPANIES))
def test_a_hostile_company_name_is_shown_inert_on_the_review_card(
    stack: SandboxBotStack, logs: CapturedLogs, case: str
) -> None:
    company = HOSTILE_COMPANIES[case]
    card = review_card(stack, logs, {"vendorCompany": company, "firstName": "Bob", "lastName": "Smith"})
    # Untrusted text lives in TextRuns (never markdown); catalogue text in TextBlocks.
    shown = [text for text in walk.text_runs(card) if "Bob" in text or company[:8] in text]
    assert shown, "the contractor is not shown on the review card"
    assert not [text for text in walk.text_blocks(card) if company[:8] in text or "Evil" in text]
    serialised = json.dumps(card, ensure_ascii=False)
    for live in ("{{", "&lt;", "&amp;"):
        assert live not in serialised, live


NAMED_CONTRACTORS = {
    "apostrophe and accent": ("Seán", "O'Brien"),
    "accents": ("Zoë", "Ñúñez-Ölçer"),
    "cyrillic": ("Дмитрий", "Шостакович"),
    "arabic (rtl)": ("محمد", "عبد الله"),
    "cjk": ("小明", "王"),
}


@pytest.mark.parametrize("case", sorted(NAMED_CONTRACTORS))
def test_named_contractors_reach_the_review_with_a_valid_upn(
    stack: SandboxBotStack, logs: CapturedLogs, case: str
) -> None:
    first, last = NAMED_CONTRACTORS[case]
    card = review_card(stack, logs, {"vendorCompany": "Contoso", "firstName": first, "lastName": last})
    upns = [text for text in walk.text_runs(card) if "@" in text and " " not in text.strip()]
    planned = [text for text in upns if text.endswith("@abc.com") or text.endswith(".onmicrosoft.com")]
    assert planned, f"no planned UPN on the review card: {upns}"
    assert all(UPN.match(upn) for upn in planned), planned
    assert any(first in text and last in text for text in walk.text_runs(card)), (
        "the name is not shown as typed"
    )
