"""Everything in ``knowledge/`` that the case records use, loaded and checked in one go.

A process loads its :class:`County` once where it starts (the bot, the action server, the
command line) and passes it down; nothing below reaches for a cached global.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from knowledge.case_rules import CaseRules, load_case_rules
from knowledge.loader import Knowledge, load_knowledge
from knowledge.reminders import ReminderRules, load_reminder_rules

__all__ = ["County", "load_county"]


@dataclass(frozen=True)
class County:
    """The county's data (knowledge/*.yml), its case rules and its reminder rules."""

    knowledge: Knowledge
    rules: CaseRules
    reminders: ReminderRules
    root: Path


def load_county(root: Path | str) -> County:
    """Load and check the knowledge under ``root``; raises KnowledgeError naming the file,
    the entry and the field of the first problem."""
    base = Path(root)
    knowledge = load_knowledge(base)
    return County(
        knowledge=knowledge,
        rules=load_case_rules(base, knowledge),
        reminders=load_reminder_rules(base, knowledge),
        root=base,
    )
