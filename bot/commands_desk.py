"""The everyday commands of the 1:1 chat (DESIGN §3.4): ``requests``, ``accounts``, ``licenses``,
``barriers``, ``audit export``, their paging buttons, and recording that information-barrier policy
application was started.

Each method returns the card(s) to send; the handler only routes. Who may see what (checked here, on every
command and every click, from Entra groups through :class:`~bot.roles.RoleDirectory`, never from the card):

=====================  =======================================================================================
``requests``           anyone: their own requests only (as requester). **Open** shows a request's card to its
                       requester (read-only) and to approvers and bot administrators.
``accounts [vendor]``  requesters see the accounts they sponsor; approvers and bot administrators see all.
``licenses``           requesters, approvers and bot administrators (seat counts are not personal data).
``barriers``           approvers and bot administrators (the catalog describes how the company is separated).
``audit export``       bot administrators.
record application     bot administrators, once per provisioned request with a segment.
=====================  =======================================================================================

Nothing here writes to Graph: ``licenses`` reads seats through the cached :class:`~bot.seats.SeatSnapshot`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

from bot.approvals import Clicker
from bot.barriers_record import BarriersApplications
from bot.roles import Role, RoleDirectory
from bot.seats import SeatSnapshot
from bot.views import approval_view, card_status
from cards import views as v
from cards.actions import ListPagePayload, OpenRequestPayload, RecordBarriersAppliedPayload
from cards.approval import approval_card
from cards.barriers import barriers_card
from cards.lists import accounts_card, audit_export_card, licenses_card, not_allowed_card, requests_card
from cards.render import CardContent
from onboarding import requests as domain
from onboarding.audit import AuditAction
from onboarding.errors import InvalidRequestId, SegmentNotPlaceable
from onboarding.licensing import LicensingConfig, friendly_product_name
from onboarding.requests import Person, RequestStatus
from onboarding.segments import (
    CatalogValidation,
    Policy,
    Segment,
    SegmentCatalog,
    SegmentKind,
    placement_for,
    powershell_script,
    validate_catalog,
)
from storage.accounts import AccountState, ServiceAccount, ServiceAccounts
from storage.audit import AuditLog
from storage.once import OnceMarks
from storage.requests import RequestStore, StepLog, StoredRequest

log = logging.getLogger(__name__)

PAGE_SIZE = 8
#: Characters of script per ``barriers`` card: with the catalog and the card's JSON escaping, a card stays
#: well under Teams' ~28 KB limit.
SCRIPT_PAGE_CHARS = 14_000
#: The most a ``barriers`` card may weigh as JSON (Teams refuses cards over about 28 KB).
CARD_BYTES_BUDGET = 26_000
#: Segments, policies and validation messages listed on the card; a larger catalog is summarised.
MAX_LISTED = 30
#: Default range of ``audit export`` without dates: the last 30 days.
DEFAULT_AUDIT_DAYS = 30
CLI = "python -m cli"
_ACCOUNT_BATCH = 500
#: States in which an account still holds its licenses.
_HOLDING_STATES = frozenset({AccountState.ACTIVE.value, AccountState.DISABLED.value})
_STATE_LABELS = {
    AccountState.ACTIVE.value: "Active",
    AccountState.DISABLED.value: "Sign-in blocked",
    AccountState.OFFBOARDED.value: "Offboarded",
    AccountState.DELETED.value: "Deleted",
}
_NEXT_STEP = {
    RequestStatus.PENDING_APPROVAL: "An approver decides it in the approvals channel.",
    RequestStatus.APPROVED: "Approved: provisioning starts in a moment.",
    RequestStatus.PROVISIONING: "Provisioning is under way.",
    RequestStatus.PROVISIONED: "Done: hand the credentials to the contractor through a secure channel.",
    RequestStatus.FAILED: "An approver can retry it or cancel it.",
    RequestStatus.REJECTED: "Rejected: nothing was created.",
    RequestStatus.CANCELLED: "Cancelled: what was done has been undone.",
}
_BARRIERS_NOT_EFFECTIVE = " Barriers take effect once an administrator starts policy application."


class ChangeListener(Protocol):
    """Told when a request's cards must be redrawn (the Teams notifier)."""

    async def request_changed(self, number: int) -> None:
        """Update the request's approval card wherever it is shown."""
        ...


class AuditRangeError(ValueError):
    """The dates given to ``audit export`` are not ``YYYY-MM-DD`` or are in the wrong order."""


def audit_range(args: Sequence[str], today: date) -> tuple[date, date]:
    """``(start, end)`` (both inclusive) from ``audit export [FROM [TO]]``; default: the last 30 days."""
    try:
        dates = [date.fromisoformat(arg) for arg in args]
    except ValueError:
        raise AuditRangeError(
            "Dates are written YYYY-MM-DD, e.g. audit export 2030-01-01 2030-01-31."
        ) from None
    if len(dates) > 2:
        raise AuditRangeError("Give at most two dates: audit export FROM TO.")
    start = dates[0] if dates else today - timedelta(days=DEFAULT_AUDIT_DAYS - 1)
    end = dates[1] if len(dates) == 2 else today
    if end < start:
        raise AuditRangeError("The first date must not be after the second.")
    return start, end


def day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """The UTC instants ``[start 00:00, end+1 00:00)`` that cover the inclusive day range."""
    return (
        datetime.combine(start, time(), tzinfo=UTC),
        datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC),
    )


@dataclass(frozen=True)
class _Catalog:
    catalog: SegmentCatalog
    validation: CatalogValidation
    script: str | None


class CommandDesk:
    """One method per command, returning the card to send (see the module docstring for who sees what)."""

    def __init__(
        self,
        *,
        requests: RequestStore,
        steps: StepLog,
        accounts: ServiceAccounts,
        audit: AuditLog,
        marks: OnceMarks,
        roles: RoleDirectory,
        seats: SeatSnapshot,
        licensing: LicensingConfig,
        catalog: SegmentCatalog | None,
        notifier: ChangeListener,
        clock: Callable[[], datetime],
        page_size: int = PAGE_SIZE,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self._requests = requests
        self._steps = steps
        self._accounts = accounts
        self._audit = audit
        self._marks = marks
        self._roles = roles
        self._seats = seats
        self._licensing = licensing
        self._notifier = notifier
        self._clock = clock
        self._page_size = page_size
        self._applications = BarriersApplications(audit)
        self._catalog: _Catalog | None = None
        if catalog is not None:
            # The catalog is read once at start-up, so it is validated (and its script generated) once.
            validation = validate_catalog(catalog)
            script = powershell_script(catalog, validation=validation) if validation.ok else None
            self._catalog = _Catalog(catalog, validation, script)

    # ------------------------------------------------------------------ requests

    async def requests(self, caller: Clicker, page: int = 0) -> CardContent:
        """The caller's own requests, newest first, one page, each with what it allows now and **Open**."""
        if not caller.aad_object_id:
            return requests_card(v.RequestListView(rows=()))
        page = max(page, 0)
        stored = await self._requests.list_for_requester(
            caller.aad_object_id, limit=self._page_size + 1, offset=page * self._page_size
        )
        visible = [s for s in stored if s.request.status is not RequestStatus.DRAFT]
        rows = [await self._request_row(s) for s in visible[: self._page_size]]
        paging = v.Paging(page=page, has_next=len(stored) > self._page_size)
        return requests_card(v.RequestListView(rows=tuple(rows), paging=paging))

    async def _request_row(self, stored: StoredRequest) -> v.RequestRow:
        request = stored.request
        next_step = _NEXT_STEP.get(request.status, "")
        if (
            request.status is RequestStatus.PROVISIONED
            and stored.plan.segment
            and await self._applications.recorded(request.request_id) is None
        ):
            next_step += _BARRIERS_NOT_EFFECTIVE
        return v.RequestRow(
            request_id=request.request_id,
            contractor_name=f"{request.contractor.first_name} {request.contractor.last_name}",
            vendor_company=request.vendor_company,
            status=card_status(request.status),
            updated_at=stored.updated_at,
            next_step=next_step,
            upn=stored.plan.upn if request.status is RequestStatus.PROVISIONED else "",
        )

    async def open_request(self, clicker: Clicker, payload: OpenRequestPayload) -> CardContent:
        """A request's approval card: read-only for its requester, with its state's buttons for approvers."""
        stored = await self._load(payload.request_id)
        roles = await self._roles.roles_of(clicker.aad_object_id)
        if stored is None:
            return not_allowed_card("open this request: it does not exist or is not yours", None)
        is_requester = clicker.aad_object_id is not None and stored.request.requester.is_same_person(
            Person(aad_object_id=clicker.aad_object_id, display_name=clicker.name or "someone")
        )
        staff = bool(roles & {Role.APPROVER, Role.ADMINISTRATOR})
        if not (is_requester or staff):
            await self._refused(
                clicker, "open a request of someone else", request_id=stored.request.request_id
            )
            return not_allowed_card("open this request: it does not exist or is not yours", None)
        may_act = Role.APPROVER in roles and not is_requester
        return await self.request_card(stored, viewer_may_act=may_act)

    async def request_card(
        self, stored: StoredRequest, *, viewer_may_act: bool, notice: str | None = None
    ) -> CardContent:
        """The approval card of ``stored``, including when barrier application was recorded."""
        steps = await self._steps.steps(stored.request.number)
        view = approval_view(stored, steps, notice=notice, viewer_may_act=viewer_may_act)
        applied = await self._applications.recorded(stored.request.request_id)
        if applied is not None:
            view = replace(view, barriers_applied=applied)
        return approval_card(view)

    # ------------------------------------------------------------------ accounts

    async def accounts(self, caller: Clicker, vendor: str | None = None, page: int = 0) -> CardContent:
        """Service accounts (all for approvers/administrators, sponsored ones for requesters), by vendor."""
        roles = await self._roles.roles_of(caller.aad_object_id)
        if not roles or not caller.aad_object_id:
            await self._refused(caller, "accounts without a role")
            return not_allowed_card("see service accounts", "requesters")
        see_all = bool(roles & {Role.APPROVER, Role.ADMINISTRATOR})
        wanted = vendor.strip().casefold() if vendor and vendor.strip() else None
        sponsor = None if see_all else caller.aad_object_id.strip().lower()
        page = max(page, 0)
        skip = page * self._page_size
        rows: list[v.AccountRow] = []
        has_next = False
        async for account in self._all_accounts():
            if wanted is not None and account.vendor.casefold() != wanted:
                continue
            if sponsor is not None and account.sponsor_aad_id != sponsor:
                continue
            if skip:
                skip -= 1
                continue
            if len(rows) == self._page_size:
                has_next = True
                break
            rows.append(_account_row(account))
        shown_vendor = vendor.strip()[:64] if vendor and wanted else None
        paging = v.Paging(page=page, has_next=has_next, vendor=shown_vendor)
        return accounts_card(v.AccountListView(rows=tuple(rows), all_accounts=see_all, paging=paging))

    async def _all_accounts(self) -> AsyncIterator[ServiceAccount]:
        # ServiceAccounts.list has no sponsor or case-insensitive vendor filter: read in batches, filter here.
        offset = 0
        while True:
            batch = await self._accounts.list(limit=_ACCOUNT_BATCH, offset=offset)
            for account in batch:
                yield account
            if len(batch) < _ACCOUNT_BATCH:
                return
            offset += _ACCOUNT_BATCH

    # ------------------------------------------------------------------ licenses

    async def licenses(self, caller: Clicker) -> CardContent:
        """Each SKU of the profiles and IB preference list: total, used, free, held by the bot's accounts."""
        if not await self._roles.roles_of(caller.aad_object_id):
            await self._refused(caller, "licenses without a role")
            return not_allowed_card("see license seats", "requesters")
        # Someone asked for the numbers: read them now rather than show a cached count.
        reading = await self._seats.refresh()
        held: dict[str, int] = {}
        async for account in self._all_accounts():
            if account.state in _HOLDING_STATES:
                for part in account.license_part_numbers:
                    held[part] = held.get(part, 0) + 1
        rows = []
        for part in self._licensing.part_numbers_to_watch():
            seats = reading.get(part)
            rows.append(
                v.LicenseRow(
                    name=friendly_product_name(part),
                    part_number=part,
                    total=seats.enabled if seats is not None else None,
                    used=seats.consumed if seats is not None else None,
                    free=seats.free if seats is not None else None,
                    held_by_bot=held.get(part, 0),
                    purpose=self._purpose(part),
                )
            )
        return licenses_card(v.LicensesView(rows=tuple(rows), as_of=reading.as_of, stale=reading.stale))

    def _purpose(self, part: str) -> str:
        uses = [f"profile “{p.display_name}”" for p in self._licensing.profiles if part in p.sku_part_numbers]
        preference = self._licensing.ib_capable_preference
        if part in preference:
            uses.append(
                f"information barriers (preference {preference.index(part) + 1} of {len(preference)})"
            )
        return "; ".join(uses)

    # ------------------------------------------------------------------ barriers

    async def barriers(self, caller: Clicker, page: int = 0) -> CardContent:
        """The catalog, its validation result and one page of the PowerShell (approvers, administrators)."""
        roles = await self._roles.roles_of(caller.aad_object_id)
        if not roles & {Role.APPROVER, Role.ADMINISTRATOR}:
            await self._refused(caller, "barriers without approver or administrator role")
            return not_allowed_card("see the information-barrier catalog", "approvers")
        return barriers_card(self.barriers_view(page))

    def barriers_view(self, page: int = 0) -> v.BarriersView:
        """The ``barriers`` card's view for ``page`` (no role check: the caller has done it).

        Page 0 shows the catalog, the validation result and the first part of the script; when the catalog
        summary and a script part do not fit one card together, page 0 is the summary alone and the script
        parts follow on their own pages.
        """
        if self._catalog is None:
            return v.BarriersView(configured=False)
        catalog, validation, script = self._catalog.catalog, self._catalog.validation, self._catalog.script
        parts = split_script(script) if script is not None else []
        overview = v.BarriersView(
            configured=True,
            mode=catalog.mode.value,
            segments=tuple(_segment_row(s) for s in catalog.segments[:MAX_LISTED]),
            policies=tuple(_policy_row(p) for p in catalog.policies[:MAX_LISTED]),
            more_segments=max(len(catalog.segments) - MAX_LISTED, 0),
            more_policies=max(len(catalog.policies) - MAX_LISTED, 0),
            errors=_capped(tuple(issue.message for issue in validation.errors)),
            warnings=_capped(tuple(issue.message for issue in validation.warnings)),
            cli_command=f"{CLI} barriers script --out information-barriers.ps1",
        )
        # Page layout: [overview + part 1, part 2, ...] or, for a large catalog, [overview, part 1, ...].
        overview_bytes = len(json.dumps(barriers_card(overview)).encode("utf-8"))
        first_part = len(parts[0].encode("utf-8")) if parts else 0
        separate = bool(parts) and overview_bytes + first_part * 1.2 > CARD_BYTES_BUDGET
        pages: list[int | None] = ([None] if separate else []) + list(range(len(parts)))
        if not pages:
            pages = [None]
        page = min(max(page, 0), len(pages) - 1)
        index = pages[page]
        return replace(
            overview,
            show_catalog=page == 0,
            script_page=parts[index] if index is not None else None,
            first_line=1 + sum(chunk.count("\n") for chunk in parts[:index]) if index is not None else 1,
            script_part=(index or 0) + 1,
            script_parts=max(len(parts), 1),
            paging=v.Paging(page=page, has_next=page + 1 < len(pages)),
        )

    async def record_barriers_applied(
        self, clicker: Clicker, payload: RecordBarriersAppliedPayload
    ) -> CardContent:
        """An administrator records that IB policy application started for a provisioned, segmented request.

        Recorded once (a once-mark decides between concurrent clicks) as an audit event with its time; the
        approval card then shows who recorded it and when, for everyone.
        """
        # The role first: a refusal must not tell whether the request exists, let alone show it.
        is_admin = await self._roles.has_role(clicker.aad_object_id, Role.ADMINISTRATOR)
        if not is_admin or not clicker.aad_object_id:
            await self._refused(
                clicker, "record barriers by a non-administrator", request_id=payload.request_id
            )
            return not_allowed_card("record that policy application was started", "bot administrators")
        stored = await self._load(payload.request_id)
        if stored is None:
            return not_allowed_card("record this: the request does not exist", None)
        may_act = await self._roles.has_role(clicker.aad_object_id, Role.APPROVER)
        if stored.request.status is not RequestStatus.PROVISIONED or not stored.plan.segment:
            return await self.request_card(
                stored, viewer_may_act=may_act, notice="This request has no segment to apply barriers for."
            )
        key = f"barriers-applied:{stored.request.number}"
        if not await self._marks.claim(key, owner=clicker.aad_object_id):
            recorded = await self._applications.recorded(stored.request.request_id)
            notice = "Policy application was already recorded."
            if recorded is not None:
                notice = f"Already recorded by {recorded.name} at {recorded.at:%d %b %Y, %H:%M} UTC."
            return await self.request_card(stored, viewer_may_act=may_act, notice=notice)
        await self._audit.append(
            AuditAction.BARRIERS_APPLICATION_RECORDED,
            actor_aad_id=clicker.aad_object_id,
            actor_name=clicker.name,
            request_id=stored.request.request_id,
            target=stored.plan.upn,
            detail={"segment": stored.plan.segment},
            at=self._clock(),
        )
        await self._notifier.request_changed(stored.request.number)
        return await self.request_card(stored, viewer_may_act=may_act)

    # ------------------------------------------------------------------ audit export

    async def audit_export(self, caller: Clicker, args: Sequence[str] = ()) -> CardContent:
        """For administrators: the event count of a date range and the CLI command that writes its CSV.

        ``args`` are the words after ``audit export``: none (last 30 days), ``FROM`` or ``FROM TO``.
        """
        if not await self._roles.has_role(caller.aad_object_id, Role.ADMINISTRATOR):
            await self._refused(caller, "audit export by a non-administrator")
            return not_allowed_card("export the audit log", "bot administrators")
        try:
            start, end = audit_range(args, self._clock().astimezone(UTC).date())
        except AuditRangeError as err:
            return not_allowed_card(f"export that range. {err}", None)
        lower, upper = day_bounds(start, end)
        events = 0
        async for _ in self._audit.iter_range(lower, upper):
            events += 1
        command = f"{CLI} audit export --from {start} --to {end} --out audit-{start}-to-{end}.csv"
        return audit_export_card(v.AuditExportView(start=start, end=end, events=events, cli_command=command))

    # ------------------------------------------------------------------ paging

    async def page(self, clicker: Clicker, payload: ListPagePayload) -> CardContent:
        """Previous / Next on a list card: the same list, another page, checked like the command itself."""
        if payload.list_name == "requests":
            return await self.requests(clicker, payload.page)
        if payload.list_name == "accounts":
            return await self.accounts(clicker, payload.vendor, payload.page)
        return await self.barriers(clicker, payload.page)

    # ------------------------------------------------------------------ helpers

    async def _load(self, request_id: str) -> StoredRequest | None:
        try:
            number = domain.parse_request_id(request_id)
        except InvalidRequestId:
            return None
        return await self._requests.get(number)

    async def _refused(self, who: Clicker, reason: str, *, request_id: str | None = None) -> None:
        log.info("refused a command: %s", reason)
        await self._audit.append(
            AuditAction.ACCESS_REFUSED,
            actor_aad_id=who.aad_object_id,
            actor_name=who.name,
            request_id=request_id,
            detail={"reason": reason},
        )


def split_script(script: str, limit: int = SCRIPT_PAGE_CHARS) -> list[str]:
    """The script in pages of whole lines, each at most ``limit`` characters (a longer line stands alone)."""
    pages: list[str] = []
    current: list[str] = []
    size = 0
    for text_line in script.splitlines(keepends=True):
        if current and size + len(text_line) > limit:
            pages.append("".join(current))
            current, size = [], 0
        current.append(text_line)
        size += len(text_line)
    if current:
        pages.append("".join(current))
    return pages


def _segment_row(segment: Segment) -> v.CatalogSegmentRow:
    placement = None
    if segment.kind is SegmentKind.VENDOR:
        try:
            placement = placement_for(segment).describe()
        except SegmentNotPlaceable as err:
            placement = f"cannot be placed: {err}"
    return v.CatalogSegmentRow(
        name=segment.name,
        kind=segment.kind.value,
        user_group_filter=segment.user_group_filter,
        placement=placement,
    )


def _policy_row(policy: Policy) -> v.CatalogPolicyRow:
    return v.CatalogPolicyRow(
        name=policy.effective_name,
        segment=policy.segment,
        relation="blocks" if policy.blocks is not None else "allows only",
        targets=policy.targets,
    )


def _capped(messages: tuple[str, ...]) -> tuple[str, ...]:
    if len(messages) <= MAX_LISTED:
        return messages
    hidden = len(messages) - MAX_LISTED
    return (*messages[:MAX_LISTED], f"… and {hidden} more: run {CLI} barriers script to see them all.")


def _account_row(account: ServiceAccount) -> v.AccountRow:
    return v.AccountRow(
        upn=account.upn,
        contractor_name=account.contractor_name,
        vendor=account.vendor,
        sponsor=account.sponsor_name,
        licenses=tuple(friendly_product_name(part) for part in account.license_part_numbers),
        segment=account.segment,
        end_date=account.end_date,
        state=_STATE_LABELS.get(account.state, account.state.replace("_", " ").capitalize()),
    )
