"""The fake Bot API server is faithful enough to run the real python-telegram-bot 22 against.

Every test drives a real PTB ``Application`` (or its ``Bot``) over HTTP on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import importlib.util
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, Conflict, EndPointNotFound, NetworkError, RetryAfter
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from playground.localapi import FakeBotApi

USER = 4242
STAFF = -1001234567890


@pytest.fixture
async def server() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as fake:
        yield fake


def build_app(server: FakeBotApi) -> Application:
    return (
        ApplicationBuilder()
        .token(server.token)
        .base_url(server.base_url)
        .base_file_url(server.base_file_url)
        .build()
    )


@asynccontextmanager
async def polling(app: Application) -> AsyncIterator[Application]:
    """Initialise, poll and start the application the way the brief asks (not run_polling)."""
    async with app:
        await app.updater.start_polling(poll_interval=0.0, timeout=1)
        await app.start()
        try:
            yield app
        finally:
            try:
                await app.updater.stop()
            finally:
                await app.stop()


def seconds(value: int | dtm.timedelta) -> float:
    return value.total_seconds() if isinstance(value, dtm.timedelta) else value


async def test_echo_handler_replies_to_text_and_commands(server: FakeBotApi) -> None:
    app = build_app(server)

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        keyboard = ReplyKeyboardMarkup([[KeyboardButton("咨询"), KeyboardButton("调解")]])
        await update.message.reply_text("欢迎使用乡音", reply_markup=keyboard)

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await context.bot.send_chat_action(update.effective_chat.id, ChatAction.TYPING)
        await update.message.reply_text(f"你说：{update.message.text}")

    app.add_handler(CommandHandler("start", start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    async with polling(app):
        assert app.bot.username == "xiangyin_test_bot"
        server.user_sends_text(USER, "/start")
        server.user_sends_text(USER, "我家的地被占了")
        first, second = await server.wait_for_messages(USER, 2)
    assert first.text == "欢迎使用乡音"
    assert first.reply_markup["keyboard"][0][0]["text"] == "咨询"
    assert second.text == "你说：我家的地被占了"
    assert second.message_id > first.message_id
    assert [(a.chat_id, a.action) for a in server.chat_actions] == [(USER, "typing")]


async def test_inline_keyboard_tap_reaches_callback_handler(server: FakeBotApi) -> None:
    app = build_app(server)
    tapped: list[str] = []

    async def menu(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        buttons = [
            [
                InlineKeyboardButton("是", callback_data="confirm:yes"),
                InlineKeyboardButton("否", callback_data="confirm:no"),
            ]
        ]
        await update.message.reply_text("确认提交吗？", reply_markup=InlineKeyboardMarkup(buttons))

    async def on_tap(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        tapped.append(query.data)
        await query.answer("已收到")
        await query.edit_message_text(f"你选择了：{query.data}")

    app.add_handler(CommandHandler("menu", menu))
    app.add_handler(CallbackQueryHandler(on_tap, pattern=r"^confirm:"))
    async with polling(app):
        server.user_sends_text(USER, "/menu")
        (menu_message,) = await server.wait_for_messages(USER, 1)
        assert menu_message.reply_markup["inline_keyboard"][0][1]["callback_data"] == "confirm:no"
        with pytest.raises(ValueError):
            server.user_taps_button(USER, menu_message, "not-a-button")
        server.user_taps_button(USER, menu_message, "confirm:yes")
        await server.wait_for(lambda: any(c.method == "editMessageText" for c in server.sent))
    assert tapped == ["confirm:yes"]
    assert [(a.text, a.show_alert) for a in server.callback_answers] == [("已收到", False)]
    edit = server.sent[-1]
    assert (edit.chat_id, edit.message_id, edit.text) == (
        USER,
        menu_message.message_id,
        "你选择了：confirm:yes",
    )
    assert "reply_markup" not in server.messages[(USER, menu_message.message_id)]


async def test_get_file_downloads_registered_bytes(server: FakeBotApi) -> None:
    app = build_app(server)
    downloaded: list[bytes] = []

    async def on_voice(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        voice_file = await update.message.voice.get_file()
        downloaded.append(bytes(await voice_file.download_as_bytearray()))
        await update.message.reply_text("收到语音")

    app.add_handler(MessageHandler(filters.VOICE, on_voice))
    async with polling(app):
        file_id = server.register_file("村委会通知".encode(), "documents/notice.txt")
        direct = await app.bot.get_file(file_id)
        assert direct.file_path.endswith("/documents/notice.txt")
        assert bytes(await direct.download_as_bytearray()) == "村委会通知".encode()
        server.user_sends_voice(USER, data=b"OggS\x00voice-bytes", duration=3)
        await server.wait_for_messages(USER, 1)
        with pytest.raises(BadRequest, match="(?i)invalid file_id"):
            await app.bot.get_file("no-such-file")
    assert downloaded == [b"OggS\x00voice-bytes"]


# PTB's own RetryAfter.__init__ reads the int-valued retry_after, which PTB 22.2+ deprecates.
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_429_raises_retry_after_and_502_a_network_error(server: FakeBotApi) -> None:
    async with build_app(server) as app:
        server.fail_next("sendMessage", status=429, retry_after=3)
        with pytest.raises(RetryAfter) as caught:
            await app.bot.send_message(USER, "你好")
        assert seconds(caught.value._retry_after) == 3
        assert "Retry in 3 seconds" in str(caught.value)
        server.fail_next("sendMessage", status=502)
        with pytest.raises(NetworkError) as bad_gateway:
            await app.bot.send_message(USER, "你好")
        assert not isinstance(bad_gateway.value, RetryAfter)
        await app.bot.send_message(USER, "你好")  # failures were one-shot
    assert [c.text for c in server.sent] == ["你好"]
    assert [c.status for c in server.calls if c.method == "sendMessage"] == [429, 502, 200]


async def test_forum_topic_thread_id_is_recorded(server: FakeBotApi) -> None:
    server.add_chat(STAFF, "supergroup", title="乡音工作人员", is_forum=True)
    async with build_app(server) as app:
        topic = await app.bot.create_forum_topic(STAFF, "张三 · 土地纠纷")
        assert isinstance(topic.message_thread_id, int) and topic.name == "张三 · 土地纠纷"
        thread_id = topic.message_thread_id
        sent = await app.bot.send_message(STAFF, "新的求助", message_thread_id=thread_id)
        assert sent.message_thread_id == thread_id and sent.is_topic_message
        assert server.sent[-1].message_thread_id == thread_id
        assert await app.bot.edit_forum_topic(STAFF, topic.message_thread_id, name="张三 · 已处理")
        assert server.topics[STAFF][topic.message_thread_id]["name"] == "张三 · 已处理"
        assert await app.bot.close_forum_topic(STAFF, topic.message_thread_id)
        with pytest.raises(BadRequest, match="(?i)TOPIC_CLOSED"):
            await app.bot.send_message(STAFF, "x", message_thread_id=topic.message_thread_id)
        with pytest.raises(BadRequest, match="(?i)message thread not found"):
            await app.bot.send_message(STAFF, "x", message_thread_id=999_999)
        with pytest.raises(BadRequest, match="(?i)the chat is not a forum"):
            await app.bot.create_forum_topic(USER, "私聊里不行")
        member = await app.bot.get_chat_member(STAFF, app.bot.id)
        assert member.status == "administrator" and member.can_manage_topics
        chat = await app.bot.get_chat(STAFF)
        assert chat.is_forum and chat.title == "乡音工作人员"


async def test_staff_reply_in_a_topic_stays_in_the_thread(server: FakeBotApi) -> None:
    server.add_chat(STAFF, "supergroup", title="乡音工作人员", is_forum=True)
    app = build_app(server)
    routed: list[int | None] = []

    async def staff_reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        routed.append(update.message.message_thread_id)
        await update.message.reply_text("已转给村民")

    app.add_handler(MessageHandler(filters.Chat(STAFF) & filters.TEXT, staff_reply))
    async with polling(app):
        topic = await app.bot.create_forum_topic(STAFF, "李四 · 低保")
        staff_message = server.user_sends_text(
            777,
            "请带户口本来村委会",
            chat_id=STAFF,
            chat_type="supergroup",
            message_thread_id=topic.message_thread_id,
        )
        (reply,) = await server.wait_for_messages(STAFF, 1)
    assert routed == [topic.message_thread_id]
    assert reply.message_thread_id == topic.message_thread_id
    # PTB quotes in groups by default: reply_parameters must name a message the server knows
    staff_message_id = staff_message["message"]["message_id"]
    assert reply.params["reply_parameters"] == {"message_id": staff_message_id}
    assert reply.result["reply_to_message"]["text"] == "请带户口本来村委会"


async def test_long_polling_does_not_busy_loop(server: FakeBotApi) -> None:
    async with polling(build_app(server)):
        await asyncio.sleep(0.2)
        before = sum(c.method == "getUpdates" for c in server.calls)
        await asyncio.sleep(2.0)
        idle_polls = sum(c.method == "getUpdates" for c in server.calls) - before
        server.user_sends_text(USER, "醒醒")  # a waiting long poll returns at once
        sent_at = asyncio.get_running_loop().time()
        await server.wait_for(lambda: not server._queue or server._queue[0].delivered, 2)
        latency = asyncio.get_running_loop().time() - sent_at
    assert 1 <= idle_polls <= 4, idle_polls  # timeout=1 over 2 s: about 2, never hundreds
    assert latency < 0.5


async def test_duplicate_update_is_delivered_twice(server: FakeBotApi) -> None:
    """The server does not de-duplicate: a repeated update_id reaches the handlers again.

    Real Telegram redelivers updates that were not confirmed (e.g. after a crash), so
    de-duplicating by update_id / message_id is the bot's job.
    """
    app = build_app(server)
    seen: list[tuple[int, str]] = []

    async def record(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append((update.update_id, update.message.text))

    app.add_handler(MessageHandler(filters.TEXT, record))
    async with polling(app):
        update = server.user_sends_text(USER, "我要投诉")
        server.inject_update(update)
        await server.wait_for(lambda: len(seen) >= 2, 5)
        await asyncio.sleep(0.3)
    assert seen == [(update["update_id"], "我要投诉")] * 2


async def test_bot_api_validation_matches_the_real_api(server: FakeBotApi) -> None:
    async with build_app(server) as app:
        bot = app.bot
        with pytest.raises(BadRequest, match="(?i)message is too long"):
            await bot.send_message(USER, "乡" * 4097)
        assert (await bot.send_message(USER, "乡" * 4096)).text == "乡" * 4096
        with pytest.raises(BadRequest, match="(?i)message text is empty"):
            await bot.send_message(USER, "   ")
        with pytest.raises(BadRequest, match="(?i)BUTTON_DATA_INVALID"):
            await bot.send_message(
                USER,
                "选择",
                reply_markup=InlineKeyboardMarkup(
                    [[InlineKeyboardButton("长", callback_data="村" * 22)]]
                ),
            )  # 66 bytes
        with pytest.raises(BadRequest, match="(?i)can't parse entities"):
            await bot.send_message(USER, "a <foo>b</foo>", parse_mode=ParseMode.HTML)
        html = await bot.send_message(USER, "<b>注意</b>：材料 &lt;3 份", parse_mode=ParseMode.HTML)
        assert html.text == "注意：材料 <3 份"
        assert [(e.type, e.offset, e.length) for e in html.entities] == [("bold", 0, 2)]
        with pytest.raises(BadRequest, match="(?i)message is not modified"):
            await bot.edit_message_text(
                "注意：材料 <3 份", USER, html.message_id, entities=html.entities
            )
        with pytest.raises(BadRequest, match="(?i)message to be replied not found"):
            await bot.send_message(USER, "回复", reply_to_message_id=987654)
        with pytest.raises(EndPointNotFound):
            await bot.do_api_request("noSuchMethod")
        assert await bot.delete_message(USER, html.message_id)
        with pytest.raises(BadRequest, match="(?i)message to delete not found"):
            await bot.delete_message(USER, html.message_id)


async def test_get_updates_offset_allowed_updates_and_webhook_conflict(server: FakeBotApi) -> None:
    async with build_app(server) as app:
        bot = app.bot
        menu = await bot.send_message(
            USER,
            "选",
            reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("好", callback_data="ok")]]),
        )
        text_update = server.user_sends_text(USER, "一")
        server.user_taps_button(USER, menu.to_dict(), "ok")
        server.user_sends_text(USER, "二")
        first = await bot.get_updates(limit=1)
        assert [u.update_id for u in first] == [text_update["update_id"]]
        # Telegram drops update types left out of allowed_updates (and remembers the setting)
        rest = await bot.get_updates(offset=first[0].update_id + 1, allowed_updates=["message"])
        assert [u.message.text for u in rest] == ["二"]
        assert await bot.get_updates(offset=rest[-1].update_id + 1, timeout=0) == ()
        assert await bot.set_webhook("https://example.invalid/hook")
        with pytest.raises(Conflict, match="(?i)webhook is active"):
            await bot.get_updates()
        assert await bot.delete_webhook()


async def test_media_copy_forward_commands_and_menu(server: FakeBotApi) -> None:
    async with build_app(server) as app:
        bot = app.bot
        photo = await bot.send_photo(USER, photo=b"\x89PNG upload", caption="村规民约")
        assert photo.caption == "村规民约"
        upload = await bot.get_file(photo.photo[-1].file_id)
        assert bytes(await upload.download_as_bytearray()) == b"\x89PNG upload"
        again = await bot.send_photo(USER, photo=photo.photo[-1].file_id)
        assert again.photo[-1].file_id == photo.photo[-1].file_id
        document = await bot.send_document(USER, document=b"%PDF-1.4", filename="申请表.pdf")
        assert document.document.file_name == "申请表.pdf"
        voice = await bot.send_voice(USER, voice=b"OggS", duration=2)
        assert voice.voice.file_size == 4 and voice.voice.mime_type == "audio/ogg"
        location = await bot.send_location(USER, latitude=30.66, longitude=104.06)
        assert location.location.latitude == pytest.approx(30.66)
        user_update = server.user_sends_text(USER, "请转给工作人员")
        copied = await bot.copy_message(STAFF, USER, user_update["message"]["message_id"])
        forwarded = await bot.forward_message(STAFF, USER, user_update["message"]["message_id"])
        assert forwarded.text == "请转给工作人员"
        assert forwarded.forward_origin.sender_user.id == USER
        assert [c.text for c in server.sent if c.chat_id == STAFF] == ["请转给工作人员"] * 2
        assert server.sent[-2].message_id == copied.message_id
        assert await bot.set_my_commands([("start", "开始"), ("help", "帮助")])
        assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
        assert await bot.set_chat_menu_button()
        assert (await bot.get_chat_member(USER, USER)).status == "member"
        assert (await bot.get_webhook_info()).url == ""


def test_aiolimiter_is_not_installed_and_not_needed() -> None:
    """No test here uses AIORateLimiter; PTB refuses to build one without the aiolimiter extra."""
    if importlib.util.find_spec("aiolimiter") is None:
        with pytest.raises(RuntimeError, match="(?i)rate-limiter"):
            AIORateLimiter()
    else:  # pragma: no cover - depends on the environment
        AIORateLimiter()
