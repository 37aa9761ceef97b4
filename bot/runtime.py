"""What runs beside the handlers: shared per-application data, ordering, retries, loops.

* :class:`BotData` is PTB's ``bot_data`` (``ContextTypes(bot_data=BotData)``): the case
  records, the bot's state store, the Rasa client and the background tasks of *this*
  Application — nothing module-global.
* :class:`PerChatUpdateProcessor` handles updates of different chats concurrently (30
  villagers at once must not wait for each other's Rasa round trip) but one chat's updates
  in order (a form answer must never overtake the question before it); a chat queues on its
  own before it takes a shared slot, and :class:`InboundLimit` turns a flood away at the door.
* :func:`start_background` / :func:`stop_background` run the outbox dispatcher, the reminder
  loop and the relay-backlog loop as plain asyncio tasks (PTB-independent: they only need
  the Bot to send), started from ``post_init`` and stopped from ``post_stop``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
import inspect
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from telegram.error import TelegramError
from telegram.ext import BaseUpdateProcessor

from bot.asr import Transcriber
from bot.config import BotConfig
from bot.rasa_client import RasaClient
from bot.state_store import BotStateStore
from knowledge.frontend import say
from records.api import AsyncRecords
from records.services.messages import SendFunction

if TYPE_CHECKING:  # pragma: no cover
    from telegram.ext import Application

__all__ = [
    "Admission",
    "BotData",
    "FloodReply",
    "InboundLimit",
    "Outbox",
    "OutboxFactory",
    "Parts",
    "PerChatUpdateProcessor",
    "start_background",
    "stop_background",
    "tell_too_many",
]

log = logging.getLogger(__name__)

#: PTB's semaphore is taken before the processor sees an update; this processor keeps its own
#: slots, taken after the chat's queue, so PTB's is set beyond any real number of updates.
UNLIMITED_BY_PTB = 1_000_000


class Outbox(Protocol):
    """The outbox dispatcher as the bot runs it (records/adapters/outbox.py ``Dispatcher``)."""

    async def run_forever(
        self, *, idle_seconds: float = 1.0, stop: asyncio.Event | None = None
    ) -> None: ...


#: Makes the dispatcher for a ``send`` function and a worker name (the entry point binds it
#: to the case database and the clock).
OutboxFactory = Callable[[SendFunction, str], Outbox]


@dataclass(frozen=True)
class Parts:
    """What every handler works with."""

    config: BotConfig
    records: AsyncRecords
    state: BotStateStore
    rasa: RasaClient


class BotData:
    """Per-application shared state (PTB ``bot_data``); filled in by bot.app.build_application."""

    def __init__(self) -> None:
        self.config: BotConfig | None = None
        self.records: AsyncRecords | None = None
        self.state: BotStateStore | None = None
        #: Makes the outbox dispatcher (records/adapters/outbox.py), bound to the database.
        self.outbox: OutboxFactory | None = None
        self.rasa: RasaClient | None = None
        #: Set to wake the backlog loop at once (a message was just kept for later).
        self.backlog_kick: asyncio.Event | None = None
        self.stop: asyncio.Event | None = None
        self.tasks: list[asyncio.Task[Any]] = []
        self.dispatcher: Outbox | None = None
        #: Speech recognition for voice notes (bot/asr.py); None: staff listen.
        self.transcriber: Transcriber | None = None

    def require(self) -> Parts:
        """The configured parts, or a clear error if the application was built by hand."""
        if self.config is None or self.records is None or self.state is None or self.rasa is None:
            raise RuntimeError("BotData is not configured: build the app with bot.app")
        return Parts(self.config, self.records, self.state, self.rasa)


# ---------------------------------------------------------------------------
# Ordering and retries
# ---------------------------------------------------------------------------


def _chat_key(update: object) -> object:
    chat = getattr(update, "effective_chat", None)
    if chat is not None:
        return ("chat", chat.id)
    user = getattr(update, "effective_user", None)
    return ("user", user.id) if user is not None else ("update", id(update))


class Admission(enum.Enum):
    """What :class:`InboundLimit` says about one new message."""

    RELAY = "relay"
    #: Over the limit, and the first time in this window: tell the person once.
    TELL = "tell"
    #: Over the limit, already told: drop quietly.
    DROP = "drop"


class InboundLimit:
    """At most ``per_window`` new messages a person in ``window_s`` seconds (a sliding window).

    Only new messages count: a staff member's button taps never do.  Refused messages do not
    count either, so a person is heard again once their earlier messages leave the window.
    """

    def __init__(
        self,
        per_window: int,
        window_s: float = 60.0,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_window = per_window
        self.window_s = window_s
        #: The clock (tests move it on instead of waiting a minute).
        self.now = now
        self._seen: dict[int, collections.deque[float]] = {}
        self._told: set[int] = set()

    def admit(self, update: object) -> Admission:
        """Count ``update`` if it is a new message from a person, and say what to do with it."""
        user = getattr(update, "effective_user", None)
        if getattr(update, "message", None) is None or user is None or self.per_window <= 0:
            return Admission.RELAY
        now = self.now()
        if len(self._seen) > 10_000:  # forget people quiet for a whole window
            self._forget_quiet(now)
        seen = self._seen.setdefault(user.id, collections.deque())
        while seen and seen[0] <= now - self.window_s:
            seen.popleft()
        if len(seen) < self.per_window:
            seen.append(now)
            self._told.discard(user.id)
            return Admission.RELAY
        if user.id in self._told:
            return Admission.DROP
        self._told.add(user.id)
        return Admission.TELL

    def _forget_quiet(self, now: float) -> None:
        quiet = [k for k, seen in self._seen.items() if not seen or seen[-1] <= now - self.window_s]
        for key in quiet:
            del self._seen[key]
            self._told.discard(key)


#: Says to the person behind an update that they send too fast (bot/app.py sets it).
FloodReply = Callable[[object], Awaitable[None]]


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Concurrent across chats, sequential within a chat, and a flood kept to its own chat.

    An update first waits behind the earlier updates of its chat, and only then takes one of
    the ``max_concurrent_updates`` slots: a chat with a long queue (one person sending fast,
    or every villager while Rasa hangs) holds one slot, never all of them, so staff buttons
    and other chats still go through.  PTB's own semaphore, taken before this processor sees
    the update, is therefore made large enough never to be the one that waits.

    New messages beyond ``limit`` are refused on arrival, before they queue: the person is
    told once (``on_flood``) and the extra messages are not relayed.
    """

    def __init__(
        self, max_concurrent_updates: int = 64, limit: InboundLimit | None = None
    ) -> None:
        super().__init__(UNLIMITED_BY_PTB)
        self.slots = max_concurrent_updates
        self._slots: asyncio.Semaphore | None = None
        self.limit = limit
        self.on_flood: FloodReply | None = None
        self._locks: dict[object, asyncio.Lock] = {}
        self._waiting: dict[object, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Run ``coroutine`` once every earlier update of the same chat is done and a slot is
        free (or drop it, if its sender is over the limit)."""
        admission = self.limit.admit(update) if self.limit is not None else Admission.RELAY
        if admission is not Admission.RELAY:
            if inspect.iscoroutine(coroutine):
                coroutine.close()  # never run: nothing of it reaches Rasa
            if admission is Admission.TELL and self.on_flood is not None:
                await self.on_flood(update)
            return
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.slots)
        key = _chat_key(update)
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock, self._slots:
                await coroutine
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:  # forget idle chats: the dict stays small
                del self._waiting[key]
                self._locks.pop(key, None)

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to free."""


async def tell_too_many(app: Application, update: object) -> None:
    """Tell a person, once a window, that they send faster than the bot takes messages."""
    chat = getattr(update, "effective_chat", None)
    if chat is None:
        return
    try:
        await app.bot.send_message(chat.id, say("too_many_messages"))
    except TelegramError as exc:  # best effort: the next flood tells them again
        log.warning("flood reply failed: %s", type(exc).__name__)


# ---------------------------------------------------------------------------
# Background loops
# ---------------------------------------------------------------------------


async def _wait(stop: asyncio.Event, seconds: float, kick: asyncio.Event | None = None) -> None:
    """Sleep ``seconds`` or until ``stop`` (or ``kick``) is set."""
    waiters = [asyncio.ensure_future(stop.wait())]
    if kick is not None:
        waiters.append(asyncio.ensure_future(kick.wait()))
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def _reminder_loop(app: Application, data: BotData) -> None:
    """Each pass: deadline reminders and escalations, reminders of tomorrow's appointments,
    then (from the digest hour, county time) today's daily digests; each is queued once,
    from the database."""
    parts = data.require()
    config, records = parts.config, parts.records
    assert data.stop is not None
    while not data.stop.is_set():
        try:
            report = await records.queue_reminders(config.reminder_days)
            if report.agency_reminders or report.villager_reminders or report.overdue:
                log.info("reminders queued: %s", report)
            await records.queue_session_reminders()
            if records.clock.county_hour() >= config.digest_hour:
                digests = await records.queue_digests()
                if digests:
                    log.info("daily digests queued: %d", digests)
            await parts.state.prune_processed_updates()
        except Exception:  # noqa: BLE001 - the loop must outlive a database hiccup
            log.exception("reminder pass failed")
        await _wait(data.stop, config.reminder_interval_s)


async def _backlog_loop(app: Application, data: BotData) -> None:
    from bot.relay import flush_backlog

    assert data.stop is not None and data.backlog_kick is not None
    while not data.stop.is_set():
        try:
            await flush_backlog(app, data)
        except Exception:  # noqa: BLE001
            log.exception("relay backlog pass failed")
        data.backlog_kick.clear()
        await _wait(data.stop, 5.0, data.backlog_kick)


def worker_id() -> str:
    """Names this process in the outbox's ``claimed_by``."""
    return f"bot@{socket.gethostname()}:{os.getpid()}"


async def start_background(app: Application) -> None:
    """``post_init``: open the Rasa session and start the dispatcher, reminder and backlog loops."""
    from bot.delivery import make_send

    data: BotData = app.bot_data
    parts = data.require()
    config = parts.config
    if data.tasks:  # already running (post_init called twice)
        return
    assert data.outbox is not None
    await parts.rasa.start()
    data.stop = asyncio.Event()
    data.backlog_kick = asyncio.Event()
    data.dispatcher = data.outbox(make_send(app.bot, parts.records), worker_id())
    data.tasks = [
        asyncio.create_task(
            data.dispatcher.run_forever(idle_seconds=config.outbox_idle_s, stop=data.stop),
            name="outbox-dispatcher",
        ),
        asyncio.create_task(_reminder_loop(app, data), name="reminders"),
        asyncio.create_task(_backlog_loop(app, data), name="relay-backlog"),
    ]


async def stop_background(app: Application) -> None:
    """``post_stop``: stop the loops (a send in flight finishes or is retried later)."""
    data: BotData = app.bot_data
    if data.stop is not None:
        data.stop.set()
    tasks, data.tasks = data.tasks, []
    if tasks:
        done, pending = await asyncio.wait(tasks, timeout=10)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def close_resources(app: Application) -> None:
    """``post_shutdown``: make sure the loops are gone and close the Rasa session."""
    await stop_background(app)
    data: BotData = app.bot_data
    if data.rasa is not None:
        await data.rasa.close()
