"""PasswordResetter against the sandbox: a new temporary password set in Graph, revealable once by the person
who asked, never in the audit log, resumable after a crash."""

# Fixtures are imported, then requested by name as parameters: pytest's pattern, not a redefinition.
# ruff: noqa: F811

from __future__ import annotations

import json

import pytest

from onboarding.audit import AuditAction
from storage.vault import RevealRefused
from tests.provisioning.lifecycle_support import UPN, lifecycle_on, provisioned
from tests.provisioning.pipeline_fixtures import (  # noqa: F401  (fixtures)
    ADAM,
    ALICE,
    Pipeline,
    pipeline,
)


class Crash(Exception):
    """Raised from a checkpoint: the process dies there."""


def _password_changes(pipeline: Pipeline) -> int:
    return sum(1 for r in pipeline.sandbox.tenant.requests.for_route("PATCH /users/{id}") if r.status < 400)


async def test_a_reset_sets_a_password_only_the_asker_can_reveal_once(pipeline: Pipeline) -> None:
    account = await provisioned(pipeline)
    life = lifecycle_on(pipeline)
    assert await life.resetter().reset(UPN, key="k1", by=ALICE)
    password = await life.vault.reveal(account.request_number, ALICE.aad_object_id)
    again = await life.vault.reveal(account.request_number, ALICE.aad_object_id)
    assert not isinstance(password, RevealRefused)
    assert len(password) >= 16
    assert again is RevealRefused.ALREADY_REVEALED


async def test_a_reset_password_cannot_be_revealed_by_someone_else(pipeline: Pipeline) -> None:
    account = await provisioned(pipeline)
    life = lifecycle_on(pipeline)
    await life.resetter().reset(UPN, key="k1", by=ALICE)
    assert await life.vault.reveal(account.request_number, ADAM.aad_object_id) is RevealRefused.NOT_YOURS


async def test_a_reset_forces_a_change_at_next_sign_in_and_revokes_sessions(pipeline: Pipeline) -> None:
    await provisioned(pipeline)
    await lifecycle_on(pipeline).resetter().reset(UPN, key="k1", by=ALICE)
    [user] = pipeline.users_with_marker("VND-000001")
    assert user["passwordProfile"]["forceChangePasswordNextSignIn"] is True
    assert pipeline.writes("POST /users/{id}/revokeSignInSessions") == 1


async def test_the_asker_is_sent_the_reveal_card_once(pipeline: Pipeline) -> None:
    await provisioned(pipeline)
    life = lifecycle_on(pipeline)
    await life.resetter().reset(UPN, key="k1", by=ALICE)
    await life.resetter().reset(UPN, key="k1", by=ALICE)
    assert life.notices.resets == [(UPN, ALICE.aad_object_id)]


async def test_a_crash_after_storing_resumes_with_the_stored_password(pipeline: Pipeline) -> None:
    await provisioned(pipeline)
    life = lifecycle_on(pipeline)

    async def crash(reached: str) -> None:
        if reached == "store:done":
            raise Crash(reached)

    with pytest.raises(Crash):
        await life.resetter(checkpoint=crash).reset(UPN, key="k1", by=ALICE)
    assert await life.resetter().reset(UPN, key="k1", by=ALICE)
    assert _password_changes(pipeline) == 1


async def test_no_password_reaches_the_audit_log(pipeline: Pipeline) -> None:
    account = await provisioned(pipeline)
    life = lifecycle_on(pipeline)
    await life.resetter().reset(UPN, key="k1", by=ALICE)
    password = await life.vault.reveal(account.request_number, ALICE.aad_object_id)
    assert not isinstance(password, RevealRefused)
    records = await life.audit.for_request("VND-000001")
    assert AuditAction.CREDENTIALS_RESET in [r.action for r in records]
    assert all(password not in json.dumps(r.detail) for r in records)
