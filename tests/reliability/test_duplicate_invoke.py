"""The same invoke delivered twice (Teams re-sends slow invokes, with the same id or a new one): one effect.

Real bot over HTTP (sandbox mode), approvals seeded in its database. Whatever the delivery, the request is
approved once, one provisioning job exists, one approval is audited, and the second answer tells the
clicker it is already decided (never an error, never a 5xx).
"""

# Fixtures are imported, then requested by name as parameters: pytest's pattern, not a redefinition.
# ruff: noqa: F811

from __future__ import annotations

import copy
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from cards.actions import Verb
from onboarding.audit import AuditAction
from onboarding.requests import RequestStatus
from provisioning.runner import JOB_PROVISION, provision_payload
from storage.audit import AuditLog
from storage.database import Database
from storage.models import JobRow
from tests.reliability.seeding import Seeder
from tests.reliability.test_authorization_matrix import REQUESTER, SPONSOR, Bot, bot, send  # noqa: F401
from tests.security.stack import PAULA, execute_value


def approve_activity(bot: Bot, request_id: str, version: int) -> dict[str, Any]:
    data = {"requestId": request_id, "cardVersion": version}
    return bot.stack.invoke(
        execute_value(Verb.APPROVAL_APPROVE, data),
        person=PAULA,
        conversation={"id": "19:vendor-approvals@thread.tacv2;messageid=1", "conversationType": "channel"},
    )


def effects(bot: Bot, number: int, request_id: str) -> tuple[RequestStatus, int, int]:
    """(status, provisioning jobs for the request, approvals audited).

    Only this request's ``provision`` jobs count: the bot's own jobs (the lifecycle sweep re-enqueues
    itself) come and go meanwhile.
    """

    async def read(database: Database) -> tuple[int, int]:
        mine = (JobRow.kind == JOB_PROVISION) & (JobRow.payload_json == provision_payload(number))
        async with database.transaction(write=False) as conn:
            jobs = (await conn.execute(select(func.count()).select_from(JobRow).where(mine))).scalar_one()
        audited = await AuditLog(database).query(action=AuditAction.REQUEST_APPROVED, request_id=request_id)
        return jobs, len(audited)

    jobs, audited = bot.db(read)
    return bot.status_of(number), jobs, audited


@pytest.mark.parametrize("same_id", [True, False], ids=["same-activity-id", "new-activity-id"])
def test_an_approval_delivered_twice_takes_effect_once(bot: Bot, same_id: bool) -> None:
    stored = bot.db(lambda db: Seeder(db).pending(REQUESTER, SPONSOR))
    first = approve_activity(bot, stored.request.request_id, stored.version)
    second = copy.deepcopy(first)
    if not same_id:
        second["id"] = str(uuid.uuid4())
    answers = [send(bot, first, "approver"), send(bot, second, "approver")]
    status, jobs, audited = effects(bot, stored.request.number, stored.request.request_id)
    assert [a.status for a in answers] == [200, 200]
    assert status is not RequestStatus.PENDING_APPROVAL
    assert jobs == 1
    assert audited == 1
    assert "Already approved by Paula Approver" in answers[1].text


def test_two_deliveries_at_the_same_moment_take_effect_once(bot: Bot) -> None:
    stored = bot.db(lambda db: Seeder(db).pending(REQUESTER, SPONSOR))
    first = approve_activity(bot, stored.request.request_id, stored.version)
    copies = [copy.deepcopy(first) for _ in range(6)]
    for n, activity in enumerate(copies):
        if n % 2:
            activity["id"] = str(uuid.uuid4())
    # Each delivery on its own connection, all at once (the stack's session is not shared across threads).

    def post(activity: dict[str, Any]) -> int:
        return requests.post(bot.stack.endpoint, json=activity, timeout=30).status_code

    with ThreadPoolExecutor(len(copies)) as pool:
        statuses = list(pool.map(post, copies))
    _, jobs, audited = effects(bot, stored.request.number, stored.request.request_id)
    assert statuses == [200] * len(copies)
    assert (jobs, audited) == (1, 1)
