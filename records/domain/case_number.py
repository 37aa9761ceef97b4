"""Case numbers a villager can read off a phone and say over the telephone: ``MD-2611-7K4Q``.

Shape: ``<route prefix>-<YYMM>-<3 random characters><check character>``.

* prefix by route: XF 信访 petition, MD 调解 mediation, FY 法律援助 legal aid, BS 办事 service;
* YYMM: the (county-local) month of submission;
* random and check characters come from ``23456789ABCDEFGHJKMNPQRSTUVWXYZ`` — 31 characters
  with no 0/O, 1/I/L, so nothing can be misread;
* the check character is a weighted sum modulo 31 (a prime) over the nine characters before
  it, with weights 1…9.  Because 31 is prime and every weight and every difference between
  two characters' values is a non-zero number below 31, any single wrong character changes
  the sum, and so does swapping two neighbours (their weights differ by 1).  The tests check
  this exhaustively.

Numbers are random, not sequential, so that a number does not reveal how many cases a place
has and cannot be guessed from a neighbour's.  Uniqueness is the store's job (a UNIQUE
constraint and a retry with a fresh number on collision).
"""

from __future__ import annotations

import random
import re
import unicodedata
from datetime import date, datetime

__all__ = [
    "ALPHABET",
    "PREFIXES",
    "ROUTE_OF_PREFIX",
    "check_character",
    "find_case_number",
    "is_valid",
    "new_case_number",
    "normalize",
]

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_MODULUS = len(ALPHABET)  # 31, a prime
assert _MODULUS == 31

#: Route → two-letter prefix (pinyin initials the staff already use: 信访, 调解, 法援, 办事).
PREFIXES: dict[str, str] = {
    "petition": "XF",
    "mediation": "MD",
    "legal_aid": "FY",
    "service": "BS",
}
ROUTE_OF_PREFIX: dict[str, str] = {prefix: route for route, prefix in PREFIXES.items()}

_RANDOM_LENGTH = 3
_CANONICAL = re.compile(
    r"^(?P<prefix>[A-Z]{2})-(?P<yymm>\d{2}(?:0[1-9]|1[0-2]))-"
    rf"(?P<random>[{ALPHABET}]{{{_RANDOM_LENGTH}}})(?P<check>[{ALPHABET}])$"
)
# Anything a villager may put between the parts: dashes of every width, spaces, dots.
_SEPARATORS = re.compile(r"[\s\-_.·・‐‑‒–—―－]+")
_IN_TEXT = re.compile(
    r"(?<![A-Z0-9])(XF|MD|FY|BS)[\s\-_.·・‐‑‒–—―－]*(\d{4})[\s\-_.·・‐‑‒–—―－]*([A-Z0-9]{4})(?![A-Z0-9])"
)


def _values(body: str) -> list[int]:
    """Numeric value of each of the nine body characters, by position.

    Prefix letters count A=0…Z=25, the date digits their digit value, and the random
    characters their index in ALPHABET; each mapping is one-to-one below 31, which is what
    makes every single substitution detectable.
    """
    prefix, yymm, rand = body[:2], body[2:6], body[6:]
    return (
        [ord(c) - ord("A") for c in prefix]
        + [int(c) for c in yymm]
        + [ALPHABET.index(c) for c in rand]
    )


def check_character(prefix: str, yymm: str, random_part: str) -> str:
    """The check character for a number's first nine characters (dashes excluded)."""
    body = f"{prefix}{yymm}{random_part}"
    if (
        len(prefix) != 2
        or not prefix.isascii()
        or not prefix.isupper()
        or len(yymm) != 4
        or not yymm.isdigit()
        or len(random_part) != _RANDOM_LENGTH
        or any(c not in ALPHABET for c in random_part)
    ):
        raise ValueError(f"not a case-number body: {body!r}")
    total = sum(weight * value for weight, value in enumerate(_values(body), start=1))
    return ALPHABET[total % _MODULUS]


def new_case_number(route: str, when: date | datetime, rng: random.Random | None = None) -> str:
    """A fresh random case number for ``route`` submitted on ``when`` (county-local time).

    ``rng`` defaults to the operating system's random source, so numbers cannot be predicted;
    tests pass a seeded ``random.Random``.
    """
    try:
        prefix = PREFIXES[route]
    except KeyError:
        raise ValueError(
            f"unknown route {route!r}; expected one of {', '.join(PREFIXES)}"
        ) from None
    source = rng if rng is not None else random.SystemRandom()
    yymm = f"{when.year % 100:02d}{when.month:02d}"
    random_part = "".join(source.choice(ALPHABET) for _ in range(_RANDOM_LENGTH))
    return f"{prefix}-{yymm}-{random_part}{check_character(prefix, yymm, random_part)}"


def is_valid(number: str) -> bool:
    """Is ``number`` a well-formed case number with a correct check character?

    Accepts what :func:`normalize` accepts (lower case, missing dashes, full-width).
    """
    return normalize(number) is not None


def normalize(number: str) -> str | None:
    """The canonical form (``MD-2611-7K4Q``) of what a villager typed, or None.

    Lower case, full-width characters, missing or odd dashes and spaces are accepted.  A
    character outside the alphabet (O, 0, I, 1, L in the random part) is not guessed at: the
    number is rejected, because guessing could point a villager at someone else's case.
    """
    if not isinstance(number, str):
        return None
    text = _SEPARATORS.sub("", unicodedata.normalize("NFKC", number).upper())
    if len(text) != 2 + 4 + _RANDOM_LENGTH + 1:
        return None
    canonical = f"{text[:2]}-{text[2:6]}-{text[6:]}"
    match = _CANONICAL.match(canonical)
    if match is None or match["prefix"] not in ROUTE_OF_PREFIX:
        return None
    expected = check_character(match["prefix"], match["yymm"], match["random"])
    return canonical if match["check"] == expected else None


def find_case_number(text: str) -> str | None:
    """The first valid case number mentioned in a message ("我的编号是md 2611 7k4q"), or None."""
    if not text:
        return None
    upper = unicodedata.normalize("NFKC", text).upper()
    for match in _IN_TEXT.finditer(upper):
        candidate = normalize("".join(match.groups()))
        if candidate is not None:
            return candidate
    return None
