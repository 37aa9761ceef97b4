"""Files villagers send: photos, documents and voice notes kept as evidence.

A file sent while the villager has an open case is recorded on that case.  A file sent
before there is one — typically in the middle of the form — is kept *pending* for its sender
(``case_number`` NULL) and :func:`attach_pending` hands it to the case in the same transaction
that files it, so nothing a villager sends is lost.

A voice note is something a person must listen to (there is no offline Chinese speech
recognition here): when it lands on a case with an agency, an ``agency.voice_note`` outbox
message carries its Telegram file id to the handling staff, who get the recording itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from records.domain import Case
from records.orm import evidence
from records.outbox import AGENCY, NewMessage, OutboxWriter, utcnow

__all__ = ["VOICE", "Evidence", "attach_pending", "evidence_for_case", "record_evidence"]

VOICE = "voice"


@dataclass(frozen=True)
class Evidence:
    """One stored file."""

    case_number: str | None
    kind: str
    telegram_file_id: str
    size: int | None
    duration: int | None
    stored_path: str | None
    received_at: datetime


def _naive(at: datetime) -> datetime:
    return at.astimezone(timezone.utc).replace(tzinfo=None) if at.tzinfo else at


def voice_note_message(case: Case, file_id: str, duration: int | None) -> NewMessage | None:
    """The outbox message that brings a voice note to the case's agency (None: no agency)."""
    if case.agency is None:
        return None
    return NewMessage(
        recipient_kind=AGENCY,
        recipient_id=case.agency.id,
        kind="voice_note",
        message_key="agency.voice_note",
        payload={
            "number": case.number,
            "route": case.route,
            "file_id": file_id,
            "duration": duration,
        },
        case_number=case.number,
    )


def record_evidence(
    engine: Engine,
    *,
    case: Case | None,
    sender_id: str,
    telegram_file_id: str,
    file_unique_id: str,
    kind: str,
    size: int | None,
    duration: int | None = None,
    stored_path: str | None = None,
    notify_staff: bool = True,
) -> bool:
    """Keep a file a villager sent, on ``case`` or pending (``case`` None).

    A voice note on a case is queued for the handling staff in the same transaction (unless
    ``notify_staff`` is False: the caller hands it to them itself).
    Returns False if this file was already recorded on that case.
    """
    try:
        with Session(engine, future=True) as session, session.begin():
            session.execute(
                insert(evidence).values(
                    case_number=case.number if case else None,
                    sender_id=sender_id,
                    telegram_file_id=telegram_file_id,
                    file_unique_id=file_unique_id,
                    kind=kind,
                    size=size,
                    duration=duration,
                    received_at=_naive(utcnow()),
                    stored_path=stored_path,
                )
            )
            if case is not None and kind == VOICE and notify_staff:
                message = voice_note_message(case, telegram_file_id, duration)
                if message is not None:
                    OutboxWriter(session).add(message)
    except IntegrityError:
        return False
    return True


def attach_pending(session: Session, case: Case) -> list[NewMessage]:
    """Give the sender's pending files to the new ``case`` (inside submit_case's transaction).

    Returns the outbox messages for the pending voice notes; the caller queues them after the
    case's own messages, so staff see the case before its recordings."""
    sender = case.villager.sender_id
    rows = session.execute(
        select(evidence.c.id, evidence.c.kind, evidence.c.telegram_file_id, evidence.c.duration)
        .where(evidence.c.sender_id == sender, evidence.c.case_number.is_(None))
        .order_by(evidence.c.id)
    ).all()
    if not rows:
        return []
    session.execute(
        update(evidence)
        .where(evidence.c.id.in_([r.id for r in rows]))
        .values(case_number=case.number)
    )
    messages = []
    for row in rows:
        if row.kind == VOICE:
            message = voice_note_message(case, row.telegram_file_id, row.duration)
            if message is not None:
                messages.append(message)
    return messages


def _evidence(row: Any) -> Evidence:
    return Evidence(
        row.case_number,
        row.kind,
        row.telegram_file_id,
        row.size,
        row.duration,
        row.stored_path,
        row.received_at,
    )


def evidence_for_case(conn: Connection | Engine, case_number: str) -> list[Evidence]:
    """The files of a case, oldest first."""
    query = select(evidence).where(evidence.c.case_number == case_number).order_by(evidence.c.id)
    if isinstance(conn, Engine):
        with conn.connect() as c:
            return [_evidence(r) for r in c.execute(query)]
    return [_evidence(r) for r in conn.execute(query)]
