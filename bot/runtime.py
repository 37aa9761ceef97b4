"""What runs beside the handlers: shared per-application data, ordering, retries, loops.

* :class:`BotData` is PTB's ``bot_data`` (``ContextTypes(bot_data=BotData)``): the engine, the
  Rasa client and the background tasks of *this* Application — nothing module-global.
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
import datetime as dtm
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine
from telegram.ext import BaseUpdateProcessor

from bot.asr import Transcriber
from bot.rasa_client import RasaClient
from records.outbox import Dispatcher
from xiangyin.settings import Settings

if TYPE_CHECKING:  # pragma: no cover
    from telegram.ext import Application

__all__ = [
    "BotData",
    "PerChatUpdateProcessor",
    "start_background",
    "stop_background",
]

log = logging.getLogger(__name__)


class BotData:
    """Per-application shared state (PTB ``bot_data``); filled in by bot.app.build_application."""

    def __init__(self) -> None:
        self.settings: Settings | None = None
        self.engine: Engine | None = None
        self.rasa: RasaClient | None = None
        #: Set to wake the backlog loop at once (a message was just kept for later).
        self.backlog_kick: asyncio.Event | None = None
        self.stop: asyncio.Event | None = None
        self.tasks: list[asyncio.Task[Any]] = []
        self.dispatcher: Dispatcher | None = None
        #: Speech recognition for voice notes (bot/asr.py); None: staff listen.
        self.transcriber: Transcriber | None = None
        #: Reminder passes use this date when set (tests); the county's today otherwise.
        self.today: Callable[[], dtm.date] | None = None

    def require(self) -> tuple[Settings, Engine, RasaClient]:
        """The configured parts, or a clear error if the application was built by hand."""
        if self.settings is None or self.engine is None or self.rasa is None:
            raise RuntimeError("BotData is not configured: build the app with bot.app")
        return self.settings, self.engine, self.rasa


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
    from bot.store import prune_processed_updates
    from records.deadlines import COUNTY_TZ
    from records.digest import queue_digests
    from records.outbox import utcnow
    from records.reminders import queue_reminders, utc_today
    from records.sessions import queue_session_reminders

    settings, engine, _ = data.require()
    assert data.stop is not None
    while not data.stop.is_set():
        try:
            today = data.today() if data.today else utc_today()
            report = await asyncio.to_thread(
                queue_reminders, engine, today=today, days_before=settings.reminder_days
            )
            if report.agency_reminders or report.villager_reminders or report.overdue:
                log.info("reminders queued: %s", report)
            await asyncio.to_thread(queue_session_reminders, engine, today=today)
            if utcnow().astimezone(COUNTY_TZ).hour >= settings.digest_hour:
                digests = await asyncio.to_thread(queue_digests, engine, today=today)
                if digests:
                    log.info("daily digests queued: %d", digests)
            await asyncio.to_thread(prune_processed_updates, engine)
        except Exception:  # noqa: BLE001 - the loop must outlive a database hiccup
            log.exception("reminder pass failed")
        await _wait(data.stop, settings.reminder_interval_s)


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
    settings, engine, rasa = data.require()
    if data.tasks:  # already running (post_init called twice)
        return
    await rasa.start()
    data.stop = asyncio.Event()
    data.backlog_kick = asyncio.Event()
    data.dispatcher = Dispatcher(
        engine,
        make_send(app.bot, engine),
        worker_id(),
        base_delay=timedelta(seconds=settings.outbox_retry_base_s),
        # A send waits at most a few retry_after pauses; the lease must outlast it.
        lease=timedelta(minutes=5),
    )
    data.tasks = [
        asyncio.create_task(
            data.dispatcher.run_forever(idle_seconds=settings.outbox_idle_s, stop=data.stop),
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
