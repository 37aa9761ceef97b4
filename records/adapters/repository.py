"""Repositories on SQLAlchemy Core (2.0 style): cases, staff, notes, files, appointments,
talks and the log of what went out once.

Rows are mapped to the plain domain objects by hand, so the domain stays free of SQL.  Each
repository works inside the unit of work's session (records/adapters/unit_of_work.py) and
never commits.  Writes that may collide with another request (a retried submission, two staff
opening a talk at once, a reminder two bots queue) run in a SAVEPOINT, so the collision is
answered inside the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from records.adapters.orm import (
    audit_log,
    case_deadlines,
    case_events,
    case_notes,
    case_sessions,
    cases,
    digests_sent,
    evidence,
    reminders_sent,
    staff,
    staff_conversations,
    staff_invites,
)
from records.adapters.crypto import Cipher
from records.domain.clock import aware_utc, naive_utc
from records.domain.identity import ChannelIdentity
from records.domain.model import (
    AgencyRef,
    Case,
    CaseDeadline,
    CaseError,
    CaseEvent,
    Jurisdiction,
    Redirect,
    Screening,
    Status,
    Villager,
)
from records.domain.staff import (
    AuditEntry,
    CaseSession,
    ConversationBusy,
    Evidence,
    Invite,
    Note,
    StaffMember,
    Talk,
)
from records.services.unit_of_work import (
    ConcurrentUpdate,
    DueDeadline,
    DuplicateSubmission,
    NumberTaken,
)

__all__ = [
    "SqlAlchemyAuditLog",
    "SqlAlchemyCaseRepository",
    "SqlAlchemyEvidenceRepository",
    "SqlAlchemyNoteRepository",
    "SqlAlchemySentLog",
    "SqlAlchemySessionRepository",
    "SqlAlchemyStaffRepository",
    "SqlAlchemyTalkRepository",
    "StoreError",
]


class StoreError(CaseError):
    """The database refused a write.  The message names the table, column and constraint
    but never the row's values: PostgreSQL's "Failing row contains (…)" would print the
    villager's phone number into whatever log records the exception."""


def _safe_description(exc: DBAPIError) -> str:
    """What went wrong, without DETAIL lines or parameters."""
    orig = exc.orig
    diag = getattr(orig, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(orig).split("\n")[0]
    parts = [f"{type(orig).__name__}: {primary}"]
    for attr in ("table_name", "column_name", "constraint_name"):
        value = getattr(diag, attr, None)
        if value:
            parts.append(f"{attr}={value}")
    return "; ".join(parts)


def _refs(items: Iterable[AgencyRef]) -> list[dict[str, str]]:
    return [{"id": a.id, "name": a.name} for a in items]


def _case_row(case: Case) -> dict[str, Any]:
    """The ``cases`` row for a case (without id and version)."""
    j = case.jurisdiction
    return {
        "number": case.number,
        "submission_key": case.submission_key,
        "route": case.route,
        "dispute_type": case.dispute_type,
        "status": case.status.value,
        "sender_id": case.villager.sender_id,
        "villager_name": case.villager.name,
        "villager_phone": case.villager.phone,
        "filed_by": case.filed_by,
        "county_id": j.county_id,
        "township_id": j.township_id,
        "township_name": j.township_name,
        "village_id": j.village_id,
        "village_name": j.village_name,
        "agency_id": case.agency.id if case.agency else None,
        "agency_name": case.agency.name if case.agency else None,
        "intake_id": case.intake.id if case.intake else None,
        "intake_name": case.intake.name if case.intake else None,
        "chain": _refs(case.chain),
        "tried": _refs(case.tried),
        "facts": dict(case.facts),
        "screening": case.screening.to_dict() if case.screening else None,
        "redirect": case.redirect.to_dict() if case.redirect else None,
        "also_offer": list(case.also_offer),
        "urgent": case.urgent,
        "emergency": case.emergency,
        "redirected": case.redirected,
        "outcome": case.outcome,
        "created_at": naive_utc(case.created_at),
        "updated_at": naive_utc(case.updated_at),
    }


def _event_row(case_id: int, e: CaseEvent) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "seq": e.seq,
        "at": naive_utc(e.at),
        "actor": e.actor,
        "from_status": e.from_status.value if e.from_status else None,
        "to_status": e.to_status.value,
        "reason": e.reason,
        "details": dict(e.details),
    }


def _deadline_row(case_id: int, d: CaseDeadline) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "deadline_id": d.deadline_id,
        "name": d.name,
        "due": d.due,
        "article": d.article,
        "law": d.law,
        "explain": d.explain,
        "start_event": d.start_event,
        "started_on": d.started_on,
        "set_on": d.set_on.value,
        "information": d.information,
    }


def _deadline_from(d: Row) -> CaseDeadline:
    return CaseDeadline(
        deadline_id=d.deadline_id,
        name=d.name,
        due=d.due,
        article=d.article,
        law=d.law,
        explain=d.explain,
        start_event=d.start_event,
        started_on=d.started_on,
        set_on=Status(d.set_on),
        information=d.information,
    )


def _case_from(
    row: Row, events: Sequence[Row], deadlines: Sequence[Row], cipher: Cipher
) -> Case:
    def ref(id_: str | None, name: str | None) -> AgencyRef | None:
        return AgencyRef(id_, name or "") if id_ else None

    case = Case(
        number=row.number,
        route=row.route,
        dispute_type=row.dispute_type,
        facts=cipher.decrypt_json(row.facts) or {},
        villager=Villager(
            row.sender_id, cipher.decrypt(row.villager_name), cipher.decrypt(row.villager_phone)
        ),
        jurisdiction=Jurisdiction(
            row.county_id, row.township_id, row.township_name, row.village_id, row.village_name
        ),
        created_at=aware_utc(row.created_at),
        filed_by=row.filed_by,
        submission_key=row.submission_key,
        status=Status(row.status),
        agency=ref(row.agency_id, row.agency_name),
        intake=ref(row.intake_id, row.intake_name),
        chain=[AgencyRef(a["id"], a["name"]) for a in row.chain or []],
        tried=[AgencyRef(a["id"], a["name"]) for a in row.tried or []],
        history=[
            CaseEvent(
                seq=e.seq,
                at=aware_utc(e.at),
                actor=e.actor,
                from_status=Status(e.from_status) if e.from_status else None,
                to_status=Status(e.to_status),
                reason=e.reason,
                details=cipher.decrypt_json(e.details) or {},
            )
            for e in events
        ],
        deadlines=[_deadline_from(d) for d in deadlines],
        screening=Screening.from_dict(row.screening) if row.screening else None,
        redirect=Redirect.from_dict(row.redirect) if row.redirect else None,
        also_offer=row.also_offer or [],
        urgent=row.urgent,
        emergency=row.emergency,
        redirected=row.redirected,
        outcome=row.outcome,
        updated_at=aware_utc(row.updated_at),
        version=row.version,
    )
    return case


@dataclass
class _Tracked:
    """What the database holds for a case this repository handed out."""

    case: Case
    db_id: int
    row: dict[str, Any]
    events_saved: int
    deadlines: list[CaseDeadline]


class SqlAlchemyCaseRepository:
    """Cases in SQL tables, through one session.  Tracks every case it adds or loads, so
    that the unit of work can save their changes and collect their events.  The villager's
    name, phone and words, and event details, are encrypted (records/adapters/crypto.py)."""

    def __init__(self, session: Session, cipher: Cipher) -> None:
        self.session = session
        self.cipher = cipher
        self._tracked: dict[int, _Tracked] = {}

    def _sealed(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row as written: personal fields encrypted (the tracked copy stays plain, so
        an unchanged case is not rewritten)."""
        return {
            **row,
            "villager_name": self.cipher.encrypt(row["villager_name"]),
            "villager_phone": self.cipher.encrypt(row["villager_phone"]),
            "facts": self.cipher.encrypt_json(row["facts"]),
        }

    def _event(self, case_id: int, event: CaseEvent) -> dict[str, Any]:
        row = _event_row(case_id, event)
        return {**row, "details": self.cipher.encrypt_json(row["details"])}

    @property
    def seen(self) -> list[Case]:
        """Every case added or loaded through this repository."""
        return [t.case for t in self._tracked.values()]

    # ----- writing --------------------------------------------------------

    def add(self, case: Case) -> None:
        """Insert a new case with its history and deadlines, at once.

        Runs in a SAVEPOINT so that a collision can be handled inside the same transaction:
        :class:`DuplicateSubmission` when the submission key exists (a retry, possibly
        concurrent), :class:`NumberTaken` when only the number does (pick another one).
        """
        row = _case_row(case)
        try:
            with self.session.begin_nested():
                result = self.session.execute(
                    insert(cases).values(**self._sealed(row), version=1)
                )
                db_id = int(result.inserted_primary_key[0])
                if case.history:
                    self.session.execute(
                        insert(case_events), [self._event(db_id, e) for e in case.history]
                    )
                if case.deadlines:
                    self.session.execute(
                        insert(case_deadlines), [_deadline_row(db_id, d) for d in case.deadlines]
                    )
        except IntegrityError as exc:
            if case.submission_key and self._exists(cases.c.submission_key, case.submission_key):
                raise DuplicateSubmission(case.submission_key) from None
            if self._exists(cases.c.number, case.number):
                raise NumberTaken(case.number) from None
            raise StoreError(_safe_description(exc)) from None
        except DataError as exc:
            raise StoreError(_safe_description(exc)) from None
        case.version = 1
        self._tracked[id(case)] = _Tracked(
            case, db_id, row, len(case.history), list(case.deadlines)
        )

    def _exists(self, column: Any, value: str) -> bool:
        return self.session.execute(select(cases.c.id).where(column == value)).first() is not None

    def save(self, case: Case) -> None:
        """Write a tracked case's changes (status, agency, new history, deadlines).

        Optimistic locking: the UPDATE names the version that was read; if another
        transaction changed the case meanwhile, :class:`ConcurrentUpdate` is raised.
        """
        tracked = self._tracked.get(id(case))
        if tracked is None:
            raise CaseError(f"case {case.number} was not added or loaded through this repository")
        row = _case_row(case)
        new_events = case.history[tracked.events_saved :]
        deadlines_changed = case.deadlines != tracked.deadlines
        if row == tracked.row and not new_events and not deadlines_changed:
            return
        try:
            self._write_changes(case, tracked, row, new_events, deadlines_changed)
        except (IntegrityError, DataError) as exc:
            raise StoreError(_safe_description(exc)) from None

    def _write_changes(
        self,
        case: Case,
        tracked: _Tracked,
        row: dict[str, Any],
        new_events: list[CaseEvent],
        deadlines_changed: bool,
    ) -> None:
        """The UPDATE (version-checked) and the child-row writes behind :meth:`save`."""
        result = self.session.execute(
            update(cases)
            .where(cases.c.id == tracked.db_id, cases.c.version == case.version)
            .values(**self._sealed(row), version=case.version + 1)
        )
        if result.rowcount != 1:
            raise ConcurrentUpdate(f"case {case.number} was changed by someone else; reload it")
        case.version += 1
        if new_events:
            self.session.execute(
                insert(case_events), [self._event(tracked.db_id, e) for e in new_events]
            )
        if deadlines_changed:
            self.session.execute(
                delete(case_deadlines).where(case_deadlines.c.case_id == tracked.db_id)
            )
            if case.deadlines:
                self.session.execute(
                    insert(case_deadlines),
                    [_deadline_row(tracked.db_id, d) for d in case.deadlines],
                )
        tracked.row = row
        tracked.events_saved = len(case.history)
        tracked.deadlines = list(case.deadlines)

    # ----- reading --------------------------------------------------------

    def _load(self, rows: Sequence[Row]) -> list[Case]:
        """Build cases from rows, loading all their events and deadlines in two queries."""
        if not rows:
            return []
        ids = [row.id for row in rows]
        events: dict[int, list[Row]] = {i: [] for i in ids}
        for e in self.session.execute(
            select(case_events).where(case_events.c.case_id.in_(ids)).order_by(case_events.c.seq)
        ):
            events[e.case_id].append(e)
        deadlines: dict[int, list[Row]] = {i: [] for i in ids}
        for d in self.session.execute(
            select(case_deadlines)
            .where(case_deadlines.c.case_id.in_(ids))
            .order_by(case_deadlines.c.due, case_deadlines.c.deadline_id)
        ):
            deadlines[d.case_id].append(d)
        loaded = []
        for row in rows:
            case = _case_from(row, events[row.id], deadlines[row.id], self.cipher)
            case.set_deadlines([])  # re-sort exactly as the domain sorts (undated last)
            self._tracked[id(case)] = _Tracked(
                case, row.id, _case_row(case), len(case.history), list(case.deadlines)
            )
            loaded.append(case)
        return loaded

    def get(self, number: str, *, lock: bool = False) -> Case | None:
        """The case with this number, or None.  ``lock`` holds a row lock (PostgreSQL) until
        the transaction ends, so two staff moving the same case queue instead of clashing."""
        query = select(cases).where(cases.c.number == number)
        if lock:
            query = query.with_for_update()
        found = self._load(self.session.execute(query).all())
        return found[0] if found else None

    def get_by_submission_key(self, key: str) -> Case | None:
        """The case a submission with this idempotency key created, or None."""
        found = self._load(
            self.session.execute(select(cases).where(cases.c.submission_key == key)).all()
        )
        return found[0] if found else None

    def list(
        self,
        *,
        status: str | Iterable[str] | None = None,
        agency_id: str | None = None,
        route: str | None = None,
        township_id: str | None = None,
        sender_id: str | None = None,
        filed_by: str | None = None,
        urgent: bool | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Case]:
        """Cases matching every filter given, newest first."""
        query = select(cases)
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            query = query.where(cases.c.status.in_([Status(s).value for s in wanted]))
        if agency_id is not None:
            query = query.where(cases.c.agency_id == agency_id)
        if route is not None:
            query = query.where(cases.c.route == route)
        if township_id is not None:
            query = query.where(cases.c.township_id == township_id)
        if sender_id is not None:
            query = query.where(cases.c.sender_id == sender_id)
        if filed_by is not None:
            query = query.where(cases.c.filed_by == filed_by)
        if urgent is not None:
            query = query.where(cases.c.urgent == urgent)
        query = query.order_by(cases.c.created_at.desc(), cases.c.id.desc()).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        return self._load(self.session.execute(query).all())

    def due_deadlines(self, until: date, deadline_ids: Iterable[str]) -> list[DueDeadline]:
        """Dated, non-informational deadlines of the given kinds due on or before ``until``,
        earliest first — read without loading whole cases."""
        query = (
            select(
                cases.c.number,
                cases.c.status,
                cases.c.route,
                cases.c.sender_id,
                cases.c.agency_id,
                cases.c.agency_name,
                case_deadlines,
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
        return [
            DueDeadline(
                number=r.number,
                status=Status(r.status),
                route=r.route,
                villager=r.sender_id,
                agency=AgencyRef(r.agency_id, r.agency_name or "") if r.agency_id else None,
                deadline=_deadline_from(r),
            )
            for r in self.session.execute(query)
        ]


# ---------------------------------------------------------------------------
# Staff and invites
# ---------------------------------------------------------------------------


def _member(row: Row) -> StaffMember:
    return StaffMember(
        ChannelIdentity(row.channel, row.channel_user_id),
        row.name,
        row.agency_id,
        row.role,
        unreachable=row.unreachable_since is not None,
    )


class SqlAlchemyStaffRepository:
    """Staff members (keyed by channel identity) and their one-time invites."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _where(self, identity: ChannelIdentity) -> Any:
        return and_(staff.c.channel == identity.channel, staff.c.channel_user_id == identity.id)

    def get(self, identity: ChannelIdentity) -> StaffMember | None:
        row = self.session.execute(
            select(staff).where(self._where(identity), staff.c.active.is_(True))
        ).first()
        return _member(row) if row is not None else None

    def save(self, member: StaffMember, at: datetime) -> None:
        """Make ``member`` active with this name, agency and role (new or moved)."""
        values = {
            "name": member.name,
            "agency_id": member.agency_id,
            "role": member.role,
            "active": True,
            "unreachable_since": None,
            "updated_at": naive_utc(at),
        }
        existing = self.session.execute(
            select(staff.c.id).where(self._where(member.identity))
        ).first()
        if existing is None:
            self.session.execute(
                insert(staff).values(
                    channel=member.identity.channel,
                    channel_user_id=member.identity.id,
                    created_at=naive_utc(at),
                    **values,
                )
            )
        else:
            self.session.execute(update(staff).where(staff.c.id == existing.id).values(**values))

    def of_agency(self, agency_id: str, roles: Iterable[str]) -> list[StaffMember]:
        rows = self.session.execute(
            select(staff)
            .where(
                staff.c.agency_id == agency_id,
                staff.c.active.is_(True),
                staff.c.role.in_(list(roles)),
            )
            .order_by(staff.c.id)
        ).all()
        return [_member(r) for r in rows]

    def active(self) -> list[StaffMember]:
        rows = self.session.execute(
            select(staff).where(staff.c.active.is_(True)).order_by(staff.c.id)
        ).all()
        return [_member(r) for r in rows]

    def set_reachable(self, identity: ChannelIdentity, reachable: bool, at: datetime) -> bool:
        """Mark whether their messenger takes our messages; True when that changed."""
        since = None if reachable else naive_utc(at)
        changed = (
            staff.c.unreachable_since.is_not(None)
            if reachable
            else staff.c.unreachable_since.is_(None)
        )
        result = self.session.execute(
            update(staff)
            .where(self._where(identity), changed)
            .values(unreachable_since=since, updated_at=naive_utc(at))
        )
        return bool(result.rowcount)

    def deactivate(self, identity: ChannelIdentity, at: datetime) -> bool:
        result = self.session.execute(
            update(staff)
            .where(self._where(identity), staff.c.active.is_(True))
            .values(active=False, updated_at=naive_utc(at))
        )
        return bool(result.rowcount)

    def add_invite(self, invite: Invite) -> None:
        self.session.execute(
            insert(staff_invites).values(
                code_hash=invite.code_hash,
                agency_id=invite.agency_id,
                role=invite.role,
                created_by=invite.created_by,
                created_at=naive_utc(invite.created_at),
                expires_at=naive_utc(invite.expires_at),
            )
        )

    def invite(self, code_hash: str) -> Invite | None:
        row = self.session.execute(
            select(staff_invites).where(staff_invites.c.code_hash == code_hash)
        ).first()
        if row is None:
            return None
        return Invite(
            code_hash=row.code_hash,
            agency_id=row.agency_id,
            role=row.role,
            created_by=row.created_by,
            created_at=aware_utc(row.created_at),
            expires_at=aware_utc(row.expires_at),
            used_by=row.used_by,
            id=row.id,
        )

    def spend_invite(self, invite: Invite, used_by: str, at: datetime) -> bool:
        """Mark the code used, guarded by "still unused": of two people racing for one code,
        one gets False."""
        result = self.session.execute(
            update(staff_invites)
            .where(staff_invites.c.id == invite.id, staff_invites.c.used_by.is_(None))
            .values(used_by=used_by, used_at=naive_utc(at))
        )
        return bool(result.rowcount == 1)


# ---------------------------------------------------------------------------
# Notes, appointments, files
# ---------------------------------------------------------------------------


class SqlAlchemyNoteRepository:
    """Staff notes on cases (their text encrypted)."""

    def __init__(self, session: Session, cipher: Cipher) -> None:
        self.session = session
        self.cipher = cipher

    def add(self, note: Note) -> None:
        self.session.execute(
            insert(case_notes).values(
                case_number=note.case_number,
                author=note.author,
                author_name=note.author_name,
                text=self.cipher.encrypt(note.text),
                created_at=naive_utc(note.created_at),
            )
        )

    def for_case(self, number: str) -> list[Note]:
        rows = self.session.execute(
            select(case_notes)
            .where(case_notes.c.case_number == number)
            .order_by(case_notes.c.created_at, case_notes.c.id)
        ).all()
        return [
            Note(
                r.case_number,
                r.author,
                r.author_name,
                self.cipher.decrypt(r.text) or "",
                aware_utc(r.created_at),
            )
            for r in rows
        ]


class SqlAlchemySessionRepository:
    """Appointments handlers set with villagers (the place and time encrypted)."""

    def __init__(self, session: Session, cipher: Cipher) -> None:
        self.session = session
        self.cipher = cipher

    def add(
        self, number: str, day: date, details: str, scheduled_by: str, at: datetime
    ) -> CaseSession:
        result = self.session.execute(
            insert(case_sessions).values(
                case_number=number,
                day=day,
                details=self.cipher.encrypt(details),
                scheduled_by=scheduled_by,
                created_at=naive_utc(at),
            )
        )
        return CaseSession(int(result.inserted_primary_key[0]), number, day, details, scheduled_by)

    def for_case(self, number: str) -> list[CaseSession]:
        rows = self.session.execute(
            select(case_sessions)
            .where(case_sessions.c.case_number == number)
            .order_by(case_sessions.c.id)
        ).all()
        return [
            CaseSession(
                r.id, r.case_number, r.day, self.cipher.decrypt(r.details) or "", r.scheduled_by
            )
            for r in rows
        ]

    def cases_on(self, day: date) -> list[str]:
        return list(
            self.session.execute(
                select(case_sessions.c.case_number)
                .where(case_sessions.c.day == day)
                .distinct()
                .order_by(case_sessions.c.case_number)
            ).scalars()
        )


def _evidence(row: Row) -> Evidence:
    return Evidence(
        sender_id=row.sender_id,
        channel=row.channel,
        file_id=row.file_id,
        file_unique_id=row.file_unique_id,
        kind=row.kind,
        size=row.size,
        received_at=aware_utc(row.received_at),
        case_number=row.case_number,
        duration=row.duration,
        stored_path=row.stored_path,
        id=row.id,
    )


class SqlAlchemyEvidenceRepository:
    """Files villagers sent."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, item: Evidence) -> bool:
        """Keep the file; False when this very file is already on that case."""
        try:
            with self.session.begin_nested():
                self.session.execute(
                    insert(evidence).values(
                        case_number=item.case_number,
                        sender_id=item.sender_id,
                        channel=item.channel,
                        file_id=item.file_id,
                        file_unique_id=item.file_unique_id,
                        kind=item.kind,
                        size=item.size,
                        duration=item.duration,
                        received_at=naive_utc(item.received_at),
                        stored_path=item.stored_path,
                    )
                )
        except IntegrityError:
            return False
        return True

    def pending(self, sender_id: str) -> list[Evidence]:
        rows = self.session.execute(
            select(evidence)
            .where(evidence.c.sender_id == sender_id, evidence.c.case_number.is_(None))
            .order_by(evidence.c.id)
        ).all()
        return [_evidence(r) for r in rows]

    def attach(self, items: Iterable[Evidence], number: str) -> None:
        ids = [item.id for item in items]
        if ids:
            self.session.execute(
                update(evidence).where(evidence.c.id.in_(ids)).values(case_number=number)
            )

    def for_case(self, number: str) -> list[Evidence]:
        rows = self.session.execute(
            select(evidence).where(evidence.c.case_number == number).order_by(evidence.c.id)
        ).all()
        return [_evidence(r) for r in rows]

    def received(self, senders: tuple[str, ...], *, since: datetime) -> tuple[int, int]:
        if not senders:
            return 0, 0
        whose = or_(
            *(evidence.c.sender_id == s for s in senders),
            *(evidence.c.sender_id.startswith(f"{s}:", autoescape=True) for s in senders),
        )
        files, sent = self.session.execute(
            select(func.count(), func.coalesce(func.sum(evidence.c.size), 0)).where(
                whose, evidence.c.received_at >= naive_utc(since)
            )
        ).one()
        return int(files), int(sent)


# ---------------------------------------------------------------------------
# Talks and the log of what went out once
# ---------------------------------------------------------------------------


def _talk(row: Row) -> Talk:
    return Talk(int(row.id), row.case_number, row.staff, row.villager_sender_id, row.villager_chat)


class SqlAlchemyTalkRepository:
    """与当事人对话: at most one open talk per villager and per staff member (partial unique
    indexes make that hold when two staff tap at once)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def open(
        self, number: str, staff: str, villager: str, villager_chat: str, at: datetime
    ) -> Talk:
        try:
            with self.session.begin_nested():
                result = self.session.execute(
                    insert(staff_conversations).values(
                        case_number=number,
                        staff=staff,
                        villager_sender_id=villager,
                        villager_chat=villager_chat,
                        opened_at=naive_utc(at),
                    )
                )
        except IntegrityError:
            raise ConversationBusy(number) from None
        return Talk(int(result.inserted_primary_key[0]), number, staff, villager, villager_chat)

    def _open_where(self, *conditions: Any) -> Talk | None:
        row = self.session.execute(
            select(staff_conversations)
            .where(*conditions, staff_conversations.c.closed_at.is_(None))
            .order_by(staff_conversations.c.id)
            .limit(1)
        ).first()
        return _talk(row) if row is not None else None

    def involving(self, chat: str, actor: str) -> Talk | None:
        return self._open_where(
            or_(
                staff_conversations.c.villager_chat == chat,
                staff_conversations.c.staff == actor,
            )
        )

    def for_staff(self, actor: str) -> Talk | None:
        return self._open_where(staff_conversations.c.staff == actor)

    def close_for_case(self, number: str, at: datetime) -> list[Talk]:
        talks = [
            _talk(r)
            for r in self.session.execute(
                select(staff_conversations).where(
                    staff_conversations.c.case_number == number,
                    staff_conversations.c.closed_at.is_(None),
                )
            )
        ]
        for talk in talks:
            self.close(talk.id, at)
        return talks

    def close(self, talk_id: int, at: datetime) -> bool:
        result = self.session.execute(
            update(staff_conversations)
            .where(
                staff_conversations.c.id == talk_id,
                staff_conversations.c.closed_at.is_(None),
            )
            .values(closed_at=naive_utc(at))
        )
        return bool(result.rowcount)


class SqlAlchemySentLog:
    """reminders_sent and digests_sent: a unique row per thing that went out."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _once(self, statement: Any) -> bool:
        try:
            with self.session.begin_nested():
                self.session.execute(statement)
        except IntegrityError:
            return False
        return True

    def reminder(self, number: str, deadline_id: str, due: date, kind: str, at: datetime) -> bool:
        return self._once(
            insert(reminders_sent).values(
                case_number=number,
                deadline_id=deadline_id,
                due=due,
                kind=kind,
                sent_at=naive_utc(at),
            )
        )

    def digest(self, staff: str, day: date, cases: int, at: datetime) -> bool:
        return self._once(
            insert(digests_sent).values(staff=staff, day=day, cases=cases, sent_at=naive_utc(at))
        )


class SqlAlchemyAuditLog:
    """audit_log: insert and read; the table's triggers refuse anything else."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, entry: AuditEntry) -> None:
        self.session.execute(
            insert(audit_log).values(
                at=naive_utc(entry.at),
                actor=entry.actor,
                action=entry.action,
                case_number=entry.case_number,
                details=dict(entry.details) if entry.details else None,
            )
        )

    def _read(self, condition: Any) -> list[AuditEntry]:
        rows = self.session.execute(
            select(audit_log).where(condition).order_by(audit_log.c.at, audit_log.c.id)
        ).all()
        return [
            AuditEntry(aware_utc(r.at), r.actor, r.action, r.case_number, r.details)
            for r in rows
        ]

    def for_case(self, number: str) -> list[AuditEntry]:
        return self._read(audit_log.c.case_number == number)

    def by_actor(self, actor: str) -> list[AuditEntry]:
        return self._read(audit_log.c.actor == actor)

    def count(self, actor: str, action: str, *, since: datetime) -> int:
        """How many times ``actor`` did ``action`` from ``since`` on."""
        return int(
            self.session.execute(
                select(func.count())
                .select_from(audit_log)
                .where(
                    audit_log.c.actor == actor,
                    audit_log.c.action == action,
                    audit_log.c.at >= naive_utc(since),
                )
            ).scalar_one()
        )
