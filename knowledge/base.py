"""The knowledge base: everything in ``knowledge/``, validated, indexed and queried —
places, agencies and routing, deadlines and holidays, legal aid, services, dispute types."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterable



from knowledge.schema import (
    Agency,
    AgencyKind,
    County,
    Deadline,
    DisputeType,
    Holidays,
    LegalAidRules,
    NearestPlace,
    PlaceCandidate,
    PlaceMatch,
    ROUTES,
    RoutingDecision,
    RoutingRule,
    Service,
    Township,
    Village,
    WILDCARD,
    _distance_km,
)
from knowledge.text import compact

if TYPE_CHECKING:  # the rules are loaded against a Knowledge, then attached to it
    from knowledge.case_rules import CaseRules
    from knowledge.reminders import ReminderRules


# ---------------------------------------------------------------------------
# The knowledge base
# ---------------------------------------------------------------------------


class Knowledge:
    """Everything in ``knowledge/``, validated and indexed.  Build it with load_knowledge()."""

    #: knowledge/case_rules.yml and knowledge/reminders.yml, checked against the rest
    #: (attached by load_knowledge once the data they refer to is loaded).
    rules: CaseRules
    reminders: ReminderRules

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
            ((compact(term), t) for t in county.townships for term in (t.name, *t.aliases)),
            key=lambda pair: -len(pair[0]),
        )
        self._village_terms: list[tuple[str, Township, Village]] = sorted(
            (
                (compact(term), t, v)
                for t in county.townships
                for v in t.villages
                for term in (v.name, *v.aliases)
            ),
            key=lambda triple: -len(triple[0]),
        )
        self._dispute_keywords: list[tuple[str, list[str]]] = [
            (d.id, sorted({compact(k) for k in d.keywords}, key=len, reverse=True))
            for d in dispute_types.values()
        ]
        self._service_keywords: list[tuple[Service, list[str]]] = [
            (s, sorted({compact(k) for k in s.keywords}, key=len, reverse=True))
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
        norm = compact(text)
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
        norm = compact(text)
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
        norm = compact(text)
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
