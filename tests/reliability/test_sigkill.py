"""SIGKILL mid-provisioning: the restarted bot resumes, and the tenant ends as if nothing had crashed.

The sandbox tenant and the bot (sandbox mode, SQLite in a temp folder, a 2 s job lease, 0.1 s polling) run
as subprocesses. Each case seeds an approved request and its ``provision`` job (as the approval desk does),
watches the step log in the bot's database until the run reaches the crash point, ``kill -9``\\ s the bot,
starts it again and waits for the request to be provisioned. The restarted worker takes the job over once the
dead one's lease has run out.

Crash points, each held in place by a latency fault on the Graph call that follows it, so the kill lands
there and nowhere else (each case also checks where it landed):

==================  ===============================================================================
after-check         ``check`` done; ``create``'s look-up of the UPN is in flight; nothing created
during-create       ``POST /users`` in flight when the bot dies: the tenant creates the account after
                    the bot is gone (the case checks that it did), and the restarted run must adopt it
after-create        ``create`` done; ``license`` is reading seats; no license yet
after-license       ``license`` done; ``groups`` is checking memberships; in no group yet
after-groups        ``groups`` done; the request is not provisioned yet (``record`` makes no Graph call,
                    so this one is caught by polling every few milliseconds, retried with a new request
                    if the run slips past)
==================  ===============================================================================

Every case must end in exactly the state of a run without a crash (the first case): one account with the
request's marker, created by one successful ``POST /users``, holding the planned license once, seat count up
by one, one membership of each planned group, every step done, and the request provisioned.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from onboarding.requests import RequestStatus
from provisioning.progress import PROVISIONING_STEPS, STEP_CHECK, STEP_CREATE, STEP_GROUPS, STEP_LICENSE
from provisioning.runner import JOB_PROVISION, provision_payload
from storage.database import Database
from storage.jobs import JobQueue
from storage.requests import RequestStore, StepLog, StepRecord, StepState, StoredRequest
from tests.reliability.processes import BotProcess, DatabaseReader, SandboxProcess, wait_until
from tests.reliability.seeding import REMOTE_ASSIST, Seeder, person
from tests.security.stack import ADAM, ALICE

REQUESTER = person(ALICE.aad_object_id, ALICE.name)
APPROVER = person(ADAM.aad_object_id, ADAM.name)
#: How long a run may take to finish once the bot is back (lease expiry + the remaining steps).
FINISH_TIMEOUT = 45.0
#: Long enough for the test to see the run waiting and kill the bot; short enough to keep the file quick.
STALL_SECONDS = 4.0
#: Attempts to catch the run between two steps where no Graph call holds it (after-groups).
CATCH_ATTEMPTS = 4

Steps = dict[str, StepRecord]


def done(steps: Steps, step: str) -> bool:
    record = steps.get(step)
    return record is not None and record.state is StepState.DONE


def running(steps: Steps, step: str) -> bool:
    record = steps.get(step)
    return record is not None and record.state is StepState.RUNNING


@dataclass(frozen=True)
class Stall:
    """A latency fault: ``route`` waits ``seconds`` (``times=None``: every call until cleared)."""

    route: str
    seconds: float = STALL_SECONDS
    times: int | None = None


@dataclass(frozen=True)
class CrashPoint:
    """Where to kill: ``reached`` on the step log says when; ``landed`` confirms the kill was not too late."""

    name: str
    reached: Callable[[Steps], bool]
    landed: Callable[[Steps, RequestStatus], bool]
    #: Faults injected before the job is enqueued.
    stalls: tuple[Stall, ...] = ()
    #: Faults injected once ``arm_when`` holds (so an earlier step's call to the same route is not delayed).
    arm_when: Callable[[Steps], bool] | None = None
    armed: tuple[Stall, ...] = ()
    #: The account is being created when the bot dies: the tenant finishes the POST after the kill.
    create_in_flight: bool = False
    #: No Graph call holds the run here: poll fast and retry with a new request if the run slips past.
    by_polling: bool = False


CRASH_POINTS = (
    CrashPoint(
        "after-check",
        reached=lambda s: done(s, STEP_CHECK),
        landed=lambda s, status: not done(s, STEP_CREATE),
        # The check's look-up of the UPN, then the create step's: both wait; the kill lands in the second.
        stalls=(Stall("GET /users/{id}", seconds=1.5, times=2),),
    ),
    CrashPoint(
        "during-create",
        reached=lambda s: running(s, STEP_CREATE),
        landed=lambda s, status: not done(s, STEP_CREATE),
        stalls=(Stall("POST /users", seconds=2.5, times=1),),
        create_in_flight=True,
    ),
    CrashPoint(
        "after-create",
        reached=lambda s: done(s, STEP_CREATE),
        landed=lambda s, status: not done(s, STEP_LICENSE),
        # POST /users waits a moment, so the seat read can be slowed for the license step only (the check
        # step reads seats too, before).
        stalls=(Stall("POST /users", seconds=1.0, times=1),),
        arm_when=lambda s: running(s, STEP_CREATE),
        armed=(Stall("GET /subscribedSkus"),),
    ),
    CrashPoint(
        "after-license",
        reached=lambda s: done(s, STEP_LICENSE),
        landed=lambda s, status: not done(s, STEP_GROUPS),
        stalls=(Stall("POST /users/{id}/checkMemberGroups"),),
    ),
    CrashPoint(
        "after-groups",
        reached=lambda s: done(s, STEP_GROUPS),
        landed=lambda s, status: status is RequestStatus.PROVISIONING,
        by_polling=True,
    ),
)


@dataclass(frozen=True)
class Outcome:
    """The tenant and the request after a run, in terms that do not depend on which request it was."""

    accounts_with_marker: int
    successful_creates: int
    licenses: tuple[str, ...]
    seats_used: int
    memberships: tuple[int, ...]
    steps: tuple[tuple[str, StepState], ...]
    status: RequestStatus


@dataclass
class Stack:
    """The sandbox and bot subprocesses and a reader of the bot's database."""

    sandbox: SandboxProcess
    bot: BotProcess
    db: DatabaseReader
    timings: dict[str, float] = field(default_factory=dict)

    def seed(self) -> StoredRequest:
        """An approved request and its provision job, as the approval desk leaves them."""

        async def work(database: Database) -> StoredRequest:
            stored = await Seeder(database).approved(REQUESTER, APPROVER)
            number = stored.request.number
            await JobQueue(database).enqueue(
                JOB_PROVISION, provision_payload(number), dedupe_key=f"{JOB_PROVISION}:{number}"
            )
            return stored

        return self.db.run(work)

    def steps(self, number: int) -> Steps:
        return self.db.run(lambda database: StepLog(database).steps(number))

    def status(self, number: int) -> RequestStatus:
        async def read(database: Database) -> RequestStatus:
            stored = await RequestStore(database).get(number)
            assert stored is not None
            return stored.request.status

        return self.db.run(read)

    def inject(self, stalls: tuple[Stall, ...]) -> None:
        for stall in stalls:
            self.sandbox.inject("latency", stall.route, times=stall.times, seconds=stall.seconds)

    def creates(self, marker: str) -> list[dict[str, Any]]:
        """The ``POST /users`` the tenant answered for accounts carrying ``marker``."""
        return [
            r
            for r in self.sandbox.recorded()
            if r["method"] == "POST"
            and r["route"] == "POST /users"
            and isinstance(r["body"], dict)
            and r["body"].get("employeeId") == marker
        ]

    def wait_finished(self, number: int) -> RequestStatus:
        finished = {RequestStatus.PROVISIONED, RequestStatus.FAILED}
        try:
            wait_until(
                lambda: self.status(number) in finished,
                timeout=FINISH_TIMEOUT,
                interval=0.1,
                what=f"request {number} to finish",
            )
        except TimeoutError as err:
            raise AssertionError(f"{err}\n{self.bot.log_tail()}") from None
        return self.status(number)

    def outcome(self, stored: StoredRequest, seats_before: int) -> Outcome:
        marker = stored.plan.employee_id
        users = self.sandbox.users_with_marker(marker)
        part_of = {self.sandbox.sku_id(REMOTE_ASSIST): REMOTE_ASSIST}
        licenses: tuple[str, ...] = ()
        memberships: tuple[int, ...] = ()
        if len(users) == 1:
            user_id = users[0]["id"]
            held = self.sandbox.assigned_sku_ids(user_id)
            licenses = tuple(sorted(part_of.get(sku, sku) for sku in held))
            memberships = tuple(
                self.sandbox.member_ids(group).count(user_id) for group in stored.plan.group_ids
            )
        steps = self.steps(stored.request.number)
        return Outcome(
            accounts_with_marker=len(users),
            successful_creates=sum(1 for r in self.creates(marker) if r["status"] < 300),
            licenses=licenses,
            seats_used=self.sandbox.seats(REMOTE_ASSIST)[0] - seats_before,
            memberships=memberships,
            steps=tuple((step, steps[step].state) for step in PROVISIONING_STEPS if step in steps),
            status=self.status(stored.request.number),
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, module_database_url: str | None) -> Iterator[Stack]:
    root: Path = tmp_path_factory.mktemp("sigkill")
    with SandboxProcess(root / "sandbox") as sandbox:
        bot = BotProcess(
            "bot-a", data_dir=root / "bot", graph_base_url=sandbox.base_url, database_url=module_database_url
        )
        with bot, DatabaseReader(bot.database_url) as db:
            yield Stack(sandbox, bot, db)


@pytest.fixture(scope="module")
def no_crash(stack: Stack) -> Outcome:
    """The outcome of a run nobody interrupts: what every crashed run must end in."""
    seats_before = stack.sandbox.seats(REMOTE_ASSIST)[0]
    stored = stack.seed()
    stack.wait_finished(stored.request.number)
    return stack.outcome(stored, seats_before)


def test_an_uninterrupted_run_provisions_one_complete_account(no_crash: Outcome) -> None:
    group_count = len(no_crash.memberships)
    assert no_crash == Outcome(
        accounts_with_marker=1,
        successful_creates=1,
        licenses=(REMOTE_ASSIST,),
        seats_used=1,
        memberships=(1,) * group_count,
        steps=tuple((step, StepState.DONE) for step in PROVISIONING_STEPS),
        status=RequestStatus.PROVISIONED,
    )
    assert group_count >= 1


def crash_once(stack: Stack, point: CrashPoint) -> tuple[StoredRequest, int] | None:
    """Seed, run to ``point``, kill -9 there, restart; None when the run slipped past an unheld point."""
    sandbox, bot = stack.sandbox, stack.bot
    seats_before = sandbox.seats(REMOTE_ASSIST)[0]
    stack.inject(point.stalls)
    stored = stack.seed()
    number = stored.request.number
    if point.arm_when is not None:
        arm_when = point.arm_when
        wait_until(lambda: arm_when(stack.steps(number)), timeout=20, interval=0.01, what="arming")
        stack.inject(point.armed)
    wait_until(
        lambda: point.reached(stack.steps(number)),
        timeout=20,
        interval=0.002 if point.by_polling else 0.01,
        what=f"the run to reach {point.name}",
    )
    if point.create_in_flight:
        # The password is stored and the POST sent a few milliseconds after the step starts.
        time.sleep(0.5)
    bot.kill9()
    killed_at = time.monotonic()
    at_kill, status_at_kill = stack.steps(number), stack.status(number)
    sandbox.clear_faults()
    if not point.landed(at_kill, status_at_kill):
        assert point.by_polling, f"the kill landed past {point.name}: {at_kill}, {status_at_kill}"
        bot.start()
        stack.wait_finished(number)
        return None
    if point.create_in_flight:
        marker = stored.plan.employee_id
        assert stack.creates(marker) == [], "the POST /users had already been answered when the bot died"
        # The tenant carries the request out although its caller is gone.
        wait_until(lambda: bool(stack.creates(marker)), timeout=10, what="the orphaned POST /users to land")
    bot.start()
    stack.timings[point.name] = time.monotonic() - killed_at
    return stored, seats_before


@pytest.mark.parametrize("point", CRASH_POINTS, ids=[p.name for p in CRASH_POINTS])
def test_a_run_killed_and_restarted_ends_as_without_the_crash(
    stack: Stack, no_crash: Outcome, point: CrashPoint
) -> None:
    for _ in range(CATCH_ATTEMPTS if point.by_polling else 1):
        crashed = crash_once(stack, point)
        if crashed is not None:
            break
    else:
        pytest.fail(f"the run never stopped at {point.name} in {CATCH_ATTEMPTS} attempts")
    stored, seats_before = crashed
    stack.wait_finished(stored.request.number)
    assert stack.outcome(stored, seats_before) == no_crash
