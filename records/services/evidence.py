"""Files villagers send: photos, documents and voice notes kept as evidence.

Which case a file belongs to is decided here, not by the front end:

* in a talk with a staff member, the case talked about;
* otherwise the sender's latest open case;
* otherwise none yet — typically the form is still being filled — and the file is kept
  *pending* for its sender; filing the case attaches it (records/services/cases.py), so
  nothing a villager sends is lost.

A voice note is something a person must listen to: when it lands on a case with an agency, a
VoiceNoteReceived event brings it to the handling staff (unless they are in a talk with the
villager and get the file itself).

Files take disk space, so each person has an allowance (:class:`EvidenceLimits`): so many
files and bytes a day, and so many bytes on one case; :func:`file_allowance` says whether
one more file fits, before anything is fetched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from records.domain.events import VoiceNoteReceived
from records.domain.staff import VOICE, Evidence, Talk
from records.services.unit_of_work import UnitOfWork

__all__ = [
    "CASE_FULL",
    "DAILY_BYTES",
    "DAILY_FILES",
    "EvidenceLimits",
    "FileDestination",
    "file_allowance",
    "keep_file",
    "where_file_goes",
]

#: Why a file does not fit (:func:`file_allowance`).
DAILY_FILES = "daily_files"
DAILY_BYTES = "daily_bytes"
CASE_FULL = "case_full"
_DAY = timedelta(hours=24)
_MB = 1024 * 1024


@dataclass(frozen=True)
class EvidenceLimits:
    """How much one person may send (within any 24 hours) and one case may hold."""

    daily_files: int = 30
    daily_bytes: int = 100 * _MB
    case_bytes: int = 200 * _MB


@dataclass(frozen=True)
class FileDestination:
    """Where a file goes: ``case_number`` (None: pending) and the talk it came in, if any."""

    case_number: str | None
    talk: Talk | None


def where_file_goes(uow: UnitOfWork, sender_id: str, chat: str, actor: str) -> FileDestination:
    """The case a file from ``sender_id`` (in ``chat``, sent by ``actor``) belongs to."""
    with uow.reading():
        talk = uow.talks.involving(chat, actor)
        if talk is not None:
            return FileDestination(talk.case_number, talk)
        open_case = next((c for c in uow.cases.list(sender_id=sender_id) if c.is_open), None)
        return FileDestination(open_case.number if open_case else None, None)


def file_allowance(
    uow: UnitOfWork,
    senders: Iterable[str],
    destination: FileDestination,
    sender_id: str,
    size: int | None,
    limits: EvidenceLimits,
) -> str | None:
    """Whether one more file of ``size`` bytes fits: None, or why not (DAILY_FILES,
    DAILY_BYTES, CASE_FULL).

    ``senders`` are the conversation ids of the person sending (each also counts the ids
    under it, ``<id>:…`` — a proxy agent's filings); ``sender_id`` the conversation the file
    comes in, whose pending files count towards the case they will join."""
    size = size or 0
    with uow.reading():
        files, sent = uow.evidence.received(tuple(senders), since=uow.clock.now() - _DAY)
        if files >= limits.daily_files:
            return DAILY_FILES
        if sent + size > limits.daily_bytes:
            return DAILY_BYTES
        number = destination.case_number
        on_case = uow.evidence.for_case(number) if number else uow.evidence.pending(sender_id)
        if sum(item.size or 0 for item in on_case) + size > limits.case_bytes:
            return CASE_FULL
    return None


def keep_file(uow: UnitOfWork, item: Evidence, *, notify_staff: bool = True) -> bool:
    """Record the file (on ``item.case_number``, or pending).  A voice note on a case with an
    agency is queued for its staff in the same transaction unless ``notify_staff`` is False.

    Returns False if this very file was already recorded on that case."""
    with uow:
        if not uow.evidence.add(item):
            return False
        if item.kind == VOICE and notify_staff and item.case_number is not None:
            case = uow.cases.get(item.case_number)
            if case is not None and case.agency is not None:
                uow.emit(
                    VoiceNoteReceived(
                        at=item.received_at,
                        number=case.number,
                        route=case.route,
                        agency=case.agency,
                        file_id=item.file_id,
                        duration=item.duration,
                    )
                )
        uow.commit()
    return True
