"""Staff who handle cases: roles, who may do what, notes, appointments, talks and files.

Nobody becomes staff by saying so: an administrator makes a one-time invite for an agency and
a role, and the person redeems it on their messenger (records/services/staff.py).  Every staff
action then asks :func:`may_handle` / :func:`may_view` whether this person may touch this case:

* ``mediator`` — mediation cases currently with their agency;
* ``agency_staff`` — petition, legal-aid and service cases currently with their agency;
* ``admin`` — every case of their agency, and (county level) every case in the county;
* ``agent`` (信访代办员) — the cases they filed for villagers, read and note only.

A case handed back or sent up with nowhere to go (``returned`` / ``escalated``, waiting for
the county to route it) is with no agency: only a county-level admin may touch it.  New
appointments and talks need a case an agency holds (:data:`HELD_STATUSES`); a resolved or
closed case can still be read by whoever handled it.  README.md "Who may do what with a
case" has the whole table.

Staff are named by their channel identity (records/domain/identity.py), never by a
messenger's own ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from knowledge.case_rules import ROLES
from knowledge.base import Knowledge
from records.domain.identity import ChannelIdentity
from records.domain.model import Case, CaseError, Status

__all__ = [
    "HANDLING_ROLES",
    "HELD_STATUSES",
    "AuditEntry",
    "ROLES",
    "ROUTES_OF_ROLE",
    "VOICE",
    "CaseSession",
    "ConversationBusy",
    "Evidence",
    "Invite",
    "InviteRefused",
    "TooManyInviteAttempts",
    "Note",
    "StaffMember",
    "Talk",
    "may_handle",
    "may_view",
    "works_on",
]

#: Roles that receive an agency's new cases and may move them.
HANDLING_ROLES = ("mediator", "agency_staff", "admin")
#: Which routes each handling role works on (GLOSSARY.md); admin: all.
ROUTES_OF_ROLE: dict[str, frozenset[str]] = {
    "mediator": frozenset({"mediation"}),
    "agency_staff": frozenset({"petition", "legal_aid", "service"}),
    "admin": frozenset({"petition", "mediation", "legal_aid", "service"}),
}
#: Statuses in which an agency holds the case: it may be worked on (appointments, talks).
#: ``submitted``, ``returned`` and ``escalated`` wait for routing; ``resolved`` and ``closed``
#: are over.
HELD_STATUSES = frozenset({Status.ROUTED, Status.ACCEPTED, Status.IN_PROGRESS})
#: Statuses in which nobody holds the case until it is routed again.
_AWAITING_ROUTING = frozenset({Status.SUBMITTED, Status.RETURNED, Status.ESCALATED})
#: The kind of file a person must listen to.
VOICE = "voice"


class InviteRefused(CaseError):
    """The code is unknown, used or expired (the bot says the same for all three)."""


class TooManyInviteAttempts(InviteRefused):
    """Too many wrong codes from one person lately: the code was not even looked at."""


class ConversationBusy(CaseError):
    """The villager (or the staff member) is already in another talk."""


@dataclass(frozen=True)
class StaffMember:
    """An active staff member."""

    identity: ChannelIdentity
    name: str
    agency_id: str
    role: str
    #: Their messenger refused our last message (they blocked the bot, deleted the chat):
    #: agency messages go to their colleagues — or up — until they are heard from again.
    unreachable: bool = False

    @property
    def actor(self) -> str:
        """How case history names this person: ``tg:<user id>``."""
        return self.identity.actor


@dataclass(frozen=True)
class Invite:
    """A one-time code for a role at an agency; only the code's keyed hash is kept."""

    code_hash: str
    agency_id: str
    role: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    used_by: str | None = None
    id: int | None = None


@dataclass(frozen=True)
class Note:
    """A staff note on a case."""

    case_number: str
    author: str
    author_name: str | None
    text: str
    created_at: datetime


@dataclass(frozen=True)
class Talk:
    """An open 与当事人对话 between a staff member and a villager, relayed by the bot.

    ``villager_chat`` is where the villager's channel writes to them (for Telegram, the
    private chat's id as text)."""

    id: int
    case_number: str
    staff: str
    villager: str
    villager_chat: str


@dataclass(frozen=True)
class CaseSession:
    """An appointment a handler set with the villager."""

    id: int
    case_number: str
    day: date
    details: str
    scheduled_by: str


@dataclass(frozen=True)
class AuditEntry:
    """One line of the append-only audit trail (权力运行可追溯): who did or saw what, on
    which case, when.  ``details`` never holds personal data — it says what kind of thing
    happened (the new status, whether the phone was shown), not what was in it."""

    at: datetime
    actor: str
    action: str
    case_number: str | None = None
    details: dict[str, object] | None = None


@dataclass(frozen=True)
class Evidence:
    """A file a villager sent: on a case, or pending (``case_number`` None) until the case
    being filled in is filed.  ``file_id`` is the channel's handle for downloading it again;
    ``file_unique_id`` tells two sends of one file apart from two files."""

    sender_id: str
    channel: str
    file_id: str
    file_unique_id: str
    kind: str
    size: int | None
    received_at: datetime
    case_number: str | None = None
    duration: int | None = None
    stored_path: str | None = None
    id: int | None = None


def works_on(member: StaffMember, route: str | None) -> bool:
    """Does this person receive an agency's messages about cases of ``route``?  (Handlers in
    a role that works on the route; any handler when the message names no route.)"""
    if member.role not in HANDLING_ROLES:
        return False
    return route is None or route in ROUTES_OF_ROLE[member.role]


def _county_admin(member: StaffMember, knowledge: Knowledge) -> bool:
    agency = knowledge.agencies_by_id.get(member.agency_id)
    return member.role == "admin" and agency is not None and agency.level == "county"


def may_handle(member: StaffMember | None, case: Case, knowledge: Knowledge) -> bool:
    """May this person move the case (accept, return, escalate, resolve, talk)?

    Only staff of the agency that has the case now, in a role that works on its route;
    a county-level admin may handle any case.  A case waiting to be routed again (returned
    or escalated with nowhere to go) is no agency's: the one that gave it up no longer has it.
    """
    if member is None or member.role not in HANDLING_ROLES:
        return False
    if _county_admin(member, knowledge):
        return True
    if case.status in _AWAITING_ROUTING:
        return False
    if case.agency is None or case.agency.id != member.agency_id:
        return False
    return case.route in ROUTES_OF_ROLE[member.role]


def may_view(member: StaffMember | None, case: Case, knowledge: Knowledge) -> bool:
    """May this person see the case's timeline and add notes?

    Whoever may handle it, and the proxy agent who filed it.
    """
    if member is None:
        return False
    if member.role == "agent":
        return case.filed_by == member.actor
    return may_handle(member, case, knowledge)
