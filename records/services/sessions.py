"""Reminders of appointments: the villager hears the day before, once.

Setting an appointment is a staff use case (records/services/staff.py ``schedule_session``);
this module is the daily pass.  Only a case's latest appointment counts: one moved to another
day is not reminded of.
"""

from __future__ import annotations

from datetime import timedelta

from records.domain.events import SessionReminderDue
from records.services.unit_of_work import UnitOfWork

__all__ = ["queue_session_reminders"]


def queue_session_reminders(uow: UnitOfWork) -> int:
    """Remind villagers of tomorrow's appointments (county date), once; how many were queued."""
    queued = 0
    with uow:
        at = uow.clock.now()
        tomorrow = uow.clock.today() + timedelta(days=1)
        for number in uow.sessions.cases_on(tomorrow):
            latest = uow.sessions.for_case(number)[-1]
            if latest.day != tomorrow:
                continue
            case = uow.cases.get(number)
            if case is None or not case.is_open:
                continue
            if not uow.sent.reminder(number, f"session:{latest.id}", latest.day, "due_in_1", at):
                continue
            uow.emit(
                SessionReminderDue(
                    at=at,
                    number=number,
                    villager=case.villager.sender_id,
                    agency=case.agency,
                    day=latest.day,
                    details=latest.details,
                )
            )
            queued += 1
        uow.commit()
    return queued
