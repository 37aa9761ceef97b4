"""The Telegram Application, configured in one place.

    app = build_application(config, records, state, outbox)
    app.run_polling()                     # `xiangyin bot` does this (or run_webhook)

``config`` is the bot's settings (bot/config.py), ``records`` the case records
(records/api.py ``AsyncRecords``), ``state`` the bot's own tables (bot/state_store.py) and
``outbox`` what makes the outbox dispatcher (bot/runtime.py ``OutboxFactory``).  In tests and
the benchmark, against a local Bot API server::

    app = build_local_application(config, records, state, outbox, server)
    async with serving(app):
        ...

``build_application`` wires: the per-chat update processor (chats in parallel, one chat in
order, a flood from one person turned away with one kind word), Telegram's limits and retries after a 429 (PTB's AIORateLimiter), the bot's state in
the database (bot/persistence.py), the typed ``bot_data`` (:class:`BotData`), the handlers
(bot/handlers/), and the background loops through ``post_init`` / ``post_stop`` /
``post_shutdown``.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator
from typing import Any

from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseRateLimiter,
    ContextTypes,
)

from bot import handlers
from bot.asr import transcriber_for
from bot.persistence import DatabasePersistence
from bot.config import BotConfig
from bot.rasa_client import RasaClient
from bot.state_store import BotStateStore
from records.api import AsyncRecords
from bot.runtime import (
    BotData,
    InboundLimit,
    OutboxFactory,
    PerChatUpdateProcessor,
    close_resources,
    start_background,
    stop_background,
    tell_too_many,
)

__all__ = ["build_application", "build_local_application", "rate_limiter", "serving"]

#: Updates handled at once (different chats); one chat's updates always go in order.
MAX_CONCURRENT_UPDATES = 64
#: Retries after a 429 before the error reaches the handler (and the error handler).
MAX_RETRIES_AFTER_429 = 5


def rate_limiter() -> BaseRateLimiter:  # type: ignore[type-arg]
    """PTB's AIORateLimiter: Telegram's limits (30 requests a second overall, 20 a minute per
    group), and a 429's ``retry_after`` waited out and the request sent again."""
    return AIORateLimiter(max_retries=MAX_RETRIES_AFTER_429)


def build_application(
    config: BotConfig,
    records: AsyncRecords,
    state: BotStateStore,
    outbox: OutboxFactory,
    base_url: str | None = None,
    base_file_url: str | None = None,
    *,
    token: str | None = None,
) -> Application:
    """The configured Application (not started).

    ``token`` defaults to ``config.telegram_token``; ``base_url`` / ``base_file_url`` point
    at another Bot API server (a local one in tests).  The schema must be migrated already
    (`xiangyin bot` does it).
    """
    bot_token = token or config.telegram_token
    if not bot_token:
        raise ValueError("no Telegram bot token: set TELEGRAM_BOT_TOKEN")
    processor = PerChatUpdateProcessor(
        MAX_CONCURRENT_UPDATES, InboundLimit(config.inbound_per_minute)
    )
    builder = (
        ApplicationBuilder()
        .token(bot_token)
        .context_types(ContextTypes(bot_data=BotData))
        .concurrent_updates(processor)
        .rate_limiter(rate_limiter())
        .persistence(DatabasePersistence(state))
        .post_init(start_background)
        .post_stop(stop_background)
        .post_shutdown(close_resources)
    )
    if base_url:
        builder = builder.base_url(base_url)
    if base_file_url:
        builder = builder.base_file_url(base_file_url)
    app = builder.build()
    processor.on_flood = functools.partial(tell_too_many, app)
    data: BotData = app.bot_data
    data.config = config
    data.records = records
    data.state = state
    data.outbox = outbox
    data.rasa = RasaClient(config.rasa_url, timeout=config.rasa_timeout_s, secret=config.secret)
    data.transcriber = transcriber_for(config.asr_url)
    handlers.register(app)
    return app


def build_local_application(
    config: BotConfig,
    records: AsyncRecords,
    state: BotStateStore,
    outbox: OutboxFactory,
    server: Any,
) -> Application:
    """The Application pointed at a local Bot API server (playground/localapi ``FakeBotApi``):
    the terminal playground, the tests and the benchmark."""
    return build_application(
        config,
        records,
        state,
        outbox,
        base_url=server.base_url,
        base_file_url=server.base_file_url,
        token=server.token,
    )


@contextlib.asynccontextmanager
async def serving(
    app: Application, *, poll_interval: float = 0.0, timeout: int = 1
) -> AsyncIterator[Application]:
    """Run ``app`` with long polling inside the current event loop, hooks included.

    What ``run_polling`` does, minus the signal handlers and closing the loop — for tests,
    the benchmark, and runners that own their loop.
    """
    async with app:
        assert app.post_init is not None
        await app.post_init(app)
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=poll_interval, timeout=timeout)
        await app.start()
        try:
            yield app
        finally:
            try:
                await app.updater.stop()
            finally:
                await app.stop()
                if app.post_stop is not None:
                    await app.post_stop(app)
                if app.post_shutdown is not None:
                    await app.post_shutdown(app)
