"""The one door into the case records, for the bot, the action server and the command line.

:class:`Records` binds the services to what a process made where it started — a unit-of-work
factory (a database, or memory in tests), the county's data, the clock and the invite pepper —
so a caller names only the use case and its arguments::

    records = Records(lambda: SqlAlchemyUnitOfWork(engine, clock, cipher), knowledge, clock, pepper)
    records.submit_case(cmd)

:class:`AsyncRecords` is the same door for event-loop callers (the bot, the action server):
each call runs in a worker thread of its own pool, because database work blocks.  That is the
only place blocking database work is wrapped.
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

from knowledge.base import Knowledge
from records.domain.clock import Clock
from records.domain.identity import ChannelIdentity
from records.domain.model import Case
from records.domain.staff import AuditEntry, CaseSession, Evidence, Note, StaffMember, Talk
from records.services import (
    addressing,
    audit,
    cases,
    digest,
    evidence,
    reminders,
    sessions,
    staff,
)
from records.services.messages import OutboxMessage
from records.services.unit_of_work import UnitOfWork

__all__ = ["AsyncRecords", "Records"]


class Records:
    """Every use case on the case records, bound to one process's dependencies."""

    def __init__(
        self,
        make_uow: Callable[[], UnitOfWork],
        knowledge: Knowledge,
        clock: Clock,
        pepper: bytes,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.make_uow = make_uow
        self.knowledge = knowledge
        self.clock = clock
        self.pepper = pepper
        self.rng = rng

    def new_uow(self) -> UnitOfWork:
        """A unit of work whose agency messages go to people (records/services/addressing.py)."""
        uow = self.make_uow()
        uow.address = lambda u, messages: addressing.address(u, messages, self.knowledge)
        return uow

    # ----- cases -------------------------------------------------------------------------

    def submit_case(self, cmd: cases.SubmitCase) -> cases.SubmittedCase:
        return cases.submit_case(self.new_uow(), cmd, knowledge=self.knowledge, rng=self.rng)

    def transition(self, number: str, to_status: str, actor: str, reason: str, **details: Any) -> Case:
        """An operator's move from the command line (written to the audit trail)."""
        return cases.transition(
            self.new_uow(),
            number,
            to_status,
            actor,
            reason,
            knowledge=self.knowledge,
            audit="cli_transition",
            **details,
        )

    def get_case(self, number: str) -> Case:
        return cases.get_case(self.new_uow(), number)

    def find_case_for_villager(self, sender_id: str, number: str) -> Case | None:
        return cases.find_case_for_villager(self.new_uow(), sender_id, number)

    def cases_for_villager(self, sender_id: str) -> list[Case]:
        return cases.cases_for_villager(self.new_uow(), sender_id)

    def cases_filed_by(self, filed_by: str) -> list[Case]:
        return cases.cases_filed_by(self.new_uow(), filed_by)

    def list_cases(self, **filters: Any) -> list[Case]:
        return cases.list_cases(self.new_uow(), **filters)

    # ----- staff -------------------------------------------------------------------------

    def create_invite(self, agency_id: str, role: str, *, created_by: str, **kwargs: Any) -> str:
        return staff.create_invite(
            self.new_uow(),
            agency_id,
            role,
            created_by=created_by,
            knowledge=self.knowledge,
            pepper=self.pepper,
            **kwargs,
        )

    def redeem_invite(self, code: str, identity: ChannelIdentity, name: str) -> StaffMember:
        return staff.redeem_invite(self.new_uow(), code, identity, name, pepper=self.pepper)

    def get_staff(self, identity: ChannelIdentity) -> StaffMember | None:
        return staff.get_staff(self.new_uow(), identity)

    def staff_of_agency(self, agency_id: str, roles: Iterable[str] | None = None) -> list[StaffMember]:
        if roles is None:
            return staff.staff_of_agency(self.new_uow(), agency_id)
        return staff.staff_of_agency(self.new_uow(), agency_id, tuple(roles))

    def active_staff(self) -> list[StaffMember]:
        return staff.active_staff(self.new_uow())

    def deactivate(self, identity: ChannelIdentity, *, by: str = "cli") -> bool:
        return staff.deactivate(self.new_uow(), identity, by=by)

    def view_case(self, member: StaffMember | None, number: str) -> staff.CaseView:
        return staff.view_case(self.new_uow(), member, number, self.knowledge)

    def add_note(self, member: StaffMember | None, number: str, text: str) -> Note:
        return staff.add_note(self.new_uow(), member, number, text, self.knowledge)

    def act_on_case(
        self, member: StaffMember | None, number: str, action: staff.Action, *, text: str = ""
    ) -> Case:
        return staff.act_on_case(self.new_uow(), member, number, action, self.knowledge, text=text)

    def schedule_session(
        self, member: StaffMember | None, number: str, day: date, details: str
    ) -> CaseSession:
        return staff.schedule_session(self.new_uow(), member, number, day, details, self.knowledge)

    def work_list(self, member: StaffMember, *, open_only: bool = False) -> list[digest.WorkItem]:
        return digest.work_list(self.new_uow(), member, self.knowledge, open_only=open_only)

    # ----- talks and files ---------------------------------------------------------------

    def open_talk(self, member: StaffMember | None, number: str, villager_chat: str) -> Talk:
        return staff.open_talk(self.new_uow(), member, number, villager_chat, self.knowledge)

    def talk_involving(self, chat: str, actor: str) -> Talk | None:
        return staff.talk_involving(self.new_uow(), chat, actor)

    def talk_rights(self, talk: Talk, *, staff_speaking: bool = True) -> staff.TalkRights:
        return staff.talk_rights(
            self.new_uow(), talk, self.knowledge, staff_speaking=staff_speaking
        )

    def close_talk(self, talk: Talk) -> bool:
        return staff.close_talk(self.new_uow(), talk)

    def end_talk(self, chat: str, actor: str) -> Talk | None:
        return staff.end_talk(self.new_uow(), chat, actor)

    def where_file_goes(self, sender_id: str, chat: str, actor: str) -> evidence.FileDestination:
        return evidence.where_file_goes(self.new_uow(), sender_id, chat, actor)

    def file_allowance(
        self,
        senders: Iterable[str],
        destination: evidence.FileDestination,
        sender_id: str,
        size: int | None,
        limits: evidence.EvidenceLimits,
    ) -> str | None:
        return evidence.file_allowance(
            self.new_uow(), senders, destination, sender_id, size, limits
        )

    def keep_file(self, item: Evidence, *, notify_staff: bool = True) -> bool:
        return evidence.keep_file(self.new_uow(), item, notify_staff=notify_staff)

    # ----- the daily passes --------------------------------------------------------------

    def queue_reminders(self, days_before: Iterable[int] = (3, 1)) -> reminders.ReminderReport:
        return reminders.queue_reminders(self.new_uow(), self.knowledge, days_before=days_before)

    def queue_session_reminders(self) -> int:
        return sessions.queue_session_reminders(self.new_uow())

    def queue_digests(self) -> int:
        return digest.queue_digests(self.new_uow(), self.knowledge)

    # ----- the audit trail ----------------------------------------------------------------

    def record_read(self, actor: str, number: str, *, personal: bool) -> None:
        """An operator looked at a case outside the bot (the command line)."""
        audit.record(self.new_uow(), actor, "read_personal" if personal else "read", number)

    def audit_trail(self, *, number: str | None = None, actor: str | None = None) -> list[AuditEntry]:
        return audit.trail(self.new_uow(), number=number, actor=actor)

    # ----- the outbox -------------------------------------------------------------------

    def address_again(self, message: OutboxMessage) -> int:
        return addressing.address_again(self.new_uow(), message, self.knowledge)

    def recipient_unreachable(self, message: OutboxMessage) -> int:
        return addressing.recipient_unreachable(self.new_uow(), message, self.knowledge)

    def staff_heard_from(self, identity: ChannelIdentity) -> bool:
        return staff.heard_from(self.new_uow(), identity)


class AsyncRecords:
    """:class:`Records` for coroutines: ``await records.get_case(n)`` runs ``get_case`` in a
    worker thread.  Every public method of Records is here, with the same arguments."""

    def __init__(self, records: Records, *, workers: int = 16) -> None:
        self.sync = records
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="records")

    @property
    def knowledge(self) -> Knowledge:
        return self.sync.knowledge

    @property
    def clock(self) -> Clock:
        return self.sync.clock

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.sync, name)
        if name.startswith("_") or not callable(method):
            raise AttributeError(name)

        @functools.wraps(method)
        async def call(*args: Any, **kwargs: Any) -> Any:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, functools.partial(method, *args, **kwargs))

        return call

    def close(self) -> None:
        """Stop the worker threads (after the last call)."""
        self._pool.shutdown(wait=True)
