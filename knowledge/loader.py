"""The 乡音 knowledge base: load, validate and query the YAML files in ``knowledge/``.

Knowledge is data: townships and villages, agencies, routing rules, statutory deadlines,
holidays, legal-aid rules, the service catalogue, dispute types and dictionary terms all live
in YAML so that a county can be set up without touching code.  Everything is validated when
it is loaded, and any problem is reported as a :class:`KnowledgeError` that names the file,
the entry and the field, so the person editing the YAML knows exactly what to fix.

Public API (other modules code against exactly this)::

    knowledge = get_knowledge()                      # cached, default root
    knowledge = load_knowledge("path/to/knowledge")  # fresh load of any root
    knowledge.find_place("共和镇天台村")
    knowledge.route_case("mediation", "neighbour", "gonghe", "tiantai")
    knowledge.match_service("异地就医咋个备案")
    import_villages_csv("villages.csv", "knowledge/")
    knowledge_check("knowledge/")
"""

from __future__ import annotations

import csv
import functools
import hashlib
import math
import os
import string
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping, Optional, Sequence, TypeVar

import yaml
from pydantic import (
    BaseModel,
    Extra,
    Field,
    ValidationError,
    confloat,
    conint,
    constr,
    validator,
)

__all__ = [
    "DEFAULT_ROOT",
    "DISPUTE_TYPE_CODES",
    "LEVELS",
    "ROUTES",
    "START_EVENTS",
    "UNITS",
    "Agency",
    "AgencyKind",
    "County",
    "Deadline",
    "DisputeType",
    "Holidays",
    "Knowledge",
    "KnowledgeError",
    "LegalAidItem",
    "LegalAidRules",
    "Location",
    "PlaceCandidate",
    "PlaceMatch",
    "RoutingDecision",
    "RoutingRule",
    "Service",
    "Township",
    "Village",
    "VillageImportResult",
    "clear_knowledge_cache",
    "default_knowledge_root",
    "get_knowledge",
    "import_villages_csv",
    "knowledge_check",
    "load_knowledge",
    "normalise_text",
]

# ---------------------------------------------------------------------------
# Vocabulary that code depends on.  These are schema, not knowledge: the case model, the
# forms and the deadline calculator branch on them, so they are fixed here and the YAML is
# checked against them.
# ---------------------------------------------------------------------------

#: The four kinds of case (GLOSSARY.md "Route").
ROUTES: tuple[str, ...] = ("petition", "mediation", "legal_aid", "service")
#: The twelve dispute-type codes (GLOSSARY.md "dispute_type").
DISPUTE_TYPE_CODES: tuple[str, ...] = (
    "land",
    "neighbour",
    "family",
    "labour",
    "traffic",
    "debt",
    "injury",
    "housing",
    "medical",
    "consumer",
    "environment",
    "other",
)
#: Units a statutory deadline can be counted in (RULES.md).
UNITS: tuple[str, ...] = ("日", "工作日", "年", "月", "小时")
#: Events a deadline can run from.
START_EVENTS: tuple[str, ...] = (
    "收到",
    "登记",
    "受理",
    "决定",
    "答复",
    "收到答复",
    "收到复查意见",
    "知道或应当知道",
    "协议生效",
    "申请",
    "裁决送达",
    "事故发生",
    "期限届满",
)
#: Agency levels, lowest first.  Escalation chains may only stay level or go up.
LEVELS: tuple[str, ...] = ("village", "township", "county")
_LEVEL_RANK = {level: rank for rank, level in enumerate(LEVELS)}
#: Placeholders an agency-name template may use, per level.
_TEMPLATE_FIELDS: dict[str, frozenset[str]] = {
    "village": frozenset({"county", "township", "township_short", "village"}),
    "township": frozenset({"county", "township", "township_short"}),
    "county": frozenset({"county"}),
}
WILDCARD = "*"

_FILES = {
    "jurisdictions": "jurisdictions.yml",
    "agencies": "agencies.yml",
    "routing": "routing.yml",
    "deadlines": "deadlines.yml",
    "holidays": "holidays.yml",
    "legal_aid": "legal_aid.yml",
    "services": "services.yml",
    "dispute_types": "dispute_types.yml",
    "terms": "terms.yml",
}

#: Repository default: <repo>/knowledge, next to this package.
DEFAULT_ROOT = Path(__file__).resolve().parent
ENV_ROOT = "XIANGYIN_KNOWLEDGE_DIR"


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


class KnowledgeError(Exception):
    """A knowledge file is missing, unreadable or invalid.

    ``str(error)`` reads like
    ``knowledge/deadlines.yml: entry 'petition_handling': field 'unit': must be one of 日, 工作日,
    年, 月, 小时 (got '天')`` so that whoever edits the YAML can find the spot at once.
    """

    def __init__(self, file: str, entry: str | None, field: str | None, message: str) -> None:
        self.file = file
        self.entry = entry
        self.field = field
        self.message = message
        parts = [file]
        if entry is not None:
            parts.append(f"entry '{entry}'")
        if field is not None:
            parts.append(f"field '{field}'")
        super().__init__(": ".join(parts) + ": " + message)


def _display_path(path: Path) -> str:
    """Show a path relative to the working directory when possible (short, clickable)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------------------
# Models.  Immutable, and unknown fields are rejected so that a typo such as ``uint:``
# fails loudly instead of being silently ignored.
# ---------------------------------------------------------------------------

Id = constr(regex=r"^[a-z0-9_]+$", min_length=1)
NonEmptyStr = constr(strip_whitespace=True, min_length=1)


class _Model(BaseModel):
    class Config:
        extra = Extra.forbid
        allow_mutation = False
        anystr_strip_whitespace = True


class Location(_Model):
    """Approximate position (WGS-84), used to map a location a villager shares."""

    lat: confloat(ge=-90, le=90)  # type: ignore[valid-type]
    lon: confloat(ge=-180, le=180)  # type: ignore[valid-type]


class Village(_Model):
    """A village (行政村).  ``sample`` marks made-up development data."""

    id: Id  # type: ignore[valid-type]
    name: NonEmptyStr  # type: ignore[valid-type]
    aliases: list[NonEmptyStr] = []  # type: ignore[valid-type]
    sample: bool
    location: Optional[Location] = None


class Township(_Model):
    """A township (乡/镇) with its villages."""

    id: Id  # type: ignore[valid-type]
    name: NonEmptyStr  # type: ignore[valid-type]
    aliases: list[NonEmptyStr] = []  # type: ignore[valid-type]
    location: Location
    villages: list[Village] = []

    @property
    def short_name(self) -> str:
        """The name without 镇/乡 (e.g. 共和), used in names such as 共和派出所."""
        if self.aliases:
            return self.aliases[0]
        return self.name.rstrip("镇乡")

    def village(self, village_id: str) -> Village | None:
        """The village with this id in this township, or None."""
        return next((v for v in self.villages if v.id == village_id), None)


class County(_Model):
    """The county the deployment serves."""

    id: Id  # type: ignore[valid-type]
    name: NonEmptyStr  # type: ignore[valid-type]
    aliases: list[NonEmptyStr] = []  # type: ignore[valid-type]
    province: NonEmptyStr  # type: ignore[valid-type]
    prefecture: NonEmptyStr  # type: ignore[valid-type]
    location: Location
    townships: list[Township]


class AgencyKind(_Model):
    """A kind of agency, defined once; instances are generated per village/township."""

    id: Id  # type: ignore[valid-type]
    name: NonEmptyStr  # type: ignore[valid-type]  # template, e.g. "{township}司法所"
    level: Literal["village", "township", "county"]
    handles: list[NonEmptyStr]  # type: ignore[valid-type]
    description: NonEmptyStr  # type: ignore[valid-type]

    @validator("handles")
    def _handles_not_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("must list at least one route or dispute type")
        return value


class _CountyAgencyEntry(_Model):
    kind: Id  # type: ignore[valid-type]
    name: Optional[NonEmptyStr] = None  # type: ignore[valid-type]
    phone: Optional[NonEmptyStr] = None  # type: ignore[valid-type]
    address: Optional[NonEmptyStr] = None  # type: ignore[valid-type]
    hours: Optional[NonEmptyStr] = None  # type: ignore[valid-type]
    sample: bool


class Agency(_Model):
    """One concrete agency (承办单位), e.g. 天台村人民调解委员会.

    ``id`` is ``<township>.<village>.<kind>``, ``<township>.<kind>`` or ``<county>.<kind>``.
    ``sample`` is True when the agency belongs to a sample village or its contact details are
    placeholders.
    """

    id: str
    kind: str
    name: str
    level: Literal["village", "township", "county"]
    township_id: Optional[str] = None
    village_id: Optional[str] = None
    phone: Optional[str] = None
    address: Optional[str] = None
    hours: Optional[str] = None
    description: str
    sample: bool


class RoutingRule(_Model):
    """(route, dispute type) → first agency kind, then the escalation chain."""

    id: Id  # type: ignore[valid-type]
    route: NonEmptyStr  # type: ignore[valid-type]
    dispute_type: NonEmptyStr  # type: ignore[valid-type]  # a code or "*"
    first: Id  # type: ignore[valid-type]
    chain: list[Id] = []  # type: ignore[valid-type]
    intake: Optional[Id] = None  # type: ignore[valid-type]
    also_offer: list[NonEmptyStr] = []  # type: ignore[valid-type]
    note: Optional[NonEmptyStr] = None  # type: ignore[valid-type]

    @validator("route")
    def _route_known(cls, value: str) -> str:
        if value not in ROUTES:
            raise ValueError(f"must be one of {', '.join(ROUTES)}")
        return value

    @property
    def kinds(self) -> list[str]:
        """First stop followed by the escalation chain."""
        return [self.first, *self.chain]


class Deadline(_Model):
    """A statutory time limit with its start event and article."""

    id: Id  # type: ignore[valid-type]
    name: NonEmptyStr  # type: ignore[valid-type]
    number: conint(gt=0)  # type: ignore[valid-type]
    unit: str
    start_event: str
    counts: Literal["after", "before"] = "after"
    extension: Optional[conint(gt=0)] = None  # type: ignore[valid-type]
    law: NonEmptyStr  # type: ignore[valid-type]
    article: NonEmptyStr  # type: ignore[valid-type]
    applies_to: list[NonEmptyStr]  # type: ignore[valid-type]
    explain: NonEmptyStr  # type: ignore[valid-type]
    note: Optional[NonEmptyStr] = None  # type: ignore[valid-type]

    @validator("unit")
    def _unit_known(cls, value: str) -> str:
        if value not in UNITS:
            raise ValueError(f"must be one of {', '.join(UNITS)}")
        return value

    @validator("start_event")
    def _start_event_known(cls, value: str) -> str:
        if value not in START_EVENTS:
            raise ValueError(f"must be one of {', '.join(START_EVENTS)}")
        return value

    @validator("applies_to")
    def _applies_to_not_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("must name at least one route or dispute type")
        return value

    @validator("explain")
    def _explain_has_date(cls, value: str) -> str:
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        if names != {"date"}:
            raise ValueError("must contain the placeholder {date} and no other placeholder")
        return value

    def explain_for(self, due: str) -> str:
        """The villager-facing sentence with the due date filled in (e.g. "12月12日")."""
        return self.explain.format(date=due)


class HolidayPeriod(_Model):
    """One holiday block (放假) and the weekend days worked in exchange (调休上班)."""

    name: NonEmptyStr  # type: ignore[valid-type]
    start: date
    end: date
    workdays: list[date] = []

    @validator("end")
    def _end_after_start(cls, value: date, values: dict[str, Any]) -> date:
        start = values.get("start")
        if start is not None and value < start:
            raise ValueError("must not be before start")
        return value


class HolidayYear(_Model):
    """One year's schedule as published by 国务院办公厅."""

    year: conint(ge=2000, le=2100)  # type: ignore[valid-type]
    source: NonEmptyStr  # type: ignore[valid-type]
    verify: bool
    periods: list[HolidayPeriod]


@dataclass(frozen=True)
class Holidays:
    """Public holidays and adjusted working days, for counting 工作日."""

    years: tuple[HolidayYear, ...]
    off_days: frozenset[date]
    extra_workdays: frozenset[date]

    def covers(self, day: date) -> bool:
        """True when the schedule for that year is in the knowledge base."""
        return any(y.year == day.year for y in self.years)

    def is_workday(self, day: date) -> bool:
        """Is this a working day (调休上班 counts; holidays and weekends do not)?"""
        if day in self.extra_workdays:
            return True
        if day in self.off_days:
            return False
        return day.weekday() < 5


class LegalAidItem(_Model):
    """One situation from 法律援助法 Art 31, 32, 42 or 44, with words that point to it."""

    id: Id  # type: ignore[valid-type]
    article: NonEmptyStr  # type: ignore[valid-type]
    text: NonEmptyStr  # type: ignore[valid-type]
    keywords: list[NonEmptyStr]  # type: ignore[valid-type]
    dispute_types: list[NonEmptyStr] = []  # type: ignore[valid-type]
    proof: Optional[NonEmptyStr] = None  # type: ignore[valid-type]

    @validator("keywords")
    def _keywords_not_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("must list at least one keyword")
        return value

    def matches(self, text: str) -> bool:
        """Does the (normalised) text contain one of this item's keywords?"""
        norm = normalise_text(text)
        return any(normalise_text(k) in norm for k in self.keywords)


class LegalAidUrgency(_Model):
    """Art 44: urgent cases get legal aid first, paperwork later."""

    article: NonEmptyStr  # type: ignore[valid-type]
    deadline: Id  # type: ignore[valid-type]
    threshold_days: conint(gt=0)  # type: ignore[valid-type]
    situations: list[LegalAidItem]


class LegalAidRules(_Model):
    """Who can get legal aid and how (法律援助法)."""

    law: NonEmptyStr  # type: ignore[valid-type]
    hotline: NonEmptyStr  # type: ignore[valid-type]
    hotline_note: NonEmptyStr  # type: ignore[valid-type]
    family_note: NonEmptyStr  # type: ignore[valid-type]
    hardship_note: NonEmptyStr  # type: ignore[valid-type]
    matters: list[LegalAidItem]
    no_hardship_test: list[LegalAidItem]
    exempt_groups: list[LegalAidItem]
    urgent: LegalAidUrgency
    materials: list[NonEmptyStr]  # type: ignore[valid-type]
    #: Brought only when the family's hardship is checked (not by the Art 32/42 exempt).
    hardship_materials: NonEmptyStr  # type: ignore[valid-type]
    where: NonEmptyStr  # type: ignore[valid-type]

    def matching_matters(self, text: str) -> list[LegalAidItem]:
        """Art 31 matters the villager's words point to."""
        return [item for item in self.matters if item.matches(text)]

    def matching_no_hardship_test(self, text: str) -> list[LegalAidItem]:
        """Art 32 situations (no hardship test) the villager's words point to."""
        return [item for item in self.no_hardship_test if item.matches(text)]

    def matching_exempt_groups(self, text: str) -> list[LegalAidItem]:
        """Art 42 groups (hardship check waived) the villager's words point to."""
        return [item for item in self.exempt_groups if item.matches(text)]

    def matching_urgent(self, text: str) -> list[LegalAidItem]:
        """Art 44 urgent situations the villager's words point to."""
        return [item for item in self.urgent.situations if item.matches(text)]


class OnlineChannel(_Model):
    """Whether a service can be done on a phone, and where."""

    available: bool
    channel: Optional[NonEmptyStr] = None  # type: ignore[valid-type]

    @validator("channel", always=True)
    def _channel_when_available(cls, value: str | None, values: dict[str, Any]) -> str | None:
        if values.get("available") and not value:
            raise ValueError("is required when available is true")
        return value


class Service(_Model):
    """One entry of the government-service catalogue."""

    id: Id  # type: ignore[valid-type]
    name: NonEmptyStr  # type: ignore[valid-type]
    keywords: list[constr(strip_whitespace=True, min_length=2)]  # type: ignore[valid-type]
    # YAML ``where`` is a list of places; ``.where`` gives them as one line for replies.
    where_places: list[NonEmptyStr] = Field(..., alias="where")  # type: ignore[valid-type]
    materials: list[NonEmptyStr]  # type: ignore[valid-type]
    online: OnlineChannel
    time_limit: NonEmptyStr  # type: ignore[valid-type]
    fee: NonEmptyStr  # type: ignore[valid-type]
    proxy: bool
    answer: NonEmptyStr  # type: ignore[valid-type]
    # Filled in by the loader from services.yml ``online_phrases``; not written in entries.
    online_summary: str = ""

    @validator("keywords", "where_places")
    def _not_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("must not be empty")
        return value

    @validator("answer")
    def _answer_is_short(cls, value: str) -> str:
        # CONVERSATIONS.md: replies are at most three short lines.
        if len([line for line in value.splitlines() if line.strip()]) > 3:
            raise ValueError("must be at most 3 lines")
        return value

    @property
    def where(self) -> str:
        """Where to go, as one line: "镇便民服务中心医保窗口、县政务服务中心医保窗口"."""
        return "、".join(self.where_places)

    def online_text(self) -> str:
        """One plain sentence on whether it can be done on a phone (wording from services.yml)."""
        return self.online_summary


class _OnlinePhrases(_Model):
    """How replies say whether a service can be done on a phone (services.yml)."""

    available: NonEmptyStr  # type: ignore[valid-type]  # with {channel}
    unavailable: NonEmptyStr  # type: ignore[valid-type]

    @validator("available")
    def _has_channel(cls, value: str) -> str:
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        if names != {"channel"}:
            raise ValueError("must contain the placeholder {channel} and no other placeholder")
        return value

    @validator("unavailable")
    def _no_placeholder(cls, value: str) -> str:
        if any(name is not None for _, name, _, _ in string.Formatter().parse(value)):
            raise ValueError("must not contain placeholders")
        return value


class DisputeType(_Model):
    """One of the twelve dispute types, with the words villagers use for it."""

    id: Id  # type: ignore[valid-type]
    name: NonEmptyStr  # type: ignore[valid-type]
    description: NonEmptyStr  # type: ignore[valid-type]
    keywords: list[NonEmptyStr]  # type: ignore[valid-type]

    @validator("keywords")
    def _keywords_not_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("must list at least one keyword")
        return value


# ---------------------------------------------------------------------------
# Query results
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PlaceCandidate:
    """One possible reading of a place name: a village in a township."""

    township: Township
    village: Village

    @property
    def label(self) -> str:
        """How to show it on a button, e.g. 共和镇庄科村."""
        return f"{self.township.name}{self.village.name}"


@dataclass(frozen=True)
class NearestPlace:
    """The known place closest to a shared location, and how far it is."""

    township: Township
    village: Village | None
    km: float

    @property
    def name(self) -> str:
        """Shown to the villager, e.g. 共和镇天台村 (or the township alone)."""
        return self.township.name + (self.village.name if self.village else "")


def _distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance on a 6371 km sphere (plenty for "which village is nearest")."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True)
class PlaceMatch:
    """What :meth:`Knowledge.find_place` found in a message.

    ``ambiguous`` is non-empty (and ``township``/``village`` are None) when a village name
    exists in several townships and the message does not say which township.
    """

    township: Township | None
    village: Village | None
    ambiguous: list[PlaceCandidate] = field(default_factory=list)
    matched_text: str = ""


@dataclass(frozen=True)
class RoutingDecision:
    """Where a case goes.

    ``agency`` is the first stop for that place; ``chain`` the agencies to escalate to, in
    order, *after* ``agency``; ``intake`` an optional local office that takes the application
    (e.g. the township justice office for legal aid); ``also_offer`` the other routes or agency
    kinds to mention to the villager (e.g. ``"legal_aid"``).
    """

    agency: Agency
    chain: list[Agency]
    also_offer: list[str]
    rule: RoutingRule
    intake: Agency | None = None


@dataclass(frozen=True)
class VillageImportResult:
    """What :func:`import_villages_csv` changed."""

    imported: int
    removed_samples: int
    per_township: dict[str, int]
    path: Path


# ---------------------------------------------------------------------------
# Text helpers
# ---------------------------------------------------------------------------


def _to_simplified(text: str) -> str:
    # Same Traditional→Simplified step as the NLU pipeline (knowledge.text), so "補辦身份證"
    # matches like "补办身份证"; skipped if OpenCC is not installed (e.g. a minimal venv).
    try:
        from knowledge.text import to_simplified
    except ImportError:  # pragma: no cover - knowledge.text ships with this package
        return text
    try:
        return to_simplified(text)
    except ImportError:
        return text


@functools.lru_cache(maxsize=8192)
def normalise_text(text: str) -> str:
    """NFKC (full-width → half-width), Traditional → Simplified, drop whitespace, lower-case."""
    return _to_simplified("".join(unicodedata.normalize("NFKC", text).split()).lower())


# ---------------------------------------------------------------------------
# The knowledge base
# ---------------------------------------------------------------------------


class Knowledge:
    """Everything in ``knowledge/``, validated and indexed.  Build it with load_knowledge()."""

    def __init__(
        self,
        *,
        root: Path,
        county: County,
        villages_are_samples: bool,
        agency_kinds: dict[str, AgencyKind],
        agencies: list[Agency],
        route_names: dict[str, str],
        routing: list[RoutingRule],
        deadlines: dict[str, Deadline],
        holidays: Holidays,
        legal_aid: LegalAidRules,
        services: dict[str, Service],
        dispute_types: dict[str, DisputeType],
        terms: list[str],
        dialect_words: list[str],
    ) -> None:
        self.root = root
        self.county = county
        self.villages_are_samples = villages_are_samples
        self.agency_kinds = agency_kinds
        self.agencies = agencies
        self.route_names = route_names
        self.routing = routing
        self.deadlines = deadlines
        self.holidays = holidays
        self.legal_aid = legal_aid
        self.services = services
        self.dispute_types = dispute_types
        self.terms = terms
        self.dialect_words = dialect_words

        self.agencies_by_id: dict[str, Agency] = {a.id: a for a in agencies}
        self._agency_at: dict[tuple[str, str | None, str | None], Agency] = {
            (a.kind, a.township_id, a.village_id): a for a in agencies
        }
        self._rules: dict[tuple[str, str], RoutingRule] = {
            (r.route, r.dispute_type): r for r in routing
        }
        self._townships_by_id = {t.id: t for t in county.townships}
        # Place-name lookup tables, longest names first so "天台村" wins over "天台".
        self._township_terms: list[tuple[str, Township]] = sorted(
            ((normalise_text(term), t) for t in county.townships for term in (t.name, *t.aliases)),
            key=lambda pair: -len(pair[0]),
        )
        self._village_terms: list[tuple[str, Township, Village]] = sorted(
            (
                (normalise_text(term), t, v)
                for t in county.townships
                for v in t.villages
                for term in (v.name, *v.aliases)
            ),
            key=lambda triple: -len(triple[0]),
        )
        self._dispute_keywords: list[tuple[str, list[str]]] = [
            (d.id, sorted({normalise_text(k) for k in d.keywords}, key=len, reverse=True))
            for d in dispute_types.values()
        ]
        self._service_keywords: list[tuple[Service, list[str]]] = [
            (s, sorted({normalise_text(k) for k in s.keywords}, key=len, reverse=True))
            for s in services.values()
        ]

    # ----- places ---------------------------------------------------------

    @property
    def townships(self) -> list[Township]:
        """The county's townships, in file order."""
        return list(self.county.townships)

    def township(self, township_id: str) -> Township | None:
        """The township with this id, or None."""
        return self._townships_by_id.get(township_id)

    def village(self, township_id: str, village_id: str) -> Village | None:
        """The village with this id in that township, or None."""
        township = self.township(township_id)
        return township.village(village_id) if township else None

    def townships_by_name(self) -> dict[str, Township]:
        """Every township name and alias (e.g. 共和镇, 共和) → township."""
        return {term: t for t in self.county.townships for term in (t.name, *t.aliases)}

    def township_names(self) -> list[str]:
        """Township names and aliases, for lookup tables and the jieba dictionary."""
        return _unique(term for t in self.county.townships for term in (t.name, *t.aliases))

    def village_names(self) -> list[str]:
        """Village names and aliases (a repeated name appears once)."""
        return _unique(
            term for t in self.county.townships for v in t.villages for term in (v.name, *v.aliases)
        )

    def nearest_place(self, lat: float, lon: float) -> NearestPlace | None:
        """The known place closest to a shared location (great-circle distance).

        Villages with coordinates are compared first; a township whose villages have none
        counts by its own centre (``village`` None).  None when nothing has coordinates.
        """
        best: NearestPlace | None = None
        for township in self.county.townships:
            points = [(v, v.location) for v in township.villages if v.location is not None]
            if not points:
                points = [(None, township.location)]
            for village, where in points:
                km = _distance_km(lat, lon, where.lat, where.lon)
                if best is None or km < best.km:
                    best = NearestPlace(township, village, km)
        return best

    def find_place(self, text: str) -> PlaceMatch | None:
        """Find the township and/or village a villager mentions in free text.

        "共和镇天台村" → both; "天台" → 天台村 and its township; "我是庄科的" when 庄科村 exists in
        two townships → ``ambiguous`` lists both so the bot can ask which one.  None when no
        place is mentioned.
        """
        norm = normalise_text(text)
        if not norm:
            return None
        township_hit = next(((term, t) for term, t in self._township_terms if term in norm), None)
        if township_hit is not None:
            term, township = township_hit
            village_hit = next(
                (
                    (vterm, v)
                    for vterm, t, v in self._village_terms
                    if t.id == township.id and vterm in norm
                ),
                None,
            )
            if village_hit is None:
                return PlaceMatch(township=township, village=None, matched_text=term)
            return PlaceMatch(
                township=township, village=village_hit[1], matched_text=term + village_hit[0]
            )

        hits = [(vterm, t, v) for vterm, t, v in self._village_terms if vterm in norm]
        if not hits:
            return None
        best_len = len(hits[0][0])  # the table is sorted longest first
        best: dict[tuple[str, str], tuple[str, Township, Village]] = {}
        for vterm, t, v in hits:
            if len(vterm) == best_len:
                best.setdefault((t.id, v.id), (vterm, t, v))
        if len(best) == 1:
            vterm, t, v = next(iter(best.values()))
            return PlaceMatch(township=t, village=v, matched_text=vterm)
        candidates = [PlaceCandidate(township=t, village=v) for _, t, v in best.values()]
        return PlaceMatch(
            township=None, village=None, ambiguous=candidates, matched_text=hits[0][0]
        )

    # ----- routing --------------------------------------------------------

    def rule_for(self, route: str, dispute_type: str) -> RoutingRule:
        """The routing rule for (route, dispute type): an exact rule, else the route's ``*``."""
        if route not in ROUTES:
            raise ValueError(f"unknown route {route!r}; expected one of {', '.join(ROUTES)}")
        if dispute_type not in self.dispute_types:
            raise ValueError(
                f"unknown dispute type {dispute_type!r}; "
                f"expected one of {', '.join(self.dispute_types)}"
            )
        rule = self._rules.get((route, dispute_type)) or self._rules.get((route, WILDCARD))
        if rule is None:  # load-time validation makes this unreachable
            raise ValueError(f"no routing rule for {route}/{dispute_type}")
        return rule

    def agency_for(
        self, kind: str, township_id: str | None, village_id: str | None
    ) -> Agency | None:
        """The instance of an agency kind serving that place, or None if the place is too vague.

        A village-level kind needs the village, a township-level kind the township; county-level
        kinds always resolve.
        """
        agency_kind = self.agency_kinds.get(kind)
        if agency_kind is None:
            raise ValueError(f"unknown agency kind {kind!r}")
        if agency_kind.level == "county":
            return self._agency_at.get((kind, None, None))
        if agency_kind.level == "township":
            return self._agency_at.get((kind, township_id, None)) if township_id else None
        if township_id and village_id:
            return self._agency_at.get((kind, township_id, village_id))
        return None

    def route_case(
        self,
        route: str,
        dispute_type: str,
        township_id: str | None = None,
        village_id: str | None = None,
    ) -> RoutingDecision:
        """Decide which agency handles a case, and where it escalates to.

        When the place is not known precisely (no village, or no township) the decision starts
        at the first agency in the rule's chain that can be located — e.g. without a village a
        mediation case starts at the township mediation committee.  Every rule contains a
        county-level kind (checked on load), so a decision is always possible.

        Raises ValueError for an unknown route, dispute type, township or village.
        """
        rule = self.rule_for(route, dispute_type)
        township_id, village_id = self._check_place(township_id, village_id)
        located = [
            agency
            for kind in rule.kinds
            if (agency := self.agency_for(kind, township_id, village_id)) is not None
        ]
        intake = self.agency_for(rule.intake, township_id, village_id) if rule.intake else None
        return RoutingDecision(
            agency=located[0],
            chain=located[1:],
            also_offer=list(rule.also_offer),
            rule=rule,
            intake=intake,
        )

    def _check_place(
        self, township_id: str | None, village_id: str | None
    ) -> tuple[str | None, str | None]:
        if township_id is not None and township_id not in self._townships_by_id:
            raise ValueError(f"unknown township id {township_id!r}")
        if village_id is None:
            return township_id, None
        if township_id is not None:
            if self._townships_by_id[township_id].village(village_id) is None:
                raise ValueError(f"unknown village id {village_id!r} in township {township_id!r}")
            return township_id, village_id
        # Village ids are only unique within a township: accept a bare one only if unambiguous.
        owners = [t.id for t in self.county.townships if t.village(village_id) is not None]
        if len(owners) != 1:
            raise ValueError(
                f"village id {village_id!r} needs a township id "
                f"({'not found' if not owners else 'found in ' + ', '.join(owners)})"
            )
        return owners[0], village_id

    # ----- services -------------------------------------------------------

    def match_service(self, text: str) -> tuple[Service, float] | None:
        """The catalogue entry whose keywords best match the text, with its score.

        The text is normalised (NFKC, spaces removed); the score is the sum of the lengths of
        the entry's keywords found in it, so longer, more specific phrases count more
        (a score of 2.0 means one two-character keyword).  Ties go to the entry with more
        keyword hits, then to the earlier entry in services.yml.  None when nothing matches.
        """
        norm = normalise_text(text)
        if not norm:
            return None
        best: tuple[int, int, Service] | None = None
        for service, keywords in self._service_keywords:
            hits = [k for k in keywords if k in norm]
            if not hits:
                continue
            score = sum(len(k) for k in hits)
            if best is None or (score, len(hits)) > (best[0], best[1]):
                best = (score, len(hits), service)
        if best is None:
            return None
        return best[2], float(best[0])

    # ----- dispute types --------------------------------------------------

    def classify_dispute_keywords(self, text: str) -> str | None:
        """The dispute type whose keywords best match the text, or None.

        Scored like :meth:`match_service` (sum of matched keyword lengths); ties go to the
        type listed first in dispute_types.yml.  A cheap fallback for the trained classifier.
        """
        scores = self.dispute_keyword_scores(text)
        if not scores:
            return None
        return max(scores, key=lambda code: scores[code])  # max keeps the first of equal scores

    def dispute_keyword_scores(self, text: str) -> dict[str, int]:
        """Per dispute type, the summed length of its keywords found in the text (hits only)."""
        norm = normalise_text(text)
        scores: dict[str, int] = {}
        if not norm:
            return scores
        for code, keywords in self._dispute_keywords:
            score = sum(len(k) for k in keywords if k in norm)
            if score:
                scores[code] = score
        return scores

    # ----- dictionary -----------------------------------------------------

    def user_dictionary_words(self) -> list[str]:
        """All words worth teaching jieba: terms, dialect, places, dispute and service keywords."""
        words: list[str] = [*self.terms, *self.township_names(), *self.village_names()]
        words += [self.county.name, *self.county.aliases]
        words += [k for d in self.dispute_types.values() for k in d.keywords]
        words += [k for s in self.services.values() for k in s.keywords]
        words += [a.name for a in self.agencies if a.level != "village"]
        # One-character "words" add nothing to jieba, and spaces break its format.
        return [w for w in _unique(words) if len(w) >= 2 and not any(c.isspace() for c in w)]

    def summary(self) -> dict[str, int]:
        """Counts of what is loaded (for the CLI and logs)."""
        villages = [v for t in self.county.townships for v in t.villages]
        return {
            "townships": len(self.county.townships),
            "villages": len(villages),
            "sample_villages": sum(1 for v in villages if v.sample),
            "agency_kinds": len(self.agency_kinds),
            "agencies": len(self.agencies),
            "routing_rules": len(self.routing),
            "deadlines": len(self.deadlines),
            "holiday_years": len(self.holidays.years),
            "services": len(self.services),
            "dispute_types": len(self.dispute_types),
            "terms": len(self.terms),
        }


def _unique(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (PyYAML silently keeps the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if isinstance(key, Mapping) or isinstance(key, list):
                continue  # unhashable; the base class reports it
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path) -> dict[str, Any]:
    """Read one YAML file into a mapping, turning every failure into a KnowledgeError."""
    shown = _display_path(path)
    if not path.is_file():
        raise KnowledgeError(shown, None, None, "file is missing")
    try:
        with path.open(encoding="utf-8") as handle:
            data = yaml.load(handle, Loader=_UniqueKeyLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise KnowledgeError(shown, None, None, f"YAML syntax error{where}: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise KnowledgeError(shown, None, None, f"YAML error: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise KnowledgeError(shown, None, None, f"not UTF-8 text: {exc}") from exc
    if not isinstance(data, dict):
        raise KnowledgeError(shown, None, None, "must be a mapping of keys at the top level")
    return data


def _value_at(data: Any, loc: Sequence[Any]) -> tuple[bool, Any]:
    for key in loc:
        if isinstance(data, Mapping) and key in data:
            data = data[key]
        elif isinstance(data, list) and isinstance(key, int) and 0 <= key < len(data):
            data = data[key]
        else:
            return False, None
    return True, data


_PYDANTIC_MESSAGES = {
    "field required": "is required",
    "extra fields not permitted": "unknown field (check the spelling)",
    "none is not an allowed value": "must not be empty",
}

_M = TypeVar("_M", bound=BaseModel)


def _parse(model: type[_M], data: Any, file: str, entry: str) -> _M:
    """Validate one entry; report the first problem with file, entry and field."""
    if not isinstance(data, Mapping):
        raise KnowledgeError(file, entry, None, f"must be a mapping (got {data!r})")
    try:
        return model.parse_obj(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        # Pydantic adds "__root__" for model-level errors; it means nothing to a YAML editor.
        loc = tuple(part for part in loc if part != "__root__")
        field_name = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc)
        field_name = field_name.replace(".[", "[")
        message = _PYDANTIC_MESSAGES.get(error["msg"], error["msg"])
        found, value = _value_at(data, loc)
        if found and error["type"] != "value_error.missing" and "(got" not in message:
            message += f" (got {value!r})"
        raise KnowledgeError(file, entry, field_name or None, message) from exc


def _entries(
    data: Mapping[str, Any], key: str, file: str, *, required: bool = True
) -> list[tuple[str, Any]]:
    """The list under ``key`` as (entry name, raw entry); entries are named by their id."""
    if key not in data:
        if required:
            raise KnowledgeError(file, None, key, "is required")
        return []
    items = data[key]
    if not isinstance(items, list):
        raise KnowledgeError(file, None, key, f"must be a list (got {type(items).__name__})")
    named: list[tuple[str, Any]] = []
    for index, item in enumerate(items):
        name = item.get("id") if isinstance(item, Mapping) else None
        named.append((str(name) if name is not None else f"#{index + 1}", item))
    return named


def _check_unique(ids: Iterable[tuple[str, str]], file: str, what: str = "id") -> None:
    seen: set[str] = set()
    for entry, value in ids:
        if value in seen:
            raise KnowledgeError(file, entry, what, f"duplicate {what} {value!r}")
        seen.add(value)


def _string_list(data: Mapping[str, Any], key: str, file: str) -> list[str]:
    items = data.get(key)
    if not isinstance(items, list):
        raise KnowledgeError(file, None, key, "must be a list of words")
    words: list[str] = []
    for index, item in enumerate(items):
        if not isinstance(item, (str, int)) or not str(item).strip():
            raise KnowledgeError(file, f"#{index + 1}", key, f"must be a word (got {item!r})")
        word = str(item).strip()
        if len(word) < 2:
            # jieba already knows single characters; adding them only skews segmentation.
            raise KnowledgeError(file, word, key, "must be at least 2 characters")
        words.append(word)
    _check_unique(((w, w) for w in words), file, key)
    return words


def _parse_jurisdictions(data: Mapping[str, Any], file: str) -> tuple[County, bool]:
    """Parse jurisdictions.yml (also used by the village importer before it writes)."""
    county_raw = data.get("county")
    if not isinstance(county_raw, Mapping):
        raise KnowledgeError(file, None, "county", "is required and must be a mapping")
    county_entry = str(county_raw.get("id", "county"))
    townships: list[Township] = []
    for t_entry, t_raw in _entries(county_raw, "townships", file):
        if not isinstance(t_raw, Mapping):
            raise KnowledgeError(file, t_entry, None, f"must be a mapping (got {t_raw!r})")
        villages: list[Village] = []
        for v_entry, v_raw in _entries(t_raw, "villages", file, required=False):
            villages.append(_parse(Village, v_raw, file, f"{t_entry}/{v_entry}"))
        _check_unique(((f"{t_entry}/{v.id}", v.id) for v in villages), file)
        _check_unique(((f"{t_entry}/{v.id}", v.name) for v in villages), file, "name")
        townships.append(_parse(Township, {**t_raw, "villages": villages}, file, t_entry))
    if not townships:
        raise KnowledgeError(file, county_entry, "townships", "must list at least one township")
    _check_unique(((t.id, t.id) for t in townships), file)
    _check_unique(((t.id, t.name) for t in townships), file, "name")
    county = _parse(County, {**county_raw, "townships": townships}, file, county_entry)

    samples_flag = data.get("villages_are_samples", False)
    if not isinstance(samples_flag, bool):
        raise KnowledgeError(file, None, "villages_are_samples", "must be true or false")
    has_samples = any(v.sample for t in townships for v in t.villages)
    if has_samples and not samples_flag:
        # A file that claims real data but still holds sample villages would send real cases
        # to made-up mediation committees.
        raise KnowledgeError(
            file,
            None,
            "villages_are_samples",
            "is false but some villages are still marked sample: true",
        )
    return county, has_samples


def _build_agencies(
    county: County,
    kinds: dict[str, AgencyKind],
    county_entries: dict[str, tuple[str, _CountyAgencyEntry]],
    file: str,
) -> list[Agency]:
    """Generate agency instances: one per village / township / county for each kind."""
    agencies: list[Agency] = []
    for kind in kinds.values():
        if kind.level == "county":
            explicit = county_entries.get(kind.id)
            entry = explicit[1] if explicit else None
            agencies.append(
                Agency(
                    id=f"{county.id}.{kind.id}",
                    kind=kind.id,
                    name=(
                        entry.name if entry and entry.name else kind.name.format(county=county.name)
                    ),
                    level="county",
                    phone=entry.phone if entry else None,
                    address=entry.address if entry else None,
                    hours=entry.hours if entry else None,
                    description=kind.description,
                    # No explicit entry means no verified contact data at all.
                    sample=entry.sample if entry else True,
                )
            )
            continue
        for township in county.townships:
            names = {
                "county": county.name,
                "township": township.name,
                "township_short": township.short_name,
            }
            if kind.level == "township":
                agencies.append(
                    Agency(
                        id=f"{township.id}.{kind.id}",
                        kind=kind.id,
                        name=kind.name.format(**names),
                        level="township",
                        township_id=township.id,
                        description=kind.description,
                        sample=False,
                    )
                )
                continue
            for village in township.villages:
                agencies.append(
                    Agency(
                        id=f"{township.id}.{village.id}.{kind.id}",
                        kind=kind.id,
                        name=kind.name.format(**names, village=village.name),
                        level="village",
                        township_id=township.id,
                        village_id=village.id,
                        description=kind.description,
                        sample=village.sample,
                    )
                )
    return agencies


def _load_agency_kinds(
    data: Mapping[str, Any], file: str, route_and_types: set[str]
) -> tuple[dict[str, AgencyKind], dict[str, tuple[str, _CountyAgencyEntry]]]:
    kinds_list = [
        (entry, _parse(AgencyKind, raw, file, entry))
        for entry, raw in _entries(data, "kinds", file)
    ]
    _check_unique(((entry, k.id) for entry, k in kinds_list), file)
    kinds = {k.id: k for _, k in kinds_list}
    for kind in kinds.values():
        for index, handled in enumerate(kind.handles):
            if handled not in route_and_types:
                raise KnowledgeError(
                    file,
                    kind.id,
                    f"handles[{index}]",
                    f"must be a route or dispute type (got {handled!r})",
                )
        try:
            placeholders = {
                name for _, name, _, _ in string.Formatter().parse(kind.name) if name is not None
            }
        except ValueError as exc:  # e.g. an unclosed "{township"
            raise KnowledgeError(file, kind.id, "name", f"bad template: {exc}") from None
        allowed = _TEMPLATE_FIELDS[kind.level]
        if not placeholders <= allowed:
            raise KnowledgeError(
                file,
                kind.id,
                "name",
                f"a {kind.level}-level name may only use "
                f"{', '.join('{' + p + '}' for p in sorted(allowed))} "
                f"(got {', '.join('{' + p + '}' for p in sorted(placeholders - allowed))})",
            )
    county_entries: dict[str, tuple[str, _CountyAgencyEntry]] = {}
    for index, raw in enumerate(data.get("county_agencies") or []):
        entry_name = (
            str(raw.get("kind", f"#{index + 1}")) if isinstance(raw, Mapping) else f"#{index + 1}"
        )
        entry = _parse(_CountyAgencyEntry, raw, file, entry_name)
        kind = kinds.get(entry.kind)
        if kind is None:
            raise KnowledgeError(file, entry_name, "kind", f"unknown agency kind {entry.kind!r}")
        if kind.level != "county":
            raise KnowledgeError(
                file,
                entry_name,
                "kind",
                f"only county-level kinds are listed here; {entry.kind!r} is {kind.level}-level",
            )
        if entry.kind in county_entries:
            raise KnowledgeError(file, entry_name, "kind", f"duplicate kind {entry.kind!r}")
        county_entries[entry.kind] = (entry_name, entry)
    return kinds, county_entries


def _load_routing(
    data: Mapping[str, Any],
    file: str,
    kinds: dict[str, AgencyKind],
    dispute_codes: Sequence[str],
) -> tuple[dict[str, str], list[RoutingRule]]:
    routes_raw = data.get("routes")
    if not isinstance(routes_raw, Mapping):
        raise KnowledgeError(file, None, "routes", "is required: a mapping of route → 中文名称")
    for route in ROUTES:
        if not isinstance(routes_raw.get(route), str) or not routes_raw[route].strip():
            raise KnowledgeError(file, None, f"routes.{route}", "is required (a Chinese name)")
    for route in routes_raw:
        if route not in ROUTES:
            raise KnowledgeError(
                file, None, f"routes.{route}", f"unknown route; expected {', '.join(ROUTES)}"
            )
    route_names = {route: str(routes_raw[route]).strip() for route in ROUTES}

    rules = [_parse(RoutingRule, raw, file, entry) for entry, raw in _entries(data, "rules", file)]
    _check_unique(((r.id, r.id) for r in rules), file)
    seen_pairs: dict[tuple[str, str], str] = {}
    for rule in rules:
        if rule.dispute_type != WILDCARD and rule.dispute_type not in dispute_codes:
            raise KnowledgeError(
                file,
                rule.id,
                "dispute_type",
                f"must be '*' or one of {', '.join(dispute_codes)} (got {rule.dispute_type!r})",
            )
        pair = (rule.route, rule.dispute_type)
        if pair in seen_pairs:
            raise KnowledgeError(
                file,
                rule.id,
                "dispute_type",
                f"rule {seen_pairs[pair]!r} already covers {rule.route}/{rule.dispute_type}",
            )
        seen_pairs[pair] = rule.id
        fields: list[tuple[str, str]] = [("first", rule.first)]
        fields += [(f"chain[{i}]", k) for i, k in enumerate(rule.chain)]
        if rule.intake:
            fields.append(("intake", rule.intake))
        for field_name, kind_id in fields:
            if kind_id not in kinds:
                raise KnowledgeError(file, rule.id, field_name, f"unknown agency kind {kind_id!r}")
        previous = kinds[rule.first]
        for index, kind_id in enumerate(rule.chain):
            current = kinds[kind_id]
            if _LEVEL_RANK[current.level] < _LEVEL_RANK[previous.level]:
                raise KnowledgeError(
                    file,
                    rule.id,
                    f"chain[{index}]",
                    f"escalation must not go down a level ({kind_id!r} is {current.level}-level, "
                    f"after {previous.id!r} at {previous.level} level)",
                )
            previous = current
        if not any(kinds[k].level == "county" for k in rule.kinds):
            # Otherwise a villager whose township is unknown could not be routed anywhere.
            raise KnowledgeError(
                file,
                rule.id,
                "chain",
                "must include a county-level agency kind so every case can be routed",
            )
        for index, offer in enumerate(rule.also_offer):
            if offer not in ROUTES and offer not in kinds:
                raise KnowledgeError(
                    file,
                    rule.id,
                    f"also_offer[{index}]",
                    f"must be a route or an agency kind (got {offer!r})",
                )
    for route in ROUTES:
        for code in dispute_codes:
            if (route, code) not in seen_pairs and (route, WILDCARD) not in seen_pairs:
                raise KnowledgeError(
                    file,
                    f"{route}/{code}",
                    "dispute_type",
                    f"no rule routes {route}/{code}; add a rule with route {route!r} and "
                    f"dispute_type '*'",
                )
    return route_names, rules


def _load_holidays(data: Mapping[str, Any], file: str) -> Holidays:
    years: list[HolidayYear] = []
    for index, raw in enumerate(data.get("years") or []):
        entry = (
            str(raw.get("year", f"#{index + 1}")) if isinstance(raw, Mapping) else f"#{index + 1}"
        )
        years.append(_parse(HolidayYear, raw, file, entry))
    if not years:
        raise KnowledgeError(file, None, "years", "must list at least one year")
    _check_unique(((str(y.year), str(y.year)) for y in years), file, "year")
    off: set[date] = set()
    work: set[date] = set()
    for year in years:
        for period in year.periods:
            for field_name, day in [("start", period.start), ("end", period.end)] + [
                ("workdays", d) for d in period.workdays
            ]:
                # A holiday block may not straddle into another year's schedule unnoticed.
                if abs(day.year - year.year) > 1:
                    raise KnowledgeError(
                        file,
                        f"{year.year}/{period.name}",
                        field_name,
                        f"date {day.isoformat()} is not near {year.year}",
                    )
            day_count = (period.end - period.start).days + 1
            off.update(date.fromordinal(period.start.toordinal() + i) for i in range(day_count))
            work.update(period.workdays)
    clash = sorted(off & work)
    if clash:
        raise KnowledgeError(
            file,
            str(clash[0].year),
            "workdays",
            f"{clash[0].isoformat()} is listed both as a holiday and as a working day",
        )
    return Holidays(years=tuple(years), off_days=frozenset(off), extra_workdays=frozenset(work))


def _load_legal_aid(
    data: Mapping[str, Any],
    file: str,
    dispute_codes: Sequence[str],
    deadlines: Mapping[str, Deadline],
) -> LegalAidRules:
    # Parse section by section so errors name the section and the item.
    parsed: dict[str, Any] = {k: v for k, v in data.items()}
    for section in ("matters", "no_hardship_test", "exempt_groups"):
        items = [
            _parse(LegalAidItem, raw, file, f"{section}/{entry}")
            for entry, raw in _entries(data, section, file)
        ]
        _check_unique(((f"{section}/{i.id}", i.id) for i in items), file)
        parsed[section] = items
    urgent_raw = data.get("urgent")
    if not isinstance(urgent_raw, Mapping):
        raise KnowledgeError(file, None, "urgent", "is required and must be a mapping")
    situations = [
        _parse(LegalAidItem, raw, file, f"urgent/{entry}")
        for entry, raw in _entries(urgent_raw, "situations", file)
    ]
    parsed["urgent"] = _parse(
        LegalAidUrgency, {**urgent_raw, "situations": situations}, file, "urgent"
    )
    for key in ("hotline",):
        if isinstance(parsed.get(key), int):
            parsed[key] = str(parsed[key])
    rules = _parse(LegalAidRules, parsed, file, "legal_aid")

    for section in ("matters", "no_hardship_test", "exempt_groups"):
        for item in getattr(rules, section):
            for index, code in enumerate(item.dispute_types):
                if code not in dispute_codes:
                    raise KnowledgeError(
                        file,
                        f"{section}/{item.id}",
                        f"dispute_types[{index}]",
                        f"unknown dispute type {code!r}",
                    )
    urgent = rules.urgent
    deadline = deadlines.get(urgent.deadline)
    if deadline is None:
        raise KnowledgeError(file, "urgent", "deadline", f"unknown deadline {urgent.deadline!r}")
    if deadline.number != urgent.threshold_days or deadline.unit != "日":
        raise KnowledgeError(
            file,
            "urgent",
            "threshold_days",
            f"must match deadline {deadline.id!r} ({deadline.number}{deadline.unit})",
        )
    return rules


def default_knowledge_root() -> Path:
    """$XIANGYIN_KNOWLEDGE_DIR if set, else the repository's knowledge/ folder."""
    env = os.environ.get(ENV_ROOT)
    return Path(env) if env else DEFAULT_ROOT


def load_knowledge(root: Path | str | None = None) -> Knowledge:
    """Load and validate every knowledge file under ``root``.

    ``root`` defaults to $XIANGYIN_KNOWLEDGE_DIR or <repo>/knowledge.  Raises KnowledgeError
    naming the file, entry and field of the first problem found.
    """
    base = Path(root) if root is not None else default_knowledge_root()
    paths = {key: base / name for key, name in _FILES.items()}
    shown = {key: _display_path(path) for key, path in paths.items()}
    raw = {key: _read_yaml(path) for key, path in paths.items()}

    # Dispute types first: routing, deadlines, agencies and legal aid refer to them.
    file = shown["dispute_types"]
    types_list = [
        _parse(DisputeType, item, file, entry)
        for entry, item in _entries(raw["dispute_types"], "dispute_types", file)
    ]
    _check_unique(((d.id, d.id) for d in types_list), file)
    dispute_types = {d.id: d for d in types_list}
    missing = [code for code in DISPUTE_TYPE_CODES if code not in dispute_types]
    if missing:
        raise KnowledgeError(file, missing[0], "id", "this dispute type is required (GLOSSARY.md)")
    dispute_codes = list(dispute_types)
    route_and_types = set(ROUTES) | set(dispute_codes)

    county, has_samples = _parse_jurisdictions(raw["jurisdictions"], shown["jurisdictions"])

    file = shown["agencies"]
    kinds, county_entries = _load_agency_kinds(raw["agencies"], file, route_and_types)
    agencies = _build_agencies(county, kinds, county_entries, file)

    route_names, routing = _load_routing(raw["routing"], shown["routing"], kinds, dispute_codes)

    file = shown["deadlines"]
    deadline_list = [
        _parse(Deadline, item, file, entry)
        for entry, item in _entries(raw["deadlines"], "deadlines", file)
    ]
    _check_unique(((d.id, d.id) for d in deadline_list), file)
    for deadline in deadline_list:
        for index, target in enumerate(deadline.applies_to):
            if target not in route_and_types:
                raise KnowledgeError(
                    file,
                    deadline.id,
                    f"applies_to[{index}]",
                    f"must be a route or dispute type (got {target!r})",
                )
    deadlines = {d.id: d for d in deadline_list}

    holidays = _load_holidays(raw["holidays"], shown["holidays"])
    legal_aid = _load_legal_aid(raw["legal_aid"], shown["legal_aid"], dispute_codes, deadlines)

    file = shown["services"]
    service_list = [
        _parse(Service, item, file, entry)
        for entry, item in _entries(raw["services"], "services", file)
    ]
    _check_unique(((s.id, s.id) for s in service_list), file)
    phrases = _parse(_OnlinePhrases, raw["services"].get("online_phrases"), file, "online_phrases")
    services = {
        s.id: s.copy(
            update={
                "online_summary": (
                    phrases.available.format(channel=s.online.channel)
                    if s.online.available
                    else phrases.unavailable
                )
            }
        )
        for s in service_list
    }

    file = shown["terms"]
    terms = _string_list(raw["terms"], "terms", file)
    dialect = _string_list(raw["terms"], "dialect", file)

    return Knowledge(
        root=base,
        county=county,
        villages_are_samples=has_samples,
        agency_kinds=kinds,
        agencies=agencies,
        route_names=route_names,
        routing=routing,
        deadlines=deadlines,
        holidays=holidays,
        legal_aid=legal_aid,
        services=services,
        dispute_types=dispute_types,
        terms=_unique([*terms, *dialect]),
        dialect_words=dialect,
    )


@functools.lru_cache(maxsize=4)
def _cached_knowledge(root: str) -> Knowledge:
    return load_knowledge(root)


def get_knowledge() -> Knowledge:
    """The knowledge base for the default root, loaded once per process."""
    return _cached_knowledge(str(default_knowledge_root().resolve()))


def clear_knowledge_cache() -> None:
    """Forget cached knowledge (after editing or importing, and in tests)."""
    _cached_knowledge.cache_clear()


# ---------------------------------------------------------------------------
# Village import
# ---------------------------------------------------------------------------

_CSV_REQUIRED = ("township", "village")
_CSV_KNOWN = ("township", "village", "aliases", "lat", "lon", "id")

_IMPORTED_HEADER = """\
# {county}的乡镇和村。村名单由 `xiangyin knowledge import-villages <csv>` 从县里的名单导入
# （sample: false 的是正式数据）。要改村名单，改 CSV 再导入一次；也可以直接改这个文件，
# 改完运行 `xiangyin knowledge check`。location 是大概的经纬度。
"""


def _read_csv_rows(path: Path) -> list[dict[str, str]]:
    # Excel in China often saves GB18030; try UTF-8 (with or without BOM) first.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = path.read_text(encoding=encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte sequence
        raise KnowledgeError(
            _display_path(path), None, None, "cannot read the file as UTF-8 or GB18030"
        )
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in (reader.fieldnames or [])]
    shown = _display_path(path)
    for column in _CSV_REQUIRED:
        if column not in header:
            raise KnowledgeError(
                shown,
                "header",
                column,
                f"column is missing; the header must be {','.join(_CSV_KNOWN[:5])} (id optional)",
            )
    rows: list[dict[str, str]] = []
    for row in reader:
        rows.append({(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None})
    return rows


def _generated_village_id(name: str) -> str:
    # Stable across re-imports and row order, ASCII for agency ids; add an `id` column for
    # readable ids.
    return "v" + hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]


def import_villages_csv(
    csv_path: Path | str, knowledge_root: Path | str | None = None
) -> VillageImportResult:
    """Import a county's village list into jurisdictions.yml.

    The CSV has the header ``township,village,aliases,lat,lon`` (an optional ``id`` column
    gives readable ids); ``aliases`` are separated by ``|``; ``township`` may be the name, an
    alias or the id.  All sample villages are removed, imported villages are written with
    ``sample: false``, and real villages already in the file but not in the CSV are kept.
    A village that already exists in that township keeps its id, so agency ids stay stable.

    Raises KnowledgeError (naming the CSV line and column) for an unknown township, a
    duplicate village or a bad coordinate; nothing is written in that case.
    """
    csv_file = Path(csv_path)
    root = Path(knowledge_root) if knowledge_root is not None else default_knowledge_root()
    yml_path = root / _FILES["jurisdictions"]
    yml_shown = _display_path(yml_path)
    csv_shown = _display_path(csv_file)
    if not csv_file.is_file():
        raise KnowledgeError(csv_shown, None, None, "file is missing")

    data = _read_yaml(yml_path)
    county, _ = _parse_jurisdictions(data, yml_shown)
    lookup: dict[str, Township] = {}
    for township in county.townships:
        for term in (township.id, township.name, *township.aliases):
            lookup[normalise_text(term)] = township
    known_names = "、".join(t.name for t in county.townships)

    imported: dict[str, list[dict[str, Any]]] = {t.id: [] for t in county.townships}
    seen_names: dict[tuple[str, str], int] = {}
    seen_ids: dict[tuple[str, str], int] = {}
    for line_no, row in enumerate(_read_csv_rows(csv_file), start=2):
        entry = f"line {line_no}"
        if not any(row.values()):
            continue  # blank line
        township = lookup.get(normalise_text(row.get("township", "")))
        if township is None:
            raise KnowledgeError(
                csv_shown,
                entry,
                "township",
                f"unknown township {row.get('township', '')!r} in {county.name} "
                f"(known: {known_names})",
            )
        name = row.get("village", "")
        if not name:
            raise KnowledgeError(csv_shown, entry, "village", "is required")
        key = (township.id, name)
        if key in seen_names:
            raise KnowledgeError(
                csv_shown,
                entry,
                "village",
                f"{township.name}{name} is already on line {seen_names[key]}",
            )
        seen_names[key] = line_no
        existing = next((v for v in township.villages if v.name == name), None)
        village_id = row.get("id") or (existing.id if existing else _generated_village_id(name))
        if (township.id, village_id) in seen_ids:
            raise KnowledgeError(
                csv_shown,
                entry,
                "id",
                f"id {village_id!r} is already used on line {seen_ids[(township.id, village_id)]}",
            )
        seen_ids[(township.id, village_id)] = line_no
        aliases = [a.strip() for a in row.get("aliases", "").split("|") if a.strip()]
        village: dict[str, Any] = {
            "id": village_id,
            "name": name,
            "aliases": [a for a in aliases if a != name],
            "sample": False,
        }
        lat, lon = row.get("lat", ""), row.get("lon", "")
        if lat or lon:
            coords: dict[str, float] = {}
            for column, text in (("lat", lat), ("lon", lon)):
                try:
                    coords[column] = float(text)
                except ValueError:
                    raise KnowledgeError(
                        csv_shown, entry, column, f"must be a number (got {text!r})"
                    ) from None
            village["location"] = coords
        # Validate now so the error names the CSV line rather than the YAML we write.
        _parse(Village, village, csv_shown, entry)
        imported[township.id].append(village)

    new_data: dict[str, Any] = {k: v for k, v in data.items()}
    county_raw = dict(new_data["county"])
    townships_raw: list[dict[str, Any]] = []
    removed = 0
    for t_raw in county_raw["townships"]:
        t_new = dict(t_raw)
        new_villages = imported.get(str(t_raw["id"]), [])
        new_ids = {v["id"] for v in new_villages}
        new_names = {v["name"] for v in new_villages}
        kept: list[dict[str, Any]] = []
        for v_raw in t_raw.get("villages") or []:
            if v_raw.get("sample"):
                removed += 1
            elif v_raw.get("id") not in new_ids and v_raw.get("name") not in new_names:
                kept.append(dict(v_raw))
        t_new["villages"] = kept + new_villages
        townships_raw.append(t_new)
    county_raw["townships"] = townships_raw
    new_data["county"] = county_raw
    new_data["villages_are_samples"] = False
    new_data["villages_note"] = f"村名单从 {csv_file.name} 导入（正式数据，sample: false）。"
    # Keep the flags at the top of the file, where a reader looks first.
    ordered = {k: new_data[k] for k in ("villages_are_samples", "villages_note") if k in new_data}
    ordered.update({k: v for k, v in new_data.items() if k not in ordered})

    _parse_jurisdictions(ordered, yml_shown)  # never write a file the loader would reject
    text = (
        _IMPORTED_HEADER.format(county=county.name)
        + "\n"
        + yaml.safe_dump(ordered, allow_unicode=True, sort_keys=False, width=120)
    )
    tmp_path = yml_path.with_suffix(".yml.tmp")
    tmp_path.write_text(text, encoding="utf-8")
    os.replace(tmp_path, yml_path)  # atomic: a crash never leaves a half-written file
    clear_knowledge_cache()
    return VillageImportResult(
        imported=sum(len(v) for v in imported.values()),
        removed_samples=removed,
        per_township={tid: len(v) for tid, v in imported.items()},
        path=yml_path,
    )


# ---------------------------------------------------------------------------
# Check (for `xiangyin knowledge check`)
# ---------------------------------------------------------------------------


def knowledge_check(root: Path | str | None = None) -> list[str]:
    """Load the knowledge under ``root`` and describe it in a few lines.

    Raises KnowledgeError if anything is invalid (the CLI turns that into exit code 1).
    """
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
    ]
    from knowledge.dialogue import load as load_dialogue

    try:
        dialogue = load_dialogue(knowledge.root / "dialogue.yml")
    except ValueError as error:  # DialogueKnowledgeError names the file, the entry, the field
        raise KnowledgeError("knowledge/dialogue.yml", None, None, str(error)) from error
    lines.append(f"dialogue: {len(dialogue.faq)} answers to questions, {len(dialogue.fields)} fields to change")
    if counts["sample_villages"]:
        lines.append(
            "warning: villages are SAMPLE data; import the county's list before going live "
            "(xiangyin knowledge import-villages <csv>)"
        )
    return lines
