"""The terminal playground: `make run` without a Telegram token.

A newcomer plays every side of 乡音 in one terminal: the villager, a mediator and a proxy
agent.  Nothing here imitates the bot: the real Telegram front end (bot/, with its outbox
dispatcher and reminder loop) runs against the local Bot API server (playground/localapi), and this
module only types into that server as the chosen person and prints what the bot sent them.

* Type as the current person; a number taps that button of the last message with buttons.
* ``切换`` goes to the next person, ``切换 调解员`` to a named one; messages that arrived for
  someone else are counted, and shown when you switch to them.
* The mediator and the agent are registered the only way there is — a one-time invite code
  and ``/join`` — for the first village's mediation committee and service point, so a
  villager who lives in that village reaches this mediator.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from bot.config import BotConfig
from knowledge.frontend import say
from knowledge.base import Knowledge
from records.adapters.crypto import Cipher
from records.api import AsyncRecords, Records
from records.domain.identity import TELEGRAM, ChannelIdentity

__all__ = ["Persona", "personas", "play"]

SWITCH = "切换"
EXIT_WORDS = {"退出", "exit", "quit", "/quit", "/exit"}
#: How long to wait for the bot's first message after an input, and for it to go quiet.
FIRST_REPLY_S = 60.0
QUIET_S = 0.8
#: Methods whose calls put something into a chat.
SHOWN = {"sendmessage", "sendvoice", "sendphoto", "senddocument", "copymessage", "sendlocation"}


@dataclass(frozen=True)
class Persona:
    """Someone the newcomer can be: a Telegram user id, a label, and a staff role if any."""

    user_id: int
    label: str
    name: str
    agency_id: str | None = None
    role: str | None = None


def personas(knowledge: Knowledge) -> list[Persona]:
    """村民, 调解员 (first village's mediation committee), 代办员 (its service point)."""

    def first(kind: str) -> str | None:
        return next((a.id for a in knowledge.agencies if a.kind == kind), None)

    people = [Persona(910_000_001, say("play_villager"), "张大姐")]
    mediation, service_point = first("village_mediation"), first("village_service_point")
    if mediation:
        people.append(Persona(910_000_002, say("play_mediator"), "李调解", mediation, "mediator"))
    if service_point:
        people.append(Persona(910_000_003, say("play_agent"), "杨代办", service_point, "agent"))
    return people


class _Screen:
    """What each person has seen of the bot's messages so far."""

    def __init__(self, server: Any, people: list[Persona]) -> None:
        self.server = server
        self.seen = {p.user_id: 0 for p in people}
        self.buttons: dict[int, tuple[Any, list[tuple[str, str]]]] = {}

    def calls_for(self, person: Persona) -> list[Any]:
        return [
            c for c in self.server.sent if c.chat_id == person.user_id and c.method.lower() in SHOWN
        ]

    def unseen(self, person: Persona) -> list[Any]:
        return self.calls_for(person)[self.seen[person.user_id] :]

    def show(self, person: Persona, print_fn: Callable[[str], None]) -> None:
        """Print what ``person`` has not seen yet; remember the last buttons."""
        for call in self.unseen(person):
            method = call.method.lower()
            if method == "sendvoice":
                print_fn(say("play_voice"))
            elif method != "sendmessage":
                print_fn(say("play_file"))
            elif call.text:
                print_fn(f"乡音：{call.text}")
            rows = (call.reply_markup or {}).get("inline_keyboard", [])
            choices = [
                (b["text"], b["callback_data"]) for row in rows for b in row if "callback_data" in b
            ]
            for i, (title, _) in enumerate(choices, 1):
                print_fn(f"    [{i}] {title}")
            if choices:
                self.buttons[person.user_id] = (call, choices)
        self.seen[person.user_id] = len(self.calls_for(person))


async def _settle(server: Any, before: int) -> None:
    """Wait for the bot's first new message (any chat), then until it is quiet."""
    start = time.monotonic()
    while len(server.sent) == before and time.monotonic() - start < FIRST_REPLY_S:
        await asyncio.sleep(0.05)
    last, count = time.monotonic(), len(server.sent)
    while time.monotonic() - last < QUIET_S:
        await asyncio.sleep(0.05)
        if len(server.sent) != count:
            last, count = time.monotonic(), len(server.sent)


async def _register(server: Any, records: AsyncRecords, person: Persona) -> None:
    """Make ``person`` staff through an invite and /join, unless they already are."""
    if person.role is None or person.agency_id is None:
        return
    member = await records.get_staff(ChannelIdentity(TELEGRAM, str(person.user_id)))
    if member is not None and member.agency_id == person.agency_id and member.role == person.role:
        return
    code = await records.create_invite(person.agency_id, person.role, created_by="playground")
    before = len(server.sent)
    server.user_sends_text(person.user_id, f"/join {code}", first_name=person.name)
    await _settle(server, before)


def _place_of(people: list[Persona], knowledge: Knowledge) -> str:
    """Where a villager must live for their mediation to reach the playground's mediator."""
    mediator = next((p for p in people if p.role == "mediator"), None)
    agency = knowledge.agencies_by_id.get(mediator.agency_id or "") if mediator else None
    if agency is None:
        return knowledge.county.name
    for township in knowledge.county.townships:
        if township.id == agency.township_id:
            village = township.village(agency.village_id or "")
            return township.name + (village.name if village else "")
    return knowledge.county.name


def _switch(text: str, people: list[Persona], current: Persona) -> Persona | None:
    """The person a ``切换 …`` line names (the next one for a bare 切换); None if unknown."""
    wanted = text[len(SWITCH) :].strip()
    if not wanted:
        return people[(people.index(current) + 1) % len(people)]
    return next((p for p in people if wanted in (p.label, p.name)), None)


async def play(
    config: BotConfig,
    records: Records,
    engine: Engine,
    cipher: Cipher,
    *,
    input_fn: Callable[[str], str] = input,
    print_fn: Callable[[str], None] = print,
) -> int:
    """Run the bot against the local Bot API server and let the newcomer talk as anyone.

    ``config`` is the bot's (its ``rasa_url`` the Rasa server to talk to), ``records`` the
    case records on ``engine``, whose personal data ``cipher`` encrypts."""
    from bot.app import build_local_application, serving
    from bot.state_store import BotStateStore
    from playground.localapi import FakeBotApi
    from records.adapters.outbox import dispatchers

    knowledge = records.knowledge
    people = personas(knowledge)
    async_records = AsyncRecords(records, workers=4)
    async with FakeBotApi() as server:
        app = build_local_application(
            config,
            async_records,
            BotStateStore(engine, records.clock, cipher),
            dispatchers(
                engine,
                records.clock,
                cipher,
                retry_base_s=config.outbox_retry_base_s,
                on_unreachable=records.recipient_unreachable,
            ),
            server,
        )
        async with serving(app):
            for person in people[1:]:
                await _register(server, async_records, person)
            screen = _Screen(server, people)
            current = people[0]
            print_fn(
                say(
                    "play_banner",
                    people="、".join(p.label for p in people),
                    place=_place_of(people, knowledge),
                )
            )
            for person in people:
                screen.seen[person.user_id] = len(screen.calls_for(person))  # old news
            while True:
                try:
                    raw = await asyncio.to_thread(input_fn, f"[{current.label}] 您：")
                except (EOFError, KeyboardInterrupt):
                    print_fn("\n" + say("chat_bye"))
                    return 0
                text = raw.strip()
                if text in EXIT_WORDS:
                    print_fn(say("chat_bye"))
                    return 0
                before = len(server.sent)
                if text.startswith(SWITCH):
                    chosen = _switch(text, people, current)
                    if chosen is None:
                        print_fn(say("play_who", people="、".join(p.label for p in people)))
                    else:
                        current = chosen
                        print_fn(say("play_now", person=current.label))
                        screen.show(current, print_fn)
                    continue
                offered = screen.buttons.get(current.user_id)
                if text.isdigit() and offered and 1 <= int(text) <= len(offered[1]):
                    message, choices = offered
                    server.user_taps_button(
                        current.user_id, message, choices[int(text) - 1][1], first_name=current.name
                    )
                elif text:
                    server.user_sends_text(current.user_id, text, first_name=current.name)
                else:
                    print_fn(say("empty_message"))
                    continue
                await _settle(server, before)
                screen.show(current, print_fn)
                for other in people:
                    waiting = len(screen.unseen(other))
                    if other is not current and waiting:
                        print_fn(say("play_waiting", person=other.label, count=waiting))
