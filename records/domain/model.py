"""The case domain model: a villager's matter, its lifecycle, deadlines and domain events.

Plain Python on purpose (cosmicpython's ``domain/model.py``): no Rasa, no Telegram, no SQL.
The repository in :mod:`records.adapters.store` saves and loads these objects; the service layer in
:mod:`records.services.cases` decides *what* to do; the ``Case`` guards *whether* it may be done.

Lifecycle (GLOSSARY.md)::

    submitted → routed → accepted → in_progress → resolved
                  │  ↑       │           │
                  │  └── returned ←──────┘(accepted only)   any open status → closed
                  └──→ escalated → routed (next agency in the chain)

Every move is checked against :data:`ALLOWED_TRANSITIONS` and recorded as a
:class:`CaseEvent` (who, when, from, to, why).  Side effects (telling an agency or the
villager) are not performed here: the case collects :class:`DomainEvent` objects in
``case.events`` and the unit of work turns them into outbox rows in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any

from records.domain.events import (
    CaseRouted,
    CaseSubmitted,
    DomainEvent,
    EmergencyReported,
    StatusChanged,
)
from records.domain.redaction import mask_phone

__all__ = [
    "ALLOWED_TRANSITIONS",
    "OPEN_STATUSES",
    "AgencyRef",
    "Case",
    "CaseDeadline",
    "CaseError",
    "CaseEvent",
    "IllegalTransition",
    "Jurisdiction",
    "NumberAlreadyFixed",
    "Redirect",
    "Screening",
    "Status",
    "Villager",
]


class Status(str, Enum):
    """Where a case is in its life (GLOSSARY.md)."""

    SUBMITTED = "submitted"
    ROUTED = "routed"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"
    RETURNED = "returned"
    ESCALATED = "escalated"

    def __str__(self) -> str:
        return self.value


S = Status
#: The only moves a case may make.  ``resolved`` and ``closed`` are final: a 复查 request
#: after a written reply is a new matter at the next level up, not the same case reopened.
ALLOWED_TRANSITIONS: Mapping[Status, frozenset[Status]] = {
    S.SUBMITTED: frozenset({S.ROUTED, S.CLOSED}),
    S.ROUTED: frozenset({S.ACCEPTED, S.RETURNED, S.ESCALATED, S.CLOSED}),
    # An agency may still find, after accepting, that the matter is not theirs (信访工作条例
    # Art 23 ¶3 gives it 5 working days to object), or that it must go up a level.
    S.ACCEPTED: frozenset({S.IN_PROGRESS, S.RESOLVED, S.RETURNED, S.ESCALATED, S.CLOSED}),
    S.IN_PROGRESS: frozenset({S.RESOLVED, S.ESCALATED, S.CLOSED}),
    S.RETURNED: frozenset({S.ROUTED, S.CLOSED}),
    S.ESCALATED: frozenset({S.ROUTED, S.CLOSED}),
    S.RESOLVED: frozenset(),
    S.CLOSED: frozenset(),
}
#: Statuses in which somebody still has to do something.
OPEN_STATUSES: frozenset[Status] = frozenset(s for s, nxt in ALLOWED_TRANSITIONS.items() if nxt)


class CaseError(Exception):
    """A request the case refuses (the message says why, for staff and logs)."""


class IllegalTransition(CaseError):
    """A status change the lifecycle does not allow."""

    def __init__(self, number: str, from_status: Status, to_status: Status) -> None:
        self.number = number
        self.from_status = from_status
        self.to_status = to_status
        allowed = sorted(s.value for s in ALLOWED_TRANSITIONS[from_status])
        hint = (
            f"allowed from {from_status.value}: {', '.join(allowed)}"
            if allowed
            else (f"{from_status.value} is final")
        )
        super().__init__(
            f"case {number}: cannot change status from {from_status.value} to "
            f"{to_status.value} ({hint})"
        )


class NumberAlreadyFixed(CaseError):
    """A case number may only change before the case is first saved."""


# ---------------------------------------------------------------------------
# Value objects
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AgencyRef:
    """An agency (承办单位) as the case remembers it: id from knowledge, and its name then."""

    id: str
    name: str


@dataclass(frozen=True)
class Jurisdiction:
    """Where the matter belongs: county, and township / village when known."""

    county_id: str
    township_id: str | None = None
    township_name: str | None = None
    village_id: str | None = None
    village_name: str | None = None


@dataclass(frozen=True)
class Villager:
    """The person the case is for.  ``sender_id`` is the chat user's stable id.

    The phone is kept out of ``repr`` so that logging a case never writes it.
    """

    sender_id: str
    name: str | None = None
    phone: str | None = field(default=None, repr=False)

    @property
    def phone_masked(self) -> str:
        """139****4321 — safe for logs and read-backs."""
        return mask_phone(self.phone)


@dataclass(frozen=True)
class CaseEvent:
    """One recorded status change: who moved the case, when, from where to where, and why."""

    seq: int
    at: datetime
    actor: str
    from_status: Status | None
    to_status: Status
    reason: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CaseDeadline:
    """A statutory deadline attached to a case, computed from knowledge/deadlines.yml.

    ``due`` is None for an undated note (e.g. the labour-arbitration year when the villager
    does not know since when the wages are owed); ``information`` marks a possibility to tell
    the villager about (e.g. the ≤30-day extension) rather than a date somebody must keep.
    """

    deadline_id: str
    name: str
    due: date | None
    article: str
    law: str
    explain: str
    start_event: str
    started_on: date | None
    set_on: Status
    information: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (outbox payloads, the staff command line)."""
        return {
            "id": self.deadline_id,
            "name": self.name,
            "due": self.due.isoformat() if self.due else None,
            "law": self.law,
            "article": self.article,
            "explain": self.explain,
            "start_event": self.start_event,
            "started_on": self.started_on.isoformat() if self.started_on else None,
            "set_on": self.set_on.value,
            "information": self.information,
        }


@dataclass(frozen=True)
class Screening:
    """Legal-aid screening of the form answers (法律援助法 Art 31, 32, 42, 44).

    ``article`` is the main article the matter falls under ("31(5)", "32(4)") or None;
    ``exempt_group`` the Art 42 item that waives the hardship check ("42(3)") or None.
    ``reasons`` say, for staff, which rule matched which words; ``materials`` what to bring.
    """

    eligible_matter: bool
    article: str | None
    hardship_test_needed: bool
    exempt_group: str | None
    urgent: bool
    reasons: tuple[str, ...] = ()
    materials: tuple[str, ...] = ()
    days_left: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for storage."""
        return {
            "eligible_matter": self.eligible_matter,
            "article": self.article,
            "hardship_test_needed": self.hardship_test_needed,
            "exempt_group": self.exempt_group,
            "urgent": self.urgent,
            "reasons": list(self.reasons),
            "materials": list(self.materials),
            "days_left": self.days_left,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Screening:
        """Inverse of :meth:`to_dict`."""
        return cls(
            eligible_matter=bool(data["eligible_matter"]),
            article=data.get("article"),
            hardship_test_needed=bool(data["hardship_test_needed"]),
            exempt_group=data.get("exempt_group"),
            urgent=bool(data["urgent"]),
            reasons=tuple(data.get("reasons") or ()),
            materials=tuple(data.get("materials") or ()),
            days_left=data.get("days_left"),
        )


@dataclass(frozen=True)
class Redirect:
    """诉访分离: the petition is really a litigation / arbitration / review matter.

    ``legal_route`` is the id from case_rules.yml (litigation, arbitration,
    administrative_review); ``legal_aid_agency`` is where the villager can get legal aid.
    """

    legal_route: str
    name: str
    law: str
    article: str
    explain: str
    keywords: tuple[str, ...]
    offer_route: str
    legal_aid_agency: AgencyRef | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for storage."""
        return {
            "legal_route": self.legal_route,
            "name": self.name,
            "law": self.law,
            "article": self.article,
            "explain": self.explain,
            "keywords": list(self.keywords),
            "offer_route": self.offer_route,
            "legal_aid_agency": (
                {"id": self.legal_aid_agency.id, "name": self.legal_aid_agency.name}
                if self.legal_aid_agency
                else None
            ),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Redirect:
        """Inverse of :meth:`to_dict`."""
        agency = data.get("legal_aid_agency")
        return cls(
            legal_route=data["legal_route"],
            name=data["name"],
            law=data["law"],
            article=data["article"],
            explain=data["explain"],
            keywords=tuple(data.get("keywords") or ()),
            offer_route=data["offer_route"],
            legal_aid_agency=AgencyRef(agency["id"], agency["name"]) if agency else None,
        )


# ---------------------------------------------------------------------------
# The aggregate
# ---------------------------------------------------------------------------


def _jsonable(details: Mapping[str, Any]) -> dict[str, Any]:
    """Event details as JSON-ready values (dates as ISO strings)."""
    out: dict[str, Any] = {}
    for key, value in details.items():
        if isinstance(value, date):  # datetime is a date too
            out[key] = value.isoformat()
        elif isinstance(value, Enum):
            out[key] = value.value
        else:
            out[key] = value
    return out


class Case:
    """One villager's matter (事项 / 案件): number, route, who, where, who handles it, status.

    Build a new case with :meth:`Case.submit`; the repository rebuilds stored ones with the
    constructor.  Change it only through its methods so that every change is checked,
    recorded in ``history`` and announced in ``events``.
    """

    def __init__(
        self,
        *,
        number: str,
        route: str,
        dispute_type: str,
        facts: Mapping[str, Any],
        villager: Villager,
        jurisdiction: Jurisdiction,
        created_at: datetime,
        filed_by: str | None = None,
        submission_key: str | None = None,
        status: Status = Status.SUBMITTED,
        agency: AgencyRef | None = None,
        intake: AgencyRef | None = None,
        chain: Iterable[AgencyRef] = (),
        tried: Iterable[AgencyRef] = (),
        history: Iterable[CaseEvent] = (),
        deadlines: Iterable[CaseDeadline] = (),
        screening: Screening | None = None,
        redirect: Redirect | None = None,
        also_offer: Iterable[str] = (),
        urgent: bool = False,
        emergency: bool = False,
        redirected: bool = False,
        outcome: str | None = None,
        updated_at: datetime | None = None,
        version: int = 0,
    ) -> None:
        self.number = number
        self.route = route
        self.dispute_type = dispute_type
        self.facts: dict[str, Any] = dict(facts)
        self.villager = villager
        self.jurisdiction = jurisdiction
        self.created_at = created_at
        self.filed_by = filed_by
        self.submission_key = submission_key
        self.status = Status(status)
        self.agency = agency
        #: A local office that takes the paperwork (e.g. the township justice office for legal
        #: aid decided by the county centre), so the villager need not go to the county town.
        self.intake = intake
        #: Agencies still above the current one, in escalation order.
        self.chain: tuple[AgencyRef, ...] = tuple(chain)
        #: Every agency that has had the case, in order (for "never send it back there").
        self.tried: tuple[AgencyRef, ...] = tuple(tried)
        self.history: list[CaseEvent] = list(history)
        self.deadlines: list[CaseDeadline] = list(deadlines)
        self.screening = screening
        self.redirect = redirect
        self.also_offer: tuple[str, ...] = tuple(also_offer)
        self.urgent = urgent
        self.emergency = emergency
        self.redirected = redirected
        self.outcome = outcome
        self.updated_at = updated_at or created_at
        #: Optimistic-locking counter kept by the repository; 0 = never saved.
        self.version = version
        #: Domain events not yet turned into outbox rows.
        self.events: list[DomainEvent] = []

    def __repr__(self) -> str:  # never includes facts or the phone
        return (
            f"Case(number={self.number!r}, route={self.route!r}, status={self.status.value!r}, "
            f"agency={self.agency.id if self.agency else None!r})"
        )

    # ----- creation -------------------------------------------------------

    @classmethod
    def submit(
        cls,
        *,
        number: str,
        route: str,
        dispute_type: str,
        facts: Mapping[str, Any],
        villager: Villager,
        jurisdiction: Jurisdiction,
        at: datetime,
        filed_by: str | None = None,
        submission_key: str | None = None,
        intake: AgencyRef | None = None,
        also_offer: Iterable[str] = (),
    ) -> Case:
        """A new case in ``submitted``, with its first history entry and a CaseSubmitted event."""
        case = cls(
            number=number,
            route=route,
            dispute_type=dispute_type,
            facts=facts,
            villager=villager,
            jurisdiction=jurisdiction,
            created_at=at,
            filed_by=filed_by,
            submission_key=submission_key,
            intake=intake,
            also_offer=also_offer,
        )
        actor = filed_by or villager.sender_id
        case.history.append(
            CaseEvent(
                seq=1,
                at=at,
                actor=actor,
                from_status=None,
                to_status=Status.SUBMITTED,
                reason="submitted",
                details={"filed_by": filed_by} if filed_by else {},
            )
        )
        case.events.append(CaseSubmitted(at=at))
        return case

    def renumber(self, number: str) -> None:
        """Take another number after a collision; only before the case is first saved."""
        if self.version:
            raise NumberAlreadyFixed(f"case {self.number} is saved; its number cannot change")
        self.number = number

    # ----- lifecycle ------------------------------------------------------

    def can_move_to(self, status: Status | str) -> bool:
        """Would the lifecycle allow a move to ``status`` now?"""
        return Status(status) in ALLOWED_TRANSITIONS[self.status]

    @property
    def is_open(self) -> bool:
        """True until the case is resolved or closed."""
        return self.status in OPEN_STATUSES

    def _move(
        self,
        to: Status,
        *,
        actor: str,
        reason: str,
        at: datetime,
        details: Mapping[str, Any] | None = None,
        notify_villager: bool = True,
    ) -> CaseEvent:
        to = Status(to)
        if to not in ALLOWED_TRANSITIONS[self.status]:
            raise IllegalTransition(self.number, self.status, to)
        event = CaseEvent(
            seq=len(self.history) + 1,
            at=at,
            actor=actor,
            from_status=self.status,
            to_status=to,
            reason=reason,
            details=_jsonable(details or {}),
        )
        self.history.append(event)
        self.events.append(
            StatusChanged(
                at=at,
                from_status=self.status,
                to_status=to,
                actor=actor,
                reason=reason,
                notify_villager=notify_villager,
            )
        )
        self.status = to
        self.updated_at = at
        return event

    def route_to(
        self,
        agency: AgencyRef,
        chain: Iterable[AgencyRef],
        *,
        actor: str,
        reason: str,
        at: datetime,
        notify_villager: bool = True,
    ) -> None:
        """Hand the case to ``agency``; ``chain`` is where it escalates to from there."""
        previous = self.agency
        self._move(
            Status.ROUTED,
            actor=actor,
            reason=reason,
            at=at,
            details={
                "agency_id": agency.id,
                "previous_agency_id": previous.id if previous else None,
            },
            notify_villager=notify_villager,
        )
        self.agency = agency
        self.chain = tuple(a for a in chain if a.id != agency.id)
        self.tried = (*self.tried, agency)
        self.events.append(
            CaseRouted(at=at, agency=agency, previous_agency=previous, reason=reason)
        )

    def accept(self, *, actor: str, reason: str, at: datetime) -> None:
        """The agency takes the case (受理)."""
        self._move(Status.ACCEPTED, actor=actor, reason=reason, at=at)

    def start(self, *, actor: str, reason: str, at: datetime) -> None:
        """Work has begun (a mediation session set, an investigation …)."""
        self._move(Status.IN_PROGRESS, actor=actor, reason=reason, at=at)

    def resolve(
        self,
        *,
        outcome: str,
        actor: str,
        reason: str,
        at: datetime,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Finished with an outcome (agreement, written reply, done …)."""
        self._move(
            Status.RESOLVED,
            actor=actor,
            reason=reason,
            at=at,
            details={"outcome": outcome, **(details or {})},
        )
        self.outcome = outcome

    def close(
        self,
        *,
        actor: str,
        reason: str,
        at: datetime,
        details: Mapping[str, Any] | None = None,
        notify_villager: bool = True,
    ) -> None:
        """Finished without an outcome (withdrawn, duplicate, redirected)."""
        self._move(
            Status.CLOSED,
            actor=actor,
            reason=reason,
            at=at,
            details=details,
            notify_villager=notify_villager,
        )

    def hand_back(self, *, actor: str, reason: str, at: datetime) -> None:
        """The agency returns the case (not theirs); it must be routed again."""
        if not reason.strip():
            raise CaseError(f"case {self.number}: a return needs a reason")
        self._move(
            Status.RETURNED,
            actor=actor,
            reason=reason,
            at=at,
            details={"agency_id": self.agency.id if self.agency else None},
        )

    def escalate(self, *, actor: str, reason: str, at: datetime) -> None:
        """Send the case up a level (overdue, or too big for this level)."""
        self._move(
            Status.ESCALATED,
            actor=actor,
            reason=reason,
            at=at,
            details={"agency_id": self.agency.id if self.agency else None},
        )

    def next_agency(self) -> AgencyRef | None:
        """The next agency in the chain that has not had the case yet, or None."""
        tried = {a.id for a in self.tried}
        return next((a for a in self.chain if a.id not in tried), None)

    # ----- flags, screening, deadlines -------------------------------------

    def mark_redirected(self, redirect: Redirect) -> None:
        """诉访分离: remember the legal route; the service closes the case as redirected."""
        self.redirect = redirect
        self.redirected = True
        self.also_offer = tuple(dict.fromkeys((*self.also_offer, redirect.offer_route)))

    def report_emergency(
        self,
        *,
        handoff: AgencyRef | None,
        notify: Iterable[AgencyRef],
        keywords: Iterable[str],
        at: datetime,
    ) -> None:
        """Danger now: flag the case urgent and emergency and tell the police station."""
        self.emergency = True
        self.urgent = True
        self.events.append(
            EmergencyReported(
                at=at, handoff=handoff, notify=tuple(notify), keywords=tuple(keywords)
            )
        )

    def record_screening(self, screening: Screening) -> None:
        """Attach the legal-aid screening; an Art 44 urgent result makes the case urgent."""
        self.screening = screening
        if screening.urgent:
            self.urgent = True

    def set_deadlines(self, deadlines: Iterable[CaseDeadline]) -> None:
        """Attach deadlines; a deadline with the same id replaces the earlier one."""
        by_id = {d.deadline_id: d for d in self.deadlines}
        for deadline in deadlines:
            by_id[deadline.deadline_id] = deadline
        self.deadlines = sorted(
            by_id.values(), key=lambda d: (d.due is None, d.due or date.max, d.deadline_id)
        )

    def deadline(self, deadline_id: str) -> CaseDeadline | None:
        """The attached deadline with this id, or None."""
        return next((d for d in self.deadlines if d.deadline_id == deadline_id), None)

    def next_deadline(self, today: date) -> CaseDeadline | None:
        """The earliest dated deadline on or after ``today`` that still matters, or None.

        While the case is open every attached deadline counts; once it is resolved or
        closed only those its final step started (e.g. the 复查 window after a written reply)
        — the agency's own deadlines are moot by then.
        """
        candidates = [
            (d.due, d.information, d)
            for d in self.deadlines
            if d.due is not None and d.due >= today and (self.is_open or d.set_on == self.status)
        ]
        earliest = min(candidates, key=lambda c: (c[0], c[1]), default=None)
        return earliest[2] if earliest else None

    def event_on(self, status: Status | str) -> CaseEvent | None:
        """The latest history entry that moved the case to ``status``."""
        wanted = Status(status)
        return next((e for e in reversed(self.history) if e.to_status == wanted), None)
