"""Composition root: settings -> storage, Graph gateway, adapter, bot; aiohttp routes.

Nothing is built at import time. ``create_app(settings)`` returns an aiohttp application whose
resources (database, Graph client, background worker) are opened in a ``cleanup_ctx`` and closed on
shutdown, in reverse order. ``python app.py`` reads the settings, refuses to start when they are
incomplete (exit status 2, naming what is missing), and serves.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import metadata

from aiohttp import web
from botbuilder.core import MessageFactory, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import ActivityTypes

from bot.auth import create_bot_authentication, speed_up_msrest_retry_policy
from bot.handler import VendorOnboardingBot
from bot.roles import RoleDirectory, RoleGroups
from bot.state_storage import DatabaseStorage
from observability import configure_logging, correlation, current_correlation_id
from provisioning.graph import GraphGateway, create_graph_gateway
from settings import Settings, SettingsError, load_settings
from storage.database import Database
from storage.repositories import AuditLog, ConversationRefs, KeyValueStore

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
    database = await Database.create(settings.effective_database_url)
    graph = app[GRAPH_OVERRIDE] if GRAPH_OVERRIDE in app else create_graph_gateway(settings)
    try:
        await database.migrate()
        await graph.warm_up()
        kv = KeyValueStore(database)
        conversations = ConversationRefs(database)
        audit = AuditLog(database)
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
        bot = VendorOnboardingBot(settings, roles, conversations, audit)
        _ = DatabaseStorage(kv)
        app[SERVICES] = Services(settings, database, graph, adapter, bot, started)
        log.info(
            "bot ready",
            extra={
                "mode": settings.bot_mode.value,
                "listen": f"{settings.bot_host}:{settings.bot_port}",
                "graph": settings.effective_graph_base_url,
                "startup_seconds": round(time.monotonic() - started, 3),
            },
        )
        yield
    finally:
        await graph.close()
        await database.close()


async def _messages(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    with correlation():
        response = await services.adapter.process(request, services.bot)
    return response if response is not None else web.Response(status=201)


async def _healthz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    database_ok, graph_ok = await asyncio.gather(services.database.ping(), services.graph.reachable())
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
