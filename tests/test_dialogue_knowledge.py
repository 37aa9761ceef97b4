"""knowledge/dialogue.yml: loaded and checked, with the file, entry and field named."""

from __future__ import annotations

import pytest
import yaml

from knowledge.dialogue import FILE, DialogueKnowledgeError, load, parse


def test_the_shipped_file_loads():
    words = load()
    assert words.routes["legal_aid"].label and words.editable["petition"]
    assert words.wants_route("我想找个律师") == "legal_aid"
    assert words.says_already_said("刚才说了嘛") and words.withholds_name("名字就不留了")
    assert words.is_question("调解要跑镇上去不") and not words.is_question("不")
    assert words.looks_like_name("罗老五") and not words.looks_like_name("重新评一遍")


def test_a_broken_entry_is_named():
    data = yaml.safe_load(FILE.read_text(encoding="utf-8"))
    data["faq"][0]["topic"] = "weather"
    with pytest.raises(DialogueKnowledgeError, match=r"dialogue.yml: faq\[0\]: field 'topic'"):
        parse(data)
    data = yaml.safe_load(FILE.read_text(encoding="utf-8"))
    data["editable"]["petition"] = ["facts", "shoe_size"]
    with pytest.raises(DialogueKnowledgeError, match="editable: field 'petition'"):
        parse(data)


def test_two_close_routes_make_a_question_and_a_clear_winner_does_not():
    words = load()
    close = [{"name": "petition", "confidence": 0.45}, {"name": "legal_aid", "confidence": 0.40}]
    assert words.close_routes(close) == ("petition", "legal_aid")
    clear = [{"name": "petition", "confidence": 0.8}, {"name": "legal_aid", "confidence": 0.1}]
    assert words.close_routes(clear) is None
    act = [{"name": "inform", "confidence": 0.5}, {"name": "petition", "confidence": 0.45}]
    assert words.close_routes(act) is None
