"""Staff who handle cases on Telegram: roles, one-time invites, jurisdiction, notes, talks.

Nobody becomes staff by saying so.  An administrator runs ``xiangyin staff invite --agency ID
--role ROLE``, which prints a one-time code (only its SHA-256 is stored); the person sends
``/join CODE`` to the bot and :func:`redeem_invite` makes them staff of that agency in that
role.  Every staff action then asks :func:`may_handle` / :func:`may_view` whether this person
may touch this case:

* ``mediator`` — mediation cases currently with their agency;
* ``agency_staff`` — petition, legal-aid and service cases currently with their agency;
* ``admin`` — every case of their agency, and (county level) every case in the county;
* ``agent`` (信访代办员) — the cases they filed for villagers, read and note only.

Plain functions over an Engine (SQLAlchemy Core, 2.0 style), each one short transaction, so
the bot can call them from a worker thread.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.engine import Engine, Row
from sqlalchemy.exc import IntegrityError

from records.domain import Case
from records.orm import case_notes, staff, staff_conversations, staff_invites
from records.outbox import utcnow
from knowledge.loader import Knowledge, get_knowledge

__all__ = [
    "active_staff",
    "HANDLING_ROLES",
    "ROLES",
    "ROUTES_OF_ROLE",
    "Conversation",
    "ConversationBusy",
    "InviteRefused",
    "Note",
    "StaffMember",
    "add_note",
    "close_conversation",
    "conversation_involving",
    "create_invite",
    "deactivate",
    "get_staff",
    "may_handle",
    "may_view",
    "notes_for",
    "open_conversation",
    "open_conversation_for_staff",
    "open_conversation_for_villager",
    "redeem_invite",
    "staff_of_agency",
]

ROLES = ("mediator", "agent", "agency_staff", "admin")
#: Roles that receive an agency's new cases and may move them.
HANDLING_ROLES = ("mediator", "agency_staff", "admin")
#: Which routes each handling role works on (GLOSSARY.md); admin: all.
ROUTES_OF_ROLE: dict[str, frozenset[str]] = {
    "mediator": frozenset({"mediation"}),
    "agency_staff": frozenset({"petition", "legal_aid", "service"}),
    "admin": frozenset({"petition", "mediation", "legal_aid", "service"}),
}
DEFAULT_INVITE_TTL = timedelta(days=7)
#: Unambiguous letters and digits (no 0/O, 1/I/L) so a code read aloud on the phone works.
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_CODE_LENGTH = 10


class InviteRefused(Exception):
    """The code is unknown, used or expired (the bot says the same for all three)."""


class ConversationBusy(Exception):
    """The villager (or the staff member) is already in another conversation."""


@dataclass(frozen=True)
class StaffMember:
    """An active staff member as the bot sees them."""

    telegram_user_id: int
    name: str
    agency_id: str
    role: str

    @property
    def actor(self) -> str:
        """How case history names this person: ``tg:<user id>``."""
        return f"tg:{self.telegram_user_id}"


@dataclass(frozen=True)
class Note:
    """A staff note on a case."""

    case_number: str
    author: str
    author_name: str | None
    text: str
    created_at: datetime


@dataclass(frozen=True)
class Conversation:
    """An open 与当事人对话 between a staff member and a villager."""

    id: int
    case_number: str
    staff_user_id: int
    villager_sender_id: str
    villager_chat_id: int


def _naive(at: datetime) -> datetime:
    return at.astimezone(timezone.utc).replace(tzinfo=None) if at.tzinfo else at


def _aware(at: datetime) -> datetime:
    return at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at


def _hash(code: str) -> str:
    normalized = "".join(code.split()).upper()
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------
# Invites and registration
# ---------------------------------------------------------------------------


def create_invite(
    engine: Engine,
    agency_id: str,
    role: str,
    *,
    created_by: str,
    ttl: timedelta = DEFAULT_INVITE_TTL,
    knowledge: Knowledge | None = None,
    now: datetime | None = None,
) -> str:
    """A new one-time code for ``role`` at ``agency_id``; only its hash is stored.

    Raises ValueError for an unknown role or agency.
    """
    knowledge = knowledge or get_knowledge()
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    if agency_id not in knowledge.agencies_by_id:
        raise ValueError(f"unknown agency id {agency_id!r} (see: xiangyin agencies list)")
    at = _naive(now or utcnow())
    code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_LENGTH))
    with engine.begin() as conn:
        conn.execute(
            insert(staff_invites).values(
                code_hash=_hash(code),
                agency_id=agency_id,
                role=role,
                created_by=created_by,
                created_at=at,
                expires_at=at + ttl,
            )
        )
    return code


def redeem_invite(
    engine: Engine, code: str, telegram_user_id: int, name: str, *, now: datetime | None = None
) -> StaffMember:
    """Make this Telegram user staff with the invite's agency and role; the code is spent.

    Re-joining with a new code moves an existing staff member to the new agency/role.
    Raises InviteRefused for an unknown, used or expired code.
    """
    at = _naive(now or utcnow())
    with engine.begin() as conn:
        invite = conn.execute(
            select(staff_invites).where(staff_invites.c.code_hash == _hash(code))
        ).first()
        if invite is None or invite.used_by is not None or invite.expires_at < at:
            raise InviteRefused("invite code unknown, used or expired")
        # Spend the code first, guarded by "still unused": two people racing for one code
        # cannot both get through.
        spent = conn.execute(
            update(staff_invites)
            .where(staff_invites.c.id == invite.id, staff_invites.c.used_by.is_(None))
            .values(used_by=telegram_user_id, used_at=at)
        )
        if spent.rowcount != 1:
            raise InviteRefused("invite code already used")
        values = {
            "name": name[:255] or str(telegram_user_id),
            "agency_id": invite.agency_id,
            "role": invite.role,
            "active": True,
            "updated_at": at,
        }
        existing = conn.execute(
            select(staff.c.id).where(staff.c.telegram_user_id == telegram_user_id)
        ).first()
        if existing is None:
            conn.execute(
                insert(staff).values(telegram_user_id=telegram_user_id, created_at=at, **values)
            )
        else:
            conn.execute(update(staff).where(staff.c.id == existing.id).values(**values))
    return StaffMember(telegram_user_id, values["name"], invite.agency_id, invite.role)


def _member(row: Row) -> StaffMember:
    return StaffMember(int(row.telegram_user_id), row.name, row.agency_id, row.role)


def get_staff(engine: Engine, telegram_user_id: int) -> StaffMember | None:
    """The active staff member with this Telegram id, or None."""
    with engine.connect() as conn:
        row = conn.execute(
            select(staff).where(
                staff.c.telegram_user_id == telegram_user_id, staff.c.active.is_(True)
            )
        ).first()
    return _member(row) if row is not None else None


def staff_of_agency(
    engine: Engine, agency_id: str, roles: tuple[str, ...] = HANDLING_ROLES
) -> list[StaffMember]:
    """Active staff of an agency in the given roles, in the order they joined."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(staff)
            .where(
                staff.c.agency_id == agency_id,
                staff.c.active.is_(True),
                staff.c.role.in_(roles),
            )
            .order_by(staff.c.id)
        ).all()
    return [_member(r) for r in rows]


def active_staff(engine: Engine) -> list[StaffMember]:
    """Every active staff member, in the order they joined."""
    with engine.connect() as conn:
        rows = conn.execute(select(staff).where(staff.c.active.is_(True)).order_by(staff.c.id))
        return [_member(r) for r in rows]


def deactivate(engine: Engine, telegram_user_id: int) -> bool:
    """Take a person's staff rights away (they keep their history)."""
    with engine.begin() as conn:
        result = conn.execute(
            update(staff)
            .where(staff.c.telegram_user_id == telegram_user_id)
            .values(active=False, updated_at=_naive(utcnow()))
        )
    return bool(result.rowcount)


# ---------------------------------------------------------------------------
# Jurisdiction
# ---------------------------------------------------------------------------


def _county_admin(member: StaffMember, knowledge: Knowledge) -> bool:
    agency = knowledge.agencies_by_id.get(member.agency_id)
    return member.role == "admin" and agency is not None and agency.level == "county"


def may_handle(member: StaffMember | None, case: Case, knowledge: Knowledge | None = None) -> bool:
    """May this person move the case (accept, return, escalate, resolve, talk)?

    Only staff of the agency that has the case now, in a role that works on its route;
    a county-level admin may handle any case.
    """
    if member is None or member.role not in HANDLING_ROLES:
        return False
    knowledge = knowledge or get_knowledge()
    if _county_admin(member, knowledge):
        return True
    if case.agency is None or case.agency.id != member.agency_id:
        return False
    return case.route in ROUTES_OF_ROLE[member.role]


def may_view(member: StaffMember | None, case: Case, knowledge: Knowledge | None = None) -> bool:
    """May this person see the case's timeline and add notes?

    Whoever may handle it, and the proxy agent who filed it.
    """
    if member is None:
        return False
    if member.role == "agent":
        return case.filed_by == member.actor
    return may_handle(member, case, knowledge)


# ---------------------------------------------------------------------------
# Notes
# ---------------------------------------------------------------------------


def add_note(
    engine: Engine, number: str, author: str, text: str, *, author_name: str | None = None
) -> Note:
    """Add a note to a case (the caller has checked the author may)."""
    at = _naive(utcnow())
    text = text.strip()
    if not text:
        raise ValueError("a note needs some text")
    with engine.begin() as conn:
        conn.execute(
            insert(case_notes).values(
                case_number=number,
                author=author,
                author_name=author_name,
                text=text,
                created_at=at,
            )
        )
    return Note(number, author, author_name, text, _aware(at))


def notes_for(engine: Engine, number: str) -> list[Note]:
    """A case's notes, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(case_notes)
            .where(case_notes.c.case_number == number)
            .order_by(case_notes.c.created_at, case_notes.c.id)
        ).all()
    return [
        Note(r.case_number, r.author, r.author_name, r.text, _aware(r.created_at)) for r in rows
    ]


# ---------------------------------------------------------------------------
# 与当事人对话: a staff member and a villager talking through the bot
# ---------------------------------------------------------------------------


def _conversation(row: Any) -> Conversation:
    return Conversation(
        int(row.id),
        row.case_number,
        int(row.staff_user_id),
        row.villager_sender_id,
        int(row.villager_chat_id),
    )


def open_conversation(
    engine: Engine,
    *,
    case_number: str,
    staff_user_id: int,
    villager_sender_id: str,
    villager_chat_id: int,
) -> Conversation:
    """Start relaying between the two.  Raises ConversationBusy if either is already talking
    (the partial unique indexes make this safe against two staff tapping at once)."""
    try:
        with engine.begin() as conn:
            result = conn.execute(
                insert(staff_conversations).values(
                    case_number=case_number,
                    staff_user_id=staff_user_id,
                    villager_sender_id=villager_sender_id,
                    villager_chat_id=villager_chat_id,
                    opened_at=_naive(utcnow()),
                )
            )
            new_id = int(result.inserted_primary_key[0])
    except IntegrityError:
        raise ConversationBusy(case_number) from None
    return Conversation(new_id, case_number, staff_user_id, villager_sender_id, villager_chat_id)


def conversation_involving(engine: Engine, chat_id: int, user_id: int) -> Conversation | None:
    """The open conversation this private chat is the villager side of, or this user leads."""
    with engine.connect() as conn:
        row = conn.execute(
            select(staff_conversations)
            .where(
                or_(
                    staff_conversations.c.villager_chat_id == chat_id,
                    staff_conversations.c.staff_user_id == user_id,
                ),
                staff_conversations.c.closed_at.is_(None),
            )
            .order_by(staff_conversations.c.id)
            .limit(1)
        ).first()
    return _conversation(row) if row is not None else None


def open_conversation_for_villager(engine: Engine, sender_id: str) -> Conversation | None:
    """The open conversation this villager is in, or None."""
    with engine.connect() as conn:
        row = conn.execute(
            select(staff_conversations).where(
                staff_conversations.c.villager_sender_id == sender_id,
                staff_conversations.c.closed_at.is_(None),
            )
        ).first()
    return _conversation(row) if row is not None else None


def open_conversation_for_staff(engine: Engine, staff_user_id: int) -> Conversation | None:
    """The open conversation this staff member leads, or None."""
    with engine.connect() as conn:
        row = conn.execute(
            select(staff_conversations).where(
                staff_conversations.c.staff_user_id == staff_user_id,
                staff_conversations.c.closed_at.is_(None),
            )
        ).first()
    return _conversation(row) if row is not None else None


def close_conversation(engine: Engine, conversation_id: int) -> bool:
    """End a conversation; False if it was already closed."""
    with engine.begin() as conn:
        result = conn.execute(
            update(staff_conversations)
            .where(
                staff_conversations.c.id == conversation_id,
                staff_conversations.c.closed_at.is_(None),
            )
            .values(closed_at=_naive(utcnow()))
        )
    return bool(result.rowcount)
