"""``xiangyin knowledge check``: load every file in knowledge/ and say what it holds.

Everything a process will load where it starts is checked here first — the county's data,
the case rules, the reminder rules, the dialogue's words and the front-end texts — so that a
wrong edit is found by the check (naming the file, the entry and the field), not by a
villager.
"""

from __future__ import annotations

from pathlib import Path

from knowledge.case_rules import ROLES, STATUSES
from knowledge.county import load_county
from knowledge.frontend import check_frontend
from knowledge.loader import default_knowledge_root, knowledge_check

__all__ = ["check"]


def check(root: Path | str | None = None) -> list[str]:
    """Lines describing the knowledge under ``root``; raises KnowledgeError when invalid."""
    base = Path(root) if root is not None else default_knowledge_root()
    lines = knowledge_check(base)
    county = load_county(base)
    lines.append(f"case rules: {len(county.rules.emergency.keywords)} emergency words")
    lines.append(f"reminders: {len(county.reminders.agency_duties)} agency duties")
    lines += check_frontend(base, STATUSES, ROLES, tuple(county.rules.outcomes))
    return lines
