"""Helpers for the Telegram front-end tests: the real PTB Application against FakeBotApi."""

from __future__ import annotations

import dataclasses
import functools
import re
from datetime import date
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from telegram.ext import Application

from bot.app import build_local_application, serving
from bot.config import BotConfig
from bot.state_store import BotStateStore
from playground.localapi import FakeBotApi, SentCall
from records.adapters.database import make_engine
from records.adapters.crypto import Cipher
from records.adapters.outbox import dispatchers
from records.adapters.unit_of_work import SqlAlchemyUnitOfWork
from records.api import AsyncRecords, Records
from records.domain.clock import Clock
from records.services.cases import SubmitCase
from tests.fakes import shipped_knowledge
from xiangyin.commands.database import upgrade
from xiangyin.settings import settings

ROOT = Path(__file__).resolve().parent.parent
CASE_NUMBER = re.compile(r"\b(?:MD|XF|FY|BS)-\d{4}-[0-9A-Z]{4}\b")
TIANTAI_MEDIATION = "gonghe.tiantai.village_mediation"
GONGHE_MEDIATION = "gonghe.township_mediation"


def bot_settings(tmp_path: Path | None = None, **changes: Any) -> BotConfig:
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
    return dataclasses.replace(settings().bot, **defaults)


def fresh_engine(tmp_path: Path) -> Engine:
    """A migrated SQLite database of this test's own."""
    engine = make_engine(f"sqlite:///{tmp_path}/bot.db")
    upgrade(engine)
    return engine


@functools.lru_cache(maxsize=1)
def shared_engine() -> Engine:
    """The session's database (DATABASE_URL from conftest), which the action server writes."""
    engine = make_engine(settings().database_url)
    upgrade(engine)
    return engine


def cipher() -> Cipher:
    """The session's data key (conftest), the same the action server encrypts with."""
    return Cipher(settings().data_key)


def store(engine: Engine, clock: Clock | None = None) -> Records:
    """The case records on ``engine`` as the bot sees them (same knowledge, same pepper)."""
    clock = clock or Clock()
    return Records(
        lambda: SqlAlchemyUnitOfWork(engine, clock, cipher()),
        shipped_knowledge(),
        clock,
        settings().secret.encode(),
    )


class DayClock(Clock):
    """The real time, but the county's calendar says ``day``: a reminder or digest pass "on"
    that day whose messages the running bot (on the real clock) delivers at once."""

    def __init__(self, day: date) -> None:
        self.day = day

    def today(self) -> date:
        return self.day


def on_day(day: date) -> DayClock:
    """A clock for a daily pass on ``day``."""
    return DayClock(day)


@asynccontextmanager
async def running_bot(
    server: FakeBotApi,
    rasa_url: str,
    engine: Engine,
    settings_: BotConfig | None = None,
    clock: Clock | None = None,
) -> AsyncIterator[Application]:
    """The bot, polling the fake server, with its background loops."""
    config = dataclasses.replace(settings_ or bot_settings(), rasa_url=rasa_url)
    records = AsyncRecords(store(engine, clock), workers=4)
    app = build_local_application(
        config,
        records,
        BotStateStore(engine, records.clock, cipher()),
        dispatchers(
            engine,
            records.clock,
            cipher(),
            retry_base_s=config.outbox_retry_base_s,
            on_unreachable=records.sync.recipient_unreachable,
        ),
        server,
    )
    try:
        async with serving(app) as running:
            yield running
    finally:
        records.close()


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
    return store(engine).submit_case(SubmitCase(**fields)).number


async def join_as(
    server: FakeBotApi, engine: Engine, user_id: int, agency: str, role: str, name: str = "李调解"
) -> None:
    """Register a staff member the only way there is: an invite code and /join."""
    code = store(engine).create_invite(agency, role, created_by="test")
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


def sessions_of(engine: Engine, number: str) -> list[Any]:
    """A case's appointments, as stored."""
    uow = SqlAlchemyUnitOfWork(engine, Clock(), cipher())
    with uow.reading():
        return uow.sessions.for_case(number)


def add_session(engine: Engine, number: str, day: date, details: str) -> None:
    """An appointment written straight into the store."""
    with SqlAlchemyUnitOfWork(engine, Clock(), cipher()) as uow:
        uow.sessions.add(number, day, details, "tg:1", uow.clock.now())
        uow.commit()
