"""Who exactly gets an agency's message: one outbox row per person.

An event addressed to an agency (a new case, a voice note, a reminder …) becomes one row for
each of the agency's reachable handlers whose role works on the case's route — so one person
who blocked the bot, or is slow, never holds up or duplicates the others' messages.

An agency with nobody reachable does not swallow the message, and the county's
administrators get an alert that the agency has nobody registered:

* a new case (``case_assigned``) escalates to the next agency in its chain that has someone
  reachable — the supervising agency then handles it like any case routed to it;
* anything else about a case (a voice note, a reminder) goes to that supervising agency's
  people;
* when there is nobody anywhere yet, the row stays addressed to the agency, and the
  dispatcher addresses it again (:func:`address_again`) until somebody joins.
"""

from __future__ import annotations

import dataclasses
import logging

from knowledge.base import Knowledge
from records.domain.identity import ChannelIdentity
from records.domain.model import CaseError, Status
from records.domain.staff import HANDLING_ROLES, StaffMember, works_on
from records.services.cases import SYSTEM_ACTOR, transition
from records.services.messages import AGENCY, STAFF, NewMessage, OutboxMessage
from records.services.unit_of_work import UnitOfWork

__all__ = [
    "ADDRESSED_AGENCY",
    "UNSTAFFED_KEY",
    "address",
    "address_again",
    "recipient_unreachable",
]

#: The message that hands a case to an agency: when nobody there can take it, the case
#: itself moves up rather than only the message.
NEW_CASE = "case_assigned"

log = logging.getLogger(__name__)

#: Payload key of a person's row: the agency the message was for.
ADDRESSED_AGENCY = "addressed_agency"
UNSTAFFED_KEY = "staff.agency_unstaffed"


def _handlers(uow: UnitOfWork, agency_id: str, route: str | None) -> list[StaffMember]:
    return [
        m
        for m in uow.staff.of_agency(agency_id, HANDLING_ROLES)
        if not m.unreachable and works_on(m, route)
    ]


def _supervisor(uow: UnitOfWork, message: NewMessage, agency_id: str) -> str | None:
    """The agency above ``agency_id`` in the case's chain, or None."""
    if not message.case_number:
        return None
    case = uow.cases.get(message.case_number)
    if case is None:
        return None
    chain = [a.id for a in ((case.agency,) if case.agency else ())] + [a.id for a in case.chain]
    if agency_id not in chain:
        return None
    above = chain[chain.index(agency_id) + 1 :]
    return above[0] if above else None


def _alerts(
    uow: UnitOfWork, message: NewMessage, agency_id: str, knowledge: Knowledge
) -> list[NewMessage]:
    admins = [
        m
        for m in uow.staff.active()
        if m.role == "admin"
        and not m.unreachable
        and (agency := knowledge.agencies_by_id.get(m.agency_id)) is not None
        and agency.level == "county"
    ]
    agency = knowledge.agencies_by_id.get(agency_id)
    name = agency.name if agency else agency_id
    log.warning("agency %s has nobody reachable for %s", agency_id, message.kind)
    return [
        NewMessage(
            STAFF,
            admin.actor,
            "agency_unstaffed",
            UNSTAFFED_KEY,
            {"agency": {"id": agency_id, "name": name}, "number": message.case_number},
            message.case_number,
        )
        for admin in admins
    ]


def _to_people(
    uow: UnitOfWork,
    message: NewMessage,
    agency_id: str,
    knowledge: Knowledge,
    alert: bool,
    *,
    up: bool = True,
) -> tuple[list[NewMessage], list[NewMessage]]:
    """(one row per person who gets ``message``, the alerts about agencies passed over);
    ``up``: try the supervising agencies when ``agency_id`` has nobody."""
    route = message.payload.get("route")
    tried: set[str] = set()
    current: str | None = agency_id
    alerts: list[NewMessage] = []
    while current is not None and current not in tried:
        tried.add(current)
        people = _handlers(uow, current, str(route) if route else None)
        if people:
            return [
                dataclasses.replace(
                    message,
                    recipient_kind=STAFF,
                    recipient_id=person.actor,
                    payload={**message.payload, ADDRESSED_AGENCY: current},
                )
                for person in people
            ], alerts
        if alert:
            alerts += _alerts(uow, message, current, knowledge)
        current = _supervisor(uow, message, current) if up else None
    return [], alerts


def address(uow: UnitOfWork, messages: list[NewMessage], knowledge: Knowledge) -> list[NewMessage]:
    """The rows to write for ``messages``: agency messages become one row per person (or go
    up the chain, with an alert); the others are already for one person."""
    rows: list[NewMessage] = []
    for message in messages:
        if message.recipient_kind != AGENCY:
            rows.append(message)
            continue
        # A new case with nobody at its agency is escalated when the row is delivered (the
        # case cannot move inside this commit); anything else may go up at once.
        people, alerts = _to_people(
            uow, message, message.recipient_id, knowledge, alert=True, up=message.kind != NEW_CASE
        )
        # Nobody (anywhere yet): keep it for the agency; it is addressed again later.
        rows += [*(people or [message]), *alerts]
    return rows


def _as_new(message: OutboxMessage) -> NewMessage:
    return NewMessage(
        message.recipient_kind,
        message.recipient_id,
        message.kind,
        message.message_key,
        dict(message.payload),
        message.case_number,
    )


def _someone_above(uow: UnitOfWork, message: NewMessage, agency_id: str) -> bool:
    """Is there someone reachable at an agency above ``agency_id`` in the case's chain?"""
    current = _supervisor(uow, message, agency_id)
    seen: set[str] = set()
    route = message.payload.get("route")
    while current is not None and current not in seen:
        seen.add(current)
        if _handlers(uow, current, str(route) if route else None):
            return True
        current = _supervisor(uow, message, current)
    return False


def _escalate(uow: UnitOfWork, number: str, agency_id: str, knowledge: Knowledge) -> bool:
    """Move the case up because nobody at ``agency_id`` can be reached; False if it cannot
    (it moved on meanwhile, or its status does not allow it)."""
    try:
        transition(
            uow,
            number,
            Status.ESCALATED,
            SYSTEM_ACTOR,
            f"nobody reachable at {agency_id}",
            knowledge=knowledge,
            may=lambda case: case is not None
            and case.agency is not None
            and case.agency.id == agency_id,
        )
    except CaseError as exc:
        log.info("case %s not escalated for want of staff: %s", number, exc)
        return False
    log.warning("case %s escalated: nobody reachable at %s", number, agency_id)
    return True


def address_again(uow: UnitOfWork, message: OutboxMessage, knowledge: Knowledge) -> int:
    """A row still addressed to an agency: write one row per person now reachable for it (the
    row itself is then done) — or, for a new case whose agency still has nobody while an
    agency above has someone, escalate the case.  0 when there is still nobody."""
    original = _as_new(message)
    with uow:
        rows, _ = _to_people(uow, original, message.recipient_id, knowledge, alert=False, up=False)
        if rows:
            uow.queue(rows)
            uow.commit()
            return len(rows)
        escalate = (
            message.kind == NEW_CASE
            and message.case_number is not None
            and _someone_above(uow, original, message.recipient_id)
        )
        if not escalate:
            rows, _ = _to_people(uow, original, message.recipient_id, knowledge, alert=False)
            if rows:
                uow.queue(rows)
                uow.commit()
            return len(rows)
    assert message.case_number is not None
    return 1 if _escalate(uow, message.case_number, message.recipient_id, knowledge) else 0


def recipient_unreachable(uow: UnitOfWork, message: OutboxMessage, knowledge: Knowledge) -> int:
    """A person's messenger refused ``message`` (they blocked the bot): mark them unreachable
    and, when their agency has nobody reachable left for it, pass it up — a new case is
    escalated, anything else goes to the supervising agency's people — and alert the county.
    Returns how many rows (or escalations) that made."""
    try:
        identity = ChannelIdentity.parse(message.recipient_id)
    except ValueError:
        return 0
    agency_id = message.payload.get(ADDRESSED_AGENCY)
    original = dataclasses.replace(
        _as_new(message), recipient_kind=AGENCY, recipient_id=str(agency_id or "")
    )
    with uow:
        uow.staff.set_reachable(identity, False, uow.clock.now())
        left = agency_id and _handlers(uow, str(agency_id), message.payload.get("route"))
        rows: list[NewMessage] = []
        escalate = False
        if agency_id and not left:
            alerts = _alerts(uow, original, str(agency_id), knowledge)
            if message.kind == NEW_CASE and message.case_number:
                escalate = _someone_above(uow, original, str(agency_id))
                rows = alerts
            else:
                people, more = _to_people(uow, original, str(agency_id), knowledge, alert=False)
                rows = [*people, *alerts, *more]
        if rows:
            uow.queue(rows)
        uow.commit()
    if escalate and message.case_number:
        return len(rows) + int(_escalate(uow, message.case_number, str(agency_id), knowledge))
    return len(rows)
