"""Villagers, mediators and proxy agents on Telegram, through the REAL Rasa and action server.

The real PTB Application polls FakeBotApi on 127.0.0.1 and relays to the Rasa server of the
``rasa_url`` session fixture (trained model + action server, tests/conftest.py).  The action
server writes cases into the session's DATABASE_URL; the bot reads the same database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from playground.localapi import FakeBotApi
from bot_support import (
    CASE_NUMBER,
    TIANTAI_MEDIATION,
    buttons,
    join_as,
    messages_to,
    new_user_id,
    running_bot,
    shared_engine,
    store,
    wait_for_text,
)
from tests.servers import MODEL

pytestmark = pytest.mark.skipif(not MODEL.exists(), reason="no trained model: run `make test`")


@pytest.fixture
async def server() -> AsyncIterator[FakeBotApi]:
    # A bot of its own: update ids count per bot, and the session database is shared.
    async with FakeBotApi(token=f"{new_user_id()}:TEST-xiangyin-token") as fake:
        yield fake


async def tell_a_mediation(server: FakeBotApi, user: int) -> str:
    """The neighbour's-cow story of CONVERSATIONS.md, tapping buttons where a villager would;
    returns the case number the bot gave."""
    server.user_sends_text(user, "隔壁家的牛又跑到我地头，把苞谷吃了一大片，找他赔他不认账")
    consent = await wait_for_text(server, user, "愿意请调解员")
    server.user_taps_button(user, consent, buttons(consent)["愿意"])
    await wait_for_text(server, user, "对方是哪个")
    server.user_sends_text(user, "隔壁王老三")
    place = await wait_for_text(server, user, "哪个乡镇哪个村")
    assert "共和镇" in buttons(place)
    server.user_sends_text(user, "共和镇天台村")
    await wait_for_text(server, user, "留个电话")
    server.user_sends_text(user, "13987654321")
    confirm = await wait_for_text(server, user, "对吗")
    assert "139****4321" in confirm.text
    server.user_taps_button(user, confirm, buttons(confirm)["对"])
    filed = await wait_for_text(server, user, CASE_NUMBER)
    match = CASE_NUMBER.search(filed.text or "")
    assert match is not None
    return match.group(0)


async def test_a_villager_files_a_mediation_and_the_mediator_takes_it_to_an_outcome(
    server, rasa_url
):
    engine = shared_engine()
    villager, mediator = new_user_id(), new_user_id()
    async with running_bot(server, rasa_url, engine):
        await join_as(server, engine, mediator, TIANTAI_MEDIATION, "mediator")
        server.user_sends_text(villager, "/start")
        greet = await wait_for_text(server, villager, "乡音")
        assert "调解纠纷" in buttons(greet)

        number = await tell_a_mediation(server, villager)
        assert number.startswith("MD-")
        [case] = store(engine).cases_for_villager(f"tg:{villager}")
        assert case.number == number and case.agency.id == TIANTAI_MEDIATION
        server.user_sends_text(villager, "/cases")
        listed = await wait_for_text(server, villager, "您提交过的事")
        assert number in listed.text

        # The mediator gets the case with its facts and the three buttons, and accepts.
        card = await wait_for_text(server, mediator, number)
        assert "苞谷" in card.text
        server.user_taps_button(mediator, card, buttons(card)["接收"])
        accepted = await wait_for_text(server, mediator, "已接收")
        await wait_for_text(server, villager, "已经受理")

        # They talk through the bot; the villager's words do not go to Rasa meanwhile.
        server.user_taps_button(mediator, accepted, buttons(accepted)["与当事人对话"])
        await wait_for_text(server, villager, "想跟您说几句")
        before = len(messages_to(server, villager))
        server.user_sends_text(villager, "算了")  # to Rasa this would cancel; here it is relayed
        await wait_for_text(server, mediator, "【村民")
        server.user_sends_text(mediator, "王老三答应赔，但要先看看地")
        await wait_for_text(server, villager, "要先看看地")
        assert len(messages_to(server, villager)) == before + 1
        server.user_sends_text(mediator, "/end")
        await wait_for_text(server, villager, "结束了对话")

        # 调解不成: the villager is told of the other routes and offered legal aid.
        server.user_taps_button(mediator, accepted, buttons(accepted)["调解不成"])
        await wait_for_text(server, mediator, "已记录")
        told = await wait_for_text(server, villager, "没调成")
        assert "法律援助" in told.text and number in told.text
    case = store(engine).get_case(number)
    assert (case.status.value, case.outcome) == ("resolved", "no_agreement")


async def test_a_proxy_agent_files_for_a_villager_and_only_the_agent_sees_the_case(
    server, rasa_url
):
    engine = shared_engine()
    agent, stranger = new_user_id(), new_user_id()
    async with running_bot(server, rasa_url, engine):
        await join_as(
            server, engine, agent, "gonghe.tiantai.village_service_point", "agent", name="赵代办"
        )
        server.user_sends_text(agent, "/file 张美华")
        await wait_for_text(server, agent, "替张美华办事")
        server.user_sends_text(agent, "村主任把低保名额给了他亲戚，我们真正困难的莫得")
        await wait_for_text(server, agent, "怎么处理")
        server.user_sends_text(agent, "重新评定，把名单公开")
        await wait_for_text(server, agent, "怎么称呼")
        server.user_sends_text(agent, "我叫张美华")
        await wait_for_text(server, agent, "留个电话")
        server.user_sends_text(agent, "13812345678")
        await wait_for_text(server, agent, "哪个乡镇哪个村")
        server.user_sends_text(agent, "共和镇天台村")
        confirm = await wait_for_text(server, agent, "对吗")
        server.user_taps_button(agent, confirm, buttons(confirm)["对"])
        filed = await wait_for_text(server, agent, CASE_NUMBER)
        number = CASE_NUMBER.search(filed.text).group(0)
        server.user_sends_text(agent, "/done")
        await wait_for_text(server, agent, "已结束替张美华办事")

        server.user_sends_text(agent, "/mine")
        mine = await wait_for_text(server, agent, "您手上的事项")
        assert number in mine.text and "张美华" in mine.text
        server.user_sends_text(agent, f"/case {number}")
        timeline = await wait_for_text(server, agent, "状态：")
        assert number in timeline.text and "牟定县信访局" in timeline.text
        server.user_sends_text(agent, f"/note {number} 已陪同去镇上补材料")
        await wait_for_text(server, agent, "备注已保存")

        server.user_sends_text(stranger, f"/case {number}")
        refused = await wait_for_text(server, stranger, "没有权限")
        assert number not in refused.text
    case = store(engine).get_case(number)
    assert case.filed_by == f"tg:{agent}"
    assert case.villager.sender_id.startswith(f"agent:{agent}:")
    assert "张美华" not in case.villager.sender_id  # no name in a conversation id
    assert case.route == "petition" and case.villager.name == "张美华"
    assert number in [c.number for c in store(engine).cases_filed_by(f"tg:{agent}")]


async def test_a_shared_location_answers_the_village_question_or_is_remembered_for_later(
    server, rasa_url
):
    from knowledge.frontend import say

    engine = shared_engine()
    in_form, before_form = new_user_id(), new_user_id()
    async with running_bot(server, rasa_url, engine):
        # In the form: the village question is answered by the location.
        server.user_sends_text(in_form, "隔壁家的牛又跑到我地头，把苞谷吃了一大片，找他赔他不认账")
        consent = await wait_for_text(server, in_form, "愿意请调解员")
        server.user_taps_button(in_form, consent, buttons(consent)["愿意"])
        await wait_for_text(server, in_form, "对方是哪个")
        server.user_sends_text(in_form, "隔壁王老三")
        await wait_for_text(server, in_form, "哪个乡镇哪个村")
        server.user_sends_location(in_form, 25.331, 101.522)
        guess = await wait_for_text(server, in_form, say("location_guess", place="共和镇天台村"))
        server.user_taps_button(in_form, guess, buttons(guess)[say("location_yes")])
        await wait_for_text(server, in_form, "留个电话")
        server.user_sends_text(in_form, "13987654321")
        confirm = await wait_for_text(server, in_form, "对吗")
        assert "共和镇天台村" in confirm.text

        # Before any form: remembered, and the form does not ask for it again.
        server.user_sends_location(before_form, 25.331, 101.522)
        guess = await wait_for_text(
            server, before_form, say("location_guess", place="共和镇天台村")
        )
        server.user_taps_button(before_form, guess, buttons(guess)[say("location_yes")])
        await wait_for_text(server, before_form, "记下了：共和镇天台村")
        server.user_sends_text(
            before_form, "隔壁家的牛又跑到我地头，把苞谷吃了一大片，找他赔他不认账"
        )
        consent = await wait_for_text(server, before_form, "愿意请调解员")
        server.user_taps_button(before_form, consent, buttons(consent)["愿意"])
        await wait_for_text(server, before_form, "对方是哪个")
        server.user_sends_text(before_form, "隔壁王老三")
        await wait_for_text(server, before_form, "留个电话")  # no village question
        texts = [c.text or "" for c in messages_to(server, before_form)]
        assert not any("哪个乡镇哪个村" in t for t in texts)
