"""The processes the command line starts: ``xiangyin bot`` and ``xiangyin actions``.

Each is an entry point in the sense of the architecture: it reads the settings, loads the
county's data, makes the clock, opens the database and the case records, and hands them down.

``xiangyin bot`` runs 乡音 on Telegram (``make run`` starts it when a token is set).
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

``xiangyin actions`` runs the action server (Rasa's endpoints.yml points at it) on
XIANGYIN_ACTION_HOST:XIANGYIN_ACTION_PORT (default 127.0.0.1:5055), behind XIANGYIN_SECRET.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from xiangyin.commands.database import open_database, open_records
from bot.config import SECRET_HEADER
from xiangyin.settings import settings

__all__ = ["register"]

NO_DATA_KEY = (
    "XIANGYIN_DATA_KEY is not set: personal data is never stored in clear. "
    "Make a key with `xiangyin cases new-key`, keep it safe, and set it (README "
    '"Security and privacy").'
)


def _logging() -> None:
    from records.domain.redaction import install_log_redaction

    install_log_redaction()  # phone and ID numbers never reach a log, whoever logs them
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO
    )
    # httpx logs every Bot API call (with the token in the URL) at INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _cmd_bot(args: argparse.Namespace) -> int:
    """Run until Ctrl-C / SIGTERM; returns the exit code."""
    from telegram import Update

    from bot.app import build_application
    from bot.state_store import BotStateStore
    from bot.webhook import run_webhook
    from records.adapters.crypto import Cipher
    from records.adapters.outbox import dispatchers
    from records.api import AsyncRecords

    _logging()
    config = settings()
    if not config.telegram_token:
        print("TELEGRAM_BOT_TOKEN is not set", file=sys.stderr)
        return 2
    if config.bot.telegram_webhook_url and not config.bot.telegram_webhook_secret:
        print("webhook mode needs TELEGRAM_WEBHOOK_SECRET", file=sys.stderr)
        return 2
    if not config.data_key:
        print(NO_DATA_KEY, file=sys.stderr)
        return 2
    # Opt in to PTB's coming timedelta durations (bot/runtime.py reads both forms): without
    # it every 429 logs a deprecation warning.
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    engine = open_database(config)
    records = open_records(config, engine)
    cipher = Cipher(config.data_key)  # the bot's own tables keep people's words encrypted too
    app = build_application(
        config.bot,
        AsyncRecords(records),
        BotStateStore(engine, records.clock, cipher),
        dispatchers(
            engine,
            records.clock,
            cipher,
            retry_base_s=config.bot.outbox_retry_base_s,
            on_unreachable=records.recipient_unreachable,
        ),
        base_url=config.bot.telegram_api_base_url,
        base_file_url=config.bot.telegram_api_base_file_url,
    )
    if config.bot.telegram_webhook_url:
        asyncio.run(run_webhook(app, config.bot))
    else:
        app.run_polling(allowed_updates=Update.ALL_TYPES)
    return 0


def _cmd_actions(args: argparse.Namespace) -> int:
    from actions.common import ActionContext, configure
    from actions.server import create_app
    from knowledge.dialogue import dialogue_words
    from records.api import AsyncRecords

    config = settings()
    if not config.secret:
        print(
            "XIANGYIN_SECRET is not set: the action server will not run without it.",
            file=sys.stderr,
        )
        return 2
    _logging()
    engine = open_database(config)
    records = open_records(config, engine)
    configure(ActionContext(AsyncRecords(records), records.knowledge, dialogue_words()))
    app = create_app(config.secret, SECRET_HEADER, args.actions)
    app.run(args.host, args.port, workers=1, access_log=False)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``xiangyin bot`` and ``xiangyin actions``."""
    bot = sub.add_parser("bot", help="run the Telegram bot (needs TELEGRAM_BOT_TOKEN)")
    bot.set_defaults(func=_cmd_bot)
    actions = sub.add_parser("actions", help="run the action server Rasa calls")
    actions.add_argument("--port", type=int, default=settings().action_port)
    actions.add_argument("--host", default=os.environ.get("XIANGYIN_ACTION_HOST", "127.0.0.1"))
    actions.add_argument("--actions", default="actions", help="the package of actions")
    actions.set_defaults(func=_cmd_actions)
