"""Hostile inputs (tests/hostile.py) against the bot, the Rasa channel and the actions.

Each property says what a villager (or whoever else sends them) would notice: no crash, no
stack trace or Python repr in a reply, a refusal without the secret, nothing lost and nothing
half-written in the store.  Everything runs in-process, without Telegram, Rasa or the action
server: the bot against the fake Bot API and a stub Rasa (both on free ports), the channel
through Sanic's ASGI entry, the actions on trackers over the in-memory unit of work.

`make test` runs the "ci" profile (derandomized: the same examples on every machine);
benchmarks/fuzz.py runs the same tests with XIANGYIN_FUZZ_SCALE examples more each.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import example, given
from hypothesis import strategies as st
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from telegram.error import TelegramError

from bot.app import build_local_application
from bot.handlers.common import MEANINGFUL
from bot.rasa_client import RasaClient
from bot.relay import flush_backlog
from bot.state_store import BotStateStore
from bot.webhook import SECRET_HEADER, make_webhook_app
from knowledge.text import MAX_MESSAGE_CHARS, message_text
from playground.localapi import FakeBotApi
from records.adapters.outbox import dispatchers
from records.api import AsyncRecords
from tests.bot_support import bot_settings, cipher, fresh_engine, store
from tests.hostile import (
    count_example,
    fuzz_settings,
    hostile_bodies,
    hostile_headers,
    hostile_text,
    looks_polite,
    malformed_updates,
    plausible_updates,
    private_text_update,
    wrong_slot_values,
)
from tests.rasa_stub import StubRasa

#: What the stub Rasa answers (a fixed text: an echo would carry the hostile input back).
RASA_SAYS = "好的，我记下了。"
WEBHOOK_SECRET = "fuzz-webhook-secret"


# =============================================================================================
# The bot: updates through the webhook's door (Update.de_json) and the application's handlers
# =============================================================================================


class BotRig:
    """The real Application (handlers, persistence, error handler) on its own event loop,
    against FakeBotApi and a stub Rasa; updates come in through bot/webhook.py."""

    def __init__(self, tmp: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.errors: list[BaseException | None] = []
        self.update_ids = itertools.count(1)
        self.fresh_users = itertools.count(8_000_001)
        self.run(self._start(tmp))

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    async def _start(self, tmp: Path) -> None:
        self.server = FakeBotApi()
        await self.server.start()
        self.rasa = StubRasa()
        await self.rasa.__aenter__()
        self.rasa.reply = lambda sender, text: [{"recipient_id": sender, "text": RASA_SAYS}]
        engine = fresh_engine(tmp)
        config = dataclasses.replace(bot_settings(tmp), rasa_url=self.rasa.url)
        self.records = AsyncRecords(store(engine), workers=2)
        self.state = BotStateStore(engine, self.records.clock, cipher())
        self.app = build_local_application(
            config,
            self.records,
            self.state,
            dispatchers(engine, self.records.clock, cipher()),
            self.server,
        )
        # Rasa "down" answers at once: no back-off between retries in a fuzz run.
        self.app.bot_data.rasa = RasaClient(
            self.rasa.url, timeout=10, secret=config.secret, retry_delays=()
        )

        async def record(update: object, context: Any) -> None:
            self.errors.append(context.error)

        self.app.add_error_handler(record)
        await self.app.initialize()
        self.webhook = TestClient(TestServer(make_webhook_app(self.app, WEBHOOK_SECRET, "/tg")))
        await self.webhook.start_server()

    def close(self) -> None:
        async def stop() -> None:
            await self.webhook.close()
            await self.app.bot_data.rasa.close()
            await self.app.shutdown()
            await self.rasa.__aexit__()
            await self.server.stop()

        self.run(stop())
        self.records.close()
        self.loop.close()

    def feed(self, update: Any, raw: bytes | None = None) -> tuple[int, list[Any], list[Any]]:
        """POST one update to the webhook and run what it queued through the handlers.
        Returns (HTTP status, messages the bot sent, errors the handlers raised)."""
        return self.run(self._feed(update, raw))

    async def _feed(self, update: Any, raw: bytes | None) -> tuple[int, list[Any], list[Any]]:
        if isinstance(update, dict) and isinstance(update.get("update_id"), int):
            update["update_id"] = next(self.update_ids)  # a repeat would only be dropped
        query = update.get("callback_query") if isinstance(update, dict) else None
        if isinstance(query, dict) and isinstance(query.get("id"), str):
            self.server._open_queries[query["id"]] = query  # the tap Telegram would know
        sent, errors = len(self.server.sent), len(self.errors)
        body = raw if raw is not None else json.dumps(update, ensure_ascii=False).encode()
        response = await self.webhook.post(
            "/tg", data=body, headers={SECRET_HEADER: WEBHOOK_SECRET, "Content-Type": "application/json"}
        )
        await response.read()
        while not self.app.update_queue.empty():
            await self.app.process_update(self.app.update_queue.get_nowait())
        return response.status, self.server.sent[sent:], self.errors[errors:]


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotRig]:
    rig = BotRig(tmp_path_factory.mktemp("fuzz-bot"))
    try:
        yield rig
    finally:
        rig.close()


def what_rasa_gets(text: str) -> str | None:
    """The words of a private text as the bot passes them on (None: not passed on)."""
    words = text.strip()
    if not words or not MEANINGFUL.search(words):
        return None
    return words[:MAX_MESSAGE_CHARS]


def assert_polite(sent: list[Any]) -> None:
    texts = [call.text for call in sent if call.method in ("sendMessage", "editMessageText")]
    assert all(looks_polite(t) for t in texts), texts


@fuzz_settings(max_examples=120)
@given(text=hostile_text())
@example(text="")
@example(text="\u202e\u0000\u200d")
@example(text="👍" * 5000)
@example(text="'; DROP TABLE relay_backlog; -- <script>alert(1)</script>")
@example(text="老" * 100_000)
def test_any_text_gets_a_short_polite_chinese_answer(bot: BotRig, text: str) -> None:
    count_example("bot_text")
    user = next(bot.fresh_users)
    before = len(bot.rasa.received)
    status, sent, errors = bot.feed(private_text_update(user, text))
    assert status == 200 and errors == []
    assert sent and all(call.chat_id == user for call in sent)
    assert_polite(sent)
    passed_on = [m["message"] for m in bot.rasa.received[before:]]
    if not text.startswith("/"):
        expected = what_rasa_gets(text)
        assert passed_on == ([expected] if expected else [])
    assert all(0 < len(words) <= MAX_MESSAGE_CHARS for words in passed_on)
    assert bot.run(bot.state.backlog_count()) == 0


@fuzz_settings(max_examples=200)
@given(update=plausible_updates())
# Found by the big run: "不是这里" tapped under a message Telegram no longer shows (no message
# in the tap) failed on editing it.
@example(update={"update_id": 1, "callback_query": {"id": "1", "chat_instance": "ci", "data": "l:no",
                 "from": {"id": 7000001, "is_bot": False, "first_name": "x"}}})
# Found by the big run: a command in a group whose message is gone by the time the bot answers
# (deleted, or unknown to the Bot API) failed the "talk to me privately" reply.
@example(update={"update_id": 1, "message": {"message_id": 1, "date": 0, "text": "/",
                 "chat": {"id": -100123456, "type": "group", "title": "x"},
                 "from": {"id": 7000001, "is_bot": False, "first_name": "x"},
                 "entities": [{"type": "bot_command", "offset": 0, "length": 0}]}})
def test_any_update_telegram_could_send_is_handled_without_an_error(bot: BotRig, update: Any) -> None:
    count_example("bot_update")
    status, sent, errors = bot.feed(update)
    assert status == 200
    assert errors == []
    assert_polite(sent)


@fuzz_settings(max_examples=200)
@given(update=malformed_updates())
@example(update={"update_id": 1, "message": "hello"})
@example(update={"update_id": "1", "message": {"text": "hi"}})
@example(update=[{"update_id": 1}])
@example(update=None)
# Found by this test: PTB's parser does not check types, and an id of the wrong type failed
# in the handlers (a webhook 500 before that: Telegram would have resent it forever).
@example(update={"update_id": [], "message": {"message_id": 1, "date": 0, "text": "",
                 "chat": {"id": 7000001, "type": "private"}, "from": {"id": 7000001, "is_bot": False, "first_name": "x"}}})
@example(update={"update_id": 1, "message": {"message_id": 1, "date": 0, "text": "",
                 "chat": {"id": 7000001, "type": "private"}, "from": {"id": [], "is_bot": False, "first_name": "x"}}})
# Found by the big run: a message without its chat failed the handlers' chat-type filters.
@example(update={"update_id": 1, "message": {"message_id": 1, "date": 0, "text": "",
                 "from": {"id": 7000001, "is_bot": False, "first_name": "x"}}})
# Found by the big run: a location without a latitude failed the nearest-village search.
@example(update={"update_id": 1, "message": {"message_id": 1, "date": 0,
                 "chat": {"id": 7000001, "type": "private"},
                 "from": {"id": 7000001, "is_bot": False, "first_name": "x"},
                 "location": {"latitude": None, "longitude": 0.0}}})
def test_a_malformed_update_is_dropped_or_handled_never_a_crash(bot: BotRig, update: Any) -> None:
    count_example("bot_malformed")
    status, sent, errors = bot.feed(update)
    # 200: Telegram must not redeliver garbage forever; 413 only for bodies over 1 MB.
    assert status in (200, 413)
    # Telegram may refuse a reply to a chat that never was (what broke the update pointed at);
    # our own code must not fail on what it parsed.
    assert all(isinstance(e, TelegramError) for e in errors), errors
    assert_polite(sent)


@fuzz_settings(max_examples=40)
@given(raw=st.one_of(st.binary(max_size=300), st.sampled_from([b"", b"{", b"\xff", b"[]", b"1e999"])))
def test_a_body_that_is_not_json_is_dropped(bot: BotRig, raw: bytes) -> None:
    count_example("bot_raw")
    status, sent, errors = bot.feed(None, raw=raw)
    assert status == 200 and errors == []


@fuzz_settings(max_examples=30)
@given(texts=st.lists(hostile_text(), min_size=1, max_size=6))
def test_while_rasa_is_down_every_message_is_kept_in_order_and_relayed_later(
    bot: BotRig, texts: list[str]
) -> None:
    count_example("bot_backlog")
    user = next(bot.fresh_users)
    texts = [t for t in texts if not t.startswith("/")]  # commands are not words for the backlog
    expected = [w for w in map(what_rasa_gets, texts) if w]
    bot.rasa.down = True
    try:
        for text in texts:
            status, sent, errors = bot.feed(private_text_update(user, text))
            assert status == 200 and errors == []
            assert_polite(sent)
        kept = bot.run(bot.state.backlog_claim("fuzz-look", timedelta(minutes=1), limit=1000))
        bot.run(bot.state.backlog_release("fuzz-look"))
        assert [item.text for item in kept if item.sender_id == f"tg:{user}"] == expected
    finally:
        bot.rasa.down = False
    before = len(bot.rasa.received)
    bot.run(flush_backlog(bot.app, bot.app.bot_data))
    relayed = [m["message"] for m in bot.rasa.received[before:] if m["sender"] == f"tg:{user}"]
    assert relayed == expected
    assert bot.run(bot.state.backlog_count()) == 0


# =============================================================================================
# The Rasa channel (nlu_components/channel.py), in-process through Sanic's ASGI entry
# =============================================================================================

CHANNEL_SECRET = "fuzz-channel-secret-0123456789"
CHANNEL_HEADER = "X-Xiangyin-Secret"


class ChannelRig:
    """The REST channel's blueprint on a Sanic app with a fake agent (no model, no port)."""

    def __init__(self) -> None:
        from rasa.core.channels.channel import register
        from sanic import Sanic

        from nlu_components.channel import SecretRestInput

        self.loop = asyncio.new_event_loop()
        self.heard: list[Any] = []
        self.app = Sanic("xiangyin_fuzz_channel")
        rig = self

        class Agent:
            async def handle_message(self, message: Any) -> None:
                rig.heard.append(message)
                await message.output_channel.send_text_message(message.sender_id, RASA_SAYS)

        self.app.ctx.agent = Agent()
        register([SecretRestInput(CHANNEL_SECRET, CHANNEL_HEADER)], self.app, route="/webhooks/")
        self.lifespan: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        self.loop.run_until_complete(self._startup())

    async def _startup(self) -> None:
        started = asyncio.Event()

        async def send(message: dict[str, Any]) -> None:
            started.set()

        await self.lifespan.put({"type": "lifespan.startup"})
        self.life = asyncio.ensure_future(
            self.app({"type": "lifespan", "asgi": {"version": "3.0"}}, self.lifespan.get, send)
        )
        await started.wait()

    def close(self) -> None:
        self.life.cancel()
        self.loop.run_until_complete(asyncio.gather(self.life, return_exceptions=True))
        self.loop.close()

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        return self.loop.run_until_complete(self._post(body, headers))

    async def _post(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        path = "/webhooks/rest/webhook"
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
            "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
            "root_path": "", "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 5005),
            "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
            + [(b"content-length", str(len(body)).encode()), (b"host", b"127.0.0.1")],
        }
        delivered = False

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # the client never disconnects
            raise AssertionError("unreachable")

        out: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            out.append(message)

        await self.app(scope, receive, send)
        status = next(m["status"] for m in out if m["type"] == "http.response.start")
        return status, b"".join(m.get("body", b"") for m in out if m["type"] == "http.response.body")


@pytest.fixture(scope="module")
def channel() -> Iterator[ChannelRig]:
    rig = ChannelRig()
    try:
        yield rig
    finally:
        rig.close()


@fuzz_settings(max_examples=300)
@given(body=hostile_bodies(), headers=hostile_headers(CHANNEL_SECRET, CHANNEL_HEADER))
@example(body=b'{"sender": "tg:1", "message": "hi"}', headers={})
@example(body=b'{"sender": "tg:1", "message": "hi"}', headers={CHANNEL_HEADER: CHANNEL_SECRET})
@example(body=b'{"sender": ["tg:1"], "message": {"a": 1}}', headers={CHANNEL_HEADER: CHANNEL_SECRET})
def test_the_channel_refuses_strangers_and_never_answers_with_a_traceback(
    channel: ChannelRig, body: bytes, headers: dict[str, str]
) -> None:
    count_example("channel")
    heard = len(channel.heard)
    status, answer = channel.post(body, headers)
    assert status < 500, answer
    assert b"Traceback" not in answer and b'File "' not in answer
    authenticated = headers.get(CHANNEL_HEADER) == CHANNEL_SECRET
    if not authenticated:
        assert status == 403 and len(channel.heard) == heard
        return
    if status == 200:
        [message] = channel.heard[heard:]
        assert isinstance(message.sender_id, str) and isinstance(message.text, str)
        assert json.loads(answer) == [{"recipient_id": message.sender_id, "text": RASA_SAYS}]
    else:
        assert status == 400 and len(channel.heard) == heard


# =============================================================================================
# The actions: the case form's validation and the filing, with hostile and wrongly typed slots
# =============================================================================================

from actions.common import CASE_SLOTS, ActionContext, configure  # noqa: E402
from actions.forms import ROUTE_SLOTS, ValidateCaseForm  # noqa: E402
from actions.submit import ActionFinishCaseForm  # noqa: E402
from knowledge.dialogue import dialogue_words  # noqa: E402
from actions.validation import normalize_phone  # noqa: E402
from tests.conftest import in_form  # noqa: E402
from tests.fakes import FakeStore, fake_records  # noqa: E402

ASKED = sorted({slot for slots in ROUTE_SLOTS.values() for slot in slots}
               | {"route_change", "cancel_confirm", "next_route", "edit_field"})
INTENTS = st.sampled_from(["inform", "affirm", "deny", "mediation", "petition", "legal_aid",
                           "cancel", "goodbye", "check_case", "human_handoff", "nlu_fallback", "",
                           "out_of_scope"])


@functools.lru_cache(maxsize=1)
def the_domain() -> dict[str, Any]:
    """domain.yml as the action server receives it (not a fixture: a failing example's report
    would print all of it)."""
    return yaml.safe_load((Path(__file__).parent.parent / "domain.yml").read_text(encoding="utf-8"))


def run_action(action: Any, tracker: Tracker, domain: dict[str, Any]) -> tuple[list[Any], FakeStore]:
    """Run ``action`` on an in-memory store of its own; (events, store)."""
    records, fake = fake_records()
    async_records = AsyncRecords(records, workers=1)
    configure(ActionContext(async_records, records.knowledge, dialogue_words()))
    try:
        events = asyncio.run(action.run(CollectingDispatcher(), tracker, domain))
    finally:
        async_records.close()
    return events, fake


@st.composite
def hostile_trackers(draw: st.DrawFn, **fixed: Any) -> Tracker:
    """A tracker inside case_form: a hostile answer to a question, slots of any type."""
    slots = draw(st.dictionaries(st.sampled_from(CASE_SLOTS), wrong_slot_values(), max_size=10))
    slots.update(fixed)
    entities = draw(st.lists(st.fixed_dictionaries(
        {"entity": st.sampled_from(["village", "township", "dispute_type", "phone", "name", "x"]),
         "value": wrong_slot_values()}), max_size=3))
    # The action server reads what the Rasa channel passes on: controls dropped, at most
    # MAX_MESSAGE_CHARS (the channel itself is fuzzed with the raw texts above).
    said = message_text(draw(hostile_text()))
    return in_form("case_form", draw(st.sampled_from(ASKED)), said,
                   draw(INTENTS), draw(st.floats(0, 1)), entities=entities, **slots)


@fuzz_settings(max_examples=120)
@given(tracker=hostile_trackers())
# Found by this test: an "asked" slot that was not a mapping failed the form (AttributeError).
@example(tracker=in_form("case_form", "facts", "", asked="0"))
def test_the_form_reads_any_answer_and_any_slot_without_failing(tracker: Tracker) -> None:
    count_example("actions_form")
    events, fake = run_action(ValidateCaseForm(), tracker, the_domain())
    asked = [e["value"] for e in events if e.get("name") == "requested_slot"]
    assert len(asked) == 1 and (asked[0] is None or isinstance(asked[0], str))
    assert fake.cases == {}  # reading an answer never files


@fuzz_settings(max_examples=150)
@given(tracker=hostile_trackers(form_outcome="file", confirmed=True))
# Found by this test: a confirmed form without a phone or a place was filed, and so was a
# list for the facts and "abc" for the phone.
@example(tracker=in_form("case_form", "confirmed", "对", "affirm", route="mediation",
                         facts="隔壁的牛吃了我家苞谷", form_outcome="file", confirmed=True))
@example(tracker=in_form("case_form", "confirmed", "对", "affirm", route="mediation",
                         facts=["<script>"], phone="abc", village="天台村", form_outcome="file",
                         confirmed=True))
@example(tracker=in_form("case_form", "confirmed", "对", "affirm", route="legal_aid",
                         facts="老板欠我三个月工资", phone="13987654321", township="共和镇",
                         village="天台村", form_outcome="file", confirmed=True,
                         time_limit={"a": 1}, economic_status=7))
def test_a_case_is_filed_only_with_clean_required_fields(tracker: Tracker) -> None:
    count_example("actions_submit")
    events, fake = run_action(ActionFinishCaseForm(), tracker, the_domain())
    assert isinstance(events, list)
    for case in fake.cases.values():
        assert case.route in ("petition", "mediation", "legal_aid")
        assert case.facts.get("facts") and all(isinstance(v, str) for v in case.facts.values())
        assert case.villager.phone and normalize_phone(case.villager.phone)
        assert case.villager.name is None or isinstance(case.villager.name, str)
    filed = [e["value"] for e in events if e.get("name") == "case_id"]
    assert filed == list(fake.cases)  # told the number of the one case filed, or of none
    # Nothing half-written: every outbox message is about a case that is there.
    assert all(m.case_number in fake.cases for m in fake.outbox if m.case_number)
