"""Outbox messages delivered on Telegram: the ``send`` function of the outbox dispatcher.

* ``agency`` messages go to the private chats of the agency's active staff in a role that
  works on the case's route; a new case comes with 接收 / 退回 / 转上级 buttons.
* A voice note (``agency.voice_note``) comes with the recording itself, to listen to.
* ``staff`` messages (the daily digest) go to one staff member's private chat (``tg:<id>``).
* ``villager`` messages go to ``tg:<user id>`` → that user's private chat; for a case a proxy
  agent filed (``agent:<agent id>:<key>``) to the agent, marked with the villager's name.
* Any failure raises, so the dispatcher retries with back-off and finally keeps a dead letter:
  a 429 (RetryAfter), a 5xx, an agency with nobody registered yet — never dropped.  With
  several staff, a retry may repeat the message to those who already had it (at-least-once).
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

from bot.identity import AGENT_PREFIX, telegram_chat_of
from bot.render import split_text
from bot.staff_ui import assigned_keyboard, case_card
from knowledge.base import Knowledge
from knowledge.frontend import outbox_texts, say, status_label
from records.api import AsyncRecords
from records.domain.deadlines import plain_date
from records.domain.model import Status
from records.domain.staff import HANDLING_ROLES, ROUTES_OF_ROLE, StaffMember
from records.services.cases import CaseNotFound
from records.services.messages import AGENCY, STAFF, VILLAGER, OutboxMessage, SendFunction

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


async def _recipients(records: AsyncRecords, message: OutboxMessage) -> list[StaffMember]:
    route = message.payload.get("route")
    members = await records.staff_of_agency(message.recipient_id, HANDLING_ROLES)
    if route:  # a mediation case goes to mediators (and admins), not to petition staff
        members = [m for m in members if route in ROUTES_OF_ROLE.get(m.role, frozenset())]
    return members


def make_send(bot: Bot, records: AsyncRecords) -> SendFunction:
    """The dispatcher's ``send``: deliver one outbox message or raise."""

    async def send_text(chat_id: int, text: str, markup: InlineKeyboardMarkup | None) -> None:
        pieces = split_text(text)
        for i, piece in enumerate(pieces):
            await bot.send_message(
                chat_id, piece, reply_markup=markup if i == len(pieces) - 1 else None
            )

    async def send(message: OutboxMessage) -> None:
        if message.recipient_kind == AGENCY:
            members = await _recipients(records, message)
            chats = [c for c in (telegram_chat_of(m.actor) for m in members) if c is not None]
            if not chats:
                raise NoRecipient(f"agency {message.recipient_id} has no staff on Telegram yet")
            text, markup = await _agency_text(message, records)
            voice = message.payload.get("file_id") if message.kind == "voice_note" else None
            for chat_id in chats:
                await send_text(chat_id, text, markup)
                if voice:
                    await bot.send_voice(chat_id, voice=voice)
            return
        if message.recipient_kind == STAFF:
            staff_chat = telegram_chat_of(message.recipient_id)
            if staff_chat is None:
                raise NoRecipient(f"staff {message.recipient_id[:9]}… is not on Telegram")
            await send_text(staff_chat, digest_text(message, records.knowledge), None)
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
