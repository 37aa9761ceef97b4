"""The shape of the county's data: the vocabulary code depends on, the errors that name
file, entry and field, the validated models of each YAML file, and the results of queries."""

from __future__ import annotations

import math
import string
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import (
    BaseModel,
    Extra,
    Field,
    confloat,
    conint,
    constr,
    validator,
)


from knowledge.text import compact


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
        norm = compact(text)
        return any(compact(k) in norm for k in self.keywords)


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
