"""Load and check ``knowledge/reminders.yml``: which deadlines are reminded of, to whom.

* ``agency_duties`` — deadline id → the case statuses in which the agency has not yet done
  what the deadline asks (a reminder before it, an escalation after it);
* ``villager_windows`` — deadlines that are the villager's own (e.g. 30 days to ask for
  司法确认): the villager is reminded before they end.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from knowledge.case_rules import STATUSES
from knowledge.schema import KnowledgeError

if TYPE_CHECKING:
    from knowledge.base import Knowledge

__all__ = ["REMINDERS_FILE", "ReminderRules", "load_reminder_rules"]

REMINDERS_FILE = "reminders.yml"


@dataclass(frozen=True)
class ReminderRules:
    """knowledge/reminders.yml, checked against deadlines.yml and the case statuses."""

    agency_duties: Mapping[str, frozenset[str]]
    villager_windows: frozenset[str]


def load_reminder_rules(root: Path, knowledge: Knowledge) -> ReminderRules:
    """Load and check ``<root>/reminders.yml``; KnowledgeError names file, entry and field."""
    path = Path(root) / REMINDERS_FILE
    if not path.is_file():
        raise KnowledgeError(str(path), None, None, "file is missing")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise KnowledgeError(str(path), None, None, f"YAML error: {exc}") from exc
    duties: dict[str, frozenset[str]] = {}
    for deadline_id, statuses in (data.get("agency_duties") or {}).items():
        if deadline_id not in knowledge.deadlines:
            raise KnowledgeError(
                REMINDERS_FILE, deadline_id, "agency_duties", "unknown deadline (deadlines.yml)"
            )
        unknown = [s for s in statuses or () if s not in STATUSES]
        if unknown:
            raise KnowledgeError(
                REMINDERS_FILE,
                deadline_id,
                "agency_duties",
                f"unknown status {unknown[0]!r}; expected one of {', '.join(STATUSES)}",
            )
        duties[deadline_id] = frozenset(statuses or ())
    windows = frozenset(data.get("villager_windows") or ())
    for deadline_id in windows:
        if deadline_id not in knowledge.deadlines:
            raise KnowledgeError(
                REMINDERS_FILE, deadline_id, "villager_windows", "unknown deadline (deadlines.yml)"
            )
    return ReminderRules(duties, windows)
