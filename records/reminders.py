"""Deadline reminders and overdue cases, from the database (not in-memory timers).

:func:`queue_reminders` is one pass over the stored deadlines for ``today``:

* an agency duty (knowledge/reminders.yml ``agency_duties``) due in N days (N in
  ``days_before``, e.g. 3 and 1) while the case is still in a status where the duty is unmet
  → ``agency.deadline_reminder`` to the agency;
* a villager window (``villager_windows``: the 30-day 司法确认 or 复查 window after the case
  ends) due in N days → ``villager.deadline_reminder`` to the villager;
* an agency duty past due while the case is still in such a status → the case is escalated
  (上报, re-routed up its chain by records.services.transition) and the old agency gets
  ``agency.case_overdue`` — the flag staff see.

Each (case, deadline, due day, kind) is recorded in ``reminders_sent`` in the same
transaction as its outbox message, so a reminder is queued exactly once however often the
loop runs and however many bots run it; the outbox dispatcher then delivers it with retries.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import and_, insert, select
from sqlalchemy.engine import Engine

from knowledge.case_rules import CaseRules, get_case_rules
from records.deadlines import plain_date
from records.domain import CaseError, Status
from records.orm import case_deadlines, cases, reminders_sent
from records.outbox import AGENCY, VILLAGER, NewMessage, queue_once, utcnow
from records.store import UnitOfWork
from knowledge.loader import Knowledge, KnowledgeError, default_knowledge_root, get_knowledge

__all__ = ["ReminderReport", "ReminderRules", "load_reminder_rules", "queue_reminders"]

log = logging.getLogger(__name__)

REMINDERS_FILE = "reminders.yml"
OVERDUE = "overdue"
SYSTEM_ACTOR = "system"


@dataclass(frozen=True)
class ReminderRules:
    """knowledge/reminders.yml, checked against deadlines.yml and the case statuses."""

    agency_duties: Mapping[str, frozenset[Status]]
    villager_windows: frozenset[str]


def load_reminder_rules(
    root: Path | None = None, knowledge: Knowledge | None = None
) -> ReminderRules:
    """Load and check ``<knowledge>/reminders.yml``; KnowledgeError names file and field."""
    knowledge = knowledge or get_knowledge()
    path = (root or default_knowledge_root()) / REMINDERS_FILE
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    duties: dict[str, frozenset[Status]] = {}
    for deadline_id, statuses in (data.get("agency_duties") or {}).items():
        if deadline_id not in knowledge.deadlines:
            raise KnowledgeError(
                REMINDERS_FILE, deadline_id, "agency_duties", "unknown deadline (deadlines.yml)"
            )
        try:
            duties[deadline_id] = frozenset(Status(s) for s in statuses or ())
        except ValueError as exc:
            raise KnowledgeError(REMINDERS_FILE, deadline_id, "agency_duties", str(exc)) from None
    windows = frozenset(data.get("villager_windows") or ())
    for deadline_id in windows:
        if deadline_id not in knowledge.deadlines:
            raise KnowledgeError(
                REMINDERS_FILE, deadline_id, "villager_windows", "unknown deadline (deadlines.yml)"
            )
    return ReminderRules(duties, windows)


@functools.lru_cache(maxsize=1)
def _default_rules() -> ReminderRules:
    return load_reminder_rules()


@dataclass
class ReminderReport:
    """What one pass queued."""

    agency_reminders: int = 0
    villager_reminders: int = 0
    overdue: int = 0
    escalated: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Due:
    number: str
    status: Status
    route: str
    sender_id: str
    agency_id: str | None
    agency_name: str | None
    deadline_id: str
    name: str
    due: date
    explain: str
    set_on: Status


def _due_rows(engine: Engine, until: date, deadline_ids: Iterable[str]) -> list[_Due]:
    """Dated, non-informational deadlines of the given kinds due on or before ``until``."""
    query = (
        select(
            cases.c.number,
            cases.c.status,
            cases.c.route,
            cases.c.sender_id,
            cases.c.agency_id,
            cases.c.agency_name,
            case_deadlines.c.deadline_id,
            case_deadlines.c.name,
            case_deadlines.c.due,
            case_deadlines.c.explain,
            case_deadlines.c.set_on,
        )
        .select_from(cases.join(case_deadlines, case_deadlines.c.case_id == cases.c.id))
        .where(
            and_(
                case_deadlines.c.due.is_not(None),
                case_deadlines.c.due <= until,
                case_deadlines.c.information.is_(False),
                case_deadlines.c.deadline_id.in_(list(deadline_ids)),
            )
        )
        .order_by(case_deadlines.c.due, cases.c.number)
    )
    with engine.connect() as conn:
        return [
            _Due(
                r.number,
                Status(r.status),
                r.route,
                r.sender_id,
                r.agency_id,
                r.agency_name,
                r.deadline_id,
                r.name,
                r.due,
                r.explain,
                Status(r.set_on),
            )
            for r in conn.execute(query)
        ]


def _claim(engine: Engine, item: _Due, kind: str, messages: list[NewMessage]) -> bool:
    """Record the reminder and queue its messages in one transaction; False if done before."""
    marker = insert(reminders_sent).values(
        case_number=item.number,
        deadline_id=item.deadline_id,
        due=item.due,
        kind=kind,
        sent_at=datetime.now(timezone.utc).replace(tzinfo=None),
    )
    return queue_once(engine, marker, messages)


def _payload(item: _Due, today: date, rules: CaseRules, **extra: Any) -> dict[str, Any]:
    return {
        "number": item.number,
        "deadline": item.name,
        "deadline_id": item.deadline_id,
        "due": plain_date(item.due, today, rules),
        "days": (item.due - today).days,
        "explain": item.explain,
        "agency": {"id": item.agency_id, "name": item.agency_name} if item.agency_id else None,
        **extra,
    }


def queue_reminders(
    engine: Engine,
    *,
    today: date,
    days_before: Iterable[int] = (3, 1),
    rules: ReminderRules | None = None,
    case_rules: CaseRules | None = None,
    knowledge: Knowledge | None = None,
) -> ReminderReport:
    """One pass: queue due reminders, escalate overdue cases.  Safe to run any number of times."""
    rules = rules or _default_rules()
    case_rules = case_rules or get_case_rules()
    days = sorted({int(d) for d in days_before if int(d) >= 0})
    report = ReminderReport()
    horizon = date.fromordinal(today.toordinal() + (max(days) if days else 0))
    watched = set(rules.agency_duties) | set(rules.villager_windows)
    for item in _due_rows(engine, horizon, watched):
        left = (item.due - today).days
        duty = rules.agency_duties.get(item.deadline_id)
        if duty is not None and item.status in duty and item.agency_id:
            if left < 0:
                _overdue(engine, item, today, case_rules, knowledge, report)
            elif left in days:
                message = NewMessage(
                    recipient_kind=AGENCY,
                    recipient_id=item.agency_id,
                    kind="deadline_reminder",
                    message_key="agency.deadline_reminder",
                    payload=_payload(item, today, case_rules),
                    case_number=item.number,
                )
                if _claim(engine, item, f"due_in_{left}", [message]):
                    report.agency_reminders += 1
        elif (
            item.deadline_id in rules.villager_windows
            and item.status is item.set_on  # the window the case's last step opened
            and left in days
        ):
            message = NewMessage(
                recipient_kind=VILLAGER,
                recipient_id=item.sender_id,
                kind="deadline_reminder",
                message_key="villager.deadline_reminder",
                payload=_payload(item, today, case_rules),
                case_number=item.number,
            )
            if _claim(engine, item, f"due_in_{left}", [message]):
                report.villager_reminders += 1
    return report


def _overdue(
    engine: Engine,
    item: _Due,
    today: date,
    case_rules: CaseRules,
    knowledge: Knowledge | None,
    report: ReminderReport,
) -> None:
    """Flag (tell the agency) once, then escalate; a failed escalation is tried next pass."""
    from records.services import transition

    assert item.agency_id is not None
    notice = NewMessage(
        recipient_kind=AGENCY,
        recipient_id=item.agency_id,
        kind="case_overdue",
        message_key="agency.case_overdue",
        payload=_payload(item, today, case_rules),
        case_number=item.number,
    )
    if _claim(engine, item, OVERDUE, [notice]):
        report.overdue += 1
    try:
        transition(
            UnitOfWork(engine),
            item.number,
            Status.ESCALATED,
            SYSTEM_ACTOR,
            f"overdue: {item.name}",
            knowledge=knowledge,
        )
    except CaseError as exc:  # moved meanwhile (accepted, resolved …): nothing to escalate
        log.info("overdue case %s not escalated: %s", item.number, exc)
        return
    report.escalated.append(item.number)
    log.warning("case %s overdue (%s, due %s): escalated", item.number, item.deadline_id, item.due)


def utc_today() -> date:
    """Today in the county (deadlines are county dates)."""
    from records.deadlines import local_date

    return local_date(utcnow())
