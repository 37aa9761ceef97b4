"""The terminal playground (`make run` without a token): one person at the keyboard plays
the villager, the mediator and the agent against the real bot on the local Bot API server."""

from __future__ import annotations

import queue
import threading
from collections.abc import AsyncIterator

import pytest

import dataclasses

from bot_support import bot_settings, cipher, file_case, fresh_engine, store
from rasa_stub import StubRasa
from records.domain.identity import ChannelIdentity
from knowledge.frontend import say
from playground.terminal import personas, play


@pytest.fixture
async def rasa() -> AsyncIterator[StubRasa]:
    async with StubRasa() as stub:
        yield stub


class Keyboard:
    """Typed lines, handed over one at a time when the test says so."""

    def __init__(self) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.prompts: list[str] = []
        self.asked = threading.Event()

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        self.asked.set()
        return self.lines.get(timeout=60)

    def type(self, line: str) -> None:
        self.asked.clear()
        self.lines.put(line)


async def wait_until(predicate, timeout: float = 30) -> None:
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_one_person_plays_villager_and_mediator_through_the_real_bot(rasa, tmp_path):
    import asyncio

    engine = fresh_engine(tmp_path)
    records = store(engine)
    villager, mediator, agent = personas(records.knowledge)
    keyboard, printed = Keyboard(), []
    config = dataclasses.replace(bot_settings(tmp_path), rasa_url=rasa.url)
    run = asyncio.create_task(
        play(config, records, engine, cipher(), input_fn=keyboard, print_fn=printed.append)
    )

    def shown(text: str) -> bool:
        return any(text in line for line in printed)

    await wait_until(lambda: keyboard.asked.is_set())
    assert shown("村民、调解员、代办员") and shown("共和镇天台村")
    keyboard.type("我家的牛被邻居扣了")
    await wait_until(lambda: shown("乡音：收到：我家的牛被邻居扣了"))
    assert rasa.texts(f"tg:{villager.user_id}") == ["我家的牛被邻居扣了"]

    # The case (filed by the dialogue in real life) reaches the mediator in the background.
    number = file_case(engine, f"tg:{villager.user_id}")
    keyboard.type("谢谢")
    await wait_until(lambda: shown("（调解员有 1 条新消息"))
    keyboard.type("切换 调解员")
    await wait_until(lambda: shown(f"📋 新事项 {number}"))
    assert shown("    [1] 接收") and keyboard.prompts[-1] == "[调解员] 您："
    keyboard.type("1")  # taps 接收
    await wait_until(lambda: shown("已接收"))
    keyboard.type("切换")  # on to the agent, then back to the villager
    await wait_until(lambda: shown(say("play_now", person="代办员")))
    keyboard.type("切换 村民")
    await wait_until(lambda: shown("已经受理"))
    keyboard.type("退出")
    assert await asyncio.wait_for(run, 30) == 0
    # Staff became staff the only way there is: invite code and /join.
    assert records.get_staff(ChannelIdentity("tg", str(mediator.user_id))).role == "mediator"
    assert records.get_staff(ChannelIdentity("tg", str(agent.user_id))).role == "agent"


def test_make_run_without_a_token_uses_a_database_of_its_own(monkeypatch):
    """The playground's made-up staff and cases never reach the real database (trust, item 4),
    and a second run does not meet the first run's update ids."""
    from xiangyin.settings import settings
    from xiangyin.run import use_playground_database

    monkeypatch.setenv("DATABASE_URL", "sqlite:///var/xiangyin.db")
    monkeypatch.setenv("XIANGYIN_EVIDENCE_DIR", "var/evidence")  # restored after the test
    first = use_playground_database()
    second = use_playground_database()
    assert first != second and "xiangyin-playground-" in first and "var/xiangyin.db" not in first
    assert settings().database_url == second
    settings.cache_clear()
