"""Where a case goes: the county routing map, 诉访分离 and emergencies.

:func:`route_case` wraps :meth:`knowledge.loader.Knowledge.route_case` (the routing map in
knowledge/routing.yml) and adds two checks on what the villager said, both driven by
knowledge/case_rules.yml:

* **诉访分离** (信访工作条例 Art 28 ¶2, Art 31): a petition that is really a litigation,
  arbitration or administrative-review matter is not filed as 信访.  The result says
  ``redirected=True``, names the legal route and offers legal aid.
* **Emergencies** (violence happening now, a weapon, self-harm): ``emergency=True``; the case
  goes straight to the township police station and the agency that would normally have had
  it gets a copy.  The case is still recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from knowledge.case_rules import CaseRules
from records.domain.model import AgencyRef, Redirect
from knowledge.schema import Agency
from knowledge.base import Knowledge

__all__ = ["CaseRouting", "agency_ref", "detect_emergency", "detect_redirect", "route_case"]


def agency_ref(agency: Agency) -> AgencyRef:
    """The case's reference to a knowledge agency (id and the name it has today)."""
    return AgencyRef(id=agency.id, name=agency.name)


@dataclass(frozen=True)
class CaseRouting:
    """The routing result for one case.

    ``agency`` is None only for a redirected petition (it is not filed with anybody);
    ``chain`` lists where the case escalates to after ``agency``; ``intake`` is a local office
    that takes the paperwork (e.g. the township justice office for legal aid);
    ``also_offer`` other routes or agency kinds to mention; ``emergency_handoff`` the police
    station that takes an emergency (None when the township is unknown); ``notify`` agencies
    that get a copy of an emergency.
    """

    route: str
    dispute_type: str
    agency: AgencyRef | None
    chain: tuple[AgencyRef, ...]
    intake: AgencyRef | None
    also_offer: tuple[str, ...]
    rule_id: str
    redirected: bool = False
    redirect: Redirect | None = None
    emergency: bool = False
    emergency_keywords: tuple[str, ...] = ()
    emergency_handoff: AgencyRef | None = None
    notify: tuple[AgencyRef, ...] = ()


def detect_emergency(text: str, rules: CaseRules) -> list[str]:
    """The emergency keywords in ``text`` (empty when there is no sign of danger now)."""
    return rules.emergency.matched(text)


def detect_redirect(
    text: str,
    *,
    dispute_type: str = "other",
    township_id: str | None = None,
    village_id: str | None = None,
    knowledge: Knowledge,
    rules: CaseRules,
) -> Redirect | None:
    """诉访分离: the legal route a petition's text points to, or None.

    Routes are tried in case_rules.yml order (litigation, arbitration, administrative review);
    the first with a matching keyword wins.  ``legal_aid_agency`` is the local office where
    the villager can ask for legal aid for that route (the intake office when there is one,
    so they do not have to go to the county town).
    """
    redirect_rules = rules.litigation_redirect
    for legal_route in redirect_rules.routes:
        hits = legal_route.matched(text)
        if not hits:
            continue
        aid = knowledge.route_case(redirect_rules.offer, dispute_type, township_id, village_id)
        place = aid.intake or aid.agency
        return Redirect(
            legal_route=legal_route.id,
            name=legal_route.name,
            law=redirect_rules.law,
            article=legal_route.article,
            explain=legal_route.explain,
            keywords=tuple(hits),
            offer_route=redirect_rules.offer,
            legal_aid_agency=agency_ref(place),
        )
    return None


def route_case(
    route: str,
    dispute_type: str,
    *,
    text: str = "",
    township_id: str | None = None,
    village_id: str | None = None,
    knowledge: Knowledge,
    rules: CaseRules,
    emergency: bool = False,
) -> CaseRouting:
    """Decide where a case goes, from the routing map and what the villager said.

    ``text`` is everything the villager wrote (facts, request …).  Emergencies win over
    诉访分离: somebody in danger gets the police first, whatever else the matter is.
    ``emergency`` says the conversation already found danger now (its detector reads more
    than the keywords of case_rules.yml).
    Raises ValueError for an unknown route, dispute type, township or village.
    """
    decision = knowledge.route_case(route, dispute_type, township_id, village_id)
    agency = agency_ref(decision.agency)
    chain = tuple(agency_ref(a) for a in decision.chain)
    intake = agency_ref(decision.intake) if decision.intake else None
    base = CaseRouting(
        route=route,
        dispute_type=dispute_type,
        agency=agency,
        chain=chain,
        intake=intake,
        also_offer=tuple(decision.also_offer),
        rule_id=decision.rule.id,
    )

    danger = detect_emergency(text, rules) or (["danger_now"] if emergency else [])
    if danger:
        # A bare village id is resolved to its township by knowledge.route_case; take the
        # township from the located agencies so the police station can be found too.
        township = township_id or next(
            (a.township_id for a in (decision.agency, *decision.chain) if a.township_id), None
        )
        police = knowledge.agency_for(rules.emergency.agency_kind, township, None)
        if police is None:
            # Township unknown: there is no police station to pick.  The case keeps its normal
            # agency, flagged as an emergency; the conversation tells the villager to call 110.
            return replace(base, emergency=True, emergency_keywords=tuple(danger))
        handoff = agency_ref(police)
        return replace(
            base,
            agency=handoff,
            chain=tuple(a for a in (agency, *chain) if a.id != handoff.id),
            emergency=True,
            emergency_keywords=tuple(danger),
            emergency_handoff=handoff,
            notify=(agency,) if agency.id != handoff.id else (),
        )

    if route == "petition":
        redirect = detect_redirect(
            text,
            dispute_type=dispute_type,
            township_id=township_id,
            village_id=village_id,
            knowledge=knowledge,
            rules=rules,
        )
        if redirect is not None:
            offers = tuple(dict.fromkeys((redirect.offer_route, *decision.also_offer)))
            return replace(
                base,
                agency=None,
                chain=(),
                intake=None,
                also_offer=offers,
                redirected=True,
                redirect=redirect,
            )
    return base
