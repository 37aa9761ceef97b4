"""Load and validate ``knowledge/case_rules.yml``: the rules the case records apply.

The statutory deadlines, agencies and legal-aid rules live in the files that
:mod:`knowledge.loader` loads; this file adds what only the case records need — the
诉访分离 keywords, the emergency keywords, which deadline a case gets at which step of its
life, and the words villagers use to say how long they have left.  Problems are reported as
:class:`knowledge.loader.KnowledgeError` naming the file, the entry and the field.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, Extra, ValidationError, conint, constr, validator

from knowledge.schema import DISPUTE_TYPE_CODES, ROUTES, KnowledgeError
from knowledge.text import compact

if TYPE_CHECKING:
    from knowledge.base import Knowledge

__all__ = [
    "CASE_RULES_FILE",
    "ROLES",
    "STATUSES",
    "CaseRules",
    "DeadlineTrigger",
    "EmergencyRules",
    "LegalRoute",
    "LitigationRedirect",
    "TimeLimitWords",
    "load_case_rules",
]

CASE_RULES_FILE = "case_rules.yml"

#: Case statuses (GLOSSARY.md).  Schema, not knowledge: the lifecycle table branches on them.
STATUSES: tuple[str, ...] = (
    "submitted",
    "routed",
    "accepted",
    "in_progress",
    "resolved",
    "closed",
    "returned",
    "escalated",
)

#: Staff roles (GLOSSARY.md).  Schema too: rights are decided by role (records/domain/staff.py).
ROLES: tuple[str, ...] = ("mediator", "agent", "agency_staff", "admin")

NonEmptyStr = constr(strip_whitespace=True, min_length=1)
Id = constr(regex=r"^[a-z0-9_]+$", min_length=1)


class _Model(BaseModel):
    class Config:
        extra = Extra.forbid
        allow_mutation = False
        anystr_strip_whitespace = True


def _keywords_present(value: list[str]) -> list[str]:
    if not value:
        raise ValueError("must list at least one keyword")
    return value


class LegalRoute(_Model):
    """One legal route a petition is redirected to (信访工作条例 Art 31 item)."""

    id: Id  # type: ignore[valid-type]
    article: NonEmptyStr  # type: ignore[valid-type]
    name: NonEmptyStr  # type: ignore[valid-type]
    explain: NonEmptyStr  # type: ignore[valid-type]
    keywords: list[NonEmptyStr]  # type: ignore[valid-type]

    _check_keywords = validator("keywords", allow_reuse=True)(_keywords_present)

    def matched(self, text: str) -> list[str]:
        """The keywords of this route found in the (normalised) text."""
        norm = compact(text)
        return [k for k in self.keywords if compact(k) in norm]


class LitigationRedirect(_Model):
    """诉访分离: which petitions are really litigation, arbitration or administrative review."""

    law: NonEmptyStr  # type: ignore[valid-type]
    offer: NonEmptyStr  # type: ignore[valid-type]
    routes: list[LegalRoute]

    @validator("offer")
    def _offer_is_route(cls, value: str) -> str:
        if value not in ROUTES:
            raise ValueError(f"must be one of {', '.join(ROUTES)}")
        return value


class EmergencyRules(_Model):
    """Words that mean danger now, and the agency kind that takes the urgent handoff."""

    agency_kind: Id  # type: ignore[valid-type]
    keywords: list[NonEmptyStr]  # type: ignore[valid-type]

    _check_keywords = validator("keywords", allow_reuse=True)(_keywords_present)

    def matched(self, text: str) -> list[str]:
        """The emergency keywords found in the (normalised) text."""
        norm = compact(text)
        return [k for k in self.keywords if compact(k) in norm]


class DeadlineTrigger(_Model):
    """When a case reaches ``when`` (and matches the filters), it gets ``deadline``."""

    when: NonEmptyStr  # type: ignore[valid-type]
    route: NonEmptyStr | None = None  # type: ignore[valid-type]
    dispute_type: NonEmptyStr | None = None  # type: ignore[valid-type]
    outcome: NonEmptyStr | None = None  # type: ignore[valid-type]
    deadline: Id  # type: ignore[valid-type]
    start: NonEmptyStr = "event"  # type: ignore[valid-type]
    information: bool = False

    @validator("when")
    def _when_is_status(cls, value: str) -> str:
        if value not in STATUSES:
            raise ValueError(f"must be one of {', '.join(STATUSES)}")
        return value

    @validator("route")
    def _route_known(cls, value: str | None) -> str | None:
        if value is not None and value not in ROUTES:
            raise ValueError(f"must be one of {', '.join(ROUTES)}")
        return value

    @validator("dispute_type")
    def _dispute_type_known(cls, value: str | None) -> str | None:
        if value is not None and value not in DISPUTE_TYPE_CODES:
            raise ValueError(f"must be one of {', '.join(DISPUTE_TYPE_CODES)}")
        return value

    @validator("start")
    def _start_form(cls, value: str) -> str:
        if value in ("event", "knew_since") or value.startswith("deadline:"):
            return value
        raise ValueError("must be 'event', 'knew_since' or 'deadline:<id>'")

    @property
    def start_deadline(self) -> str | None:
        """The deadline id this one runs on from (``start: deadline:<id>``), else None."""
        start = str(self.start)
        return start.split(":", 1)[1] if start.startswith("deadline:") else None

    def applies(
        self, status: str, route: str, dispute_type: str, outcome: str | None = None
    ) -> bool:
        """Does this trigger fire for a case reaching ``status``?"""
        return (
            self.when == status
            and (self.route is None or self.route == route)
            and (self.dispute_type is None or self.dispute_type == dispute_type)
            and (self.outcome is None or self.outcome == outcome)
        )


class TimeLimitWords(_Model):
    """Words villagers use when asked whether a time limit is close."""

    none: list[NonEmptyStr]  # type: ignore[valid-type]
    remaining: list[NonEmptyStr]  # type: ignore[valid-type]
    units: dict[NonEmptyStr, conint(gt=0)]  # type: ignore[valid-type]
    relative_days: dict[NonEmptyStr, conint(ge=0)]  # type: ignore[valid-type]
    this_week: list[NonEmptyStr]  # type: ignore[valid-type]
    next_week: list[NonEmptyStr]  # type: ignore[valid-type]
    month_end: list[NonEmptyStr]  # type: ignore[valid-type]


class DateFormats(_Model):
    """How a date is written for the villager: 12月12日, or 2027年1月5日 in another year."""

    this_year: NonEmptyStr  # type: ignore[valid-type]
    other_year: NonEmptyStr  # type: ignore[valid-type]

    @validator("this_year", "other_year")
    def _placeholders(cls, value: str, field: Any) -> str:
        names = {n for _, n, _, _ in string.Formatter().parse(value) if n is not None}
        allowed = {"year", "month", "day"} if field.name == "other_year" else {"month", "day"}
        if not names or not names <= allowed:
            raise ValueError(
                "may only use the placeholders " + ", ".join("{" + n + "}" for n in sorted(allowed))
            )
        return value


class LegalAidScreeningRules(_Model):
    """Which Art 42 groups may also be recognised from the facts, not only economic status."""

    exempt_groups_from_facts: list[Id] = []  # type: ignore[valid-type]


class CaseRules(_Model):
    """Everything in knowledge/case_rules.yml, validated against the rest of the knowledge."""

    dates: DateFormats
    litigation_redirect: LitigationRedirect
    emergency: EmergencyRules
    case_deadlines: list[DeadlineTrigger]
    undated_notes: dict[Id, NonEmptyStr]  # type: ignore[valid-type]
    outcomes: list[Id]  # type: ignore[valid-type]
    time_limit_answers: TimeLimitWords
    legal_aid_screening: LegalAidScreeningRules

    def triggers_for(
        self, status: str, route: str, dispute_type: str, outcome: str | None = None
    ) -> list[DeadlineTrigger]:
        """The deadline triggers that fire when a case reaches ``status``."""
        return [t for t in self.case_deadlines if t.applies(status, route, dispute_type, outcome)]

    def format_date(self, year: int, month: int, day: int, same_year: bool) -> str:
        """A date in villager words (“12月12日”; the year only when it differs)."""
        template = self.dates.this_year if same_year else self.dates.other_year
        return str(template).format(year=year, month=month, day=day)


def _error_from(exc: ValidationError, file: str, entry: str) -> KnowledgeError:
    error = exc.errors()[0]
    loc = [str(p) if not isinstance(p, int) else f"[{p}]" for p in error["loc"] if p != "__root__"]
    field = ".".join(loc).replace(".[", "[") or None
    return KnowledgeError(file, entry, field, error["msg"])


def _check_against_knowledge(rules: CaseRules, knowledge: Knowledge, file: str) -> None:
    """Cross-file checks: every id named here must exist in the other knowledge files."""
    if rules.emergency.agency_kind not in knowledge.agency_kinds:
        raise KnowledgeError(
            file, "emergency", "agency_kind", f"unknown agency kind {rules.emergency.agency_kind!r}"
        )
    route_ids = [r.id for r in rules.litigation_redirect.routes]
    if len(set(route_ids)) != len(route_ids):
        raise KnowledgeError(file, "litigation_redirect", "routes", "duplicate route id")
    for index, trigger in enumerate(rules.case_deadlines):
        entry = f"case_deadlines[{index}]"
        if trigger.deadline not in knowledge.deadlines:
            raise KnowledgeError(
                file, entry, "deadline", f"unknown deadline {trigger.deadline!r} (deadlines.yml)"
            )
        start_id = trigger.start_deadline
        if start_id is not None and start_id not in knowledge.deadlines:
            raise KnowledgeError(file, entry, "start", f"unknown deadline {start_id!r}")
        if trigger.outcome is not None and trigger.outcome not in rules.outcomes:
            raise KnowledgeError(
                file, entry, "outcome", f"must be one of {', '.join(rules.outcomes)}"
            )
        if trigger.start == "knew_since" and trigger.deadline not in rules.undated_notes:
            raise KnowledgeError(
                file,
                entry,
                "start",
                f"knew_since needs an undated_notes entry for {trigger.deadline!r} "
                "(what to tell the villager when the date is unknown)",
            )
    for deadline_id in rules.undated_notes:
        if deadline_id not in knowledge.deadlines:
            raise KnowledgeError(file, "undated_notes", deadline_id, "unknown deadline")
    exempt_ids = {item.id for item in knowledge.legal_aid.exempt_groups}
    for index, group in enumerate(rules.legal_aid_screening.exempt_groups_from_facts):
        if group not in exempt_ids:
            raise KnowledgeError(
                file,
                "legal_aid_screening",
                f"exempt_groups_from_facts[{index}]",
                f"unknown exempt group {group!r} (legal_aid.yml exempt_groups)",
            )


def load_case_rules(root: Path | str, knowledge: Knowledge) -> CaseRules:
    """Load ``<root>/case_rules.yml`` and check it against ``knowledge``."""
    path = Path(root) / CASE_RULES_FILE
    shown = str(path)
    if not path.is_file():
        raise KnowledgeError(shown, None, None, "file is missing")
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise KnowledgeError(shown, None, None, f"YAML error: {exc}") from exc
    if not isinstance(raw, Mapping):
        raise KnowledgeError(shown, None, None, "must be a mapping of keys at the top level")
    try:
        rules = CaseRules.parse_obj(raw)
    except ValidationError as exc:
        raise _error_from(exc, shown, "case_rules") from exc
    _check_against_knowledge(rules, knowledge, shown)
    return rules
