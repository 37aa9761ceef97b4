"""The one reader of Chinese numbers, spoken digits and dates (knowledge/readers.py)."""

from __future__ import annotations

from datetime import date

import pytest

from knowledge.readers import chinese_number, date_phrase, read_amount, read_date, spoken_digits

SUNDAY = date(2026, 11, 29)


@pytest.mark.parametrize("written, expected", [
    ("十二月三日", date(2026, 12, 3)),
    ("12月3日下午2点，天台村委会", date(2026, 12, 3)),
    ("这个月28号", date(2026, 11, 28)),
    ("下个月5号", date(2026, 12, 5)),
    ("腊月二十八", date(2027, 2, 4)),
    ("农历正月初五", date(2027, 2, 10)),
    ("2026-12-05", date(2026, 12, 5)),
    ("12/3", date(2026, 12, 3)),
    ("3号", date(2026, 12, 3)),
    ("明天", date(2026, 11, 30)),
    ("下周二", date(2026, 12, 1)),
    ("2月30日", None),
    ("下午两点", None),
])
def test_days_written_many_ways(written, expected):
    assert read_date(written, SUNDAY) == expected


@pytest.mark.parametrize("said, digits", [
    ("幺三八七六五四三二一零", "13876543210"),
    ("一三九 八七六五 四三二一", "13987654321"),
    ("我电话幺八七 零零零零 幺幺幺幺", "我电话18700001111"),
    ("139 8765 4321", "139 8765 4321"),  # typed digits stay as typed
    ("我们三组有一个", "我们三组有一个"),  # a few number words are words
])
def test_phone_digits_said_one_by_one(said, digits):
    assert spoken_digits(said) == digits


@pytest.mark.parametrize("text, yuan", [("欠我三千五百块", 3500), ("两万多", 20000), ("5千元", 5000),
                                        ("1.5万", 15000), ("没说钱", None),
                                        ("借了他1万5千块", 15000), ("三万五千元", 35000),
                                        ("一" * 2000, None)])  # a long run of numerals: no stall
def test_amounts(text, yuan):
    assert read_amount(text) == yuan


def test_numbers_and_when_a_story_happened():
    assert chinese_number("十五") == 15 and chinese_number("两千五") == 2500
    assert chinese_number("不是数") is None
    assert date_phrase("去年腊月他借了我钱") == "去年腊月"
