"""Deadline reminders and overdue cases, from the database (not in-memory timers).

:func:`queue_reminders` is one pass over the stored deadlines for ``today``:

* an agency duty (knowledge/reminders.yml ``agency_duties``) due in N days (N in
  ``days_before``, e.g. 3 and 1) while the case is still in a status where the duty is unmet
  → ``agency.deadline_reminder`` to the agency;
* a villager window (``villager_windows``: the 30-day 司法确认 or 复查 window after the case
  ends) due in N days → ``villager.deadline_reminder`` to the villager;
* an agency duty past due while the case is still in such a status → the case is escalated
  (上报, re-routed up its chain by records.services.cases.transition) and the old agency gets
  ``agency.case_overdue`` — the flag staff see.

Each (case, deadline, due day, kind) is recorded in ``reminders_sent`` in the same
transaction as its outbox message, so a reminder is queued exactly once however often the
loop runs and however many bots run it; the outbox dispatcher then delivers it with retries.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from knowledge.base import Knowledge
from records.domain.deadlines import plain_date
from records.domain.events import CaseOverdue, DeadlineApproaching
from records.domain.model import CaseError, Status
from records.services.cases import SYSTEM_ACTOR, transition
from records.services.unit_of_work import DueDeadline, UnitOfWork

__all__ = ["OVERDUE", "ReminderReport", "queue_reminders"]

log = logging.getLogger(__name__)

OVERDUE = "overdue"


@dataclass
class ReminderReport:
    """What one pass queued."""

    agency_reminders: int = 0
    villager_reminders: int = 0
    overdue: int = 0
    escalated: list[str] = field(default_factory=list)


def _event(
    cls: type[DeadlineApproaching],
    item: DueDeadline,
    uow: UnitOfWork,
    knowledge: Knowledge,
    to_villager: bool,
) -> DeadlineApproaching:
    today = uow.clock.today()
    due = item.deadline.due
    assert due is not None  # due_deadlines returns dated deadlines only
    return cls(
        at=uow.clock.now(),
        number=item.number,
        to_villager=to_villager,
        villager=item.villager,
        agency=item.agency,
        deadline_id=item.deadline.deadline_id,
        deadline=item.deadline.name,
        due=due,
        due_text=plain_date(due, today, knowledge.rules),
        days=(due - today).days,
        explain=item.deadline.explain,
    )


def queue_reminders(
    uow: UnitOfWork, knowledge: Knowledge, *, days_before: Iterable[int] = (3, 1)
) -> ReminderReport:
    """One pass for the county's today: queue due reminders, escalate overdue cases.  Safe to
    run any number of times, by any number of processes."""
    rules = knowledge.reminders
    days = sorted({int(d) for d in days_before if int(d) >= 0})
    report = ReminderReport()
    overdue: list[DueDeadline] = []
    with uow:
        today = uow.clock.today()
        at = uow.clock.now()
        horizon = date.fromordinal(today.toordinal() + (max(days) if days else 0))
        watched = set(rules.agency_duties) | set(rules.villager_windows)
        for item in uow.cases.due_deadlines(horizon, watched):
            due = item.deadline.due
            assert due is not None
            left = (due - today).days
            duty = rules.agency_duties.get(item.deadline.deadline_id)
            if duty is not None and item.status.value in duty and item.agency is not None:
                if left < 0:
                    overdue.append(item)
                elif left in days and uow.sent.reminder(
                    item.number, item.deadline.deadline_id, due, f"due_in_{left}", at
                ):
                    uow.emit(_event(DeadlineApproaching, item, uow, knowledge, False))
                    report.agency_reminders += 1
            elif (
                item.deadline.deadline_id in rules.villager_windows
                and item.status is item.deadline.set_on  # the window the case's last step opened
                and left in days
                and uow.sent.reminder(
                    item.number, item.deadline.deadline_id, due, f"due_in_{left}", at
                )
            ):
                uow.emit(_event(DeadlineApproaching, item, uow, knowledge, True))
                report.villager_reminders += 1
        for item in overdue:
            # Flag (tell the agency) once; the escalation below is retried every pass until
            # it happens or the case moves on.
            assert item.deadline.due is not None
            if uow.sent.reminder(
                item.number, item.deadline.deadline_id, item.deadline.due, OVERDUE, at
            ):
                uow.emit(_event(CaseOverdue, item, uow, knowledge, False))
                report.overdue += 1
        uow.commit()
    for item in overdue:
        try:
            transition(
                uow,
                item.number,
                Status.ESCALATED,
                SYSTEM_ACTOR,
                f"overdue: {item.deadline.name}",
                knowledge=knowledge,
            )
        except CaseError as exc:  # moved meanwhile (accepted, resolved …): nothing to escalate
            log.info("overdue case %s not escalated: %s", item.number, exc)
            continue
        report.escalated.append(item.number)
        log.warning(
            "case %s overdue (%s, due %s): escalated",
            item.number,
            item.deadline.deadline_id,
            item.deadline.due,
        )
    return report
