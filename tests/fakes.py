"""An in-memory unit of work (cosmicpython's FakeUnitOfWork): the service tests run on it,
without a database.

It keeps the same promises as the SQL one where the services rely on them: a transaction
sees its own writes, commit makes them visible to the next unit of work, leaving without
commit forgets them, a submission key and a case number are unique, a talk is one per
villager, staff member and chat, and each reminder or digest goes out once.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from typing import Any

from knowledge.base import Knowledge
from knowledge.loader import load_knowledge
from records.api import Records
from records.domain.clock import Clock, FixedClock
from records.domain.identity import ChannelIdentity
from records.domain.model import Case, Status
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
from records.services.messages import NewMessage
from records.services.unit_of_work import (
    ConcurrentUpdate,
    DueDeadline,
    DuplicateSubmission,
    NumberTaken,
    UnitOfWork,
)

__all__ = ["FakeStore", "FakeUnitOfWork", "fake_records"]


@dataclass
class _State:
    cases: dict[str, Case] = field(default_factory=dict)
    staff: dict[tuple[str, str], tuple[StaffMember, bool]] = field(default_factory=dict)
    invites: dict[str, Invite] = field(default_factory=dict)
    notes: list[Note] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    sessions: list[CaseSession] = field(default_factory=list)
    talks: dict[int, tuple[Talk, bool]] = field(default_factory=dict)  # id → (talk, open)
    sent: set[tuple[Any, ...]] = field(default_factory=set)
    audit: list[AuditEntry] = field(default_factory=list)
    outbox: list[NewMessage] = field(default_factory=list)


class FakeStore:
    """What the fake database holds between units of work."""

    def __init__(self) -> None:
        self.state = _State()
        self.ids = itertools.count(1)

    @property
    def outbox(self) -> list[NewMessage]:
        """Every committed outbox message, in order."""
        return self.state.outbox

    @property
    def cases(self) -> dict[str, Case]:
        return self.state.cases

    @property
    def audit(self) -> list[AuditEntry]:
        """The committed audit trail, in order."""
        return self.state.audit


class _Cases:
    def __init__(self, state: _State) -> None:
        self.state = state
        self._seen: dict[int, Case] = {}

    @property
    def seen(self) -> list[Case]:
        return list(self._seen.values())

    def _track(self, case: Case) -> Case:
        copy_ = copy.deepcopy(case)
        copy_.events = []
        self._seen[id(copy_)] = copy_
        return copy_

    def add(self, case: Case) -> None:
        if case.submission_key and any(
            c.submission_key == case.submission_key for c in self.state.cases.values()
        ):
            raise DuplicateSubmission(case.submission_key)
        if case.number in self.state.cases:
            raise NumberTaken(case.number)
        case.version = 1
        self.state.cases[case.number] = copy.deepcopy(case)
        self._seen[id(case)] = case

    def save(self, case: Case) -> None:
        stored = self.state.cases.get(case.number)
        if stored is None:
            raise ConcurrentUpdate(case.number)
        if stored.version != case.version:
            raise ConcurrentUpdate(f"case {case.number} was changed by someone else")
        snapshot = copy.deepcopy(case)
        snapshot.events = []
        if snapshot.__dict__ != {**stored.__dict__, "events": []}:
            case.version += 1
            snapshot.version = case.version
            self.state.cases[case.number] = snapshot

    def get(self, number: str, *, lock: bool = False) -> Case | None:
        case = self.state.cases.get(number)
        return self._track(case) if case else None

    def get_by_submission_key(self, key: str) -> Case | None:
        found = next((c for c in self.state.cases.values() if c.submission_key == key), None)
        return self._track(found) if found else None

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
        wanted = None
        if status is not None:
            wanted = {Status(s) for s in ([status] if isinstance(status, str) else status)}
        found = [
            c
            for c in self.state.cases.values()
            if (wanted is None or c.status in wanted)
            and (agency_id is None or (c.agency and c.agency.id == agency_id))
            and (route is None or c.route == route)
            and (township_id is None or c.jurisdiction.township_id == township_id)
            and (sender_id is None or c.villager.sender_id == sender_id)
            and (filed_by is None or c.filed_by == filed_by)
            and (urgent is None or c.urgent == urgent)
        ]
        found.sort(key=lambda c: c.created_at, reverse=True)
        found = found[offset:]
        if limit is not None:
            found = found[:limit]
        return [self._track(c) for c in found]

    def due_deadlines(self, until: date, deadline_ids: Iterable[str]) -> list[DueDeadline]:
        ids = set(deadline_ids)
        due = [
            DueDeadline(c.number, c.status, c.route, c.villager.sender_id, c.agency, d)
            for c in self.state.cases.values()
            for d in c.deadlines
            if d.due is not None and d.due <= until and not d.information and d.deadline_id in ids
        ]
        return sorted(due, key=lambda d: (d.deadline.due, d.number))


class _Staff:
    def __init__(self, state: _State) -> None:
        self.state = state

    def get(self, identity: ChannelIdentity) -> StaffMember | None:
        found = self.state.staff.get((identity.channel, identity.id))
        return found[0] if found and found[1] else None

    def save(self, member: StaffMember, at: datetime) -> None:
        self.state.staff[(member.identity.channel, member.identity.id)] = (
            replace(member, unreachable=False),
            True,
        )

    def of_agency(self, agency_id: str, roles: Iterable[str]) -> list[StaffMember]:
        wanted = set(roles)
        return [
            m for m, active in self.state.staff.values()
            if active and m.agency_id == agency_id and m.role in wanted
        ]

    def active(self) -> list[StaffMember]:
        return [m for m, active in self.state.staff.values() if active]

    def set_reachable(self, identity: ChannelIdentity, reachable: bool, at: datetime) -> bool:
        key = (identity.channel, identity.id)
        found = self.state.staff.get(key)
        if not found or found[0].unreachable == (not reachable):
            return False
        self.state.staff[key] = (replace(found[0], unreachable=not reachable), found[1])
        return True

    def deactivate(self, identity: ChannelIdentity, at: datetime) -> bool:
        key = (identity.channel, identity.id)
        found = self.state.staff.get(key)
        if not found or not found[1]:
            return False
        self.state.staff[key] = (found[0], False)
        return True

    def add_invite(self, invite: Invite) -> None:
        self.state.invites[invite.code_hash] = invite

    def invite(self, code_hash: str) -> Invite | None:
        return self.state.invites.get(code_hash)

    def spend_invite(self, invite: Invite, used_by: str, at: datetime) -> bool:
        current = self.state.invites.get(invite.code_hash)
        if current is None or current.used_by is not None:
            return False
        self.state.invites[invite.code_hash] = Invite(
            current.code_hash, current.agency_id, current.role, current.created_by,
            current.created_at, current.expires_at, used_by, current.id,
        )
        return True


class _Notes:
    def __init__(self, state: _State) -> None:
        self.state = state

    def add(self, note: Note) -> None:
        self.state.notes.append(note)

    def for_case(self, number: str) -> list[Note]:
        return [n for n in self.state.notes if n.case_number == number]


class _Evidence:
    def __init__(self, state: _State, ids: itertools.count) -> None:
        self.state, self.ids = state, ids

    def add(self, item: Evidence) -> bool:
        if item.case_number is not None and any(
            e.case_number == item.case_number and e.file_unique_id == item.file_unique_id
            for e in self.state.evidence
        ):
            return False
        self.state.evidence.append(
            Evidence(**{**item.__dict__, "id": next(self.ids)})
        )
        return True

    def pending(self, sender_id: str) -> list[Evidence]:
        return [e for e in self.state.evidence if e.sender_id == sender_id and e.case_number is None]

    def attach(self, items: Iterable[Evidence], number: str) -> None:
        ids = {i.id for i in items}
        self.state.evidence = [
            Evidence(**{**e.__dict__, "case_number": number}) if e.id in ids else e
            for e in self.state.evidence
        ]

    def received(self, senders: tuple[str, ...], *, since: datetime) -> tuple[int, int]:
        found = [
            e
            for e in self.state.evidence
            if e.received_at >= since
            and any(e.sender_id == s or e.sender_id.startswith(f"{s}:") for s in senders)
        ]
        return len(found), sum(e.size or 0 for e in found)

    def for_case(self, number: str) -> list[Evidence]:
        return [e for e in self.state.evidence if e.case_number == number]


class _Sessions:
    def __init__(self, state: _State, ids: itertools.count) -> None:
        self.state, self.ids = state, ids

    def add(self, number: str, day: date, details: str, scheduled_by: str, at: datetime) -> CaseSession:
        session = CaseSession(next(self.ids), number, day, details, scheduled_by)
        self.state.sessions.append(session)
        return session

    def for_case(self, number: str) -> list[CaseSession]:
        return [s for s in self.state.sessions if s.case_number == number]

    def cases_on(self, day: date) -> list[str]:
        return sorted({s.case_number for s in self.state.sessions if s.day == day})


class _Talks:
    def __init__(self, state: _State, ids: itertools.count) -> None:
        self.state, self.ids = state, ids

    def _open(self) -> list[Talk]:
        return [t for t, is_open in self.state.talks.values() if is_open]

    def open(self, number: str, staff: str, villager: str, villager_chat: str, at: datetime) -> Talk:
        if any(
            t.staff == staff or t.villager == villager or t.villager_chat == villager_chat
            for t in self._open()
        ):
            raise ConversationBusy(number)
        talk = Talk(next(self.ids), number, staff, villager, villager_chat)
        self.state.talks[talk.id] = (talk, True)
        return talk

    def involving(self, chat: str, actor: str) -> Talk | None:
        return next((t for t in self._open() if t.villager_chat == chat or t.staff == actor), None)

    def for_staff(self, actor: str) -> Talk | None:
        return next((t for t in self._open() if t.staff == actor), None)

    def close(self, talk_id: int, at: datetime) -> bool:
        found = self.state.talks.get(talk_id)
        if not found or not found[1]:
            return False
        self.state.talks[talk_id] = (found[0], False)
        return True

    def close_for_case(self, number: str, at: datetime) -> list[Talk]:
        closing = [t for t in self._open() if t.case_number == number]
        for talk in closing:
            self.close(talk.id, at)
        return closing


class _Sent:
    def __init__(self, state: _State) -> None:
        self.state = state

    def _once(self, key: tuple[Any, ...]) -> bool:
        if key in self.state.sent:
            return False
        self.state.sent.add(key)
        return True

    def reminder(self, number: str, deadline_id: str, due: date, kind: str, at: datetime) -> bool:
        return self._once(("reminder", number, deadline_id, due, kind))

    def digest(self, staff: str, day: date, cases: int, at: datetime) -> bool:
        return self._once(("digest", staff, day))


class _Audit:
    def __init__(self, state: _State) -> None:
        self.state = state

    def add(self, entry: AuditEntry) -> None:
        self.state.audit.append(entry)

    def for_case(self, number: str) -> list[AuditEntry]:
        return [e for e in self.state.audit if e.case_number == number]

    def by_actor(self, actor: str) -> list[AuditEntry]:
        return [e for e in self.state.audit if e.actor == actor]

    def count(self, actor: str, action: str, *, since: datetime) -> int:
        return sum(
            e.actor == actor and e.action == action and e.at >= since for e in self.state.audit
        )


class FakeUnitOfWork(UnitOfWork):
    """A unit of work on a :class:`FakeStore`."""

    def __init__(self, store: FakeStore, clock: Clock) -> None:
        super().__init__(clock)
        self.store = store
        self.commits = 0

    def _begin(self) -> None:
        self._working = copy.deepcopy(self.store.state)
        state = self._working
        self.cases = _Cases(state)
        self.staff = _Staff(state)
        self.notes = _Notes(state)
        self.evidence = _Evidence(state, self.store.ids)
        self.sessions = _Sessions(state, self.store.ids)
        self.talks = _Talks(state, self.store.ids)
        self.sent = _Sent(state)
        self.audit = _Audit(state)

    def _end(self) -> None:
        self._working = _State()

    def _queue(self, messages: list[NewMessage]) -> None:
        self._working.outbox.extend(messages)

    def _commit(self) -> None:
        self.store.state = self._working
        self.commits += 1

    def rollback(self) -> None:
        self._working = copy.deepcopy(self.store.state)


_KNOWLEDGE: Knowledge | None = None


def shipped_knowledge() -> Knowledge:
    """The shipped knowledge, loaded once for the test session."""
    global _KNOWLEDGE
    if _KNOWLEDGE is None:
        from knowledge.loader import default_knowledge_root

        _KNOWLEDGE = load_knowledge(default_knowledge_root())
    return _KNOWLEDGE


def fake_records(clock: Clock | None = None, store: FakeStore | None = None) -> tuple[Records, FakeStore]:
    """Records on an in-memory store, with the shipped knowledge and a fixed clock."""
    store = store or FakeStore()
    clock = clock or FixedClock(datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc))
    return Records(lambda: FakeUnitOfWork(store, clock), shipped_knowledge(), clock, b"test-pepper"), store
