"""Composition root: settings -> storage, Graph gateway, adapter, bot; aiohttp routes.

Nothing is built at import time. ``create_app(settings)`` returns an aiohttp application whose
resources (database, Graph client, background worker) are opened in a ``cleanup_ctx`` and closed on
shutdown, in reverse order. ``python app.py`` reads the settings, refuses to start when they are
incomplete (exit status 2, naming what is missing), and serves.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from importlib import metadata

from aiohttp import web
from botbuilder.core import ConversationState, MessageFactory, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import ActivityTypes
from cryptography.fernet import Fernet

from bot.approvals import ApprovalDesk
from bot.auth import create_bot_authentication, speed_up_msrest_retry_policy
from bot.barriers_record import BarriersApplications
from bot.bulk_desk import BulkDesk
from bot.commands_desk import CommandDesk
from bot.handler import VendorOnboardingBot
from bot.lifecycle_desk import LifecycleDesk, LifecycleNotifier
from bot.notifier import TeamsNotifier
from bot.roles import Role, RoleDirectory, RoleGroups
from bot.seats import SeatSnapshot
from bot.segment_change import SegmentChangeDesk
from bot.state_storage import DatabaseStorage
from bot.wizard_service import WizardService
from cards.wizard import wizard_ended_card
from dialogs.onboarding_wizard import OnboardingWizard
from observability import configure_logging, correlation, current_correlation_id
from onboarding.config import OnboardingConfig, load_onboarding_config
from onboarding.segments import SegmentCatalog, load_catalog
from provisioning.bulk import BulkRunner
from provisioning.credentials import PasswordResetter
from provisioning.graph import GraphGateway, create_graph_gateway
from provisioning.graph_calls import RequestIdCapture
from provisioning.lifecycle import LifecycleScheduler
from provisioning.offboarding import OffboardingRunner
from provisioning.runner import ProvisioningRunner
from provisioning.segment_change import SegmentChangeRunner
from provisioning.worker import JobWorker
from settings import Settings, SettingsError, load_settings
from storage.accounts import ServiceAccounts
from storage.bulk import BulkBatches
from storage.clock import utc_now
from storage.database import Database
from storage.errors import ConcurrencyError
from storage.lifecycle import AccountLifecycle, LifecycleRequests, LifecycleSteps, Offboardings
from storage.repositories import AuditLog, ConversationRefs, JobQueue, KeyValueStore, OnceMarks
from storage.requests import RequestStore, StepLog
from storage.segment_changes import SegmentChanges
from storage.vault import CredentialVault

log = logging.getLogger("app")


@dataclass
class Services:
    """Everything the routes need, opened together and closed together."""

    settings: Settings
    database: Database
    graph: GraphGateway
    adapter: CloudAdapter
    bot: VendorOnboardingBot
    started_at: float
    graph_health: GraphHealth


SERVICES = web.AppKey("services", Services)
SETTINGS = web.AppKey("settings", Settings)
GRAPH_OVERRIDE = web.AppKey("graph_override", GraphGateway)


def create_app(settings: Settings, *, graph: GraphGateway | None = None) -> web.Application:
    """The bot's web application for these settings; resources open when the app starts.

    ``graph`` replaces the gateway the settings describe (tests pass one pointed at their sandbox).
    """
    app = web.Application(client_max_size=settings.max_request_bytes)
    app[SETTINGS] = settings
    if graph is not None:
        app[GRAPH_OVERRIDE] = graph
    app.cleanup_ctx.append(_services)
    app.router.add_post("/api/messages", _messages)
    app.router.add_get("/healthz", _healthz)
    return app


async def _services(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    started = time.monotonic()
    speed_up_msrest_retry_policy()
    onboarding_config, catalog = _load_policy(settings)
    secrets_key = _secrets_key(settings)
    instance_id = settings.instance_id or f"{socket.gethostname()}:{os.getpid()}"
    database = await Database.create(settings.effective_database_url)
    graph = (
        app[GRAPH_OVERRIDE]
        if GRAPH_OVERRIDE in app
        else create_graph_gateway(
            settings, transport=RequestIdCapture.for_base_url(settings.effective_graph_base_url)
        )
    )
    async with AsyncExitStack() as stack:
        stack.push_async_callback(database.close)
        stack.push_async_callback(graph.close)
        await database.migrate()
        if not await graph.warm_up():
            log.warning("Microsoft Graph did not answer the warm-up call; /healthz reports it")
        kv = KeyValueStore(database)
        conversations = ConversationRefs(database)
        audit = AuditLog(database)
        jobs = JobQueue(database)
        marks = OnceMarks(database)
        requests = RequestStore(database)
        steps = StepLog(database)
        vault = CredentialVault(database, secrets_key)
        accounts = ServiceAccounts(database)
        roles = RoleDirectory(
            graph,
            RoleGroups(
                requesters=settings.requesters_group_id or "",
                approvers=settings.approvers_group_id or "",
                administrators=settings.admins_group_id or "",
            ),
            ttl_seconds=settings.role_cache_seconds,
        )
        adapter = CloudAdapter(create_bot_authentication(settings))
        adapter.on_turn_error = _on_turn_error
        reveal_window = timedelta(hours=settings.password_reveal_hours)
        notifier = TeamsNotifier(
            adapter,
            app_id=settings.bot_app_id or "",
            requests=requests,
            steps=steps,
            conversations=conversations,
            marks=marks,
            instance_id=instance_id,
            reveal_window=reveal_window,
            barriers=BarriersApplications(audit),
        )
        stack.push_async_callback(notifier.close)
        seats = SeatSnapshot(graph)
        stack.push_async_callback(seats.close)
        await seats.prefetch()
        wizard_service = WizardService(
            config=onboarding_config,
            catalog=catalog,
            directory=graph,
            seats=seats,
            requests=requests,
            audit=audit,
            on_submitted=notifier.post_approval_card,
            vendor_accounts_group_id=settings.vendor_accounts_group_id,
            marks=marks,
            may_request=lambda aad: roles.has_role(aad, Role.REQUESTER),
        )
        wizard = OnboardingWizard(
            ConversationState(DatabaseStorage(kv)),
            wizard_service,
            ended_card=wizard_ended_card,
            save_conflicts=(ConcurrencyError,),
        )
        batches = BulkBatches(database)

        async def free_seats() -> dict[str, int] | None:
            reading = await seats.current()
            return {part: count.free for part, count in reading.counts.items()} if reading.known else None

        bulk_desk = BulkDesk(
            database=database,
            batches=batches,
            requests=requests,
            jobs=jobs,
            audit=audit,
            roles=roles,
            notifier=notifier,
            free_seats=free_seats,
            clock=utc_now,
            # The worker is built below (it needs this desk's job handlers); the lambda looks it up late.
            on_enqueued=lambda: worker.wake(),
        )
        stack.push_async_callback(bulk_desk.close)
        bulk_runner = BulkRunner(
            graph, database, requests, steps, vault, batches, bulk_desk, password_ttl=reveal_window
        )
        policy = onboarding_config.lifecycle
        account_lifecycle = AccountLifecycle(database)
        lifecycle_requests = LifecycleRequests(database)
        lifecycle_steps = LifecycleSteps(database)
        offboardings = Offboardings(database)
        lifecycle_notifier = LifecycleNotifier(
            adapter,
            app_id=settings.bot_app_id or "",
            notifier=notifier,
            conversations=conversations,
            lifecycle_requests=lifecycle_requests,
            accounts=accounts,
            policy=policy,
        )
        offboarding = OffboardingRunner(
            graph,
            accounts=accounts,
            lifecycle=account_lifecycle,
            requests=requests,
            offboardings=offboardings,
            steps=lifecycle_steps,
            audit=audit,
            marks=marks,
            policy=policy,
            instance_id=instance_id,
            notices=lifecycle_notifier,
        )
        resetter = PasswordResetter(
            graph,
            accounts=accounts,
            requests=requests,
            vault=vault,
            steps=lifecycle_steps,
            audit=audit,
            marks=marks,
            instance_id=instance_id,
            notices=lifecycle_notifier,
            password_ttl=reveal_window,
        )
        scheduler = LifecycleScheduler(
            jobs=jobs,
            lifecycle=account_lifecycle,
            offboardings=offboardings,
            vault=vault,
            marks=marks,
            audit=audit,
            policy=policy,
            instance_id=instance_id,
            reminders=lifecycle_notifier,
            on_enqueued=lambda: worker.wake(),
        )
        segment_changes = SegmentChanges(database)
        segment_desk = SegmentChangeDesk(
            changes=segment_changes,
            accounts=accounts,
            jobs=jobs,
            audit=audit,
            roles=roles,
            notifier=notifier,
            catalog=catalog,
            clock=utc_now,
            on_enqueued=lambda: worker.wake(),
        )
        segment_handlers = segment_desk.job_handlers()
        if catalog is not None:
            segment_runner = SegmentChangeRunner(
                gateway=graph,
                changes=segment_changes,
                accounts=accounts,
                audit=audit,
                catalog=catalog,
                ib_capable_preference=onboarding_config.licensing.ib_capable_preference,
                on_changed=segment_desk.change_changed,
            )
            segment_handlers |= segment_runner.job_handlers()
        runner = ProvisioningRunner(
            graph,
            requests,
            steps,
            vault,
            accounts,
            audit,
            SeatsChangedToo(notifier, seats),
            password_ttl=reveal_window,
        )
        worker = JobWorker(
            jobs,
            {
                **runner.job_handlers(),
                **bulk_runner.job_handlers(),
                **bulk_desk.job_handlers(),
                **offboarding.job_handlers(),
                **resetter.job_handlers(),
                **scheduler.job_handlers(),
                **segment_handlers,
            },
            worker_id=instance_id,
            lease_seconds=settings.worker_lease_seconds,
            poll_seconds=settings.worker_poll_seconds,
        )
        lifecycle_desk = LifecycleDesk(
            accounts=accounts,
            lifecycle=account_lifecycle,
            lifecycle_requests=lifecycle_requests,
            jobs=jobs,
            audit=audit,
            roles=roles,
            notices=lifecycle_notifier,
            policy=policy,
            clock=utc_now,
            on_enqueued=worker.wake,
        )
        await scheduler.ensure_scheduled()
        desk = ApprovalDesk(
            requests=requests,
            steps=steps,
            jobs=jobs,
            audit=audit,
            roles=roles,
            vault=vault,
            notifier=notifier,
            clock=utc_now,
            on_enqueued=worker.wake,
        )
        commands = CommandDesk(
            requests=requests,
            steps=steps,
            accounts=accounts,
            audit=audit,
            marks=marks,
            roles=roles,
            seats=seats,
            licensing=onboarding_config.licensing,
            catalog=catalog,
            notifier=notifier,
            clock=utc_now,
        )
        bot = VendorOnboardingBot(
            settings,
            roles,
            conversations,
            audit,
            wizard=wizard,
            desk=desk,
            commands=commands,
            bulk=bulk_desk,
            lifecycle=lifecycle_desk,
            segment=segment_desk,
        )
        worker_task = asyncio.create_task(worker.run_forever(), name="job-worker")
        stack.push_async_callback(_stop_worker, worker, worker_task)
        roles_task = asyncio.create_task(roles.keep_members_fresh(), name="role-members")
        stack.push_async_callback(_cancel, roles_task)
        app[SERVICES] = Services(settings, database, graph, adapter, bot, started, GraphHealth(graph))
        log.info(
            "bot ready",
            extra={
                "mode": settings.bot_mode.value,
                "listen": f"{settings.bot_host}:{settings.bot_port}",
                "graph": settings.effective_graph_base_url,
                "instance": instance_id,
                "startup_seconds": round(time.monotonic() - started, 3),
            },
        )
        yield


async def _stop_worker(worker: JobWorker, task: asyncio.Task[None]) -> None:
    await worker.stop()
    await asyncio.gather(task, return_exceptions=True)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def _load_policy(settings: Settings) -> tuple[OnboardingConfig, SegmentCatalog | None]:
    """The onboarding configuration and the segment catalog; a broken file stops start-up, naming it."""
    assert settings.onboarding_config_path is not None  # settings require it in production; sandbox fills it
    config = load_onboarding_config(settings.onboarding_config_path)
    catalog = load_catalog(settings.segments_catalog_path) if settings.segments_catalog_path else None
    return config, catalog


def _secrets_key(settings: Settings) -> str:
    """The key that encrypts temporary passwords; sandbox mode keeps its own under the data folder."""
    if settings.secrets_key is not None:
        return settings.secrets_key.get_secret_value()
    if not settings.sandbox:  # pragma: no cover - settings validation already refuses this
        raise SettingsError("SECRETS_KEY is required in production mode")
    path = settings.data_dir / "sandbox-secrets.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(Fernet.generate_key().decode("ascii"))
    return path.read_text(encoding="ascii").strip()


class SeatsChangedToo:
    """Progress of a run: update the cards, and forget cached seat counts (the run may have used one)."""

    def __init__(self, notifier: TeamsNotifier, seats: SeatSnapshot) -> None:
        self._notifier = notifier
        self._seats = seats

    async def request_changed(self, number: int) -> None:
        self._seats.invalidate()
        await self._notifier.request_changed(number)


class GraphHealth:
    """Whether Graph answered recently: probed at most every ``ttl`` seconds, so /healthz stays cheap."""

    def __init__(self, graph: GraphGateway, ttl: float = 10.0) -> None:
        self._graph = graph
        self._ttl = ttl
        self._checked_at = float("-inf")
        self._reachable = False
        self._lock = asyncio.Lock()

    async def reachable(self) -> bool:
        async with self._lock:
            if time.monotonic() - self._checked_at >= self._ttl:
                self._reachable = await self._graph.reachable()
                self._checked_at = time.monotonic()
            return self._reachable


async def _messages(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    refusal = await _malformed_body(request)
    if refusal is not None:
        return refusal
    with correlation():
        try:
            response = await services.adapter.process(request, services.bot)
        except ValueError:
            # botbuilder deserialises the activity before it looks at the token, and msrest's
            # DeserializationError is a ValueError: a body that is JSON but not an activity is the
            # caller's mistake (400), not ours (500). Errors inside a turn never get here (on_turn_error).
            return web.json_response({"error": "the body is not a Bot Framework activity"}, status=400)
    return response if response is not None else web.Response(status=201)


async def _malformed_body(request: web.Request) -> web.Response | None:
    """400/415 for a body that cannot be an activity: botbuilder would raise (500) on each of these."""
    if request.content_type != "application/json":
        return web.json_response({"error": "expected Content-Type: application/json"}, status=415)
    try:
        # aiohttp keeps the bytes read here, so the adapter reads the same body again for free.
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        return web.json_response({"error": "the body is not JSON"}, status=400)
    if not isinstance(body, dict):
        return web.json_response({"error": "the body is not a JSON object"}, status=400)
    return None


async def _healthz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    database_ok, graph_ok = await asyncio.gather(services.database.ping(), services.graph_health.reachable())
    body = {
        "status": "ok" if database_ok else "degraded",
        "version": _version(),
        "mode": services.settings.bot_mode.value,
        "database": "ok" if database_ok else "unavailable",
        "graph": "reachable" if graph_ok else "unreachable",
    }
    return web.json_response(body, status=200 if database_ok else 503)


async def _on_turn_error(turn_context: TurnContext, error: Exception) -> None:
    """Log the failure with a correlation id; show the user that id and a short message, never the error."""
    reference = current_correlation_id() or "-"
    log.error("turn failed", exc_info=error, extra={"activity_type": turn_context.activity.type})
    if turn_context.activity.type == ActivityTypes.invoke:
        return
    try:
        await turn_context.send_activity(
            MessageFactory.text(
                "Sorry, something went wrong on my side and nothing was changed. Please try again; if it "
                f"keeps happening, give your administrator this reference: {reference}."
            )
        )
    except Exception:
        log.exception("could not tell the user about a failed turn")


def _version() -> str:
    try:
        return metadata.version("vendor-onboarding-bot")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def main() -> int:
    """Read settings, start serving; exit 2 with a readable message when settings are incomplete."""
    try:
        settings = load_settings()
    except SettingsError as err:
        print(f"vendor-onboarding-bot: {err}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    if settings.sandbox:
        log.warning(
            "SANDBOX MODE: unauthenticated Playground traffic is accepted; listening on loopback %s:%s only; "
            "Graph calls go to the local sandbox tenant at %s",
            settings.bot_host,
            settings.bot_port,
            settings.effective_graph_base_url,
        )
    web.run_app(
        create_app(settings),
        host=settings.bot_host,
        port=settings.bot_port,
        access_log=None,
        print=None,
        shutdown_timeout=10,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
