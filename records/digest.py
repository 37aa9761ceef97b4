"""Staff work lists and the daily digest.

:func:`work_list` is what a staff member is working on — a proxy agent's filed cases, or the
open cases of a handler's agency that their role handles — ordered by the nearest deadline
(`/mine` shows it).  :func:`queue_digests` is one pass of the daily digest: every active staff
member with open work gets one message a day listing it, the nearest deadline first.
The (staff member, day) row in ``digests_sent`` is written in the same transaction as the
outbox message, so a digest goes out once however often the loop runs and however many bots
run it; like reminders, it comes from the database and survives restarts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Engine

from records.domain import OPEN_STATUSES, Case, CaseDeadline
from records.orm import digests_sent
from records.outbox import STAFF, NewMessage, queue_once
from records.services import cases_filed_by, list_cases, next_date_that_matters
from records.staff import StaffMember, active_staff, may_handle
from records.store import UnitOfWork
from knowledge.loader import Knowledge

__all__ = ["WorkItem", "by_nearest_deadline", "queue_digests", "work_list"]

#: A deadline this close (days) counts as "soon" in the digest.
SOON_DAYS = 3


@dataclass(frozen=True)
class WorkItem:
    """A case on someone's list with the next date that matters for it."""

    case: Case
    upcoming: CaseDeadline | None


def by_nearest_deadline(found: list[Case], today: date) -> list[WorkItem]:
    """Cases with their next date, the nearest first; cases without a date last."""
    items = [WorkItem(c, next_date_that_matters(c, today)) for c in found]
    return sorted(
        items,
        key=lambda i: (i.upcoming is None or i.upcoming.due is None, i.upcoming and i.upcoming.due),
    )


def work_list(
    engine: Engine,
    member: StaffMember,
    today: date,
    *,
    open_only: bool = False,
    knowledge: Knowledge | None = None,
) -> list[WorkItem]:
    """An agent's filed cases, or the open agency cases a handler may act on; nearest first."""
    uow = UnitOfWork(engine)
    if member.role == "agent":
        found = cases_filed_by(uow, member.actor)
        if open_only:
            found = [c for c in found if c.status in OPEN_STATUSES]
    else:
        found = [
            c
            for c in list_cases(uow, agency_id=member.agency_id)
            if c.status in OPEN_STATUSES and may_handle(member, c, knowledge)
        ]
    return by_nearest_deadline(found, today)


def _item(item: WorkItem, today: date) -> dict[str, Any]:
    case, upcoming = item.case, item.upcoming
    due = upcoming.due if upcoming else None
    return {
        "number": case.number,
        "status": case.status.value,
        "villager": case.villager.name,
        "deadline": upcoming.name if upcoming and due else None,
        "due": due.isoformat() if due else None,
        "days": (due - today).days if due else None,
    }


def digest_payload(items: list[WorkItem], today: date) -> dict[str, Any]:
    """What the digest message says, as data (the text is built at delivery)."""
    rows = [_item(i, today) for i in items]
    return {
        "day": today.isoformat(),
        "count": len(rows),
        "soon": sum(1 for r in rows if r["days"] is not None and r["days"] <= SOON_DAYS),
        "cases": rows,
    }


def queue_digests(engine: Engine, *, today: date, knowledge: Knowledge | None = None) -> int:
    """Queue today's digest for every active staff member with open work; returns how many
    were queued in this pass (0 when they all went out already)."""
    queued = 0
    for member in active_staff(engine):
        items = work_list(engine, member, today, open_only=True, knowledge=knowledge)
        if not items:
            continue
        message = NewMessage(
            recipient_kind=STAFF,
            recipient_id=str(member.telegram_user_id),
            kind="daily_digest",
            message_key="staff.daily_digest",
            payload=digest_payload(items, today),
        )
        marker = insert(digests_sent).values(
            staff_user_id=member.telegram_user_id,
            day=today,
            cases=len(items),
            sent_at=datetime.now(timezone.utc).replace(tzinfo=None),
        )
        if not queue_once(engine, marker, [message]):
            continue
        queued += 1
    return queued
