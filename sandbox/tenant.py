"""The sandbox tenant's directory: users, groups, licenses, domains, organization.

Everything here is synchronous and raises :class:`~sandbox.errors.GraphError` exactly where Graph
answers an error; the HTTP layer (``sandbox.api``) only parses requests and renders answers. The
HTTP layer holds :attr:`Tenant.lock` while it calls in, so a test thread may read or change the
tenant (through the same lock) while a server thread serves it.

Objects are kept in Graph's own JSON shape (camelCase), so what is stored is what is served.
"""

from __future__ import annotations

import base64
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.clock import Clock, SystemClock, graph_timestamp
from sandbox.errors import GraphError, invalid_property, not_found
from sandbox.faults import Faults
from sandbox.recording import RequestLog
from sandbox.routes import RouteKey
from sandbox.validation import (
    ALL_USER_PROPERTIES,
    EXTENSION_ATTRIBUTES,
    READ_ONLY_USER_PROPERTIES,
    REQUIRED_ON_CREATE,
    WRITABLE_USER_PROPERTIES,
    check_password,
    check_user_properties,
    duplicate_upn,
    read_only_property,
    split_upn,
    unknown_property,
    unverified_domain,
)

Json = dict[str, Any]

SNAPSHOT_VERSION = 1

#: What GET /users and GET /users/{id} return without $select ("List users", "Get user").
USER_DEFAULT_PROPERTIES = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
)

GROUP_PROPERTIES = (
    "id",
    "createdDateTime",
    "description",
    "displayName",
    "groupTypes",
    "mail",
    "mailEnabled",
    "mailNickname",
    "securityEnabled",
    "visibility",
    "membershipRule",
)


@dataclass(frozen=True)
class _Lag:
    visible_at: float
    route: RouteKey | None


def _new_id() -> str:
    return str(uuid.uuid4())


def _is_guid(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class Tenant:
    """The live state of the sandbox tenant plus its faults, request log and clock."""

    def __init__(self, snapshot: Mapping[str, Any], *, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self.faults = Faults(self.clock)
        self.requests = RequestLog()
        self.lock = threading.RLock()
        #: Called after every successful write (the server persists the state there).
        self.on_change: Callable[[], None] | None = None
        self._lag: dict[str, _Lag] = {}
        self._load(snapshot)

    # ------------------------------------------------------------------------------------ snapshot

    def _load(self, snapshot: Mapping[str, Any]) -> None:
        if snapshot.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"unsupported sandbox state version {snapshot.get('version')!r}")
        self.tenant_id: str = snapshot["tenantId"]
        self.organization: Json = dict(snapshot["organization"])
        self.domains: list[Json] = [dict(d) for d in snapshot["domains"]]
        self.skus: dict[str, Json] = {s["skuId"].lower(): dict(s) for s in snapshot["skus"]}
        self.groups: dict[str, Json] = {g["id"]: dict(g) for g in snapshot["groups"]}
        self.members: dict[str, list[str]] = {g: list(m) for g, m in snapshot["members"].items()}
        for group_id in self.groups:
            self.members.setdefault(group_id, [])
        self.users: dict[str, Json] = {u["id"]: dict(u) for u in snapshot["users"]}
        self._lag.clear()

    def snapshot(self) -> Json:
        """The whole directory as JSON (no passwords: the sandbox never keeps them)."""
        with self.lock:
            return {
                "version": SNAPSHOT_VERSION,
                "tenantId": self.tenant_id,
                "organization": self.organization,
                "domains": self.domains,
                "skus": list(self.skus.values()),
                "groups": list(self.groups.values()),
                "members": self.members,
                "users": list(self.users.values()),
            }

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Replace the directory with ``snapshot`` (faults and the request log are kept)."""
        with self.lock:
            self._load(snapshot)

    def changed(self) -> None:
        """Tell the owner (the server) that the directory changed."""
        if self.on_change is not None:
            self.on_change()

    # ---------------------------------------------------------------------------- replication lag

    def _visible(self, object_id: str, route: RouteKey | None) -> bool:
        lag = self._lag.get(object_id)
        if lag is None:
            return True
        if self.clock.monotonic() >= lag.visible_at:
            del self._lag[object_id]
            return True
        return lag.route is not None and lag.route != route

    def is_replicated(self, user_id: str) -> bool:
        """Whether a new user is visible everywhere yet (False while a replication lag holds it back)."""
        with self.lock:
            return self._visible(user_id, None) if user_id in self._lag else True

    # ---------------------------------------------------------------------------------- domains

    @property
    def verified_domains(self) -> list[str]:
        """Names of the verified domains (the only ones a UPN may use)."""
        return [d["id"] for d in self.domains if d.get("isVerified")]

    def find_domain(self, name: str) -> Json:
        """A domain by name (case-insensitive)."""
        for domain in self.domains:
            if domain["id"].lower() == name.lower():
                return domain
        raise not_found(name)

    def organization_json(self) -> Json:
        """The organization resource, with verifiedDomains derived from the domains."""
        return {
            **self.organization,
            "id": self.tenant_id,
            "verifiedDomains": [
                {
                    "capabilities": "Email, OfficeCommunicationsOnline",
                    "isDefault": bool(d.get("isDefault")),
                    "isInitial": bool(d.get("isInitial")),
                    "name": d["id"],
                    "type": "Managed",
                }
                for d in self.domains
                if d.get("isVerified")
            ],
        }

    # ------------------------------------------------------------------------------------- users

    def find_user(self, key: str, route: RouteKey | None = None) -> Json:
        """A user by object id or userPrincipalName (case-insensitive), as seen from ``route``."""
        lowered = key.lower()
        user = self.users.get(key) or next(
            (
                u
                for u in self.users.values()
                if u["id"].lower() == lowered or u["userPrincipalName"].lower() == lowered
            ),
            None,
        )
        if user is None or not self._visible(user["id"], route):
            raise not_found(key)
        return user

    def list_users(self, route: RouteKey | None = None) -> list[Json]:
        """Every user visible from ``route``, oldest first."""
        return [u for u in self.users.values() if self._visible(u["id"], route)]

    def _check_body_properties(self, body: Mapping[str, Any]) -> dict[str, Any]:
        props = {k: v for k, v in body.items() if not k.startswith("@odata.")}
        for name in props:
            if name in READ_ONLY_USER_PROPERTIES:
                raise read_only_property(name)
            if name not in WRITABLE_USER_PROPERTIES:
                raise unknown_property(name)
        check_user_properties(props)
        return props

    def _check_upn(self, upn: Any, *, exclude: str | None = None) -> None:
        if not isinstance(upn, str):
            raise invalid_property("userPrincipalName")
        _, domain = split_upn(upn)
        if domain.lower() not in {d.lower() for d in self.verified_domains}:
            raise unverified_domain()
        lowered = upn.lower()
        if any(u["userPrincipalName"].lower() == lowered and u["id"] != exclude for u in self.users.values()):
            raise duplicate_upn()

    @staticmethod
    def _password_terms(
        props: Mapping[str, Any], current: Mapping[str, Any] | None = None
    ) -> tuple[str, ...]:
        merged = {**(current or {}), **props}
        upn = merged.get("userPrincipalName") or ""
        terms = (merged.get("givenName"), merged.get("surname"), upn.split("@")[0] if upn else None)
        return tuple(t for t in terms if isinstance(t, str))

    @staticmethod
    def _password_profile(value: Any, *, required: bool) -> tuple[str | None, Json]:
        if not isinstance(value, Mapping):
            raise invalid_property("passwordProfile")
        unknown = [
            k
            for k in value
            if k not in {"password", "forceChangePasswordNextSignIn", "forceChangePasswordNextSignInWithMfa"}
            and not k.startswith("@odata.")
        ]
        if unknown:
            raise unknown_property(unknown[0], "passwordProfile")
        password = value.get("password")
        if required and password is None:
            raise invalid_property("passwordProfile")
        stored = {
            "password": None,
            "forceChangePasswordNextSignIn": bool(value.get("forceChangePasswordNextSignIn", True)),
            "forceChangePasswordNextSignInWithMfa": bool(
                value.get("forceChangePasswordNextSignInWithMfa", False)
            ),
        }
        return password, stored

    def create_user(self, body: Any) -> Json:
        """POST /users: validate like Graph, store (subject to any replication-lag fault), return the user."""
        if not isinstance(body, Mapping):
            raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
        props = self._check_body_properties(body)
        for name in REQUIRED_ON_CREATE:
            if props.get(name) is None:
                # Graph's text for a missing required property is not documented; this is its usual form.
                raise invalid_property(name)
        self._check_upn(props["userPrincipalName"])
        password, profile = self._password_profile(props["passwordProfile"], required=True)
        check_password(password, forbidden_terms=self._password_terms(props))
        now = graph_timestamp(self.clock.now())
        extensions = {name: None for name in EXTENSION_ATTRIBUTES}
        extensions.update(
            {
                k: v
                for k, v in (props.get("onPremisesExtensionAttributes") or {}).items()
                if not k.startswith("@")
            }
        )
        user: Json = {
            "businessPhones": [],
            "otherMails": [],
            "imAddresses": [],
            "userType": "Member",
            **{
                k: v
                for k, v in props.items()
                if k not in ("passwordProfile", "onPremisesExtensionAttributes")
            },
            "id": _new_id(),
            "passwordProfile": profile,
            "onPremisesExtensionAttributes": extensions,
            "assignedLicenses": [],
            "assignedPlans": [],
            "proxyAddresses": [f"SMTP:{props['mail']}"] if props.get("mail") else [],
            "createdDateTime": now,
            "lastPasswordChangeDateTime": now,
            "signInSessionsValidFromDateTime": now,
        }
        self.users[user["id"]] = user
        lag = self.faults.take_replication_lag()
        if lag is not None:
            self._lag[user["id"]] = _Lag(self.clock.monotonic() + lag.seconds, lag.route)
        return user

    def update_user(self, user: Json, body: Any) -> None:
        """PATCH /users/{id}: the same rules as create for every property present."""
        if not isinstance(body, Mapping):
            raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
        props = self._check_body_properties(body)
        for name in ("displayName", "mailNickname", "userPrincipalName", "accountEnabled"):
            if name in props and props[name] is None:
                raise invalid_property(name)
        if "userPrincipalName" in props:
            self._check_upn(props["userPrincipalName"], exclude=user["id"])
        if "usageLocation" in props and props["usageLocation"] is None and user["assignedLicenses"]:
            raise invalid_property("usageLocation")
        now = graph_timestamp(self.clock.now())
        if "passwordProfile" in props:
            password, profile = self._password_profile(props.pop("passwordProfile"), required=False)
            if password is not None:
                check_password(password, forbidden_terms=self._password_terms(props, user))
                user["lastPasswordChangeDateTime"] = now
            user["passwordProfile"] = profile
        if "onPremisesExtensionAttributes" in props:
            extensions = props.pop("onPremisesExtensionAttributes") or {}
            user["onPremisesExtensionAttributes"].update(
                {k: v for k, v in extensions.items() if not k.startswith("@")}
            )
        if props.get("mail"):
            user["proxyAddresses"] = [f"SMTP:{props['mail']}"]
        user.update(props)

    def delete_user(self, user: Json) -> None:
        """DELETE /users/{id}: the user goes, its licenses free their seats, its memberships go."""
        del self.users[user["id"]]
        self._lag.pop(user["id"], None)
        for members in self.members.values():
            if user["id"] in members:
                members.remove(user["id"])

    def revoke_sessions(self, user: Json) -> None:
        """POST /users/{id}/revokeSignInSessions: invalidate refresh tokens issued before now."""
        user["signInSessionsValidFromDateTime"] = graph_timestamp(self.clock.now())

    # ---------------------------------------------------------------------------------- licenses

    def find_sku(self, sku_id: str) -> Json | None:
        """A subscribed SKU by skuId (GUID, case-insensitive)."""
        return self.skus.get(sku_id.lower()) if isinstance(sku_id, str) else None

    def sku_by_part_number(self, part_number: str) -> Json:
        """A subscribed SKU by skuPartNumber (for tests and the control endpoint)."""
        for sku in self.skus.values():
            if sku["skuPartNumber"].lower() == part_number.lower():
                return sku
        raise KeyError(part_number)

    def consumed_units(self, sku_id: str) -> int:
        """How many users hold ``sku_id`` (Graph's subscribedSku.consumedUnits)."""
        wanted = sku_id.lower()
        return sum(
            1 for u in self.users.values() for lic in u["assignedLicenses"] if lic["skuId"].lower() == wanted
        )

    def seats(self, part_number: str) -> tuple[int, int]:
        """(consumed, enabled) seats of a SKU by part number, e.g. ``seats("MICROSOFT_REMOTE_ASSIST")``."""
        with self.lock:
            sku = self.sku_by_part_number(part_number)
            return self.consumed_units(sku["skuId"]), int(sku["prepaidUnits"]["enabled"])

    def set_prepaid_units(self, part_number: str, enabled: int) -> None:
        """Buy or cancel seats: set prepaidUnits.enabled of a SKU."""
        if enabled < 0:
            raise ValueError("enabled seats cannot be negative")
        with self.lock:
            self.sku_by_part_number(part_number)["prepaidUnits"]["enabled"] = enabled

    def subscribed_sku_json(self, sku: Json) -> Json:
        """A subscribedSku resource with live consumedUnits."""
        return {
            "accountId": self.tenant_id,
            "accountName": self.organization.get("displayName"),
            "appliesTo": sku.get("appliesTo", "User"),
            "capabilityStatus": sku.get("capabilityStatus", "Enabled"),
            "consumedUnits": self.consumed_units(sku["skuId"]),
            "id": f"{self.tenant_id}_{sku['skuId']}",
            "prepaidUnits": {
                "enabled": 0,
                "suspended": 0,
                "warning": 0,
                "lockedOut": 0,
                **sku["prepaidUnits"],
            },
            "servicePlans": sku["servicePlans"],
            "skuId": sku["skuId"],
            "skuPartNumber": sku["skuPartNumber"],
            "subscriptionIds": sku.get("subscriptionIds", []),
        }

    def assign_license(self, user: Json, body: Any) -> None:
        """POST /users/{id}/assignLicense ("user: assignLicense"): all-or-nothing, with seat accounting."""
        if not isinstance(body, Mapping):
            raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
        # Both parameters are required ("user: assignLicense"); Graph's text for a missing one is unverified.
        add = body.get("addLicenses")
        remove = body.get("removeLicenses")
        if not isinstance(add, list):
            raise invalid_property("addLicenses")
        if not isinstance(remove, list):
            raise invalid_property("removeLicenses")
        additions: list[tuple[Json, list[str]]] = []
        for item in add:
            sku_id = item.get("skuId") if isinstance(item, Mapping) else None
            sku = self.find_sku(str(sku_id)) if _is_guid(sku_id) else None
            if sku is None:
                raise GraphError(
                    400,
                    "Request_BadRequest",
                    f"License {sku_id} does not correspond to a valid company License.",
                )
            disabled = item.get("disabledPlans") or []
            if not isinstance(disabled, list) or not all(_is_guid(p) for p in disabled):
                raise invalid_property("disabledPlans")
            plan_ids = {p["servicePlanId"].lower() for p in sku["servicePlans"]}
            if any(p.lower() not in plan_ids for p in disabled):
                # Graph rejects plans that are not part of the SKU; its exact text is unverified.
                raise invalid_property("disabledPlans")
            additions.append((sku, [p.lower() for p in disabled]))
        removals: list[Json] = []
        for sku_id in remove:
            sku = self.find_sku(sku_id) if _is_guid(sku_id) else None
            if sku is None:
                raise GraphError(
                    400,
                    "Request_BadRequest",
                    f"License {sku_id} does not correspond to a valid company License.",
                )
            removals.append(sku)
        held = {lic["skuId"].lower() for lic in user["assignedLicenses"]}
        for sku in removals:
            if sku["skuId"].lower() not in held:
                # Removing a license the user does not hold (text seen in the field, unverified on Learn).
                raise GraphError(400, "Request_BadRequest", "User does not have a corresponding license.")
        if additions and not user.get("usageLocation"):
            raise GraphError(
                400,
                "Request_BadRequest",
                "License assignment cannot be done for user with invalid usage location.",
            )
        removed_ids = {s["skuId"].lower() for s in removals}
        for sku, _ in additions:
            sku_id = sku["skuId"].lower()
            if sku_id in held and sku_id not in removed_ids:
                continue  # already held: only disabledPlans change, no new seat
            if self.consumed_units(sku_id) - (1 if sku_id in removed_ids else 0) >= int(
                sku["prepaidUnits"]["enabled"]
            ):
                raise GraphError(
                    400,
                    "Request_BadRequest",
                    f"Subscription with SKU {sku['skuId']} does not have any available licenses.",
                )
        now = graph_timestamp(self.clock.now())
        licenses = [lic for lic in user["assignedLicenses"] if lic["skuId"].lower() not in removed_ids]
        plans = list(user.get("assignedPlans") or [])
        for sku in removals:
            ids = {p["servicePlanId"].lower() for p in sku["servicePlans"]}
            plans = [
                {**p, "capabilityStatus": "Deleted"} if p["servicePlanId"].lower() in ids else p
                for p in plans
            ]
        for sku, disabled in additions:
            licenses = [lic for lic in licenses if lic["skuId"].lower() != sku["skuId"].lower()]
            licenses.append({"disabledPlans": disabled, "skuId": sku["skuId"]})
            ids = {p["servicePlanId"].lower() for p in sku["servicePlans"]}
            plans = [p for p in plans if p["servicePlanId"].lower() not in ids]
            plans += [
                {
                    "assignedDateTime": now,
                    "capabilityStatus": "Deleted" if p["servicePlanId"].lower() in disabled else "Enabled",
                    "service": p.get("service", p["servicePlanName"]),
                    "servicePlanId": p["servicePlanId"],
                }
                for p in sku["servicePlans"]
                if p.get("appliesTo", "User") == "User"
            ]
        user["assignedLicenses"] = licenses
        user["assignedPlans"] = plans

    def license_details(self, user: Json) -> list[Json]:
        """GET /users/{id}/licenseDetails: one entry per assigned SKU with its plans' status."""
        details = []
        for lic in user["assignedLicenses"]:
            sku = self.skus[lic["skuId"].lower()]
            disabled = {p.lower() for p in lic["disabledPlans"]}
            opaque = base64.urlsafe_b64encode(f"{user['id']}:{sku['skuId']}".encode()).decode().rstrip("=")
            details.append(
                {
                    "id": opaque,
                    "skuId": sku["skuId"],
                    "skuPartNumber": sku["skuPartNumber"],
                    "servicePlans": [
                        {
                            "servicePlanId": p["servicePlanId"],
                            "servicePlanName": p["servicePlanName"],
                            "provisioningStatus": "Disabled"
                            if p["servicePlanId"].lower() in disabled
                            else "Success",
                            "appliesTo": p.get("appliesTo", "User"),
                        }
                        for p in sku["servicePlans"]
                    ],
                }
            )
        return details

    # ------------------------------------------------------------------------------------ groups

    def find_group(self, key: str) -> Json:
        """A group by object id."""
        group = self.groups.get(key) or next(
            (g for g in self.groups.values() if g["id"].lower() == key.lower()), None
        )
        if group is None:
            raise not_found(key)
        return group

    def find_object(self, object_id: str, route: RouteKey | None) -> Json:
        """A directory object (user or group) by id, as seen from ``route``."""
        if object_id in self.groups:
            return self.groups[object_id]
        return self.find_user(object_id, route)

    def member_objects(self, group: Json, route: RouteKey | None) -> list[Json]:
        """The direct members of a group visible from ``route``."""
        found = []
        for member_id in self.members[group["id"]]:
            if member_id in self.groups:
                found.append(self.groups[member_id])
            elif member_id in self.users and self._visible(member_id, route):
                found.append(self.users[member_id])
        return found

    def add_member(self, group: Json, body: Any, route: RouteKey | None) -> None:
        """POST /groups/{id}/members/$ref ("Add members")."""
        ref = body.get("@odata.id") if isinstance(body, Mapping) else None
        if not isinstance(ref, str) or not ref:
            raise GraphError(
                400, "BadRequest", "The request body must contain the '@odata.id' of the object to add."
            )
        member_id = ref.rstrip("/").rsplit("/", 1)[-1]
        if not _is_guid(member_id):
            raise GraphError(400, "Request_BadRequest", f"Invalid object identifier '{member_id}'.")
        member = self.find_object(member_id, route)
        if member["id"] == group["id"]:
            raise GraphError(400, "Request_BadRequest", "A group cannot be a member of itself.")
        members = self.members[group["id"]]
        if member["id"] in members:
            raise GraphError(
                400,
                "Request_BadRequest",
                "One or more added object references already exist for the following modified properties: "
                "'members'.",
            )
        members.append(member["id"])

    def remove_member(self, group: Json, member_id: str, route: RouteKey | None) -> None:
        """DELETE /groups/{id}/members/{id}/$ref ("Remove member")."""
        members = self.members[group["id"]]
        match = next((m for m in members if m.lower() == member_id.lower()), None)
        if match is None or (match in self.users and not self._visible(match, route)):
            raise not_found(member_id)
        members.remove(match)

    def group_ids_of(self, object_id: str, *, transitive: bool) -> list[str]:
        """Ids of the groups ``object_id`` belongs to, directly or through nested groups."""
        direct = [g for g, members in self.members.items() if object_id in members]
        if not transitive:
            return direct
        seen: list[str] = []
        pending = list(direct)
        while pending:
            group_id = pending.pop(0)
            if group_id in seen:
                continue
            seen.append(group_id)
            pending += [g for g, members in self.members.items() if group_id in members]
        return seen

    def check_member_groups(self, user: Json, body: Any) -> list[str]:
        """POST /users/{id}/checkMemberGroups: which of up to 20 groups the user is in (transitively)."""
        group_ids = body.get("groupIds") if isinstance(body, Mapping) else None
        if (
            not isinstance(group_ids, list)
            or not all(isinstance(g, str) for g in group_ids)
            or len(group_ids) > 20
        ):
            raise invalid_property("groupIds", "checkMemberGroups")
        mine = {g.lower() for g in self.group_ids_of(user["id"], transitive=True)}
        return [g for g in group_ids if g.lower() in mine]

    def get_member_groups(self, user: Json, body: Any) -> list[str]:
        """POST /users/{id}/getMemberGroups: every group the user is in (transitively)."""
        only_security = body.get("securityEnabledOnly") if isinstance(body, Mapping) else None
        if not isinstance(only_security, bool):
            raise invalid_property("securityEnabledOnly", "getMemberGroups")
        ids = self.group_ids_of(user["id"], transitive=True)
        return [g for g in ids if not only_security or self.groups[g].get("securityEnabled")]


def project(obj: Mapping[str, Any], select: Iterable[str] | None, defaults: Iterable[str]) -> Json:
    """Shape an object as Graph returns it: the default properties, or exactly the ``$select`` ones.

    Graph answers ``null`` for a selected property without a value, and never returns a password.
    """
    names = list(select) if select is not None else list(defaults)
    out: Json = {}
    for name in names:
        match = next((k for k in obj if k.lower() == name.lower()), name)
        value = obj.get(match)
        out[match] = value
    return out


def known_user_property(name: str) -> bool:
    """Whether ``name`` is a user property the sandbox knows (for $select validation)."""
    return name.lower() in {p.lower() for p in ALL_USER_PROPERTIES}
