"""FakeBotApi: a small Telegram Bot API server on 127.0.0.1 (tests, benchmark, playground).

It speaks the HTTP interface published at https://core.telegram.org/bots/api closely enough
for python-telegram-bot 22 to run unmodified against it::

    server = FakeBotApi()
    await server.start()
    app = (ApplicationBuilder().token(server.token)
           .base_url(server.base_url).base_file_url(server.base_file_url).build())

Faithful: the ``{"ok": ..., "result" | "error_code"/"description"/"parameters"}`` envelope and
HTTP status, dates in seconds, method names case-insensitive, parameters from the query string,
JSON, url-encoded or multipart bodies, long polling of getUpdates (``offset``/``limit``/
``timeout``, 409 when a newer getUpdates or a webhook is active), text limits measured in UTF-16
units after entity parsing, ``parse_mode="HTML"`` parsed into entities (bad markup is a 400),
inline-button validation (callback_data 1-64 bytes), "message is not modified" on identical
edits, forum topics (threads must exist and be open).

Deliberately simplified: Markdown/MarkdownV2 text is passed through unparsed and unvalidated;
there are no flood limits unless a test asks for one with :meth:`FakeBotApi.fail_next`; unknown
chat ids are created on first use (pass ``strict_chats=True`` for "chat not found"); error
descriptions follow Telegram's wording where known, and are close approximations elsewhere.

Delivery: an update stays queued until getUpdates has returned it *and* a later getUpdates
carries an ``offset`` above its ``update_id``. An update never returned is delivered whatever
its ``update_id``, so injecting the same update twice delivers it twice: de-duplicating is the
bot's job, as with real Telegram's redeliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import html
import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from aiohttp import web

Json = dict[str, Any]
Params = dict[str, Any]

# Parameters that Bot API clients send as JSON-serialised strings in form bodies.
JSON_PARAMS = {
    "reply_markup", "entities", "caption_entities", "reply_parameters", "link_preview_options",
    "commands", "scope", "menu_button", "allowed_updates", "media", "permissions",
}
# Methods that put a new message into a chat (what wait_for_messages waits for).
MESSAGE_METHODS = {
    "sendmessage", "sendphoto", "senddocument", "sendvoice", "sendlocation", "copymessage",
    "forwardmessage",
}
CHAT_ACTIONS = {
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note",
    "upload_video_note",
}
INLINE_BUTTON_ACTIONS = {
    "url", "callback_data", "web_app", "login_url", "switch_inline_query", "pay",
    "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "callback_game",
    "copy_text",
}
CONTENT_KEYS = ("text", "entities", "caption", "caption_entities", "photo", "document", "voice",
                "sticker", "location", "contact")
HTML_ENTITY_TYPES = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "tg-spoiler": "spoiler", "span": "spoiler", "a": "text_link", "code": "code", "pre": "pre",
    "blockquote": "blockquote", "tg-emoji": "custom_emoji",
}
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^<>]*)?)\s*/?>")
_ATTR = re.compile(r"""([a-zA-Z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
_ADMIN_RIGHTS = dict.fromkeys(
    ("can_manage_chat", "can_delete_messages", "can_manage_video_chats", "can_restrict_members",
     "can_change_info", "can_invite_users", "can_pin_messages", "can_manage_topics"), True)
_ADMIN_RIGHTS.update(dict.fromkeys(("can_be_edited", "is_anonymous", "can_promote_members",
                                    "can_post_stories", "can_edit_stories",
                                    "can_delete_stories"), False))
_RESTRICTED = dict.fromkeys(
    ("can_change_info", "can_invite_users", "can_pin_messages", "can_send_messages",
     "can_send_polls", "can_send_other_messages", "can_add_web_page_previews",
     "can_manage_topics", "can_send_audios", "can_send_documents", "can_send_photos",
     "can_send_videos", "can_send_video_notes", "can_send_voice_notes"), False)


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


class ApiError(Exception):
    """An error answer: raised by method implementations, turned into the Bot API envelope."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after


def bad_request(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


@dataclass
class SentCall:
    """A successful bot→user call (send*, copy/forward, edit*, deleteMessage)."""

    method: str                 # Bot API spelling, e.g. "sendMessage"
    chat_id: int | None
    text: str | None            # text or caption exactly as the bot sent it (markup included)
    reply_markup: Json | None
    message_thread_id: int | None
    message_id: int | None      # the new / edited / deleted message
    time: float                 # time.monotonic()
    params: Params = field(default_factory=dict)
    result: Any = None          # what the server answered


@dataclass
class ChatActionCall:
    chat_id: int
    action: str
    message_thread_id: int | None
    time: float


@dataclass
class CallbackAnswer:
    callback_query_id: str
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int
    time: float


@dataclass
class ApiCall:
    """Every request that reached a method, failed or not."""

    method: str                 # as requested
    params: Params
    status: int
    time: float


@dataclass
class _Queued:
    update: Json
    delivered: bool = False


@dataclass
class _Failure:
    status: int
    retry_after: int
    times: int
    description: str | None


@dataclass
class _Upload:
    filename: str
    content_type: str
    data: bytes


class FakeBotApi:
    """The fake server. Use from the tests' own event loop; see the module docstring."""

    def __init__(self, token: str = "123456789:TEST-xiangyin-token", *,
                 bot_username: str = "xiangyin_test_bot", bot_first_name: str = "乡音",
                 strict_chats: bool = False) -> None:
        self.token = token
        self.strict_chats = strict_chats
        self.bot_user: Json = {"id": int(token.split(":")[0]), "is_bot": True,
                               "first_name": bot_first_name, "username": bot_username,
                               "can_join_groups": True, "can_read_all_group_messages": False,
                               "supports_inline_queries": False}
        self.port: int = 0
        self.sent: list[SentCall] = []
        self.chat_actions: list[ChatActionCall] = []
        self.callback_answers: list[CallbackAnswer] = []
        self.calls: list[ApiCall] = []
        self.chats: dict[int, Json] = {}
        self.users: dict[int, Json] = {}
        self.messages: dict[tuple[int, int], Json] = {}        # (chat_id, message_id) -> Message
        self.topics: dict[int, dict[int, Json]] = {}           # chat_id -> thread id -> topic
        self.members: dict[tuple[int, int], str] = {}          # (chat_id, user_id) -> status
        self.commands: dict[tuple[str, str], list[Json]] = {}  # (scope json, language) -> list
        self.menu_buttons: dict[int | None, Json] = {}
        self.files: dict[str, tuple[bytes, str]] = {}          # file_id -> (bytes, file_path)
        self.webhook_url = ""
        self.allowed_updates: list[str] = []   # as last set by getUpdates/setWebhook; [] = all
        self._queue: list[_Queued] = []
        self._failures: dict[str, list[_Failure]] = {}
        #: Chats whose user blocked the bot: every send to them is refused with a 403.
        self.blocked: set[int] = set()
        self._open_queries: dict[str, Json] = {}
        self._next_update_id = 1
        self._next_ids: dict[str, int] = {}
        self._poll_generation = 0
        self._closing = False
        self._in_flight = 0
        self._updates_event = asyncio.Event()
        self._activity_event = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._methods: dict[str, Callable[[Params], Awaitable[Any]]] = {
            name[4:].lower(): getattr(self, name) for name in dir(self) if name.startswith("api_")
        }

    # ----------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Listen on 127.0.0.1 on a free port (then in :attr:`port`)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Answer pending long polls at once and shut the server down."""
        self._closing = True
        self._wake("_updates_event")
        for _ in range(100):   # let woken long polls write their answers (aiohttp cancels them)
            await asyncio.sleep(0.01)
            if not self._in_flight:
                break
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotApi:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """For ``ApplicationBuilder().base_url(...)`` (PTB appends the token)."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """For ``ApplicationBuilder().base_file_url(...)``."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    # ----------------------------------------------------------------- test-facing API
    def add_chat(self, chat_id: int, type: str = "supergroup", *, title: str | None = None,
                 is_forum: bool = False, username: str | None = None,
                 first_name: str | None = None) -> Json:
        """Register (or update) a chat; forum topics need ``type="supergroup", is_forum=True``."""
        chat: Json = {"id": chat_id, "type": type}
        if type == "private":
            chat["first_name"] = first_name or f"User{chat_id}"
        else:
            chat["title"] = title or f"Chat {chat_id}"
        if username:
            chat["username"] = username
        if is_forum:
            chat["is_forum"] = True
        self.chats[chat_id] = chat
        return chat

    def set_member_status(self, chat_id: int, user_id: int, status: str) -> None:
        """getChatMember answer: creator/administrator/member/restricted/left/kicked."""
        self.members[(chat_id, user_id)] = status

    def register_file(self, data: bytes, file_path: str | None = None,
                      file_id: str | None = None) -> str:
        """Make ``data`` downloadable through getFile; returns the file_id."""
        n = self._next("file")
        file_id = file_id or f"FILE{n:06d}"
        self.files[file_id] = (bytes(data), file_path or f"documents/file_{n}")
        return file_id

    def fail_next(self, method: str, status: int = 429, retry_after: int = 1, times: int = 1,
                  description: str | None = None) -> None:
        """Make the next ``times`` calls of ``method`` fail with ``status``.

        429 answers carry ``parameters.retry_after``; 5xx answers are an nginx-style HTML page
        unless a ``description`` is given; anything else is the JSON error envelope.
        """
        self._failures.setdefault(method.lower(), []).append(
            _Failure(status, retry_after, times, description))

    def block(self, chat_id: int) -> None:
        """The user behind ``chat_id`` blocks the bot: sends to the chat get Telegram's 403."""
        self.blocked.add(chat_id)

    def inject_update(self, raw: Mapping[str, Any]) -> Json:
        """Queue ``raw`` as it is (a copy); for duplicate, unusual or malformed updates.

        Beware: an update PTB 22 cannot parse (e.g. a message without ``date``) is never
        confirmed, so PTB refetches the same batch in a tight loop and the valid updates in
        it never reach handlers; ``Updater.stop()`` then raises. Prefer updates PTB can parse
        but the bot may not expect (no text, ``edited_message``, unknown fields, repeats).
        """
        update = copy.deepcopy(dict(raw))
        if isinstance(update.get("update_id"), int):
            self._next_update_id = max(self._next_update_id, update["update_id"] + 1)
        self._queue.append(_Queued(update))
        self._wake("_updates_event")
        return update

    def user_sends_text(self, user_id: int, text: str, chat_id: int | None = None,
                        chat_type: str = "private", first_name: str = "测试用户",
                        username: str | None = None, message_thread_id: int | None = None,
                        entities: list[Json] | None = None, **extra: Any) -> Json:
        """Queue a text message update; a leading ``/command`` gets its bot_command entity."""
        content: Json = {"text": text}
        if entities is None and text.startswith("/"):
            entities = [{"type": "bot_command", "offset": 0,
                         "length": utf16_len(text.split(maxsplit=1)[0])}]
        if entities:
            content["entities"] = entities
        return self._user_message(user_id, content, chat_id, chat_type, first_name, username,
                                  message_thread_id, **extra)

    def user_sends_photo(self, user_id: int, data: bytes = b"\x89PNG fake",
                         caption: str | None = None, **kw: Any) -> Json:
        """Queue a photo message (one 800x600 size); its bytes are served by getFile."""
        return self._user_file(user_id, "photo", data, "photos/photo.jpg", caption, kw,
                               width=800, height=600)

    def user_sends_document(self, user_id: int, data: bytes = b"fake document",
                            file_name: str = "file.pdf", mime_type: str = "application/pdf",
                            caption: str | None = None, **kw: Any) -> Json:
        return self._user_file(user_id, "document", data, f"documents/{file_name}", caption, kw,
                               file_name=file_name, mime_type=mime_type)

    def user_sends_voice(self, user_id: int, data: bytes = b"OggS fake voice", duration: int = 2,
                         mime_type: str = "audio/ogg", **kw: Any) -> Json:
        return self._user_file(user_id, "voice", data, "voice/voice.oga", None, kw,
                               duration=duration, mime_type=mime_type)

    def user_sends_sticker(self, user_id: int, emoji: str = "👍", data: bytes = b"RIFF fake",
                           **kw: Any) -> Json:
        return self._user_file(user_id, "sticker", data, "stickers/sticker.webp", None, kw,
                               type="regular", width=512, height=512, is_animated=False,
                               is_video=False, emoji=emoji)

    def user_sends_location(self, user_id: int, latitude: float, longitude: float,
                            **kw: Any) -> Json:
        return self._user_message(
            user_id, {"location": {"latitude": latitude, "longitude": longitude}}, **kw)

    def user_sends_contact(self, user_id: int, phone_number: str, first_name: str = "测试用户",
                           contact_user_id: int | None = None, **kw: Any) -> Json:
        contact: Json = {"phone_number": phone_number, "first_name": first_name}
        if contact_user_id is not None:
            contact["user_id"] = contact_user_id
        return self._user_message(user_id, {"contact": contact}, **kw)

    def user_taps_button(self, user_id: int, message: SentCall | Mapping[str, Any], data: str,
                         *, check: bool = True, first_name: str = "测试用户",
                         username: str | None = None) -> Json:
        """Queue a callback_query for an inline button of a bot message.

        ``message`` is a :class:`SentCall` or a Message dict; the query carries the message as
        it is now (after edits). With ``check`` the button must exist on it (ValueError if not);
        pass ``check=False`` to simulate a stale or forged button.
        """
        if isinstance(message, SentCall):
            key = (message.chat_id, message.message_id)
        else:
            key = (message["chat"]["id"], message["message_id"])
        current = self.messages.get(key)  # type: ignore[arg-type]
        if current is None:
            raise ValueError(f"no message {key} in the fake server")
        buttons = [b.get("callback_data") for row in
                   current.get("reply_markup", {}).get("inline_keyboard", []) for b in row]
        if check and data not in buttons:
            raise ValueError(f"message {key} has no button with callback_data {data!r}: {buttons}")
        query = {"id": str(4_000_000_000 + self._next("query")),
                 "from": self._user(user_id, first_name, username), "message": current,
                 "chat_instance": str(abs(hash(key[0]))), "data": data}
        self._open_queries[query["id"]] = query
        return self._queue_update({"callback_query": query})

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10) -> None:
        """Wait until ``predicate()`` holds; it is re-checked whenever the bot calls the API."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                recent = [(c.method, c.chat_id, c.text) for c in self.sent[-5:]]
                raise TimeoutError(f"condition not met in {timeout}s; last sent: {recent}")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._activity_event.wait(), remaining)

    async def wait_for_messages(self, chat_id: int, count: int,
                                timeout: float = 10) -> list[SentCall]:
        """Wait until the bot has put ``count`` messages into ``chat_id``; returns them all."""
        def found() -> list[SentCall]:
            return [c for c in self.sent
                    if c.chat_id == chat_id and c.method.lower() in MESSAGE_METHODS]
        try:
            await self.wait_for(lambda: len(found()) >= count, timeout)
        except TimeoutError:
            raise TimeoutError(f"chat {chat_id}: wanted {count} messages in {timeout}s, got "
                               f"{[c.text for c in found()]}") from None
        return found()

    # ----------------------------------------------------------------- HTTP plumbing
    async def _handle_method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _envelope(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        self._in_flight += 1
        try:
            return await self._answer(request.match_info["method"], request)
        finally:
            self._in_flight -= 1

    async def _answer(self, method: str, request: web.Request) -> web.Response:
        try:
            params = await _read_params(request)
        except ValueError as exc:
            params, error = {}, bad_request(str(exc))
        else:
            error = None
        impl = self._methods.get(method.lower())
        if error is None and impl is None:
            error = ApiError(404, "Not Found")
        try:
            error = self._take_failure(method) or error
            if error is None and method.lower().startswith(("send", "copy")):
                try:
                    target = int(params.get("chat_id", 0))
                except (TypeError, ValueError):
                    target = 0
                if target in self.blocked:
                    error = ApiError(403, "Forbidden: bot was blocked by the user")
            if error is not None:
                raise error
            result = await impl(params)  # type: ignore[misc]
        except (TypeError, ValueError) as exc:   # a parameter of the wrong type
            error = bad_request(f"wrong parameter: {exc}")
            self.calls.append(ApiCall(method, params, 400, time.monotonic()))
            return _envelope(400, {"ok": False, "error_code": 400,
                                   "description": error.description})
        except ApiError as exc:
            self.calls.append(ApiCall(method, params, exc.code, time.monotonic()))
            if not exc.description:   # a proxy error page, as nginx in front of the API sends
                title = f"{exc.code} {HTTPStatus(exc.code).phrase}"
                page = f"<html><head><title>{title}</title></head></html>"
                return web.Response(status=exc.code, text=page, content_type="text/html")
            body: Json = {"ok": False, "error_code": exc.code, "description": exc.description}
            if exc.retry_after is not None:
                body["parameters"] = {"retry_after": exc.retry_after}
            return _envelope(exc.code, body)
        self.calls.append(ApiCall(method, params, 200, time.monotonic()))
        self._wake("_activity_event")
        return _envelope(200, {"ok": True, "result": result})

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] == self.token:
            for data, file_path in self.files.values():
                if file_path == request.match_info["path"]:
                    return web.Response(body=data, content_type="application/octet-stream")
        return _envelope(404, {"ok": False, "error_code": 404, "description": "Not Found"})

    def _take_failure(self, method: str) -> ApiError | None:
        pending = self._failures.get(method.lower())
        if not pending:
            return None
        failure = pending[0]
        failure.times -= 1
        if failure.times <= 0:
            pending.pop(0)
        if failure.status == 429:
            return ApiError(429, failure.description or
                            f"Too Many Requests: retry after {failure.retry_after}",
                            failure.retry_after)
        if failure.status >= 500 and failure.description is None:
            return ApiError(failure.status, "")
        return ApiError(failure.status, failure.description or "Bad Request: simulated failure")

    # ----------------------------------------------------------------- internals
    def _wake(self, name: str) -> None:
        event: asyncio.Event = getattr(self, name)
        setattr(self, name, asyncio.Event())
        event.set()

    def _next(self, counter: str) -> int:
        self._next_ids[counter] = self._next_ids.get(counter, 0) + 1
        return self._next_ids[counter]

    def _user(self, user_id: int, first_name: str = "测试用户", username: str | None = None,
              language_code: str | None = None) -> Json:
        user: Json = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        self.users[user_id] = user
        return user

    def _file_meta(self, file_id: str) -> Json:
        return {"file_id": file_id, "file_unique_id": f"U{file_id}",
                "file_size": len(self.files[file_id][0])}

    def _queue_update(self, payload: Json) -> Json:
        update = {"update_id": self._next_update_id, **payload}
        self._next_update_id += 1
        self._queue.append(_Queued(update))
        self._wake("_updates_event")
        return update

    def _user_file(self, user_id: int, kind: str, data: bytes, path: str, caption: str | None,
                   kw: dict[str, Any], **fields: Any) -> Json:
        stem, dot, ext = path.rpartition(".")
        file_id = self.register_file(data, f"{stem}_{len(self.files) + 1}{dot}{ext}")
        media = {**self._file_meta(file_id), **fields}
        content: Json = {kind: [media] if kind == "photo" else media}
        if caption:
            content["caption"] = caption
        return self._user_message(user_id, content, **kw)

    def _user_message(self, user_id: int, content: Json, chat_id: int | None = None,
                      chat_type: str = "private", first_name: str = "测试用户",
                      username: str | None = None, message_thread_id: int | None = None,
                      language_code: str | None = "zh-hans", chat_title: str | None = None,
                      reply_to_message_id: int | None = None) -> Json:
        sender = self._user(user_id, first_name, username, language_code)
        if chat_type == "private":
            chat = self.add_chat(user_id, "private", first_name=first_name, username=username)
        else:
            if chat_id is None:
                raise ValueError("group messages need a chat_id")
            chat = self.chats.get(chat_id) or self.add_chat(chat_id, chat_type, title=chat_title)
            if message_thread_id is not None and chat_type == "supergroup":
                chat["is_forum"] = True
                self.topics.setdefault(chat_id, {}).setdefault(message_thread_id, {
                    "message_thread_id": message_thread_id, "name": f"Topic {message_thread_id}",
                    "icon_color": 7322096, "is_closed": False})
        reply_to = self.messages.get((chat["id"], reply_to_message_id or 0))
        message = self._new_message(chat, sender, content, message_thread_id, reply_to)
        return self._queue_update({"message": message})

    def _new_message(self, chat: Json, sender: Json, content: Json, thread_id: int | None,
                     reply_to: Json | None) -> Json:
        message: Json = {"message_id": self._next(f"msg{chat['id']}"), "date": int(time.time()),
                         "chat": chat, "from": sender, **content}
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            if chat.get("is_forum"):
                message["is_topic_message"] = True
        if reply_to is not None:
            message["reply_to_message"] = {k: v for k, v in reply_to.items()
                                           if k != "reply_to_message"}
        self.messages[(chat["id"], message["message_id"])] = message
        return message

    def _record(self, method: str, chat_id: int | None, params: Params, message_id: int | None,
                result: Any, thread_id: int | None = None, text: str | None = None) -> None:
        text = text if text is not None else params.get("text", params.get("caption"))
        markup = params.get("reply_markup")
        self.sent.append(SentCall(method, chat_id, text, markup if isinstance(markup, dict) else
                                  None, thread_id, message_id, time.monotonic(), params, result))

    def _chat(self, params: Params, name: str = "chat_id") -> Json:
        raw = params.get(name)
        if raw in (None, ""):
            raise bad_request(f"{name} is empty")
        if isinstance(raw, str) and raw.startswith("@"):
            for chat in self.chats.values():
                if chat.get("username", "").lower() == raw[1:].lower():
                    return chat
            raise bad_request("chat not found")
        chat_id = _int(params, name)
        if chat_id in self.chats:
            return self.chats[chat_id]
        if self.strict_chats or chat_id == 0:
            raise bad_request("chat not found")
        return self.add_chat(chat_id, "private" if chat_id > 0 else "supergroup")

    def _message(self, chat: Json, message_id: int | None, missing: str) -> Json:
        message = self.messages.get((chat["id"], message_id or 0))
        if message is None:
            raise bad_request(missing)
        return message

    def _thread(self, chat: Json, params: Params) -> int | None:
        thread_id = _int(params, "message_thread_id")
        if thread_id is None or not chat.get("is_forum") or thread_id == 1:
            return thread_id
        topic = self.topics.get(chat["id"], {}).get(thread_id)
        if topic is None:
            raise bad_request("message thread not found")
        if topic["is_closed"]:
            raise bad_request("TOPIC_CLOSED")
        return thread_id

    def _reply_target(self, chat: Json, params: Params) -> Json | None:
        reply = params.get("reply_parameters") or {}
        message_id = reply.get("message_id") or _int(params, "reply_to_message_id")
        if not message_id:
            return None
        target_chat = self._chat(reply) if reply.get("chat_id") else chat
        target = self.messages.get((target_chat["id"], int(message_id)))
        allow = reply.get("allow_sending_without_reply",
                          _bool(params, "allow_sending_without_reply"))
        if target is None and not allow:
            raise bad_request("message to be replied not found")
        return target

    def _send(self, method: str, params: Params, content: Json, text: str | None = None) -> Json:
        """Shared tail of every send*: chat, topic, reply, keyboard, store, record."""
        chat = self._chat(params)
        thread_id = self._thread(chat, params)
        reply_to = self._reply_target(chat, params)
        markup = _check_markup(params)
        if markup and "inline_keyboard" in markup:
            content["reply_markup"] = markup
        message = self._new_message(chat, self.bot_user, content, thread_id, reply_to)
        self._record(method, chat["id"], params, message["message_id"], message, thread_id, text)
        return message

    def _text_content(self, params: Params, key: str = "text", limit: int = 4096) -> Json:
        raw = params.get(key)
        if key == "text" and (raw is None or not str(raw).strip()):
            raise bad_request("message text is empty")
        if raw is None:
            return {}
        text, entities = _format(str(raw), params.get("parse_mode"),
                                 params.get("entities" if key == "text" else "caption_entities"))
        if key == "text" and not text.strip():
            raise bad_request("message text is empty")
        if utf16_len(text) > limit:
            raise bad_request("message is too long" if key == "text" else
                              "message caption is too long")
        content: Json = {key: text}
        if entities:
            content["entities" if key == "text" else "caption_entities"] = entities
        return content

    async def _media(self, method: str, params: Params, kind: str) -> Json:
        value = params.get(kind)
        if isinstance(value, str) and value.startswith("attach://"):
            value = params.get(value[len("attach://"):])
        if value in (None, ""):
            raise bad_request(f"there is no {kind} in the request")
        if isinstance(value, _Upload):
            file_id = self.register_file(value.data, f"{kind}s/{value.filename}")
            name, mime = value.filename, value.content_type
        elif str(value) in self.files:
            file_id, name, mime = str(value), "file", "application/octet-stream"
        elif str(value).startswith(("http://", "https://")):
            file_id, name, mime = self.register_file(b""), str(value).rsplit("/", 1)[-1], ""
        else:
            raise bad_request("wrong file identifier/HTTP URL specified")
        meta = self._file_meta(file_id)
        media: Any = {
            "photo": [{**meta, "width": 800, "height": 600}],
            "document": {**meta, "file_name": name, "mime_type": mime or "application/pdf"},
            "voice": {**meta, "duration": _int(params, "duration") or 1,
                      "mime_type": "audio/ogg"},
        }[kind]
        content = {kind: media, **self._text_content(params, "caption", 1024)}
        return self._send(method, params, content)

    def _edit(self, method: str, params: Params, changes: Json) -> Json | bool:
        if params.get("inline_message_id"):
            self._record(method, None, params, None, True)
            return True
        chat = self._chat(params)
        message = self._message(chat, _int(params, "message_id"), "message to edit not found")
        new = {k: v for k, v in message.items() if k not in ("reply_markup", "edit_date")}
        new.update(changes)
        if "entities" in new and "entities" not in changes and "text" in changes:
            new.pop("entities")
        markup = _check_markup(params)
        if markup and "inline_keyboard" in markup:
            new["reply_markup"] = markup
        same = all(message.get(k) == new.get(k)
                   for k in ("text", "entities", "caption", "reply_markup"))
        if same:
            raise bad_request("message is not modified: specified new message content and reply "
                              "markup are exactly the same as a current content and reply "
                              "markup of the message")
        new["edit_date"] = int(time.time())
        self.messages[(chat["id"], message["message_id"])] = new
        self._record(method, chat["id"], params, message["message_id"], new,
                     message.get("message_thread_id"))
        return new

    # ----------------------------------------------------------------- Bot API methods
    async def api_getMe(self, p: Params) -> Json:
        return self.bot_user

    async def api_getUpdates(self, p: Params) -> list[Json]:
        if self.webhook_url:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset = _int(p, "offset") or 0
        limit = min(max(_int(p, "limit") or 100, 1), 100)
        timeout = min(max(float(p.get("timeout") or 0), 0.0), 50.0)
        if isinstance(p.get("allowed_updates"), list):   # remembered, as by Telegram
            self.allowed_updates = p["allowed_updates"]
        if offset > 0:
            self._queue = [q for q in self._queue
                           if not (q.delivered and q.update.get("update_id", 0) < offset)]
        elif offset < 0:
            self._queue = self._queue[offset:]
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake("_updates_event")   # a newer getUpdates terminates an older one
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._deliverable() and not self._closing and loop.time() < deadline:
            try:
                await asyncio.wait_for(self._updates_event.wait(), deadline - loop.time())
            except asyncio.TimeoutError:
                break
            if generation != self._poll_generation:
                raise ApiError(409, "Conflict: terminated by other getUpdates request; make "
                                    "sure that only one bot instance is running")
        batch = self._deliverable()[:limit]
        for queued in batch:
            queued.delivered = True
        return [q.update for q in batch]

    def _deliverable(self) -> list[_Queued]:
        """The queue minus update types excluded by allowed_updates (Telegram drops those)."""
        if self.allowed_updates:
            self._queue = [q for q in self._queue
                           if set(q.update) - {"update_id"} <= set(self.allowed_updates)
                           or set(q.update) == {"update_id"}]
        return self._queue

    async def api_setWebhook(self, p: Params) -> bool:
        self.webhook_url = str(p.get("url") or "")
        if isinstance(p.get("allowed_updates"), list):
            self.allowed_updates = p["allowed_updates"]
        if _bool(p, "drop_pending_updates"):
            self._queue.clear()
        return True

    async def api_deleteWebhook(self, p: Params) -> bool:
        self.webhook_url = ""
        if _bool(p, "drop_pending_updates"):
            self._queue.clear()
        return True

    async def api_getWebhookInfo(self, p: Params) -> Json:
        return {"url": self.webhook_url, "has_custom_certificate": False,
                "pending_update_count": len(self._queue)}

    async def api_close(self, p: Params) -> bool:
        return True

    async def api_logOut(self, p: Params) -> bool:
        return True

    async def api_sendMessage(self, p: Params) -> Json:
        return self._send("sendMessage", p, self._text_content(p))

    async def api_sendPhoto(self, p: Params) -> Json:
        return await self._media("sendPhoto", p, "photo")

    async def api_sendDocument(self, p: Params) -> Json:
        return await self._media("sendDocument", p, "document")

    async def api_sendVoice(self, p: Params) -> Json:
        return await self._media("sendVoice", p, "voice")

    async def api_sendLocation(self, p: Params) -> Json:
        if p.get("latitude") in (None, "") or p.get("longitude") in (None, ""):
            raise bad_request("latitude and longitude are required")
        location = {"latitude": float(p["latitude"]), "longitude": float(p["longitude"])}
        return self._send("sendLocation", p, {"location": location})

    async def api_copyMessage(self, p: Params) -> Json:
        source = self._message(self._chat(p, "from_chat_id"), _int(p, "message_id"),
                               "message to copy not found")
        content = {k: source[k] for k in CONTENT_KEYS if k in source}
        if "caption" in p:
            content.pop("caption_entities", None)
            content.update(self._text_content(p, "caption", 1024))
        message = self._send("copyMessage", p, content,
                             content.get("text", content.get("caption")))
        return {"message_id": message["message_id"]}

    async def api_forwardMessage(self, p: Params) -> Json:
        source = self._message(self._chat(p, "from_chat_id"), _int(p, "message_id"),
                               "message to forward not found")
        content = {k: source[k] for k in CONTENT_KEYS if k in source}
        content["forward_origin"] = {"type": "user", "date": source["date"],
                                     "sender_user": source["from"]}
        return self._send("forwardMessage", p, content,
                          source.get("text", source.get("caption")))

    async def api_editMessageText(self, p: Params) -> Json | bool:
        return self._edit("editMessageText", p, self._text_content(p))

    async def api_editMessageReplyMarkup(self, p: Params) -> Json | bool:
        return self._edit("editMessageReplyMarkup", p, {})

    async def api_deleteMessage(self, p: Params) -> bool:
        chat = self._chat(p)
        message = self._message(chat, _int(p, "message_id"), "message to delete not found")
        del self.messages[(chat["id"], message["message_id"])]
        self._record("deleteMessage", chat["id"], p, message["message_id"], True,
                     message.get("message_thread_id"))
        return True

    async def api_answerCallbackQuery(self, p: Params) -> bool:
        query_id = str(p.get("callback_query_id") or "")
        if self._open_queries.pop(query_id, None) is None:
            raise bad_request("query is too old and response timeout expired or query ID is "
                              "invalid")
        self.callback_answers.append(CallbackAnswer(
            query_id, p.get("text"), _bool(p, "show_alert"), p.get("url"),
            _int(p, "cache_time") or 0, time.monotonic()))
        return True

    async def api_sendChatAction(self, p: Params) -> bool:
        chat = self._chat(p)
        if p.get("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self.chat_actions.append(ChatActionCall(chat["id"], str(p["action"]),
                                                self._thread(chat, p), time.monotonic()))
        return True

    async def api_getFile(self, p: Params) -> Json:
        file_id = str(p.get("file_id") or "")
        if file_id not in self.files:
            raise bad_request("invalid file_id")
        data, file_path = self.files[file_id]
        if len(data) > 20 * 1024 * 1024:
            raise bad_request("file is too big")
        return {**self._file_meta(file_id), "file_path": file_path}

    async def api_createForumTopic(self, p: Params) -> Json:
        chat = self._chat(p)
        if not chat.get("is_forum"):
            raise bad_request("the chat is not a forum")
        name = str(p.get("name") or "")
        if not 1 <= utf16_len(name) <= 128:
            raise bad_request("TOPIC_TITLE_EMPTY" if not name else "TOPIC_TITLE_INVALID")
        # the id of the "topic created" service message; 1 is the General topic
        thread_id = self._next(f"msg{chat['id']}")
        thread_id = thread_id if thread_id > 1 else self._next(f"msg{chat['id']}")
        topic = {"message_thread_id": thread_id, "name": name,
                 "icon_color": _int(p, "icon_color") or 7322096, "is_closed": False}
        if p.get("icon_custom_emoji_id"):
            topic["icon_custom_emoji_id"] = p["icon_custom_emoji_id"]
        self.topics.setdefault(chat["id"], {})[thread_id] = topic
        return {k: v for k, v in topic.items() if k != "is_closed"}

    def _topic(self, p: Params) -> Json:
        chat = self._chat(p)
        topic = self.topics.get(chat["id"], {}).get(_int(p, "message_thread_id") or 0)
        if topic is None:
            raise bad_request("message thread not found")
        return topic

    async def api_editForumTopic(self, p: Params) -> bool:
        topic = self._topic(p)
        changes = {k: p[k] for k in ("name", "icon_custom_emoji_id") if p.get(k) is not None}
        if all(topic.get(k) == v for k, v in changes.items()):
            raise bad_request("TOPIC_NOT_MODIFIED")
        topic.update(changes)
        return True

    async def api_closeForumTopic(self, p: Params) -> bool:
        topic = self._topic(p)
        if topic["is_closed"]:
            raise bad_request("TOPIC_NOT_MODIFIED")
        topic["is_closed"] = True
        return True

    async def api_setMyCommands(self, p: Params) -> bool:
        commands = p.get("commands")
        if not isinstance(commands, list):
            raise bad_request("parameter \"commands\" is required")
        for command in commands:
            if not _COMMAND.fullmatch(str(command.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise bad_request("command description is empty or too long")
        self.commands[_scope_key(p)] = commands
        return True

    async def api_getMyCommands(self, p: Params) -> list[Json]:
        return self.commands.get(_scope_key(p), [])

    async def api_getChat(self, p: Params) -> Json:
        chat = self._chat(p)
        gifts = dict.fromkeys(("unlimited_gifts", "limited_gifts", "unique_gifts",
                               "premium_subscription"), False)
        return {**chat, "accent_color_id": 0, "max_reaction_count": 11,
                "accepted_gift_types": gifts}

    async def api_getChatMember(self, p: Params) -> Json:
        chat = self._chat(p)
        user_id = _int(p, "user_id")
        if user_id is None:
            raise bad_request("invalid user_id specified")
        is_bot = user_id == self.bot_user["id"]
        user = self.bot_user if is_bot else self.users.get(user_id) or self._user(user_id)
        default = "administrator" if is_bot and chat["type"] != "private" else "member"
        status = self.members.get((chat["id"], user_id), default)
        member: Json = {"status": status, "user": user}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            member.update(_ADMIN_RIGHTS)
        elif status == "restricted":
            member.update(_RESTRICTED, is_member=True, until_date=0)
        elif status == "kicked":
            member["until_date"] = 0
        return member

    async def api_setChatMenuButton(self, p: Params) -> bool:
        chat_id = self._chat(p)["id"] if p.get("chat_id") else None
        self.menu_buttons[chat_id] = p.get("menu_button") or {"type": "default"}
        return True


# --------------------------------------------------------------------- helpers
def _envelope(status: int, body: Json) -> web.Response:
    return web.json_response(body, status=status,
                             dumps=lambda o: json.dumps(o, ensure_ascii=False))


async def _read_params(request: web.Request) -> Params:
    """Query string + JSON / url-encoded / multipart body, as the Bot API accepts them."""
    params: Params = dict(request.query)
    if request.body_exists:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except json.JSONDecodeError as exc:
                raise ValueError("can't parse JSON encoded request body") from exc
            if not isinstance(body, dict):
                raise ValueError("JSON body must be an object")
            return {**params, **body}
        for key, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                with value.file:
                    params[key] = _Upload(value.filename, value.content_type, value.file.read())
            else:
                params[key] = value
    for key in JSON_PARAMS & params.keys():
        if isinstance(params[key], str):
            try:
                params[key] = json.loads(params[key])
            except json.JSONDecodeError:
                raise ValueError(f"can't parse {key} JSON object") from None
    return params


def _int(params: Mapping[str, Any], name: str) -> int | None:
    value = params.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f"invalid {name} specified") from None


def _bool(params: Mapping[str, Any], name: str) -> bool:
    value = params.get(name)
    return value is True or str(value).lower() in ("true", "1")


def _scope_key(params: Params) -> tuple[str, str]:
    scope = params.get("scope") or {"type": "default"}
    return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")


def _check_markup(params: Params) -> Json | None:
    """Validate reply_markup the way the Bot API does (the parts bots get wrong)."""
    markup = params.get("reply_markup")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard", markup.get("keyboard"))
    if rows is None:
        if markup.get("remove_keyboard") or markup.get("force_reply"):
            return markup
        raise bad_request("can't parse reply keyboard markup JSON object")
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request("field \"inline_keyboard\" of the InlineKeyboardMarkup should be an "
                          "Array of Arrays")
    for button in (b for row in rows for b in row):
        if "keyboard" in markup:
            if not (isinstance(button, str) or isinstance(button, dict) and button.get("text")):
                raise bad_request("can't parse keyboard button: Text must be non-empty")
            continue
        if not isinstance(button, dict) or not button.get("text"):
            raise bad_request("can't parse inline keyboard button: Text must be non-empty")
        if len(INLINE_BUTTON_ACTIONS & button.keys()) != 1:
            raise bad_request("can't parse inline keyboard button: Text buttons are unallowed "
                              "in the inline keyboard")
        data = button.get("callback_data")
        if data is not None and not 1 <= len(str(data).encode()) <= 64:
            raise bad_request("BUTTON_DATA_INVALID")
    return markup


def _format(text: str, parse_mode: Any, entities: Any) -> tuple[str, list[Json]]:
    """Apply parse_mode: HTML is parsed into entities; Markdown modes pass through unparsed."""
    mode = str(parse_mode or "")
    if mode.lower() == "html":
        return _parse_html(text)
    if mode and mode.lower() not in ("markdown", "markdownv2"):
        raise bad_request(f"unsupported parse_mode {mode}")
    return text, list(entities or [])


def _parse_html(source: str) -> tuple[str, list[Json]]:
    """Telegram-style HTML → (plain text, entities with UTF-16 offsets)."""
    def fail(detail: str, at: int) -> ApiError:
        return bad_request(f"can't parse entities: {detail} at byte offset "
                           f"{len(source[:at].encode())}")

    out: list[str] = []
    stack: list[tuple[str, int, Json]] = []
    entities: list[Json] = []
    length = pos = 0
    while pos < len(source):
        lt = source.find("<", pos)
        chunk = html.unescape(source[pos:lt if lt >= 0 else len(source)])
        out.append(chunk)
        length += utf16_len(chunk)
        if lt < 0:
            break
        match = _TAG.match(source, lt)
        if match is None:
            raise fail("Unsupported start tag \"\"", lt)
        closing, tag, attr_text = match.group(1), match.group(2).lower(), match.group(3)
        attrs = {m[0].lower(): html.unescape(m[1] or m[2] or m[3]) for m in
                 _ATTR.findall(attr_text)}
        if tag not in HTML_ENTITY_TYPES or tag == "span" and attrs.get("class") != "tg-spoiler":
            raise fail(f"Unsupported {'end' if closing else 'start'} tag \"{tag}\"", lt)
        if not closing:
            stack.append((tag, length, attrs))
        else:
            if not stack or stack[-1][0] != tag:
                expected = f"\"</{stack[-1][0]}>\"" if stack else "no end tag"
                raise fail(f"Unmatched end tag, expected {expected}, found \"</{tag}>\"", lt)
            _, start, attrs = stack.pop()
            entity: Json = {"type": HTML_ENTITY_TYPES[tag], "offset": start,
                            "length": length - start}
            if tag == "a":
                entity["url"] = attrs.get("href", "")
            elif tag == "tg-emoji":
                entity["custom_emoji_id"] = attrs.get("emoji-id", "")
            elif tag == "blockquote" and "expandable" in attr_text:
                entity["type"] = "expandable_blockquote"
            elif tag == "code" and stack and stack[-1][0] == "pre":
                language = attrs.get("class", "").removeprefix("language-")
                stack[-1][2]["language"] = language
                entity = {}
            elif tag == "pre" and attrs.get("language"):
                entity["language"] = attrs["language"]
            if entity and entity["length"] > 0:
                entities.append(entity)
        pos = match.end()
    if stack:
        raise bad_request(f"can't parse entities: Can't find end tag corresponding to start "
                          f"tag \"{stack[-1][0]}\"")
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities
