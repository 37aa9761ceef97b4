"""Limits a villager or a staff member runs into, and what they are told: long replies in
several messages, files that are too big, of a kind a case cannot use or over the day's
allowance, wrong invite codes tried again and again, and an agent whose rights end while filing.

The real PTB Application against FakeBotApi, a stub Rasa, a database of the test's own.
"""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.handlers.media import DOCUMENT_TYPES
from bot.identity import telegram_identity
from bot.render import utf16_len
from bot_support import (
    TIANTAI_MEDIATION,
    bot_settings,
    buttons,
    file_case,
    fresh_engine,
    join_as,
    messages_to,
    new_user_id,
    running_bot,
    store,
    wait_for_text,
)
from knowledge.frontend import say
from playground.localapi import FakeBotApi
from rasa_stub import StubRasa
from records.services.staff import Action


@pytest.fixture
async def server() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as fake:
        yield fake


@pytest.fixture
async def rasa() -> AsyncIterator[StubRasa]:
    async with StubRasa() as stub:
        yield stub


# ---------------------------------------------------------------------------
# Long replies (Telegram refuses a message over 4096 units)
# ---------------------------------------------------------------------------


async def test_a_long_case_timeline_comes_in_several_messages_with_the_buttons_under_the_last(
    server, rasa, tmp_path
):
    engine = fresh_engine(tmp_path)
    mediator, villager = new_user_id(), new_user_id()
    notes = [f"第{i}次回访：{'双方都在家，谈了很久，还要再去' * 2}" for i in range(150)]
    async with running_bot(server, rasa.url, engine):
        await join_as(server, engine, mediator, TIANTAI_MEDIATION, "mediator")
        number = file_case(engine, f"tg:{villager}")
        await wait_for_text(server, mediator, number)  # the new case's card
        records = store(engine)
        member = records.get_staff(telegram_identity(mediator))
        assert member is not None
        records.act_on_case(member, number, Action.ACCEPT)
        for note in notes:
            records.add_note(member, number, note)
        before = len(messages_to(server, mediator))
        server.user_sends_text(mediator, f"/case {number}")
        await server.wait_for(
            lambda: any(buttons(c) for c in messages_to(server, mediator)[before:])
        )
    sent = messages_to(server, mediator)[before:]
    assert len(sent) > 1
    assert all(utf16_len(c.text or "") <= 4096 for c in sent)
    whole = "\n".join(c.text or "" for c in sent)
    assert number in sent[0].text
    assert all(note in whole for note in notes)  # nothing lost, no note cut in two
    assert [bool(buttons(c)) for c in sent] == [False] * (len(sent) - 1) + [True]
    assert "调解成功" in buttons(sent[-1])


async def test_an_agents_long_work_list_comes_whole_in_several_messages(server, rasa, tmp_path):
    engine = fresh_engine(tmp_path)
    agent = new_user_id()
    async with running_bot(server, rasa.url, engine):
        await join_as(
            server, engine, agent, "gonghe.tiantai.village_service_point", "agent", name="杨代办"
        )
        numbers = [
            file_case(engine, f"agent:{agent}:{i:04x}", filed_by=f"tg:{agent}", name=f"村民{i}号")
            for i in range(130)
        ]
        before = len(messages_to(server, agent))
        server.user_sends_text(agent, "/mine")

        def whole() -> str:
            return "\n".join(c.text or "" for c in messages_to(server, agent)[before:])

        await server.wait_for(lambda: all(n in whole() for n in numbers), timeout=30)
    sent = messages_to(server, agent)[before:]
    assert len(sent) > 1
    assert all(utf16_len(c.text or "") <= 4096 for c in sent)
    assert sent[0].text.startswith(say("mine_header"))
    lines = whole().splitlines()
    assert len(lines) == len(numbers) + 1  # the header and one whole line a case
    assert all(f"村民{i}号" in whole() for i in range(130))


# ---------------------------------------------------------------------------
# Files as evidence: what a case can use, and no more than the disk should hold
# ---------------------------------------------------------------------------


def _evidence_rows(engine) -> list:
    from sqlalchemy import select

    from records.adapters.orm import evidence

    with engine.connect() as conn:
        return conn.execute(select(evidence).order_by(evidence.c.id)).all()


def _downloads(server: FakeBotApi) -> int:
    return sum(c.method == "getFile" for c in server.calls)


async def test_a_file_over_the_size_limit_is_refused_kindly_before_it_is_fetched(
    server, rasa, tmp_path
):
    engine = fresh_engine(tmp_path)
    villager = new_user_id()
    settings_ = bot_settings(tmp_path, evidence_max_file_bytes=1000)
    async with running_bot(server, rasa.url, engine, settings_):
        server.user_sends_photo(villager, data=b"\x89PNG" + b"x" * 2000)
        await wait_for_text(server, villager, say("evidence_too_big", limit=0))
        assert _downloads(server) == 0 and _evidence_rows(engine) == []
        server.user_sends_photo(villager, data=b"\x89PNG a small one")
        await wait_for_text(server, villager, say("evidence_pending"))
    assert len(_evidence_rows(engine)) == 1
    assert "拍几张照片" in say("evidence_too_big", limit=20)  # says what to do instead


async def test_only_files_a_case_can_use_are_kept_and_the_sender_is_told_what_to_send(
    server, rasa, tmp_path
):
    engine = fresh_engine(tmp_path)
    villager = new_user_id()
    refused = [
        ("setup.exe", "application/x-msdownload"),
        ("照片.zip", "application/zip"),
        ("合同.pdf", "application/x-msdownload"),  # the name and the type disagree
        ("run.sh", "text/x-shellscript"),
        ("无名", "application/octet-stream"),
    ]
    kept = [
        ("合同.pdf", "application/pdf"),
        ("欠条.docx", DOCUMENT_TYPES[".docx"][0]),
        ("地界.JPG", "image/jpeg"),
        ("录音.m4a", "audio/mp4"),
    ]
    async with running_bot(server, rasa.url, engine, bot_settings(tmp_path)):
        for name, mime in refused:
            before = len(messages_to(server, villager))
            server.user_sends_document(villager, data=b"MZ\x90\x00", file_name=name, mime_type=mime)
            [told] = (await server.wait_for_messages(villager, before + 1))[before:]
            assert told.text == say("evidence_wrong_type")
        assert _downloads(server) == 0 and _evidence_rows(engine) == []
        for name, mime in kept:
            before = len(messages_to(server, villager))
            server.user_sends_document(villager, data=name.encode(), file_name=name, mime_type=mime)
            [told] = (await server.wait_for_messages(villager, before + 1))[before:]
            assert told.text == say("evidence_pending")
    rows = _evidence_rows(engine)
    assert len(rows) == len(kept)
    assert [Path(r.stored_path).suffix for r in rows] == [".pdf", ".docx", ".jpg", ".m4a"]
    assert "照片" in say("evidence_wrong_type") and "PDF" in say("evidence_wrong_type")


async def test_each_person_has_a_daily_allowance_of_files_and_each_case_a_total(
    server, rasa, tmp_path
):
    engine = fresh_engine(tmp_path)
    busy, other, owner = new_user_id(), new_user_id(), new_user_id()
    settings_ = bot_settings(tmp_path, evidence_daily_files=2, evidence_case_bytes=3000)
    async with running_bot(server, rasa.url, engine, settings_):
        for n in range(2):
            server.user_sends_photo(busy, data=b"\x89PNG %d" % n)
            await server.wait_for_messages(busy, n + 1)
        server.user_sends_voice(busy, data=b"OggS the third")
        third = (await server.wait_for_messages(busy, 3))[2]
        assert third.text == say("evidence_daily_limit")
        server.user_sends_photo(other, data=b"\x89PNG someone else")  # not held up
        await wait_for_text(server, other, say("evidence_pending"))

        number = file_case(engine, f"tg:{owner}")
        server.user_sends_photo(owner, data=b"\x89PNG" + b"a" * 2000)
        await wait_for_text(server, owner, say("evidence_saved", number=number))
        server.user_sends_photo(owner, data=b"\x89PNG" + b"b" * 2000)
        await wait_for_text(server, owner, say("evidence_case_full"))
    senders = [r.sender_id for r in _evidence_rows(engine)]
    assert senders.count(f"tg:{busy}") == 2 and senders.count(f"tg:{owner}") == 1
    assert "明天" in say("evidence_daily_limit") and "前面发的都存好了" in say("evidence_case_full")


async def test_kept_files_are_readable_by_the_bots_user_only(server, rasa, tmp_path):
    engine = fresh_engine(tmp_path)
    villager = new_user_id()
    old_umask = os.umask(0o022)
    try:
        async with running_bot(server, rasa.url, engine, bot_settings(tmp_path)):
            number = file_case(engine, f"tg:{villager}")
            server.user_sends_photo(villager, data=b"\x89PNG the broken fence")
            await wait_for_text(server, villager, say("evidence_saved", number=number))
    finally:
        os.umask(old_umask)
    [row] = _evidence_rows(engine)
    kept = Path(row.stored_path)
    assert kept.read_bytes() == b"\x89PNG the broken fence"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE(kept.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "evidence").stat().st_mode) == 0o700


# ---------------------------------------------------------------------------
# Invite codes and filing for a villager
# ---------------------------------------------------------------------------


async def test_after_five_wrong_invite_codes_the_person_is_asked_to_wait(server, rasa, tmp_path):
    engine = fresh_engine(tmp_path)
    guesser = new_user_id()
    code = store(engine).create_invite(TIANTAI_MEDIATION, "mediator", created_by="test")
    async with running_bot(server, rasa.url, engine):
        for n in range(5):
            server.user_sends_text(guesser, f"/join WRONGCODE{n}")
            told = (await server.wait_for_messages(guesser, n + 1))[n]
            assert told.text == say("join_refused")
        server.user_sends_text(guesser, f"/join {code}")  # even the right one is not looked at
        told = (await server.wait_for_messages(guesser, 6))[5]
        assert told.text == say("join_wait")
    assert store(engine).get_staff(telegram_identity(guesser)) is None
    assert "一个小时" in say("join_wait")


async def test_an_agent_deactivated_while_filing_files_nothing_more_and_is_told(
    server, rasa, tmp_path
):
    engine = fresh_engine(tmp_path)
    agent = new_user_id()
    async with running_bot(server, rasa.url, engine, bot_settings(tmp_path)):
        await join_as(
            server, engine, agent, "gonghe.tiantai.village_service_point", "agent", name="杨代办"
        )
        server.user_sends_text(agent, "/file 张美华")
        await wait_for_text(server, agent, say("file_started", villager="张美华"))
        server.user_sends_text(agent, "她家的低保被取消了")
        await wait_for_text(server, agent, "收到：她家的低保被取消了")

        assert store(engine).deactivate(telegram_identity(agent))
        server.user_sends_photo(agent, data=b"\x89PNG her papers")
        await wait_for_text(server, agent, say("file_stopped"))
        # From now on their words are their own, not hers.
        server.user_sends_text(agent, "去年十月开始的")
        await wait_for_text(server, agent, "收到：去年十月开始的")
        server.user_sends_text(agent, "/file 李四")
        await wait_for_text(server, agent, say("not_staff"))
    filed_for_her = [m["message"] for m in rasa.received if m["metadata"].get("on_behalf_of")]
    assert filed_for_her == ["她家的低保被取消了"]
    assert rasa.received[-1]["sender"] == f"tg:{agent}"
    assert _evidence_rows(engine) == []  # her papers were not kept in anyone's name
    assert sum(c.text == say("file_stopped") for c in messages_to(server, agent)) == 1
