"""What every audience's handlers share: the context type, replying, who is talking, what a
message carries to Rasa, duplicate updates, groups and errors."""

from __future__ import annotations

import logging
import re
import traceback
from datetime import date
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update, User
from telegram.ext import ApplicationHandlerStop, CallbackContext, ExtBot

from bot.identity import agent_sender, telegram_identity, villager_sender
from bot.relay import relay_to_rasa
from bot.render import split_text
from bot.runtime import BotData, Parts
from knowledge.frontend import say, status_label
from knowledge.text import MAX_MESSAGE_CHARS
from records.domain.deadlines import plain_date
from records.domain.model import Case
from records.domain.redaction import redact
from records.domain.staff import StaffMember

__all__ = [
    "AWAITING",
    "FILING",
    "FILING_ROLES",
    "MAX_MESSAGE_CHARS",
    "Context",
    "drop_duplicate_update",
    "filing_allowed",
    "group_message",
    "on_error",
    "parts",
    "plain",
    "relay",
    "reply",
    "send",
    "sender_of",
    "staff_member",
    "status_line",
]

log = logging.getLogger(__name__)

Context = CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]

#: user_data keys: what the bot asked this staff member, and whom an agent is filing for
#: (``{"name": 姓名, "key": random}``: the key, never the name, is in the conversation id).
AWAITING = "awaiting"
FILING = "filing"
#: Who may file for a villager (``/file``), checked again at every message of the filing.
FILING_ROLES = ("agent", "admin")


def parts(context: Context) -> Parts:
    """The application's records, state store, Rasa client and settings."""
    return context.bot_data.require()


async def send(bot: Any, chat_id: int, text: str, **kwargs: Any) -> Message | None:
    """Send ``text`` to ``chat_id``; the last message sent.

    Every message the handlers write goes through here, so none is refused for length: text
    over Telegram's 4096 units (a long timeline, a long work list) goes as several messages,
    cut at line breaks and never inside a character (bot/render.py), and the buttons
    (``reply_markup``) come under the last one.
    """
    markup = kwargs.pop("reply_markup", None)
    pieces = split_text(text)
    sent: Message | None = None
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        sent = await bot.send_message(
            chat_id, piece, reply_markup=markup if last else None, **kwargs
        )
    return sent


async def reply(update: Update, text: str, **kwargs: Any) -> Message | None:
    """Send ``text`` to the chat the update came from (in several messages if long: :func:`send`)."""
    chat = update.effective_chat
    if chat is None:
        return None
    return await send(chat.get_bot(), chat.id, text, **kwargs)


async def staff_member(context: Context, user: User | None) -> StaffMember | None:
    """The active staff member this Telegram user is, or None."""
    if user is None:
        return None
    records = parts(context).records
    member = await records.get_staff(telegram_identity(user.id))
    if member is not None and member.unreachable:
        # They wrote to us, so their chat takes messages again.
        await records.staff_heard_from(member.identity)
    return member


def plain(context: Context, day: date) -> str:
    """A date as a villager reads it ("12月3日")."""
    records = parts(context).records
    return plain_date(day, records.clock.today(), records.knowledge.rules)


def status_line(context: Context, case: Case) -> str:
    """One line for the villager: number, status in plain words, agency, next date."""
    upcoming = case.next_deadline(parts(context).records.clock.today())
    return say(
        "cases_item",
        number=case.number,
        status=status_label(case.status),
        agency=case.agency.name if case.agency else "-",
        next=say("cases_next", due=plain(context, upcoming.due)) if upcoming and upcoming.due else "",
    )


def filing_of(context: Context) -> dict[str, str] | None:
    """The filing an agent is doing now (``/file 姓名`` … ``/done``), or None."""
    filing = context.user_data.get(FILING) if context.user_data is not None else None
    return filing if isinstance(filing, dict) and filing.get("key") else None


async def filing_allowed(update: Update, context: Context) -> bool:
    """An agent's filing goes on only while they may still file: rights taken away (moved,
    deactivated) end it here, and they are told that what they just sent was not filed for
    anyone.  True: it may go on, or there is no filing."""
    if filing_of(context) is None:
        return True
    member = await staff_member(context, update.effective_user)
    if member is not None and member.role in FILING_ROLES:
        return True
    assert context.user_data is not None
    context.user_data.pop(FILING, None)
    user = update.effective_user
    log.info("filing ended for user %s: no longer allowed to file", user.id if user else None)
    await reply(update, say("file_stopped"))
    return False


def sender_of(context: Context, user_id: int) -> str:
    """Whose conversation this is: the villager's own, or the filing an agent is doing."""
    filing = filing_of(context)
    return agent_sender(user_id, filing["key"]) if filing else villager_sender(user_id)


def message_key(update: Update) -> str | None:
    """The same key for the same message however often it is sent on (a timeout, a retry):
    the chat and message id, or the button tap's id.  The actions make a case's submission
    key from it, so a resent confirmation never files a second case."""
    if update.callback_query is not None:
        return f"cb:{update.callback_query.id}"
    message = update.effective_message
    if message is not None:
        return f"{message.chat_id}:{message.message_id}"
    return None


def _metadata(update: Update, **extra: Any) -> dict[str, Any]:
    chat, user = update.effective_chat, update.effective_user
    return {
        "channel": "telegram",
        "chat_type": chat.type if chat else None,
        "language": user.language_code if user else None,
        "message_key": message_key(update),
        **extra,
    }


async def relay(update: Update, context: Context, text: str) -> None:
    """Send ``text`` to Rasa for this private chat: as the villager, or as the agent filing
    (only while they may still file: :func:`filing_allowed`)."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    if not await filing_allowed(update, context):
        return
    filing = filing_of(context)
    metadata = (
        _metadata(update, filed_by=villager_sender(user.id), on_behalf_of=filing["name"])
        if filing
        else _metadata(update)
    )
    await relay_to_rasa(context.application, chat.id, sender_of(context, user.id), text, metadata)


# ---------------------------------------------------------------------------
# Before everything: duplicate updates
# ---------------------------------------------------------------------------


async def drop_duplicate_update(update: Update, context: Context) -> None:
    """Answer each update once: a redelivered update_id stops here (group -1)."""
    if not await parts(context).state.claim_update(context.bot.id, update.update_id):
        log.info("update %s delivered again: ignored", update.update_id)
        raise ApplicationHandlerStop


# ---------------------------------------------------------------------------
# Groups
# ---------------------------------------------------------------------------


def _addressed(message: Message, bot_id: int, username: str) -> bool:
    """Mentioned, replied to, or commanded (``/x`` or ``/x@thisbot``) in a group."""
    if message.reply_to_message and message.reply_to_message.from_user:
        if message.reply_to_message.from_user.id == bot_id:
            return True
    text = message.text or message.caption or ""
    for entity in message.entities or message.caption_entities or ():
        piece = text[entity.offset : entity.offset + entity.length]  # BMP-safe for commands
        if entity.type == "mention" and piece.lower() == f"@{username}".lower():
            return True
        if entity.type == "text_mention" and entity.user and entity.user.id == bot_id:
            return True
        if entity.type == "bot_command" and entity.offset == 0:
            _, _, target = piece.partition("@")
            if not target or target.lower() == username.lower():
                return True
    return False


async def group_message(update: Update, context: Context) -> None:
    """In a group: when addressed, ask the person to talk privately; otherwise stay quiet.
    Cases are never discussed in a group."""
    message = update.effective_message
    if message is None or not _addressed(message, context.bot.id, context.bot.username):
        return
    button = InlineKeyboardButton(
        say("group_private_button"), url=f"https://t.me/{context.bot.username}?start=private"
    )
    await message.reply_text(
        say("group_private_only"),
        reply_markup=InlineKeyboardMarkup([[button]]),
        # The message may be deleted before the answer comes: answer all the same.
        allow_sending_without_reply=True,
    )


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


async def on_error(update: object, context: Context) -> None:
    """Log with context (no phone or ID numbers) and tell the person nothing was lost."""
    error = context.error
    chat_id = user_id = update_id = None
    if isinstance(update, Update):
        update_id = update.update_id
        chat_id = update.effective_chat.id if update.effective_chat else None
        user_id = update.effective_user.id if update.effective_user else None
    # The traceback is formatted here and redacted like the message: an exception's text
    # (shown again on the traceback's last line) may quote what the villager typed.
    trace = (
        "".join(traceback.format_exception(type(error), error, error.__traceback__))
        if error
        else ""
    )
    log.error(
        "handler failed: update=%s chat=%s user=%s error=%s: %s\n%s",
        update_id,
        chat_id,
        user_id,
        type(error).__name__,
        redact(str(error)),
        redact(trace),
    )
    if (
        isinstance(update, Update)
        and update.effective_chat
        and update.effective_chat.type == "private"
    ):
        try:
            await context.bot.send_message(update.effective_chat.id, say("something_went_wrong"))
        except Exception:  # noqa: BLE001 - telling failed too; the log has it
            log.warning("could not tell chat %s about the error", chat_id)


#: Something a human would read: a letter, digit or CJK character (else emoji/punctuation only).
MEANINGFUL = re.compile(r"\w", re.UNICODE)
