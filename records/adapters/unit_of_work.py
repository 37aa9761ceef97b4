"""The unit of work on a database: one SQLAlchemy session, its repositories and the outbox.

A write transaction on SQLite takes the write lock at BEGIN (records/adapters/database.py);
``uow.reading()`` opens a transaction that only reads and never waits for a writer.
"""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from records.adapters.crypto import Cipher
from records.adapters.database import READ_ONLY, is_transient
from records.adapters.orm import outbox
from records.adapters.repository import (
    SqlAlchemyAuditLog,
    SqlAlchemyCaseRepository,
    SqlAlchemyEvidenceRepository,
    SqlAlchemyNoteRepository,
    SqlAlchemySentLog,
    SqlAlchemySessionRepository,
    SqlAlchemyStaffRepository,
    SqlAlchemyTalkRepository,
)
from records.domain.clock import Clock, naive_utc
from records.services.messages import NewMessage
from records.services.unit_of_work import UnitOfWork

__all__ = ["SqlAlchemyUnitOfWork"]


class SqlAlchemyUnitOfWork(UnitOfWork):
    """One database transaction around every repository and the outbox."""

    session: Session

    def __init__(self, engine: Engine, clock: Clock, cipher: Cipher) -> None:
        super().__init__(clock)
        self.engine = engine
        self.cipher = cipher

    def _begin(self) -> None:
        bind = self.engine.execution_options(**{READ_ONLY: True}) if self.read_only else self.engine
        self.session = Session(bind, future=True, expire_on_commit=False)
        self.cases = SqlAlchemyCaseRepository(self.session, self.cipher)
        self.staff = SqlAlchemyStaffRepository(self.session)
        self.notes = SqlAlchemyNoteRepository(self.session, self.cipher)
        self.evidence = SqlAlchemyEvidenceRepository(self.session)
        self.sessions = SqlAlchemySessionRepository(self.session, self.cipher)
        self.talks = SqlAlchemyTalkRepository(self.session)
        self.sent = SqlAlchemySentLog(self.session)
        self.audit = SqlAlchemyAuditLog(self.session)

    def _end(self) -> None:
        self.session.close()

    def _queue(self, messages: list[NewMessage]) -> None:
        if not messages:
            return
        now = naive_utc(self.clock.now())
        self.session.execute(
            insert(outbox),
            [
                {
                    "case_number": m.case_number,
                    "recipient_kind": m.recipient_kind,
                    "recipient_id": m.recipient_id,
                    "kind": m.kind,
                    "message_key": m.message_key,
                    "payload": self.cipher.encrypt_json(dict(m.payload)),
                    "created_at": now,
                    "attempts": 0,
                    "next_attempt_at": now,
                }
                for m in messages
            ],
        )

    def _commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()

    def transient(self, exc: BaseException) -> bool:
        return is_transient(exc)
