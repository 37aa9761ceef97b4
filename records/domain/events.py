"""Domain events: facts other parts of the system react to, through the outbox.

Nothing here sends anything.  The case raises the lifecycle events (``case.events``); the
services raise the others on the unit of work (``uow.emit``).  On commit the unit of work
turns every event into outbox rows (records/services/messages.py) in the same transaction
as the change itself, so a side effect happens if and only if its cause is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only for annotations: model.py raises these events
    from records.domain.model import AgencyRef, Status

__all__ = [
    "CaseOverdue",
    "CaseRouted",
    "CaseSubmitted",
    "DeadlineApproaching",
    "DigestDue",
    "DomainEvent",
    "EmergencyReported",
    "SessionReminderDue",
    "SessionScheduled",
    "StatusChanged",
    "VoiceNoteReceived",
]

# ---------------------------------------------------------------------------
# Raised by the case (its lifecycle)
# ---------------------------------------------------------------------------



@dataclass(frozen=True)
class DomainEvent:
    """Something that happened to a case; the unit of work turns it into outbox rows."""

    at: datetime


@dataclass(frozen=True)
class CaseSubmitted(DomainEvent):
    """A villager (or a proxy agent) finished a form and the case exists."""


@dataclass(frozen=True)
class CaseRouted(DomainEvent):
    """The case was handed to ``agency`` (first time, after a return, or on escalation)."""

    agency: AgencyRef
    previous_agency: AgencyRef | None
    reason: str


@dataclass(frozen=True)
class StatusChanged(DomainEvent):
    """The status changed; ``notify_villager`` is False for moves the chat already reported."""

    from_status: Status
    to_status: Status
    actor: str
    reason: str
    notify_villager: bool = True


@dataclass(frozen=True)
class EmergencyReported(DomainEvent):
    """Danger now: ``handoff`` (the police station) has the case; ``notify`` get a copy."""

    handoff: AgencyRef | None
    notify: tuple[AgencyRef, ...]
    keywords: tuple[str, ...]


# ---------------------------------------------------------------------------
# Raised by the services (they carry what their messages need)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class VoiceNoteReceived(DomainEvent):
    """A villager's voice note landed on a case that an agency handles: its staff listen."""

    number: str
    route: str
    agency: AgencyRef
    file_id: str
    duration: int | None


@dataclass(frozen=True)
class SessionScheduled(DomainEvent):
    """A handler set an appointment with the villager (day, time and place in ``details``)."""

    number: str
    villager: str
    agency: AgencyRef | None
    day: date
    details: str


@dataclass(frozen=True)
class SessionReminderDue(SessionScheduled):
    """The appointment is tomorrow: remind the villager, once."""


@dataclass(frozen=True)
class DeadlineApproaching(DomainEvent):
    """A deadline is ``days`` away: the agency that must keep it, or the villager whose
    window it is (``to_villager``), is reminded once per reminder day."""

    number: str
    to_villager: bool
    villager: str
    agency: AgencyRef | None
    deadline_id: str
    deadline: str
    due: date
    due_text: str
    days: int
    explain: str


@dataclass(frozen=True)
class CaseOverdue(DeadlineApproaching):
    """An agency let a deadline pass: it is told once, and the case escalates."""


@dataclass(frozen=True)
class DigestDue(DomainEvent):
    """A staff member's daily list of open work (``staff`` is their actor id)."""

    staff: str
    payload: dict[str, Any] = field(default_factory=dict)
