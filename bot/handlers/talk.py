"""与当事人对话: a handler and a villager talking through the bot.

While a talk is open the villager's messages go to the staff member instead of Rasa, and the
staff member's back.  Rights are checked again at every staff message (records decides:
``talk_rights``); a talk ends with ``/end`` from either side, or by itself when the handler
no longer handles the case.
"""

from __future__ import annotations

import logging

from telegram import Update

from bot.handlers.common import Context, parts, reply, send
from bot.identity import telegram_chat_of, villager_sender
from knowledge.frontend import say
from records.domain.model import Case
from records.domain.staff import ConversationBusy, StaffMember, Talk
from records.services.cases import CaseRefused

__all__ = ["end_command", "relay_in_talk", "start_talk"]

log = logging.getLogger(__name__)


async def start_talk(update: Update, context: Context, member: StaffMember, case: Case) -> None:
    """The 与当事人对话 button: open the talk and tell both sides."""
    chat_id = telegram_chat_of(case.villager.sender_id)
    if chat_id is None:
        await reply(update, say("talk_not_on_telegram", phone=case.villager.phone or "-"))
        return
    try:
        await parts(context).records.open_talk(member, case.number, str(chat_id))
    except ConversationBusy:
        await reply(update, say("talk_busy"))
        return
    except CaseRefused:
        await reply(update, say("case_refused"))
        return
    agency = case.agency.name if case.agency else ""
    await context.bot.send_message(
        chat_id, say("talk_started_villager", agency=agency, name=member.name)
    )
    await reply(update, say("talk_started_staff", number=case.number))


async def _talk_here(update: Update, context: Context) -> Talk | None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return None
    return await parts(context).records.talk_involving(str(chat.id), villager_sender(user.id))


async def relay_in_talk(update: Update, context: Context, text: str) -> bool:
    """Relay between a staff member and a villager while they talk; True if it did."""
    user = update.effective_user
    talk = await _talk_here(update, context)
    if talk is None or user is None:
        return False
    records = parts(context).records
    if talk.staff == villager_sender(user.id):
        checked = await records.talk_rights(talk)
        if checked.member is None:
            # Rights gone (moved agency, case re-routed or closed): the talk ended.
            await reply(update, say("talk_ended_staff", number=talk.case_number))
            await context.bot.send_message(int(talk.villager_chat), say("talk_ended_villager"))
            return True
        case = checked.case
        agency = case.agency.name if case and case.agency else ""
        await send(
            context.bot,
            int(talk.villager_chat),
            say("talk_from_staff", agency=agency, name=checked.member.name, text=text),
        )
        return True
    # The villager speaks: the staff member must still handle the case to hear it.
    checked = await records.talk_rights(talk, staff_speaking=False)
    if checked.member is None:
        await reply(update, say("talk_ended_villager"))
        return False  # the message goes on to the assistant, as any other
    staff_chat = telegram_chat_of(talk.staff)
    if staff_chat is not None:
        await send(
            context.bot, staff_chat, say("talk_from_villager", number=talk.case_number, text=text)
        )
    return True


async def end_command(update: Update, context: Context) -> None:
    """/end: either side ends the talk; the other side is told."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    talk = await parts(context).records.end_talk(str(chat.id), villager_sender(user.id))
    if talk is None:
        await reply(update, say("end_nothing"))
        return
    staff_chat = telegram_chat_of(talk.staff)
    if talk.staff == villager_sender(user.id):
        await context.bot.send_message(int(talk.villager_chat), say("talk_ended_villager"))
        await reply(update, say("talk_ended_staff", number=talk.case_number))
        return
    # The villager left the talk.
    await reply(update, say("talk_ended_villager"))
    if staff_chat is not None:
        await context.bot.send_message(staff_chat, say("talk_ended_staff", number=talk.case_number))
