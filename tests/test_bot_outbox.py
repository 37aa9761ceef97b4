"""The outbox on Telegram with one row per person (trust, item 2): a staff member who blocked
the bot neither stops nor duplicates their colleagues' messages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot_support import (
    GONGHE_MEDIATION,
    buttons,
    TIANTAI_MEDIATION,
    file_case,
    fresh_engine,
    join_as,
    messages_to,
    new_user_id,
    running_bot,
    wait_for_text,
)
from playground.localapi import FakeBotApi
from rasa_stub import StubRasa
from records.adapters.orm import outbox


@pytest.fixture
async def server() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as fake:
        yield fake


@pytest.fixture
async def rasa() -> AsyncIterator[StubRasa]:
    async with StubRasa() as stub:
        yield stub


async def test_a_mediator_who_blocked_the_bot_costs_the_colleague_nothing(server, rasa, tmp_path):
    engine = fresh_engine(tmp_path)
    blocked, colleague, villager = new_user_id(), new_user_id(), new_user_id()
    async with running_bot(server, rasa.url, engine):
        await join_as(server, engine, blocked, TIANTAI_MEDIATION, "mediator", name="甲")
        await join_as(server, engine, colleague, TIANTAI_MEDIATION, "mediator", name="乙")
        server.block(blocked)
        number = file_case(engine, f"tg:{villager}")
        await wait_for_text(server, colleague, number)
        await asyncio.sleep(0.5)  # a few more dispatcher rounds
        with engine.connect() as conn:
            rows = conn.execute(select(outbox).where(outbox.c.kind == "case_assigned")).all()
    by_person = {r.recipient_id: r for r in rows}
    assert set(by_person) == {f"tg:{blocked}", f"tg:{colleague}"}
    assert by_person[f"tg:{colleague}"].delivered_at is not None
    gone = by_person[f"tg:{blocked}"]
    assert gone.dead_at is not None and gone.attempts == 1  # given up at once, not retried
    assert sum(number in (c.text or "") for c in messages_to(server, colleague)) == 1


async def test_when_the_only_mediator_blocked_the_bot_the_case_goes_up_to_the_township(
    server, rasa, tmp_path
):
    engine = fresh_engine(tmp_path)
    blocked, township, villager = new_user_id(), new_user_id(), new_user_id()
    async with running_bot(server, rasa.url, engine):
        await join_as(server, engine, blocked, TIANTAI_MEDIATION, "mediator", name="甲")
        await join_as(server, engine, township, GONGHE_MEDIATION, "mediator", name="镇调解员")
        server.block(blocked)
        number = file_case(engine, f"tg:{villager}")
        card = await wait_for_text(server, township, number)
        server.user_taps_button(township, card, buttons(card)["接收"])  # it is theirs now
        await wait_for_text(server, township, "已接收")
