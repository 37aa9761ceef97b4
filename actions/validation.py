"""Checks on what villagers type into a form. Pure functions, no Rasa."""

from __future__ import annotations

import re

from knowledge.text import compact

__all__ = ["clean_name", "informative", "normalize_phone"]

_MOBILE = re.compile(r"1[3-9]\d{9}")
_LANDLINE = re.compile(r"0\d{2,3}\d{7,8}")
_SEPARATORS = re.compile(r"[\s\-－—()（）+]")


def normalize_phone(text: str) -> str | None:
    """The phone number in `text` as bare digits, or None if there is none.

    Accepts mainland mobiles (11 digits, 1[3-9]…), a +86/86 prefix, and landlines
    with an area code ("0878-5212345"); spaces, dashes and full-width digits are fine.
    """
    digits = _SEPARATORS.sub("", compact(text or ""))
    digits = re.sub(r"^(?:\+?86)(?=1[3-9]\d{9}$)", "", digits)
    # Pick the number out of a sentence ("我的电话是139…").
    for pattern in (_MOBILE, _LANDLINE):
        for match in pattern.finditer(digits):
            start, end = match.span()
            before = digits[start - 1] if start else ""
            after = digits[end] if end < len(digits) else ""
            if not before.isdigit() and not after.isdigit():
                return match.group(0)
    return None


def clean_name(text: str) -> str | None:
    """A person's name or form of address from an answer like "我叫张美华" or "姓杨"."""
    value = compact(text)
    value = re.sub(r"^(?:我叫|我是|叫我|我姓|姓|叫|名字是|名字叫|我的名字是)", "", value)
    value = value.strip("，。！,.!～~ ")
    if not value or len(value) > 20 or value.isdigit():
        return None
    return value


def informative(text: str, minimum: int = 4) -> bool:
    """Whether a free-text answer says something (not empty, emoji-only or "嗯")."""
    value = re.sub(r"[^\w]", "", compact(text or ""), flags=re.UNICODE)
    return len(value) >= minimum
