"""Legal-aid screening of a finished form (《法律援助法》 Art 31, 32, 42, 44).

A first look, for staff and for what the bot tells the villager — the 法律援助中心 decides.
Everything matched comes from knowledge/legal_aid.yml (keywords per article) and
knowledge/case_rules.yml (how villagers say how long they have left); this module only
combines them:

* Art 31: is the matter on the list (赡养费, 劳动报酬, 工伤 …)?
* Art 32: a situation with no hardship test (家暴, 虐待, 遗弃 …)?
* Art 42: is the applicant in a group whose hardship check is waived (低保, 残疾, 农民工 …)?
* Art 44: urgent — their own limit ends in fewer than 7 days, or preservation is needed?
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from knowledge.readers import chinese_number, read_date
from knowledge.case_rules import CaseRules
from records.domain.model import Screening
from knowledge.base import Knowledge
from knowledge.schema import LegalAidItem
from knowledge.text import compact

__all__ = ["TimeLimitAnswer", "parse_time_limit", "screen"]

_NUMBER = r"\d{1,3}|[零一二两三四五六七八九十]{1,3}"


def _count(text: str) -> int | None:
    number = chinese_number(text)
    return int(number) if number is not None else None


@dataclass(frozen=True)
class TimeLimitAnswer:
    """What the villager said about their own time limit.

    ``days_left`` counts calendar days from ``today`` to the expiry (0 = today);
    ``approximate`` is True for "下周" and the like (the earliest possible day is used, so
    that a possibly-urgent case is flagged rather than missed); ``stated_none`` is True for
    "没有" / "不清楚"; ``understood`` is False when an answer was given but not understood.
    """

    days_left: int | None
    expiry: date | None
    stated_none: bool
    approximate: bool
    understood: bool


def parse_time_limit(
    text: str | None, today: date, rules: CaseRules
) -> TimeLimitAnswer:
    """Read "还有5天", "还剩三天", "下周就到期", "12月3号", "没有" into days left."""
    words = rules.time_limit_answers
    norm = compact(text or "")
    if not norm:
        return TimeLimitAnswer(None, None, False, False, True)

    def answer(expiry: date, approximate: bool = False) -> TimeLimitAnswer:
        return TimeLimitAnswer((expiry - today).days, expiry, False, approximate, True)

    # A day named outright ("12月3号", "这个月28号", "腊月二十八", "下周二"): the one reader.
    named = read_date(norm, today)
    if named is not None:
        return answer(named)

    # "3个月", "五天", "两个星期": longest unit first so 个月 wins over 月.
    units = sorted(words.units.items(), key=lambda kv: -len(kv[0]))
    unit_pattern = "|".join(re.escape(compact(u)) for u, _ in units)
    match = re.search(rf"(?<![\d月])({_NUMBER})\s*多?个?({unit_pattern})", norm)
    if match:
        count = _count(match[1])
        unit_days = dict((compact(u), d) for u, d in units)[match[2]]
        if count is not None:
            return answer(today + timedelta(days=count * unit_days))

    for phrase, days in sorted(words.relative_days.items(), key=lambda kv: -len(kv[0])):
        if compact(phrase) in norm:
            return answer(today + timedelta(days=days))
    if any(compact(p) in norm for p in words.next_week):
        # Earliest day of next week: next Monday.
        return answer(today + timedelta(days=7 - today.weekday()), approximate=True)
    if any(compact(p) in norm for p in words.this_week):
        # This week ends on Sunday; the earliest possible day is today.
        return answer(today + timedelta(days=6 - today.weekday()), approximate=True)
    if any(compact(p) in norm for p in words.month_end):
        last = calendar.monthrange(today.year, today.month)[1]
        return answer(date(today.year, today.month, last), approximate=True)

    none_words = [compact(w) for w in words.none]
    if norm in none_words or any(norm.startswith(w) for w in none_words):
        return TimeLimitAnswer(None, None, True, False, True)
    return TimeLimitAnswer(None, None, False, False, False)


def _reason(item: LegalAidItem, text: str) -> str:
    """ "31(5): 请求…劳动报酬 [欠工资]": the article, its wording and the words that matched."""
    norm = compact(text)
    hits = [k for k in item.keywords if compact(k) in norm]
    return f"{item.article}: {item.text} [{', '.join(hits)}]"


def _unique_items(items: list[LegalAidItem]) -> list[LegalAidItem]:
    return list({item.id: item for item in items}.values())


def screen(
    facts: str,
    economic_status: str = "",
    time_limit: str = "",
    *,
    today: date,
    knowledge: Knowledge,
    rules: CaseRules,
) -> Screening:
    """Screen the form's answers for legal aid.

    ``facts`` is what happened, ``economic_status`` the answer about the family's income,
    ``time_limit`` the answer about a time limit that is close.  The matter is read from the
    facts; the Art 42 groups from the economic status (and, for the groups listed in
    case_rules.yml ``exempt_groups_from_facts`` such as migrant workers claiming wages, from
    the facts too); Art 44 urgency from the time-limit answer and the facts.
    """
    aid = knowledge.legal_aid

    matters = aid.matching_matters(facts)
    no_test = aid.matching_no_hardship_test(facts)
    from_facts = set(rules.legal_aid_screening.exempt_groups_from_facts)
    groups = _unique_items(
        aid.matching_exempt_groups(economic_status)
        + [g for g in aid.matching_exempt_groups(facts) if g.id in from_facts]
    )
    reasons = [_reason(item, facts) for item in [*no_test, *matters]]
    reasons += [_reason(item, f"{economic_status} {facts}") for item in groups]

    answer = parse_time_limit(time_limit, today, rules)
    threshold = aid.urgent.threshold_days
    urgent_items = _unique_items(aid.matching_urgent(f"{time_limit} {facts}"))
    urgent_by_days = answer.days_left is not None and 0 <= answer.days_left < threshold
    if urgent_by_days:
        reasons.append(
            f"{aid.urgent.article}: days_left={answer.days_left} < {threshold}"
            + (" (approximate)" if answer.approximate else "")
        )
    reasons += [_reason(item, f"{time_limit} {facts}") for item in urgent_items]

    hardship_test_needed = not (no_test or groups)
    materials = (
        list(aid.materials)
        + ([aid.hardship_materials] if hardship_test_needed else [])
        + [g.proof for g in groups if g.proof]
    )
    article = no_test[0].article if no_test else (matters[0].article if matters else None)
    return Screening(
        eligible_matter=bool(matters or no_test),
        article=article,
        hardship_test_needed=hardship_test_needed,
        exempt_group=groups[0].article if groups else None,
        urgent=urgent_by_days or bool(urgent_items),
        reasons=tuple(reasons),
        materials=tuple(dict.fromkeys(materials)),
        days_left=answer.days_left,
    )
