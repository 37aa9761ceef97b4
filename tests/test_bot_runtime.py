"""The bot's door: one busy chat keeps to its own queue, and a flood from one person is
turned away kindly (bot/runtime.py ``PerChatUpdateProcessor`` and ``InboundLimit``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest

from bot.runtime import PerChatUpdateProcessor
from bot_support import (
    bot_settings,
    fresh_engine,
    messages_to,
    new_user_id,
    running_bot,
    wait_for_text,
)
from knowledge.frontend import say
from playground.localapi import FakeBotApi
from rasa_stub import StubRasa


@pytest.fixture
async def server() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as fake:
        yield fake


@pytest.fixture
async def rasa() -> AsyncIterator[StubRasa]:
    async with StubRasa() as stub:
        yield stub


def _update_in(chat_id: int) -> SimpleNamespace:
    """An update of a chat, as far as the processor looks at it (a button tap: no message)."""
    person = SimpleNamespace(id=chat_id)
    return SimpleNamespace(effective_chat=person, effective_user=person, message=None)


async def test_a_chat_with_a_hanging_queue_does_not_hold_up_another_chat():
    processor = PerChatUpdateProcessor(max_concurrent_updates=2)
    rasa_hangs = asyncio.Event()
    busy, staff = _update_in(1001), _update_in(2002)

    async def hang() -> None:
        await rasa_hangs.wait()

    queued = [asyncio.create_task(processor.process_update(busy, hang())) for _ in range(10)]
    for _ in range(5):  # let the busy chat's updates arrive first
        await asyncio.sleep(0)
    handled: list[str] = []

    async def tap() -> None:
        handled.append("staff button")

    await asyncio.wait_for(processor.process_update(staff, tap()), timeout=10)
    assert handled == ["staff button"]
    rasa_hangs.set()
    await asyncio.gather(*queued)


async def test_one_chats_updates_still_go_in_order():
    processor = PerChatUpdateProcessor(max_concurrent_updates=4)
    chat = _update_in(3003)
    order: list[int] = []
    first_may_finish = asyncio.Event()

    async def first() -> None:
        await first_may_finish.wait()
        order.append(1)

    async def second() -> None:
        order.append(2)

    tasks = [
        asyncio.create_task(processor.process_update(chat, first())),
        asyncio.create_task(processor.process_update(chat, second())),
    ]
    for _ in range(5):
        await asyncio.sleep(0)
    first_may_finish.set()
    await asyncio.gather(*tasks)
    assert order == [1, 2]


async def test_a_flood_from_one_person_is_answered_once_and_heard_again_after_a_minute(
    server, rasa, tmp_path
):
    flooder, neighbour = new_user_id(), new_user_id()
    minute = [1000.0]
    settings_ = bot_settings(tmp_path, inbound_per_minute=3)
    async with running_bot(server, rasa.url, fresh_engine(tmp_path), settings_) as app:
        app.update_processor.limit.now = lambda: minute[0]
        for i in range(8):
            server.user_sends_text(flooder, f"第{i}句")
        server.user_sends_text(neighbour, "我家的地被占了")
        await wait_for_text(server, flooder, say("too_many_messages"))
        await wait_for_text(server, flooder, "收到：第2句")
        await wait_for_text(server, neighbour, "收到：我家的地被占了")  # not held up

        minute[0] += 61  # the window has passed
        server.user_sends_text(flooder, "歇好了，接着说")
        await wait_for_text(server, flooder, "收到：歇好了，接着说")
    assert rasa.texts(f"tg:{flooder}") == ["第0句", "第1句", "第2句", "歇好了，接着说"]
    told = [c.text for c in messages_to(server, flooder)].count(say("too_many_messages"))
    assert told == 1
