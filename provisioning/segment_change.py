"""Move an existing service account to another information-barrier segment (issue 5, item 5).

An approved :class:`~storage.segment_changes.SegmentChange` runs as named, idempotent steps, each recorded
when done so a resumed run starts after the last one:

``place``    set the new segment's attribute (``PATCH /users``) or add the account to its group;
``unplace``  clear the old segment's attribute (when the new one does not overwrite it) or leave its group;
``license``  add an IB-capable license (the first preferred with a free seat) if the account has none;
``record``   the service-account record's segment (and licenses).

The run never touches information-barrier policies (Graph has no API for them): the result says that an
administrator must run ``Start-InformationBarrierPoliciesApplication`` before the move takes effect.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Final, Protocol
from uuid import UUID

from onboarding.audit import AuditAction
from onboarding.errors import SegmentError
from onboarding.segments import AttributePlacement, GroupPlacement, Placement, SegmentCatalog, placement_for
from provisioning.directory import DirectoryUser, LicenseAssignment, SkuSeats, UserChanges
from provisioning.errors import GraphError
from provisioning.reasons import REASONS, failure_reason
from storage.accounts import ServiceAccounts
from storage.audit import AuditLog
from storage.jobs import Job
from storage.segment_changes import ChangeStatus, SegmentChange, SegmentChanges

__all__ = ["JOB_SEGMENT_CHANGE", "SegmentChangeFailed", "SegmentChangeRunner", "SegmentGateway"]

JOB_SEGMENT_CHANGE: Final = "segment_change"
STEPS: Final = ("place", "unplace", "license", "record")
#: The failure reasons' "trying to {action}" per step.
_STEP_ACTIONS: Final = {
    "place": "place the account in its new segment",
    "unplace": "take the account out of its old segment",
    "license": "assign a license that includes information barriers",
    "record": "record the account's new segment",
}
_EXTENSION: Final = "onPremisesExtensionAttributes.extensionAttribute"

log = logging.getLogger(__name__)


class SegmentGateway(Protocol):
    """What the run needs of the Graph gateway."""

    async def get_user(self, id_or_upn: str) -> DirectoryUser: ...
    async def update_user(self, user_id: str, changes: UserChanges) -> None: ...
    async def add_group_member(self, group_id: str, member_id: str) -> None: ...
    async def remove_group_member(self, group_id: str, member_id: str) -> None: ...
    async def list_skus(self) -> tuple[SkuSeats, ...]: ...
    async def assign_licenses(
        self, user_id: str, add: Sequence[LicenseAssignment] = (), remove: Sequence[UUID] = ()
    ) -> None: ...


class SegmentChangeFailed(Exception):
    """A step cannot succeed as things are (the reason is shown on the card); retrying will not help."""

    retryable = False


def _graph_reason(err: GraphError, step: str, upn: str) -> str:
    """What the card says when a Graph call of ``step`` failed for good (see :mod:`provisioning.reasons`)."""
    action = _STEP_ACTIONS[step]
    if err.retryable:
        return failure_reason("graph.gave_up", action=action)
    code = err.code if err.code in REASONS else "graph.invalid_request"
    return failure_reason(
        code,
        upn=upn,
        action=action,
        graph_code=err.graph_code or err.code,
        request_id=err.request_id or "none",
    )


def attribute_changes(placement: AttributePlacement, value: str | None) -> UserChanges:
    """The ``PATCH`` that sets (or, with ``None``, clears) the placement's property."""
    prop = placement.graph_property
    if prop.startswith(_EXTENSION):
        return UserChanges(extension_attributes=((int(prop.removeprefix(_EXTENSION)), value),))
    if prop == "department":
        return UserChanges(department=value)
    if prop == "companyName":
        return UserChanges(company_name=value)
    if prop == "usageLocation" and value is not None:
        return UserChanges(usage_location=value)
    raise SegmentChangeFailed(f"the bot cannot {'set' if value else 'clear'} {prop} of an existing account")


class SegmentChangeRunner:
    """Runs approved segment changes; ``job_handlers()`` gives the worker its ``segment_change`` handler."""

    def __init__(
        self,
        *,
        gateway: SegmentGateway,
        changes: SegmentChanges,
        accounts: ServiceAccounts,
        audit: AuditLog,
        catalog: SegmentCatalog,
        ib_capable_preference: Sequence[str],
        on_changed: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        """``on_changed(number)`` is called after the change reached applied or failed (updates its card)."""
        self._gateway = gateway
        self._changes = changes
        self._accounts = accounts
        self._audit = audit
        self._catalog = catalog
        self._preference = tuple(ib_capable_preference)
        self._on_changed = on_changed

    def job_handlers(self) -> dict[str, Callable[[Job], Awaitable[None]]]:
        """``segment_change`` jobs, payload ``{"number": n}``."""
        return {JOB_SEGMENT_CHANGE: self.run_job}

    async def run_job(self, job: Job) -> None:
        """The worker's handler: a transient Graph error is retried by the queue until its last attempt."""
        await self.run(
            int(json.loads(job.payload_json)["number"]), last_attempt=job.attempts >= job.max_attempts
        )

    async def run(self, number: int, *, last_attempt: bool = True) -> SegmentChange | None:
        """Run (or resume) change ``number``; a change that is not approved (or failed) is left alone.

        A step that cannot succeed, or a Graph error that retrying cannot help, fails the change with the
        reason on its card (an approver can retry it). A transient Graph error is raised for the job queue
        to retry, unless ``last_attempt``: then the change fails too, never left "approved" with no job.
        """
        change = await self._changes.get(number)
        if change is None or change.status not in (ChangeStatus.APPROVED, ChangeStatus.FAILED):
            return change
        step = STEPS[0]
        try:
            new = placement_for(self._catalog.segment(change.to_segment))
            old = self._old_placement(change)
            for step in STEPS:
                if step in change.steps_done:
                    continue
                added = await self._step(step, change, new, old)
                await self._changes.step_done(number, step, added_license=added)
                if added is not None:
                    change = replace(change, added_license=added)
        except SegmentChangeFailed as err:
            return await self._finish(change, ChangeStatus.FAILED, failure=str(err))
        except SegmentError as err:
            # The catalog the bot runs with no longer has (or cannot place) the target: retrying cannot help
            # until an administrator fixes the catalog, so the card says so instead of the job dying.
            return await self._finish(
                change, ChangeStatus.FAILED, failure=f"{err}; check the segment catalog"
            )
        except GraphError as err:
            if err.retryable and not last_attempt:
                raise
            log.warning(
                "segment change failed at a Graph call",
                extra={"change": change.change_id, "step": step, "error_code": err.code},
            )
            return await self._finish(
                change, ChangeStatus.FAILED, failure=_graph_reason(err, step, change.upn)
            )
        return await self._finish(change, ChangeStatus.APPLIED)

    def _old_placement(self, change: SegmentChange) -> Placement | None:
        if change.from_segment is None:
            return None
        old = self._catalog.find(change.from_segment)
        # A segment gone from the catalog: nothing known to undo; the script no longer selects it either.
        return placement_for(old) if old is not None else None

    async def _step(
        self, step: str, change: SegmentChange, new: Placement, old: Placement | None
    ) -> str | None:
        user = change.user_id
        if step == "place":
            if isinstance(new, GroupPlacement):
                await self._gateway.add_group_member(new.group_id, user)
            else:
                await self._gateway.update_user(user, attribute_changes(new, new.value))
            await self._audit.append(
                AuditAction.SEGMENT_CHANGED,
                actor_name="segment change",
                target=change.upn,
                detail={"change": change.change_id, "step": step, "segment": change.to_segment},
            )
        elif step == "unplace" and old is not None and old != new:
            if isinstance(old, GroupPlacement):
                if not (isinstance(new, GroupPlacement) and new.group_id == old.group_id):
                    await self._gateway.remove_group_member(old.group_id, user)
            elif not (isinstance(new, AttributePlacement) and new.graph_property == old.graph_property):
                await self._gateway.update_user(user, attribute_changes(old, None))
        elif step == "license":
            return await self._ensure_ib_license(change)
        elif step == "record":
            account = await self._accounts.get(change.upn)
            if account is not None:
                parts = account.license_part_numbers
                if change.added_license and change.added_license not in parts:
                    parts = (*parts, change.added_license)
                await self._accounts.record(
                    replace(account, segment=change.to_segment, license_part_numbers=parts)
                )
        return None

    async def _ensure_ib_license(self, change: SegmentChange) -> str | None:
        skus = {sku.part_number: sku for sku in await self._gateway.list_skus()}
        ib_ids = {skus[p].sku_id for p in self._preference if p in skus}
        held = (await self._gateway.get_user(change.user_id)).assigned_sku_ids
        if held & ib_ids:
            return None
        for part in self._preference:
            sku = skus.get(part)
            if sku is not None and sku.free > 0 and sku.capability_status == "Enabled":
                await self._gateway.assign_licenses(
                    change.user_id, add=[LicenseAssignment(sku_id=sku.sku_id)]
                )
                return part
        raise SegmentChangeFailed(
            "no license that includes information barriers has a free seat ("
            + ", ".join(self._preference)
            + ")"
        )

    async def _finish(
        self, change: SegmentChange, status: ChangeStatus, *, failure: str | None = None
    ) -> SegmentChange:
        current = await self._changes.get(change.number)
        assert current is not None
        done = await self._changes.transition(
            change.number, expected_version=current.version, status=status, failure=failure
        )
        if status is ChangeStatus.APPLIED:
            await self._audit.append(
                AuditAction.SEGMENT_CHANGED,
                actor_name="segment change",
                target=change.upn,
                detail={
                    "change": change.change_id,
                    "from": change.from_segment,
                    "to": change.to_segment,
                    "addedLicense": done.added_license,
                    "reapply": "Start-InformationBarrierPoliciesApplication",
                },
            )
        if self._on_changed is not None:
            await self._on_changed(change.number)
        return done
