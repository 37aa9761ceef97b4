"""``xiangyin knowledge check``: load every file in knowledge/ and say what it holds.

Everything a process will load where it starts is checked here first — the county's data
with its case rules and reminder rules, the dialogue's words and the front-end texts — so
that a wrong edit is found by the check (naming the file, the entry and the field), not by a
villager.
"""

from __future__ import annotations

from pathlib import Path

from knowledge.case_rules import ROLES, STATUSES
from knowledge.dialogue import load as load_dialogue
from knowledge.frontend import check_frontend
from knowledge.loader import load_knowledge
from knowledge.schema import KnowledgeError, _display_path

__all__ = ["check"]


def check(root: Path | str | None = None) -> list[str]:
    """Lines describing the knowledge under ``root``; raises KnowledgeError when invalid."""
    knowledge = load_knowledge(root)
    counts = knowledge.summary()
    unverified_years = [str(y.year) for y in knowledge.holidays.years if y.verify]
    real_villages = counts["villages"] - counts["sample_villages"]
    sample_agencies = sum(1 for a in knowledge.agencies if a.sample)
    lines = [
        f"knowledge OK: {_display_path(knowledge.root)}",
        f"county: {knowledge.county.name} ({knowledge.county.id})",
        f"townships: {counts['townships']}",
        f"villages: {counts['villages']} ({counts['sample_villages']} sample, {real_villages} real)",
        f"agency kinds: {counts['agency_kinds']}",
        f"agencies: {counts['agencies']} ({sample_agencies} with sample data)",
        f"routing rules: {counts['routing_rules']}",
        f"deadlines: {counts['deadlines']}",
        "holidays: "
        + ", ".join(str(y.year) for y in knowledge.holidays.years)
        + (f" (to verify: {', '.join(unverified_years)})" if unverified_years else ""),
        f"services: {counts['services']}",
        f"dispute types: {counts['dispute_types']}",
        f"dictionary terms: {counts['terms']}",
        f"case rules: {len(knowledge.rules.emergency.keywords)} emergency words",
        f"reminders: {len(knowledge.reminders.agency_duties)} agency duties",
    ]
    try:
        dialogue = load_dialogue(knowledge.root / "dialogue.yml")
    except ValueError as error:  # DialogueKnowledgeError names the file, the entry, the field
        raise KnowledgeError("knowledge/dialogue.yml", None, None, str(error)) from error
    lines.append(
        f"dialogue: {len(dialogue.faq)} answers to questions, {len(dialogue.fields)} fields to change"
    )
    lines += check_frontend(knowledge.root, STATUSES, ROLES, tuple(knowledge.rules.outcomes))
    if counts["sample_villages"]:
        lines.append(
            "warning: villages are SAMPLE data; import the county's list before going live "
            "(xiangyin knowledge import-villages <csv>)"
        )
    return lines
