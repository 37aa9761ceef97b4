"""End to end over HTTP: the real Rasa server and action server, then the database.

A villager finishes each route through Rasa's REST channel; the case, its
statutory dates and the agency's outbox message must be in the case store.
"""

from __future__ import annotations

import re
import uuid

import pytest
import requests
from sqlalchemy import select

from bot_support import cipher, shared_engine, store
from records.adapters.orm import outbox
from tests.servers import secret_headers

NUMBER = re.compile(r"(MD|XF|FY|BS)-\d{4}-[2-9A-HJKMNP-Z]{4}")


class Villager:
    """One person chatting through the REST channel."""

    def __init__(self, rasa_url: str) -> None:
        self.url = f"{rasa_url}/webhooks/rest/webhook"
        self.sender = f"e2e-{uuid.uuid4().hex[:10]}"
        self.heard: list[str] = []

    def says(self, text: str) -> str:
        response = requests.post(self.url, json={"sender": self.sender, "message": text},
                                 headers=secret_headers(), timeout=60)
        response.raise_for_status()
        replies = [r.get("text") or "" for r in response.json()]
        self.heard += replies
        return "\n".join(replies)


def agency_messages(case_number: str) -> list[dict]:
    with shared_engine().connect() as connection:
        rows = connection.execute(select(outbox).where(outbox.c.case_number == case_number)).mappings()
        messages = [dict(r) for r in rows]
    for m in messages:  # encrypted at rest (it may name the villager)
        m["payload"] = cipher().decrypt_json(m["payload"])
    return messages


def the_only_case(villager: Villager):
    cases = store(shared_engine()).cases_for_villager(villager.sender)
    assert len(cases) == 1, villager.heard
    return cases[0]


def test_a_mediation_ends_in_a_routed_case_with_an_outbox_message(rasa_url):
    v = Villager(rasa_url)
    assert "调解" in v.says("隔壁家的牛又跑到我地头，把苞谷吃了一大片，找他赔他不认账")
    v.says("/affirm")  # 愿意 (the button)
    assert "哪个村" in v.says("隔壁王老三")
    assert "电话" in v.says("共和镇天台村")
    assert "139****4321" in v.says("13987654321")
    final = v.says("/affirm")  # 对 (the button)
    case = the_only_case(v)
    assert case.number in final and case.number.startswith("MD-")
    assert case.route == "mediation" and case.dispute_type == "neighbour"
    assert case.agency.name == "天台村人民调解委员会"
    assert case.facts["other_party"] == "隔壁王老三"
    # One message for the committee: to the agency itself, or one row per person there
    # (staff registered by other tests in this session's database).
    sent = agency_messages(case.number)
    assert sent and {m["kind"] for m in sent} == {"case_assigned"}
    assert {
        m["recipient_id"] if m["recipient_kind"] == "agency" else m["payload"]["addressed_agency"]
        for m in sent
    } == {"gonghe.tiantai.village_mediation"}


def test_a_petition_gets_the_15_day_notice_date(rasa_url):
    v = Villager(rasa_url)
    v.says("村主任把低保名额给了他亲戚，我们真正困难的莫得")
    v.says("重新评定，把名单公开")
    v.says("张美华")
    v.says("13987654321")
    v.says("共和镇天台村")
    final = v.says("/affirm")
    case = the_only_case(v)
    assert case.number.startswith("XF-") and case.number in final
    notice = next(d for d in case.deadlines if d.deadline_id == "petition_intake_notice")
    assert (notice.due - case.created_at.date()).days >= 15
    assert f"{notice.due.month}月{notice.due.day}日" in final
    assert agency_messages(case.number)


def test_legal_aid_for_wages_is_filed_with_the_7_day_decision(rasa_url):
    v = Villager(rasa_url)
    assert "1年" in v.says("老板欠我三个月工资不给，想找律师又莫得钱")
    v.says("/deny")  # no time limit ending soon
    v.says("在外面打工，家里困难")
    v.says("新桥镇石坝村")
    v.says("13812345678")
    final = v.says("/affirm")
    case = the_only_case(v)
    assert case.number.startswith("FY-") and case.number in final
    assert any(d.deadline_id == "legal_aid_decision" for d in case.deadlines)
    assert case.screening is not None and not case.screening.hardship_test_needed
    assert agency_messages(case.number)


def test_a_service_question_is_answered_without_a_case(rasa_url):
    v = Villager(rasa_url)
    assert "异地就医" in v.says("异地就医咋个备案")
    assert store(shared_engine()).cases_for_villager(v.sender) == []


def test_the_villager_can_ask_how_their_case_is_going(rasa_url):
    v = Villager(rasa_url)
    v.says("隔壁家的狗天天晚上叫，吵得睡不着，说了他也不管")
    v.says("/affirm")
    v.says("隔壁李二嫂")
    v.says("共和镇腊湾村")
    v.says("13987654321")
    v.says("/affirm")
    number = the_only_case(v).number
    status = v.says("我的事办得咋样了")
    assert number in status and "腊湾村人民调解委员会" in status


@pytest.mark.parametrize("text", ["😂😂😂", "？？？", "鄰居佔了我家的地，怎麼辦", "a" * 2000])
def test_odd_messages_get_a_reply(rasa_url, text):
    assert Villager(rasa_url).says(text).strip()
