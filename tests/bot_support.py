"""Helpers for the Telegram front-end tests: the real PTB Application against FakeBotApi."""

from __future__ import annotations

import dataclasses
import re
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from telegram.ext import Application

from playground.localapi import FakeBotApi, SentCall
from bot.app import build_local_application, serving
from records.services import SubmitCase, submit_case
from records.staff import create_invite
from records.store import UnitOfWork, make_engine, migrate
from xiangyin.settings import Settings, settings

ROOT = Path(__file__).resolve().parent.parent
CASE_NUMBER = re.compile(r"\b(?:MD|XF|FY|BS)-\d{4}-[0-9A-Z]{4}\b")
TIANTAI_MEDIATION = "gonghe.tiantai.village_mediation"
GONGHE_MEDIATION = "gonghe.township_mediation"


def bot_settings(tmp_path: Path | None = None, **changes: Any) -> Settings:
    """This process's settings with quick loops (the dispatcher polls every 0.1 s)."""
    defaults: dict[str, Any] = {
        "outbox_idle_s": 0.1,
        "outbox_retry_base_s": 0.2,
        "reminder_interval_s": 3600.0,
        "rasa_timeout_s": 30.0,
        # No digests from the background loop (an hour that never comes): a test that wants
        # them calls queue_digests itself, or sets digest_hour=0.
        "digest_hour": 24,
    }
    # Files villagers send land in the test's folder, never in the project's var/.
    base = tmp_path if tmp_path is not None else Path(tempfile.mkdtemp(prefix="xiangyin-bot-"))
    defaults["evidence_dir"] = base / "evidence"
    defaults.update(changes)
    return dataclasses.replace(settings(), **defaults)


def fresh_engine(tmp_path: Path) -> Engine:
    """A migrated SQLite database of this test's own."""
    engine = make_engine(f"sqlite:///{tmp_path}/bot.db")
    migrate(engine)
    return engine


def shared_engine() -> Engine:
    """The session's database (DATABASE_URL from conftest), which the action server writes."""
    engine = make_engine(settings().database_url)
    migrate(engine)
    return engine


@asynccontextmanager
async def running_bot(
    server: FakeBotApi, rasa_url: str, engine: Engine, settings_: Settings | None = None
) -> AsyncIterator[Application]:
    """The bot, polling the fake server, with its background loops."""
    app = build_local_application(settings_ or bot_settings(), rasa_url, engine, server)
    async with serving(app) as running:
        yield running


def new_user_id() -> int:
    """A Telegram user id no other test uses (the session database is shared)."""
    return 10_000_000 + uuid.uuid4().int % 900_000_000


def file_case(engine: Engine, sender_id: str, route: str = "mediation", **changes: Any) -> str:
    """A case written straight into the store (staff tests need no dialogue)."""
    fields: dict[str, Any] = {
        "submission_key": uuid.uuid4().hex,
        "route": route,
        "sender_id": sender_id,
        "facts": {"facts": "隔壁家的牛吃了我家苞谷，找他赔他不认账", "other_party": "隔壁王老三"},
        "dispute_type": "neighbour" if route == "mediation" else "other",
        "phone": "13987654321",
        "township_id": "gonghe",
        "village_id": "tiantai",
    }
    fields.update(changes)
    return submit_case(UnitOfWork(engine), SubmitCase(**fields)).number


async def join_as(
    server: FakeBotApi, engine: Engine, user_id: int, agency: str, role: str, name: str = "李调解"
) -> None:
    """Register a staff member the only way there is: an invite code and /join."""
    code = create_invite(engine, agency, role, created_by="test")
    before = len(messages_to(server, user_id))
    server.user_sends_text(user_id, f"/join {code}", first_name=name)
    await server.wait_for_messages(user_id, before + 1)


def messages_to(server: FakeBotApi, chat_id: int) -> list[SentCall]:
    """Every message the bot put into a chat, in order."""
    return [c for c in server.sent if c.chat_id == chat_id and c.method == "sendMessage"]


async def wait_for_text(
    server: FakeBotApi, chat_id: int, needle: str | re.Pattern[str], timeout: float = 30
) -> SentCall:
    """The first message to ``chat_id`` containing ``needle`` (waits for it)."""

    def found() -> SentCall | None:
        for call in messages_to(server, chat_id):
            text = call.text or ""
            if needle.search(text) if isinstance(needle, re.Pattern) else needle in text:
                return call
        return None

    await server.wait_for(lambda: found() is not None, timeout)
    result = found()
    assert result is not None
    return result


def buttons(call: SentCall) -> dict[str, str]:
    """Button title → callback_data of a sent message."""
    rows = (call.reply_markup or {}).get("inline_keyboard", [])
    return {b["text"]: b.get("callback_data", "") for row in rows for b in row}
