"""The real bot, the real sandbox tenant and a recording Bot Connector, for many requests from sync tests.

Hypothesis drives thousands of requests from one synchronous test function, so the bot cannot live in
that test's event loop: it runs in its own thread (``AppThread``), the sandbox tenant in another
(``SandboxThread``) and the recording connector in a third (``LocalIdentityServer``). The test posts
with a keep-alive ``requests`` session.

:class:`CapturedLogs` configures the product's own logging (``observability.configure_logging``) into
a buffer for the duration of a block and restores the previous logging set-up afterwards.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import requests
from aiohttp import web

from app import create_app
from observability import configure_logging
from sandbox.testing import SandboxThread
from settings import SANDBOX_TENANT_ID, load_settings
from tests.support.identity import LocalIdentityServer
from tests.support.playground import AppThread

#: The loggers configure_logging quiets; their levels are restored with the root's.
_NOISY = ("aiohttp.access", "httpx", "httpcore", "msal", "azure", "urllib3", "alembic")


@dataclass(frozen=True)
class Person:
    """A user of the sandbox tenant as Teams names them in an activity."""

    channel_id: str
    name: str
    aad_object_id: str


#: The sandbox seed's people (playground/.m365agentsplayground.yml says which groups each is in).
ALICE = Person("29:alice", "Alice Requester", "a11ce000-0000-4000-8000-000000000001")
RITA = Person("29:rita", "Rita Requester", "01da0000-0000-4000-8000-000000000002")
ADAM = Person("29:adam", "Adam Approver", "adaa0000-0000-4000-8000-000000000003")
PAULA = Person("29:paula", "Paula Approver", "0a01a000-0000-4000-8000-000000000004")
NORA = Person("29:nora", "Nora NoRole", "0b0a0000-0000-4000-8000-000000000005")
OMAR = Person("29:omar", "Omar Operator", "0aa00000-0000-4000-8000-000000000006")
PEOPLE = (ALICE, RITA, ADAM, PAULA, NORA, OMAR)

BOT_ACCOUNT = {"id": "28:vendor-onboarding-bot", "name": "Vendor Onboarding"}
PERSONAL_CHAT = {"id": "a:personal-chat-vendor-onboarding", "conversationType": "personal"}
APPROVALS_CHANNEL_ID = "19:vendor-approvals@thread.tacv2"


class _FailureRecorder(logging.Handler):
    """Keeps every record that reports a failure: ERROR and above, or any carrying a traceback."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)


class CapturedLogs:
    """``with CapturedLogs("DEBUG") as logs:`` the product's JSON log lines land in ``logs.lines()``.

    ``logs.failure_count()`` / ``logs.failures_since(n)`` give the records that report an unhandled
    failure (cheap to check after each of thousands of requests).
    """

    def __init__(self, level: str = "INFO") -> None:
        self._level = level
        self._buffer = io.StringIO()
        self._lock = threading.Lock()
        self._saved_handlers: list[logging.Handler] = []
        self._saved_levels: dict[str, int] = {}
        self._failures = _FailureRecorder()

    def __enter__(self) -> Self:
        root = logging.getLogger()
        self._saved_handlers = list(root.handlers)
        self._saved_levels = {name: logging.getLogger(name).level for name in ("", *_NOISY)}
        # configure_logging binds its handler to sys.stderr as it is at call time: make that our buffer.
        with contextlib.redirect_stderr(self._buffer):
            configure_logging(self._level)
        root.addHandler(self._failures)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        root = logging.getLogger()
        for handler in root.handlers:
            handler.flush()
        root.handlers[:] = self._saved_handlers
        for name, level in self._saved_levels.items():
            logging.getLogger(name).setLevel(level)

    def lines(self) -> list[str]:
        """Every line written so far (each should be one JSON object)."""
        with self._lock:
            return [line for line in self._buffer.getvalue().splitlines() if line.strip()]

    def entries(self) -> list[dict[str, Any]]:
        """The lines parsed as JSON (fails on a line that is not a JSON object)."""
        parsed = [json.loads(line) for line in self.lines()]
        assert all(isinstance(entry, dict) for entry in parsed)
        return parsed

    def failure_count(self) -> int:
        return len(self._failures.records)

    def failures_since(self, count: int) -> list[str]:
        """Failure records logged after ``count`` of them, as ``level logger: message (exception)``."""
        described = []
        for record in self._failures.records[count:]:
            error = record.exc_info[1] if record.exc_info else None
            suffix = f" ({type(error).__name__})" if error is not None else ""
            described.append(f"{record.levelname} {record.name}: {record.getMessage()}{suffix}")
        return described

    def mark(self) -> int:
        """A position: :meth:`entries_since` returns what was logged after it."""
        return len(self.lines())

    def entries_since(self, mark: int) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines()[mark:]]


class SandboxBotStack:
    """Sandbox tenant + recording connector + the bot in sandbox mode, each in its own thread."""

    def __init__(self, data_dir: Path, *, database_url: str | None = None, **settings: Any) -> None:
        """``database_url``: the bot's database; None, its default SQLite file in ``data_dir``."""
        self.data_dir = data_dir
        self.sandbox = SandboxThread()
        self.connector = LocalIdentityServer()
        self._settings = settings if database_url is None else {**settings, "database_url": database_url}
        self._bot: AppThread | None = None
        self._session = requests.Session()
        self.max_request_bytes = 0

    @property
    def endpoint(self) -> str:
        assert self._bot is not None
        return f"{self._bot.url}/api/messages"

    @property
    def service_url(self) -> str:
        """Where the bot's replies go (the recording connector); on the sandbox allow-list."""
        return self.connector.service_url

    def __enter__(self) -> Self:
        self.sandbox.start()
        self.connector.__enter__()
        settings = load_settings(
            bot_mode="sandbox", data_dir=self.data_dir, graph_base_url=self.sandbox.base_url, **self._settings
        )
        self.max_request_bytes = settings.max_request_bytes

        async def make_app() -> web.Application:
            return create_app(settings)

        self._bot = AppThread(make_app).__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._session.close()
        if self._bot is not None:
            self._bot.__exit__(kind, error, trace)
        self.connector.__exit__(kind, error, trace)
        self.sandbox.stop()

    def post(self, activity: dict[str, Any]) -> requests.Response:
        """POST one activity as Teams would (JSON); the bot answers synchronously."""
        return self.post_bytes(encode(activity))

    def post_bytes(self, body: bytes, content_type: str = "application/json") -> requests.Response:
        return self._session.post(
            self.endpoint, data=body, headers={"Content-Type": content_type}, timeout=30
        )

    def sent_count(self) -> int:
        return len(self.connector.state.sent)

    def sent_since(self, count: int) -> list[dict[str, Any]]:
        """Activities the bot sent to the connector after ``count`` had been sent."""
        return [entry["activity"] for entry in self.connector.state.sent[count:]]

    # ------------------------------------------------------------------------- activity builders

    def activity(
        self,
        *,
        person: Person | None = ALICE,
        conversation: dict[str, Any] | None = None,
        channel_data: dict[str, Any] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """A Teams activity from ``person`` in the personal chat (or ``conversation``), tenant included."""
        sender: dict[str, Any] = {"id": "29:anonymous", "name": "Anonymous"}
        if person is not None:
            sender = {"id": person.channel_id, "name": person.name, "aadObjectId": person.aad_object_id}
        activity: dict[str, Any] = {
            "type": "message",
            "id": str(uuid.uuid4()),
            "channelId": "msteams",
            "serviceUrl": self.service_url,
            "from": sender,
            "recipient": BOT_ACCOUNT,
            "conversation": conversation or PERSONAL_CHAT,
            "channelData": channel_data or {"tenant": {"id": SANDBOX_TENANT_ID}},
            "locale": "en-US",
        }
        activity.update(fields)
        return activity

    def message(self, text: str | None, **fields: Any) -> dict[str, Any]:
        return self.activity(text=text, **fields)

    def channel_message(self, text: str | None, *, person: Person | None = ALICE) -> dict[str, Any]:
        """A message in the approvals channel, as Teams sends it when the bot is @mentioned."""
        return self.activity(
            person=person,
            text=text,
            conversation={
                "id": f"{APPROVALS_CHANNEL_ID};messageid=1700000000000",
                "conversationType": "channel",
                "isGroup": True,
            },
            channel_data={
                "tenant": {"id": SANDBOX_TENANT_ID},
                "channel": {"id": APPROVALS_CHANNEL_ID, "name": "Vendor approvals"},
                "team": {"id": "19:it-admins-general@thread.tacv2", "name": "IT Admins"},
            },
        )

    def invoke(self, value: Any, *, name: str = "adaptiveCard/action", **fields: Any) -> dict[str, Any]:
        """An invoke activity (``adaptiveCard/action`` unless ``name`` says otherwise)."""
        return self.activity(type="invoke", name=name, value=value, **fields)


def encode(activity: dict[str, Any]) -> bytes:
    """The JSON body for an activity (non-ASCII escaped, as many clients send it; lone surrogates too)."""
    return json.dumps(activity).encode("ascii")


def execute_value(verb: Any, data: Any) -> dict[str, Any]:
    """The ``value`` Teams sends for a click on an ``Action.Execute``."""
    return {"action": {"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"}
