"""Actions of the action server, on trackers built with Tracker.from_dict (no servers).

Whole conversations through Rasa are in tests/test_conversations.py; these pin the decisions
one message at a time.
"""

from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.confirm import ActionAskConfirmed, ActionAskVillage, ActionShortAnswer
from actions.conversation import ActionCancel, ActionHandleFallback, ActionOutOfScope
from actions.emergency import ActionHandleEmergency
from actions.forms import ValidateCaseForm, ValidateEmergencyForm
from actions.intake import ActionStartRoute
from actions.service import ActionAnswerService
from actions.submit import ActionFinishCaseForm
from tests.conftest import in_form, message, responses, slot_events, tracker_from_fixture

MEDIATION = {"route": "mediation", "facts": "隔壁的牛吃了我家苞谷，他不认账"}


async def run(action, tracker, domain):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, domain)
    return dispatcher, events


def asked_next(events: list[dict]) -> str | None:
    return slot_events(events).get("requested_slot")


def start(text: str, intent: str, ranking: list | None = None, entities: list | None = None):
    latest = message(text, intent, entities=entities)
    if ranking is not None:
        latest["intent_ranking"] = ranking
        latest["intent"] = dict(ranking[0])
    return tracker_from_fixture("tracker_new_conversation", latest_message=latest)


# --- starting a route -----------------------------------------------------------


async def test_a_story_told_first_is_kept_with_its_place_and_other_party(domain):
    tracker = start("我是凤屯镇青龙村的，隔壁王老三家的牛把我家苞谷吃了", "mediation",
                    entities=[{"entity": "dispute_type", "value": "neighbour"}])
    dispatcher, events = await run(ActionStartRoute(), tracker, domain)
    slots = slot_events(events)
    assert slots["route"] == "mediation" and slots["dispute_type"] == "neighbour"
    assert slots["village"] == "青龙村" and slots["township"] == "凤屯镇"
    assert slots["other_party"] == "隔壁王老三"
    assert events[-1] == {"event": "followup", "timestamp": None, "name": "case_form"}
    assert responses(dispatcher) == ["utter_start_mediation"]


async def test_a_bare_request_does_not_become_the_facts(domain):
    _, events = await run(ActionStartRoute(), start("我要调解", "mediation"), domain)
    assert not slot_events(events).get("facts")


async def test_asking_for_a_mediator_in_the_first_message_is_consent(domain):
    _, events = await run(ActionStartRoute(), start("邻居占了我的地，想请调解员来说和一下", "mediation"), domain)
    assert slot_events(events)["mediation_consent"] is True


async def test_wage_arrears_get_the_one_year_limit_and_no_contradiction(domain):
    tracker = start("老板欠我三个月工资不给，想找律师又莫得钱", "legal_aid",
                    entities=[{"entity": "dispute_type", "value": "labour"}])
    dispatcher, _ = await run(ActionStartRoute(), tracker, domain)
    assert responses(dispatcher) == ["utter_start_legal_aid_labour"]
    assert "不用审查" not in domain["responses"]["utter_start_legal_aid_labour"][0]["text"]


async def test_two_close_routes_are_asked_about_with_two_buttons(domain):
    ranking = [{"name": "petition", "confidence": 0.46}, {"name": "legal_aid", "confidence": 0.41},
               {"name": "mediation", "confidence": 0.1}]
    tracker = start("村委会把我家的承包地收回去给别人种了，这样对不对", "petition", ranking)
    dispatcher, events = await run(ActionStartRoute(), tracker, domain)
    assert responses(dispatcher) == ["utter_clarify_route"]
    buttons = dispatcher.messages[0]["buttons"]
    assert [b["payload"] for b in buttons] == ["/petition", "/legal_aid"]
    slots = slot_events(events)
    assert slots["clarify_routes"] == ["petition", "legal_aid"] and slots["facts"].startswith("村委会")
    assert "route" not in slots  # nothing starts until the villager chooses


async def test_words_that_ask_for_a_route_outright_need_no_question(domain):
    ranking = [{"name": "mediation", "confidence": 0.5}, {"name": "legal_aid", "confidence": 0.45}]
    tracker = start("老板欠我两万块工钱不给 想找律师", "mediation", ranking)
    dispatcher, events = await run(ActionStartRoute(), tracker, domain)
    assert slot_events(events)["route"] == "legal_aid"


async def test_yes_to_a_clarifying_question_takes_the_first_route(domain):
    tracker = tracker_from_fixture("tracker_new_conversation", latest_message=message("是的", "affirm"),
                                   slots={"clarify_routes": ["petition", "legal_aid"], "facts": "村委会收回了我家的地"})
    _, events = await run(ActionShortAnswer(), tracker, domain)
    assert slot_events(events)["route"] == "petition"


async def test_a_question_about_how_mediation_works_is_answered_not_started(domain):
    tracker = start("调解要跑镇上去不 我腿脚不方便", "mediation")
    dispatcher, events = await run(ActionStartRoute(), tracker, domain)
    assert responses(dispatcher) == ["utter_answer", "utter_anything_else"]
    assert "上门" in dispatcher.messages[0]["answer"]
    assert events == []


# --- inside the form: the answer to the question asked -----------------------------


async def test_yes_to_mediation_goes_on_to_the_next_question(domain):
    _, events = await run(ValidateCaseForm(), in_form("case_form", "mediation_consent", "要得", "affirm", **MEDIATION), domain)
    assert slot_events(events)["mediation_consent"] is True
    assert asked_next(events) == "other_party"


async def test_declining_mediation_offers_the_other_routes_and_files_nothing(domain):
    tracker = in_form("case_form", "mediation_consent", "我不想找人来调解", "mediation", **MEDIATION)
    _, events = await run(ValidateCaseForm(), tracker, domain)
    assert slot_events(events)["mediation_consent"] is False
    assert asked_next(events) == "next_route"
    assert domain["responses"]["utter_ask_next_route"][0]["buttons"][0]["payload"] == "/legal_aid"


async def test_the_legal_button_on_the_consent_question_switches_and_keeps_the_story(domain):
    tracker = in_form("case_form", "mediation_consent", "/legal_aid", "legal_aid", confidence=1.0,
                      village="天台村", township="共和镇", **MEDIATION)
    dispatcher, events = await run(ValidateCaseForm(), tracker, domain)
    slots = slot_events(events)
    assert slots["route"] == "legal_aid" and "facts" not in slots and "village" not in slots
    assert responses(dispatcher) == ["utter_route_changed"]
    assert asked_next(events) == "time_limit"


async def test_wanting_a_lawyer_mid_form_asks_before_changing(domain):
    tracker = in_form("case_form", "other_party", "我想找个律师", "legal_aid", mediation_consent=True, **MEDIATION)
    _, events = await run(ValidateCaseForm(), tracker, domain)
    assert slot_events(events)["pending_route"] == "legal_aid"
    assert asked_next(events) == "route_change"
    assert "route" not in slot_events(events)


async def test_a_question_mid_form_is_answered_and_the_question_comes_again(domain):
    tracker = in_form("case_form", "other_party", "调解要不要钱", "service", mediation_consent=True, **MEDIATION)
    dispatcher, events = await run(ValidateCaseForm(), tracker, domain)
    assert "不收" in dispatcher.messages[0]["answer"]
    assert asked_next(events) == "other_party" and "other_party" not in slot_events(events)


async def test_a_question_without_an_answer_here_goes_to_the_staff(domain):
    tracker = in_form("case_form", "petition_request", "这个厕所是哪个老板修的", "inform",
                      route="petition", facts="公厕修好了一直锁着")
    dispatcher, _ = await run(ValidateCaseForm(), tracker, domain)
    assert responses(dispatcher) == ["utter_question_for_staff"]


async def test_already_said_reuses_the_earlier_message(domain):
    tracker = in_form("case_form", "village", "刚才说了嘛", "inform", mediation_consent=True,
                      earlier=("我是共和镇庄科村的，隔壁杨老四家的狗咬死了我家的鸡",), **MEDIATION)
    _, events = await run(ValidateCaseForm(), tracker, domain)
    slots = slot_events(events)
    assert slots["village"] == "庄科村" and slots["township"] == "共和镇"


async def test_cancel_after_a_story_asks_first(domain):
    tracker = in_form("case_form", "other_party", "算了", "cancel", confidence=0.95,
                      mediation_consent=True, **MEDIATION)
    _, events = await run(ValidateCaseForm(), tracker, domain)
    assert slot_events(events)["cancel_pending"] is True
    assert asked_next(events) == "cancel_confirm"


async def test_a_single_word_is_not_a_request_for_a_person(domain):
    tracker = in_form("case_form", "village", "电话", "human_handoff", confidence=0.9,
                      mediation_consent=True, other_party="王老三", **MEDIATION)
    _, events = await run(ValidateCaseForm(), tracker, domain)
    assert "form_outcome" not in slot_events(events)


@pytest.mark.parametrize("said, digits", [
    ("幺三八 七六五四 三二一零", "13876543210"),
    ("一三九八七六五四三二一", "13987654321"),
    ("我电话是139-8765-4321", "13987654321"),
])
async def test_phone_numbers_said_in_many_ways(domain, said, digits):
    tracker = in_form("case_form", "phone", said, "inform", mediation_consent=True, other_party="王老三",
                      village="天台村", township="共和镇", **MEDIATION)
    _, events = await run(ValidateCaseForm(), tracker, domain)
    assert slot_events(events)["phone"] == digits
    assert asked_next(events) == "confirmed"


async def test_name_and_phone_in_one_answer(domain):
    tracker = in_form("case_form", "name", "罗老五 13987654321", "inform", route="petition",
                      facts="村干部贪污", petition_request="查账")
    _, events = await run(ValidateCaseForm(), tracker, domain)
    slots = slot_events(events)
    assert slots["name"] == "罗老五" and slots["phone"] == "13987654321"


async def test_a_demand_is_not_taken_as_a_name(domain):
    tracker = in_form("case_form", "name", "重新评一遍", "inform", route="petition",
                      facts="低保评得不公平", petition_request="重新评")
    _, events = await run(ValidateCaseForm(), tracker, domain)
    assert "name" not in slot_events(events)


async def test_a_petition_without_a_name_is_anonymous_and_says_what_that_means(domain):
    tracker = in_form("case_form", "name", "名字就不留了", "inform", route="petition",
                      facts="村会计做假账", petition_request="查账")
    dispatcher, events = await run(ValidateCaseForm(), tracker, domain)
    assert slot_events(events)["anonymous"] is True
    assert responses(dispatcher) == ["utter_name_withheld_petition"]
    assert "不会书面答复" in domain["responses"]["utter_name_withheld_petition"][0]["text"]


async def test_a_village_in_two_townships_asks_which_with_those_two_as_buttons(domain):
    tracker = in_form("case_form", "village", "庄科", "inform", mediation_consent=True,
                      other_party="王老三", **MEDIATION)
    dispatcher, events = await run(ValidateCaseForm(), tracker, domain)
    assert responses(dispatcher) == ["utter_which_township"]
    assert len(dispatcher.messages[0]["buttons"]) == 2
    assert slot_events(events)["place_hint"] == "庄科"


async def test_a_correction_at_the_read_back_changes_that_one_thing(domain):
    tracker = in_form("case_form", "confirmed", "电话错了 是13800002222", "inform", mediation_consent=True,
                      other_party="王老三", village="天台村", township="共和镇", phone="13800001111", **MEDIATION)
    _, events = await run(ValidateCaseForm(), tracker, domain)
    slots = slot_events(events)
    assert slots["phone"] == "13800002222" and "village" not in slots
    assert asked_next(events) == "confirmed"


async def test_wanting_to_change_something_shows_the_fields(domain):
    tracker = in_form("case_form", "confirmed", "有个地方要改", "deny", mediation_consent=True,
                      other_party="王老三", village="天台村", township="共和镇", phone="13800001111", **MEDIATION)
    _, events = await run(ValidateCaseForm(), tracker, domain)
    assert asked_next(events) == "edit_field"


async def test_no_question_is_asked_three_times(domain):
    tracker = in_form("case_form", "mediation_consent", "那个嘛", "inform",
                      asked={"slot": "mediation_consent", "times": 2}, **MEDIATION)
    dispatcher, events = await run(ValidateCaseForm(), tracker, domain)
    assert asked_next(events) is None
    assert slot_events(events)["form_outcome"] == "handoff"
    assert responses(dispatcher) == ["utter_form_paused"]


async def test_crying_emoji_gets_please_chinese(domain):
    tracker = in_form("case_form", "other_party", "😭😭😭", "out_of_scope", mediation_consent=True, **MEDIATION)
    dispatcher, events = await run(ValidateCaseForm(), tracker, domain)
    assert responses(dispatcher) == ["utter_please_chinese"]
    assert asked_next(events) == "other_party"


async def test_bye_mid_form_ends_it_without_filing(domain):
    tracker = in_form("case_form", "other_party", "拜拜", "goodbye", mediation_consent=True, **MEDIATION)
    _, events = await run(ValidateCaseForm(), tracker, domain)
    assert slot_events(events)["form_outcome"] == "goodbye" and asked_next(events) is None


# --- the end of the form ------------------------------------------------------------


async def test_nothing_is_filed_without_the_read_back(domain):
    tracker = tracker_from_fixture("tracker_in_form", slots={**MEDIATION, "form_outcome": "file",
                                                             "confirmed": None, "phone": "13800001111"})
    dispatcher, events = await run(ActionFinishCaseForm(), tracker, domain)
    assert responses(dispatcher) == ["utter_cancelled"]
    assert "case_id" not in slot_events(events)


async def test_a_person_asked_for_keeps_what_was_said(domain):
    tracker = tracker_from_fixture("tracker_in_form", slots={**MEDIATION, "form_outcome": "handoff"})
    dispatcher, events = await run(ActionFinishCaseForm(), tracker, domain)
    assert responses(dispatcher) == ["utter_handoff"]
    assert "facts" not in slot_events(events)


# --- emergencies, and outside the form ---------------------------------------------------


async def test_an_emergency_gets_110_first_then_asks_where(domain):
    tracker = tracker_from_fixture("tracker_new_conversation", latest_message=message(
        "救命 他拿刀要砍我", "mediation", entities=[{"entity": "emergency", "value": "danger_now"}]))
    dispatcher, events = await run(ActionHandleEmergency(), tracker, domain)
    assert responses(dispatcher)[0] == "utter_emergency"
    assert events[-1] == {"event": "followup", "timestamp": None, "name": "emergency_form"}


async def test_the_emergency_form_does_not_ask_twice(domain):
    tracker = in_form("emergency_form", "village", "不敢说", "inform")
    _, events = await run(ValidateEmergencyForm(), tracker, domain)
    assert slot_events(events)["village"] == "" and asked_next(events) == "phone"


async def test_english_and_emoji_get_please_chinese(domain):
    for text in ("hello, I need help", "😂😂"):
        tracker = tracker_from_fixture("tracker_new_conversation", latest_message=message(text, "out_of_scope"))
        dispatcher, _ = await run(ActionOutOfScope(), tracker, domain)
        assert responses(dispatcher) == ["utter_please_chinese"]


async def test_a_follow_up_service_question_is_about_the_service_just_answered(domain):
    tracker = tracker_from_fixture("tracker_new_conversation", latest_message=message("户口本要带不", "service"),
                                   slots={"last_service": "id_card"})
    dispatcher, _ = await run(ActionAnswerService(), tracker, domain)
    assert "身份证" in dispatcher.messages[0]["answer"]


async def test_fallback_then_routes_then_a_person(domain):
    def tracker_after(misses: int):
        events = [{"event": "user", "text": "嗯嗯", "parse_data": {"intent": {"name": "nlu_fallback"}}}] * misses
        return tracker_from_fixture("tracker_new_conversation", events=events,
                                    latest_message=message("嗯嗯", "nlu_fallback"))
    said = [responses((await run(ActionHandleFallback(), tracker_after(n), domain))[0])[0] for n in (1, 2, 3)]
    assert said == ["utter_rephrase", "utter_choose_route", "utter_handoff"]


async def test_cancel_outside_a_form_forgets(domain):
    tracker = tracker_from_fixture("tracker_new_conversation", slots={"facts": "隔壁占地"},
                                   latest_message=message("算了", "cancel"))
    dispatcher, events = await run(ActionCancel(), tracker, domain)
    assert responses(dispatcher) == ["utter_cancelled"] and slot_events(events)["facts"] is None


async def test_the_read_back_masks_the_phone_and_the_village_question_asks_the_phone_too(domain):
    tracker = tracker_from_fixture("tracker_in_form", slots={**MEDIATION, "other_party": "王老三",
                                                             "village": "天台村", "township": "共和镇",
                                                             "phone": "13987654321"})
    dispatcher, _ = await run(ActionAskConfirmed(), tracker, domain)
    assert dispatcher.messages[0]["phone_masked"] == "139****4321"
    tracker = tracker_from_fixture("tracker_in_form", slots=MEDIATION)
    dispatcher, _ = await run(ActionAskVillage(), tracker, domain)
    assert responses(dispatcher) == ["utter_ask_village_and_phone"]


# --- a retry after a timeout (trust, item 5) ------------------------------------------


def confirmed_mediation(message_key: str):
    latest = message("对", "affirm")
    latest["metadata"] = {"message_key": message_key}
    slots = {**MEDIATION, "form_outcome": "file", "confirmed": True, "mediation_consent": True,
             "phone": "13800001111", "village": "tiantai", "township": "gonghe",
             "other_party": "隔壁王老三", "dispute_type": "neighbour"}
    return tracker_from_fixture("tracker_in_form", slots=slots, latest_message=latest)


async def test_the_same_confirming_message_sent_again_files_one_case(domain, action_records):
    """The bot gave up waiting and sent the same 对 again; Rasa's tracker was never saved, so
    the action runs twice on the same conversation.  The villager hears the same number."""
    first, _ = await run(ActionFinishCaseForm(), confirmed_mediation("4242:77"), domain)
    again, _ = await run(ActionFinishCaseForm(), confirmed_mediation("4242:77"), domain)
    assert len(action_records.cases) == 1
    [number] = action_records.cases
    said = lambda d: " ".join(str(m) for m in d.messages)  # noqa: E731
    assert number in said(first) and number in said(again)

    other, _ = await run(ActionFinishCaseForm(), confirmed_mediation("4242:78"), domain)
    assert len(action_records.cases) == 2  # a new confirming message is a new matter
