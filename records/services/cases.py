"""Use cases on cases: file one, read them, move one along its lifecycle.

Each function takes a unit of work (records/services/unit_of_work.py) and runs in one
transaction of its own (cosmicpython's service layer): the case, its history, its deadlines
and its outbox messages are committed together or not at all.  The county's data comes in as
a :class:`knowledge.county.County`; "now" comes from the unit of work's clock.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from knowledge.base import Knowledge
from knowledge.schema import ROUTES
from records.domain.case_number import new_case_number, normalize
from records.domain.clock import county_date
from records.domain.deadlines import case_deadline, deadlines_on
from records.domain.events import VoiceNoteReceived
from records.domain.legal_aid import screen
from records.domain.model import (
    AgencyRef,
    Case,
    CaseDeadline,
    CaseError,
    IllegalTransition,
    Jurisdiction,
    Screening,
    Status,
    Villager,
)
from records.domain.routing import CaseRouting, agency_ref, route_case
from records.domain.staff import HELD_STATUSES, VOICE, AuditEntry
from records.services.unit_of_work import (
    DuplicateSubmission,
    NumberTaken,
    UnitOfWork,
    retrying,
)

__all__ = [
    "SYSTEM_ACTOR",
    "CaseNotFound",
    "CaseRefused",
    "NoAgencyAvailable",
    "NoLongerStaff",
    "SubmitCase",
    "SubmittedCase",
    "cases_filed_by",
    "cases_for_villager",
    "find_case_for_villager",
    "get_case",
    "list_cases",
    "submit_case",
    "transition",
]

log = logging.getLogger(__name__)

#: Actor recorded for moves the system makes itself (routing at submission, re-routing).
SYSTEM_ACTOR = "system"
#: Fresh numbers to try when a random number is taken.  With 29,791 numbers per route and
#: month a collision is rare; 20 misses in a row means the month's space is nearly full.
NUMBER_ATTEMPTS = 20
NUMBER_TAKEN_MESSAGE = "case number %s is taken; drawing another"
#: Whole-transaction retries after a deadlock or a busy SQLite file.
TRANSIENT_ATTEMPTS = 5
#: Form answers that are the villager's own words (searched for 诉访分离 and emergencies).
_TEXT_FIELDS = ("facts", "petition_request", "other_party")


class CaseNotFound(CaseError, LookupError):
    """No case has this number."""


class CaseRefused(CaseError):
    """No such case, or not this person's to see or act on (the caller cannot tell which)."""


class NoLongerStaff(CaseRefused):
    """The person was staff when they tapped the button but is not now (removed).  A
    CaseRefused too, and raised before the case is looked up, so it says nothing about the
    number."""


class NoAgencyAvailable(CaseError):
    """The case cannot be routed on: no agency left in its chain and none named."""


@dataclass(frozen=True)
class SubmitCase:
    """A completed form, ready to become a case.

    ``submission_key`` makes submission idempotent: use something that is the same when the
    same confirmation is delivered twice, e.g. the Rasa conversation id plus the timestamp
    of the villager's confirming message.  ``facts`` holds the form answers by slot name
    (facts, petition_request, other_party, time_limit, economic_status …).
    ``sender_id`` is the chat user's stable id; ``filed_by`` the proxy agent (信访代办员) who
    filed for the villager, if any.  ``knew_since`` is the day the villager knew their rights
    were infringed (starts the labour-arbitration year), when known.
    """

    submission_key: str
    route: str
    sender_id: str
    facts: Mapping[str, Any]
    dispute_type: str = "other"
    name: str | None = None
    phone: str | None = field(default=None, repr=False)
    township_id: str | None = None
    village_id: str | None = None
    filed_by: str | None = None
    knew_since: date | None = None
    submitted_at: datetime | None = None
    #: Danger now, as the conversation's detector saw it (nlu_components/emergency.py): the
    #: case goes to the township police station even if no keyword of case_rules.yml matches.
    emergency: bool = False


@dataclass(frozen=True)
class SubmittedCase:
    """The result of :func:`submit_case`.

    ``created`` is False when the submission key had been seen before and the existing case
    is returned.  Everything the bot tells the villager is on ``case``: ``agency`` (None for a
    redirected petition), ``intake``, ``deadlines``, ``screening``, ``redirect``,
    ``urgent`` / ``emergency`` / ``redirected``, ``also_offer``.
    """

    number: str
    created: bool
    case: Case

    @property
    def next_deadline(self) -> CaseDeadline | None:
        """The first date that matters to the villager, from the submission day on."""
        return self.case.next_deadline(county_date(self.case.created_at))


# ---------------------------------------------------------------------------
# Submission
# ---------------------------------------------------------------------------


def _villager_text(facts: Mapping[str, Any]) -> str:
    return "\n".join(str(facts[k]) for k in _TEXT_FIELDS if facts.get(k))


def _jurisdiction(
    knowledge: Knowledge, township_id: str | None, village_id: str | None
) -> Jurisdiction:
    township = knowledge.township(township_id) if township_id else None
    if township is None and village_id:
        # A bare village id is accepted by routing only when unambiguous; find its township.
        owners = [t for t in knowledge.townships if t.village(village_id) is not None]
        township = owners[0] if len(owners) == 1 else None
    village = township.village(village_id) if township and village_id else None
    return Jurisdiction(
        county_id=knowledge.county.id,
        township_id=township.id if township else None,
        township_name=township.name if township else None,
        village_id=village.id if village else None,
        village_name=village.name if village else None,
    )


def _check_command(cmd: SubmitCase, knowledge: Knowledge) -> None:
    if not cmd.submission_key.strip():
        raise ValueError("submission_key is required (it makes a retried submission safe)")
    if not cmd.sender_id.strip():
        raise ValueError("sender_id is required")
    if cmd.route not in ROUTES:
        raise ValueError(f"unknown route {cmd.route!r}; expected one of {', '.join(ROUTES)}")
    if cmd.dispute_type not in knowledge.dispute_types:
        raise ValueError(f"unknown dispute type {cmd.dispute_type!r}")


def _build_case(
    cmd: SubmitCase,
    *,
    at: datetime,
    routing: CaseRouting,
    screening: Screening | None,
    knowledge: Knowledge,
    rng: random.Random | None,
) -> Case:
    """The new case, routed (or closed as redirected), with its deadlines and flags."""
    knowledge, rules = knowledge, knowledge.rules
    today = county_date(at)
    case = Case.submit(
        number=new_case_number(cmd.route, today, rng),
        route=cmd.route,
        dispute_type=cmd.dispute_type,
        facts=cmd.facts,
        villager=Villager(cmd.sender_id, cmd.name, cmd.phone),
        jurisdiction=_jurisdiction(knowledge, cmd.township_id, cmd.village_id),
        at=at,
        filed_by=cmd.filed_by,
        submission_key=cmd.submission_key,
        intake=routing.intake,
        also_offer=routing.also_offer,
    )
    if screening is not None:
        case.record_screening(screening)

    if routing.redirected and routing.redirect is not None:
        # 诉访分离: recorded (the villager gets a number and the legal route) but not filed
        # as 信访 — closed as redirected, no agency, no 信访 deadlines.
        case.mark_redirected(routing.redirect)
        case.close(
            actor=SYSTEM_ACTOR,
            reason="redirected",
            at=at,
            details={
                "legal_route": routing.redirect.legal_route,
                "article": routing.redirect.article,
            },
            notify_villager=False,  # the chat tells the villager right away
        )
        return case

    assert routing.agency is not None  # only a redirect has no agency
    case.route_to(
        routing.agency,
        routing.chain,
        actor=SYSTEM_ACTOR,
        reason=f"routing:{routing.rule_id}",
        at=at,
        notify_villager=False,
    )
    if routing.emergency:
        case.report_emergency(
            handoff=routing.emergency_handoff,
            notify=routing.notify,
            keywords=routing.emergency_keywords,
            at=at,
        )

    for reached in (Status.SUBMITTED, Status.ROUTED):
        case.set_deadlines(
            deadlines_on(
                reached,
                route=case.route,
                dispute_type=case.dispute_type,
                on=today,
                knowledge=knowledge,
                rules=rules,
                knew_since=cmd.knew_since,
                existing=case.deadlines,
            )
        )
    if screening is not None and screening.urgent and screening.days_left is not None:
        # 法律援助法 Art 44: show the villager's own expiry date next to the urgent flag.
        urgent = knowledge.deadlines[knowledge.legal_aid.urgent.deadline]
        expiry = date.fromordinal(today.toordinal() + screening.days_left)
        case.set_deadlines(
            [
                case_deadline(
                    urgent,
                    expiry,
                    holidays=knowledge.holidays,
                    rules=rules,
                    set_on=Status.SUBMITTED,
                    today=today,
                )
            ]
        )
    return case


def submit_case(
    uow: UnitOfWork,
    cmd: SubmitCase,
    *,
    knowledge: Knowledge,
    rng: random.Random | None = None,
) -> SubmittedCase:
    """Turn a completed form into a case, in one transaction.

    Screens legal-aid answers, routes (诉访分离 and emergencies included), computes the
    deadlines, assigns a unique case number (a fresh random one on collision) and writes the
    case, its history, its deadlines and its outbox messages together.  Idempotent by
    ``cmd.submission_key``: a repeated submission — also a concurrent one — returns the
    existing case with ``created=False``.

    Raises ValueError for an unknown route, dispute type, township or village.
    """
    knowledge, rules = knowledge, knowledge.rules
    _check_command(cmd, knowledge)
    at = cmd.submitted_at or uow.clock.now()
    text = _villager_text(cmd.facts)
    # Pure computations first: nothing here needs the database or may fail half-way.
    routing = route_case(
        cmd.route,
        cmd.dispute_type,
        text=text,
        township_id=cmd.township_id,
        village_id=cmd.village_id,
        knowledge=knowledge,
        rules=rules,
        emergency=cmd.emergency,
    )
    screening = None
    if cmd.route == "legal_aid" or routing.redirected:
        screening = screen(
            text,
            str(cmd.facts.get("economic_status") or ""),
            str(cmd.facts.get("time_limit") or ""),
            today=county_date(at),
            knowledge=knowledge,
            rules=rules,
        )

    def attempt() -> SubmittedCase:
        try:
            with uow:
                existing = uow.cases.get_by_submission_key(cmd.submission_key)
                if existing is not None:
                    return SubmittedCase(existing.number, False, existing)
                case = _build_case(
                    cmd,
                    at=at,
                    routing=routing,
                    screening=screening,
                    knowledge=knowledge,
                    rng=rng,
                )
                for _ in range(NUMBER_ATTEMPTS):
                    try:
                        uow.cases.add(case)
                        break
                    except NumberTaken:
                        log.debug(NUMBER_TAKEN_MESSAGE, case.number)
                        case.renumber(new_case_number(cmd.route, county_date(at), rng))
                else:
                    raise CaseError(
                        f"no free case number after {NUMBER_ATTEMPTS} tries for {cmd.route}"
                    )
                _attach_pending(uow, case)
                uow.commit()
                log.info(
                    "case %s submitted: route=%s agency=%s status=%s",
                    case.number,
                    case.route,
                    case.agency.id if case.agency else None,
                    case.status.value,
                )
                return SubmittedCase(case.number, True, case)
        except DuplicateSubmission:
            # Another request with the same key won the race; hand back its case.
            with uow:
                existing = uow.cases.get_by_submission_key(cmd.submission_key)
            if existing is None:  # pragma: no cover - the key was there a moment ago
                raise
            return SubmittedCase(existing.number, False, existing)

    return retrying(uow, attempt, attempts=TRANSIENT_ATTEMPTS)


def _attach_pending(uow: UnitOfWork, case: Case) -> None:
    """Give the photos and voice notes sent while the form was filled to the new case; the
    agency gets the voice notes after the case itself."""
    pending = uow.evidence.pending(case.villager.sender_id)
    uow.evidence.attach(pending, case.number)
    if case.agency is None:
        return
    for item in pending:
        if item.kind == VOICE:
            uow.emit(
                VoiceNoteReceived(
                    at=case.created_at,
                    number=case.number,
                    route=case.route,
                    agency=case.agency,
                    file_id=item.file_id,
                    duration=item.duration,
                )
            )


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


def cases_for_villager(uow: UnitOfWork, sender_id: str) -> list[Case]:
    """Every case of this chat user, newest first."""
    with uow.reading():
        return uow.cases.list(sender_id=sender_id)


def cases_filed_by(uow: UnitOfWork, filed_by: str) -> list[Case]:
    """Every case a proxy agent (信访代办员) filed, newest first."""
    with uow.reading():
        return uow.cases.list(filed_by=filed_by)


def find_case_for_villager(uow: UnitOfWork, sender_id: str, number: str) -> Case | None:
    """The villager's case with this number (typed in any form), or None.

    None also when the number belongs to someone else: a villager must never learn anything
    about another person's case, not even that the number exists.
    """
    canonical = normalize(number)
    if canonical is None:
        return None
    with uow.reading():
        case = uow.cases.get(canonical)
    if case is None or case.villager.sender_id != sender_id:
        return None
    return case


def get_case(uow: UnitOfWork, number: str) -> Case:
    """A case by number, for staff.  Raises CaseNotFound."""
    canonical = normalize(number) or number
    with uow.reading():
        case = uow.cases.get(canonical)
    if case is None:
        raise CaseNotFound(f"no case {number}")
    return case


def list_cases(
    uow: UnitOfWork,
    *,
    status: str | None = None,
    agency_id: str | None = None,
    route: str | None = None,
    township_id: str | None = None,
    urgent: bool | None = None,
    limit: int | None = None,
) -> list[Case]:
    """Cases for staff, newest first, filtered by whatever is given."""
    with uow.reading():
        return uow.cases.list(
            status=status,
            agency_id=agency_id,
            route=route,
            township_id=township_id,
            urgent=urgent,
            limit=limit,
        )


# ---------------------------------------------------------------------------
# Transitions (staff)
# ---------------------------------------------------------------------------


def _target_agency(case: Case, knowledge: Knowledge, to_agency: str | None) -> AgencyRef | None:
    if to_agency:
        agency = knowledge.agencies_by_id.get(to_agency)
        if agency is None:
            raise ValueError(f"unknown agency id {to_agency!r}")
        return agency_ref(agency)
    return case.next_agency()


def transition(
    uow: UnitOfWork,
    number: str,
    to_status: str | Status,
    actor: str,
    reason: str,
    *,
    knowledge: Knowledge,
    may: Callable[[Case | None], bool] | None = None,
    audit: str | None = None,
    **details: Any,
) -> Case:
    """Move a case to ``to_status`` for ``actor`` with ``reason``, in one transaction.

    ``details`` (all optional):

    * ``outcome`` — for ``resolved``: one of case_rules.yml ``outcomes`` (agreement, reply,
      done …; default done).  ``agreement`` starts the 30-day 司法确认 window, ``reply`` the
      30-day 复查 window;
    * ``event_date`` — the day the step really happened (e.g. the agreement was signed
      yesterday); deadlines that start on this step run from it (default: today);
    * ``to_agency`` — agency id for ``routed``, ``returned`` or ``escalated``; without it a
      returned or escalated case goes to the next agency in its chain that has not had it.

    ``returned`` and ``escalated`` re-route at once when there is somewhere to go (two history
    entries: → returned/escalated, → routed); otherwise the case waits in that status for
    staff to route it with ``to_agency``.  ``routed`` with nowhere to go raises
    NoAgencyAvailable.  Illegal moves raise :class:`records.domain.model.IllegalTransition`;
    an unknown number raises CaseNotFound.  ``may`` (the staff member's rights) is asked
    about the case as it is locked for the change (None when there is no such case); False
    raises CaseRefused.  ``audit``
    names the action in the audit trail (a person's move; the system's own are in the history).
    """
    knowledge, rules = knowledge, knowledge.rules
    target = Status(to_status)
    if not actor.strip():
        raise ValueError("actor is required (who made this change)")
    if not reason.strip():
        raise ValueError("reason is required (why this change)")
    outcome = str(details.get("outcome") or "done")
    if target is Status.RESOLVED:
        if outcome not in rules.outcomes:
            raise ValueError(
                f"unknown outcome {outcome!r}; expected one of {', '.join(rules.outcomes)}"
            )
    event_date = details.get("event_date")
    if isinstance(event_date, str):
        event_date = date.fromisoformat(event_date)
    to_agency = details.get("to_agency")
    canonical = normalize(number) or number

    def attempt() -> Case:
        with uow:
            case = uow.cases.get(canonical, lock=True)
            # Rights first, also for a number that does not exist: the answer to someone
            # who may not must not depend on whether the case is there.
            if may is not None and not may(case):
                raise CaseRefused(number)
            if case is None:
                raise CaseNotFound(f"no case {number}")
            at = uow.clock.now()
            today = county_date(at)
            step_day = event_date or today
            first_new = len(case.history)
            agency_before = case.agency
            extra = {k: v for k, v in details.items() if k not in ("outcome", "to_agency")}

            if target is Status.ROUTED:
                agency = _target_agency(case, knowledge, to_agency)
                if agency is None:
                    raise NoAgencyAvailable(
                        f"case {case.number}: no agency left in its chain; name one (to_agency)"
                    )
                case.route_to(agency, case.chain, actor=actor, reason=reason, at=at)
            elif target is Status.ACCEPTED:
                case.accept(actor=actor, reason=reason, at=at)
            elif target is Status.IN_PROGRESS:
                case.start(actor=actor, reason=reason, at=at)
            elif target is Status.RESOLVED:
                case.resolve(outcome=outcome, actor=actor, reason=reason, at=at, details=extra)
            elif target is Status.CLOSED:
                case.close(actor=actor, reason=reason, at=at, details=extra)
            elif target in (Status.RETURNED, Status.ESCALATED):
                if target is Status.RETURNED:
                    case.hand_back(actor=actor, reason=reason, at=at)
                else:
                    case.escalate(actor=actor, reason=reason, at=at)
                agency = _target_agency(case, knowledge, to_agency)
                if agency is not None:
                    case.route_to(
                        agency,
                        case.chain,
                        actor=SYSTEM_ACTOR if not to_agency else actor,
                        reason=f"{target.value}: {reason}",
                        at=at,
                    )
            else:  # submitted is never a target
                raise IllegalTransition(case.number, case.status, target)

            if audit is not None:
                uow.audit.add(
                    AuditEntry(at, actor, audit, case.number, {"to": case.status.value})
                )
            if case.status not in HELD_STATUSES or case.agency != agency_before:
                # Whoever talked with the villager about it no longer handles it (the case
                # is over, with another agency, or waiting to be routed: nobody's).
                uow.talks.close_for_case(case.number, at)
            for entry in case.history[first_new:]:
                # Deadlines that start on the step the staff reported run from its real day;
                # the automatic re-routing after a return happens today.
                on = step_day if entry.to_status is target else today
                case.set_deadlines(
                    deadlines_on(
                        entry.to_status,
                        route=case.route,
                        dispute_type=case.dispute_type,
                        on=on,
                        knowledge=knowledge,
                        rules=rules,
                        outcome=case.outcome if entry.to_status is Status.RESOLVED else None,
                        existing=case.deadlines,
                    )
                )
            uow.commit()
            log.info(
                "case %s: %s by %s",
                case.number,
                " → ".join(e.to_status.value for e in case.history[first_new - 1 :]),
                actor,
            )
            return case

    return retrying(uow, attempt, attempts=TRANSIENT_ATTEMPTS)
