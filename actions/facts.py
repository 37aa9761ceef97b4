"""What a message already says: the place, the other party, the demand, an amount, a date, a
phone number, a name.  A story told once is never asked for again.

Read with the county's place names (knowledge/jurisdictions.yml), the words in
knowledge/dialogue.yml and the one reader of numbers and dates (knowledge/readers.py).  Pure
functions over text; the forms decide what to do with what is found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Optional

from knowledge.dialogue import DialogueWords
from knowledge.readers import date_phrase, read_amount, spoken_digits
from knowledge.base import Knowledge
from knowledge.text import compact, normalize
from actions.validation import normalize_phone

_NAME = re.compile(r"(?:我叫|我是|本人|名字是|名字叫|叫我)([\u4e00-\u9fff]{1,4}?)(?=[，,。.\s电手住家在是的]|$|\d)")


@dataclass(frozen=True)
class Facts:
    """What one message says, each part None when it says nothing about it."""

    township: Optional[str] = None
    village: Optional[str] = None
    other_party: Optional[str] = None
    demand: Optional[str] = None
    amount: Optional[str] = None
    event_date: Optional[str] = None
    phone: Optional[str] = None
    name: Optional[str] = None
    consents_to_mediation: bool = False


def find_phone(text: str) -> Optional[str]:
    """A phone number, typed or said digit by digit ("幺三八…", "一三九…").  Typed digits are
    read first: in "罗老五 139…" the 五 belongs to a name."""
    return normalize_phone(text or "") or normalize_phone(spoken_digits(text or ""))


def find_name(text: str) -> Optional[str]:
    """"我叫张美华", "我姓杨 杨正福" → 杨正福, "姓李" → 李先生/女士."""
    value = normalize(spoken_digits(text or ""))
    surname = re.search(r"(?:我)?姓([\u4e00-\u9fff])", value)
    if surname:  # "我姓杨 杨正福": the full name said after the surname wins
        full = re.search(rf"{surname.group(1)}[\u4e00-\u9fff]{{1,2}}(?=[，,。.\s电手住家在是的]|$|\d)",
                         value[surname.end():])
        if full:
            return full.group(0)
    found = _NAME.search(value)
    if found:
        return found.group(1)
    return f"{surname.group(1)}先生/女士" if surname else None


def find_other_party(text: str, words: DialogueWords) -> Optional[str]:
    """"隔壁王老三", "我大哥", "包工头老刘" — the first relation word in the text, with the name
    that follows it when there is one (a surname and up to two characters, or 老/小 and one or
    two): "隔壁修房子" is 隔壁, not 隔壁修房子."""
    value = compact(text or "")
    surnames = re.escape(words.surnames) if words.surnames else "王"
    name = re.compile(rf"(?:[{surnames}](?:老|小)?[\u4e00-\u9fff]{{0,1}}(?=[家的屋那把将让叫给跟和对在又就都也还不没要说了是，,。！!？?\s]|$)|老[\u4e00-\u9fff])")
    best: Optional[tuple[int, str]] = None
    for word in words.other_party_words:
        at = value.find(word)
        if at < 0:
            continue
        tail = name.match(value, at + len(word))
        if tail is None and word in words.other_party_generic:
            continue  # "隔壁" alone does not say who
        found = word + (tail.group(0) if tail else "")
        if best is None or at < best[0]:
            best = (at, found)
    return best[1] if best else None


def find_demand(text: str, words: DialogueWords) -> Optional[str]:
    """"…请领导督促尽快修好" → "请领导督促尽快修好": the clause that starts with a demand word."""
    value = (text or "").strip()
    for marker in words.demand_markers:
        at = value.find(marker)
        if at >= 0:
            clause = re.split(r"[。！!？?\n]", value[at:])[0].strip(" ，,")
            if len(compact(clause)) >= 4:
                return clause[:60]
    return None


def read_facts(text: str, knowledge: Knowledge, words: DialogueWords, today: date | None = None) -> Facts:
    """Everything `text` already says that a form would otherwise ask."""
    place = knowledge.find_place(text or "")
    township = place.township.name if place and place.township else None
    village = place.village.name if place and place.village else None
    amount = read_amount(text or "")
    return Facts(
        township=township,
        village=village,
        other_party=find_other_party(text, words),
        demand=find_demand(text, words),
        amount=f"{amount:g}元" if amount else None,
        event_date=date_phrase(text),
        phone=find_phone(text),
        name=find_name(text),
        consents_to_mediation=words.consents_to_mediation(text or ""),
    )
