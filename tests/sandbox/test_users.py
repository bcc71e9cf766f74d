"""POST/GET/PATCH/DELETE /users through msgraph-sdk, with Graph's validation and messages."""

from __future__ import annotations

from typing import Any

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.on_premises_extension_attributes import OnPremisesExtensionAttributes
from msgraph.generated.models.password_profile import PasswordProfile
from msgraph.generated.models.user import User
from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder

from tests.sandbox.conftest import STRONG_PASSWORD, new_user, odata

ALL_VENDOR_FIELDS = [
    "id",
    "userPrincipalName",
    "usageLocation",
    "companyName",
    "department",
    "employeeType",
    "employeeId",
    "otherMails",
    "onPremisesExtensionAttributes",
    "employeeLeaveDateTime",
    "givenName",
    "surname",
    "mail",
    "jobTitle",
    "accountEnabled",
    "passwordProfile",
    "assignedLicenses",
]


def select(*names: str) -> RequestConfiguration[Any]:
    query = UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(select=list(names))
    return RequestConfiguration(query_parameters=query)


async def test_create_returns_201_with_an_id_and_the_default_properties(client, sb):
    created = await client.users.post(new_user("sa-contoso1-bob"))
    assert created.id
    assert created.user_principal_name == "sa-contoso1-bob@abc.com"
    assert sb.tenant.requests[-1].status == 201


async def test_create_stores_every_vendor_attribute(client, create):
    created = await create(
        "sa-contoso1-bob",
        company_name="Contoso",
        department="IB Vendor - Contoso",
        employee_type="Vendor",
        employee_id="REQ-000123",
        other_mails=["bob@contoso1.com"],
        on_premises_extension_attributes=OnPremisesExtensionAttributes(
            extension_attribute1="segment-contoso"
        ),
        employee_leave_date_time="2026-03-31T00:00:00Z",
        given_name="Bob",
        surname="Builder",
        mail="sa-contoso1-bob@abc.com",
        job_title="Field technician",
    )
    got = await client.users.by_user_id(created.id).get(select(*ALL_VENDOR_FIELDS))
    assert (got.company_name, got.department, got.employee_type, got.employee_id) == (
        "Contoso",
        "IB Vendor - Contoso",
        "Vendor",
        "REQ-000123",
    )
    assert got.other_mails == ["bob@contoso1.com"]
    assert got.on_premises_extension_attributes.extension_attribute1 == "segment-contoso"
    assert got.employee_leave_date_time.year == 2026
    assert (got.given_name, got.surname, got.mail, got.job_title) == (
        "Bob",
        "Builder",
        "sa-contoso1-bob@abc.com",
        "Field technician",
    )
    assert got.usage_location == "US"


async def test_password_is_never_returned(client, create):
    created = await create()
    got = await client.users.by_user_id(created.id).get(select("passwordProfile"))
    assert got.password_profile.password is None
    assert got.password_profile.force_change_password_next_sign_in is True


async def test_get_without_select_returns_only_graphs_default_properties(client, create):
    created = await create(company_name="Contoso")
    got = await client.users.by_user_id(created.id).get()
    assert got.display_name == "Vendor vendor1"
    assert got.company_name is None  # companyName is returned only on $select, as in Graph


async def test_get_by_user_principal_name_is_case_insensitive(client, create):
    created = await create("mixedcase")
    got = await client.users.by_user_id("MixedCase@ABC.com").get()
    assert got.id == created.id


async def test_get_unknown_user_is_404_request_resource_not_found(client):
    with pytest.raises(ODataError) as err:
        await client.users.by_user_id("nobody@abc.com").get()
    assert odata(err) == (
        404,
        "Request_ResourceNotFound",
        "Resource 'nobody@abc.com' does not exist or one of its queried reference-property objects are not "
        "present.",
    )


@pytest.mark.parametrize("missing", ["account_enabled", "display_name", "mail_nickname", "password_profile"])
async def test_create_without_a_required_property_is_400(client, missing):
    overrides: dict[str, Any] = {missing: None}
    with pytest.raises(ODataError) as err:
        await client.users.post(new_user("vendor1", **overrides))
    status, code, message = odata(err)
    assert (status, code) == (400, "Request_BadRequest")
    assert message is not None
    assert "Invalid value specified for property" in message


async def test_duplicate_upn_is_400_with_graphs_message(client, create):
    await create("dup")
    with pytest.raises(ODataError) as err:
        await client.users.post(new_user("dup", mail_nickname="dup2"))
    assert odata(err) == (
        400,
        "Request_BadRequest",
        "Another object with the same value for property userPrincipalName already exists.",
    )


async def test_duplicate_upn_check_ignores_case(client, create):
    await create("dup")
    with pytest.raises(ODataError) as err:
        await client.users.post(new_user("dup", user_principal_name="DUP@abc.com"))
    assert odata(err)[1] == "Request_BadRequest"


@pytest.mark.parametrize(
    "upn",
    [
        "bob smith@abc.com",
        "bob.@abc.com",
        "bob@@abc.com",
        "bob",
        "b\u00f6b@abc.com",
        ("x" * 65) + "@abc.com",
        "bob(1)@abc.com",
    ],
)
async def test_invalid_upn_is_400_property_invalid(client, upn):
    with pytest.raises(ODataError) as err:
        await client.users.post(new_user(user_principal_name=upn))
    assert odata(err) == (400, "Request_BadRequest", "Property userPrincipalName is invalid.")


async def test_upn_with_allowed_punctuation_is_accepted(client):
    created = await client.users.post(new_user(user_principal_name="o'neil_j-b!#^~.x@abc.com"))
    assert created.user_principal_name == "o'neil_j-b!#^~.x@abc.com"


@pytest.mark.parametrize("domain", ["contoso-unverified.com", "fabrikam.com"])
async def test_upn_on_unverified_or_foreign_domain_is_400(client, domain):
    with pytest.raises(ODataError) as err:
        await client.users.post(new_user(user_principal_name=f"bob@{domain}"))
    assert odata(err) == (
        400,
        "Request_BadRequest",
        "The domain portion of the userPrincipalName property is invalid. You must use one of the verified "
        "domain names in your organization.",
    )


@pytest.mark.parametrize(
    "password",
    [
        "Sh0rt!",
        "alllowercase",
        "ALLUPPER123",
        "lower123only",
        "Pässwörd123!",
        "P@ssw0rd2024",
        "Welcome123!",
        "x" * 257,
    ],
)
async def test_weak_password_is_400_with_graphs_message(client, password):
    body = new_user(
        password_profile=PasswordProfile(password=password, force_change_password_next_sign_in=True)
    )
    with pytest.raises(ODataError) as err:
        await client.users.post(body)
    assert odata(err) == (
        400,
        "Request_BadRequest",
        "The specified password does not comply with password complexity requirements. Please provide a "
        "different password.",
    )


async def test_password_containing_the_users_name_is_rejected(client):
    body = new_user(
        "carlos", given_name="Carlos", password_profile=PasswordProfile(password="Carlos#2024xyz")
    )
    with pytest.raises(ODataError) as err:
        await client.users.post(body)
    assert odata(err)[0] == 400


@pytest.mark.parametrize("nickname", ["has space", "a@b", "semi;colon", "x" * 65, 'quote"d'])
async def test_bad_mail_nickname_is_400(client, nickname):
    with pytest.raises(ODataError) as err:
        await client.users.post(new_user(mail_nickname=nickname))
    assert odata(err) == (
        400,
        "Request_BadRequest",
        "Invalid value specified for property 'mailNickname' of resource 'User'.",
    )


async def test_employee_id_longer_than_16_is_400(client):
    with pytest.raises(ODataError) as err:
        await client.users.post(new_user(employee_id="x" * 17))
    assert odata(err) == (
        400,
        "Request_BadRequest",
        "Invalid value specified for property 'employeeId' of resource 'User'.",
    )


async def test_employee_id_of_16_is_accepted(client, create):
    created = await create(employee_id="x" * 16)
    assert created.id


async def test_company_name_longer_than_64_is_400(client):
    with pytest.raises(ODataError) as err:
        await client.users.post(new_user(company_name="c" * 65))
    assert odata(err)[2] == "Invalid value specified for property 'companyName' of resource 'User'."


async def test_usage_location_must_be_an_iso_country_code(client):
    with pytest.raises(ODataError) as err:
        await client.users.post(new_user(usage_location="XX"))
    assert odata(err)[2] == "Invalid value specified for property 'usageLocation' of resource 'User'."


async def test_other_mails_must_be_addresses(client):
    with pytest.raises(ODataError) as err:
        await client.users.post(new_user(other_mails=["not-an-address"]))
    assert odata(err)[2] == "Invalid value specified for property 'otherMails' of resource 'User'."


async def test_unknown_property_in_body_is_400_bad_request(client):
    body = new_user()
    body.additional_data = {"favouriteColour": "blue"}
    with pytest.raises(ODataError) as err:
        await client.users.post(body)
    status, code, message = odata(err)
    assert (status, code) == (400, "BadRequest")
    assert message is not None
    assert message.startswith("The property 'favouriteColour' does not exist on type 'microsoft.graph.user'.")


async def test_unknown_extension_attribute_is_400(client):
    body = new_user()
    body.on_premises_extension_attributes = OnPremisesExtensionAttributes(
        additional_data={"extensionAttribute16": "x"}
    )
    with pytest.raises(ODataError) as err:
        await client.users.post(body)
    assert odata(err)[0] == 400


async def test_patch_updates_properties_and_answers_204(client, create, sb):
    created = await create()
    result = await client.users.by_user_id(created.id).patch(
        User(department="Field service", account_enabled=False)
    )
    assert result is None
    assert sb.tenant.requests[-1].status == 204
    got = await client.users.by_user_id(created.id).get(select("department", "accountEnabled"))
    assert (got.department, got.account_enabled) == ("Field service", False)


async def test_patch_to_an_existing_upn_is_the_duplicate_error(client, create):
    await create("first")
    second = await create("second")
    with pytest.raises(ODataError) as err:
        await client.users.by_user_id(second.id).patch(User(user_principal_name="first@abc.com"))
    assert (
        odata(err)[2] == "Another object with the same value for property userPrincipalName already exists."
    )


async def test_patch_password_checks_complexity(client, create):
    created = await create()
    with pytest.raises(ODataError) as err:
        await client.users.by_user_id(created.id).patch(
            User(password_profile=PasswordProfile(password="weak"))
        )
    assert odata(err)[0] == 400


async def test_patch_unknown_user_is_404(client):
    with pytest.raises(ODataError) as err:
        await client.users.by_user_id("00000000-0000-4000-8000-00000000dead").patch(User(department="x"))
    assert odata(err)[:2] == (404, "Request_ResourceNotFound")


async def test_delete_answers_204_and_the_user_is_gone(client, create, sb):
    created = await create()
    await client.users.by_user_id(created.id).delete()
    assert sb.tenant.requests[-1].status == 204
    with pytest.raises(ODataError) as err:
        await client.users.by_user_id(created.id).get()
    assert odata(err)[0] == 404


async def test_create_with_strong_password_does_not_keep_it(client, create, sb):
    await create()
    assert STRONG_PASSWORD not in repr(sb.tenant.snapshot())
