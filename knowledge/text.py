"""Text normalisation shared by the NLU pipeline, the actions and the bot.

Villagers type Traditional characters, full-width digits and stray spaces; the
model and the keyword matchers should see one canonical form of each message.
"""

from __future__ import annotations

import functools
import re
import unicodedata

_SPACES = re.compile(r"\s+")


@functools.lru_cache(maxsize=1)
def _t2s():
    from opencc import OpenCC  # opencc-python-reimplemented, pure Python

    return OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Convert Traditional Chinese characters to Simplified (others unchanged)."""
    if not text:
        return text
    return _t2s().convert(text)


def normalize(text: str) -> str:
    """NFKC (full-width → half-width), Traditional → Simplified, lower-case.

    Keeps the length of the text whenever the conversion is character-for-character,
    which it is for almost every message; callers that need offsets check it.
    """
    if not text:
        return ""
    return to_simplified(unicodedata.normalize("NFKC", text)).lower()


def compact(text: str) -> str:
    """`normalize` and drop all whitespace: for keyword matching on free text."""
    return _SPACES.sub("", normalize(text))


def shorten(text: str, limit: int = 60) -> str:
    """Text cut to `limit` characters with an ellipsis, for read-backs."""
    text = (text or "").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def cjk_count(text: str) -> int:
    """How many Chinese characters ``text`` has."""
    return len(_CJK.findall(text or ""))


#: The longest message the assistant reads (the bot, the terminal chat and the Rasa channel cut
#: there): a letter to the county fits, a pasted book does not stall the form.
MAX_MESSAGE_CHARS = 2000
#: Control characters other than line breaks and tabs (NUL would fail a PostgreSQL insert).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def message_text(text: str) -> str:
    """What the assistant reads of a message: control characters dropped, at most
    MAX_MESSAGE_CHARS."""
    return _CONTROL.sub("", text)[:MAX_MESSAGE_CHARS]
