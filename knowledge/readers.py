"""The one reader of Chinese numbers, spoken digits and dates that villagers and staff write.

Everything that turns "十二月三日", "这个月28号", "腊月二十八", "三千五百块" or "幺三八…" into a
value goes through here: the forms (a phone number, a time limit, an amount), the staff's
appointments ("12月3日下午2点，天台村委会") and the facts read from a first message.  Pure
functions, no I/O; numerals through cn2an, the lunar calendar through lunardate.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta

__all__ = [
    "chinese_number",
    "date_phrase",
    "read_amount",
    "read_date",
    "spoken_digits",
]

_DIGIT_OF = {
    "零": "0", "〇": "0", "○": "0", "洞": "0", "0": "0",
    "幺": "1", "一": "1", "1": "1",
    "二": "2", "两": "2", "2": "2",
    "三": "3", "3": "3", "四": "4", "4": "4", "五": "5", "5": "5",
    "六": "6", "6": "6", "七": "7", "拐": "7", "7": "7",
    "八": "8", "8": "8", "九": "9", "勾": "9", "9": "9",
}
# A run of spoken digits, perhaps split by spaces or dashes ("幺三八 七六五四 三二一零").
_SPOKEN_RUN = re.compile(r"[零〇○洞幺一二两三四五六七拐八九勾0-9](?:[\s\-－—]*[零〇○洞幺一二两三四五六七拐八九勾0-9])+")
_CN_NUMERAL = "零〇一二两三四五六七八九十百千万亿"
_NUMBER = rf"(?:\d+(?:\.\d+)?|[{_CN_NUMERAL}]+)"


def spoken_digits(text: str, minimum: int = 7) -> str:
    """Runs of at least `minimum` digits said one by one ("幺三八七六五四三二一零", "一三九
    8765 4321") written as Arabic digits; the rest of the text is unchanged.

    Shorter runs stay as they are: "一个" or "三组" are words, not digits.  A run that is a
    counted number ("一千三百") has 千/百 in it and is never a run of digits.
    """

    def replace(match: re.Match[str]) -> str:
        run = match.group(0)
        if not any(c in _DIGIT_OF and not c.isdigit() for c in run):
            return run  # Arabic digits only: a phone as typed, or a date, left as it is
        digits = "".join(_DIGIT_OF[c] for c in run if c in _DIGIT_OF)
        return digits if len(digits) >= minimum else run

    return _SPOKEN_RUN.sub(replace, text or "")


def chinese_number(text: str) -> float | None:
    """'5' → 5, '十五' → 15, '两千五' → 2500, '1.5万' → 15000, '三万' → 30000; None if it is not
    a number."""
    import cn2an

    value = (text or "").strip().rstrip("多余来")
    if not value:
        return None
    try:
        number = cn2an.cn2an(value, "smart")
    except (ValueError, KeyError, IndexError):
        return None
    return float(number)


# Unambiguous and bounded, so a long run of numerals with no unit costs linear time (the looser
# "number, 万/千/百, number" pattern backtracked cubically: a 2,000-character message stalled).
_AMOUNT = re.compile(
    rf"(\d{{1,12}}(?:\.\d{{1,4}})?(?:[万千百]\d{{0,4}})?|[{_CN_NUMERAL}]{{1,12}})"
    r"\s*多?\s*(万元|万块|万|千块|千元|千|元|块钱|块)"
)


def read_amount(text: str) -> float | None:
    """The first sum of money in `text` in yuan ("三千五百块" → 3500, "两万多" → 20000,
    "5千元" → 5000), or None."""
    match = _AMOUNT.search(text or "")
    if not match:
        return None
    said, unit = match.group(1), match.group(2)
    if unit[0] in "万千" and any(c in "万千百" for c in said):
        return chinese_number(said + unit[0])  # "1万5千块", "三万五千元": the unit ends the number
    number = chinese_number(said)
    if number is None:
        return None
    if unit.startswith("万"):
        number *= 10_000
    elif unit.startswith("千"):
        number *= 1_000
    return number


# --- dates ----------------------------------------------------------------------
_N = r"(\d{1,4}|[零〇一二两三四五六七八九十]{1,3})"
_FULL = re.compile(r"(20\d\d)\s*[年\-/.]\s*(\d{1,2})\s*[月\-/.]\s*(\d{1,2})")
_MONTH_DAY = re.compile(rf"{_N}\s*月(?:份)?\s*{_N}\s*[日号]?")
_SLASH = re.compile(r"(?<![\d.])(\d{1,2})\s*/\s*(\d{1,2})(?![\d./])")
_THIS_MONTH_DAY = re.compile(rf"(这个月|本月|这月|下个月|下月){_N}\s*[日号]")
_DAY_ONLY = re.compile(rf"(?<![\d月{_CN_NUMERAL}])(\d{{1,2}}|[一二三四五六七八九十]{{1,3}})\s*[日号]")
_WEEKDAY = re.compile(r"((?:下个?)+)?(?:星期|周|礼拜)([一二三四五六日天])")
_WEEKDAYS = "一二三四五六日"
_RELATIVE = {"大后天": 3, "后天": 2, "明天": 1, "今天": 0, "今日": 0, "明日": 1, "昨天": -1, "前天": -2}
_LUNAR_MONTHS = {"正": 1, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
                 "九": 9, "十": 10, "冬": 11, "十一": 11, "腊": 12, "十二": 12}
_LUNAR = re.compile(
    r"(?:农历|阴历)?(正|冬|腊|十一|十二|[一二三四五六七八九十])月\s*(初[一二三四五六七八九十]|[二廿]十[一二三四五六七八九]?|"
    r"十[一二三四五六七八九]?|三十|[一二三四五六七八九])[日号]?"
)


def _safe(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _int(text: str) -> int | None:
    number = chinese_number(text)
    return int(number) if number is not None and number == int(number) else None


def _next_month_day(today: date, month: int, day: int) -> date | None:
    """The next `month`/`day` on or after `today` (this year, else next year)."""
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    guess = _safe(today.year, month, day)  # "2月30日" is no day at all
    if guess is not None and guess < today:
        guess = _safe(today.year + 1, month, day)
    return guess


def _in_month(year: int, month: int, day: int) -> date | None:
    if not 1 <= day <= 31:
        return None
    return _safe(year, month, min(day, calendar.monthrange(year, month)[1]))


def _lunar_day(text: str) -> int | None:
    if text.startswith("初"):
        return _int(text[1:])
    return _int(text.replace("廿", "二十"))


def _lunar(today: date, month: int, day: int) -> date | None:
    """The next solar date of lunar `month`/`day` on or after `today`."""
    from lunardate import LunarDate

    for lunar_year in (today.year - 1, today.year, today.year + 1):
        try:
            solar = LunarDate(lunar_year, month, day).to_solar_date()
        except ValueError:
            continue
        if solar >= today:
            return solar
    return None


def read_date(text: str, today: date) -> date | None:
    """The day `text` names, or None when it names none.

    Understood: "2026-12-03", "2026年12月3日", "12月3日", "十二月三日", "12/3", "这个月28号",
    "下个月5号", "3号", "明天", "后天", "周五", "下周二", "腊月二十八", "农历正月初五".  A day
    without a year (or month) is the next such day from `today`; "昨天" and "前天" are in the
    past.
    """
    value = (text or "").replace("星期天", "星期日").replace("礼拜天", "礼拜日").replace("周天", "周日")
    found = _FULL.search(value)
    if found:
        return _safe(*(int(g) for g in found.groups()))
    found = _LUNAR.search(value)
    if found and ("农历" in value or "阴历" in value or found.group(1) in ("正", "冬", "腊")
                  or found.group(2).startswith(("初", "廿"))):
        month, day = _LUNAR_MONTHS.get(found.group(1)), _lunar_day(found.group(2))
        if month and day:
            return _lunar(today, month, day)
    found = _THIS_MONTH_DAY.search(value)
    if found:
        day = _int(found.group(2))
        if day is None:
            return None
        if found.group(1) in ("下个月", "下月"):
            year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
            return _in_month(year, month, day)
        return _in_month(today.year, today.month, day)
    found = _MONTH_DAY.search(value) or _SLASH.search(value)
    if found:
        month, day = _int(found.group(1)), _int(found.group(2))
        if month and day:
            return _next_month_day(today, month, day)
    for word, days in _RELATIVE.items():
        if word in value:
            return today + timedelta(days=days)
    found = _WEEKDAY.search(value)
    if found:
        weeks_ahead = (found.group(1) or "").count("下")
        target = _WEEKDAYS.index(found.group(2).replace("天", "日"))
        start_of_week = today - timedelta(days=today.weekday())
        guess = start_of_week + timedelta(days=target, weeks=weeks_ahead)
        return guess if guess >= today else guess + timedelta(weeks=1)
    found = _DAY_ONLY.search(value)
    if found:
        day = _int(found.group(1))
        if day is None or not 1 <= day <= 31:
            return None
        if day >= today.day:
            return _in_month(today.year, today.month, day)
        year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
        return _in_month(year, month, day)
    return None


_WHEN = re.compile(
    r"(?:\d{4}年|今年|去年|前年)?(?:\d{1,2}|[一二三四五六七八九十正冬腊]{1,2})月(?:份)?(?:\d{1,2}[日号])?"
    r"|今年|去年|前年|上个月|这个月|上周|上星期|上礼拜|昨天|前天|年初|年底"
)


def date_phrase(text: str) -> str | None:
    """The words that say when something happened ("去年腊月", "上个月", "3月5号"), as said:
    a story's date is kept in the villager's words, not turned into a day."""
    found = _WHEN.search(re.sub(r"\s+", "", text or ""))
    return found.group(0) if found else None
