"""The Telegram handlers: one function per handler, registered in :func:`register`.

Who is talking decides where a message goes:

* a villager (private chat) → Rasa as ``tg:<user id>`` (bot/relay.py), unless a staff member
  is talking with them (与当事人对话): then to that staff member, and back;
* a proxy agent after ``/file 姓名`` → Rasa as ``agent:<agent id>:<姓名>`` with metadata
  ``filed_by`` / ``on_behalf_of`` (actions/submit.py stores ``filed_by`` on the case);
* a staff member answering a question the bot asked (退回的理由, 协议内容 …) → that step;
* a group chat → only when addressed (mention, reply to the bot, a command), and then only
  "please talk to me privately": cases are never discussed in a group.

Database calls run in worker threads (``asyncio.to_thread``); every staff action checks role
and jurisdiction (records.staff.may_handle / may_view) at the moment it is taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import traceback
from pathlib import Path
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackContext,
    CallbackQueryHandler,
    CommandHandler,
    ExtBot,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.delivery import AGENT_PREFIX, telegram_chat_of, villager_key_of
from bot.relay import relay_to_rasa
from bot.render import button_title, callback_data_for, payload_of
from bot.runtime import BotData
from bot.staff_ui import (
    OUTCOME_OF_VERB,
    Verb,
    assigned_keyboard,
    handling_keyboard,
    parse_staff_data,
    timeline,
)
from bot.store import claim_update
from records.case_number import normalize
from records.deadlines import local_date, plain_date
from knowledge.case_rules import get_case_rules
from records.domain import Case, CaseError, Status
from records.digest import work_list
from records.evidence import VOICE, record_evidence
from knowledge.readers import read_date
from records.sessions import schedule_session, sessions_for
from records.outbox import utcnow
from records.services import (
    CaseNotFound,
    cases_for_villager,
    get_case,
    next_date_that_matters,
    transition,
)
from records.staff import (
    ConversationBusy,
    InviteRefused,
    StaffMember,
    add_note,
    close_conversation,
    conversation_involving,
    get_staff,
    may_handle,
    may_view,
    notes_for,
    open_conversation,
    open_conversation_for_staff,
    redeem_invite,
)
from records.store import UnitOfWork
from knowledge.loader import get_knowledge
from knowledge.frontend import outcome_label, role_label, say, status_label
from records.redaction import redact

__all__ = ["Context", "register"]

log = logging.getLogger(__name__)

Context = CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]

MAX_MESSAGE_CHARS = 2000
MAX_VILLAGER_NAME = 20
#: user_data keys: what the bot asked this staff member, and whom an agent is filing for.
AWAITING = "awaiting"
FILING = "filing"
#: Something a human would read: a letter, digit or CJK character (else emoji/punctuation only).
_MEANINGFUL = re.compile(r"\w", re.UNICODE)


#: Staff buttons that ask a follow-up question, and the question.
FOLLOW_UP_QUESTION = {
    Verb.RETURN: "ask_return_reason",
    Verb.AGREEMENT: "ask_agreement_terms",
    Verb.REPLY: "ask_reply_summary",
    Verb.NOTE: "ask_note",
    Verb.SCHEDULE: "ask_session",
}
#: The status such a button will move the case to (a note moves nothing).
NEEDS_STATUS = {
    Verb.RETURN: Status.RETURNED,
    Verb.AGREEMENT: Status.RESOLVED,
    Verb.REPLY: Status.RESOLVED,
}


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


def _data(context: Context) -> BotData:
    return context.bot_data


def _engine(context: Context) -> Any:
    return _data(context).require()[1]


def villager_sender(user_id: int) -> str:
    """The conversation id of a villager: the same string the actions store as sender_id."""
    return f"tg:{user_id}"


def agent_sender(agent_id: int, villager: str) -> str:
    """The conversation id of an agent filing for ``villager`` (one per agent and name)."""
    return f"{AGENT_PREFIX}{agent_id}:{villager}"


def _metadata(update: Update, **extra: Any) -> dict[str, Any]:
    chat, user = update.effective_chat, update.effective_user
    return {
        "channel": "telegram",
        "chat_type": chat.type if chat else None,
        "language": user.language_code if user else None,
        **extra,
    }


async def _reply(update: Update, text: str, **kwargs: Any) -> Message | None:
    chat = update.effective_chat
    if chat is None:
        return None
    return await chat.send_message(text, **kwargs)


async def _staff(context: Context, user_id: int) -> StaffMember | None:
    return await asyncio.to_thread(get_staff, _engine(context), user_id)


async def _load_case(context: Context, number: str) -> Case | None:
    canonical = normalize(number)
    if canonical is None:
        return None
    try:
        return await asyncio.to_thread(get_case, UnitOfWork(_engine(context)), canonical)
    except CaseNotFound:
        return None


def _date(day: Any) -> str:
    today = local_date(utcnow())
    return plain_date(day, today, get_case_rules())


def _status_line(case: Case) -> str:
    """One line for the villager: number, status in plain words, agency, next date."""
    upcoming = next_date_that_matters(case, local_date(utcnow()))
    return say(
        "cases_item",
        number=case.number,
        status=status_label(case.status),
        agency=case.agency.name if case.agency else "-",
        next=say("cases_next", due=_date(upcoming.due)) if upcoming and upcoming.due else "",
    )


# ---------------------------------------------------------------------------
# Before everything: duplicate updates
# ---------------------------------------------------------------------------


async def drop_duplicate_update(update: Update, context: Context) -> None:
    """Answer each update once: a redelivered update_id stops here (group -1)."""
    if not await asyncio.to_thread(
        claim_update, _engine(context), context.bot.id, update.update_id
    ):
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
    """In a group: when addressed, ask the person to talk privately; otherwise stay quiet."""
    message = update.effective_message
    if message is None or not _addressed(message, context.bot.id, context.bot.username):
        return
    button = InlineKeyboardButton(
        say("group_private_button"), url=f"https://t.me/{context.bot.username}?start=private"
    )
    await message.reply_text(
        say("group_private_only"), reply_markup=InlineKeyboardMarkup([[button]])
    )


# ---------------------------------------------------------------------------
# Commands everybody has
# ---------------------------------------------------------------------------


async def _relay(update: Update, context: Context, text: str) -> None:
    """Send ``text`` to Rasa for this private chat: as the villager, or as the agent filing."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    sender = _sender_of(context, user.id)
    filing = context.user_data.get(FILING) if context.user_data is not None else None
    metadata = (
        _metadata(update, filed_by=villager_sender(user.id), on_behalf_of=filing)
        if filing
        else _metadata(update)
    )
    await relay_to_rasa(context.application, chat.id, sender, text, metadata)


async def start(update: Update, context: Context) -> None:
    """/start: Rasa greets (the text stays in domain.yml)."""
    await _relay(update, context, "/greet")


async def help_command(update: Update, context: Context) -> None:
    """/help: Rasa's help, then the commands of this front end (more for staff)."""
    await _relay(update, context, "/help")
    await _reply(update, say("help_commands"))
    if update.effective_user and await _staff(context, update.effective_user.id):
        await _reply(update, say("staff_help"))


async def cases_command(update: Update, context: Context) -> None:
    """/cases: the villager's own cases, newest first, with status and next date."""
    user = update.effective_user
    if user is None:
        return
    found = await asyncio.to_thread(
        cases_for_villager, UnitOfWork(_engine(context)), villager_sender(user.id)
    )
    if not found:
        await _reply(update, say("cases_none"))
        return
    lines = [say("cases_header"), *(_status_line(case) for case in found)]
    await _reply(update, "\n".join(lines))


# ---------------------------------------------------------------------------
# Staff registration and staff commands
# ---------------------------------------------------------------------------


async def join(update: Update, context: Context) -> None:
    """/join CODE: redeem a one-time invite; nobody becomes staff by claiming it."""
    user = update.effective_user
    if user is None:
        return
    if not context.args:
        await _reply(update, say("join_usage"))
        return
    try:
        member = await asyncio.to_thread(
            redeem_invite, _engine(context), context.args[0], user.id, user.full_name
        )
    except InviteRefused:
        log.info("join refused for user %s", user.id)
        await _reply(update, say("join_refused"))
        return
    agency = get_knowledge().agencies_by_id.get(member.agency_id)
    await _reply(
        update,
        say(
            "join_ok",
            name=member.name,
            agency=agency.name if agency else member.agency_id,
            role=role_label(member.role),
        ),
    )


async def mine(update: Update, context: Context) -> None:
    """/mine: an agent's filed cases, or a handler's open agency cases, nearest deadline first."""
    user = update.effective_user
    if user is None:
        return
    member = await _staff(context, user.id)
    if member is None:
        await _reply(update, say("not_staff"))
        return
    items = await asyncio.to_thread(work_list, _engine(context), member, local_date(utcnow()))
    if not items:
        await _reply(update, say("mine_none"))
        return
    lines = [say("mine_header")]
    for item in items:
        case, upcoming = item.case, item.upcoming
        lines.append(
            say(
                "mine_item",
                number=case.number,
                villager=case.villager.name or villager_key_of(case.villager.sender_id) or "-",
                status=status_label(case.status),
                due=f"{_date(upcoming.due)} {upcoming.name}"
                if upcoming and upcoming.due
                else say("no_due"),
            )
        )
    await _reply(update, "\n".join(lines))


async def case_command(update: Update, context: Context) -> None:
    """/case NUMBER: the timeline, for staff of the case's agency or the agent who filed it;
    a villager sees their own case's status; anyone else is refused (without learning
    whether the number exists)."""
    user = update.effective_user
    if user is None:
        return
    if not context.args:
        await _reply(update, say("case_usage"))
        return
    case = await _load_case(context, context.args[0])
    member = await _staff(context, user.id)
    if case is not None and may_view(member, case):
        notes = await asyncio.to_thread(notes_for, _engine(context), case.number)
        sessions = await asyncio.to_thread(sessions_for, _engine(context), case.number)
        handles = may_handle(member, case)
        markup = None
        if handles and case.status in (Status.ACCEPTED, Status.IN_PROGRESS):
            markup = handling_keyboard(case)
        elif handles and case.status is Status.ROUTED:
            markup = assigned_keyboard(case.number)
        await _reply(
            update,
            timeline(case, notes, show_phone=handles, sessions=sessions),
            reply_markup=markup,
        )
        return
    if case is not None and case.villager.sender_id == villager_sender(user.id):
        await _reply(update, _status_line(case))
        return
    log.info("case lookup refused for user %s", user.id)
    await _reply(update, say("case_refused"))


async def note_command(update: Update, context: Context) -> None:
    """/note NUMBER TEXT: a note on a case the person may view."""
    user = update.effective_user
    if user is None:
        return
    if not context.args or len(context.args) < 2:
        await _reply(update, say("note_usage"))
        return
    member = await _staff(context, user.id)
    case = await _load_case(context, context.args[0])
    if case is None or not may_view(member, case):
        await _reply(update, say("case_refused"))
        return
    assert member is not None
    text = " ".join(context.args[1:])
    await asyncio.to_thread(
        add_note, _engine(context), case.number, member.actor, text, author_name=member.name
    )
    await _reply(update, say("note_saved", number=case.number))


async def file_command(update: Update, context: Context) -> None:
    """/file 姓名: an agent starts filing for a villager; later messages speak for them."""
    user = update.effective_user
    if user is None or context.user_data is None:
        return
    member = await _staff(context, user.id)
    if member is None or member.role not in ("agent", "admin"):
        await _reply(update, say("not_staff"))
        return
    # The name becomes part of the conversation id: keep it short and free of separators.
    name = re.sub(r"[\s:]+", "", " ".join(context.args or []))[:MAX_VILLAGER_NAME]
    if not name:
        await _reply(update, say("file_usage"))
        return
    context.user_data[FILING] = name
    await _reply(update, say("file_started", villager=name))


async def done_command(update: Update, context: Context) -> None:
    """/done: the agent stops speaking for the villager."""
    if context.user_data is None:
        return
    name = context.user_data.pop(FILING, None)
    await _reply(update, say("file_done", villager=name) if name else say("file_nothing"))


async def cancel_command(update: Update, context: Context) -> None:
    """/cancel: forget the question the bot asked a staff member (退回的理由 …); nothing moves.

    Without such a question, /cancel is the villager's 算了 and goes to Rasa.
    """
    if context.user_data is not None and context.user_data.pop(AWAITING, None):
        await _reply(update, say("staff_cancelled"))
        return
    await _relay(update, context, "/cancel")


async def end_command(update: Update, context: Context) -> None:
    """/end: the staff member ends the conversation with the villager."""
    user = update.effective_user
    if user is None:
        return
    engine = _engine(context)
    conversation = await asyncio.to_thread(open_conversation_for_staff, engine, user.id)
    if conversation is None:
        await _reply(update, say("end_nothing"))
        return
    await asyncio.to_thread(close_conversation, engine, conversation.id)
    await context.bot.send_message(conversation.villager_chat_id, say("talk_ended_villager"))
    await _reply(update, say("talk_ended_staff", number=conversation.case_number))


# ---------------------------------------------------------------------------
# Buttons
# ---------------------------------------------------------------------------


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
    await _relay(update, context, payload)


async def _transition(
    context: Context, number: str, to: Status, actor: str, reason: str, **details: Any
) -> Case:
    return await asyncio.to_thread(
        transition, UnitOfWork(_engine(context)), number, to, actor, reason, **details
    )


async def staff_button(update: Update, context: Context) -> None:
    """接收 / 退回 / 转上级 / outcomes / talk / note, after checking role and jurisdiction."""
    query = update.callback_query
    user = update.effective_user
    if query is None or query.data is None or user is None:
        return
    parsed = parse_staff_data(query.data)
    member = await _staff(context, user.id)
    case = await _load_case(context, parsed[1]) if parsed else None
    if parsed is None or case is None or not may_handle(member, case):
        await query.answer(say("not_staff"), show_alert=True)
        return
    assert member is not None
    await query.answer()
    verb, number = parsed[0], case.number
    try:
        if verb == Verb.ACCEPT:
            case = await _transition(
                context, number, Status.ACCEPTED, member.actor, "telegram:accept"
            )
            await _drop_keyboard(query)
            await _reply(
                update, say("accepted_staff", number=number), reply_markup=handling_keyboard(case)
            )
        elif verb == Verb.ESCALATE:
            case = await _transition(
                context, number, Status.ESCALATED, member.actor, "telegram:escalate"
            )
            await _drop_keyboard(query)
            await _reply(
                update,
                say(
                    "escalated_staff",
                    number=number,
                    agency=case.agency.name if case.agency else "-",
                ),
            )
        elif verb in FOLLOW_UP_QUESTION:
            # These need words from the staff member first; check the move is possible now
            # so that they are not asked for a reason that then gets refused.
            needs = NEEDS_STATUS.get(verb)
            if needs is not None and not case.can_move_to(needs):
                raise CaseError(f"{number}: cannot move to {needs.value}")
            assert context.user_data is not None
            context.user_data[AWAITING] = (verb, number)
            await _reply(update, say(FOLLOW_UP_QUESTION[verb], number=number))
        elif verb in (Verb.NO_AGREEMENT, Verb.DONE):
            outcome = OUTCOME_OF_VERB[verb]
            await _transition(
                context,
                number,
                Status.RESOLVED,
                member.actor,
                f"telegram:{outcome}",
                outcome=outcome,
            )
            await _drop_keyboard(query)
            await _reply(
                update, say("resolved_staff", number=number, outcome=outcome_label(outcome))
            )
        elif verb == Verb.TALK:
            await _start_talk(update, context, member, case)
    except CaseError:
        await _reply(update, say("action_refused", number=number, status=status_label(case.status)))


async def _drop_keyboard(query: Any) -> None:
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except BadRequest as exc:  # already without buttons
        log.debug("keyboard not removed: %s", exc)


async def _start_talk(update: Update, context: Context, member: StaffMember, case: Case) -> None:
    chat_id = telegram_chat_of(case.villager.sender_id)
    if chat_id is None:
        await _reply(update, say("talk_not_on_telegram", phone=case.villager.phone or "-"))
        return
    try:
        await asyncio.to_thread(
            open_conversation,
            _engine(context),
            case_number=case.number,
            staff_user_id=member.telegram_user_id,
            villager_sender_id=case.villager.sender_id,
            villager_chat_id=chat_id,
        )
    except ConversationBusy:
        await _reply(update, say("talk_busy"))
        return
    agency = case.agency.name if case.agency else ""
    await context.bot.send_message(
        chat_id, say("talk_started_villager", agency=agency, name=member.name)
    )
    await _reply(update, say("talk_started_staff", number=case.number))


async def _answer_awaited(update: Update, context: Context, text: str) -> bool:
    """A staff member's reply to a question the bot asked; True if it was one."""
    user = update.effective_user
    if context.user_data is None or user is None or AWAITING not in context.user_data:
        return False
    verb, number = context.user_data.pop(AWAITING)
    member = await _staff(context, user.id)
    case = await _load_case(context, number)
    if case is None or member is None or not may_view(member, case):
        await _reply(update, say("case_refused"))
        return True
    if verb == Verb.NOTE:
        await asyncio.to_thread(
            add_note, _engine(context), number, member.actor, text, author_name=member.name
        )
        await _reply(update, say("note_saved", number=number))
        return True
    if not may_handle(member, case):
        await _reply(update, say("case_refused"))
        return True
    if verb == Verb.SCHEDULE:
        today = local_date(utcnow())
        day = read_date(text, today)
        if day is None or day < today:
            context.user_data[AWAITING] = (verb, number)  # ask again
            await _reply(update, say("session_no_date", number=number))
            return True
        await asyncio.to_thread(schedule_session, _engine(context), case, day, text, member.actor)
        await _reply(update, say("session_set", number=number, date=_date(day), details=text))
        return True
    try:
        if verb == Verb.RETURN:
            case = await _transition(context, number, Status.RETURNED, member.actor, text)
            if case.status is Status.ROUTED and case.agency:
                await _reply(update, say("returned_staff", number=number, agency=case.agency.name))
            else:
                await _reply(update, say("returned_waiting", number=number))
        else:
            outcome = OUTCOME_OF_VERB[verb]
            await _transition(
                context, number, Status.RESOLVED, member.actor, text, outcome=outcome, terms=text
            )
            await _reply(
                update, say("resolved_staff", number=number, outcome=outcome_label(outcome))
            )
    except CaseError:
        await _reply(update, say("action_refused", number=number, status=status_label(case.status)))
    return True


# ---------------------------------------------------------------------------
# Messages in private chats
# ---------------------------------------------------------------------------


async def _relay_in_conversation(update: Update, context: Context, text: str) -> bool:
    """Relay between a staff member and a villager while they talk; True if it did."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return False
    engine = _engine(context)
    conversation = await asyncio.to_thread(conversation_involving, engine, chat.id, user.id)
    if conversation is None:
        return False
    if conversation.staff_user_id == user.id:
        member = await _staff(context, user.id)
        case = await _load_case(context, conversation.case_number)
        if member is None or case is None or not may_handle(member, case):
            # Rights gone (moved agency, case re-routed): the conversation ends here.
            await asyncio.to_thread(close_conversation, engine, conversation.id)
            await _reply(update, say("talk_ended_staff", number=conversation.case_number))
            return True
        agency = case.agency.name if case.agency else ""
        await context.bot.send_message(
            conversation.villager_chat_id,
            say("talk_from_staff", agency=agency, name=member.name, text=text),
        )
        return True
    await context.bot.send_message(
        conversation.staff_user_id,
        say("talk_from_villager", number=conversation.case_number, text=text),
    )
    return True


async def text_message(update: Update, context: Context) -> None:
    """Private text: a staff answer, a staff↔villager relay, or (usually) a message for Rasa."""
    message = update.effective_message
    if message is None or message.text is None:
        return
    text = message.text.strip()
    if await _answer_awaited(update, context, text):
        return
    if not text:
        await _reply(update, say("empty_message"))
        return
    if not _MEANINGFUL.search(text):  # emoji or punctuation only: nothing for Rasa to read
        await _reply(update, say("emoji_only"))
        return
    if len(text) > MAX_MESSAGE_CHARS:
        await _reply(update, say("too_long", limit=MAX_MESSAGE_CHARS))
        text = text[:MAX_MESSAGE_CHARS]
    if await _relay_in_conversation(update, context, text):
        return
    # Traditional characters go through as typed: the NLU pipeline normalises them.
    await _relay(update, context, text)


def _file_of(message: Message) -> tuple[str, Any] | None:
    if message.photo:
        return "photo", message.photo[-1]  # the largest size
    if message.document:
        return "document", message.document
    if message.voice:
        return "voice", message.voice
    return None


def _sender_of(context: Context, user_id: int) -> str:
    """Whose case a file belongs to: the villager, or the villager an agent is filing for."""
    filing = context.user_data.get(FILING) if context.user_data is not None else None
    return agent_sender(user_id, filing) if filing else villager_sender(user_id)


def _seconds(value: Any) -> int | None:
    """A voice note's length in seconds (PTB gives an int now, a timedelta in future)."""
    if value is None:
        return None
    return int(value.total_seconds()) if hasattr(value, "total_seconds") else int(value)


async def _download(media: Any, folder: Path) -> str | None:
    """Fetch a file from Telegram into ``folder``; its path, or None when it cannot be fetched
    (over the Bot API's 20 MB, disk trouble) — the file id is kept anyway."""
    try:
        telegram_file = await media.get_file()
        folder.mkdir(parents=True, exist_ok=True)
        suffix = Path(telegram_file.file_path or "").suffix or ".bin"
        path = folder / f"{media.file_unique_id}{suffix}"
        await telegram_file.download_to_drive(path)
        return str(path)
    except (BadRequest, OSError) as exc:
        log.warning("evidence not downloaded: %s", type(exc).__name__)
        return None


async def media_message(update: Update, context: Context) -> None:
    """A photo, document or voice note: evidence for the sender's open case.

    * In a staff↔villager talk the file goes to the case talked about, and the other side
      gets a copy.
    * Otherwise it goes to the sender's latest open case; without one (the form is still
      being filled) it is kept pending and attached when the case is filed.
    * A voice note reaches the handling staff to listen to (records.evidence), and the
      villager is told a person will listen.  With a speech recogniser configured
      (bot/asr.py) its text is also shown to the villager and relayed to the assistant.
    """
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    found = _file_of(message)
    if found is None:
        return
    kind, media = found
    sender = _sender_of(context, user.id)
    data = _data(context)
    settings, engine, _ = data.require()
    talk = await asyncio.to_thread(conversation_involving, engine, message.chat_id, user.id)
    if talk is not None and talk.staff_user_id == user.id:
        # The staff member shows the villager something: pass it on as it is.
        await message.copy(talk.villager_chat_id)
        return
    if talk is not None:  # in a conversation the file belongs to the case talked about
        open_case = await _load_case(context, talk.case_number)
    else:
        cases = await asyncio.to_thread(cases_for_villager, UnitOfWork(engine), sender)
        open_case = next((c for c in cases if c.is_open), None)
    folder = Path(settings.evidence_dir) / (
        open_case.number if open_case else f"pending-{re.sub(r'[^0-9A-Za-z]+', '-', sender)}"
    )
    stored = await _download(media, folder)
    await asyncio.to_thread(
        record_evidence,
        engine,
        case=open_case,
        sender_id=sender,
        telegram_file_id=media.file_id,
        file_unique_id=media.file_unique_id,
        kind=kind,
        size=getattr(media, "file_size", None),
        duration=_seconds(getattr(media, "duration", None)),
        stored_path=stored,
        # In a talk the staff member gets the file itself (below), not a second copy.
        notify_staff=talk is None,
    )
    if talk is not None:
        await message.copy(talk.staff_user_id)
    if kind != VOICE:
        if open_case is not None:
            await _reply(update, say("evidence_saved", number=open_case.number))
        else:
            await _reply(update, say("evidence_pending"))
        return
    if open_case is not None:
        await _reply(update, say("voice_saved", number=open_case.number))
    else:
        await _reply(update, say("voice_pending"))
    transcriber = data.transcriber
    if transcriber is None or stored is None or talk is not None:
        return
    content = await asyncio.to_thread(Path(stored).read_bytes)
    heard = await transcriber.transcribe(content, getattr(media, "mime_type", None) or "audio/ogg")
    if heard:
        await _reply(update, say("voice_heard", text=heard[:MAX_MESSAGE_CHARS]))
        await _relay(update, context, heard[:MAX_MESSAGE_CHARS])


LOCATION_NO = "l:no"


async def location_message(update: Update, context: Context) -> None:
    """A shared location: name the nearest known village and ask whether it is right.

    "是" sends the place to the assistant as if the villager had typed it (it fills the form's
    village question, or is remembered for the next form); "不是" asks them to type it.
    """
    message = update.effective_message
    if message is None or message.location is None:
        return
    settings, _, _ = _data(context).require()
    place = get_knowledge().nearest_place(message.location.latitude, message.location.longitude)
    if place is None or place.km > settings.location_max_km:
        await _reply(update, say("location_far"))
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
    await _reply(
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
    with contextlib.suppress(BadRequest):
        await query.edit_message_reply_markup(None)
    await _reply(update, say("location_type_place"))


async def sticker_message(update: Update, context: Context) -> None:
    """A sticker: a kind word, and a hint to type."""
    await _reply(update, say("sticker_reply"))


async def unsupported_message(update: Update, context: Context) -> None:
    """Anything else in a private chat (location, contact, video …): a kind word."""
    await _reply(update, say("unsupported_reply"))


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


# ---------------------------------------------------------------------------
# Registration: every handler, in one place
# ---------------------------------------------------------------------------


def register(app: Application) -> None:
    """Add every handler to ``app`` (order matters within a group: first match wins)."""
    private = filters.ChatType.PRIVATE
    new_message = filters.UpdateType.MESSAGE  # edits are not new words for Rasa
    app.add_handler(TypeHandler(Update, drop_duplicate_update), group=-1)

    app.add_handler(MessageHandler(filters.ChatType.GROUPS & new_message, group_message))
    commands = [
        ("start", start),
        ("help", help_command),
        ("cases", cases_command),
        ("join", join),
        ("mine", mine),
        ("case", case_command),
        ("note", note_command),
        ("file", file_command),
        ("done", done_command),
        ("end", end_command),
        ("cancel", cancel_command),
    ]
    for name, callback in commands:
        app.add_handler(CommandHandler(name, callback, filters=private & new_message))
    app.add_handler(CallbackQueryHandler(rasa_button, pattern=r"^[rk]:"))
    app.add_handler(CallbackQueryHandler(staff_button, pattern=r"^s:"))
    app.add_handler(CallbackQueryHandler(location_button, pattern=rf"^{LOCATION_NO}$"))
    app.add_handler(
        MessageHandler(private & new_message & filters.TEXT & ~filters.COMMAND, text_message)
    )
    app.add_handler(
        MessageHandler(
            private & new_message & (filters.PHOTO | filters.Document.ALL | filters.VOICE),
            media_message,
        )
    )
    app.add_handler(MessageHandler(private & new_message & filters.LOCATION, location_message))
    app.add_handler(MessageHandler(private & new_message & filters.Sticker.ALL, sticker_message))
    app.add_handler(MessageHandler(private & new_message, unsupported_message))
    app.add_error_handler(on_error)
