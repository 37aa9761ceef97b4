"""Actions of the action server, on trackers built with Tracker.from_dict."""

from __future__ import annotations

import re

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.confirm import ActionAskConfirmed, ActionAskVillage
from actions.conversation import ActionCancel, ActionCheckCase, ActionHandleFallback, ActionHumanHandoff
from actions.forms import ValidateLegalAidForm, ValidateMediationForm, ValidatePetitionForm
from actions.intake import ActionStartRoute
from actions.service import ActionAnswerService
from actions.submit import ActionSubmitCase
from tests.conftest import in_form, message, responses, slot_events, tracker_from_fixture


async def run(action, dispatcher, tracker, domain):
    return await action.run(dispatcher, tracker, domain)


# --- starting a route ---------------------------------------------------------


async def test_a_story_told_in_the_first_message_is_kept_as_the_facts(dispatcher, domain):
    tracker = tracker_from_fixture("tracker_new_conversation")
    events = await run(ActionStartRoute(), dispatcher, tracker, domain)
    slots = slot_events(events)
    assert slots["route"] == "mediation"
    assert slots["dispute_type"] == "neighbour"
    assert slots["facts"].startswith("隔壁家的牛")
    assert responses(dispatcher) == ["utter_start_mediation"]


async def test_a_bare_request_does_not_become_the_facts(dispatcher, domain):
    tracker = tracker_from_fixture("tracker_new_conversation", latest_message=message("我要调解", "mediation"))
    slots = slot_events(await run(ActionStartRoute(), dispatcher, tracker, domain))
    assert "facts" not in slots


async def test_wage_arrears_legal_aid_mentions_no_hardship_test_and_the_one_year_limit(dispatcher, domain):
    latest = message("老板欠我三个月工资不给，想找律师又莫得钱", "legal_aid",
                     entities=[{"entity": "dispute_type", "value": "labour"}])
    tracker = tracker_from_fixture("tracker_new_conversation", latest_message=latest)
    await run(ActionStartRoute(), dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_start_legal_aid_labour"]


async def test_switching_route_mid_form_keeps_what_was_said(dispatcher, domain):
    tracker = in_form("mediation_form", "mediation_consent", "/legal_aid", intent="legal_aid",
                      facts="邻居占了我家地界", village="天台村", township="共和镇")
    events = await run(ActionStartRoute(), dispatcher, tracker, domain)
    assert events[0] == {"event": "active_loop", "timestamp": None, "name": None}
    slots = slot_events(events)
    assert slots["route"] == "legal_aid"
    assert "facts" not in slots  # kept, not overwritten


# --- form answers -----------------------------------------------------------


async def test_a_wrong_phone_number_is_asked_again_politely(dispatcher, domain):
    tracker = in_form("petition_form", "phone", "1398765", facts="低保评定不公平")
    slots = slot_events(await run(ValidatePetitionForm(), dispatcher, tracker, domain))
    assert slots["phone"] is None
    assert "utter_invalid_phone" in responses(dispatcher)


async def test_a_phone_number_with_spaces_is_accepted(dispatcher, domain):
    tracker = in_form("petition_form", "phone", "139 8765 4321")
    assert slot_events(await run(ValidatePetitionForm(), dispatcher, tracker, domain))["phone"] == "13987654321"


async def test_a_known_village_sets_village_and_township(dispatcher, domain):
    tracker = in_form("mediation_form", "village", "共和镇天台村")
    slots = slot_events(await run(ValidateMediationForm(), dispatcher, tracker, domain))
    assert (slots["village"], slots["township"]) == ("天台村", "共和镇")


async def test_a_village_name_in_two_townships_asks_which_township(dispatcher, domain):
    tracker = in_form("mediation_form", "village", "庄科村")
    slots = slot_events(await run(ValidateMediationForm(), dispatcher, tracker, domain))
    assert slots["village"] is None
    assert "utter_which_township" in responses(dispatcher)


async def test_a_township_alone_keeps_the_township_and_asks_for_the_village(dispatcher, domain):
    tracker = in_form("legal_aid_form", "village", "/inform", entities=[{"entity": "township", "value": "新桥镇"}])
    slots = slot_events(await run(ValidateLegalAidForm(), dispatcher, tracker, domain))
    assert slots["township"] == "新桥镇" and slots["village"] is None


async def test_an_unlisted_village_in_a_known_township_is_accepted(dispatcher, domain):
    tracker = in_form("petition_form", "village", "我是江坡镇大黑箐村的")
    slots = slot_events(await run(ValidatePetitionForm(), dispatcher, tracker, domain))
    assert (slots["village"], slots["township"]) == ("大黑箐村", "江坡镇")


async def test_a_place_nobody_knows_gets_an_example_of_what_to_type(dispatcher, domain):
    tracker = in_form("petition_form", "village", "火星")
    slots = slot_events(await run(ValidatePetitionForm(), dispatcher, tracker, domain))
    assert slots["village"] is None
    assert responses(dispatcher) == ["utter_unknown_village"]


async def test_a_help_question_mid_form_is_not_taken_as_the_answer(dispatcher, domain):
    tracker = in_form("mediation_form", "other_party", "调解要不要钱", intent="help", confidence=0.93)
    events = await run(ValidateMediationForm(), dispatcher, tracker, domain)
    assert "other_party" not in slot_events(events)


async def test_refusing_mediation_ends_the_form_and_offers_the_legal_route(dispatcher, domain):
    tracker = in_form("mediation_form", "mediation_consent", "不愿意", intent="deny", dispute_type="land")
    events = await run(ValidateMediationForm(), dispatcher, tracker, domain)
    slots = slot_events(events)
    assert slots["mediation_consent"] is False
    assert slots["requested_slot"] is None  # the form stops asking

    after = in_form("mediation_form", None, "不愿意", intent="deny", route="mediation", mediation_consent=False)
    submit_dispatcher = type(dispatcher)()
    await run(ActionSubmitCase(), submit_dispatcher, after, domain)
    assert responses(submit_dispatcher) == ["utter_mediation_declined"]


async def test_saying_the_read_back_is_wrong_asks_everything_again(dispatcher, domain):
    tracker = in_form("petition_form", "confirmed", "不对", intent="deny", facts="路坏了", petition_request="修路",
                      name="张三", phone="13987654321", village="天台村", township="共和镇")
    slots = slot_events(await run(ValidatePetitionForm(), dispatcher, tracker, domain))
    assert slots["facts"] is None and slots["confirmed"] is None
    assert "utter_restart_form" in responses(dispatcher)


async def test_the_read_back_masks_the_phone(dispatcher, domain):
    tracker = in_form("mediation_form", "confirmed", "", facts="牛吃了苞谷", other_party="王老三",
                      phone="13987654321", village="天台村", township="共和镇")
    await run(ActionAskConfirmed(), dispatcher, tracker, domain)
    sent = dispatcher.messages[0]
    assert sent["response"] == "utter_confirm_mediation"
    assert sent["phone_masked"] == "139****4321" and sent["place"] == "共和镇天台村"


async def test_the_village_question_offers_the_seven_townships(dispatcher, domain):
    tracker = in_form("petition_form", "village", "")
    await run(ActionAskVillage(), dispatcher, tracker, domain)
    titles = [b["title"] for b in dispatcher.messages[0]["buttons"]]
    assert titles == ["共和镇", "新桥镇", "江坡镇", "凤屯镇", "蟠猫乡", "戌街乡", "安乐乡"]


# --- submission, routing, status ---------------------------------------------


def submitted(dispatcher) -> dict:
    return next(m for m in dispatcher.messages if m.get("response") == "utter_case_filed")


async def test_a_neighbour_dispute_becomes_a_case_for_the_village_mediation_committee(dispatcher, domain):
    tracker = in_form("mediation_form", None, "对", intent="affirm", route="mediation", dispute_type="neighbour",
                      facts="隔壁的牛吃了我家苞谷", other_party="王老三", phone="13987654321",
                      mediation_consent=True, village="天台村", township="共和镇", confirmed=True)
    events = await run(ActionSubmitCase(), dispatcher, tracker, domain)
    filed = submitted(dispatcher)
    assert filed["agency"] == "天台村人民调解委员会"
    assert re.fullmatch(r"MD-\d{4}-[2-9A-HJKMNP-Z]{4}", filed["number"])
    assert "utter_mediation_next_step" in responses(dispatcher)
    slots = slot_events(events)
    assert slots["facts"] is None and slots["case_id"] == filed["number"]


async def test_a_complaint_about_a_cadre_goes_to_the_county_petition_bureau_with_a_dated_reply(dispatcher, domain):
    tracker = in_form("petition_form", None, "对", intent="affirm", route="petition", dispute_type="other",
                      facts="村主任把低保名额给了亲戚", petition_request="重新评定", name="张美华",
                      phone="13987654321", village="天台村", township="共和镇", confirmed=True)
    await run(ActionSubmitCase(), dispatcher, tracker, domain)
    assert "信访局" in submitted(dispatcher)["agency"]
    deadline = next(m for m in dispatcher.messages if m.get("response") == "utter_case_deadline")
    assert re.search(r"\d{1,2}月\d{1,2}日", deadline["explain"])


async def test_a_migrant_worker_asking_for_wages_needs_no_hardship_test(dispatcher, domain):
    tracker = in_form("legal_aid_form", None, "对", intent="affirm", route="legal_aid", dispute_type="labour",
                      facts="老板欠我三个月工资不给", time_limit="没有或不清楚", economic_status="在外面打工的农民工",
                      phone="13812345678", village="石坝村", township="新桥镇", confirmed=True)
    await run(ActionSubmitCase(), dispatcher, tracker, domain)
    assert "法律援助" in submitted(dispatcher)["agency"]
    assert "utter_legal_aid_no_hardship_test" in responses(dispatcher)
    assert "utter_legal_aid_materials" in responses(dispatcher)


async def test_confirming_twice_does_not_file_the_matter_twice(domain):
    tracker_args = dict(route="mediation", dispute_type="debt", facts="借了三千块不还", other_party="李四",
                        phone="13987654321", mediation_consent=True, village="天台村", township="共和镇",
                        confirmed=True)
    numbers = set()
    for _ in range(2):
        dispatcher = type(CollectingDispatcher())()
        tracker = in_form("mediation_form", None, "对", intent="affirm", **tracker_args)
        tracker.events = [{"event": "user", "text": "对", "timestamp": 1790000000.5}]
        await run(ActionSubmitCase(), dispatcher, tracker, domain)
        numbers.add(submitted(dispatcher)["number"])
    assert len(numbers) == 1


async def test_a_villager_sees_their_own_case_and_not_someone_elses(domain):
    filing = CollectingDispatcher()
    tracker = in_form("petition_form", None, "对", intent="affirm", route="petition", dispute_type="other",
                      facts="路坏了半年没人修", petition_request="修路", name="杨", phone="13987654321",
                      village="天台村", township="共和镇", confirmed=True)
    await run(ActionSubmitCase(), filing, tracker, domain)
    number = submitted(filing)["number"]

    own = CollectingDispatcher()
    await run(ActionCheckCase(), own, tracker_from_fixture("tracker_in_form",
              latest_message=message(f"{number}到哪一步了", "check_case",
                                     entities=[{"entity": "case_id", "value": number}])), domain)
    assert own.messages[0]["response"] == "utter_case_status"
    assert own.messages[0]["number"] == number and "信访局" in own.messages[0]["agency"]

    stranger = CollectingDispatcher()
    other = tracker_from_fixture("tracker_in_form", sender_id="someone-else",
                                 latest_message=message(f"查{number}", "check_case",
                                                        entities=[{"entity": "case_id", "value": number}]))
    await run(ActionCheckCase(), stranger, other, domain)
    assert [m["response"] for m in stranger.messages] == ["utter_case_not_found"]


async def test_danger_now_gets_110_first_and_an_urgent_case_not_a_form(dispatcher, domain):
    latest = message("他拿着刀在我家门口吼，说要砍人", "mediation",
                     entities=[{"entity": "dispute_type", "value": "injury"}])
    tracker = tracker_from_fixture("tracker_new_conversation", latest_message=latest, sender_id="villager-danger")
    events = await run(ActionStartRoute(), dispatcher, tracker, domain)
    assert responses(dispatcher)[:2] == ["utter_emergency", "utter_emergency_filed"]
    assert {"event": "followup", "timestamp": None, "name": "action_listen"} in events


# --- service, fallback, cancel, handoff -------------------------------------


@pytest.mark.parametrize(
    "question, expected_words",
    [("异地就医咋个备案", "异地就医"), ("身份证掉了咋个补办", "身份证"), ("低保咋个申请", "低保")],
)
async def test_service_questions_are_answered_from_the_catalogue(dispatcher, domain, question, expected_words):
    tracker = tracker_from_fixture("tracker_new_conversation", latest_message=message(question, "service"))
    await run(ActionAnswerService(), dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_service_answer", "utter_service_details", "utter_anything_else"]
    assert expected_words in dispatcher.messages[0]["answer"]


async def test_an_unknown_service_question_points_to_12345(dispatcher, domain):
    tracker = tracker_from_fixture("tracker_new_conversation",
                                   latest_message=message("我想问问那个啥子火箭发射许可证咋个整", "service"))
    await run(ActionAnswerService(), dispatcher, tracker, domain)
    assert responses(dispatcher) == ["utter_service_unknown"]


def fallback_events(count: int) -> list[dict]:
    events = [{"event": "user", "text": "嗯嗯", "parse_data": {"intent": {"name": "greet"}}}]
    for _ in range(count):
        events += [{"event": "user", "text": "唔", "parse_data": {"intent": {"name": "nlu_fallback"}}},
                   {"event": "action", "name": "action_handle_fallback"}]
    return events[:-1]


@pytest.mark.parametrize("misses, expected", [(1, "utter_rephrase"), (2, "utter_choose_route"), (3, "utter_handoff")])
async def test_not_understood_rephrase_then_routes_then_a_person(dispatcher, domain, misses, expected):
    tracker = tracker_from_fixture("tracker_new_conversation", events=fallback_events(misses),
                                   latest_message=message("唔", "nlu_fallback", 0.2))
    await run(ActionHandleFallback(), dispatcher, tracker, domain)
    assert responses(dispatcher) == [expected]


async def test_cancel_mid_form_forgets_what_was_collected(dispatcher, domain):
    tracker = in_form("petition_form", "phone", "算了", intent="cancel", facts="路坏了", name="张三")
    events = await run(ActionCancel(), dispatcher, tracker, domain)
    assert {"event": "active_loop", "timestamp": None, "name": None} in events
    slots = slot_events(events)
    assert slots["facts"] is None and slots["name"] is None
    assert responses(dispatcher) == ["utter_cancelled"]


async def test_asking_for_a_person_stops_the_form_but_keeps_the_story(dispatcher, domain):
    tracker = in_form("petition_form", "phone", "找人工", intent="human_handoff", facts="路坏了")
    events = await run(ActionHumanHandoff(), dispatcher, tracker, domain)
    assert "facts" not in slot_events(events)
    assert responses(dispatcher) == ["utter_handoff"]


async def test_a_short_yes_the_model_is_unsure_about_still_confirms(dispatcher, domain):
    tracker = in_form("petition_form", "confirmed", "对的", intent="nlu_fallback", confidence=0.3)
    assert slot_events(await run(ValidatePetitionForm(), dispatcher, tracker, domain))["confirmed"] is True
