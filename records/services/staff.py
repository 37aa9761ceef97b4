"""Use cases of staff: join with an invite, look at a case, act on it, note, talk, set a date.

Every function that touches a case reads the staff member again inside its own transaction
(the one the bot looked up when the button was tapped may have been removed, or moved to
another agency, since) and checks that this person may (records/domain/staff.py
``may_view`` / ``may_handle``), so a right taken away a moment ago is already gone
(:class:`NoLongerStaff`, asked before the case is looked up).  A case somebody may not see is
reported exactly like a case that does not exist (:class:`CaseRefused`): guessing numbers
teaches nothing.  New appointments and talks need a case an agency holds now
(:class:`CaseNotInHand`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from enum import Enum

from knowledge.base import Knowledge
from records.domain.case_number import normalize
from records.domain.events import SessionScheduled
from records.domain.identity import ChannelIdentity
from records.domain.model import Case, CaseError, Status
from records.domain.staff import (
    HANDLING_ROLES,
    HELD_STATUSES,
    AuditEntry,
    ROLES,
    CaseSession,
    Invite,
    InviteRefused,
    Note,
    StaffMember,
    Talk,
    TooManyInviteAttempts,
    may_handle,
    may_view,
)
from records.services.cases import CaseNotFound, CaseRefused, NoLongerStaff, transition
from records.services.unit_of_work import UnitOfWork

__all__ = [
    "DEFAULT_INVITE_TTL",
    "JOIN_ATTEMPT_WINDOW",
    "MAX_WRONG_INVITE_CODES",
    "Action",
    "CaseNotInHand",
    "CaseRefused",
    "CaseView",
    "NoLongerStaff",
    "action_possible",
    "act_on_case",
    "active_staff",
    "add_note",
    "close_talk",
    "create_invite",
    "deactivate",
    "end_talk",
    "get_staff",
    "heard_from",
    "open_talk",
    "redeem_invite",
    "schedule_session",
    "staff_of_agency",
    "talk_involving",
    "TalkRights",
    "talk_rights",
    "view_case",
]

log = logging.getLogger(__name__)

DEFAULT_INVITE_TTL = timedelta(days=7)
#: Wrong invite codes one person may try within the window; after that their attempts are
#: refused without the code being looked at, so codes cannot be guessed by trying many.
MAX_WRONG_INVITE_CODES = 5
JOIN_ATTEMPT_WINDOW = timedelta(hours=1)
#: The audit trail's name for a wrong code (the code itself is never written down).
JOIN_REFUSED = "join_refused"
#: Unambiguous letters and digits (no 0/O, 1/I/L) so a code read aloud on the phone works.
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_CODE_LENGTH = 10


class Action(str, Enum):
    """What a staff member can do to a case, and what it means for its status."""

    ACCEPT = "accept"
    RETURN = "return"
    ESCALATE = "escalate"
    AGREEMENT = "agreement"
    NO_AGREEMENT = "no_agreement"
    REPLY = "reply"
    DONE = "done"

    @property
    def status(self) -> Status:
        """The status this action moves a case to."""
        return _STATUS_OF_ACTION[self]

    @property
    def outcome(self) -> str | None:
        """The outcome a resolving action records (knowledge/case_rules.yml ``outcomes``)."""
        return self.value if self.status is Status.RESOLVED else None


_STATUS_OF_ACTION = {
    Action.ACCEPT: Status.ACCEPTED,
    Action.RETURN: Status.RETURNED,
    Action.ESCALATE: Status.ESCALATED,
    Action.AGREEMENT: Status.RESOLVED,
    Action.NO_AGREEMENT: Status.RESOLVED,
    Action.REPLY: Status.RESOLVED,
    Action.DONE: Status.RESOLVED,
}


class CaseNotInHand(CaseError):
    """The case is not held by an agency now — resolved or closed, or waiting to be routed
    again — so no appointment or talk can start on it.  ``from_status`` is where it is
    (only raised to someone who may see the case)."""

    def __init__(self, number: str, status: Status) -> None:
        super().__init__(f"case {number} is {status.value}: no appointment or talk now")
        self.number = number
        self.from_status = status


@dataclass(frozen=True)
class CaseView:
    """What a staff member sees of a case: the case, its notes and appointments, and whether
    they handle it (then they also see the phone and get the action buttons)."""

    case: Case
    notes: list[Note]
    sessions: list[CaseSession]
    handles: bool


def _hash(code: str, pepper: bytes) -> str:
    """The stored form of an invite code: HMAC-SHA256 keyed with the server's pepper, so a
    copy of the database alone cannot test guesses."""
    normalized = "".join(code.split()).upper()
    return hmac.new(pepper, normalized.encode("utf-8"), hashlib.sha256).hexdigest()


# ---------------------------------------------------------------------------
# Invites and membership
# ---------------------------------------------------------------------------


def create_invite(
    uow: UnitOfWork,
    agency_id: str,
    role: str,
    *,
    created_by: str,
    knowledge: Knowledge,
    pepper: bytes,
    ttl: timedelta = DEFAULT_INVITE_TTL,
) -> str:
    """A new one-time code for ``role`` at ``agency_id``; only its keyed hash is stored.

    Raises ValueError for an unknown role or agency.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    if agency_id not in knowledge.agencies_by_id:
        raise ValueError(f"unknown agency id {agency_id!r} (see: xiangyin cases agencies)")
    code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_LENGTH))
    with uow:
        at = uow.clock.now()
        uow.staff.add_invite(
            Invite(_hash(code, pepper), agency_id, role, created_by, at, at + ttl)
        )
        uow.audit.add(AuditEntry(at, created_by, "invite", None, {"agency": agency_id, "role": role}))
        uow.commit()
    return code


def redeem_invite(
    uow: UnitOfWork, code: str, identity: ChannelIdentity, name: str, *, pepper: bytes
) -> StaffMember:
    """Make this person staff with the invite's agency and role; the code is spent.

    Re-joining with a new code moves an existing staff member to the new agency and role.
    Raises InviteRefused for an unknown, used or expired code (written to the audit trail),
    and TooManyInviteAttempts, without looking at the code, after MAX_WRONG_INVITE_CODES
    wrong ones within JOIN_ATTEMPT_WINDOW.
    """
    with uow:
        at = uow.clock.now()
        wrong = uow.audit.count(identity.actor, JOIN_REFUSED, since=at - JOIN_ATTEMPT_WINDOW)
        if wrong >= MAX_WRONG_INVITE_CODES:
            raise TooManyInviteAttempts(f"{wrong} wrong invite codes within the hour")
        invite = uow.staff.invite(_hash(code, pepper))
        if invite is None or invite.used_by is not None or invite.expires_at < at:
            # Kept (on the audit trail) even though nothing else changes: it is what counts
            # the attempts.
            uow.audit.add(AuditEntry(at, identity.actor, JOIN_REFUSED, None, None))
            uow.commit()
            raise InviteRefused("invite code unknown, used or expired")
        # Spent first, guarded by "still unused": two people racing for one code cannot
        # both get through.
        if not uow.staff.spend_invite(invite, identity.actor, at):
            raise InviteRefused("invite code already used")
        member = StaffMember(identity, name[:255] or identity.id, invite.agency_id, invite.role)
        uow.staff.save(member, at)
        uow.audit.add(
            AuditEntry(at, identity.actor, "join", None, {"agency": invite.agency_id, "role": invite.role})
        )
        uow.commit()
    return member


def get_staff(uow: UnitOfWork, identity: ChannelIdentity) -> StaffMember | None:
    """The active staff member with this identity, or None."""
    with uow.reading():
        return uow.staff.get(identity)


def staff_of_agency(
    uow: UnitOfWork, agency_id: str, roles: tuple[str, ...] = HANDLING_ROLES
) -> list[StaffMember]:
    """Active staff of an agency in the given roles, in the order they joined."""
    with uow.reading():
        return uow.staff.of_agency(agency_id, roles)


def active_staff(uow: UnitOfWork) -> list[StaffMember]:
    """Every active staff member, in the order they joined."""
    with uow.reading():
        return uow.staff.active()


def heard_from(uow: UnitOfWork, identity: ChannelIdentity) -> bool:
    """A staff member marked unreachable wrote to us: their messenger takes messages again."""
    with uow:
        changed = uow.staff.set_reachable(identity, True, uow.clock.now())
        uow.commit()
    return changed


def deactivate(uow: UnitOfWork, identity: ChannelIdentity, *, by: str = "cli") -> bool:
    """Take a person's staff rights away (their history stays); their open talk ends."""
    with uow:
        at = uow.clock.now()
        done = uow.staff.deactivate(identity, at)
        if done:
            uow.audit.add(AuditEntry(at, by, "staff_removed", None, {"staff": identity.actor}))
        talk = uow.talks.for_staff(identity.actor)
        if talk is not None:
            uow.talks.close(talk.id, at)
        uow.commit()
    return done


# ---------------------------------------------------------------------------
# Looking at a case, notes
# ---------------------------------------------------------------------------


def _case(uow: UnitOfWork, number: str, *, lock: bool = False) -> Case | None:
    canonical = normalize(number)
    return uow.cases.get(canonical, lock=lock) if canonical else None


def _current(uow: UnitOfWork, member: StaffMember | None, number: str) -> StaffMember:
    """The staff member as they are now, read in this transaction; they may have been
    removed or moved since the caller looked them up.  Raises CaseRefused for nobody and
    NoLongerStaff for someone whose rights are gone."""
    if member is None:
        raise CaseRefused(number)
    current = uow.staff.get(member.identity)
    if current is None:
        raise NoLongerStaff(number)
    return current


def _in_hand(case: Case) -> None:
    """Appointments and talks only on a case an agency holds now."""
    if case.status not in HELD_STATUSES:
        raise CaseNotInHand(case.number, case.status)


def view_case(uow: UnitOfWork, member: StaffMember | None, number: str, knowledge: Knowledge) -> CaseView:
    """The case with its notes and appointments, for someone who may view it; the look is
    written to the audit trail (``read_personal`` when the full phone is shown).

    Raises CaseRefused otherwise (and for a number that does not exist)."""
    with uow:
        member = _current(uow, member, number)
        case = _case(uow, number)
        if case is None or not may_view(member, case, knowledge):
            raise CaseRefused(number)
        handles = may_handle(member, case, knowledge)
        view = CaseView(
            case, uow.notes.for_case(case.number), uow.sessions.for_case(case.number), handles
        )
        action = "read_personal" if handles else "read"
        uow.audit.add(AuditEntry(uow.clock.now(), member.actor, action, case.number))
        uow.commit()
    return view


def add_note(
    uow: UnitOfWork, member: StaffMember | None, number: str, text: str, knowledge: Knowledge
) -> Note:
    """A note on a case the person may view.  Raises CaseRefused or ValueError (no text)."""
    text = text.strip()
    if not text:
        raise ValueError("a note needs some text")
    with uow:
        member = _current(uow, member, number)
        case = _case(uow, number)
        if case is None or not may_view(member, case, knowledge):
            raise CaseRefused(number)
        note = Note(case.number, member.actor, member.name, text, uow.clock.now())
        uow.notes.add(note)
        uow.audit.add(AuditEntry(note.created_at, member.actor, "note", case.number))
        uow.commit()
    return note


# ---------------------------------------------------------------------------
# Acting on a case
# ---------------------------------------------------------------------------


def action_possible(case: Case, action: Action) -> bool:
    """Could ``action`` be taken on the case as it is now (before asking for a reason)?"""
    return case.can_move_to(action.status)


def act_on_case(
    uow: UnitOfWork,
    member: StaffMember | None,
    number: str,
    action: Action,
    knowledge: Knowledge,
    *,
    text: str = "",
    channel: str = "telegram",
) -> Case:
    """Take ``action`` on a case this person handles: accept, return (``text`` is the
    reason), escalate, or resolve with an outcome (``text``: the terms or the reply).

    Raises CaseRefused when they may not (NoLongerStaff when their rights are gone),
    :class:`records.domain.model.IllegalTransition` when the case cannot move so now.
    """
    if member is None:
        raise CaseRefused(number)
    canonical = normalize(number)

    def may(case: Case | None) -> bool:
        # Asked inside the transaction, before "no such case": who is asking comes first.
        current = _current(uow, member, number)
        return case is not None and may_handle(current, case, knowledge)

    if canonical is None:
        with uow.reading():
            may(None)
        raise CaseRefused(number)
    details: dict[str, str] = {}
    if action.outcome is not None:
        details["outcome"] = action.outcome
        if text:
            details["terms"] = text
    reason = text if action is Action.RETURN else (text or f"{channel}:{action.value}")
    try:
        return transition(
            uow,
            canonical,
            action.status,
            member.actor,
            reason,
            knowledge=knowledge,
            may=may,
            audit=action.value,
            **details,
        )
    except CaseNotFound:
        raise CaseRefused(number) from None


def schedule_session(
    uow: UnitOfWork,
    member: StaffMember | None,
    number: str,
    day: date,
    details: str,
    knowledge: Knowledge,
) -> CaseSession:
    """Store an appointment on a case this person handles and tell the villager, together.

    Raises CaseRefused (NoLongerStaff), CaseNotInHand for a case no agency holds now, or
    ValueError for a day in the past."""
    details = details.strip()
    with uow:
        if day < uow.clock.today():
            raise ValueError("an appointment cannot be in the past")
        member = _current(uow, member, number)
        case = _case(uow, number)
        if case is None or not may_handle(member, case, knowledge):
            raise CaseRefused(number)
        _in_hand(case)
        at = uow.clock.now()
        session = uow.sessions.add(case.number, day, details, member.actor, at)
        uow.audit.add(AuditEntry(at, member.actor, "schedule", case.number, {"day": day.isoformat()}))
        uow.emit(
            SessionScheduled(
                at=at,
                number=case.number,
                villager=case.villager.sender_id,
                agency=case.agency,
                day=day,
                details=details,
            )
        )
        uow.commit()
    return session


# ---------------------------------------------------------------------------
# 与当事人对话: a staff member and a villager talking through the bot
# ---------------------------------------------------------------------------


def open_talk(
    uow: UnitOfWork,
    member: StaffMember | None,
    number: str,
    villager_chat: str,
    knowledge: Knowledge,
) -> Talk:
    """Start relaying between the handler and the case's villager.

    Raises CaseRefused (NoLongerStaff), CaseNotInHand for a case no agency holds now, or
    ConversationBusy when either is already talking."""
    with uow:
        member = _current(uow, member, number)
        case = _case(uow, number)
        if case is None or not may_handle(member, case, knowledge):
            raise CaseRefused(number)
        _in_hand(case)
        at = uow.clock.now()
        talk = uow.talks.open(case.number, member.actor, case.villager.sender_id, villager_chat, at)
        uow.audit.add(AuditEntry(at, member.actor, "talk_open", case.number))
        uow.commit()
    return talk


def talk_involving(uow: UnitOfWork, chat: str, actor: str) -> Talk | None:
    """The open talk this chat is the villager side of, or this person leads."""
    with uow.reading():
        return uow.talks.involving(chat, actor)


@dataclass(frozen=True)
class TalkRights:
    """A talk with its two sides checked: the staff member (None when their rights are gone,
    which has just closed the talk) and the case."""

    talk: Talk
    member: StaffMember | None
    case: Case | None


def talk_rights(
    uow: UnitOfWork, talk: Talk, knowledge: Knowledge, *, staff_speaking: bool = True
) -> TalkRights:
    """Re-check, at every message — the staff member's and the villager's — that the staff
    member still handles the case; if not (moved agency, case re-routed or closed, rights
    taken away) the talk ends here."""
    with uow:
        at = uow.clock.now()
        member = uow.staff.get(ChannelIdentity.parse(talk.staff))
        case = uow.cases.get(talk.case_number)
        if member is not None and case is not None and case.status in HELD_STATUSES and may_handle(
            member, case, knowledge
        ):
            if staff_speaking:
                # What was said stays between them; that something was said is on the record.
                uow.audit.add(AuditEntry(at, member.actor, "talk_message", case.number))
                uow.commit()
            return TalkRights(talk, member, case)
        uow.talks.close(talk.id, at)
        uow.audit.add(AuditEntry(at, talk.staff, "talk_closed_no_rights", talk.case_number))
        uow.commit()
    log.info("talk %s on %s ended: the staff member no longer handles the case", talk.id, talk.case_number)
    return TalkRights(talk, None, case)


def close_talk(uow: UnitOfWork, talk: Talk) -> bool:
    """End a talk; False if it had ended already."""
    with uow:
        done = uow.talks.close(talk.id, uow.clock.now())
        uow.commit()
    return done


def end_talk(uow: UnitOfWork, chat: str, actor: str) -> Talk | None:
    """Whoever is in a talk — the staff member or the villager — ends it; the talk, or None
    when there was none."""
    with uow:
        talk = uow.talks.involving(chat, actor)
        if talk is None:
            return None
        at = uow.clock.now()
        uow.talks.close(talk.id, at)
        uow.audit.add(AuditEntry(at, actor, "talk_end", talk.case_number))
        uow.commit()
    return talk
