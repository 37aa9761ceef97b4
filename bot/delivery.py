"""Outbox messages delivered on Telegram: the ``send`` function of the outbox dispatcher.

* An agency's message was written as one row per person (records/services/addressing.py):
  each ``staff`` row goes to that person's private chat; a new case comes with 接收 / 退回 /
  转上级 buttons, a voice note with the recording.  A row still addressed to the ``agency``
  (nobody was registered when it was written) is addressed to people now, or retried.
* A 403 (the person blocked the bot) gives the row up at once: records marks them
  unreachable and, if their agency has nobody else, sends it up the chain.
* The daily digest and the alerts about agencies nobody answers for are ``staff`` rows too.
* ``villager`` messages go to ``tg:<user id>`` → that user's private chat; for a case a proxy
  agent filed (``agent:<agent id>:<key>``) to the agent, marked with the villager's name.
* Any other failure raises, so the dispatcher retries with back-off and finally keeps a dead
  letter (``xiangyin outbox list`` / ``requeue``): a 429 (RetryAfter), a 5xx, an agency with
  nobody registered yet — never dropped.  One row is one person, so a retry repeats the
  message to nobody else.
* A villager who did not come through Telegram (the terminal chat) has no chat to push to:
  the message is logged and counted as delivered, since retrying cannot reach them.

The Chinese text is built here from knowledge/frontend.yml ``outbox:``, never stored in the
payload.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date
from typing import Any

from telegram import Bot, InlineKeyboardMarkup
from telegram.error import Forbidden

from bot.identity import AGENT_PREFIX, telegram_chat_of
from bot.render import split_text
from bot.staff_ui import assigned_keyboard, case_card
from knowledge.base import Knowledge
from knowledge.frontend import outbox_texts, say, status_label
from records.api import AsyncRecords
from records.domain.deadlines import plain_date
from records.domain.model import Status
from records.services.cases import CaseNotFound
from records.services.addressing import UNSTAFFED_KEY
from records.services.messages import (
    AGENCY,
    STAFF,
    VILLAGER,
    OutboxMessage,
    RecipientUnreachable,
    SendFunction,
)

__all__ = ["NoRecipient", "digest_text", "make_send", "villager_text"]

log = logging.getLogger(__name__)


class NoRecipient(Exception):
    """Nobody on Telegram can receive this yet (e.g. the agency has no registered staff)."""


def _template(key: str) -> str:
    texts = outbox_texts()
    if key in texts:
        return texts[key]
    # villager.status.resolved.agreement → villager.status.resolved
    parent = key.rsplit(".", 1)[0]
    if parent in texts:
        return texts[parent]
    raise KeyError(f"knowledge/frontend.yml outbox has no text for {key!r}")


def villager_text(message: OutboxMessage, knowledge: Knowledge, today: date) -> str:
    """A status change or reminder in the villager's words."""
    payload: Mapping[str, Any] = message.payload
    key = message.message_key
    if key == "villager.status.resolved" and payload.get("outcome"):
        key = f"{key}.{payload['outcome']}"
    upcoming = payload.get("next_deadline") or {}
    agency = payload.get("agency") or {}
    day = payload.get("day")
    return _template(key).format(
        number=payload.get("number", message.case_number or ""),
        agency=agency.get("name", ""),
        next=upcoming.get("explain", "") if upcoming.get("due") else "",
        explain=payload.get("explain", ""),
        day=plain_date(date.fromisoformat(day), today, knowledge.rules) if day else "",
        details=payload.get("details", ""),
    )


async def _agency_text(
    message: OutboxMessage, records: AsyncRecords
) -> tuple[str, InlineKeyboardMarkup | None]:
    payload: Mapping[str, Any] = message.payload
    number = str(payload.get("number") or message.case_number or "")
    template = _template(message.message_key)
    if message.message_key == "agency.case_assigned":
        knowledge = records.knowledge
        dispute = knowledge.dispute_types.get(str(payload.get("dispute_type")))
        header = template.format(
            number=number,
            route=knowledge.route_names.get(str(payload.get("route")), payload.get("route")),
            dispute=dispute.name if dispute else payload.get("dispute_type"),
        )
        try:
            case = await records.get_case(number)
        except CaseNotFound:  # the row outlived its case (tests wiping tables): say the header
            return header, None
        return case_card(case, header, records.knowledge), assigned_keyboard(number)
    if message.message_key == "agency.voice_note":
        seconds = payload.get("duration")
        return template.format(number=number, duration=say("voice_seconds", seconds=seconds) if seconds else ""), None
    if message.message_key == "agency.emergency_notice":
        j = payload.get("jurisdiction") or {}
        place = f"{j.get('township_name') or ''}{j.get('village_name') or ''}"
        handoff = (payload.get("handoff") or {}).get("name", "")
        return template.format(number=number, place=place, handoff=handoff), None
    to_agency = (payload.get("to_agency") or {}).get("name", "")
    return (
        template.format(
            number=number,
            to_agency=to_agency,
            deadline=payload.get("deadline", ""),
            due=payload.get("due", ""),
            days=payload.get("days", ""),
        ),
        None,
    )


def digest_text(message: OutboxMessage, knowledge: Knowledge) -> str:
    """A staff member's daily digest: a header line, then one line per case."""
    payload: Mapping[str, Any] = message.payload
    today = date.fromisoformat(str(payload["day"]))
    rules = knowledge.rules
    lines = [
        _template("staff.daily_digest").format(
            day=plain_date(today, today, rules),
            count=payload.get("count", 0),
            soon=payload.get("soon", 0),
        )
    ]
    for item in payload.get("cases") or []:
        due = item.get("due")
        lines.append(
            _template("staff.digest_item").format(
                number=item["number"],
                villager=item.get("villager") or "-",
                status=status_label(Status(item["status"])),
                due=f"{plain_date(date.fromisoformat(due), today, rules)} {item.get('deadline') or ''}"
                if due
                else say("no_due"),
            ).rstrip()
        )
    return "\n".join(lines)


def make_send(bot: Bot, records: AsyncRecords) -> SendFunction:
    """The dispatcher's ``send``: deliver one outbox message or raise."""

    async def send_text(chat_id: int, text: str, markup: InlineKeyboardMarkup | None) -> None:
        pieces = split_text(text)
        try:
            for i, piece in enumerate(pieces):
                await bot.send_message(
                    chat_id, piece, reply_markup=markup if i == len(pieces) - 1 else None
                )
        except Forbidden as exc:  # blocked the bot, deleted the chat: retrying cannot help
            raise RecipientUnreachable(str(exc)) from exc

    async def staff_text(message: OutboxMessage) -> tuple[str, InlineKeyboardMarkup | None]:
        if message.message_key == "staff.daily_digest":
            return digest_text(message, records.knowledge), None
        if message.message_key == UNSTAFFED_KEY:
            agency = (message.payload.get("agency") or {}).get("name", "")
            return _template(UNSTAFFED_KEY).format(agency=agency, number=message.case_number or "-"), None
        return await _agency_text(message, records)

    async def send(message: OutboxMessage) -> None:
        if message.recipient_kind == AGENCY:
            # Nobody could be named for it when it was written: name them now.
            if not await records.address_again(message):
                raise NoRecipient(f"agency {message.recipient_id} has no staff on Telegram yet")
            return
        if message.recipient_kind == STAFF:
            staff_chat = telegram_chat_of(message.recipient_id)
            if staff_chat is None:
                raise NoRecipient(f"staff {message.recipient_id[:9]}… is not on Telegram")
            text, markup = await staff_text(message)
            await send_text(staff_chat, text, markup)
            voice = message.payload.get("file_id") if message.kind == "voice_note" else None
            if voice:
                try:
                    await bot.send_voice(staff_chat, voice=voice)
                except Forbidden as exc:
                    raise RecipientUnreachable(str(exc)) from exc
            return
        if message.recipient_kind == VILLAGER:
            chat_id = telegram_chat_of(message.recipient_id)
            if chat_id is None:
                log.info(
                    "outbox %s: villager has no Telegram chat (%s…); not pushed",
                    message.id,
                    message.recipient_id[:9],
                )
                return
            text = villager_text(message, records.knowledge, records.clock.today())
            if message.recipient_id.startswith(AGENT_PREFIX):
                villager = await _villager_name(records, message)
                text = say("filed_for", villager=villager) + text
            await send_text(chat_id, text, None)
            return
        raise NoRecipient(f"unknown recipient kind {message.recipient_kind!r}")

    return send


async def _villager_name(records: AsyncRecords, message: OutboxMessage) -> str:
    number = message.payload.get("number") or message.case_number
    try:
        case = await records.get_case(str(number))
    except CaseNotFound:
        return ""
    return case.villager.name or ""
