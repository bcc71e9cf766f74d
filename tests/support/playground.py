"""Drive the Microsoft 365 Agents Playground (the local Teams emulator) from tests, without a browser.

Two pieces:

* :class:`PlaygroundProcess` starts ``node node_modules/@microsoft/m365agentsplayground/cli.js`` against a
  bot endpoint, on 127.0.0.1 and a free port, and stops it (its whole process group) afterwards. Its logs
  and the recording of every bot <-> Playground request are kept under ``test-artifacts/playground/<name>/``.
* :class:`PlaygroundClient` talks to a running Playground through the private HTTP + WebSocket API its
  own web UI uses (undocumented: pinned to ``@microsoft/m365agentsplayground`` 0.2.28). It sends what a
  Teams user would send and collects what the bot posts::

      with PlaygroundProcess(bot_endpoint) as playground:
          async with PlaygroundClient(playground.url) as pg:
              await pg.send_text("help")
              reply = await pg.wait_for(lambda e: e.is_new_message and bool(e.cards))

Things the Playground does that tests must respect (see ../shared/notes/playground-proof.md):

* It holds bot messages in one broadcast list while no WebSocket client listens and hands them to the
  next client that connects. The client therefore connects before acting, and sets those leftovers
  aside (:attr:`PlaygroundClient.stale_events`) instead of matching against them.
* Its message API always sends as ``currentUser``. To act as anyone else, use
  :meth:`PlaygroundClient.send_activity_as` (the "mock an activity" API: any ``from``) or
  :meth:`PlaygroundClient.execute` with ``as_user`` (its invoke API looks the user up by id).
* Channel messages reach the bot only when it is @mentioned, as in Teams (:meth:`mention_bot`).
* It sends no ``Authorization`` header, so the bot under test must run without an app id (sandbox).
* Its state (conversations, messages) is shared by every client: run these tests serially.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

REPO_ROOT = Path(__file__).resolve().parents[2]
PLAYGROUND_CLI = REPO_ROOT / "node_modules" / "@microsoft" / "m365agentsplayground" / "cli.js"
#: The committed configuration: tenant, bot, the current user plus five others, the team and its channels.
DEFAULT_CONFIG = REPO_ROOT / "playground" / ".m365agentsplayground.yml"
#: Gitignored; CI keeps it. ``TEST_ARTIFACTS_DIR`` moves it.
ARTIFACTS_DIR = Path(os.environ.get("TEST_ARTIFACTS_DIR", REPO_ROOT / "test-artifacts"))
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"

_LISTENING = re.compile(r"^Listening on (\d+)\s*$")
_STOP_GRACE_SECONDS = 5.0


class PlaygroundUnavailableError(Exception):
    """Node or the Playground package is not installed; tests should skip with this reason."""


class PlaygroundError(Exception):
    """The Playground failed to start, or refused a request; the message carries its answer."""


def unavailable_reason() -> str | None:
    """Why the Playground cannot run on this machine, or ``None`` when it can."""
    if shutil.which("node") is None:
        return "node is not on PATH (the Agents Playground is a Node program)"
    if not PLAYGROUND_CLI.is_file():
        return f"{PLAYGROUND_CLI} is missing: run `npm ci` to install @microsoft/m365agentsplayground"
    return None


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- the process ----------------------------------------------------------------------------------------


class PlaygroundProcess:
    """One Agents Playground process pointed at ``bot_endpoint``; a context manager.

    ``port=None`` picks a free port. The Playground falls back to a random port when the one asked for is
    taken, which would break the connector URL it hands the bot, so a mismatch is retried on a new port.
    """

    def __init__(
        self,
        bot_endpoint: str,
        *,
        config: Path = DEFAULT_CONFIG,
        port: int | None = None,
        name: str = "playground",
        startup_timeout: float = 30.0,
    ) -> None:
        self.bot_endpoint = bot_endpoint
        self.config = config
        self.requested_port = port
        self.startup_timeout = startup_timeout
        #: Where its logs end up: ``stdout.log``, ``playground.log``, ``events_recording.log``.
        self.artifacts = ARTIFACTS_DIR / "playground" / name
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._listening = threading.Event()
        self._workdir: Path | None = None

    @property
    def url(self) -> str:
        """The Playground's base URL (web UI and API), e.g. ``http://127.0.0.1:41234``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The process id while running (also its process group id)."""
        return self._process.pid if self._process else None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> Self:
        """Start the Playground and return once it answers ``/_debug/ping``.

        Raises :class:`PlaygroundUnavailableError` when node or the package is missing and
        :class:`PlaygroundError` when it does not come up (its output is in the message).
        """
        reason = unavailable_reason()
        if reason:
            raise PlaygroundUnavailableError(reason)
        if not self.config.is_file():
            raise PlaygroundError(f"Playground config {self.config} does not exist")
        shutil.rmtree(self.artifacts, ignore_errors=True)
        self.artifacts.mkdir(parents=True)
        attempts = 1 if self.requested_port else 3
        for attempt in range(1, attempts + 1):
            wanted = self.requested_port or free_port()
            self._launch(wanted)
            if self.port == wanted:
                break
            self.stop()
            if attempt == attempts:
                raise PlaygroundError(f"asked for port {wanted}, the Playground took {self.port} (port busy)")
        self._wait_for_ping()
        return self

    def stop(self) -> None:
        """Stop the process group, keep the logs, remove the working directory. Safe to call twice."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(_STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self._reader is not None:
            self._reader.join()
            self._reader = None
        if self._workdir is not None:
            # Anything it wrote into its working directory (devTools/) is an artifact too.
            for item in self._workdir.rglob("*"):
                if item.is_file():
                    target = self.artifacts / "workdir" / item.relative_to(self._workdir)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(item, target)
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def _launch(self, port: int) -> None:
        self._workdir = Path(tempfile.mkdtemp(prefix="playground-"))
        env = {
            **os.environ,
            "TEAMSAPPTESTER_BROWSER": "none",  # otherwise it crashes trying to open a browser
            "M365_AGENTS_PLAYGROUND_CONFIG_PATH": str(self.config),
            "M365_AGENTS_PLAYGROUND_LOGFILE": str(self.artifacts / "playground.log"),
            "M365_AGENTS_PLAYGROUND_RECORDING_FILE": str(self.artifacts / "events_recording.log"),
        }
        command = [
            "node", str(PLAYGROUND_CLI),
            "--app-endpoint", self.bot_endpoint,
            "--channel-id", "msteams",
            "--disable-telemetry",
            "--enable-events-recording",
            "--port", str(port),
            # Its default connector URL says "localhost"; keep every hop on 127.0.0.1.
            "--service-url", f"http://127.0.0.1:{port}/_connector",
        ]  # fmt: skip
        self._listening.clear()
        self.port = 0
        self._process = subprocess.Popen(
            command,
            cwd=self._workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stop() reaches any child too
        )
        self._reader = threading.Thread(target=self._read_output, args=(self._process,), daemon=True)
        self._reader.start()
        if not self._listening.wait(self.startup_timeout):
            self.stop()
            raise PlaygroundError(
                f"no 'Listening on' line within {self.startup_timeout}s; {self._output_tail()}"
            )
        if not self.port:
            self.stop()
            raise PlaygroundError(f"the Playground exited while starting; {self._output_tail()}")

    def _read_output(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        with (self.artifacts / "stdout.log").open("ab") as log:
            for raw in process.stdout:
                log.write(raw)
                log.flush()
                match = _LISTENING.match(raw.decode(errors="replace"))
                if match and not self._listening.is_set():
                    self.port = int(match.group(1))
                    self._listening.set()
        self._listening.set()  # the process ended: wake start() up either way

    def _wait_for_ping(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/_debug/ping", timeout=2) as response:
                    if response.read().decode().strip() == "pong":
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if self._process is None or self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise PlaygroundError(f"{self.url}/_debug/ping never answered 'pong'; {self._output_tail()}")
            time.sleep(0.05)

    def _output_tail(self) -> str:
        log = self.artifacts / "stdout.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        return f"its output ends with:\n{text[-2000:]}" if text else "it printed nothing"


# --- wire models -----------------------------------------------------------------------------------------


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)


class PlaygroundUser(_Wire):
    """A user from the Playground config."""

    id: str
    name: str
    aad_object_id: str
    user_principle_name: str = ""  # sic: the Playground's spelling


class _Channel(_Wire):
    id: str
    name: str


class _Team(_Wire):
    id: str
    name: str
    aad_group_id: str
    channels: tuple[_Channel, ...]


class _Chat(_Wire):
    id: str
    name: str = ""


class _Bot(_Wire):
    id: str
    name: str


class PlaygroundConfig(_Wire):
    """The configuration the running Playground parsed (``GET /_internal/v1/testConfig``)."""

    tenant_id: str
    bot: _Bot
    current_user: PlaygroundUser
    users: tuple[PlaygroundUser, ...]
    personal_chat: _Chat
    group_chats: tuple[_Chat, ...]
    teams: tuple[_Team, ...]

    @property
    def team(self) -> _Team:
        """The one team (the Playground supports exactly one)."""
        return self.teams[0]

    @property
    def general_channel_id(self) -> str:
        """The General channel's conversation id, which is also the team id."""
        return self.team.id

    def channel_id(self, name: str) -> str:
        """A channel's conversation id by its name, e.g. ``"Vendor approvals"``."""
        for channel in self.team.channels:
            if channel.name == name:
                return channel.id
        raise KeyError(f"no channel named {name!r}; the team has {[c.name for c in self.team.channels]}")

    def user(self, key: str) -> PlaygroundUser:
        """A user by id (``29:rita``), name (``Rita Requester``) or aadObjectId."""
        for user in (self.current_user, *self.users):
            if key in (user.id, user.name, user.aad_object_id):
                return user
        raise KeyError(f"no Playground user {key!r}")


class Attachment(_Wire):
    """One message attachment; ``content`` is the Adaptive Card JSON for cards."""

    content_type: str
    content: Any = None


class _Sender(_Wire):
    id: str
    name: str | None = None


class PlaygroundMessage(_Wire):
    """A message as the Playground shows it."""

    message_id: str
    sender: _Sender = Field(alias="from")
    text: str | None = None
    attachments: tuple[Attachment, ...] = ()
    post_conversation_id: str | None = None


class PlaygroundEvent(_Wire):
    """One event from the conversation stream: a message created or updated (or a typing indicator)."""

    action: str
    conversation_id: str = Field(alias="actionConversationId")
    message: PlaygroundMessage | None = None

    @property
    def is_new_message(self) -> bool:
        """A message was posted (``createMessage``)."""
        return self.action == "createMessage" and self.message is not None

    @property
    def is_update(self) -> bool:
        """A posted message was replaced (``updateMessage``, e.g. the bot's ``update_activity``)."""
        return self.action == "updateMessage" and self.message is not None

    @property
    def text(self) -> str:
        """The message text, or ``""``."""
        return (self.message.text or "") if self.message else ""

    @property
    def cards(self) -> list[dict[str, Any]]:
        """The Adaptive Cards attached to the message."""
        if self.message is None:
            return []
        return [a.content for a in self.message.attachments if a.content_type == ADAPTIVE_CARD]

    @property
    def sender_id(self) -> str | None:
        """Who posted it (the bot's id for bot messages)."""
        return self.message.sender.id if self.message else None


@dataclass(frozen=True)
class SentMessage:
    """What the Playground answered to a message we posted."""

    message_id: str
    #: The conversation the bot answers in: for a new channel post, the thread ("<channel>;messageid=<id>").
    conversation_id: str


@dataclass(frozen=True)
class InvokeResult:
    """The bot's answer to an invoke, as the Playground passes it on (it drops the status code)."""

    type: str
    value: Any

    @property
    def card(self) -> dict[str, Any]:
        """The Adaptive Card returned; raises :class:`PlaygroundError` if the bot answered anything else."""
        if self.type != ADAPTIVE_CARD or not isinstance(self.value, dict):
            raise PlaygroundError(f"the bot answered {self.type!r}, not a card: {self.value!r}")
        return self.value


# --- the client ------------------------------------------------------------------------------------------


class PlaygroundClient:
    """An async client for a running Playground; use ``async with``.

    Every action (:meth:`send_text`, :meth:`mention_bot`, :meth:`execute`, :meth:`send_activity_as`) first
    marks the event stream; :meth:`wait_for` then looks at events after the latest mark, so it finds what
    the action caused however fast the bot answered.
    """

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        #: Every event received since connecting, in order (leftovers excluded).
        self.events: list[PlaygroundEvent] = []
        #: Events the Playground had held for the previous listener; not matched by :meth:`wait_for`.
        self.stale_events: list[PlaygroundEvent] = []
        #: Stream frames this client could not parse (a Playground version change shows up here).
        self.unparsed: list[str] = []
        self._mark = 0
        self._changed = asyncio.Condition()
        self._session: aiohttp.ClientSession | None = None
        self._socket: aiohttp.ClientWebSocketResponse | None = None
        self._pump: asyncio.Task[None] | None = None
        self._synced: asyncio.Future[None] | None = None
        self._config: PlaygroundConfig | None = None

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def config(self) -> PlaygroundConfig:
        """The running Playground's configuration (users, chats, team)."""
        if self._config is None:
            raise PlaygroundError("not connected: use `async with PlaygroundClient(url)`")
        return self._config

    async def connect(self) -> None:
        """Open the event stream, set aside held-over events, and read the configuration."""
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        ws_url = self.base_url.replace("http", "ws", 1) + "/_ws_conversation/v1/conversations/stream"
        # autoping off: our own ping's pong marks the end of the held-over events (see _read_events).
        self._socket = await self._session.ws_connect(ws_url, autoping=False)
        self._synced = asyncio.get_running_loop().create_future()
        self._pump = asyncio.create_task(self._read_events(self._socket))
        await self._socket.ping(b"sync")
        await asyncio.wait_for(asyncio.shield(self._synced), 10)
        self._config = PlaygroundConfig.model_validate(
            (await self._get("/_internal/v1/testConfig"))["config"]
        )

    async def close(self) -> None:
        """Close the stream and the HTTP session."""
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        if self._socket is not None:
            await self._socket.close()
        if self._session is not None:
            await self._session.close()
        self._pump = self._socket = self._session = None

    # --- acting ------------------------------------------------------------------------------------------

    async def send_text(self, text: str, *, conversation_id: str | None = None) -> SentMessage:
        """Type ``text`` as the current user, by default in the personal chat with the bot."""
        conversation = conversation_id or self.config.personal_chat.id
        body = {"from": {"id": self.config.current_user.id}, "text": text, "textFormat": "plain"}
        return await self._post_message(conversation, body)

    async def mention_bot(self, text: str, *, conversation_id: str | None = None) -> SentMessage:
        """Post ``@<bot> text`` as the current user, by default as a new post in the General channel.

        Pass a channel id for a new post there, or a :attr:`SentMessage.conversation_id` to reply in a thread.
        """
        conversation = conversation_id or self.config.general_channel_id
        at = f"<at>{self.config.bot.name}</at>"
        body = {
            "from": {"id": self.config.current_user.id},
            "text": f"{at} {text}",
            "textFormat": "plain",
            "mentions": [{"mentioned": {"id": self.config.bot.id}, "text": at}],
        }
        return await self._post_message(conversation, body)

    async def execute(
        self,
        verb: str,
        data: Mapping[str, Any] | None = None,
        *,
        reply_to_id: str,
        conversation_id: str | None = None,
        as_user: str | None = None,
    ) -> InvokeResult:
        """Click an ``Action.Execute`` button: send ``adaptiveCard/action`` and return the bot's answer.

        ``reply_to_id`` is the message id of the card (:attr:`PlaygroundMessage.message_id`); the Playground
        replaces that card with the one returned. ``as_user`` (id, name or aadObjectId) clicks as another
        user of the config.
        """
        user = self.config.user(as_user) if as_user else self.config.current_user
        body = {
            "name": "adaptiveCard/action",
            "value": {"action": {"type": "Action.Execute", "verb": verb, "data": dict(data or {})}},
            "from": {"id": user.id},
            "conversation": {"id": conversation_id or self.config.personal_chat.id},
            "replyToId": reply_to_id,
        }
        self.mark()
        answer = await self._post("/_conversation/v1/invoke", body)
        if not isinstance(answer, dict) or "type" not in answer:
            raise PlaygroundError(f"unexpected invoke answer: {answer!r}")
        return InvokeResult(type=answer["type"], value=answer.get("value"))

    async def send_activity_as(
        self,
        user: str,
        *,
        text: str | None = None,
        conversation_id: str | None = None,
        mention_bot: bool = False,
        **fields: Any,
    ) -> str:
        """Send an activity to the bot as ``user`` (id, name or aadObjectId): the way to act as someone else.

        By default a ``message`` with ``text`` in the personal chat; ``fields`` (wire names, e.g.
        ``type="invoke"``, ``name=...``, ``value=...``) are merged over the activity. Teams' ``channelData``
        (tenant, and team/channel in a channel) is filled in as Teams would. Returns the activity id.

        The Playground answers before the bot has seen the activity and drops the bot's HTTP answer
        (so an invoke's card is lost): observe the effect with :meth:`wait_for`.
        """
        sender = self.config.user(user)
        conversation = conversation_id or self.config.personal_chat.id
        activity: dict[str, Any] = await self._get(
            "/_internal/v1/customActivities/template", conversationId=conversation
        )
        activity.update(
            id=str(uuid.uuid4()),
            type="message",
            **{"from": {"id": sender.id, "name": sender.name, "aadObjectId": sender.aad_object_id}},
            channelData=self._channel_data(activity["conversation"]),
        )
        if text is not None:
            activity["text"] = text
        if mention_bot:
            at = f"<at>{self.config.bot.name}</at>"
            activity["text"] = f"{at} {activity.get('text') or ''}".rstrip()
            activity["entities"] = [
                {
                    "type": "mention",
                    "text": at,
                    "mentioned": {"id": self.config.bot.id, "name": self.config.bot.name},
                }
            ]
        activity.update(fields)
        self.mark()
        await self._post("/_internal/v1/customActivities", activity)
        return str(activity["id"])

    # --- observing ---------------------------------------------------------------------------------------

    def mark(self) -> int:
        """Make :meth:`wait_for` ignore the events received so far; returns the position marked."""
        self._mark = len(self.events)
        return self._mark

    # The timeout belongs to this wait, as with asyncio.wait_for: callers should not wrap it.
    async def wait_for(
        self,
        predicate: Callable[[PlaygroundEvent], bool],
        timeout: float = 10.0,  # noqa: ASYNC109
        *,
        since: int | None = None,
    ) -> PlaygroundEvent:
        """The first event from position ``since`` (default: the latest mark) that satisfies ``predicate``.

        Waits up to ``timeout`` seconds for it; raises :class:`TimeoutError` listing what did arrive.
        """
        start = self._mark if since is None else since
        deadline = asyncio.get_running_loop().time() + timeout
        checked = start
        async with self._changed:
            while True:
                for event in self.events[checked:]:
                    if predicate(event):
                        return event
                checked = len(self.events)
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0 or self._pump is None or self._pump.done():
                    seen = [f"{e.action} {e.conversation_id}: {_summary(e)!r}" for e in self.events[start:]]
                    raise TimeoutError(f"no matching event within {timeout}s; events since the mark: {seen}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)

    # --- plumbing ----------------------------------------------------------------------------------------

    def _channel_data(self, conversation: Mapping[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = {"tenant": {"id": self.config.tenant_id}}
        if conversation.get("conversationType") == "channel":
            channel_id = str(conversation["id"]).split(";", 1)[0]
            team = self.config.team
            name = next((c.name for c in team.channels if c.id == channel_id), "")
            data["team"] = {"id": team.id, "name": team.name, "aadGroupId": team.aad_group_id}
            data["channel"] = {"id": channel_id, "name": name}
        return data

    async def _post_message(self, conversation_id: str, body: Mapping[str, Any]) -> SentMessage:
        self.mark()
        answer = await self._post(f"/_conversation/v1/conversations/{conversation_id}/messages", body)
        return SentMessage(
            message_id=answer["messageId"],
            conversation_id=answer.get("postConversationId") or conversation_id,
        )

    async def _read_events(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        synced = False
        async for frame in socket:
            if frame.type == aiohttp.WSMsgType.PING:
                await socket.pong(frame.data)
            elif frame.type == aiohttp.WSMsgType.PONG and frame.data == b"sync" and not synced:
                # The Playground flushes held-over events the moment we connect, before it can answer
                # our ping: everything received until this pong is left over from an earlier listener.
                synced = True
                self.stale_events, self.events = self.events, []
                if self._synced is not None and not self._synced.done():
                    self._synced.set_result(None)
            elif frame.type == aiohttp.WSMsgType.TEXT:
                try:
                    event = PlaygroundEvent.model_validate(json.loads(frame.data))
                except ValueError:  # pydantic's ValidationError and json's errors are ValueErrors
                    self.unparsed.append(frame.data)
                    continue
                async with self._changed:
                    self.events.append(event)
                    self._changed.notify_all()
        async with self._changed:
            self._changed.notify_all()  # the stream ended: let waiters fail now rather than time out

    async def _get(self, path: str, **params: str) -> Any:
        session = self._require_session()
        async with session.get(self.base_url + path, params=params) as response:
            text = await response.text()
            if response.status >= 400:
                raise PlaygroundError(f"GET {path} -> {response.status}: {text}")
            return json.loads(text)

    async def _post(self, path: str, body: Mapping[str, Any]) -> Any:
        session = self._require_session()
        async with session.post(self.base_url + path, json=body) as response:
            text = await response.text()
            if response.status >= 400:
                raise PlaygroundError(f"POST {path} -> {response.status}: {text}")
            return json.loads(text) if text else None

    def _require_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise PlaygroundError("not connected: use `async with PlaygroundClient(url)`")
        return self._session


# --- serving a bot for the Playground --------------------------------------------------------------------


class AppThread:
    """Serve an aiohttp application on 127.0.0.1 from a background thread with its own event loop.

    The Playground needs the bot up for as long as it runs (a whole test module), across sync tests
    (Playwright's sync API refuses to run inside an event loop) and async ones (each with its own loop),
    so the bot cannot live in any one test's loop. ``make_app`` runs inside the thread's loop::

        with AppThread(make_app) as bot:
            bot.url  # "http://127.0.0.1:<port>"
    """

    def __init__(self, make_app: Callable[[], Awaitable[web.Application]], *, port: int = 0) -> None:
        self._make_app = make_app
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        self._thread = threading.Thread(target=self._serve, name="app-thread", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError(f"the app did not start within 30s; its thread is at:\n{self._where()}")
        if self._error is not None:
            raise RuntimeError(f"the app failed to start: {self._error!r}") from self._error
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._loop is not None and self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(30)

    def _where(self) -> str:
        """The app thread's stack and its loop's pending tasks (for a start that hangs)."""
        frame = sys._current_frames().get(self._thread.ident) if self._thread and self._thread.ident else None
        lines = traceback.format_stack(frame) if frame is not None else ["(the thread has ended)\n"]
        for thread in threading.enumerate():
            other = sys._current_frames().get(thread.ident or 0)
            if thread is not self._thread and other is not None:
                lines.append(f"thread {thread.name}:\n{''.join(traceback.format_stack(other, limit=4))}")
        with contextlib.suppress(OSError):
            # Every POSIX lock on the machine (a SQLite file held by a process shows here with its pid).
            lines.append(f"/proc/locks (this process is {os.getpid()}):\n{Path('/proc/locks').read_text()}")
        loop = self._loop
        if loop is not None:
            lines.append(f"{len(asyncio.all_tasks(loop))} task(s) in its loop\n")
            for task in asyncio.all_tasks(loop):
                lines.append(f"task {task.get_name()}:\n{awaiting(task.get_coro())}")
        return "".join(lines)

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._start())
        except BaseException as err:  # reported to the starting thread
            self._error = err
            self._ready.set()
            self._loop.close()
            return
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    async def _start(self) -> None:
        self._runner = web.AppRunner(await self._make_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])


def awaiting(coro: Any) -> str:
    """Where a suspended coroutine waits, outermost first, through every coroutine it awaits."""
    lines = []
    while coro is not None:
        frame = (
            getattr(coro, "cr_frame", None)
            or getattr(coro, "ag_frame", None)
            or getattr(coro, "gi_frame", None)
        )
        if frame is not None:
            lines.append(f"  {frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}\n")
        awaited = (
            getattr(coro, "cr_await", None)
            or getattr(coro, "ag_await", None)
            or getattr(coro, "gi_yieldfrom", None)
        )
        # An async context manager's __aenter__ awaits its generator's asend(), which hides the generator.
        manager = (
            frame.f_locals.get("self") if frame is not None and frame.f_code.co_name == "__aenter__" else None
        )
        coro = getattr(manager, "gen", None) or awaited
    return "".join(lines)


def _summary(event: PlaygroundEvent) -> str:
    """What a timed-out wait lists for one event: its text, else its first card's texts (for diagnosis)."""
    if event.text or not event.cards:
        return event.text[:80]
    texts: list[str] = []

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                texts.append(node["text"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(event.cards[0])
    return " | ".join(texts)[:160]
