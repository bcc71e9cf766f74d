"""When an administrator recorded that information-barrier policy application was started.

Kept as an audit event, so it is exported with the rest and needs no table of its own; the approval
card reads it back to show "Policy application started by X at T".
"""

from __future__ import annotations

from cards import views as v
from onboarding.audit import AuditAction
from storage.audit import AuditLog


class BarriersApplications:
    """When an administrator recorded that information-barrier policy application was started, per request.

    The record is an audit event (:attr:`AuditAction.BARRIERS_APPLICATION_RECORDED`), so it is exported with
    the rest; :meth:`recorded` reads it back for the approval card.
    """

    def __init__(self, audit: AuditLog) -> None:
        self._audit = audit

    async def recorded(self, request_id: str) -> v.ActorAt | None:
        """Who recorded the application for ``request_id`` and when (the first record), or ``None``."""
        found = await self._audit.query(
            request_id=request_id, action=AuditAction.BARRIERS_APPLICATION_RECORDED.value, limit=1
        )
        if not found:
            return None
        return v.ActorAt(found[0].actor_name or "an administrator", found[0].at)
