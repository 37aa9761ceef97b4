"""The relay backlog (bot/relay.py ``flush_backlog``, bot/state_store.py): messages kept while
Rasa was down are relayed once across bot processes, in each person's order; one that keeps
failing backs off without holding up the others; an answer that is not Rasa's keeps the
message; and what people said is encrypted at rest and gone once relayed.

On SQLite and on the PostgreSQL at 127.0.0.1:5432 (skipped when it is not there).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.engine import Engine

from bot.rasa_client import RasaClient
from bot.relay import flush_backlog
from bot.runtime import BotData
from bot.state_store import BotStateStore, bot_state, relay_backlog
from bot_support import (
    bot_settings,
    cipher,
    fresh_engine,
    messages_to,
    new_user_id,
    running_bot,
    wait_for_text,
)
from knowledge.frontend import say
from playground.localapi import FakeBotApi
from rasa_stub import StubRasa
from records.domain.clock import FixedClock

PHONE, NAME = "13987654321", "王秀英"
LEASE = timedelta(minutes=1)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path) -> Iterator[Engine]:
    if request.param == "sqlite":
        yield fresh_engine(tmp_path)
    else:
        yield request.getfixturevalue("pg_engine")


@pytest.fixture
async def rasa() -> AsyncIterator[StubRasa]:
    async with StubRasa() as stub:
        yield stub


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime.now(timezone.utc))


class FakeBot:
    """What the backlog pass needs of the Telegram bot: sending a message."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []

    async def send_message(self, chat_id: int, text_: str, **_: Any) -> None:
        self.sent.append((chat_id, text_))


class BotProcess:
    """One bot process's backlog pass, without Telegram: its own store on the shared database."""

    def __init__(self, name: str, engine: Engine, clock: FixedClock, rasa: StubRasa) -> None:
        self.name = name
        self.state = BotStateStore(engine, clock, cipher())
        self.bot = FakeBot()
        self.app = SimpleNamespace(
            bot=self.bot,
            chat_data=defaultdict(dict),
            mark_data_for_update_persistence=lambda **_: None,
        )
        self.data = BotData()
        self.data.config = bot_settings()
        self.data.records = object()  # type: ignore[assignment]  # not used by the pass
        self.data.state = self.state
        self.data.rasa = RasaClient(rasa.url, timeout=5, retry_delays=())

    async def flush(self) -> int:
        return await flush_backlog(self.app, self.data, worker=self.name)  # type: ignore[arg-type]

    async def close(self) -> None:
        assert self.data.rasa is not None
        await self.data.rasa.close()


@pytest.fixture
async def bots(engine, clock, rasa) -> AsyncIterator[tuple[BotProcess, BotProcess]]:
    pair = (BotProcess("bot-a", engine, clock, rasa), BotProcess("bot-b", engine, clock, rasa))
    yield pair
    for process in pair:
        await process.close()


def raw(engine: Engine, table: str) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT * FROM {table}")).all()


# ---------------------------------------------------------------------------
# Claims
# ---------------------------------------------------------------------------


async def test_two_bot_processes_never_relay_the_same_kept_message(bots, rasa, engine):
    a, b = bots
    for person in ("tg:1", "tg:2", "tg:3"):
        for n in (1, 2):
            await a.state.backlog_add(person, int(person[3:]), f"{person}的第{n}句", {})
    rasa.delay = 0.1  # both passes are relaying at the same time
    for _ in range(3):  # what one held while the other looked is relayed next time round
        await asyncio.gather(a.flush(), b.flush())
    assert await a.state.backlog_count() == 0
    assert sorted(rasa.texts()) == sorted(
        f"{p}的第{n}句" for p in ("tg:1", "tg:2", "tg:3") for n in (1, 2)
    )
    for person in ("tg:1", "tg:2", "tg:3"):
        assert rasa.texts(person) == [f"{person}的第1句", f"{person}的第2句"]


async def test_a_claimed_message_is_left_alone_until_its_lease_runs_out(bots, clock):
    a, b = bots
    await a.state.backlog_add("tg:7", 7, "第一句", {})
    [held] = await a.state.backlog_claim("bot-a", LEASE)
    await a.state.backlog_add("tg:7", 7, "第二句", {})  # behind a's claim: waits for it
    assert await b.state.backlog_claim("bot-b", LEASE) == []
    clock.advance(LEASE + timedelta(seconds=1))  # bot-a died holding it
    taken = await b.state.backlog_claim("bot-b", LEASE)
    assert [i.text for i in taken] == ["第一句", "第二句"] and taken[0].id == held.id


# ---------------------------------------------------------------------------
# Failures
# ---------------------------------------------------------------------------


async def test_a_message_that_keeps_failing_backs_off_and_the_others_go_through(bots, rasa, clock):
    a, _ = bots
    await a.state.backlog_add("tg:1", 1, "老张的第一句", {})
    await a.state.backlog_add("tg:2", 2, "李婶的话", {})
    await a.state.backlog_add("tg:1", 1, "老张的第二句", {})
    rasa.down_for = {"tg:1"}

    assert await a.flush() == 1
    assert a.bot.sent == [(2, "收到：李婶的话")]
    assert await a.state.backlog_count() == 2
    assert await a.flush() == 0  # too soon: 老张's message is backing off
    assert rasa.texts() == ["李婶的话"]

    rasa.down_for = set()
    clock.advance(timedelta(minutes=5))
    assert await a.flush() == 2
    assert rasa.texts("tg:1") == ["老张的第一句", "老张的第二句"]  # in his order
    assert await a.state.backlog_count() == 0


async def test_while_rasa_is_down_a_pass_stops_after_a_few_failures(bots, rasa):
    a, _ = bots
    for n in range(1, 7):
        await a.state.backlog_add(f"tg:{n}", n, f"第{n}个人的话", {})
    rasa.down = True
    assert await a.flush() == 0
    assert await a.state.backlog_count() == 6
    with a.state.engine.connect() as conn:
        tried = conn.execute(select(relay_backlog.c.attempts).order_by(relay_backlog.c.id))
        assert list(tried.scalars()) == [1, 1, 1, 0, 0, 0]  # not six waits on a dead server


async def test_an_answer_that_is_not_rasas_keeps_the_message(bots, rasa, clock):
    a, _ = bots
    await a.state.backlog_add("tg:5", 5, "低保的事", {})
    rasa.garbage = True  # 200 with an HTML page
    assert await a.flush() == 0
    rasa.garbage = False
    rasa.reply = lambda sender, text_: {"error": "not a list"}  # type: ignore[assignment,return-value]
    clock.advance(timedelta(minutes=5))
    assert await a.flush() == 0
    assert await a.state.backlog_count() == 1

    rasa.reply = lambda sender, text_: [{"text": f"收到：{text_}"}]
    clock.advance(timedelta(minutes=5))
    assert await a.flush() == 1
    assert a.bot.sent == [(5, "收到：低保的事")]


async def test_a_villager_whose_message_gets_a_broken_answer_is_told_it_is_kept(rasa, tmp_path):
    user = new_user_id()
    async with FakeBotApi() as server:
        async with running_bot(server, rasa.url, fresh_engine(tmp_path)) as app:
            app.bot_data.rasa.retry_delays = (0.05,)
            rasa.garbage = True
            server.user_sends_text(user, "我要反映低保的事")
            await wait_for_text(server, user, say("saved_for_later"))
            rasa.garbage = False
            app.bot_data.backlog_kick.set()
            await wait_for_text(server, user, "收到：我要反映低保的事")
    assert say("something_went_wrong") not in [c.text for c in messages_to(server, user)]


# ---------------------------------------------------------------------------
# Personal data at rest
# ---------------------------------------------------------------------------


async def test_the_bots_tables_keep_no_phone_number_or_name_in_clear(bots, engine):
    a, _ = bots
    await a.state.save_state("user", 42, {"filing": {"name": NAME}, "awaiting": PHONE})
    await a.state.backlog_add("tg:42", 42, f"我叫{NAME}，电话{PHONE}", {"on_behalf_of": NAME})
    stored = repr(raw(engine, "bot_state")) + repr(raw(engine, "relay_backlog"))
    assert PHONE not in stored and NAME not in stored
    assert await a.state.load_state("user") == {42: {"filing": {"name": NAME}, "awaiting": PHONE}}
    [item] = await a.state.backlog_claim("bot-a", LEASE)
    assert (item.text, dict(item.metadata)) == (f"我叫{NAME}，电话{PHONE}", {"on_behalf_of": NAME})


async def test_a_relayed_message_leaves_no_words_behind(bots, rasa, engine):
    a, _ = bots
    await a.state.backlog_add("tg:42", 42, f"我叫{NAME}，电话{PHONE}", {"on_behalf_of": NAME})
    assert await a.flush() == 1
    assert rasa.texts() == [f"我叫{NAME}，电话{PHONE}"]
    with engine.connect() as conn:
        [row] = conn.execute(select(relay_backlog)).all()
    assert row.delivered_at is not None and row.text == "" and not row.message_metadata


async def test_rows_written_before_encryption_still_read(bots, engine, clock):
    a, _ = bots
    now = clock.now().replace(tzinfo=None)
    with engine.begin() as conn:
        conn.execute(
            insert(bot_state).values(
                kind="chat", key=9, data={"rasa_payloads": {"k1": "/affirm"}}, updated_at=now
            )
        )
        conn.execute(
            insert(relay_backlog).values(
                sender_id="tg:9",
                chat_id=9,
                text="以前存的话",
                message_metadata={"chat_type": "private"},
                created_at=now,
                attempts=0,
            )
        )
    assert await a.state.load_state("chat") == {9: {"rasa_payloads": {"k1": "/affirm"}}}
    [item] = await a.state.backlog_claim("bot-a", LEASE)
    assert (item.text, dict(item.metadata)) == ("以前存的话", {"chat_type": "private"})


async def test_rekey_puts_the_bots_rows_under_the_new_key(engine, clock):
    from records.adapters.crypto import Cipher, DataKeyError, new_key

    old, new = new_key(), new_key()
    before = BotStateStore(engine, clock, Cipher(old))
    await before.save_state("user", 43, {"filing": {"name": NAME}})
    await before.backlog_add("tg:43", 43, f"电话{PHONE}", {"on_behalf_of": NAME})
    with engine.begin() as conn:  # and a row from before encryption
        conn.execute(
            insert(bot_state).values(
                kind="chat", key=43, data={"awaiting": PHONE}, updated_at=datetime(2026, 11, 1)
            )
        )

    assert await BotStateStore(engine, clock, Cipher(f"{new},{old}")).rekey() == 3
    stored = repr(raw(engine, "bot_state")) + repr(raw(engine, "relay_backlog"))
    assert PHONE not in stored and NAME not in stored
    after = BotStateStore(engine, clock, Cipher(new))
    assert await after.load_state("chat") == {43: {"awaiting": PHONE}}
    [item] = await after.backlog_claim("bot-a", LEASE)
    assert item.text == f"电话{PHONE}"
    with pytest.raises(DataKeyError):
        await BotStateStore(engine, clock, Cipher(old)).load_state("user")


def test_messages_relayed_before_the_upgrade_lose_their_words(tmp_path):
    from bot.state_store import migrate
    from records.adapters.database import make_engine

    engine = make_engine(f"sqlite:///{tmp_path}/old.db")
    migrate(engine, "b0001")
    with engine.begin() as conn:
        for n, delivered in ((1, datetime(2026, 11, 1)), (2, None)):
            conn.execute(
                text(
                    "INSERT INTO relay_backlog (sender_id, chat_id, text, message_metadata,"
                    " created_at, attempts, delivered_at)"
                    " VALUES ('tg:8', 8, :t, :m, :c, 1, :d)"
                ),
                {
                    "t": f"第{n}句，电话{PHONE}",
                    "m": '{"chat_type": "private"}',
                    "c": datetime(2026, 11, 1),
                    "d": delivered,
                },
            )
    migrate(engine)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT text FROM relay_backlog ORDER BY id")).scalars().all()
    assert rows == ["", f"第2句，电话{PHONE}"]  # the waiting one is kept (rekey encrypts it)
