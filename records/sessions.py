"""Appointments a handler sets with the villager: a mediation session, a 约谈 for a petition.

After accepting a case, the handler taps 约时间地点 and writes the day, time and place in
plain words ("12月3日下午2点，天台村委会").  :func:`parse_session_day` finds the day;
:func:`schedule_session` stores the appointment and, in the same transaction, queues the
message that tells the villager.  :func:`queue_session_reminders` reminds the villager the
day before, once (recorded in ``reminders_sent`` like the deadline reminders).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from records.domain import Case
from records.orm import case_sessions, reminders_sent
from records.outbox import VILLAGER, NewMessage, OutboxWriter, queue_once

__all__ = [
    "CaseSession",
    "parse_session_day",
    "queue_session_reminders",
    "schedule_session",
    "sessions_for",
]

_FULL = re.compile(r"(20\d\d)\s*[年\-/.]\s*(\d{1,2})\s*[月\-/.]\s*(\d{1,2})")
_MONTH_DAY = re.compile(r"(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?")
_SLASH = re.compile(r"(?<![\d.])(\d{1,2})\s*[/.]\s*(\d{1,2})(?![\d.])")
_DAY_ONLY = re.compile(r"(?<![\d月])(\d{1,2})\s*[日号]")
_RELATIVE = {"今天": 0, "明天": 1, "后天": 2, "大后天": 3}
_WEEKDAYS = "一二三四五六日天"
_WEEKDAY = re.compile(r"(下+)?(?:星期|周|礼拜)([一二三四五六日天])")


def _safe(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def parse_session_day(text: str, today: date) -> date | None:
    """The day a handler wrote, or None: "2026-12-03", "12月3日", "12/3", "3号" (this month,
    or next if passed), "明天", "后天", "周五", "下周二".  A month and day without a year is the
    next such day from ``today``."""
    text = text.replace("星期天", "星期日")
    found = _FULL.search(text)
    if found:
        return _safe(*(int(g) for g in found.groups()))
    found = _MONTH_DAY.search(text) or _SLASH.search(text)
    if found:
        month, day = int(found.group(1)), int(found.group(2))
        guess = _safe(today.year, month, day)
        if guess is not None and guess < today:
            guess = _safe(today.year + 1, month, day)
        return guess
    for word in sorted(_RELATIVE, key=len, reverse=True):
        if word in text:
            return today + timedelta(days=_RELATIVE[word])
    found = _WEEKDAY.search(text)
    if found:
        weeks_ahead = len(found.group(1) or "")
        target = min(_WEEKDAYS.index(found.group(2)), 6)
        start_of_week = today - timedelta(days=today.weekday())
        guess = start_of_week + timedelta(days=target, weeks=weeks_ahead)
        return guess if guess >= today else guess + timedelta(weeks=1)
    found = _DAY_ONLY.search(text)
    if found:
        day = int(found.group(1))
        guess = _safe(today.year, today.month, day)
        if guess is not None and guess < today:
            month = today.month % 12 + 1
            guess = _safe(today.year + (today.month == 12), month, day)
        return guess
    return None


@dataclass(frozen=True)
class CaseSession:
    """One appointment."""

    id: int
    case_number: str
    day: date
    details: str
    scheduled_by: str


def _naive_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _message(case: Case, day: date, details: str, key: str) -> NewMessage:
    return NewMessage(
        recipient_kind=VILLAGER,
        recipient_id=case.villager.sender_id,
        kind="session",
        message_key=key,
        payload={
            "number": case.number,
            "day": day.isoformat(),
            "details": details,
            "agency": {"id": case.agency.id, "name": case.agency.name} if case.agency else None,
        },
        case_number=case.number,
    )


def schedule_session(
    engine: Engine, case: Case, day: date, details: str, scheduled_by: str
) -> CaseSession:
    """Store the appointment and queue the villager's message, in one transaction."""
    details = details.strip()
    with Session(engine, future=True) as session, session.begin():
        result = session.execute(
            insert(case_sessions).values(
                case_number=case.number,
                day=day,
                details=details,
                scheduled_by=scheduled_by,
                created_at=_naive_now(),
            )
        )
        OutboxWriter(session).add(_message(case, day, details, "villager.session_scheduled"))
        session_id = int(result.inserted_primary_key[0])
    return CaseSession(session_id, case.number, day, details, scheduled_by)


def sessions_for(engine: Engine, number: str) -> list[CaseSession]:
    """A case's appointments, in the order they were set."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(case_sessions)
            .where(case_sessions.c.case_number == number)
            .order_by(case_sessions.c.id)
        ).all()
    return [CaseSession(r.id, r.case_number, r.day, r.details, r.scheduled_by) for r in rows]


def queue_session_reminders(engine: Engine, *, today: date) -> int:
    """Remind villagers of tomorrow's appointments, once.  Only a case's latest appointment
    counts: one moved to another day is not reminded of."""
    from records.services import CaseNotFound, get_case
    from records.store import UnitOfWork

    tomorrow = today + timedelta(days=1)
    with engine.connect() as conn:
        numbers = (
            conn.execute(
                select(case_sessions.c.case_number)
                .where(case_sessions.c.day == tomorrow)
                .distinct()
            )
            .scalars()
            .all()
        )
    queued = 0
    for number in numbers:
        latest = sessions_for(engine, number)[-1]
        if latest.day != tomorrow:
            continue
        try:
            case = get_case(UnitOfWork(engine), number)
        except CaseNotFound:
            continue
        if not case.is_open:
            continue
        marker = insert(reminders_sent).values(
            case_number=number,
            deadline_id=f"session:{latest.id}",
            due=latest.day,
            kind="due_in_1",
            sent_at=_naive_now(),
        )
        message = _message(case, latest.day, latest.details, "villager.session_reminder")
        if queue_once(engine, marker, [message]):
            queued += 1
    return queued
