"""Staff: join with an invite, their work list, a case's timeline, notes, and the buttons
under a case (接收 / 退回 / 转上级 / outcomes / 约时间地点 / 与当事人对话 / 备注).

Each handler parses the update, calls one records use case and renders the result; whether
this person may do it is decided by records (a refusal reads the same for a case that does
not exist and a case that is not theirs).
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import Update
from telegram.error import BadRequest

from bot.handlers.common import AWAITING, Context, parts, plain, reply, staff_member, status_line
from bot.handlers.talk import start_talk
from bot.identity import telegram_identity, villager_sender
from bot.staff_ui import (
    ACTION_OF_VERB,
    Verb,
    assigned_keyboard,
    handling_keyboard,
    parse_staff_data,
    timeline,
)
from knowledge.frontend import outcome_label, role_label, say, status_label
from knowledge.readers import read_date
from records.domain.model import Case, CaseError, Status
from records.domain.staff import InviteRefused, TooManyInviteAttempts
from records.services.cases import CaseRefused, NoLongerStaff
from records.services.staff import Action, action_possible

__all__ = ["answer_awaited", "case_command", "join", "mine", "note_command", "staff_button"]

log = logging.getLogger(__name__)

#: Staff buttons that ask a follow-up question, and the question.
FOLLOW_UP_QUESTION = {
    Verb.RETURN: "ask_return_reason",
    Verb.AGREEMENT: "ask_agreement_terms",
    Verb.REPLY: "ask_reply_summary",
    Verb.NOTE: "ask_note",
    Verb.SCHEDULE: "ask_session",
}


async def join(update: Update, context: Context) -> None:
    """/join CODE: redeem a one-time invite; nobody becomes staff by claiming it, nor by
    guessing (after a few wrong codes within the hour the next ones are not even looked at)."""
    user = update.effective_user
    if user is None:
        return
    if not context.args:
        await reply(update, say("join_usage"))
        return
    records = parts(context).records
    try:
        member = await records.redeem_invite(
            context.args[0], telegram_identity(user.id), user.full_name
        )
    except TooManyInviteAttempts:
        log.info("join paused for user %s: too many wrong codes", user.id)
        await reply(update, say("join_wait"))
        return
    except InviteRefused:
        log.info("join refused for user %s", user.id)
        await reply(update, say("join_refused"))
        return
    agency = records.knowledge.agencies_by_id.get(member.agency_id)
    await reply(
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
    member = await staff_member(context, update.effective_user)
    if member is None:
        await reply(update, say("not_staff"))
        return
    try:
        items = await parts(context).records.work_list(member)
    except NoLongerStaff:
        await reply(update, say("staff_rights_gone"))
        return
    if not items:
        await reply(update, say("mine_none"))
        return
    lines = [say("mine_header")]
    for item in items:
        case, upcoming = item.case, item.upcoming
        lines.append(
            say(
                "mine_item",
                number=case.number,
                villager=case.villager.name or "-",
                status=status_label(case.status),
                due=f"{plain(context, upcoming.due)} {upcoming.name}"
                if upcoming and upcoming.due
                else say("no_due"),
            )
        )
    await reply(update, "\n".join(lines))


def _keyboard(case: Case, handles: bool) -> Any:
    if handles and case.status in (Status.ACCEPTED, Status.IN_PROGRESS):
        return handling_keyboard(case)
    if handles and case.status is Status.ROUTED:
        return assigned_keyboard(case.number)
    return None


async def case_command(update: Update, context: Context) -> None:
    """/case NUMBER: the timeline, for staff of the case's agency or the agent who filed it;
    a villager sees their own case's status; anyone else is refused (without learning
    whether the number exists)."""
    user = update.effective_user
    if user is None:
        return
    if not context.args:
        await reply(update, say("case_usage"))
        return
    records = parts(context).records
    number = context.args[0]
    member = await staff_member(context, user)
    try:
        view = await records.view_case(member, number)
    except CaseRefused:
        own = await records.find_case_for_villager(villager_sender(user.id), number)
        if own is not None:
            await reply(update, status_line(context, own))
            return
        log.info("case lookup refused for user %s", user.id)
        await reply(update, say("case_refused"))
        return
    await reply(
        update,
        timeline(view.case, view.notes, records.knowledge, show_phone=view.handles, sessions=view.sessions),
        reply_markup=_keyboard(view.case, view.handles),
    )


async def note_command(update: Update, context: Context) -> None:
    """/note NUMBER TEXT: a note on a case the person may view."""
    if not context.args or len(context.args) < 2:
        await reply(update, say("note_usage"))
        return
    member = await staff_member(context, update.effective_user)
    try:
        note = await parts(context).records.add_note(
            member, context.args[0], " ".join(context.args[1:])
        )
    except NoLongerStaff:
        await reply(update, say("staff_rights_gone"))
        return
    except CaseRefused:
        await reply(update, say("case_refused"))
        return
    await reply(update, say("note_saved", number=note.case_number))


async def _drop_keyboard(query: Any) -> None:
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except BadRequest as exc:  # already without buttons
        log.debug("keyboard not removed: %s", exc)


async def _refused(update: Update, number: str, exc: CaseError, case: Case | None) -> None:
    status = getattr(exc, "from_status", None) or (case.status if case else None)
    await reply(
        update,
        say("action_refused", number=number, status=status_label(status) if status else "-"),
    )


async def staff_button(update: Update, context: Context) -> None:
    """接收 / 退回 / 转上级 / outcomes / talk / note, for the case's handler only."""
    query = update.callback_query
    user = update.effective_user
    if query is None or query.data is None or user is None:
        return
    parsed = parse_staff_data(query.data)
    records = parts(context).records
    member = await staff_member(context, user)
    try:
        view = await records.view_case(member, parsed[1]) if parsed else None
    except CaseRefused:
        view = None
    if parsed is None or view is None or not view.handles or member is None:
        await query.answer(say("not_staff"), show_alert=True)
        return
    await query.answer()
    verb, case = parsed[0], view.case
    number = case.number
    try:
        if verb in FOLLOW_UP_QUESTION:
            # These need words from the staff member first; check the move is possible now
            # so that they are not asked for a reason that then gets refused.
            action = ACTION_OF_VERB.get(verb)
            if action is not None and not action_possible(case, action):
                raise CaseError(f"{number}: cannot {action.value} now")
            assert context.user_data is not None
            context.user_data[AWAITING] = (verb, number)
            await reply(update, say(FOLLOW_UP_QUESTION[verb], number=number))
        elif verb == Verb.TALK:
            await start_talk(update, context, member, case)
        elif verb in ACTION_OF_VERB:
            action = ACTION_OF_VERB[verb]
            case = await records.act_on_case(member, number, action)
            await _drop_keyboard(query)
            if action is Action.ACCEPT:
                await reply(
                    update, say("accepted_staff", number=number), reply_markup=handling_keyboard(case)
                )
            elif action is Action.ESCALATE:
                agency = case.agency.name if case.agency else "-"
                await reply(update, say("escalated_staff", number=number, agency=agency))
            else:
                outcome = outcome_label(action.outcome or "")
                await reply(update, say("resolved_staff", number=number, outcome=outcome))
    except NoLongerStaff:
        await reply(update, say("staff_rights_gone"))
    except CaseRefused:
        await reply(update, say("case_refused"))
    except CaseError as exc:
        await _refused(update, number, exc, case)


async def answer_awaited(update: Update, context: Context, text: str) -> bool:
    """A staff member's reply to a question the bot asked (退回的理由, 协议内容, 约的时间 …);
    True if it was one."""
    user = update.effective_user
    if context.user_data is None or user is None or AWAITING not in context.user_data:
        return False
    verb, number = context.user_data.pop(AWAITING)
    records = parts(context).records
    member = await staff_member(context, user)
    try:
        if verb == Verb.NOTE:
            await records.add_note(member, number, text)
            await reply(update, say("note_saved", number=number))
        elif verb == Verb.SCHEDULE:
            today = records.clock.today()
            day = read_date(text, today)
            if day is None or day < today:
                context.user_data[AWAITING] = (verb, number)  # ask again
                await reply(update, say("session_no_date", number=number))
                return True
            await records.schedule_session(member, number, day, text)
            await reply(
                update, say("session_set", number=number, date=plain(context, day), details=text)
            )
        elif verb == Verb.RETURN:
            case = await records.act_on_case(member, number, Action.RETURN, text=text)
            if case.status is Status.ROUTED and case.agency:
                await reply(update, say("returned_staff", number=number, agency=case.agency.name))
            else:
                await reply(update, say("returned_waiting", number=number))
        else:
            action = ACTION_OF_VERB[verb]
            await records.act_on_case(member, number, action, text=text)
            outcome = outcome_label(action.outcome or "")
            await reply(update, say("resolved_staff", number=number, outcome=outcome))
    except NoLongerStaff:
        await reply(update, say("staff_rights_gone"))
    except CaseRefused:
        await reply(update, say("case_refused"))
    except CaseError as exc:
        await _refused(update, number, exc, None)
    return True
