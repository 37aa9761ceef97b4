"""Appointments a handler sets with the villager: a mediation session, a 约谈 for a petition.

After accepting a case, the handler taps 约时间地点 and writes the day, time and place in
plain words ("12月3日下午2点，天台村委会").  knowledge.readers.read_date finds the day;
:func:`schedule_session` stores the appointment and, in the same transaction, queues the
message that tells the villager.  :func:`queue_session_reminders` reminds the villager the
day before, once (recorded in ``reminders_sent`` like the deadline reminders).
"""

from __future__ import annotations

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
    "queue_session_reminders",
    "schedule_session",
    "sessions_for",
]

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
