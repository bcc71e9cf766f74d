"""The onboarding wizard's cards: steps, prefilled inputs, inline errors, navigation, final cards."""

from __future__ import annotations

import json
from datetime import date

import pycountry

from cards import wizard
from cards.actions import InputId, Verb, WizardStep, parse_action
from cards.text import safe_text
from cards.views import ChoiceOption, FieldError, SubmittedView, WizardStepView
from tests.cards import samples, walk


def test_each_step_says_where_the_user_is() -> None:
    views: list[WizardStepView] = [
        samples.contractor_view(),
        samples.access_view(),
        samples.barriers_view(),
        samples.review_view(),
    ]
    for number, view in enumerate(views, start=1):
        assert f"Step {number} of 4" in walk.all_text(wizard.wizard_card(view))


def test_contractor_inputs_are_prefilled_from_the_view() -> None:
    inputs = walk.inputs(wizard.wizard_card(samples.contractor_view()))
    assert {key: element.get("value") for key, element in inputs.items()} == {
        "vendorCompany": "Contoso",
        "firstName": "Bob",
        "lastName": "Builder",
        "contractorEmail": "bob@contoso.com",
        "usageLocation": "DE",
    }


def test_usage_location_offers_the_passed_countries() -> None:
    element = walk.inputs(wizard.wizard_card(samples.contractor_view()))["usageLocation"]
    assert [(choice["value"], choice["title"]) for choice in element["choices"]] == [
        ("DE", "Germany"),
        ("FR", "France"),
        ("US", "United States"),
    ]


def test_a_prefilled_choice_that_is_not_offered_is_dropped() -> None:
    element = walk.inputs(wizard.wizard_card(samples.contractor_view(usage_location="XX")))["usageLocation"]
    assert "value" not in element


def test_empty_fields_have_no_value() -> None:
    inputs = walk.inputs(wizard.wizard_card(samples.contractor_view(first_name="")))
    assert "value" not in inputs["firstName"]


def test_required_inputs_are_marked_required_with_a_message() -> None:
    inputs = walk.inputs(wizard.wizard_card(samples.contractor_view()))
    assert all(element["isRequired"] and element["errorMessage"] for element in inputs.values())


def test_field_error_appears_in_red_under_its_input() -> None:
    message = "Enter an email address like bob@contoso.com."
    content = wizard.wizard_card(
        samples.contractor_view(errors=(FieldError(message, InputId.CONTRACTOR_EMAIL),))
    )
    following = walk.after(content, "contractorEmail")
    assert following["type"] == "RichTextBlock"
    assert [(run["text"], run["color"]) for run in following["inlines"]] == [(message, "Attention")]


def test_field_error_is_also_the_inputs_error_message() -> None:
    message = "Enter an email address like bob@contoso.com."
    content = wizard.wizard_card(
        samples.contractor_view(errors=(FieldError(message, InputId.CONTRACTOR_EMAIL),))
    )
    assert walk.inputs(content)["contractorEmail"]["errorMessage"] == message


def test_inputs_without_errors_have_no_red_line() -> None:
    content = wizard.wizard_card(samples.contractor_view())
    assert walk.after(content, "firstName").get("id") == "lastName"


def test_general_error_is_shown_at_the_top() -> None:
    content = wizard.wizard_card(samples.contractor_view(errors=(FieldError("Your draft expired."),)))
    assert "Your draft expired." in walk.rich_lines(content)


def test_invalid_value_is_kept_so_the_user_can_correct_it() -> None:
    content = wizard.wizard_card(
        samples.contractor_view(
            contractor_email="bob@@contoso", errors=(FieldError("Bad", InputId.CONTRACTOR_EMAIL),)
        )
    )
    assert walk.inputs(content)["contractorEmail"]["value"] == "bob@@contoso"


def test_first_step_has_next_and_cancel_but_no_back() -> None:
    assert list(walk.buttons(wizard.wizard_card(samples.contractor_view()))) == ["Next", "Cancel"]


def test_middle_steps_have_next_back_and_cancel() -> None:
    for view in (samples.access_view(), samples.barriers_view()):
        assert list(walk.buttons(wizard.wizard_card(view))) == ["Next", "Back", "Cancel"]


def test_review_step_submits_for_approval() -> None:
    buttons = walk.buttons(wizard.wizard_card(samples.review_view()))
    assert list(buttons) == ["Submit for approval", "Back", "Cancel"]
    assert buttons["Submit for approval"]["verb"] == Verb.WIZARD_SUBMIT


def test_buttons_carry_the_wizard_id_step_and_card_version() -> None:
    buttons = walk.buttons(wizard.wizard_card(samples.access_view()))
    for action in buttons.values():
        payload = parse_action(action["verb"], action["data"])
        assert (payload.wizard_id, payload.wizard_step, payload.card_version) == (  # type: ignore[union-attr]
            samples.WIZARD_ID,
            WizardStep.ACCESS,
            2,
        )


def test_back_and_cancel_are_not_blocked_by_required_inputs() -> None:
    buttons = walk.buttons(wizard.wizard_card(samples.access_view()))
    assert buttons["Back"]["associatedInputs"] == "none"
    assert buttons["Cancel"]["associatedInputs"] == "none"


def test_next_sends_the_inputs() -> None:
    assert "associatedInputs" not in walk.buttons(wizard.wizard_card(samples.access_view()))["Next"]


def test_access_step_shows_live_free_seats_per_profile() -> None:
    titles = [
        choice["title"]
        for choice in walk.inputs(wizard.wizard_card(samples.access_view()))["licenseProfile"]["choices"]
    ]
    assert titles == [
        "Remote Assist technician (Dynamics 365 Remote Assist: 3 of 25 free)",
        "HoloLens technician (Dynamics 365 Remote Assist: 0 of 25 free)",
    ]


def test_access_step_warns_when_the_chosen_profile_has_no_seat() -> None:
    content = wizard.wizard_card(samples.access_view(license_profile="hololens"))
    assert "No free seats of Dynamics 365 Remote Assist (25 of 25 used)." in walk.rich_lines(content)


def test_end_date_has_the_configured_bounds_and_value() -> None:
    element = walk.inputs(wizard.wizard_card(samples.access_view()))["endDate"]
    assert (element["type"], element["min"], element["max"], element["value"]) == (
        "Input.Date",
        "2026-07-01",
        "2026-12-31",
        "2026-09-30",
    )


def test_sponsor_is_prefilled() -> None:
    assert (
        walk.inputs(wizard.wizard_card(samples.access_view()))["sponsor"]["value"]
        == "alice@abc.onmicrosoft.com"
    )


def test_end_date_error_appears_under_the_date() -> None:
    content = wizard.wizard_card(
        samples.access_view(errors=(FieldError("Too late.", InputId.END_DATE),), end_date=date(2027, 1, 5))
    )
    assert walk.after(content, "endDate")["inlines"][0]["text"] == "Too late."


def test_barriers_step_asks_the_question() -> None:
    element = walk.inputs(wizard.wizard_card(samples.barriers_view()))["reachEveryone"]
    assert element["label"] == "Should this contractor be able to find and contact everyone in the company?"
    assert [choice["value"] for choice in element["choices"]] == ["yes", "no"]


def test_barriers_step_keeps_the_answer_and_segment() -> None:
    inputs = walk.inputs(wizard.wizard_card(samples.barriers_view()))
    assert (inputs["reachEveryone"]["value"], inputs["segment"]["value"]) == ("no", "Vendors-Contoso")


def test_unanswered_question_has_no_value() -> None:
    inputs = walk.inputs(wizard.wizard_card(samples.barriers_view(reach_everyone=None)))
    assert "value" not in inputs["reachEveryone"]


def test_segment_choices_say_how_the_account_is_placed() -> None:
    element = walk.inputs(wizard.wizard_card(samples.barriers_view()))["segment"]
    assert element["choices"][0]["title"] == "Vendors-Contoso (Department = Vendors-Contoso)"


def test_barriers_step_shows_the_ib_license_and_its_seats() -> None:
    text = walk.all_text(wizard.wizard_card(samples.barriers_view()))
    assert "Choosing a segment also adds the information-barrier license Office 365 E5: 4 of 10 free." in text


def test_unavailable_barriers_offer_no_segment_and_say_why() -> None:
    content = wizard.wizard_card(
        samples.barriers_view(
            ib_license=None, unavailable_reason="no information-barrier license has a free seat."
        )
    )
    assert "segment" not in walk.inputs(content)
    assert (
        "Segments are not available now: no information-barrier license has a free seat."
        in walk.rich_lines(content)
    )


def test_review_shows_the_exact_plan() -> None:
    text = walk.all_text(wizard.wizard_card(samples.review_view()))
    for expected in (
        "sa-contoso-bob.builder@abc.onmicrosoft.com",
        "Bob Builder (Contoso)",
        "Employee type",
        "bob@contoso.com",
        "Dynamics 365 Remote Assist",
        "Office 365 E5",
        "Vendor service accounts",
        "Department = Vendors-Contoso",
        "30 Sep 2026",
        "Alice Requester",
    ):
        assert expected in text, expected


def test_review_without_segment_says_so() -> None:
    content = wizard.wizard_card(samples.review_view(segment=None, segment_placement=None))
    assert "None: can find and contact everyone" in walk.all_text(content)


def test_review_has_no_inputs() -> None:
    assert walk.inputs(wizard.wizard_card(samples.review_view())) == {}


def test_submitted_card_names_the_request_and_channel() -> None:
    content = wizard.wizard_submitted_card(SubmittedView("VND-000042", "Vendor approvals"))
    assert "Submitted — VND-000042 is waiting for approval in Vendor approvals." in walk.rich_lines(content)


def test_submitted_without_a_channel_says_the_request_waits() -> None:
    text = walk.all_text(wizard.wizard_submitted_card(SubmittedView("VND-000042", None)))
    assert "No approvals channel is set yet" in text
    assert "VND-000042 is saved and waits for approval." in text


def test_cancelled_card_says_nothing_was_created() -> None:
    content = wizard.wizard_cancelled_card()
    assert "Onboarding cancelled. Nothing was created." in walk.all_text(content)
    assert walk.buttons(content)["Start again"]["data"] == {"command": "onboard"}


def test_contractor_step_with_every_country_fits_in_a_teams_message() -> None:
    every_country = tuple(
        ChoiceOption(country.alpha_2, country.name)
        for country in sorted(pycountry.countries, key=lambda country: country.name)
    )
    content = wizard.wizard_card(samples.contractor_view(countries=every_country))
    assert len(walk.inputs(content)["usageLocation"]["choices"]) == len(every_country)
    assert len(json.dumps(content, ensure_ascii=False).encode()) < 28_000


def test_a_choice_list_rendered_again_gives_the_same_card() -> None:
    view = samples.contractor_view()
    assert wizard.wizard_card(view) == wizard.wizard_card(view)


def test_equal_option_lists_in_different_objects_give_the_same_choices() -> None:
    # samples.countries() builds a new tuple of new options on each call.
    first = samples.contractor_view(countries=samples.countries())
    second = samples.contractor_view(countries=samples.countries())
    assert walk.inputs(wizard.wizard_card(first)) == walk.inputs(wizard.wizard_card(second))


def test_a_changed_option_list_is_rendered_with_its_own_titles() -> None:
    wizard.wizard_card(samples.contractor_view())
    renamed = (ChoiceOption("DE", "Deutschland"), ChoiceOption("FR", "France"))
    element = walk.inputs(wizard.wizard_card(samples.contractor_view(countries=renamed)))["usageLocation"]
    assert [(choice["value"], choice["title"]) for choice in element["choices"]] == [
        ("DE", "Deutschland"),
        ("FR", "France"),
    ]


def test_changing_one_cards_json_leaves_the_next_card_alone() -> None:
    view = samples.contractor_view()
    first = wizard.wizard_card(view)
    walk.inputs(first)["usageLocation"]["choices"][0]["title"] = "changed"
    element = walk.inputs(wizard.wizard_card(view))["usageLocation"]
    assert element["choices"][0]["title"] == "Germany"


def test_choice_titles_still_go_through_safe_text() -> None:
    hostile = (ChoiceOption("XX", "<at>Adam</at> {{DATE(2017-02-14T06:08:39Z, SHORT)}}"),)
    element = walk.inputs(wizard.wizard_card(samples.contractor_view(countries=hostile)))["usageLocation"]
    assert element["choices"][0]["title"] == safe_text(hostile[0].title)
