"""Loading ``knowledge/``: read every YAML file, validate it into the models of
:mod:`knowledge.schema`, check the references between files, and build the
:class:`knowledge.base.Knowledge` — with its case rules and reminder rules — in one go.

A process loads it once where it starts and passes it down."""

from __future__ import annotations

import os
import string
from datetime import date
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ValidationError,
)


from knowledge.schema import (
    Agency,
    AgencyKind,
    County,
    DEFAULT_ROOT,
    DISPUTE_TYPE_CODES,
    Deadline,
    DisputeType,
    ENV_ROOT,
    HolidayYear,
    Holidays,
    KnowledgeError,
    LegalAidItem,
    LegalAidRules,
    LegalAidUrgency,
    ROUTES,
    RoutingRule,
    Service,
    Township,
    Village,
    WILDCARD,
    _CountyAgencyEntry,
    _FILES,
    _LEVEL_RANK,
    _OnlinePhrases,
    _TEMPLATE_FIELDS,
    _display_path,
)
from knowledge.case_rules import load_case_rules
from knowledge.reminders import load_reminder_rules
from knowledge.base import (
    Knowledge,
    _unique,
)


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
    """Load and check every file under ``root`` (default: $XIANGYIN_KNOWLEDGE_DIR or
    <repo>/knowledge): the county's data, then the case rules and the reminder rules that
    refer to it.  Raises KnowledgeError naming the file, the entry and the field of the first
    problem."""
    knowledge = _load_data(root)
    knowledge.rules = load_case_rules(knowledge.root, knowledge)
    knowledge.reminders = load_reminder_rules(knowledge.root, knowledge)
    return knowledge


def _load_data(root: Path | str | None = None) -> Knowledge:
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
