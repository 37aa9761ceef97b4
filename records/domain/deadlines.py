"""Statutory deadlines for a case, computed from knowledge/deadlines.yml — never hard-coded.

How periods are counted (民法典, 总则编 第十章 期间计算):

* Art 201: for periods in 日 / 月 / 年 **the start day is not counted**; counting begins the
  next day.  Periods in 小时 run from the stated moment.
* Art 202: a period in 月 or 年 ends on the corresponding day of the last month; when that
  month has no such day (31 Jan + 1 月, 29 Feb + 1 年), it ends on the month's last day.
* Art 203: when the last day is a statutory rest day (weekends and public holidays, see
  knowledge/holidays.yml), the period ends on the next working day.  调休 Saturdays and
  Sundays that are official working days count as working days.
* 工作日 periods count working days only: weekends and holidays are skipped, 调休 working
  weekends are counted.

Years missing from holidays.yml fall back to Monday–Friday and a warning is logged, because
a wrong 工作日 count is worse than a noisy log.
"""

from __future__ import annotations

import calendar
import functools
import logging
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta

from knowledge.case_rules import CaseRules, DeadlineTrigger
from records.domain.clock import COUNTY_TZ, county_date
from records.domain.model import CaseDeadline, Status
from knowledge.schema import Deadline, Holidays
from knowledge.base import Knowledge

__all__ = [
    "add_months",
    "case_deadline",
    "deadlines_on",
    "due_at",
    "due_date",
    "next_workday_on_or_after",
    "plain_date",
]

log = logging.getLogger(__name__)

@functools.lru_cache(maxsize=64)
def _warn_uncovered(year: int) -> None:
    # Once per year and process: the fallback is legal but may be a day or two off.
    log.warning("holidays.yml has no schedule for %s; counting Monday-Friday as working days", year)


def _is_workday(day: date, holidays: Holidays) -> bool:
    if not holidays.covers(day):
        _warn_uncovered(day.year)
    return holidays.is_workday(day)


def next_workday_on_or_after(day: date, holidays: Holidays) -> date:
    """``day`` itself if it is a working day, else the next working day (民法典 Art 203)."""
    while not _is_workday(day, holidays):
        day += timedelta(days=1)
    return day


def add_months(start: date, months: int) -> date:
    """The corresponding day ``months`` later, or that month's last day (民法典 Art 202)."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def due_date(deadline: Deadline, start: date, holidays: Holidays) -> date:
    """The last day of ``deadline`` when its start event happened on ``start``.

    ``counts: before`` deadlines (e.g. 法律援助法 Art 44 "less than 7 days before the limit
    expires") run backwards from ``start`` in calendar days and are not moved: the result is
    the first day on which the situation applies.
    """
    n = deadline.number
    if deadline.counts == "before":
        return start - timedelta(days=n)
    if deadline.unit == "日":
        return next_workday_on_or_after(start + timedelta(days=n), holidays)
    if deadline.unit == "工作日":
        day, counted = start, 0
        while counted < n:  # the start day itself is never counted
            day += timedelta(days=1)
            if _is_workday(day, holidays):
                counted += 1
        return day
    if deadline.unit == "月":
        return next_workday_on_or_after(add_months(start, n), holidays)
    if deadline.unit == "年":
        return next_workday_on_or_after(add_months(start, 12 * n), holidays)
    if deadline.unit == "小时":
        # Only the date is known: take the latest moment of that day, so the date returned is
        # never earlier than the true one (exact whenever n is a multiple of 24).
        return (datetime.combine(start, time.max) + timedelta(hours=n)).date()
    raise ValueError(f"deadline {deadline.id!r}: unknown unit {deadline.unit!r}")


def due_at(deadline: Deadline, start: datetime, holidays: Holidays) -> datetime:
    """The moment ``deadline`` ends: exact for 小时, the end of the due day otherwise."""
    if deadline.unit == "小时" and deadline.counts == "after":
        return start + timedelta(hours=deadline.number)
    day = due_date(deadline, county_date(start) if start.tzinfo else start.date(), holidays)
    end = datetime.combine(day, time(23, 59, 59))
    return end.replace(tzinfo=COUNTY_TZ) if start.tzinfo else end


def plain_date(day: date, today: date, rules: CaseRules) -> str:
    """The date as a villager reads it: "12月12日", with the year when it is not this year."""
    return rules.format_date(day.year, day.month, day.day, same_year=day.year == today.year)


def case_deadline(
    deadline: Deadline,
    start: date | None,
    *,
    holidays: Holidays,
    rules: CaseRules,
    set_on: Status | str,
    today: date,
    information: bool = False,
) -> CaseDeadline:
    """Attachable deadline with its due date and the explain text filled in.

    ``start`` None gives an undated note whose text comes from case_rules.yml
    ``undated_notes``.  For ``counts: before`` deadlines ``start`` is the villager's own
    expiry date, which is also the date shown (the Art 44 "your limit ends on …" notice).
    """
    if start is None:
        note = rules.undated_notes.get(deadline.id)
        if note is None:
            raise ValueError(f"deadline {deadline.id!r} has no start date and no undated note")
        due: date | None = None
        explain = note
    else:
        due = start if deadline.counts == "before" else due_date(deadline, start, holidays)
        explain = deadline.explain_for(plain_date(due, today, rules))
    return CaseDeadline(
        deadline_id=deadline.id,
        name=deadline.name,
        due=due,
        article=deadline.article,
        law=deadline.law,
        explain=explain,
        start_event=deadline.start_event,
        started_on=start,
        set_on=Status(set_on),
        information=information,
    )


def _trigger_start(
    trigger: DeadlineTrigger,
    on: date,
    knew_since: date | None,
    known: Mapping[str, CaseDeadline],
) -> tuple[bool, date | None]:
    """(applicable, start date) for one trigger."""
    if trigger.start == "event":
        return True, on
    if trigger.start == "knew_since":
        return True, knew_since
    ref = known.get(trigger.start_deadline or "")
    if ref is None or ref.due is None:
        # The deadline it runs on from is not on the case (yet): nothing to compute from.
        return False, None
    return True, ref.due


def deadlines_on(
    status: Status | str,
    *,
    route: str,
    dispute_type: str,
    on: date,
    knowledge: Knowledge,
    rules: CaseRules,
    outcome: str | None = None,
    knew_since: date | None = None,
    existing: Iterable[CaseDeadline] = (),
) -> list[CaseDeadline]:
    """The deadlines a case gets when it reaches ``status`` on ``on`` (case_rules.yml).

    ``existing`` are the deadlines already on the case, for triggers that start when another
    deadline ends (e.g. the petition extension after the 60-day handling period).
    """
    status = Status(status)
    known: dict[str, CaseDeadline] = {d.deadline_id: d for d in existing}
    result: list[CaseDeadline] = []
    for trigger in rules.triggers_for(status.value, route, dispute_type, outcome):
        applicable, start = _trigger_start(trigger, on, knew_since, known)
        if not applicable:
            continue
        computed = case_deadline(
            knowledge.deadlines[trigger.deadline],
            start,
            holidays=knowledge.holidays,
            rules=rules,
            set_on=status,
            today=on,
            information=trigger.information,
        )
        known[computed.deadline_id] = computed
        result.append(computed)
    return result
