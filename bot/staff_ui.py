"""What staff see: case cards, timelines and the inline buttons to act on a case.

Staff buttons carry ``s:<verb>:<case number>`` (well under Telegram's 64 bytes), so they
work from any message, also one the outbox delivered while the bot was restarting.
"""

from __future__ import annotations

from collections.abc import Iterable

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from knowledge.base import Knowledge
from knowledge.frontend import outcome_label, say, status_label
from knowledge.text import shorten
from records.domain.clock import county_date
from records.domain.deadlines import plain_date
from records.domain.model import Case, Status
from records.domain.staff import CaseSession, Note
from records.services.staff import Action

__all__ = [
    "STAFF_PREFIX",
    "Verb",
    "assigned_keyboard",
    "case_card",
    "handling_keyboard",
    "parse_staff_data",
    "place_of",
    "timeline",
]

STAFF_PREFIX = "s:"
FACTS_PREVIEW = 300


class Verb:
    """The actions a staff button asks for."""

    ACCEPT = "acc"
    RETURN = "ret"
    ESCALATE = "esc"
    TALK = "talk"
    NOTE = "note"
    AGREEMENT = "agr"
    NO_AGREEMENT = "noagr"
    REPLY = "rep"
    DONE = "done"
    SCHEDULE = "when"


#: What a button asks records to do (records/services/staff.py decides what that means).
ACTION_OF_VERB = {
    Verb.ACCEPT: Action.ACCEPT,
    Verb.RETURN: Action.RETURN,
    Verb.ESCALATE: Action.ESCALATE,
    Verb.AGREEMENT: Action.AGREEMENT,
    Verb.NO_AGREEMENT: Action.NO_AGREEMENT,
    Verb.REPLY: Action.REPLY,
    Verb.DONE: Action.DONE,
}


def _data(verb: str, number: str) -> str:
    return f"{STAFF_PREFIX}{verb}:{number}"


def parse_staff_data(data: str) -> tuple[str, str] | None:
    """(verb, case number) from a staff button's callback data, or None."""
    if not data.startswith(STAFF_PREFIX):
        return None
    verb, _, number = data[len(STAFF_PREFIX) :].partition(":")
    return (verb, number) if verb and number else None


def _button(key: str, verb: str, number: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(say(key), callback_data=_data(verb, number))


def assigned_keyboard(number: str) -> InlineKeyboardMarkup:
    """接收 / 退回 / 转上级 under a new case."""
    return InlineKeyboardMarkup(
        [
            [
                _button("btn_accept", Verb.ACCEPT, number),
                _button("btn_return", Verb.RETURN, number),
                _button("btn_escalate", Verb.ESCALATE, number),
            ]
        ]
    )


def handling_keyboard(case: Case) -> InlineKeyboardMarkup:
    """Outcome buttons for an accepted case (by route), then appointment, talk and note."""
    if case.route == "mediation":
        outcomes = [
            _button("btn_agreement", Verb.AGREEMENT, case.number),
            _button("btn_no_agreement", Verb.NO_AGREEMENT, case.number),
        ]
    elif case.route == "petition":
        outcomes = [_button("btn_reply", Verb.REPLY, case.number)]
    else:
        outcomes = [_button("btn_done", Verb.DONE, case.number)]
    return InlineKeyboardMarkup(
        [
            outcomes,
            [
                _button("btn_schedule", Verb.SCHEDULE, case.number),
                _button("btn_talk", Verb.TALK, case.number),
            ],
            [_button("btn_note", Verb.NOTE, case.number)],
        ]
    )


def place_of(case: Case, knowledge: Knowledge) -> str:
    """“共和镇天台村”, or the county name when the place is unknown."""
    j = case.jurisdiction
    return f"{j.township_name or ''}{j.village_name or ''}" or knowledge.county.name


def _names(case: Case, knowledge: Knowledge) -> tuple[str, str]:
    knowledge = knowledge
    route = knowledge.route_names.get(case.route, case.route)
    dispute = knowledge.dispute_types.get(case.dispute_type)
    return route, dispute.name if dispute else case.dispute_type


def _facts(case: Case) -> str:
    return "；".join(
        shorten(str(v), FACTS_PREVIEW)
        for k, v in case.facts.items()
        if k in ("facts", "petition_request", "other_party") and v
    )


def case_card(case: Case, header: str, knowledge: Knowledge) -> str:
    """A new case for its agency: header, urgency, place, facts, dated deadlines, the ask."""
    today = county_date(case.created_at)
    rules = knowledge.rules
    lines = [header]
    if case.urgent or case.emergency:
        lines.append(say("case_urgent"))
    lines.append(say("case_place", place=place_of(case, knowledge)))
    facts = _facts(case)
    if facts:
        lines.append(say("case_facts", facts=facts))
    dated = [d for d in case.deadlines if d.due and not d.information]
    if dated:
        lines.append(
            say(
                "case_deadlines",
                deadlines="；".join(f"{plain_date(d.due, today, rules)} {d.name}" for d in dated),
            )
        )
    lines.append(say("case_assigned_ask"))
    return "\n".join(lines)


def timeline(
    case: Case,
    notes: Iterable[Note],
    knowledge: Knowledge,
    *,
    show_phone: bool,
    sessions: Iterable[CaseSession] = (),
) -> str:
    """The case, its history, deadlines and notes, for staff and the filing agent."""
    route, dispute = _names(case, knowledge)
    rules = knowledge.rules
    today = county_date(case.updated_at)
    phone = (case.villager.phone or "") if show_phone else case.villager.phone_masked
    lines = [
        say(
            "timeline_header",
            number=case.number,
            route=route,
            dispute=dispute,
            status=status_label(case.status),
            agency=case.agency.name if case.agency else "-",
            villager=case.villager.name or "-",
            phone=phone,
        )
    ]
    facts = _facts(case)
    if facts:
        lines.append(say("case_facts", facts=facts))
    for event in case.history:
        reason = event.reason
        if event.to_status is Status.RESOLVED and case.outcome:
            reason = f"{outcome_label(case.outcome)} {reason}"
        lines.append(
            say(
                "timeline_event",
                date=plain_date(county_date(event.at), today, rules),
                status=status_label(event.to_status),
                reason=shorten(reason, 80),
            )
        )
    for deadline in case.deadlines:
        if deadline.due and not deadline.information:
            lines.append(
                say(
                    "timeline_deadline",
                    due=plain_date(deadline.due, today, rules),
                    name=deadline.name,
                )
            )
    for appointment in sessions:
        lines.append(
            say(
                "timeline_session",
                date=plain_date(appointment.day, today, rules),
                details=appointment.details,
            )
        )
    for note in notes:
        lines.append(
            say(
                "timeline_note",
                date=plain_date(county_date(note.created_at), today, rules),
                author=note.author_name or note.author,
                text=note.text,
            )
        )
    return "\n".join(lines)
