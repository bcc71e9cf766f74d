"""``segment_changes``: proposals to move a service account to another information-barrier segment.

A change is proposed (``pending``), decided by an approver (``approved`` or ``rejected``) and then run in
the background (``applied`` or ``failed``; a failed change may be run again). Status changes are a
compare-and-set on ``version``, like a request's, so two approvers clicking at once cannot both win. The
run records each step it finished, so a resumed run starts after the last one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, insert, select, update

from storage.clock import Clock, utc_now
from storage.database import Database
from storage.errors import ConcurrencyError, StorageError
from storage.models import SegmentChangeRow

__all__ = [
    "OPEN_STATUSES",
    "ChangeAlreadyOpen",
    "ChangeDecision",
    "ChangeStatus",
    "SegmentChange",
    "SegmentChanges",
    "change_id",
]

_PREFIX = "SEG-"


class ChangeAlreadyOpen(StorageError):
    """The account already has an open segment change (``number``): decide or finish that one first."""

    code = "storage.segment_change_open"

    def __init__(self, number: int) -> None:
        super().__init__(f"{change_id(number)} is still open for this account")
        self.number = number


class ChangeStatus(StrEnum):
    """Where a segment change is. Values are stored."""

    PENDING = "pending"
    APPROVED = "approved"
    APPLIED = "applied"
    FAILED = "failed"
    REJECTED = "rejected"


#: A change in one of these still stands for its account: a second proposal must wait.
OPEN_STATUSES: tuple[ChangeStatus, ...] = (ChangeStatus.PENDING, ChangeStatus.APPROVED, ChangeStatus.FAILED)


def change_id(number: int) -> str:
    """The id people read ("SEG-7") for change ``number``."""
    return f"{_PREFIX}{number}"


def change_number(identifier: str) -> int | None:
    """The number in "SEG-7" (or "7"), or ``None`` when ``identifier`` is not one."""
    text = identifier.strip().upper().removeprefix(_PREFIX)
    return int(text) if text.isdigit() and len(text) < 19 else None


@dataclass(frozen=True, slots=True)
class ChangeDecision:
    """Who approved or rejected a change, when, and why."""

    aad_id: str
    name: str
    at: datetime
    comment: str = ""


@dataclass(frozen=True, slots=True)
class SegmentChange:
    """One segment change as stored."""

    number: int
    upn: str
    user_id: str
    from_segment: str | None
    to_segment: str
    status: ChangeStatus
    version: int
    proposed_by_aad_id: str
    proposed_by_name: str
    decision: ChangeDecision | None
    steps_done: tuple[str, ...]
    added_license: str | None
    failure: str | None
    card_activity_id: str | None
    card_conversation_json: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def change_id(self) -> str:
        """ "SEG-<number>"."""
        return change_id(self.number)


class SegmentChanges:
    """Create, read and move segment changes (compare-and-set on ``version``)."""

    def __init__(self, database: Database, *, clock: Clock = utc_now) -> None:
        """Use ``database``; ``clock`` stamps the rows."""
        self._db = database
        self._clock = clock

    async def propose(
        self,
        *,
        upn: str,
        user_id: str,
        from_segment: str | None,
        to_segment: str,
        proposed_by_aad_id: str,
        proposed_by_name: str,
    ) -> SegmentChange:
        """Store a pending change; :class:`ChangeAlreadyOpen` when the account already has an open one."""
        now = self._clock()
        key = upn.strip().lower()
        async with self._db.transaction(write=True) as conn:
            open_one = (
                await conn.execute(
                    select(SegmentChangeRow.id).where(
                        SegmentChangeRow.upn == key,
                        SegmentChangeRow.status.in_([s.value for s in OPEN_STATUSES]),
                    )
                )
            ).first()
            if open_one is not None:
                raise ChangeAlreadyOpen(int(open_one[0]))
            result = await conn.execute(
                insert(SegmentChangeRow)
                .values(
                    upn=key,
                    user_id=user_id,
                    from_segment=from_segment,
                    to_segment=to_segment,
                    status=ChangeStatus.PENDING.value,
                    version=1,
                    proposed_by_aad_id=proposed_by_aad_id.strip().lower(),
                    proposed_by_name=proposed_by_name,
                    decision_json=None,
                    steps_done_json="[]",
                    created_at=now,
                    updated_at=now,
                )
                .returning(SegmentChangeRow.id)
            )
            number = int(result.scalar_one())
        found = await self.get(number)
        assert found is not None  # just inserted in a committed transaction
        return found

    async def get(self, number: int) -> SegmentChange | None:
        """The change ``number``, or ``None``."""
        async with self._db.transaction(write=False) as conn:
            row = (await conn.execute(select(SegmentChangeRow).where(SegmentChangeRow.id == number))).first()
        return None if row is None else _change(row)

    async def open_for(self, upn: str) -> SegmentChange | None:
        """The open (pending, approved or failed) change of the account ``upn``, if any."""
        async with self._db.transaction(write=False) as conn:
            row = (
                await conn.execute(
                    select(SegmentChangeRow)
                    .where(
                        SegmentChangeRow.upn == upn.strip().lower(),
                        SegmentChangeRow.status.in_([s.value for s in OPEN_STATUSES]),
                    )
                    .order_by(SegmentChangeRow.id.desc())
                    .limit(1)
                )
            ).first()
        return None if row is None else _change(row)

    async def transition(
        self,
        number: int,
        *,
        expected_version: int,
        status: ChangeStatus,
        decision: ChangeDecision | None = None,
        failure: str | None = None,
    ) -> SegmentChange:
        """Move the change to ``status`` if still at ``expected_version``, else :class:`ConcurrencyError`."""
        values: dict[str, Any] = {
            "status": status.value,
            "version": expected_version + 1,
            "failure": failure,
            "updated_at": self._clock(),
        }
        if decision is not None:
            values["decision_json"] = json.dumps(
                {
                    "aad_id": decision.aad_id,
                    "name": decision.name,
                    "at": decision.at.isoformat(),
                    "comment": decision.comment,
                }
            )
        statement = (
            update(SegmentChangeRow)
            .where(SegmentChangeRow.id == number, SegmentChangeRow.version == expected_version)
            .values(**values)
            .returning(SegmentChangeRow.id)
        )
        async with self._db.transaction(write=True) as conn:
            if (await conn.execute(statement)).first() is None:
                raise ConcurrencyError(change_id(number), str(expected_version))
        found = await self.get(number)
        assert found is not None
        return found

    async def step_done(self, number: int, step: str, *, added_license: str | None = None) -> None:
        """Record that the run finished ``step`` (and, for the license step, what it added)."""
        async with self._db.transaction(write=True) as conn:
            row = (
                await conn.execute(
                    select(SegmentChangeRow.steps_done_json).where(SegmentChangeRow.id == number)
                )
            ).first()
            if row is None:
                return
            done = list(json.loads(row[0]))
            if step not in done:
                done.append(step)
            values: dict[str, Any] = {"steps_done_json": json.dumps(done), "updated_at": self._clock()}
            if added_license is not None:
                values["added_license"] = added_license
            await conn.execute(update(SegmentChangeRow).where(SegmentChangeRow.id == number).values(**values))

    async def set_card(self, number: int, activity_id: str, conversation_json: str) -> None:
        """Remember where the approval card was posted, to update it in place."""
        async with self._db.transaction(write=True) as conn:
            await conn.execute(
                update(SegmentChangeRow)
                .where(SegmentChangeRow.id == number)
                .values(card_activity_id=activity_id, card_conversation_json=conversation_json)
            )


def _change(row: Row[Any]) -> SegmentChange:
    # A Core connection returns the entity's columns, not an ORM object: read them by name.
    item = row._asdict()
    decision = None
    if item["decision_json"]:
        raw = json.loads(item["decision_json"])
        decision = ChangeDecision(
            aad_id=raw["aad_id"],
            name=raw["name"],
            at=datetime.fromisoformat(raw["at"]),
            comment=raw["comment"],
        )
    return SegmentChange(
        number=item["id"],
        upn=item["upn"],
        user_id=item["user_id"],
        from_segment=item["from_segment"],
        to_segment=item["to_segment"],
        status=ChangeStatus(item["status"]),
        version=item["version"],
        proposed_by_aad_id=item["proposed_by_aad_id"],
        proposed_by_name=item["proposed_by_name"],
        decision=decision,
        steps_done=tuple(json.loads(item["steps_done_json"])),
        added_license=item["added_license"],
        failure=item["failure"],
        card_activity_id=item["card_activity_id"],
        card_conversation_json=item["card_conversation_json"],
        created_at=item["created_at"],
        updated_at=item["updated_at"],
    )
