"""What each domain event tells whom: the outbox messages of an event.

An outbox message names its recipient (an agency, a villager or a staff member), a
``message_key`` (the text to use, in knowledge/frontend.yml) and a structured payload; the
Chinese text is built when the message is delivered.  No phone number or name goes into a
payload sent to an agency: staff look the case up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from records.domain.clock import county_date
from records.domain.events import (
    CaseOverdue,
    CaseRouted,
    DeadlineApproaching,
    DigestDue,
    DomainEvent,
    EmergencyReported,
    SessionReminderDue,
    SessionScheduled,
    StatusChanged,
    VoiceNoteReceived,
)
from records.domain.model import AgencyRef, Case

__all__ = [
    "AGENCY",
    "STAFF",
    "VILLAGER",
    "NewMessage",
    "OutboxMessage",
    "RecipientUnreachable",
    "SendFunction",
    "messages_for_event",
]

AGENCY = "agency"
VILLAGER = "villager"
#: One staff member's private chat (recipient_id = their actor id), e.g. the digest.
STAFF = "staff"


@dataclass(frozen=True)
class NewMessage:
    """An outbox row to write: who gets it, what kind, and the structured payload."""

    recipient_kind: str  # "agency" | "villager" | "staff"
    recipient_id: str  # agency id, the villager's sender id, or a staff member's actor id
    kind: str
    message_key: str
    payload: Mapping[str, Any]
    case_number: str | None = None


def _case_summary(case: Case) -> dict[str, Any]:
    """What an agency needs to pick a case up — no name or phone (they look the case up)."""
    j = case.jurisdiction
    if case.emergency:
        priority = "emergency"
    elif case.urgent:
        priority = "urgent"
    else:
        priority = "normal"
    return {
        "number": case.number,
        "route": case.route,
        "dispute_type": case.dispute_type,
        "status": case.status.value,
        "priority": priority,
        "urgent": case.urgent,
        "emergency": case.emergency,
        "jurisdiction": {
            "county_id": j.county_id,
            "township_id": j.township_id,
            "township_name": j.township_name,
            "village_id": j.village_id,
            "village_name": j.village_name,
        },
        "filed_by_proxy": case.filed_by is not None,
        "deadlines": [d.to_dict() for d in case.deadlines if d.due is not None],
        "screening": (
            {
                "article": case.screening.article,
                "exempt_group": case.screening.exempt_group,
                "hardship_test_needed": case.screening.hardship_test_needed,
                "urgent": case.screening.urgent,
            }
            if case.screening
            else None
        ),
    }


@dataclass(frozen=True)
class OutboxMessage:
    """An outbox row as a dispatcher claimed it."""

    id: int
    case_number: str | None
    recipient_kind: str
    recipient_id: str
    kind: str
    message_key: str
    payload: Mapping[str, Any]
    attempts: int
    created_at: datetime
    claim_token: str | None = None


class RecipientUnreachable(Exception):
    """The recipient's messenger refuses messages (blocked the bot, deleted the account):
    retrying cannot help; the row is given up at once (and readdressed when it was an
    agency's)."""


#: What delivers one claimed message (raising means "not delivered, try again later").
SendFunction = Callable[[OutboxMessage], Awaitable[Any] | None]


def _agency(agency: AgencyRef | None) -> dict[str, str] | None:
    return {"id": agency.id, "name": agency.name} if agency else None


def messages_for_event(event: DomainEvent, case: Case | None) -> list[NewMessage]:
    """The outbox messages one domain event produces.

    * CaseRouted → the new agency gets ``case_assigned`` (and a previous agency
      ``case_transferred``, so it stops working on it);
    * StatusChanged → the villager gets ``status_changed`` (unless the chat already told them);
    * EmergencyReported → every agency to notify gets ``emergency_notice``;
    * VoiceNoteReceived → the case's agency gets ``voice_note`` (the recording itself);
    * SessionScheduled / SessionReminderDue → the villager hears of the appointment;
    * DeadlineApproaching → the agency (or the villager) gets ``deadline_reminder``;
    * CaseOverdue → the agency gets ``case_overdue``;
    * DigestDue → the staff member gets ``daily_digest``.

    ``case`` is the case that raised a lifecycle event, None for the services' events.
    """
    if case is None:
        return _service_messages(event)
    number = case.number
    if isinstance(event, CaseRouted):
        summary = _case_summary(case)
        messages = [
            NewMessage(
                recipient_kind=AGENCY,
                recipient_id=event.agency.id,
                kind="case_assigned",
                message_key="agency.case_assigned",
                payload={
                    **summary,
                    "agency": {"id": event.agency.id, "name": event.agency.name},
                    "previous_agency": (
                        {"id": event.previous_agency.id, "name": event.previous_agency.name}
                        if event.previous_agency
                        else None
                    ),
                    "reason": event.reason,
                },
                case_number=number,
            )
        ]
        if event.previous_agency and event.previous_agency.id != event.agency.id:
            messages.append(
                NewMessage(
                    recipient_kind=AGENCY,
                    recipient_id=event.previous_agency.id,
                    kind="case_transferred",
                    message_key="agency.case_transferred",
                    payload={
                        "number": number,
                        "to_agency": {"id": event.agency.id, "name": event.agency.name},
                        "reason": event.reason,
                    },
                    case_number=number,
                )
            )
        return messages
    if isinstance(event, StatusChanged):
        if not event.notify_villager:
            return []
        upcoming = case.next_deadline(county_date(event.at))
        return [
            NewMessage(
                recipient_kind=VILLAGER,
                recipient_id=case.villager.sender_id,
                kind="status_changed",
                message_key=f"villager.status.{event.to_status.value}",
                payload={
                    "number": number,
                    "from_status": event.from_status.value,
                    "to_status": event.to_status.value,
                    "agency": (
                        {"id": case.agency.id, "name": case.agency.name} if case.agency else None
                    ),
                    "reason": event.reason,
                    "outcome": case.outcome,
                    "next_deadline": upcoming.to_dict() if upcoming else None,
                },
                case_number=number,
            )
        ]
    if isinstance(event, EmergencyReported):
        payload = {
            **_case_summary(case),
            "handoff": (
                {"id": event.handoff.id, "name": event.handoff.name} if event.handoff else None
            ),
            "keywords": list(event.keywords),
        }
        return [
            NewMessage(
                recipient_kind=AGENCY,
                recipient_id=agency.id,
                kind="emergency_notice",
                message_key="agency.emergency_notice",
                payload=payload,
                case_number=number,
            )
            for agency in event.notify
        ]
    return []


def _service_messages(event: DomainEvent) -> list[NewMessage]:
    if isinstance(event, VoiceNoteReceived):
        return [
            NewMessage(
                recipient_kind=AGENCY,
                recipient_id=event.agency.id,
                kind="voice_note",
                message_key="agency.voice_note",
                payload={
                    "number": event.number,
                    "route": event.route,
                    "file_id": event.file_id,
                    "duration": event.duration,
                },
                case_number=event.number,
            )
        ]
    if isinstance(event, SessionScheduled):
        reminder = isinstance(event, SessionReminderDue)
        return [
            NewMessage(
                recipient_kind=VILLAGER,
                recipient_id=event.villager,
                kind="session",
                message_key=(
                    "villager.session_reminder" if reminder else "villager.session_scheduled"
                ),
                payload={
                    "number": event.number,
                    "day": event.day.isoformat(),
                    "details": event.details,
                    "agency": _agency(event.agency),
                },
                case_number=event.number,
            )
        ]
    if isinstance(event, DeadlineApproaching):
        payload = {
            "number": event.number,
            "deadline": event.deadline,
            "deadline_id": event.deadline_id,
            "due": event.due_text,
            "days": event.days,
            "explain": event.explain,
            "agency": _agency(event.agency),
        }
        if isinstance(event, CaseOverdue):
            assert event.agency is not None  # only an agency's duty is overdue
            return [
                NewMessage(
                    AGENCY,
                    event.agency.id,
                    "case_overdue",
                    "agency.case_overdue",
                    payload,
                    event.number,
                )
            ]
        if event.to_villager:
            return [
                NewMessage(
                    VILLAGER,
                    event.villager,
                    "deadline_reminder",
                    "villager.deadline_reminder",
                    payload,
                    event.number,
                )
            ]
        assert event.agency is not None
        return [
            NewMessage(
                AGENCY,
                event.agency.id,
                "deadline_reminder",
                "agency.deadline_reminder",
                payload,
                event.number,
            )
        ]
    if isinstance(event, DigestDue):
        return [
            NewMessage(
                STAFF, event.staff, "daily_digest", "staff.daily_digest", dict(event.payload)
            )
        ]
    return []
