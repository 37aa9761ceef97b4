"""The villager's personal data leaves Rasa's tracker store once their matter is over
(trust, item 7): words, entities, metadata, read-backs and the form's answers."""

from __future__ import annotations

import json

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from actions.submit import reset_case_slots
from nlu_components.tracker_store import ScrubbingTrackerStore
from tests.conftest import ROOT

PHONE, ID_NUMBER, NAME = "13987654321", "532322199001010017", "张美华"


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


def conversation(domain: Domain, *, ended_with: list) -> DialogueStateTracker:
    events = [
        ActionExecuted("action_listen"),
        UserUttered(
            f"我叫{NAME}，身份证{ID_NUMBER}，隔壁的牛吃了我家苞谷",
            {"name": "mediation", "confidence": 0.9},
            [{"entity": "phone", "value": PHONE}],
            metadata={"on_behalf_of": NAME},
        ),
        SlotSet("name", NAME),
        SlotSet("facts", f"身份证{ID_NUMBER}，隔壁的牛吃了我家苞谷"),
        BotUttered(f"您叫{NAME}，电话139****4321，对吗？"),
        ActionExecuted("action_listen"),
        UserUttered(PHONE, {"name": "inform", "confidence": 0.9}),
        SlotSet("phone", PHONE),
        ActionExecuted("action_listen"),
        UserUttered("对", {"name": "affirm", "confidence": 0.99}),
        *ended_with,
    ]
    return DialogueStateTracker.from_events("tg:42", events, domain.slots)


def stored_text(store: ScrubbingTrackerStore) -> str:
    """What the store holds, as readable text (the serialised trackers decoded)."""
    return json.dumps({k: json.loads(v) for k, v in store.store.items()}, ensure_ascii=False)


async def test_filing_the_case_scrubs_the_conversation_but_keeps_the_number(domain):
    store = ScrubbingTrackerStore(domain)
    filed = [SlotSet("facts", None), SlotSet("phone", None), SlotSet("case_id", "MD-2611-7K4Q"),
             BotUttered("已交给天台村人民调解委员会，编号 MD-2611-7K4Q。")]
    await store.save(conversation(domain, ended_with=filed))
    saved = stored_text(store)
    for secret in (PHONE, ID_NUMBER, NAME):
        assert secret not in saved
    assert "MD-2611-7K4Q" in saved
    tracker = await store.retrieve("tg:42")
    assert tracker.get_slot("case_id") == "MD-2611-7K4Q"
    assert [e.intent_name for e in tracker.events if isinstance(e, UserUttered)] == [
        "mediation", "inform", "affirm"
    ]


async def test_while_the_form_is_open_nothing_is_forgotten(domain):
    store = ScrubbingTrackerStore(domain)
    await store.save(conversation(domain, ended_with=[BotUttered("请问您是哪个村的？")]))
    assert PHONE in stored_text(store) and NAME in stored_text(store)


async def test_giving_the_form_up_scrubs_it_too(domain):
    store = ScrubbingTrackerStore(domain)
    given_up = [*(SlotSet(e["name"], e["value"]) for e in reset_case_slots()), BotUttered("好的，这件事先不提交了。")]
    await store.save(conversation(domain, ended_with=given_up))
    assert not any(secret in stored_text(store) for secret in (PHONE, ID_NUMBER, NAME))


async def test_changing_one_answer_at_the_read_back_forgets_nothing(domain):
    """要改 → 电话 clears the phone to ask it again; the rest of the form must stay."""
    store = ScrubbingTrackerStore(domain)
    editing = [SlotSet("phone", None), SlotSet("edit_field", "phone"), BotUttered("新的电话是多少？")]
    await store.save(conversation(domain, ended_with=editing))
    assert NAME in stored_text(store) and ID_NUMBER in stored_text(store)
