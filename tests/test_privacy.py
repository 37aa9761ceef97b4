"""The privacy search (trust, item 7): after a villager's filing and an agent's filing on
Telegram, through the REAL Rasa and action server, nobody's name, phone or ID number is left in
clear text in any log, in Rasa's tracker store, or in the database files (the SQLite WAL
included)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import requests
from sqlalchemy.engine import make_url

from bot_support import (
    CASE_NUMBER,
    buttons,
    join_as,
    new_user_id,
    running_bot,
    shared_engine,
    store,
    wait_for_text,
)
from playground.localapi import FakeBotApi
from tests.servers import LOGS, MODEL, api_token
from xiangyin.settings import settings

pytestmark = pytest.mark.skipif(not MODEL.exists(), reason="no trained model: run `make test`")

# Values no other test uses, so that finding one anywhere means this scenario leaked it.
VILLAGER = {"name": "司马秀兰", "phone": "13611225588", "id": "532322198805050023"}
FILED_FOR = {"name": "欧阳明珠", "phone": "13788664422", "id": "53232219700707004X"}


def secrets_of(person: dict[str, str]) -> list[str]:
    phone = person["phone"]
    spaced = f"{phone[:3]} {phone[3:7]} {phone[7:]}"
    return [person["name"], phone, spaced, person["id"]]


@pytest.fixture
async def server() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(token=f"{new_user_id()}:TEST-xiangyin-token") as fake:
        yield fake


async def file_a_petition(server: FakeBotApi, chat: int, person: dict[str, str]) -> str:
    """The low-income-quota story, the person's ID number told along the way."""
    server.user_sends_text(chat, "村主任把低保名额给了他亲戚，我们真正困难的莫得")
    await wait_for_text(server, chat, "怎么处理")
    server.user_sends_text(chat, f"重新评定，把名单公开，身份证号{person['id']}")
    await wait_for_text(server, chat, "怎么称呼")
    server.user_sends_text(chat, f"我叫{person['name']}")
    await wait_for_text(server, chat, "留个电话")
    server.user_sends_text(chat, person["phone"])
    await wait_for_text(server, chat, "哪个乡镇哪个村")
    server.user_sends_text(chat, "共和镇天台村")
    confirm = await wait_for_text(server, chat, "对吗")
    server.user_taps_button(chat, confirm, buttons(confirm)["对"])
    filed = await wait_for_text(server, chat, CASE_NUMBER)
    match = CASE_NUMBER.search(filed.text or "")
    assert match is not None
    return match.group(0)


def log_sizes() -> dict[Path, int]:
    return {p: p.stat().st_size for p in LOGS.glob("*.log")}


def written_since(sizes: dict[Path, int]) -> str:
    """What the servers logged after ``sizes`` was taken."""
    out = []
    for path in LOGS.glob("*.log"):
        with path.open("rb") as f:
            f.seek(sizes.get(path, 0))
            out.append(f.read().decode("utf-8", "replace"))
    return "\n".join(out)


def tracker(rasa_url: str, sender: str) -> str:
    response = requests.get(
        f"{rasa_url}/conversations/{sender}/tracker", params=api_token(), timeout=30
    )
    response.raise_for_status()
    return json.dumps(response.json(), ensure_ascii=False)


def database_files() -> bytes:
    path = Path(make_url(settings().database_url).database or "")
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


async def test_no_name_phone_or_id_number_is_left_in_clear_anywhere(server, rasa_url, caplog):
    caplog.set_level(logging.INFO)  # the production level, for the bot running in-process
    engine = shared_engine()
    before = log_sizes()
    villager, agent = new_user_id(), new_user_id()
    async with running_bot(server, rasa_url, engine):
        mine = await file_a_petition(server, villager, VILLAGER)
        await join_as(
            server, engine, agent, "gonghe.tiantai.village_service_point", "agent", name="赵代办"
        )
        server.user_sends_text(agent, f"/file {FILED_FOR['name']}")
        await wait_for_text(server, agent, f"替{FILED_FOR['name']}办事")
        theirs = await file_a_petition(server, agent, FILED_FOR)
        server.user_sends_text(agent, "/done")
        await wait_for_text(server, agent, "已结束")

    # Not vacuous: both cases are there, with the right people, for those allowed to read them.
    records = store(engine)
    assert records.get_case(mine).villager.phone == VILLAGER["phone"]
    filed = records.get_case(theirs)
    assert (filed.villager.name, filed.villager.phone) == (FILED_FOR["name"], FILED_FOR["phone"])

    places = {
        "the servers' logs": written_since(before),
        "the bot's log": caplog.text,
        "the villager's tracker": tracker(rasa_url, f"tg:{villager}"),
        "the agent's tracker": tracker(rasa_url, filed.villager.sender_id),
        "the database files": database_files().decode("utf-8", "replace"),
    }
    # The search looks where the data is: the staff name (not personal data of a villager) is
    # in the database files, the case number in the tracker, the servers did log.
    assert "赵代办" in places["the database files"] and mine in places["the villager's tracker"]
    assert places["the servers' logs"].strip()
    assert FILED_FOR["name"] not in filed.villager.sender_id  # the conversation id names nobody
    for where, content in places.items():
        for secret in secrets_of(VILLAGER) + secrets_of(FILED_FOR):
            assert secret not in content, f"{secret} in {where}"


def test_whatever_logs_a_phone_or_id_number_logs_it_masked(caplog):
    from records.domain.redaction import install_log_redaction

    install_log_redaction()
    install_log_redaction()  # twice is once
    caplog.set_level(logging.INFO)
    logging.getLogger("rasa.core.processor").info(
        "Received user message '%s'", f"我电话{VILLAGER['phone']} 身份证{VILLAGER['id']}"
    )
    logged = caplog.text
    assert VILLAGER["phone"] not in logged and VILLAGER["id"] not in logged
    assert "136****5588" in logged and "5323**********0023" in logged
