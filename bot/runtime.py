"""What runs beside the handlers: shared per-application data, ordering, retries, loops.

* :class:`BotData` is PTB's ``bot_data`` (``ContextTypes(bot_data=BotData)``): the case
  records, the bot's state store, the Rasa client and the background tasks of *this*
  Application — nothing module-global.
* :class:`PerChatUpdateProcessor` handles updates of different chats concurrently (30
  villagers at once must not wait for each other's Rasa round trip) but one chat's updates
  in order (a form answer must never overtake the question before it).
* :func:`start_background` / :func:`stop_background` run the outbox dispatcher, the reminder
  loop and the relay-backlog loop as plain asyncio tasks (PTB-independent: they only need
  the Bot to send), started from ``post_init`` and stopped from ``post_stop``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from telegram.ext import BaseUpdateProcessor

from bot.asr import Transcriber
from bot.config import BotConfig
from bot.rasa_client import RasaClient
from bot.state_store import BotStateStore
from records.api import AsyncRecords
from records.services.messages import SendFunction

if TYPE_CHECKING:  # pragma: no cover
    from telegram.ext import Application

__all__ = [
    "BotData",
    "Outbox",
    "OutboxFactory",
    "Parts",
    "PerChatUpdateProcessor",
    "start_background",
    "stop_background",
]

log = logging.getLogger(__name__)


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


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Concurrent across chats, sequential within a chat."""

    def __init__(self, max_concurrent_updates: int = 64) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[object, asyncio.Lock] = {}
        self._waiting: dict[object, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Run ``coroutine`` once every earlier update of the same chat is done."""
        key = _chat_key(update)
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock:
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
