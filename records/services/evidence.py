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
"""

from __future__ import annotations

from dataclasses import dataclass

from records.domain.events import VoiceNoteReceived
from records.domain.staff import VOICE, Evidence, Talk
from records.services.unit_of_work import UnitOfWork

__all__ = ["FileDestination", "keep_file", "where_file_goes"]


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
