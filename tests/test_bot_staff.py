"""Staff on Telegram: invites, new cases with buttons, hand-backs, outcomes, talks, reminders.

The real PTB Application against FakeBotApi; cases are written straight into a database of
the test's own (no dialogue needed), and the villager side talks to a stub Rasa.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from playground.localapi import FakeBotApi
from bot_support import (
    GONGHE_MEDIATION,
    TIANTAI_MEDIATION,
    buttons,
    file_case,
    fresh_engine,
    join_as,
    messages_to,
    new_user_id,
    on_day,
    running_bot,
    sessions_of,
    store,
    wait_for_text,
)
from rasa_stub import StubRasa
from records.adapters.orm import case_notes, outbox, reminders_sent, staff
from records.domain.clock import county_date
from knowledge.frontend import say


@pytest.fixture
async def server() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as fake:
        yield fake


@pytest.fixture
async def rasa() -> AsyncIterator[StubRasa]:
    async with StubRasa() as stub:
        yield stub


async def test_a_one_time_invite_makes_staff_and_a_claim_does_not(server, rasa, tmp_path):
    engine = fresh_engine(tmp_path)
    mediator, impostor = new_user_id(), new_user_id()
    code = store(engine).create_invite(TIANTAI_MEDIATION, "mediator", created_by="test")
    async with running_bot(server, rasa.url, engine):
        server.user_sends_text(impostor, "/join 我是调解员")
        server.user_sends_text(mediator, f"/join {code}", first_name="李调解")
        # Different chats are handled in parallel: the code is spent once the
        # mediator is welcomed, not before.
        welcome = await wait_for_text(server, mediator, "欢迎您")
        server.user_sends_text(impostor, f"/join {code}")  # the code is spent
        server.user_sends_text(impostor, "/mine")
        refused = await wait_for_text(server, impostor, "邀请码不对")
        await server.wait_for_messages(impostor, 3)
    assert "天台村人民调解委员会" in welcome.text and "人民调解员" in welcome.text
    assert refused.text.count("邀请码") == 1
    impostor_texts = [c.text for c in messages_to(server, impostor)]
    assert sum("邀请码不对" in t for t in impostor_texts) == 2
    assert "只给登记过的工作人员用" in impostor_texts[-1]
    with engine.connect() as conn:
        rows = conn.execute(select(staff.c.channel, staff.c.channel_user_id, staff.c.role)).all()
    assert [tuple(r) for r in rows] == [("tg", str(mediator), "mediator")]


async def test_a_new_case_reaches_the_mediator_who_accepts_talks_and_records_an_agreement(
    server, rasa, tmp_path
):
    engine = fresh_engine(tmp_path)
    mediator, villager = new_user_id(), new_user_id()
    async with running_bot(server, rasa.url, engine):
        await join_as(server, engine, mediator, TIANTAI_MEDIATION, "mediator")
        number = file_case(engine, f"tg:{villager}")

        card = await wait_for_text(server, mediator, number)
        assert "隔壁家的牛" in card.text and "共和镇天台村" in card.text
        assert "13987654321" not in card.text  # the phone stays out of pushed messages
        assert set(buttons(card)) == {"接收", "退回", "转上级"}

        server.user_taps_button(mediator, card, buttons(card)["接收"])
        accepted = await wait_for_text(server, mediator, "已接收")
        told = await wait_for_text(server, villager, "已经受理")
        assert number in told.text
        assert set(buttons(accepted)) == {
            "调解成功",
            "调解不成",
            "约时间地点",
            "与当事人对话",
            "加备注",
        }

        # 与当事人对话: the villager's words go to the mediator, not to Rasa, and back.
        server.user_taps_button(mediator, accepted, buttons(accepted)["与当事人对话"])
        await wait_for_text(server, villager, "想跟您说几句")
        await wait_for_text(server, mediator, "已接通")
        server.user_sends_text(villager, "我明天下午在家")
        relayed = await wait_for_text(server, mediator, "我明天下午在家")
        assert number in relayed.text
        server.user_sends_photo(villager, data=b"\x89PNG eaten corn")  # evidence, and a copy
        await wait_for_text(server, villager, "已经放进您的事项")
        await server.wait_for(
            lambda: any(c.method == "copyMessage" and c.chat_id == mediator for c in server.sent)
        )
        server.user_sends_text(mediator, "好的，明天两点我来")
        heard = await wait_for_text(server, villager, "明天两点我来")
        assert "李调解" in heard.text
        assert rasa.texts() == []  # nothing of the talk went to the assistant
        server.user_sends_text(mediator, "/end")
        await wait_for_text(server, villager, "结束了对话")
        server.user_sends_text(villager, "谢谢")
        await wait_for_text(server, villager, "收到：谢谢")  # back to the assistant
        assert rasa.texts(f"tg:{villager}") == ["谢谢"]

        # The outcome: agreement terms asked in a follow-up message.
        server.user_taps_button(mediator, accepted, buttons(accepted)["调解成功"])
        await wait_for_text(server, mediator, "调解协议的内容")
        server.user_sends_text(mediator, "王家赔苞谷钱500元")
        await wait_for_text(server, mediator, "已记录")
        outcome = await wait_for_text(server, villager, "调解成了")
        assert "法院" in outcome.text and "月" in outcome.text  # the 30-day 司法确认 date

        server.user_sends_text(mediator, f"/note {number} 双方已签字")
        await wait_for_text(server, mediator, "备注已保存")
        server.user_sends_text(mediator, f"/case {number}")
        timeline = await wait_for_text(server, mediator, "状态：已办结")
        assert "13987654321" in timeline.text  # the handler may see the phone
        assert "双方已签字" in timeline.text and "调解成功" in timeline.text

    case = store(engine).get_case(number)
    assert case.status.value == "resolved" and case.outcome == "agreement"
    assert case.history[-1].details["terms"] == "王家赔苞谷钱500元"


async def test_a_hand_back_asks_why_and_reroutes_to_the_next_agency(server, rasa, tmp_path):
    engine = fresh_engine(tmp_path)
    village, township, villager = new_user_id(), new_user_id(), new_user_id()
    async with running_bot(server, rasa.url, engine):
        await join_as(server, engine, village, TIANTAI_MEDIATION, "mediator")
        await join_as(server, engine, township, GONGHE_MEDIATION, "mediator", name="王所长")
        number = file_case(engine, f"tg:{villager}")
        card = await wait_for_text(server, village, number)
        server.user_taps_button(village, card, buttons(card)["退回"])
        await wait_for_text(server, village, "退回")
        server.user_sends_text(village, "涉及两个村，村里调不了")
        done = await wait_for_text(server, village, "已经转给")
        assert "共和镇人民调解委员会" in done.text
        rerouted = await wait_for_text(server, township, number)
        assert "接收" in buttons(rerouted)
        await wait_for_text(server, villager, "换一家")
        await wait_for_text(server, villager, "共和镇人民调解委员会")
        # The village committee no longer has the case: its old buttons are refused.
        server.user_taps_button(village, card, buttons(card)["接收"], check=False)
        await server.wait_for(
            lambda: any("只给" in (a.text or "") for a in server.callback_answers)
        )
    case = store(engine).get_case(number)
    assert case.agency.id == GONGHE_MEDIATION and case.status.value == "routed"
    assert any(e.reason == "涉及两个村，村里调不了" for e in case.history)


async def test_outside_jurisdiction_and_non_staff_are_refused(server, rasa, tmp_path):
    engine = fresh_engine(tmp_path)
    other_mediator, villager, stranger = new_user_id(), new_user_id(), new_user_id()
    async with running_bot(server, rasa.url, engine):
        # A mediator of another agency (township level) cannot act on the village's case.
        await join_as(server, engine, other_mediator, GONGHE_MEDIATION, "mediator")
        number = file_case(engine, f"tg:{villager}")
        server.user_sends_text(other_mediator, f"/case {number}")
        server.user_sends_text(stranger, f"/case {number}")
        server.user_sends_text(villager, f"/case {number}")
        server.user_sends_text(stranger, f"/note {number} 我来看看")
        refused_staff = await wait_for_text(server, other_mediator, "没有权限")
        await server.wait_for_messages(stranger, 2)
        own = await wait_for_text(server, villager, number)
    assert number not in refused_staff.text
    assert all("没有权限" in c.text for c in messages_to(server, stranger))
    assert "已转交" in own.text  # the villager sees their own case's status
    with engine.connect() as conn:
        assert conn.execute(select(case_notes)).all() == []


async def test_a_429_on_delivery_delays_the_message_but_does_not_lose_it(server, rasa, tmp_path):
    engine = fresh_engine(tmp_path)
    mediator, villager = new_user_id(), new_user_id()
    async with running_bot(server, rasa.url, engine):
        await join_as(server, engine, mediator, TIANTAI_MEDIATION, "mediator")
        server.fail_next("sendMessage", 429, retry_after=1, times=7)
        number = file_case(engine, f"tg:{villager}")
        await wait_for_text(server, mediator, number, timeout=60)
    statuses = [c.status for c in server.calls if c.method == "sendMessage"]
    assert statuses.count(429) == 7 and statuses[-1] == 200
    with engine.connect() as conn:
        row = conn.execute(select(outbox).where(outbox.c.kind == "case_assigned")).one()
    assert row.delivered_at is not None and row.dead_at is None


async def test_reminders_come_once_and_an_overdue_case_is_escalated(server, rasa, tmp_path):
    engine = fresh_engine(tmp_path)
    bureau, villager = new_user_id(), new_user_id()
    async with running_bot(server, rasa.url, engine):
        await join_as(server, engine, bureau, "mouding.county_legal_aid_center", "agency_staff")
        number = file_case(
            engine,
            f"tg:{villager}",
            route="legal_aid",
            dispute_type="labour",
            facts={"facts": "老板欠我三个月工资不给"},
        )
        case = store(engine).get_case(number)
        due = case.deadline("legal_aid_decision").due
        await wait_for_text(server, bureau, number)

        three_days_before = date.fromordinal(due.toordinal() - 3)
        first = store(engine, on_day(three_days_before)).queue_reminders()
        again = store(engine, on_day(three_days_before)).queue_reminders()
        assert (first.agency_reminders, again.agency_reminders) == (1, 0)
        reminder = await wait_for_text(server, bureau, "还有3天到期")
        assert number in reminder.text

        overdue = store(engine, on_day(due + timedelta(days=1))).queue_reminders()
        assert overdue.overdue == 1
        await wait_for_text(server, bureau, "已过期")
        assert store(engine, on_day(due + timedelta(days=2))).queue_reminders().overdue == 0
    case = store(engine).get_case(number)
    assert any(e.to_status.value == "escalated" for e in case.history)
    with engine.connect() as conn:
        kinds = sorted(r.kind for r in conn.execute(select(reminders_sent)))
    assert kinds == ["due_in_3", "overdue"]


async def test_an_agency_without_staff_keeps_its_message_for_later(server, rasa, tmp_path):
    engine = fresh_engine(tmp_path)
    villager, late_joiner = new_user_id(), new_user_id()
    async with running_bot(server, rasa.url, engine):
        number = file_case(engine, f"tg:{villager}")
        await asyncio.sleep(0.5)  # a few dispatcher rounds with nobody to tell
        with engine.connect() as conn:
            row = conn.execute(select(outbox).where(outbox.c.kind == "case_assigned")).one()
        assert row.delivered_at is None and row.dead_at is None and row.attempts >= 1
        await join_as(server, engine, late_joiner, TIANTAI_MEDIATION, "mediator")
        await wait_for_text(server, late_joiner, number, timeout=60)


async def test_a_petition_answered_in_writing_tells_the_villager_the_review_window(
    server, rasa, tmp_path
):
    engine = fresh_engine(tmp_path)
    clerk, villager = new_user_id(), new_user_id()
    async with running_bot(server, rasa.url, engine):
        await join_as(
            server, engine, clerk, "mouding.county_petition_bureau", "agency_staff", name="周科员"
        )
        number = file_case(
            engine,
            f"tg:{villager}",
            route="petition",
            name="张美华",
            facts={"facts": "低保评定不公平", "petition_request": "重新评定"},
        )
        card = await wait_for_text(server, clerk, number)
        server.user_taps_button(clerk, card, buttons(card)["接收"])
        accepted = await wait_for_text(server, clerk, "已接收")
        assert set(buttons(accepted)) == {"已答复", "约时间地点", "与当事人对话", "加备注"}
        accepted_told = await wait_for_text(server, villager, "已经受理")
        assert number in accepted_told.text and "月" in accepted_told.text  # with the next date
        server.user_taps_button(clerk, accepted, buttons(accepted)["已答复"])
        await wait_for_text(server, clerk, "书面答复的要点")
        server.user_sends_text(clerk, "已重新评定，名单在村委会公示")
        await wait_for_text(server, clerk, "已记录")
        told = await wait_for_text(server, villager, "书面答复")
        assert "复查" in told.text  # the 30-day 复查 window, with its date
    case = store(engine).get_case(number)
    assert case.outcome == "reply" and case.deadline("petition_review_request") is not None


async def test_escalating_sends_the_case_up_its_chain(server, rasa, tmp_path):
    engine = fresh_engine(tmp_path)
    village, township, villager = new_user_id(), new_user_id(), new_user_id()
    async with running_bot(server, rasa.url, engine):
        await join_as(server, engine, village, TIANTAI_MEDIATION, "mediator")
        await join_as(server, engine, township, GONGHE_MEDIATION, "mediator", name="王所长")
        number = file_case(engine, f"tg:{villager}")
        card = await wait_for_text(server, village, number)
        server.user_taps_button(village, card, buttons(card)["转上级"])
        done = await wait_for_text(server, village, "已转上级")
        assert "共和镇人民调解委员会" in done.text
        await wait_for_text(server, township, number)
        await wait_for_text(server, villager, "上一级")
        # The township mediator can open it with /case and gets the buttons there too.
        server.user_sends_text(township, f"/case {number}")
        shown = await wait_for_text(server, township, "状态：")
        assert "接收" in buttons(shown)


async def test_a_staff_member_can_take_back_a_tap_with_cancel(server, rasa, tmp_path):
    engine = fresh_engine(tmp_path)
    mediator, villager = new_user_id(), new_user_id()
    async with running_bot(server, rasa.url, engine):
        await join_as(server, engine, mediator, TIANTAI_MEDIATION, "mediator")
        number = file_case(engine, f"tg:{villager}")
        card = await wait_for_text(server, mediator, number)
        server.user_taps_button(mediator, card, buttons(card)["退回"])
        await wait_for_text(server, mediator, "退回")
        server.user_sends_text(mediator, "/cancel")
        await wait_for_text(server, mediator, "已取消")
        server.user_sends_text(mediator, "这句不是理由")  # now an ordinary message
        await wait_for_text(server, mediator, "收到：这句不是理由")
    assert store(engine).get_case(number).status.value == "routed"


async def test_a_voice_note_reaches_the_mediator_to_listen_and_the_villager_is_told(
    server, rasa, tmp_path
):
    from bot_support import bot_settings

    engine = fresh_engine(tmp_path)
    mediator, villager = new_user_id(), new_user_id()
    async with running_bot(server, rasa.url, engine, bot_settings(tmp_path)):
        await join_as(server, engine, mediator, TIANTAI_MEDIATION, "mediator")
        # Spoken in the middle of the form, before there is a case: kept for later.
        server.user_sends_voice(villager, data=b"OggS the cow again", duration=7)
        await wait_for_text(server, villager, say("voice_pending"))
        assert not any(c.method == "sendVoice" for c in server.sent)
        number = file_case(engine, f"tg:{villager}")
        card = await wait_for_text(server, mediator, number)
        await server.wait_for(
            lambda: any(c.method == "sendVoice" and c.chat_id == mediator for c in server.sent)
        )
        intro = await wait_for_text(server, mediator, "语音（7秒）")
        assert number in intro.text
        # The case comes first, then its recording.
        calls = [c for c in server.sent if c.chat_id == mediator]
        assert calls.index(card) < calls.index(intro)

        # A voice note about the filed case goes straight to the mediator.
        server.user_sends_voice(villager, data=b"OggS one more thing", duration=3)
        told = await wait_for_text(server, villager, say("voice_saved", number=number))
        assert "亲自听" in told.text
        await server.wait_for(
            lambda: sum(c.method == "sendVoice" and c.chat_id == mediator for c in server.sent) == 2
        )
    assert rasa.texts() == []  # without speech recognition nothing goes to the assistant


async def test_with_speech_recognition_configured_the_villager_sees_and_sends_the_text(
    server, rasa, tmp_path
):
    from aiohttp import web

    from bot_support import bot_settings

    heard: list[bytes] = []

    async def recognise(request: web.Request) -> web.Response:
        heard.append(await request.read())
        return web.json_response({"text": "隔壁的牛吃了我家苞谷"})

    asr = web.Application()
    asr.router.add_post("/asr", recognise)
    runner = web.AppRunner(asr)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    villager = new_user_id()
    try:
        config = bot_settings(tmp_path, asr_url=f"http://127.0.0.1:{port}/asr")
        async with running_bot(server, rasa.url, fresh_engine(tmp_path), config):
            server.user_sends_voice(villager, data=b"OggS spoken words")
            await wait_for_text(server, villager, say("voice_pending"))
            await wait_for_text(server, villager, "我听到的是：“隔壁的牛吃了我家苞谷”")
            await wait_for_text(server, villager, "收到：隔壁的牛吃了我家苞谷")
    finally:
        await runner.cleanup()
    assert heard == [b"OggS spoken words"]
    assert rasa.texts(f"tg:{villager}") == ["隔壁的牛吃了我家苞谷"]


async def test_each_staff_member_gets_one_daily_digest_of_open_cases_nearest_deadline_first(
    server, rasa, tmp_path
):
    from bot_support import bot_settings
    from records.adapters.orm import digests_sent

    engine = fresh_engine(tmp_path)
    mediator, idle_mediator, villager = new_user_id(), new_user_id(), new_user_id()
    async with running_bot(server, rasa.url, engine, bot_settings(tmp_path)):
        await join_as(server, engine, mediator, TIANTAI_MEDIATION, "mediator")
        await join_as(server, engine, idle_mediator, "gonghe.lawan.village_mediation", "mediator")
        first = file_case(engine, f"tg:{villager}")
        second = file_case(engine, f"tg:{villager}", name="张美华")
        card = await wait_for_text(server, mediator, second)
        server.user_taps_button(mediator, card, buttons(card)["接收"])  # now it has a deadline
        await wait_for_text(server, mediator, "已接收")
        today = county_date(store(engine).get_case(first).created_at)
        assert store(engine, on_day(today)).queue_digests() == 1  # the idle mediator gets none
        assert store(engine, on_day(today)).queue_digests() == 0  # once a day, however often it runs
        digest = await wait_for_text(server, mediator, "您手上有 2 件事在办")
        header, nearest, undated = digest.text.split("\n")
        assert nearest.startswith(f"{second} 张美华：已受理") and "期限" in nearest
        assert undated.startswith(first) and undated.endswith("暂无期限")
        assert store(engine, on_day(today + timedelta(days=1))).queue_digests() == 1
        await server.wait_for(
            lambda: sum("件事在办" in (c.text or "") for c in messages_to(server, mediator)) == 2
        )
    assert not any("件事在办" in (c.text or "") for c in messages_to(server, idle_mediator))
    with engine.connect() as conn:
        assert conn.execute(select(digests_sent.c.staff)).scalars().all() == [
            f"tg:{mediator}",
            f"tg:{mediator}",
        ]


async def test_the_reminder_loop_sends_the_digest_from_the_digest_hour(server, rasa, tmp_path):
    from bot_support import bot_settings

    engine = fresh_engine(tmp_path)
    mediator, villager = new_user_id(), new_user_id()
    file_case(engine, f"tg:{villager}")
    config = bot_settings(tmp_path, digest_hour=0, reminder_interval_s=0.2)
    async with running_bot(server, rasa.url, engine, config):
        await join_as(server, engine, mediator, TIANTAI_MEDIATION, "mediator")
        await wait_for_text(server, mediator, "您手上有 1 件事在办")


async def test_an_agents_filing_mode_and_button_payloads_survive_a_restart(server, rasa, tmp_path):
    from bot_support import bot_settings

    engine = fresh_engine(tmp_path)
    agent = new_user_id()
    long_payload = '/inform{"facts":"' + "很长的一段话" * 10 + '"}'
    rasa.reply = lambda sender, text: [
        {
            "recipient_id": sender,
            "text": f"收到：{text}",
            "buttons": [{"title": "长按钮", "payload": long_payload}],
        }
    ]
    async with running_bot(server, rasa.url, engine, bot_settings(tmp_path)):
        await join_as(
            server, engine, agent, "gonghe.tiantai.village_service_point", "agent", name="杨代办"
        )
        server.user_sends_text(agent, "/file 张美华")
        await wait_for_text(server, agent, "张美华")
        server.user_sends_text(agent, "她家的低保被取消了")
        with_button = await wait_for_text(server, agent, "收到：她家的低保被取消了")
    # A new Application on the same database: what the last one knew is still there.
    async with running_bot(server, rasa.url, engine, bot_settings(tmp_path)):
        server.user_sends_text(agent, "去年十月开始的")
        await wait_for_text(server, agent, "收到：去年十月开始的")
        server.user_taps_button(agent, with_button, buttons(with_button)["长按钮"])
        await server.wait_for(lambda: long_payload in rasa.texts())
    senders = {m["sender"] for m in rasa.received}
    [sender] = senders  # still filing for her after the restart, in one conversation …
    assert sender.startswith(f"agent:{agent}:") and "张美华" not in sender  # … named by no name
    assert {m["metadata"]["on_behalf_of"] for m in rasa.received} == {"张美华"}


async def test_the_mediator_sets_a_session_and_the_villager_is_told_and_reminded(
    server, rasa, tmp_path
):

    engine = fresh_engine(tmp_path)
    mediator, villager = new_user_id(), new_user_id()
    async with running_bot(server, rasa.url, engine):
        await join_as(server, engine, mediator, TIANTAI_MEDIATION, "mediator")
        number = file_case(engine, f"tg:{villager}")
        card = await wait_for_text(server, mediator, number)
        server.user_taps_button(mediator, card, buttons(card)["接收"])
        accepted = await wait_for_text(server, mediator, "已接收")
        server.user_taps_button(mediator, accepted, buttons(accepted)["约时间地点"])
        await wait_for_text(server, mediator, "见面的日子")
        server.user_sends_text(mediator, "下午两点，村委会")  # no day: asked again
        await wait_for_text(server, mediator, "没看出是哪一天")
        server.user_sends_text(mediator, "明天下午2点，天台村委会")
        await wait_for_text(server, mediator, "已约好并告诉当事人")
        told = await wait_for_text(server, villager, "约您")
        assert number in told.text and "明天下午2点，天台村委会" in told.text
        assert "天台村人民调解委员会" in told.text
        [appointment] = sessions_of(engine, number)
        today = appointment.day - timedelta(days=1)
        assert store(engine, on_day(today)).queue_session_reminders() == 1
        assert store(engine, on_day(today)).queue_session_reminders() == 0  # once
        await wait_for_text(server, villager, "⏰ 提醒：明天")
        server.user_sends_text(mediator, f"/case {number}")
        shown = await wait_for_text(server, mediator, "约见：明天下午2点，天台村委会")
        assert number in shown.text
    assert rasa.texts() == []


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("12月3日下午2点，天台村委会", date(2026, 12, 3)),
        ("2026年12月5日 村委会", date(2026, 12, 5)),
        ("12/3 下午", date(2026, 12, 3)),
        ("明天上午9点", date(2026, 11, 28)),
        ("后天", date(2026, 11, 29)),
        ("下周二上午", date(2026, 12, 1)),
        ("周一", date(2026, 11, 30)),  # this week's Monday is past: the next one
        ("3号下午", date(2026, 12, 3)),
        ("1月5日", date(2027, 1, 5)),  # a month already past this year: next year
        ("下午两点在村委会", None),
        ("2月30日", None),
    ],
)
def test_the_day_of_a_session_is_read_from_plain_words(written, expected):
    from knowledge.readers import read_date

    assert read_date(written, date(2026, 11, 27)) == expected  # a Friday


async def test_in_a_talk_a_voice_note_reaches_the_mediator_once(server, rasa, tmp_path):
    from bot_support import bot_settings

    engine = fresh_engine(tmp_path)
    mediator, villager = new_user_id(), new_user_id()
    async with running_bot(server, rasa.url, engine, bot_settings(tmp_path)):
        await join_as(server, engine, mediator, TIANTAI_MEDIATION, "mediator")
        number = file_case(engine, f"tg:{villager}")
        card = await wait_for_text(server, mediator, number)
        server.user_taps_button(mediator, card, buttons(card)["接收"])
        accepted = await wait_for_text(server, mediator, "已接收")
        server.user_taps_button(mediator, accepted, buttons(accepted)["与当事人对话"])
        await wait_for_text(server, villager, "想跟您说几句")
        server.user_sends_voice(villager, data=b"OggS in the talk", duration=4)
        await wait_for_text(server, villager, say("voice_saved", number=number))
        await server.wait_for(
            lambda: any(c.method == "copyMessage" and c.chat_id == mediator for c in server.sent)
        )
        server.user_sends_text(mediator, "/end")
        await wait_for_text(server, mediator, "结束")
    to_mediator = [c.method for c in server.sent if c.chat_id == mediator]
    assert to_mediator.count("copyMessage") == 1 and "sendVoice" not in to_mediator
    with engine.connect() as conn:
        kinds = conn.execute(select(outbox.c.kind)).scalars().all()
    assert "voice_note" not in kinds


async def test_a_proxy_agent_gets_a_digest_of_the_cases_they_filed(server, rasa, tmp_path):

    engine = fresh_engine(tmp_path)
    agent = new_user_id()
    async with running_bot(server, rasa.url, engine):
        await join_as(
            server, engine, agent, "gonghe.tiantai.village_service_point", "agent", name="杨代办"
        )
        number = file_case(
            engine,
            f"agent:{agent}:张美华",
            route="petition",
            filed_by=f"tg:{agent}",
            name="张美华",
        )
        today = county_date(store(engine).get_case(number).created_at)
        assert store(engine, on_day(today)).queue_digests() == 1
        digest = await wait_for_text(server, agent, "您手上有 1 件事在办")
        assert f"{number} 张美华" in digest.text


def test_a_moved_appointment_is_not_reminded_of_on_its_old_day(tmp_path):
    from bot_support import add_session

    engine = fresh_engine(tmp_path)
    number = file_case(engine, f"tg:{new_user_id()}")
    today = date(2026, 11, 27)
    add_session(engine, number, today + timedelta(days=1), "明天下午2点，村委会")
    add_session(engine, number, today + timedelta(days=3), "改到周一上午，村委会")
    assert store(engine, on_day(today)).queue_session_reminders() == 0
    assert store(engine, on_day(today + timedelta(days=2))).queue_session_reminders() == 1
