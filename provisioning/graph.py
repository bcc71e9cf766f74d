"""The Microsoft Graph gateway: the only module that imports msgraph, kiota and azure-identity.

Every directory operation the bot performs goes through :class:`GraphGateway`. It speaks to Graph
through the real msgraph-sdk (against the local sandbox tenant in sandbox mode and in tests), returns
the frozen dataclasses of :mod:`provisioning.directory`, ``$select``s exactly the properties those hold,
and raises only the errors of :mod:`provisioning.errors`.

Retries, and why each call may be repeated
------------------------------------------
* The SDK's ``RetryHandler`` retries 429/503/504, honouring ``Retry-After``, for **every** method,
  POST included. That is right for reads and for writes that are idempotent in effect, which is every
  write here except ``POST /users``:

  - ``assignLicense``: adding a SKU the user already holds only re-applies its disabled plans (no
    second seat); removing one the user no longer holds is refused with "User does not have a
    corresponding license.", which :meth:`GraphGateway.assign_licenses` recognises and reconciles;
  - ``POST /groups/{id}/members/$ref``: a replay is refused with "One or more added object references
    already exist", which means the member is in the group: success;
  - ``DELETE .../$ref`` and ``DELETE /users/{id}``: a replay gets 404: success;
  - ``PATCH`` sets the same values again; ``revokeSignInSessions`` revokes again; ``checkMemberGroups``
    only reads.

* Raw transport failures (refused or dropped connection, timeout) are not retried by the SDK; the
  gateway re-sends those same idempotent calls ``transport_retries`` times.
* ``POST /users`` is sent with the SDK's retries off (``RetryHandlerOption(max_retries=0)``): Graph has
  no idempotency key, and a replay of a create that did happen is answered with a duplicate-UPN error.
  :meth:`GraphGateway.create_user` instead looks the UPN up after any ambiguous outcome and compares
  the marker it wrote to ``employeeId``.
* Right after creation a user can 404 for seconds up to minutes (replication). Writes addressed to a
  user retry a 404 for up to ``replication_wait`` seconds.

Nothing secret is logged: not the password of a :class:`~provisioning.directory.NewUser` (a
``SecretStr`` until the request body is built), not tokens, not request bodies.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Final, Self, TypedDict, TypeVar
from urllib.parse import urlsplit
from uuid import UUID

import httpx
from azure.core.credentials import AccessToken
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError, ServiceResponseError
from azure.identity.aio import CertificateCredential, ClientSecretCredential, ManagedIdentityCredential
from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from kiota_http.middleware.options import RetryHandlerOption, UrlReplaceHandlerOption
from kiota_serialization_json.json_parse_node import JsonParseNode
from msgraph.generated.domains.domains_request_builder import DomainsRequestBuilder
from msgraph.generated.groups.item.members.members_request_builder import MembersRequestBuilder
from msgraph.generated.models.assigned_license import AssignedLicense
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.on_premises_extension_attributes import OnPremisesExtensionAttributes
from msgraph.generated.models.password_profile import PasswordProfile
from msgraph.generated.models.reference_create import ReferenceCreate
from msgraph.generated.models.user import User
from msgraph.generated.subscribed_skus.subscribed_skus_request_builder import SubscribedSkusRequestBuilder
from msgraph.generated.users.item.assign_license.assign_license_post_request_body import (
    AssignLicensePostRequestBody,
)
from msgraph.generated.users.item.check_member_groups.check_member_groups_post_request_body import (
    CheckMemberGroupsPostRequestBody,
)
from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_service_client import GraphServiceClient
from msgraph_core import APIVersion, GraphClientFactory
from msgraph_core.middleware.options import GraphTelemetryHandlerOption
from pydantic import SecretStr

from provisioning.directory import (
    UNCHANGED,
    DirectoryUser,
    LicenseAssignment,
    NewUser,
    SkuSeats,
    UserChanges,
    VerifiedDomain,
)
from provisioning.errors import (
    AlreadyExists,
    DependencyFailed,
    GraphError,
    InvalidRequest,
    NoFreeSeats,
    NotFound,
    PermissionDenied,
    Throttled,
    Unavailable,
)
from settings import Settings

__all__ = [
    "GRAPH_SCOPE",
    "GraphGateway",
    "GraphGatewayOptions",
    "StaticTokenCredential",
    "build_credential",
    "create_graph_gateway",
    "odata_quote",
]

_log = logging.getLogger(__name__)

T = TypeVar("T")

#: The application-permission scope for Microsoft Graph (client credentials flow).
GRAPH_SCOPE: Final = "https://graph.microsoft.com/.default"

#: Properties of a user the gateway reads; ``DirectoryUser`` holds exactly these.
_USER_SELECT: Final = [
    "id",
    "userPrincipalName",
    "displayName",
    "givenName",
    "surname",
    "accountEnabled",
    "employeeId",
    "employeeType",
    "companyName",
    "department",
    "usageLocation",
    "mail",
    "otherMails",
    "onPremisesExtensionAttributes",
    "employeeLeaveDateTime",
    "assignedLicenses",
    "createdDateTime",
]
_SKU_SELECT: Final = ["skuId", "skuPartNumber", "consumedUnits", "prepaidUnits", "capabilityStatus"]
_DOMAIN_SELECT: Final = ["id", "isVerified", "isDefault", "isInitial"]

#: checkMemberGroups accepts at most 20 group ids per request (Graph: "user: checkMemberGroups").
_CHECK_MEMBER_GROUPS_CHUNK: Final = 20

# Graph signals these conditions only through the message of a 400 Request_BadRequest, so the message
# is the only thing to match; each pattern is Graph's documented/observed wording.
# "Another object with the same value for property userPrincipalName already exists."
_DUPLICATE_VALUE = re.compile(r"another object with the same value for property \w+ already exists", re.I)
# "Subscription with SKU <guid> does not have any available licenses."
_NO_FREE_SEATS = re.compile(r"does not have any available licenses", re.I)
_SKU_IN_MESSAGE = re.compile(r"SKU\s+([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})", re.I)
# "One or more added object references already exist for the following modified properties: 'members'."
_ALREADY_MEMBER = re.compile(r"added object references already exist", re.I)
# "User does not have a corresponding license." (removeLicenses of a SKU the user does not hold)
_LICENSE_NOT_HELD = re.compile(r"does not have a corresponding license", re.I)

_FILTER_VALUE_MAX: Final = 1024
#: The sandbox tenant accepts any bearer token; this one is a label, not a secret.
_SANDBOX_TOKEN: Final = "sandbox-token"  # noqa: S105
_LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1"})

# A user payload parsed at warm-up: parsing any directory object runs the SDK's lazy imports of
# ~1,300 model modules (1-1.7 s, FACTS.md), which must not land on the first real request.
_WARM_UP_USER: Final = {
    "id": "00000000-0000-0000-0000-000000000000",
    "userPrincipalName": "warm-up@example.invalid",
    "assignedLicenses": [{"skuId": "00000000-0000-0000-0000-000000000000", "disabledPlans": []}],
    "onPremisesExtensionAttributes": {"extensionAttribute1": "warm-up"},
}


def odata_quote(value: str) -> str:
    """Quote ``value`` as an OData string literal for a ``$filter``: ``O'Brien`` -> ``'O''Brien'``.

    Graph's rule is the OData one: the literal is enclosed in single quotes and a single quote inside
    it is doubled. The result is a single literal whatever the input, so a value can never close the
    literal and add ``or ...`` to the filter; URL encoding of the whole filter is the SDK's job.

    Raises ``TypeError`` for a non-string and ``ValueError`` for a value no directory property holds:
    control characters, unpaired surrogates, or more than 1,024 characters.
    """
    if not isinstance(value, str):
        raise TypeError(f"an OData string literal needs a str, got {type(value).__name__}")
    if len(value) > _FILTER_VALUE_MAX:
        raise ValueError(f"filter value is longer than {_FILTER_VALUE_MAX} characters")
    for char in value:
        category = unicodedata.category(char)
        if category == "Cc":
            raise ValueError(f"filter value contains the control character U+{ord(char):04X}")
        if category == "Cs":
            raise ValueError("filter value contains an unpaired surrogate")
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True, slots=True)
class GraphGatewayOptions:
    """Timeouts and retry budgets. The defaults suit production; tests shrink them."""

    #: Seconds to open a connection, and to wait for a response (read/write).
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    #: SDK RetryHandler: retries of 429/503/504 per call (0..10), and its base delay in seconds when no
    #: ``Retry-After`` is given (added to an exponential backoff; the SDK's default is 3 s).
    max_retries: int = 5
    retry_delay: float = 3.0
    #: Re-sends of an idempotent call after a refused/dropped connection or a timeout.
    transport_retries: int = 2
    transport_retry_delay: float = 0.5
    #: ``create_user``: attempts in all, first backoff in seconds after an ambiguous failure without
    #: ``Retry-After``, and the longest ``Retry-After`` it waits out itself (beyond: raise Throttled).
    create_attempts: int = 4
    create_backoff: float = 1.0
    max_retry_after: float = 120.0
    #: How long a write to a user retries a 404 (a just-created user is not replicated yet).
    replication_wait: float = 30.0
    replication_poll: float = 1.0
    #: ``reachable()`` answers within this many seconds.
    reachable_timeout: float = 3.0
    max_connections: int = 20


class StaticTokenCredential:
    """An ``AsyncTokenCredential`` that hands out a fixed token: for the sandbox tenant only.

    The sandbox accepts any bearer token; this keeps the SDK's real authentication path (the kiota
    azure-identity provider) in use without an identity server.
    """

    def __init__(self, token: str = _SANDBOX_TOKEN, lifetime_seconds: int = 3600) -> None:
        self._token = token
        self._lifetime = lifetime_seconds

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        """Return the fixed token, valid for ``lifetime_seconds`` from now."""
        return AccessToken(self._token, int(time.time()) + self._lifetime)

    async def close(self) -> None:
        """Nothing to release."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return "StaticTokenCredential(token=***)"


def build_credential(settings: Settings) -> AsyncTokenCredential:
    """The credential the bot's Graph identity signs in with, chosen from settings.

    Sandbox mode: a :class:`StaticTokenCredential`. Production, in this order of preference:
    ``GRAPH_USE_MANAGED_IDENTITY`` -> ``ManagedIdentityCredential`` (user-assigned when
    ``GRAPH_MANAGED_IDENTITY_CLIENT_ID`` is set); ``GRAPH_CERTIFICATE_PATH`` -> ``CertificateCredential``
    (a certificate is preferred over a secret when both are given); ``GRAPH_CLIENT_SECRET`` ->
    ``ClientSecretCredential``. All are azure-identity's asyncio variants.
    """
    if settings.sandbox:
        return StaticTokenCredential()
    if settings.graph_use_managed_identity:
        return ManagedIdentityCredential(client_id=settings.graph_managed_identity_client_id)
    tenant_id, client_id = settings.graph_tenant_id, settings.graph_client_id
    if not tenant_id or not client_id:
        raise ValueError(
            "GRAPH_TENANT_ID and GRAPH_CLIENT_ID are needed for a certificate or a client secret"
        )
    if settings.graph_certificate_path is not None:
        return CertificateCredential(
            tenant_id, client_id, certificate_path=str(settings.graph_certificate_path)
        )
    if settings.graph_client_secret is not None:
        return ClientSecretCredential(tenant_id, client_id, settings.graph_client_secret.get_secret_value())
    raise ValueError(
        "no Graph credential: set GRAPH_CLIENT_SECRET, GRAPH_CERTIFICATE_PATH or GRAPH_USE_MANAGED_IDENTITY"
    )


def create_graph_gateway(
    settings: Settings,
    *,
    options: GraphGatewayOptions | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> GraphGateway:
    """Build the process's one gateway from settings (credential and ``effective_graph_base_url``).

    ``transport`` wraps the HTTP transport (the provisioning runner's ``RequestIdCapture`` records
    Graph's request-ids for the audit log).
    """
    return GraphGateway(
        settings.effective_graph_base_url, build_credential(settings), options=options, transport=transport
    )


class GraphGateway:
    """Directory operations over one ``GraphServiceClient`` (build one per process; ``close()`` it).

    ``base_url`` is the Graph root including the version (``https://graph.microsoft.com/v1.0`` or the
    sandbox's ``http://127.0.0.1:<port>/v1.0``). ``transport`` is a seam for tests (an
    ``httpx.MockTransport`` or a recording transport); production leaves it ``None``.
    """

    def __init__(
        self,
        base_url: str,
        credential: AsyncTokenCredential,
        *,
        options: GraphGatewayOptions | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        # httpx gives base URLs a trailing slash and the SDK copies it: '/v1.0//users' (FACTS.md).
        self._base_url = base_url.rstrip("/")
        parts = urlsplit(self._base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"Graph base URL must be an absolute http(s) URL, got {base_url!r}")
        if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
            raise ValueError("Graph over plain http is allowed for a loopback sandbox only")
        self._host = parts.hostname
        self._credential = credential
        self._options = options or GraphGatewayOptions()
        self._http = _build_http_client(self._base_url, self._options, transport)
        auth = AzureIdentityAuthenticationProvider(
            credential,
            scopes=[_scope_for(self._base_url)],
            # The token is only ever attached to requests for this host (never to an odd nextLink).
            allowed_hosts=[self._host],
        )
        adapter = GraphRequestAdapter(auth, client=self._http)
        adapter.base_url = self._base_url
        self._client = GraphServiceClient(request_adapter=adapter)

    @property
    def base_url(self) -> str:
        """The Graph root every request goes to, without a trailing slash."""
        return self._base_url

    @property
    def credential(self) -> AsyncTokenCredential:
        """The credential tokens come from (exposed so start-up can log its kind, and for tests)."""
        return self._credential

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP connections and the credential."""
        await self._http.aclose()
        await self._credential.close()

    async def warm_up(self) -> bool:
        """Load the SDK's model modules and open a connection (and a token) before real work.

        Never raises; returns whether Graph answered (see :meth:`reachable`).
        """
        started = time.perf_counter()
        # Parsing is CPU-bound import work: keep it off the event loop.
        await asyncio.to_thread(_parse_warm_up_user)
        parsed = time.perf_counter()
        ok = await self.reachable()
        _log.info(
            "graph gateway warmed up",
            extra={
                "graph_base_url": self._base_url,
                "model_load_seconds": round(parsed - started, 3),
                "first_call_seconds": round(time.perf_counter() - parsed, 3),
                "graph_reachable": ok,
            },
        )
        return ok

    async def reachable(self) -> bool:
        """Whether Graph answers an authenticated request now (``GET /subscribedSkus?$select=skuId``).

        Bounded by ``reachable_timeout``, no retries, never raises: for ``/healthz``. It asks for what
        the bot reads anyway (Organization.Read.All), so the probe needs no permission of its own.
        """
        query = SubscribedSkusRequestBuilder.SubscribedSkusRequestBuilderGetQueryParameters(select=["skuId"])
        config = RequestConfiguration(query_parameters=query, options=[self._retry_option(0)])
        try:
            await asyncio.wait_for(
                self._client.subscribed_skus.get(request_configuration=config),
                timeout=self._options.reachable_timeout,
            )
        except Exception as err:  # any failure means "not reachable"; the reason goes to the log
            _log.info("graph not reachable", extra={"error_type": type(err).__name__})
            return False
        return True

    # ----------------------------------------------------------------------------------- users: read

    async def get_user(self, id_or_upn: str) -> DirectoryUser:
        """The user with this object id or UPN; raises :class:`NotFound` when there is none."""
        key = _check_key(id_or_upn, "user id or UPN")
        if key.startswith("$"):
            # Graph reads '/users/$x...' as a system query option: look such a UPN up by filter.
            found = await self._list_users(f"userPrincipalName eq {_quoted(key)}", top=1, what=f"get {key}")
            if not found:
                raise NotFound(f"user {key} does not exist")
            return found[0]
        query = UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(select=list(_USER_SELECT))
        user = await self._call(
            f"get user {key}",
            lambda: self._client.users.by_user_id(key).get(
                request_configuration=RequestConfiguration(query_parameters=query)
            ),
        )
        return _to_directory_user(_present(user, f"get user {key}"))

    async def find_user_by_upn(self, user_principal_name: str) -> DirectoryUser | None:
        """The user with this UPN, or ``None``."""
        try:
            return await self.get_user(user_principal_name)
        except NotFound:
            return None

    async def find_user_by_marker(self, marker: str) -> DirectoryUser | None:
        """The user whose ``employeeId`` is ``marker``, or ``None``.

        Raises :class:`AlreadyExists` if several users carry it: a marker must identify one account.
        """
        users = await self._list_users(
            f"employeeId eq {_quoted(marker)}", top=2, what=f"find user by marker {marker!r}"
        )
        if len(users) > 1:
            raise AlreadyExists(f"{len(users)} users carry the marker {marker!r}")
        return users[0] if users else None

    # ---------------------------------------------------------------------------------- users: write

    async def create_user(self, spec: NewUser) -> DirectoryUser:
        """Create the account, or return it if an earlier attempt already created it.

        Sent once per attempt with the SDK's retries off. After an ambiguous outcome (timeout, dropped
        connection, 5xx, 429) or a duplicate UPN, the UPN is looked up: an account carrying
        ``spec.marker`` in ``employeeId`` is ours and is returned; any other account there raises
        :class:`AlreadyExists`. When no account is found after an ambiguous outcome the create is sent
        again, up to ``create_attempts`` in all.
        """
        upn = spec.user_principal_name
        what = f"create user {upn}"
        no_retry = RequestConfiguration[Any](options=[self._retry_option(0)])
        for attempt in itertools.count(1):
            try:
                created = await self._call(
                    what,
                    lambda: self._client.users.post(_new_user_body(spec), request_configuration=no_retry),
                    resend=False,
                )
            except AlreadyExists as err:
                # The UPN is taken: perhaps by an attempt of ours whose answer was lost, whose object
                # may not have replicated to the replica we read from yet. (Another unique property,
                # e.g. proxyAddresses, names a conflict a look-up by UPN cannot resolve: no waiting.)
                if "userPrincipalName" in (err.graph_message or ""):
                    existing = await self._wait_for_user(upn)
                else:
                    existing = await self.find_user_by_upn(upn)
                if existing is None:
                    raise
                return self._own_account_or_conflict(spec, existing, err)
            except (Unavailable, Throttled) as err:
                existing = await self.find_user_by_upn(upn)
                if existing is not None:
                    return self._own_account_or_conflict(spec, existing, err)
                delay = self._create_retry_delay(err, attempt)
                if delay is None:
                    raise
                _log.info(
                    "create user: outcome unknown and no account found, sending again",
                    extra={"upn": upn, "attempt": attempt, "error_code": err.code, "delay_seconds": delay},
                )
                await asyncio.sleep(delay)
                continue
            return _created_user(spec, _present(created, what))
        raise AssertionError("unreachable")  # pragma: no cover - itertools.count never ends

    async def update_user(self, user_id: str, changes: UserChanges) -> None:
        """``PATCH`` the given properties of a user (see :class:`UserChanges`); nothing when empty."""
        if changes.is_empty:
            return
        key = _check_key(user_id, "user id")
        await self._on_user(
            f"update user {key}", lambda: self._client.users.by_user_id(key).patch(_patch_body(changes))
        )

    async def disable_user(self, user_id: str) -> None:
        """Block sign-in (``accountEnabled=false``)."""
        await self.update_user(user_id, UserChanges(account_enabled=False))

    async def enable_user(self, user_id: str) -> None:
        """Allow sign-in again (``accountEnabled=true``)."""
        await self.update_user(user_id, UserChanges(account_enabled=True))

    async def revoke_sessions(self, user_id: str) -> None:
        """Invalidate the user's refresh tokens and session cookies (``revokeSignInSessions``)."""
        key = _check_key(user_id, "user id")
        await self._on_user(
            f"revoke sessions of {key}",
            lambda: self._client.users.by_user_id(key).revoke_sign_in_sessions.post(),
        )

    async def reset_password(
        self, user_id: str, password: SecretStr, *, force_change_next_sign_in: bool = True
    ) -> None:
        """Set a new temporary password (``PATCH passwordProfile``); it must be changed at next sign-in.

        The request body holds the password in clear, so it is built here and never logged; a replay of the
        same ``PATCH`` sets the same password again.
        """
        key = _check_key(user_id, "user id")

        def patch() -> Awaitable[User | None]:
            body = User(
                password_profile=PasswordProfile(
                    password=password.get_secret_value(),
                    force_change_password_next_sign_in=force_change_next_sign_in,
                )
            )
            return self._client.users.by_user_id(key).patch(body)

        await self._on_user(f"reset the password of {key}", patch)

    async def delete_user(self, user_id: str) -> None:
        """Delete the user (soft delete: restorable in Entra for 30 days). Already gone: success."""
        key = _check_key(user_id, "user id")
        try:
            await self._call(f"delete user {key}", lambda: self._client.users.by_user_id(key).delete())
        except NotFound:
            _log.info("delete user: already gone", extra={"user": key})

    # --------------------------------------------------------------------------------------- licenses

    async def assign_licenses(
        self,
        user_id: str,
        add: Sequence[LicenseAssignment] = (),
        remove: Sequence[UUID] = (),
    ) -> None:
        """Add and/or remove licenses in one ``assignLicense`` call.

        Raises :class:`NoFreeSeats` when a SKU to add has no seat left, :class:`InvalidRequest` for
        Graph's other refusals (no ``usageLocation``, unknown SKU ...). Removing a SKU the user does not
        hold (e.g. a replay of a removal that went through) is not an error.
        """
        if not add and not remove:
            return
        key = _check_key(user_id, "user id")
        what = f"assign licenses to {key}"
        try:
            await self._send_assign_license(what, key, add, remove)
        except InvalidRequest as err:
            if (
                isinstance(err, NoFreeSeats)
                or not remove
                or not _LICENSE_NOT_HELD.search(err.graph_message or "")
            ):
                raise
            held = (await self.get_user(key)).assigned_sku_ids
            still_held = [sku for sku in remove if sku in held]
            if len(still_held) == len(remove):
                raise  # Graph refused for another reason than an already-removed license
            if add or still_held:
                await self._send_assign_license(what, key, add, still_held)

    async def remove_licenses(self, user_id: str, sku_ids: Sequence[UUID]) -> None:
        """Remove these licenses (seats come back); SKUs the user does not hold are ignored."""
        await self.assign_licenses(user_id, remove=sku_ids)

    async def list_skus(self) -> tuple[SkuSeats, ...]:
        """Every subscribed SKU with its seats (``GET /subscribedSkus``)."""
        query = SubscribedSkusRequestBuilder.SubscribedSkusRequestBuilderGetQueryParameters(
            select=list(_SKU_SELECT)
        )
        page = await self._call(
            "list subscribed SKUs",
            lambda: self._client.subscribed_skus.get(
                request_configuration=RequestConfiguration(query_parameters=query)
            ),
        )
        skus = []
        for sku in _present(page, "list subscribed SKUs").value or []:
            if sku.sku_id is None or not sku.sku_part_number:
                continue
            prepaid = sku.prepaid_units
            skus.append(
                SkuSeats(
                    sku_id=sku.sku_id,
                    part_number=sku.sku_part_number,
                    enabled=(prepaid.enabled or 0) if prepaid else 0,
                    consumed=sku.consumed_units or 0,
                    capability_status=sku.capability_status or "",
                )
            )
        return tuple(skus)

    # ----------------------------------------------------------------------------------------- groups

    async def add_group_member(self, group_id: str, member_id: str) -> None:
        """Add a member to a group; already a member: success."""
        group = _check_key(group_id, "group id")
        member = _check_object_id(member_id)
        reference = ReferenceCreate(odata_id=f"{self._base_url}/directoryObjects/{member}")
        try:
            await self._on_user(
                f"add {member} to group {group}",
                lambda: self._client.groups.by_group_id(group).members.ref.post(reference),
            )
        except InvalidRequest as err:
            if not _ALREADY_MEMBER.search(err.graph_message or ""):
                raise

    async def remove_group_member(self, group_id: str, member_id: str) -> None:
        """Remove a member from a group; one that is not a member: success.

        Graph answers 404 both when the account is not in the group and while a new account is still
        replicating, so a 404 counts as "not a member" only once ``checkMemberGroups`` agrees; until then
        the removal is retried like any write addressed to a replicating user.
        """
        group = _check_object_id(group_id)
        member = _check_object_id(member_id)
        what = f"remove {member} from group {group}"
        reference = self._client.groups.by_group_id(group).members.by_directory_object_id(member).ref

        async def remove() -> None:
            try:
                await self._call(what, reference.delete)
            except NotFound:
                if group in await self.check_member_groups(member, [group]):
                    raise
                _log.info("remove group member: not a member", extra={"group": group, "member": member})

        await self._on_user(what, remove)

    async def check_member_groups(self, user_id: str, group_ids: Iterable[str]) -> frozenset[str]:
        """Which of ``group_ids`` the user is a member of, transitively (``checkMemberGroups``)."""
        key = _check_key(user_id, "user id")
        wanted = sorted({_check_object_id(group) for group in group_ids})
        found: set[str] = set()
        for start in range(0, len(wanted), _CHECK_MEMBER_GROUPS_CHUNK):
            body = CheckMemberGroupsPostRequestBody(
                group_ids=wanted[start : start + _CHECK_MEMBER_GROUPS_CHUNK]
            )
            answer = await self._call(
                f"check member groups of {key}",
                functools.partial(self._client.users.by_user_id(key).check_member_groups.post, body),
            )
            found.update(_present(answer, "check member groups").value or [])
        # Graph answers with ids as stored; compare case-insensitively, answer in the caller's spelling.
        lowered = {group.lower() for group in found}
        return frozenset(group for group in wanted if group.lower() in lowered)

    async def group_member_ids(self, group_id: str) -> frozenset[str]:
        """The object ids of a group's direct members, every page (``GET /groups/{id}/members``).

        The role directory keeps these as a positive cache so an approver's click needs no Graph call;
        members of nested groups are still found by :meth:`check_member_groups`, which is transitive.
        """
        group = _check_key(group_id, "group id")
        builder = self._client.groups.by_group_id(group).members
        query = MembersRequestBuilder.MembersRequestBuilderGetQueryParameters(select=["id"], top=999)
        what = f"list members of group {group}"
        page = await self._call(
            what, lambda: builder.get(request_configuration=RequestConfiguration(query_parameters=query))
        )
        ids: set[str] = set()
        while page is not None:
            ids.update(member.id for member in page.value or [] if member.id)
            next_link = page.odata_next_link
            if not next_link:
                break
            page = await self._call(what, functools.partial(builder.with_url(next_link).get))
        return frozenset(ids)

    # ---------------------------------------------------------------------------------------- domains

    async def verified_domains(self) -> tuple[VerifiedDomain, ...]:
        """The tenant's verified domains (the only ones a UPN may use)."""
        query = DomainsRequestBuilder.DomainsRequestBuilderGetQueryParameters(select=list(_DOMAIN_SELECT))
        page = await self._call(
            "list domains",
            lambda: self._client.domains.get(
                request_configuration=RequestConfiguration(query_parameters=query)
            ),
        )
        return tuple(
            VerifiedDomain(
                name=domain.id, is_default=bool(domain.is_default), is_initial=bool(domain.is_initial)
            )
            for domain in _present(page, "list domains").value or []
            if domain.id and domain.is_verified
        )

    # ------------------------------------------------------------------------------------- internals

    def _retry_option(self, max_retries: int) -> RetryHandlerOption:
        return RetryHandlerOption(delay=self._options.retry_delay, max_retries=max_retries)

    async def _call(self, what: str, operation: Callable[[], Awaitable[T]], *, resend: bool = True) -> T:
        """Run one SDK call; translate its failures into the :mod:`provisioning.errors` tree.

        ``resend``: the call is idempotent in effect, so re-send it after a transport failure.
        """
        attempts = 1 + (self._options.transport_retries if resend else 0)
        for attempt in range(1, attempts + 1):
            try:
                return await operation()
            except httpx.TransportError as err:
                if attempt < attempts:
                    _log.info(
                        "graph transport failure, sending again",
                        extra={"operation": what, "error_type": type(err).__name__, "attempt": attempt},
                    )
                    await asyncio.sleep(self._options.transport_retry_delay * attempt)
                    continue
                raise _logged(_translate(err, what), what) from err
            except (APIError, ClientAuthenticationError, ServiceRequestError, ServiceResponseError) as err:
                raise _logged(_translate(err, what), what) from err
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    async def _on_user(self, what: str, operation: Callable[[], Awaitable[T]]) -> T:
        """A write addressed to a user: retry a 404 while the user may still be replicating."""
        deadline = time.monotonic() + self._options.replication_wait
        delay = self._options.replication_poll
        while True:
            try:
                return await self._call(what, operation)
            except NotFound:
                if time.monotonic() + delay > deadline:
                    raise
                _log.info("graph 404 on a write, waiting for replication", extra={"operation": what})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _wait_for_user(self, upn: str) -> DirectoryUser | None:
        """Look a UPN up until it appears or ``replication_wait`` has passed."""
        deadline = time.monotonic() + self._options.replication_wait
        delay = self._options.replication_poll
        while True:
            found = await self.find_user_by_upn(upn)
            if found is not None or time.monotonic() + delay > deadline:
                return found
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    def _own_account_or_conflict(
        self, spec: NewUser, existing: DirectoryUser, cause: GraphError
    ) -> DirectoryUser:
        if existing.employee_id == spec.marker:
            _log.info(
                "create user: the account exists with our marker, taking it",
                extra={"upn": spec.user_principal_name, "user_id": existing.id, "after": cause.code},
            )
            return existing
        # Graph's details are kept only when Graph itself said "already exists"; after a lost answer
        # the conflict is our finding, and the failed create's request-id is what the audit needs.
        graph_said_so = isinstance(cause, AlreadyExists)
        raise AlreadyExists(
            f"{spec.user_principal_name} is already taken by an account this request did not create",
            status=cause.status if graph_said_so else None,
            request_id=cause.request_id,
            graph_code=cause.graph_code if graph_said_so else None,
            graph_message=cause.graph_message if graph_said_so else None,
        )

    def _create_retry_delay(self, err: GraphError, attempt: int) -> float | None:
        """Seconds to wait before sending a create again, or ``None`` to give up."""
        if attempt >= self._options.create_attempts:
            return None
        if isinstance(err, Throttled) and err.retry_after:
            return err.retry_after if err.retry_after <= self._options.max_retry_after else None
        return float(self._options.create_backoff * 2 ** (attempt - 1))

    async def _send_assign_license(
        self, what: str, key: str, add: Sequence[LicenseAssignment], remove: Sequence[UUID]
    ) -> None:
        body = AssignLicensePostRequestBody(
            add_licenses=[
                AssignedLicense(sku_id=item.sku_id, disabled_plans=sorted(item.disabled_plans))
                for item in add
            ],
            remove_licenses=list(remove),
        )
        await self._on_user(what, lambda: self._client.users.by_user_id(key).assign_license.post(body))

    async def _list_users(self, odata_filter: str, *, top: int, what: str) -> list[DirectoryUser]:
        query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            filter=odata_filter, select=list(_USER_SELECT), top=top
        )
        page = await self._call(
            what,
            lambda: self._client.users.get(
                request_configuration=RequestConfiguration(query_parameters=query)
            ),
        )
        return [_to_directory_user(user) for user in _present(page, what).value or []]


# ---------------------------------------------------------------------------------- module helpers


def _build_http_client(
    base_url: str, options: GraphGatewayOptions, transport: httpx.AsyncBaseTransport | None
) -> httpx.AsyncClient:
    timeout = httpx.Timeout(
        options.read_timeout, connect=options.connect_timeout, pool=options.connect_timeout
    )
    limits = httpx.Limits(
        max_connections=options.max_connections, max_keepalive_connections=options.max_connections
    )
    http = httpx.AsyncClient(
        timeout=timeout,
        limits=limits,
        # HTTP/2 only where TLS negotiates it (Graph); the loopback sandbox speaks HTTP/1.1.
        http2=base_url.startswith("https://"),
        transport=transport,
    )
    return GraphClientFactory.create_with_default_middleware(  # type: ignore[no-any-return]
        client=http,
        options={
            RetryHandlerOption.get_key(): RetryHandlerOption(
                delay=options.retry_delay, max_retries=options.max_retries
            ),
            # The same two options msgraph's own adapter installs.
            UrlReplaceHandlerOption.get_key(): UrlReplaceHandlerOption(
                enabled=True, replacement_pairs={"/users/me-token-to-replace": "/me"}
            ),
            GraphTelemetryHandlerOption.get_key(): GraphTelemetryHandlerOption(api_version=APIVersion.v1),
        },
    )


def _scope_for(base_url: str) -> str:
    """``https://graph.microsoft.com/.default``, or the national cloud's own Graph host."""
    parts = urlsplit(base_url)
    if parts.hostname in _LOOPBACK_HOSTS or parts.hostname == "graph.microsoft.com":
        return GRAPH_SCOPE
    return f"https://{parts.hostname}/.default"


def _parse_warm_up_user() -> None:
    JsonParseNode(_WARM_UP_USER).get_object_value(User)


def _check_key(value: str, what: str) -> str:
    """A path key (object id or UPN) must be a non-empty string without control characters."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"{what} is empty")
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in value):
        raise InvalidRequest(f"{what} contains control characters")
    return value


def _check_object_id(value: str) -> str:
    """Object ids that go into a body or a reference URL must be GUIDs."""
    try:
        return str(UUID(value))
    except (ValueError, TypeError, AttributeError):
        raise InvalidRequest(f"not a directory object id: {value!r}") from None


def _quoted(value: str) -> str:
    try:
        return odata_quote(value)
    except (TypeError, ValueError) as err:
        raise InvalidRequest(f"not a valid filter value: {err}") from None


def _present(value: T | None, what: str) -> T:
    """The SDK returns ``None`` for an empty body; where Graph always sends one, that is a failure."""
    if value is None:
        raise Unavailable(f"{what}: Graph answered without a body")
    return value


def _logged(error: GraphError, what: str) -> GraphError:
    # A 404 is an answer, not a failure, for look-ups ("is this UPN free?"); keep it out of warnings.
    _log.log(
        logging.DEBUG if isinstance(error, NotFound) else logging.WARNING,
        "graph call failed",
        extra={
            "operation": what,
            "error_code": error.code,
            "status": error.status,
            "graph_code": error.graph_code,
            "request_id": error.request_id,
        },
    )
    return error


def _translate(err: BaseException, what: str) -> GraphError:
    """Map an SDK, httpx or azure-identity exception onto the error tree."""
    if isinstance(err, httpx.TimeoutException):
        return Unavailable(f"{what}: Graph did not answer in time ({type(err).__name__})")
    if isinstance(err, httpx.TransportError):
        return Unavailable(f"{what}: connection to Graph failed ({type(err).__name__})")
    if isinstance(err, ClientAuthenticationError):
        return PermissionDenied(f"{what}: no access token for Graph ({type(err).__name__})")
    if isinstance(err, ServiceRequestError | ServiceResponseError):
        return Unavailable(f"{what}: the token endpoint could not be reached ({type(err).__name__})")
    if not isinstance(err, APIError):  # pragma: no cover - _call only passes the types above
        return GraphError(f"{what}: {type(err).__name__}")

    status = err.response_status_code
    headers = err.response_headers
    graph_code: str | None = None
    graph_message: str | None = None
    request_id = _header(headers, "request-id")
    if isinstance(err, ODataError) and err.error is not None:
        graph_code = err.error.code
        graph_message = err.error.message
        if err.error.inner_error is not None and err.error.inner_error.request_id:
            request_id = err.error.inner_error.request_id
    return error_for_response(
        what,
        status=status,
        graph_code=graph_code,
        graph_message=graph_message,
        request_id=request_id,
        retry_after=retry_after_seconds(headers),
    )


def error_for_response(
    what: str,
    *,
    status: int | None,
    graph_code: str | None,
    graph_message: str | None,
    request_id: str | None,
    retry_after: float | None = None,
) -> GraphError:
    """The error for a Graph error answer, from its parts (also used for ``$batch`` items)."""
    details = _Details(
        status=status, request_id=request_id, graph_code=graph_code, graph_message=graph_message
    )
    message = f"{what}: {graph_message or f'Graph answered {status}'}"
    if status == 429:
        return Throttled(message, retry_after=retry_after, **details)
    if status == 424:
        return DependencyFailed(message, **details)
    if status is None or status >= 500:
        return Unavailable(message, **details)
    if status in (401, 403):
        return PermissionDenied(message, **details)
    if status == 404:
        return NotFound(message, **details)
    if graph_message and _DUPLICATE_VALUE.search(graph_message):
        return AlreadyExists(message, **details)
    if graph_message and _NO_FREE_SEATS.search(graph_message):
        sku = _SKU_IN_MESSAGE.search(graph_message)
        return NoFreeSeats(message, sku_id=UUID(sku.group(1)) if sku else None, **details)
    return InvalidRequest(message, **details)


class _Details(TypedDict):
    status: int | None
    request_id: str | None
    graph_code: str | None
    graph_message: str | None


def _header(headers: Any, name: str) -> str | None:
    if headers is None:
        return None
    value = headers.get(name)
    return str(value) if value else None


def retry_after_seconds(headers: Any) -> float | None:
    """``Retry-After`` in seconds: a number, or an HTTP date."""
    value = _header(headers, "retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


# ---------------------------------------------------------------------------- SDK model conversions


def _to_directory_user(user: User) -> DirectoryUser:
    extension = user.on_premises_extension_attributes
    attributes: list[tuple[int, str]] = []
    if extension is not None:
        for index in range(1, 16):
            value = getattr(extension, f"extension_attribute{index}", None)
            if value:
                attributes.append((index, value))
    return DirectoryUser(
        id=user.id or "",
        user_principal_name=user.user_principal_name or "",
        display_name=user.display_name,
        given_name=user.given_name,
        surname=user.surname,
        account_enabled=user.account_enabled,
        employee_id=user.employee_id,
        employee_type=user.employee_type,
        company_name=user.company_name,
        department=user.department,
        usage_location=user.usage_location,
        mail=user.mail,
        other_mails=tuple(user.other_mails or ()),
        extension_attributes=tuple(attributes),
        employee_leave_date_time=user.employee_leave_date_time,
        assigned_sku_ids=frozenset(
            license_.sku_id for license_ in user.assigned_licenses or () if license_.sku_id is not None
        ),
        created_date_time=user.created_date_time,
    )


def _created_user(spec: NewUser, created: User) -> DirectoryUser:
    """The new account: Graph stored what we sent; its answer adds the id (and creation time)."""
    if not created.id:
        raise Unavailable(f"create user {spec.user_principal_name}: Graph answered without an id")
    return DirectoryUser(
        id=created.id,
        user_principal_name=created.user_principal_name or spec.user_principal_name,
        display_name=spec.display_name,
        given_name=spec.given_name,
        surname=spec.surname,
        account_enabled=spec.account_enabled,
        employee_id=spec.marker,
        employee_type=spec.employee_type,
        company_name=spec.company_name,
        department=spec.department,
        usage_location=spec.usage_location,
        mail=created.mail,
        other_mails=spec.other_mails,
        extension_attributes=spec.extension_attributes,
        employee_leave_date_time=spec.employee_leave_date_time,
        created_date_time=created.created_date_time,
    )


def _new_user_body(spec: NewUser) -> User:
    """The ``POST /users`` body: every property in one request (FACTS.md). Built per attempt and
    never logged, because it holds the password in clear."""
    extension = _extension_body(spec.extension_attributes) if spec.extension_attributes else None
    return User(
        account_enabled=spec.account_enabled,
        display_name=spec.display_name,
        mail_nickname=spec.mail_nickname,
        user_principal_name=spec.user_principal_name,
        password_profile=PasswordProfile(
            password=spec.password.get_secret_value(),
            force_change_password_next_sign_in=spec.force_change_password_next_sign_in,
        ),
        employee_id=spec.marker,
        usage_location=spec.usage_location,
        given_name=spec.given_name,
        surname=spec.surname,
        company_name=spec.company_name,
        department=spec.department,
        employee_type=spec.employee_type,
        other_mails=list(spec.other_mails) if spec.other_mails else None,
        on_premises_extension_attributes=extension,
        employee_leave_date_time=spec.employee_leave_date_time,
    )


#: UserChanges field -> (Graph JSON name); the SDK model attribute has the field's name.
_PATCH_FIELDS: Final = {
    "display_name": "displayName",
    "given_name": "givenName",
    "surname": "surname",
    "company_name": "companyName",
    "department": "department",
    "usage_location": "usageLocation",
    "employee_type": "employeeType",
    "employee_leave_date_time": "employeeLeaveDateTime",
    "other_mails": "otherMails",
    "account_enabled": "accountEnabled",
}


def _patch_body(changes: UserChanges) -> User:
    body = User()
    for name, json_name in _PATCH_FIELDS.items():
        value = getattr(changes, name)
        if value is UNCHANGED:
            continue
        if value is None:
            # The SDK skips None properties; an explicit null in additional data clears the value.
            body.additional_data[json_name] = None
        else:
            setattr(body, name, list(value) if isinstance(value, tuple) else value)
    if changes.extension_attributes:
        body.on_premises_extension_attributes = _extension_body(changes.extension_attributes)
    return body


def _extension_body(values: Iterable[tuple[int, str | None]]) -> OnPremisesExtensionAttributes:
    extension = OnPremisesExtensionAttributes()
    for index, value in values:
        if value is None:
            extension.additional_data[f"extensionAttribute{index}"] = None
        else:
            setattr(extension, f"extension_attribute{index}", value)
    return extension
