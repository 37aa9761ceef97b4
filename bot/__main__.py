"""``python -m bot``: run 乡音 on Telegram (``make run`` starts it when a token is set).

Environment (xiangyin/settings.py):

* ``TELEGRAM_BOT_TOKEN`` — required;
* ``XIANGYIN_RASA_URL`` — the Rasa server (default http://127.0.0.1:5005);
* ``DATABASE_URL`` — the case records (default: SQLite var/xiangyin.db); migrated on start
  unless ``XIANGYIN_AUTO_MIGRATE=0``;
* ``TELEGRAM_API_BASE_URL`` / ``TELEGRAM_API_BASE_FILE_URL`` — another Bot API server (a
  self-hosted telegram-bot-api), e.g. ``http://127.0.0.1:8081/bot``.

Long polling by default.  Webhook mode when ``TELEGRAM_WEBHOOK_URL`` is set:

* ``TELEGRAM_WEBHOOK_URL`` — the public HTTPS URL Telegram posts to, e.g.
  ``https://bot.example.org/telegram/update``; its path is the path served here;
* ``TELEGRAM_WEBHOOK_SECRET`` — required in webhook mode: 1–256 characters of A–Z a–z 0–9 _ -;
  Telegram sends it in ``X-Telegram-Bot-Api-Secret-Token`` and any request without it is
  refused (403), so nobody else can inject updates;
* ``TELEGRAM_WEBHOOK_LISTEN`` / ``TELEGRAM_WEBHOOK_PORT`` — where this process listens
  (default 127.0.0.1:8443), behind a TLS-terminating reverse proxy.

The outbox dispatcher, the reminder loop and the relay backlog run inside this process.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from telegram import Update

from bot.app import build_application
from bot.webhook import run_webhook
from records.store import open_engine
from xiangyin.settings import settings


def main() -> int:
    """Run until Ctrl-C / SIGTERM; returns the exit code."""
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO
    )
    # httpx logs every Bot API call (with the token in the URL) at INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    config = settings()
    if not config.telegram_token:
        print("TELEGRAM_BOT_TOKEN is not set", file=sys.stderr)
        return 2
    if config.telegram_webhook_url and not config.telegram_webhook_secret:
        print("webhook mode needs TELEGRAM_WEBHOOK_SECRET", file=sys.stderr)
        return 2
    # Opt in to PTB's coming timedelta durations (bot/runtime.py reads both forms): without
    # it every 429 logs a deprecation warning.
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    engine = open_engine(config.database_url, migrate_schema=config.auto_migrate)
    app = build_application(
        config,
        config.rasa_url,
        engine,
        base_url=config.telegram_api_base_url,
        base_file_url=config.telegram_api_base_file_url,
    )
    if config.telegram_webhook_url:
        asyncio.run(run_webhook(app, config))
    else:
        app.run_polling(allowed_updates=Update.ALL_TYPES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
