"""Webhook mode without extra packages: a small aiohttp server feeding PTB's update queue.

PTB's own ``run_webhook`` needs tornado (the ``webhooks`` extra), which this project does not
install; PTB's "custom webhook" example shows the other way, used here: our own web server
checks Telegram's secret header, turns the JSON into an ``Update`` and puts it on
``application.update_queue``.  Everything else (handlers, dedup, background loops) is the
same as with polling.

Telegram must reach the URL over HTTPS: put a TLS-terminating reverse proxy (nginx, Caddy) in
front and let it forward to TELEGRAM_WEBHOOK_LISTEN:TELEGRAM_WEBHOOK_PORT.
"""

from __future__ import annotations

import asyncio
import hmac
import math
import logging
import signal
from urllib.parse import urlparse

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from bot.config import BotConfig

__all__ = ["SECRET_HEADER", "make_webhook_app", "run_webhook", "well_formed"]

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_text(value: object) -> bool:
    return value is None or isinstance(value, str)


def well_formed(update: Update) -> bool:
    """Whether the fields the handlers read have Telegram's types.

    PTB's parser builds objects from whatever JSON it is given (an id may be a list, a text a
    number); an update that comes in over the webhook is checked here, once, so that no
    handler has to doubt an id or a text.
    """
    if not _is_int(update.update_id):
        return False
    user, chat, message = update.effective_user, update.effective_chat, update.effective_message
    if user is not None and not _is_int(user.id):
        return False
    if chat is not None and not (_is_int(chat.id) and isinstance(chat.type, str)):
        return False
    if message is not None:
        if message.chat is None:  # every message is in a chat; the filters read its type
            return False
        if not (_is_int(message.message_id) and _is_text(message.text) and _is_text(message.caption)):
            return False
        for entity in (*message.entities, *message.caption_entities):
            if not (isinstance(entity.type, str) and _is_int(entity.offset) and _is_int(entity.length)):
                return False
        place = message.location
        if place is not None and not all(_is_number(v) for v in (place.latitude, place.longitude)):
            return False
        replied = message.reply_to_message
        if replied is not None and replied.from_user is not None and not _is_int(replied.from_user.id):
            return False
    query = update.callback_query
    if query is not None and not (isinstance(query.id, str) and _is_text(query.data)):
        return False
    return True


def make_webhook_app(application: Application, secret: str, path: str) -> web.Application:
    """An aiohttp app that accepts Telegram's POSTs on ``path`` (secret checked)."""

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            log.warning("webhook call without the right secret from %s", request.remote)
            return web.Response(status=403)
        try:
            data = await request.json()
            if not isinstance(data, dict):
                raise TypeError(f"an update is a JSON object, not {type(data).__name__}")
            update = Update.de_json(data, application.bot)
            if not well_formed(update):
                raise TypeError("a field the handlers read has the wrong type")
        except web.HTTPException:
            raise  # a body over client_max_size: 413
        except Exception as exc:  # noqa: BLE001 - whatever PTB's parser trips on
            # Telegram would resend a failed delivery forever: accept and drop garbage (a
            # field of the wrong type makes PTB raise AttributeError, a date out of range
            # OverflowError …: none of it is an update we could answer).
            log.warning("webhook body is not an update (%s); dropped", type(exc).__name__)
            return web.Response(status=200)
        await application.update_queue.put(update)
        return web.Response(status=200)

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    web_app = web.Application(client_max_size=1024 * 1024)
    web_app.router.add_post("/" + path.lstrip("/"), receive)
    web_app.router.add_get("/healthz", health)
    return web_app


async def run_webhook(application: Application, settings: BotConfig) -> None:
    """Set the webhook, serve until SIGINT/SIGTERM, then stop everything cleanly."""
    url = settings.telegram_webhook_url
    secret = settings.telegram_webhook_secret
    if not url or not secret:
        raise ValueError("webhook mode needs TELEGRAM_WEBHOOK_URL and TELEGRAM_WEBHOOK_SECRET")
    path = urlparse(url).path or "/"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(make_webhook_app(application, secret, path), access_log=None)
    async with application:
        assert application.post_init is not None
        await application.post_init(application)
        await application.bot.set_webhook(
            url, secret_token=secret, allowed_updates=Update.ALL_TYPES
        )
        await application.start()
        await runner.setup()
        site = web.TCPSite(runner, settings.telegram_webhook_listen, settings.telegram_webhook_port)
        await site.start()
        log.info(
            "webhook listening on %s:%s%s",
            settings.telegram_webhook_listen,
            settings.telegram_webhook_port,
            path,
        )
        try:
            await stop.wait()
        finally:
            await runner.cleanup()
            await application.stop()
            if application.post_stop is not None:
                await application.post_stop(application)
            if application.post_shutdown is not None:
                await application.post_shutdown(application)
