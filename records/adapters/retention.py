"""Retention: a closed case's personal data removed after the period the county sets.

``xiangyin cases purge`` (off unless XIANGYIN_PURGE_AFTER_DAYS is set) calls
:func:`purge_closed`.  A case closed longer ago than the period keeps what an archive of the
matter needs — its number, route, dispute type, place, agency, every status change with its
time and actor, the statutory deadlines, the outcome and the audit trail — and loses what
names or describes the person: name, phone, the conversation id, the story and its facts, the
details of its history, notes, appointment places, the messages about it, and the files they
sent (deleted from disk).  Each purge is written to the audit trail.

README "Security and privacy" says what the county must archive first (信访档案).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from records.adapters.crypto import Cipher
from records.adapters.orm import (
    case_events,
    case_notes,
    case_sessions,
    cases,
    evidence,
    outbox,
)
from records.adapters.repository import SqlAlchemyAuditLog
from records.domain.clock import Clock, naive_utc
from records.domain.staff import AuditEntry

__all__ = ["PURGED_SENDER", "PurgeReport", "purge_closed"]

log = logging.getLogger(__name__)

#: What stands for the villager's conversation id once it is purged.
PURGED_SENDER = "purged"
#: The shortest period accepted: a typo must not wipe last week's cases.
MIN_DAYS = 30


@dataclass(frozen=True)
class PurgeReport:
    numbers: list[str]
    files_deleted: int
    dry_run: bool


def purge_closed(
    engine: Engine,
    cipher: Cipher,
    clock: Clock,
    *,
    after_days: int,
    actor: str,
    dry_run: bool = False,
    batch: int = 200,
) -> PurgeReport:
    """Purge every case closed more than ``after_days`` ago and not purged yet."""
    if after_days < MIN_DAYS:
        raise ValueError(f"a retention period under {MIN_DAYS} days is refused")
    at = clock.now()
    now = naive_utc(at)
    cutoff = now - timedelta(days=after_days)
    due = (
        select(cases.c.id, cases.c.number)
        .where(
            cases.c.status == "closed",
            cases.c.purged_at.is_(None),
            cases.c.updated_at < cutoff,
        )
        .order_by(cases.c.id)
    )
    with engine.connect() as conn:
        found = conn.execute(due).all()
    if dry_run:
        return PurgeReport([r.number for r in found], 0, True)

    empty = cipher.encrypt_json({})
    files: list[str] = []
    for start in range(0, len(found), batch):
        chunk = found[start : start + batch]
        ids = [r.id for r in chunk]
        numbers = [r.number for r in chunk]
        with engine.begin() as conn:
            conn.execute(
                update(cases)
                .where(cases.c.id.in_(ids), cases.c.purged_at.is_(None))
                .values(
                    villager_name=None,
                    villager_phone=None,
                    sender_id=PURGED_SENDER,
                    facts=empty,
                    purged_at=now,
                )
            )
            conn.execute(
                update(case_events).where(case_events.c.case_id.in_(ids)).values(details=empty)
            )
            conn.execute(
                update(case_notes)
                .where(case_notes.c.case_number.in_(numbers))
                .values(text=cipher.encrypt(""))
            )
            conn.execute(
                update(case_sessions)
                .where(case_sessions.c.case_number.in_(numbers))
                .values(details=empty)
            )
            conn.execute(
                update(outbox).where(outbox.c.case_number.in_(numbers)).values(payload=empty)
            )
            files += [
                p
                for (p,) in conn.execute(
                    select(evidence.c.stored_path).where(
                        evidence.c.case_number.in_(numbers), evidence.c.stored_path.is_not(None)
                    )
                )
            ]
            conn.execute(
                update(evidence)
                .where(evidence.c.case_number.in_(numbers))
                .values(stored_path=None, file_id="", file_unique_id="", sender_id=PURGED_SENDER)
            )
            trail = SqlAlchemyAuditLog(Session(bind=conn))
            for number in numbers:
                trail.add(AuditEntry(at, actor, "purge", number, {"after_days": after_days}))
    deleted = 0
    for path in files:  # after the commit: a failed purge never leaves a case without its files
        try:
            os.unlink(Path(path))
            deleted += 1
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("purge: could not delete an evidence file: %s", exc.strerror)
    return PurgeReport([r.number for r in found], deleted, False)
