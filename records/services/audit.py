"""The audit trail (权力运行可追溯): what staff saw and did, for whoever must answer for it.

The use cases write their own entries (a look at a case, a move, a note, a talk); this module
is for reading the trail and for the looks that happen outside them (an operator's command
line).
"""

from __future__ import annotations

from records.domain.staff import AuditEntry
from records.services.unit_of_work import UnitOfWork

__all__ = ["record", "trail"]


def record(uow: UnitOfWork, actor: str, action: str, number: str | None) -> None:
    """Write one entry."""
    with uow:
        uow.audit.add(AuditEntry(uow.clock.now(), actor, action, number))
        uow.commit()


def trail(
    uow: UnitOfWork, *, number: str | None = None, actor: str | None = None
) -> list[AuditEntry]:
    """A case's entries, or a person's, oldest first."""
    with uow.reading():
        if number is not None:
            return uow.audit.for_case(number)
        if actor is not None:
            return uow.audit.by_actor(actor)
    return []
