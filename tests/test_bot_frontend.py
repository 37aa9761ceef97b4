"""The Telegram front end's own rules, with a stub Rasa (the dialogue is not under test here).

Duplicates, stickers, emoji, groups, Rasa down, long replies, long button payloads, 429s on
replies, handler errors — the real PTB Application against FakeBotApi.
"""

from __future__ import annotations

import dataclasses

import logging
from collections.abc import AsyncIterator

import pytest

from playground.localapi import FakeBotApi
from bot.app import build_application
from bot.render import MAX_CALLBACK_BYTES, callback_data_for, payload_of, split_text, utf16_len
from bot.state_store import BotStateStore
from records.adapters.outbox import dispatchers
from records.api import AsyncRecords
from records.domain.clock import Clock
from bot_support import (
    bot_settings,
    buttons,
    fresh_engine,
    messages_to,
    new_user_id,
    cipher,
    running_bot,
    store,
    wait_for_text,
)
from rasa_stub import StubRasa
from knowledge.frontend import say


@pytest.fixture
async def server() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as fake:
        yield fake


@pytest.fixture
async def rasa() -> AsyncIterator[StubRasa]:
    async with StubRasa() as stub:
        yield stub


async def test_text_goes_to_rasa_as_the_telegram_user_with_chat_metadata(server, rasa, tmp_path):
    user = new_user_id()
    async with running_bot(server, rasa.url, fresh_engine(tmp_path)):
        server.user_sends_text(user, "我家的地被占了")
        reply = await wait_for_text(server, user, "收到：我家的地被占了")
    [received] = rasa.received
    assert received["sender"] == f"tg:{user}"
    assert received["metadata"]["chat_type"] == "private"
    assert received["metadata"]["language"] == "zh-hans"
    assert reply.reply_markup is None
    # A quick answer needs no "typing…" (each chat action counts against Telegram's limit) …
    assert not any(a.chat_id == user for a in server.chat_actions)


async def test_typed_intents_are_words_not_intents(server, rasa, tmp_path):
    """Only the bot's buttons send "/affirm" or "/inform{...}" to Rasa; typed, they are a
    command the bot does not know, or plain words — never an intent with made-up entities."""
    user = new_user_id()
    async with running_bot(server, rasa.url, fresh_engine(tmp_path)):
        server.user_sends_text(user, '/inform{"village": "tiantai", "phone": "13800000000"}')
        await wait_for_text(server, user, "看不懂")
        server.user_sends_text(user, " /affirm")  # not at the start: Telegram marks no command
        await wait_for_text(server, user, "收到：")
    assert [m["message"] for m in rasa.received] == ["affirm"]


async def test_typing_shows_while_a_slow_answer_is_on_its_way(server, rasa, tmp_path):
    user = new_user_id()
    rasa.delay = 1.5
    async with running_bot(server, rasa.url, fresh_engine(tmp_path)):
        server.user_sends_text(user, "我家的地被占了")
        await wait_for_text(server, user, "收到：我家的地被占了")
    assert any(a.chat_id == user and a.action == "typing" for a in server.chat_actions)


async def test_the_texts_of_one_turn_come_as_one_message_with_the_buttons_under_it(
    server, rasa, tmp_path
):
    user = new_user_id()
    rasa.reply = lambda sender, text: [
        {"recipient_id": sender, "text": "已经交给天台村人民调解委员会了。"},
        {"recipient_id": sender, "text": "调解员会跟您联系。"},
        {
            "recipient_id": sender,
            "text": "还有别的问题吗？",
            "buttons": [{"title": "没有了", "payload": "/goodbye"}],
        },
        {"recipient_id": sender, "text": "（编号记好）"},
    ]
    async with running_bot(server, rasa.url, fresh_engine(tmp_path)):
        server.user_sends_text(user, "对")
        calls = await server.wait_for_messages(user, 2)
    assert (
        calls[0].text
        == "已经交给天台村人民调解委员会了。\n\n调解员会跟您联系。\n\n还有别的问题吗？"
    )
    assert buttons(calls[0]) and calls[1].text == "（编号记好）"


async def test_start_and_help_reuse_rasa_texts(server, rasa, tmp_path):
    user = new_user_id()
    async with running_bot(server, rasa.url, fresh_engine(tmp_path)):
        server.user_sends_text(user, "/start")
        await wait_for_text(server, user, "收到：/greet")
        server.user_sends_text(user, "/help")
        await wait_for_text(server, user, say("help_commands"))
    assert rasa.texts() == ["/greet", "/help"]


async def test_an_update_delivered_twice_is_answered_once(server, rasa, tmp_path):
    user = new_user_id()
    async with running_bot(server, rasa.url, fresh_engine(tmp_path)):
        update = server.user_sends_text(user, "邻居占了我家的地")
        server.inject_update(update)  # Telegram redelivers the same update_id
        server.user_sends_text(user, "还有一件事")
        await wait_for_text(server, user, "收到：还有一件事")
    assert rasa.texts() == ["邻居占了我家的地", "还有一件事"]
    assert [c.text for c in messages_to(server, user)] == [
        "收到：邻居占了我家的地",
        "收到：还有一件事",
    ]


async def test_stickers_emoji_and_unsupported_messages_get_a_kind_reply(server, rasa, tmp_path):
    user = new_user_id()
    async with running_bot(server, rasa.url, fresh_engine(tmp_path)):
        server.user_sends_sticker(user)
        server.user_sends_text(user, "👍👍")
        server.user_sends_contact(user, "13987654321")  # a contact card: not read
        server.user_sends_text(user, "   ")
        server.user_sends_text(user, "隔壁家的牛吃了我家的苞穀，找他賠他不認賬")  # Traditional
        calls = await server.wait_for_messages(user, 5)
    texts = [c.text for c in calls]
    assert texts[:3] == [say("sticker_reply"), say("emoji_only"), say("unsupported_reply")]
    # Traditional characters reach Rasa as typed (the NLU pipeline normalises them).
    assert rasa.texts() == ["隔壁家的牛吃了我家的苞穀，找他賠他不認賬"]


async def test_in_a_group_the_bot_only_answers_when_addressed_and_never_about_a_case(
    server, rasa, tmp_path
):
    user, group = new_user_id(), -100_777_000_111
    async with running_bot(server, rasa.url, fresh_engine(tmp_path)):
        server.user_sends_text(user, "今天赶集去", chat_id=group, chat_type="group")
        mention = "@xiangyin_test_bot 我家地被占了"
        server.user_sends_text(
            user,
            mention,
            chat_id=group,
            chat_type="group",
            entities=[{"type": "mention", "offset": 0, "length": 18}],
        )
        server.user_sends_text(user, "/cases", chat_id=group, chat_type="group")
        server.user_sends_text(user, "/start@other_bot", chat_id=group, chat_type="group")
        [first, second] = await server.wait_for_messages(group, 2)
        server.user_sends_text(
            user, "好的", chat_id=group, chat_type="group", reply_to_message_id=first.message_id
        )
        calls = await server.wait_for_messages(group, 3)
    assert all(c.text == say("group_private_only") for c in calls)
    assert "url" in first.reply_markup["inline_keyboard"][0][0]
    assert rasa.received == []  # nothing said in a group reaches the dialogue


async def test_rasa_down_keeps_the_message_and_relays_it_when_back(server, rasa, tmp_path):
    user = new_user_id()
    engine = fresh_engine(tmp_path)
    rasa.down = True
    async with running_bot(server, rasa.url, engine) as app:
        app.bot_data.rasa.retry_delays = (0.05, 0.05)
        server.user_sends_text(user, "我要反映低保的事")
        await wait_for_text(server, user, say("saved_for_later"))
        server.user_sends_text(user, "第二句")  # queued behind the first
        waiting = BotStateStore(engine, Clock(), cipher())._backlog_count
        await server.wait_for(lambda: waiting() == 2)
        assert say("server_down") in [c.text for c in messages_to(server, user)]
        rasa.down = False
        app.bot_data.backlog_kick.set()
        await wait_for_text(server, user, "收到：第二句")
    assert rasa.texts() == ["我要反映低保的事", "第二句"]
    assert waiting() == 0


async def test_long_replies_are_split_and_long_button_payloads_survive(server, rasa, tmp_path):
    user = new_user_id()
    long_payload = '/inform{"village":"天台村","township":"共和镇","other_party":"隔壁王老三家"}'
    assert len(("r:" + long_payload).encode()) > MAX_CALLBACK_BYTES

    def reply(sender: str, text: str) -> list[dict]:
        if text == "长":
            return [
                {
                    "text": "调" * 5000,
                    "buttons": [
                        {"title": "天台村", "payload": long_payload},
                        {"title": "对", "payload": "/affirm"},
                    ],
                }
            ]
        return [{"text": f"收到：{text}"}]

    rasa.reply = reply
    async with running_bot(server, rasa.url, fresh_engine(tmp_path)):
        server.user_sends_text(user, "长")
        first, second = await server.wait_for_messages(user, 2)
        assert utf16_len(first.text) <= 4096 and len(first.text) + len(second.text) == 5000
        assert first.reply_markup is None
        data = buttons(second)
        assert all(len(d.encode()) <= 64 for d in data.values())
        server.user_taps_button(user, second, data["天台村"])
        await wait_for_text(server, user, "收到：/inform")
        server.user_taps_button(user, second, data["对"], check=False)  # keyboard gone: stale
        await server.wait_for(lambda: len(server.callback_answers) == 2)
    assert rasa.texts()[1] == long_payload
    edited = [c for c in server.sent if c.method == "editMessageText"]
    assert edited and edited[0].text.endswith("👉 天台村")
    # The stale tap still goes to Rasa as the payload it carries (a direct r: payload).
    assert rasa.texts()[-1] == "/affirm"


async def test_a_429_on_a_reply_delays_it_but_does_not_lose_it(server, rasa, tmp_path):
    user = new_user_id()
    async with running_bot(server, rasa.url, fresh_engine(tmp_path)):
        server.fail_next("sendMessage", 429, retry_after=1, times=2)
        server.user_sends_text(user, "在吗")
        await wait_for_text(server, user, "收到：在吗")
    statuses = [c.status for c in server.calls if c.method == "sendMessage"]
    assert statuses == [429, 429, 200]


async def test_a_handler_error_is_logged_without_phone_numbers_and_the_user_is_told(
    server, rasa, tmp_path, caplog
):
    user = new_user_id()
    # Rasa's answer breaks the rendering (buttons that are not a list of buttons).
    rasa.reply = lambda sender, text: [{"text": "好的", "buttons": "not buttons"}]
    caplog.set_level(logging.ERROR, logger="bot.handlers.common")
    async with running_bot(server, rasa.url, fresh_engine(tmp_path)):
        server.user_sends_text(user, "我的电话13987654321，身份证532322199001010017")
        await wait_for_text(server, user, say("something_went_wrong"))
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "handler failed" in logged and f"user={user}" in logged and "Traceback" in logged
    assert "13987654321" not in caplog.text and "532322199001010017" not in caplog.text


async def test_a_photo_sent_before_the_case_is_filed_is_kept_and_attached_to_it(
    server, rasa, tmp_path
):
    from sqlalchemy import select

    from bot_support import file_case
    from records.adapters.orm import evidence

    user = new_user_id()
    engine = fresh_engine(tmp_path)
    async with running_bot(server, rasa.url, engine, bot_settings(tmp_path)):
        server.user_sends_photo(user, data=b"\x89PNG the fence, before")
        await wait_for_text(server, user, say("evidence_pending"))
        with engine.connect() as conn:
            [pending] = conn.execute(select(evidence)).all()
        assert pending.case_number is None  # kept for the sender, not dropped
        number = file_case(engine, f"tg:{user}")
        server.user_sends_photo(user, data=b"\x89PNG the cow in the field")
        await wait_for_text(server, user, say("evidence_saved", number=number))
    with engine.connect() as conn:
        rows = conn.execute(select(evidence).order_by(evidence.c.id)).all()
    assert [(r.case_number, r.kind) for r in rows] == [(number, "photo"), (number, "photo")]
    assert (tmp_path / "evidence" / number).is_dir()
    assert open(rows[1].stored_path, "rb").read() == b"\x89PNG the cow in the field"
    assert open(rows[0].stored_path, "rb").read() == b"\x89PNG the fence, before"


async def test_a_shared_location_is_named_as_the_nearest_village_and_confirmed(
    server, rasa, tmp_path
):
    user = new_user_id()
    async with running_bot(server, rasa.url, fresh_engine(tmp_path), bot_settings(tmp_path)):
        server.user_sends_location(user, 25.331, 101.522)  # a few hundred metres from 天台村
        guess = await wait_for_text(server, user, say("location_guess", place="共和镇天台村"))
        choices = buttons(guess)
        assert set(choices) == {say("location_yes"), say("location_no")}
        server.user_taps_button(user, guess, choices[say("location_yes")])
        await server.wait_for(lambda: len(rasa.received) == 1)
        # The assistant gets the place as if typed, so the form's village question is answered.
        assert rasa.received[0]["message"] == '/inform{"township":"共和镇","village":"天台村"}'
        assert rasa.received[0]["sender"] == f"tg:{user}"

        server.user_sends_location(user, 25.29, 101.571)  # near 腊湾村 this time
        guess = await wait_for_text(server, user, say("location_guess", place="共和镇腊湾村"))
        server.user_taps_button(user, guess, buttons(guess)[say("location_no")])
        await wait_for_text(server, user, say("location_type_place"))

        server.user_sends_location(user, 39.9, 116.4)  # Beijing: not guessed at
        await wait_for_text(server, user, say("location_far"))
    assert len(rasa.received) == 1


def test_split_text_cuts_at_line_breaks_within_telegrams_limit():
    text = ("一二三四五\n" * 1000).strip()
    pieces = split_text(text)
    assert all(utf16_len(p) <= 4096 for p in pieces)
    assert "".join(pieces).replace("\n", "") == text.replace("\n", "")
    assert all(not p.startswith("\n") for p in pieces)
    assert split_text("😀" * 3000)[0] == "😀" * 2048  # emoji count two units


def test_long_payloads_map_through_a_per_chat_key():
    chat_data: dict = {}
    payload = "/inform" + '{"x":"' + "很长" * 30 + '"}'
    data = callback_data_for(payload, chat_data)
    assert data.startswith("k:") and len(data.encode()) <= 64
    assert payload_of(data, chat_data) == payload
    assert payload_of(data, {}) is None  # another chat (or a restart): expired
    assert payload_of(callback_data_for("/affirm", chat_data), {}) == "/affirm"


def test_the_bot_will_not_start_without_a_token():
    with pytest.raises(ValueError):
        build_application(bot_settings(telegram_token=None), None, None, None)  # type: ignore[arg-type]


async def test_webhook_mode_accepts_only_telegrams_secret(server, rasa, tmp_path):
    from aiohttp.test_utils import TestClient, TestServer

    from bot.app import build_application
    from bot.webhook import SECRET_HEADER, make_webhook_app

    user = new_user_id()
    engine = fresh_engine(tmp_path)
    app = build_application(
        dataclasses.replace(bot_settings(), rasa_url=rasa.url),
        AsyncRecords(store(engine), workers=2),
        BotStateStore(engine, Clock(), cipher()),
        dispatchers(engine, Clock(), cipher()),
        base_url=server.base_url,
        base_file_url=server.base_file_url,
        token=server.token,
    )
    update = {
        "update_id": 5001,
        "message": {
            "message_id": 1,
            "date": 1_790_000_000,
            "text": "你好",
            "chat": {"id": user, "type": "private", "first_name": "村民"},
            "from": {"id": user, "is_bot": False, "first_name": "村民"},
        },
    }
    async with app:
        await app.post_init(app)
        await app.start()
        client = TestClient(TestServer(make_webhook_app(app, "s3cret-token", "/tg/update")))
        await client.start_server()
        try:
            forged = await client.post("/tg/update", json=update)
            garbage = await client.post(
                "/tg/update", data=b"{", headers={SECRET_HEADER: "s3cret-token"}
            )
            real = await client.post(
                "/tg/update", json=update, headers={SECRET_HEADER: "s3cret-token"}
            )
            assert (forged.status, garbage.status, real.status) == (403, 200, 200)
            await wait_for_text(server, user, "收到：你好")
        finally:
            await client.close()
            await app.stop()
            await app.post_stop(app)
            await app.post_shutdown(app)
    assert rasa.texts() == ["你好"]


def test_xiangyin_bot_refuses_to_start_without_a_token(monkeypatch):
    from xiangyin.cli import main as cli
    from xiangyin.settings import settings

    def main() -> int:  # the bot process's entry point
        return cli(["bot"])

    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.delenv("PTB_TIMEDELTA", raising=False)  # main() may opt in; undone after
    settings.cache_clear()
    try:
        assert main() == 2
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "1:x")
        monkeypatch.setenv("TELEGRAM_WEBHOOK_URL", "https://example.org/tg")
        settings.cache_clear()
        assert main() == 2  # a webhook without its secret is refused
    finally:
        settings.cache_clear()


async def test_updates_the_bot_does_not_expect_do_no_harm(server, rasa, tmp_path):
    user = new_user_id()
    async with running_bot(server, rasa.url, fresh_engine(tmp_path)):
        sent = server.user_sends_text(user, "第一句")
        edited = dict(sent["message"], text="改过的第一句", edit_date=sent["message"]["date"] + 5)
        server.inject_update({"update_id": 900, "edited_message": edited})
        server.inject_update({"update_id": 901, "poll_answer_from_the_future": {"x": 1}})
        server.user_sends_text(user, "第二句")
        await wait_for_text(server, user, "收到：第二句")
    assert rasa.texts() == ["第一句", "第二句"]


async def test_xiangyin_bot_runs_the_bot_until_sigterm(server, rasa, tmp_path):
    import asyncio
    import os
    import signal
    import sys

    from bot_support import ROOT

    user = new_user_id()
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": server.token,
        "TELEGRAM_API_BASE_URL": server.base_url,
        "TELEGRAM_API_BASE_FILE_URL": server.base_file_url,
        "XIANGYIN_RASA_URL": rasa.url,
        "DATABASE_URL": f"sqlite:///{tmp_path}/main.db",
    }
    env.pop("TELEGRAM_WEBHOOK_URL", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "xiangyin",
        "bot",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        server.user_sends_text(user, "你好")
        await wait_for_text(server, user, "收到：你好", timeout=60)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert server.token not in stderr.decode()  # httpx would log URLs with the token


async def test_the_error_log_masks_numbers_in_the_exception_and_its_traceback(caplog):
    from types import SimpleNamespace

    from bot.handlers.common import on_error

    try:
        raise ValueError("村民说：我的电话13987654321，身份证532322199001010017")
    except ValueError as exc:
        error = exc
    caplog.set_level(logging.ERROR, logger="bot.handlers.common")
    await on_error(None, SimpleNamespace(error=error, bot=None))
    assert "139****4321" in caplog.text and "Traceback" in caplog.text
    assert "13987654321" not in caplog.text and "532322199001010017" not in caplog.text


def test_the_bot_throttles_with_ptbs_rate_limiter_within_telegrams_limits():
    """30 msg/s overall and 20/min per group come from PTB's AIORateLimiter (aiolimiter)."""
    from telegram.ext import AIORateLimiter

    from bot.app import rate_limiter

    assert isinstance(rate_limiter(), AIORateLimiter)
