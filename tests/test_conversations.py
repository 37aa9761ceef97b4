"""Whole conversations through the REST channel, the real action server and the case store.

tests/conversations/conversations.yml holds each conversation once, written for a moment the
conversations issue lists; tests/conversations/paraphrases.yml holds two paraphrases of each,
written separately.  Every version must end the same way: the same route, agency and stored
contact details, or no case at all.  Every turn of every version is also checked for what
must never happen (see the file's header).
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from bot_support import shared_engine, store
from tests.servers import MODEL, secret_headers

pytestmark = pytest.mark.skipif(not MODEL.exists(), reason="no trained model: run `make test`")

HERE = Path(__file__).parent / "conversations"
CONVERSATIONS = yaml.safe_load((HERE / "conversations.yml").read_text(encoding="utf-8"))
PARAPHRASES = {
    item["id"]: item["versions"]
    for item in yaml.safe_load((HERE / "paraphrases.yml").read_text(encoding="utf-8")) or []
} if (HERE / "paraphrases.yml").exists() else {}
CASE_NUMBER = re.compile(r"(?:MD|XF|FY|BS)-\d{4}-[0-9A-Z]{4}")
EMERGENCY_ADVICE = "110"
MAX_CLOSING_REPLIES = 2
MAX_CLOSING_CHARS = 150


def versions() -> list[Any]:
    params = []
    for conversation in CONVERSATIONS:
        texts = [[str(t) for t in version]
                 for version in [conversation["say"], *PARAPHRASES.get(conversation["id"], [])]]
        for index, say in enumerate(texts):
            params.append(pytest.param(conversation, say, id=f"{conversation['id']}[{index}]"))
    return params


def test_every_conversation_has_two_paraphrases():
    missing = [c["id"] for c in CONVERSATIONS if len(PARAPHRASES.get(c["id"], [])) < 2]
    assert len(CONVERSATIONS) >= 40
    assert missing == []
    for conversation in CONVERSATIONS:
        for version in PARAPHRASES[conversation["id"]]:
            assert len(version) == len(conversation["say"]), conversation["id"]


def talk(rasa_url: str, sender: str, text: str) -> list[dict]:
    response = requests.post(
        f"{rasa_url}/webhooks/rest/webhook",
        json={"sender": sender, "message": text},
        headers=secret_headers(),
        timeout=60,
    )
    response.raise_for_status()
    return response.json()


def check_turn(conversation: dict, index: int, text: str, replies: list[dict], numbers_seen: set) -> None:
    said = [r.get("text") or "" for r in replies]
    joined = "\n".join(said)
    buttons = " ".join(f"[{b.get('title')}]" for r in replies for b in r.get("buttons") or [])
    seen = f"{joined}\n{buttons}"  # what the villager sees: the texts and the buttons
    where = f"{conversation['id']} turn {index} ({text!r}) → {joined!r}"
    assert joined.strip(), f"no reply: {where}"
    if "请点下面的按钮" in joined:
        assert any(r.get("buttons") for r in replies), f"asks to tap buttons that are not there: {where}"
    if EMERGENCY_ADVICE in joined and "12345" not in joined:
        assert conversation.get("emergency"), f"110 advice where nobody is in danger: {where}"
    where = f"{where} {buttons}"
    for expected in map(str, (conversation.get("expect") or {}).get(index, [])):
        assert expected in seen, f"expected {expected!r}: {where}"
    for refused in map(str, (conversation.get("refuse") or {}).get(index, [])):
        assert refused not in seen, f"must not say {refused!r}: {where}"
    numbers = set(CASE_NUMBER.findall(joined))
    if numbers - numbers_seen and not conversation.get("emergency"):
        # The turn that files a case: short, one idea, a 70-year-old can follow it.
        assert len(replies) <= MAX_CLOSING_REPLIES, f"closing in {len(replies)} replies: {where}"
        assert len(joined.replace("\n", "")) <= MAX_CLOSING_CHARS, f"closing of {len(joined)} chars: {where}"
    numbers_seen |= numbers


def check_case(conversation: dict, sender: str) -> None:
    cases = store(shared_engine()).cases_for_villager(sender)
    expected = conversation["case"]
    if expected == "none":
        assert cases == [], f"{conversation['id']}: no case should be filed, got {cases}"
        return
    assert len(cases) == 1, f"{conversation['id']}: expected one case, got {cases}"
    case = cases[0]
    if expected.get("route") not in (None, "any"):
        assert case.route == expected["route"], f"{conversation['id']}: filed as {case.route}"
    if "agency" in expected:
        assert case.agency is not None and case.agency.id.endswith(expected["agency"]), (
            f"{conversation['id']}: agency {case.agency}"
        )
    if "phone" in expected:
        assert case.villager.phone == expected["phone"], f"{conversation['id']}: phone"
    if "name" in expected:
        assert (case.villager.name or "") == expected["name"], f"{conversation['id']}: name {case.villager.name!r}"
    if "township" in expected:
        assert case.jurisdiction.township_name == expected["township"], f"{conversation['id']}: township"
    if "village" in expected:
        assert case.jurisdiction.village_name == expected["village"], f"{conversation['id']}: village"
    if expected.get("emergency"):
        assert case.emergency, f"{conversation['id']}: not flagged as an emergency"
    else:
        assert case.villager.phone and case.jurisdiction.township_id, (
            f"{conversation['id']}: a case without contact details"
        )
    if "facts_contain" in expected:
        assert expected["facts_contain"] in str(case.facts.get("facts")), f"{conversation['id']}: facts"


ROUTE_BUTTONS = ("/petition", "/mediation", "/legal_aid", "/service")


def clarifying_question(replies: list[dict]) -> list[str]:
    """The route payloads of a "您是想A，还是想B？" question, if the replies ask one."""
    payloads = [b.get("payload") for r in replies for b in r.get("buttons") or []]
    asks = any("还是想" in (r.get("text") or "") for r in replies)
    return [p for p in payloads if p in ROUTE_BUTTONS] if asks else []


@pytest.mark.parametrize("conversation, say", versions())
def test_conversation(rasa_url, conversation, say):
    sender = f"conv-{uuid.uuid4().hex[:12]}"
    numbers_seen: set = set()
    expected_route = conversation["case"].get("route") if isinstance(conversation["case"], dict) else None
    for index, text in enumerate(say):
        replies = talk(rasa_url, sender, text)
        check_turn(conversation, index, text, replies, numbers_seen)
        choices = clarifying_question(replies)
        if choices:
            # Unsure between two routes, the assistant asks; the villager taps the one they mean
            # (the route the conversation must end in, or the first when no case is expected).
            wanted = f"/{expected_route}"
            talk(rasa_url, sender, wanted if wanted in choices else choices[0])
    check_case(conversation, sender)
