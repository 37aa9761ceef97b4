"""Villagers: everything they say goes to the assistant (Rasa) — words, buttons, a shared
location — and they never need a command; ``/cases`` lists their own cases.

A private text is, in this order: the answer to a question the bot asked a staff member, a
message in a staff↔villager talk, or (almost always) a message for Rasa.
"""

from __future__ import annotations

import contextlib
import json
import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest

from bot.handlers.common import (
    AWAITING,
    MAX_MESSAGE_CHARS,
    MEANINGFUL,
    Context,
    parts,
    relay,
    reply,
    staff_member,
    status_line,
)
from bot.handlers.staff import answer_awaited
from bot.handlers.talk import relay_in_talk
from bot.identity import villager_sender
from bot.render import button_title, callback_data_for, payload_of
from knowledge.frontend import say

__all__ = [
    "LOCATION_NO",
    "cancel_command",
    "cases_command",
    "help_command",
    "location_button",
    "location_message",
    "rasa_button",
    "start",
    "sticker_message",
    "text_message",
    "unsupported_message",
]

log = logging.getLogger(__name__)

LOCATION_NO = "l:no"


async def start(update: Update, context: Context) -> None:
    """/start: Rasa greets (the text stays in domain.yml)."""
    await relay(update, context, "/greet")


async def help_command(update: Update, context: Context) -> None:
    """/help: Rasa's help, then the commands of this front end (more for staff)."""
    await relay(update, context, "/help")
    await reply(update, say("help_commands"))
    if await staff_member(context, update.effective_user):
        await reply(update, say("staff_help"))


async def cases_command(update: Update, context: Context) -> None:
    """/cases: the villager's own cases, newest first, with status and next date."""
    user = update.effective_user
    if user is None:
        return
    found = await parts(context).records.cases_for_villager(villager_sender(user.id))
    if not found:
        await reply(update, say("cases_none"))
        return
    lines = [say("cases_header"), *(status_line(context, case) for case in found)]
    await reply(update, "\n".join(lines))


async def cancel_command(update: Update, context: Context) -> None:
    """/cancel: forget the question the bot asked a staff member (退回的理由 …); nothing moves.

    Without such a question, /cancel is the villager's 算了 and goes to Rasa.
    """
    if context.user_data is not None and context.user_data.pop(AWAITING, None):
        await reply(update, say("staff_cancelled"))
        return
    await relay(update, context, "/cancel")


async def rasa_button(update: Update, context: Context) -> None:
    """A tapped Rasa button: answer the tap, mark the choice, send the payload to Rasa."""
    query = update.callback_query
    if query is None or query.data is None:
        return
    payload = payload_of(query.data, context.chat_data if context.chat_data is not None else {})
    if payload is None:
        await query.answer(say("button_expired"))
        return
    await query.answer()
    message = query.message
    if isinstance(message, Message) and message.text:
        title = button_title(message.reply_markup, query.data) or ""
        try:  # the keyboard goes away, so an old question cannot be answered twice
            await query.edit_message_text(say("button_chosen", text=message.text, title=title))
        except BadRequest as exc:
            log.debug("could not mark the chosen button: %s", exc)
    await relay(update, context, payload)


async def text_message(update: Update, context: Context) -> None:
    """Private text: a staff answer, a staff↔villager relay, or (usually) a message for Rasa."""
    message = update.effective_message
    if message is None or message.text is None:
        return
    # Words typed are words: a leading "/" (a command Telegram did not mark, "/affirm",
    # "/inform{...}") must not reach Rasa as an intent with made-up entities — only the
    # bot's own buttons send those.
    text = message.text.strip().lstrip("/").strip()
    if await answer_awaited(update, context, text):
        return
    if not text:
        await reply(update, say("empty_message"))
        return
    if not MEANINGFUL.search(text):  # emoji or punctuation only: nothing for Rasa to read
        await reply(update, say("emoji_only"))
        return
    if len(text) > MAX_MESSAGE_CHARS:
        await reply(update, say("too_long", limit=MAX_MESSAGE_CHARS))
        text = text[:MAX_MESSAGE_CHARS]
    if await relay_in_talk(update, context, text):
        return
    # Traditional characters go through as typed: the NLU pipeline normalises them.
    await relay(update, context, text)


async def location_message(update: Update, context: Context) -> None:
    """A shared location: name the nearest known village and ask whether it is right.

    "是" sends the place to the assistant as if the villager had typed it (it fills the form's
    village question, or is remembered for the next form); "不是" asks them to type it.
    """
    message = update.effective_message
    if message is None or message.location is None:
        return
    part = parts(context)
    place = part.records.knowledge.nearest_place(
        message.location.latitude, message.location.longitude
    )
    if place is None or place.km > part.config.location_max_km:
        await reply(update, say("location_far"))
        return
    entities = {"township": place.township.name}
    if place.village is not None:
        entities["village"] = place.village.name
    payload = "/inform" + json.dumps(entities, ensure_ascii=False, separators=(",", ":"))
    chat_data = context.chat_data if context.chat_data is not None else {}
    yes = InlineKeyboardButton(
        say("location_yes"), callback_data=callback_data_for(payload, chat_data)
    )
    no = InlineKeyboardButton(say("location_no"), callback_data=LOCATION_NO)
    await reply(
        update,
        say("location_guess", place=place.name),
        reply_markup=InlineKeyboardMarkup([[yes], [no]]),
    )


async def location_button(update: Update, context: Context) -> None:
    """"不是这里" under a location guess: ask for the place in words."""
    query = update.callback_query
    if query is None:
        return
    await query.answer()
    if isinstance(query.message, Message):  # an old message Telegram no longer shows: not editable
        with contextlib.suppress(BadRequest):
            await query.edit_message_reply_markup(None)
    await reply(update, say("location_type_place"))


async def sticker_message(update: Update, context: Context) -> None:
    """A sticker: a kind word, and a hint to type."""
    await reply(update, say("sticker_reply"))


async def unsupported_message(update: Update, context: Context) -> None:
    """Anything else in a private chat (contact, video …): a kind word."""
    await reply(update, say("unsupported_reply"))
