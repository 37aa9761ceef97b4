"""Staff work lists and the daily digest.

:func:`work_list` is what a staff member is working on — a proxy agent's filed cases, or the
open cases of a handler's agency that their role handles — ordered by the nearest deadline
(`/mine` shows it).  :func:`queue_digests` is one pass of the daily digest: every active staff
member with open work gets one message a day listing it, the nearest deadline first.  The
(staff member, day) row in ``digests_sent`` is written in the same transaction as the outbox
message, so a digest goes out once however often the loop runs and however many bots run it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from knowledge.base import Knowledge
from records.domain.events import DigestDue
from records.domain.model import OPEN_STATUSES, Case, CaseDeadline
from records.domain.staff import AuditEntry, StaffMember, may_handle
from records.services.cases import NoLongerStaff
from records.services.unit_of_work import UnitOfWork

__all__ = ["WorkItem", "by_nearest_deadline", "digest_payload", "queue_digests", "work_list"]

#: A deadline this close (days) counts as "soon" in the digest.
SOON_DAYS = 3


@dataclass(frozen=True)
class WorkItem:
    """A case on someone's list with the next date that matters for it."""

    case: Case
    upcoming: CaseDeadline | None


def by_nearest_deadline(found: list[Case], today: date) -> list[WorkItem]:
    """Cases with their next date, the nearest first; cases without a date last."""
    items = [WorkItem(c, c.next_deadline(today)) for c in found]
    return sorted(
        items,
        key=lambda i: (i.upcoming is None or i.upcoming.due is None, i.upcoming and i.upcoming.due),
    )


def _work(uow: UnitOfWork, member: StaffMember, knowledge: Knowledge, open_only: bool) -> list[WorkItem]:
    if member.role == "agent":
        found = uow.cases.list(filed_by=member.actor)
        if open_only:
            found = [c for c in found if c.status in OPEN_STATUSES]
    else:
        found = [
            c
            for c in uow.cases.list(agency_id=member.agency_id, status=list(OPEN_STATUSES))
            if may_handle(member, c, knowledge)
        ]
    return by_nearest_deadline(found, uow.clock.today())


def work_list(
    uow: UnitOfWork, member: StaffMember, knowledge: Knowledge, *, open_only: bool = False
) -> list[WorkItem]:
    """An agent's filed cases, or the open agency cases a handler may act on; nearest first.
    The list shows villagers' names: the look goes to the audit trail.  The person is read
    again here: rights taken away (or an agency changed) since they were looked up count.

    Raises NoLongerStaff when they are staff no longer."""
    with uow:
        current = uow.staff.get(member.identity)
        if current is None:
            raise NoLongerStaff("")
        member = current
        items = _work(uow, member, knowledge, open_only)
        uow.audit.add(
            AuditEntry(uow.clock.now(), member.actor, "list", None, {"cases": len(items)})
        )
        uow.commit()
    return items


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


def queue_digests(uow: UnitOfWork, knowledge: Knowledge) -> int:
    """Queue today's digest for every active staff member with open work; how many were
    queued in this pass (0 when they all went out already)."""
    queued = 0
    with uow:
        at, today = uow.clock.now(), uow.clock.today()
        for member in uow.staff.active():
            items = _work(uow, member, knowledge, open_only=True)
            if not items or not uow.sent.digest(member.actor, today, len(items), at):
                continue
            uow.emit(DigestDue(at=at, staff=member.actor, payload=digest_payload(items, today)))
            queued += 1
        uow.commit()
    return queued
