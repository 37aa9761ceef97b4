"""The unit of work: one transaction around every repository and the outbox.

The services see only this interface (cosmicpython's ``AbstractUnitOfWork``).  Two
implementations exist: :class:`records.adapters.unit_of_work.SqlAlchemyUnitOfWork` on a
database, and the in-memory one the service tests use (tests/fakes.py).

Use as ``with uow: …; uow.commit()``; leaving the block without commit rolls back.  On commit
the unit of work saves every case it handed out, turns the cases' events and the events the
services emitted (:meth:`UnitOfWork.emit`) into outbox messages and writes them — all in the
same transaction.
"""

from __future__ import annotations

import abc
import builtins
import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol, TypeVar

from records.domain.clock import Clock
from records.domain.events import DomainEvent
from records.domain.identity import ChannelIdentity
from records.domain.model import AgencyRef, Case, CaseDeadline, CaseError, Status
from records.domain.staff import (
    AuditEntry,
    CaseSession,
    Evidence,
    Invite,
    Note,
    StaffMember,
    Talk,
)
from records.services.messages import NewMessage, messages_for_event

__all__ = [
    "AuditLog",
    "CaseRepository",
    "ConcurrentUpdate",
    "DuplicateSubmission",
    "NumberTaken",
    "DueDeadline",
    "EvidenceRepository",
    "NoteRepository",
    "SentLog",
    "SessionRepository",
    "StaffRepository",
    "TalkRepository",
    "UnitOfWork",
    "retrying",
]

log = logging.getLogger(__name__)
T = TypeVar("T")


class NumberTaken(CaseError):
    """Another case already has this number (the caller picks a new one)."""


class DuplicateSubmission(CaseError):
    """A case with this submission key exists already (a retried submission)."""


class ConcurrentUpdate(CaseError):
    """Somebody else changed the case since it was read; reload and try again."""


@dataclass(frozen=True)
class DueDeadline:
    """A dated deadline of a case, with what a reminder needs to know of the case."""

    number: str
    status: Status
    route: str
    villager: str
    agency: AgencyRef | None
    deadline: CaseDeadline


class CaseRepository(Protocol):
    """Cases.  Every case added or loaded is tracked (``seen``) so that commit saves it."""

    @property
    def seen(self) -> list[Case]: ...
    def add(self, case: Case) -> None: ...
    def save(self, case: Case) -> None: ...
    def get(self, number: str, *, lock: bool = False) -> Case | None: ...
    def get_by_submission_key(self, key: str) -> Case | None: ...
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
    ) -> builtins.list[Case]: ...
    def due_deadlines(
        self, until: date, deadline_ids: Iterable[str]
    ) -> builtins.list[DueDeadline]: ...


class StaffRepository(Protocol):
    """Staff members and their invites."""

    def get(self, identity: ChannelIdentity) -> StaffMember | None: ...
    def save(self, member: StaffMember, at: datetime) -> None: ...
    def of_agency(self, agency_id: str, roles: Iterable[str]) -> list[StaffMember]: ...
    def active(self) -> list[StaffMember]: ...
    def deactivate(self, identity: ChannelIdentity, at: datetime) -> bool: ...
    def set_reachable(self, identity: ChannelIdentity, reachable: bool, at: datetime) -> bool: ...
    def add_invite(self, invite: Invite) -> None: ...
    def invite(self, code_hash: str) -> Invite | None: ...
    def spend_invite(self, invite: Invite, used_by: str, at: datetime) -> bool: ...


class NoteRepository(Protocol):
    def add(self, note: Note) -> None: ...
    def for_case(self, number: str) -> list[Note]: ...


class EvidenceRepository(Protocol):
    def add(self, item: Evidence) -> bool: ...
    def pending(self, sender_id: str) -> list[Evidence]: ...
    def attach(self, items: Iterable[Evidence], number: str) -> None: ...
    def for_case(self, number: str) -> list[Evidence]: ...
    def received(self, senders: tuple[str, ...], *, since: datetime) -> tuple[int, int]:
        """How many files, and how many bytes, came from ``senders`` (or an id under one of
        them, ``<sender>:…``) from ``since`` on."""
        ...


class SessionRepository(Protocol):
    def add(
        self, number: str, day: date, details: str, scheduled_by: str, at: datetime
    ) -> CaseSession: ...
    def for_case(self, number: str) -> list[CaseSession]: ...
    def cases_on(self, day: date) -> list[str]: ...


class TalkRepository(Protocol):
    def open(
        self, number: str, staff: str, villager: str, villager_chat: str, at: datetime
    ) -> Talk: ...
    def involving(self, chat: str, actor: str) -> Talk | None: ...
    def for_staff(self, actor: str) -> Talk | None: ...
    def close(self, talk_id: int, at: datetime) -> bool: ...
    def close_for_case(self, number: str, at: datetime) -> list[Talk]: ...


class AuditLog(Protocol):
    """The append-only audit trail: entries are added, never changed."""

    def add(self, entry: AuditEntry) -> None: ...
    def for_case(self, number: str) -> builtins.list[AuditEntry]: ...
    def by_actor(self, actor: str) -> builtins.list[AuditEntry]: ...
    def count(self, actor: str, action: str, *, since: datetime) -> int: ...


class SentLog(Protocol):
    """What went out already, so that reminders and digests go out once however often the
    loop runs and however many bots run it.  Each method is False when it was done before."""

    def reminder(self, number: str, deadline_id: str, due: date, kind: str, at: datetime) -> bool: ...
    def digest(self, staff: str, day: date, cases: int, at: datetime) -> bool: ...


class UnitOfWork(abc.ABC):
    """One transaction over the repositories and the outbox."""

    cases: CaseRepository
    staff: StaffRepository
    notes: NoteRepository
    evidence: EvidenceRepository
    sessions: SessionRepository
    talks: TalkRepository
    sent: SentLog
    audit: AuditLog

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.events: list[DomainEvent] = []
        self._queued: list[NewMessage] = []
        #: Who exactly gets each message (records/services/addressing.py; set by the door,
        #: records/api.py).  Without it, messages are written as the events address them.
        self.address: Callable[[UnitOfWork, list[NewMessage]], list[NewMessage]] | None = None
        #: The current transaction only reads (``with uow.reading():``).
        self.read_only = False
        self._next_read_only = False

    def reading(self) -> UnitOfWork:
        """Make the next ``with`` block a transaction that only reads (on SQLite it then
        never waits for the write lock); committing it is an error."""
        self._next_read_only = True
        return self

    def __enter__(self) -> UnitOfWork:
        self.events = []
        self._queued = []
        self.read_only, self._next_read_only = self._next_read_only, False
        self._begin()
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.rollback()
        finally:
            self._end()

    def queue(self, messages: list[NewMessage]) -> None:
        """Rows to write as they are (already one per person), after the events' rows."""
        self._queued.extend(messages)

    def emit(self, event: DomainEvent) -> None:
        """Raise an event that is not a case's own (it goes out after the cases' events)."""
        self.events.append(event)

    def commit(self) -> None:
        """Save every touched case, queue the messages of every event, commit — or nothing."""
        if self.read_only:
            raise RuntimeError("a reading unit of work cannot commit")
        touched = self.cases.seen
        for case in touched:
            self.cases.save(case)
        messages: list[NewMessage] = []
        for case in touched:
            for event in case.events:
                messages.extend(messages_for_event(event, case))
        for event in self.events:
            messages.extend(messages_for_event(event, None))
        if self.address is not None:
            messages = self.address(self, messages)
        self._queue([*messages, *self._queued])
        self._commit()
        # Only now: had the commit failed, the events would still be there to retry.
        self.events.clear()
        self._queued = []
        for case in touched:
            case.events.clear()

    @abc.abstractmethod
    def _begin(self) -> None: ...

    @abc.abstractmethod
    def _end(self) -> None: ...

    @abc.abstractmethod
    def _queue(self, messages: list[NewMessage]) -> None: ...

    @abc.abstractmethod
    def _commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None:
        """Forget everything since the last commit."""

    def transient(self, exc: BaseException) -> bool:
        """Is this error worth retrying the whole transaction for?  (Only a database says.)"""
        return False


def retrying(uow: UnitOfWork, action: Callable[[], T], *, attempts: int = 5) -> T:
    """Run ``action()`` (a whole transaction), again after a deadlock or a busy database.

    Only errors the unit of work calls transient are retried, after a short jittered pause;
    anything else — and the last transient error — is raised.
    """
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Exception as exc:
            if attempt == attempts or not uow.transient(exc):
                raise
            log.info("transient database error (attempt %s), retrying", attempt)
            time.sleep(0.02 * attempt + random.random() * 0.02)
    raise AssertionError("unreachable: the loop returns or raises")
