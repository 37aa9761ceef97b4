"""Outside a form: not understood, English or emoji, 算了, a person, and case status."""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import latest_entity, unit_of_work
from actions.submit import reset_case_slots
from nlu_components.route_classifier import cjk_count
from knowledge.frontend import status_label

FALLBACK_INTENT = "nlu_fallback"
MAX_CASES_LISTED = 3


def consecutive_fallbacks(tracker: Tracker) -> int:
    """How many of the villager's latest messages in a row were not understood."""
    count = 0
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        if (event.get("parse_data", {}).get("intent") or {}).get("name") != FALLBACK_INTENT:
            break
        count += 1
    return count


class ActionHandleFallback(Action):
    """First miss: ask to rephrase. Second: offer the four routes. Then a person."""

    def name(self) -> Text:
        return "action_handle_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        misses = consecutive_fallbacks(tracker)
        if not (tracker.latest_message.get("text") or "").strip():
            dispatcher.utter_message(response="utter_empty_message")
        elif misses <= 1:
            dispatcher.utter_message(response="utter_rephrase")
        elif misses == 2:
            dispatcher.utter_message(response="utter_choose_route")
        else:
            dispatcher.utter_message(response="utter_handoff")
        return []


class ActionOutOfScope(Action):
    """English, emoji and gibberish: one kind line asking for Chinese (or a voice note);
    Chinese that is simply off-topic: what the assistant can do."""

    def name(self) -> Text:
        return "action_out_of_scope"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        text = tracker.latest_message.get("text") or ""
        if cjk_count(text):
            dispatcher.utter_message(response="utter_out_of_scope")
        else:
            dispatcher.utter_message(response="utter_please_chinese")
        return []


class ActionCancel(Action):
    """“算了” outside a form: forget anything half-said."""

    def name(self) -> Text:
        return "action_cancel"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        if tracker.get_slot("facts") or tracker.get_slot("route"):
            dispatcher.utter_message(response="utter_cancelled")
        else:
            dispatcher.utter_message(response="utter_nothing_to_cancel")
        return [SlotSet("requested_slot", None), *reset_case_slots()]


class ActionHumanHandoff(Action):
    """“找人工”: keep what was said for the person."""

    def name(self) -> Text:
        return "action_human_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        dispatcher.utter_message(response="utter_handoff")
        return []


def tell_case_status(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    """The villager's own cases only, with status and the next date (a number narrows it)."""
    from records.services import cases_for_villager, find_case_for_villager, next_date_that_matters

    number = latest_entity(tracker, "case_id")
    uow = unit_of_work()
    if number:
        case = find_case_for_villager(uow, tracker.sender_id, number)
        if case is None:  # wrong, or someone else's: never say which
            dispatcher.utter_message(response="utter_case_not_found", number=number)
            return
        cases = [case]
    else:
        cases = cases_for_villager(uow, tracker.sender_id)[:MAX_CASES_LISTED]
    if not cases:
        dispatcher.utter_message(response="utter_no_cases")
        return
    from records.deadlines import local_date
    from records.outbox import utcnow

    today = local_date(utcnow())  # the county's date, not the server's
    for case in cases:
        upcoming = next_date_that_matters(case, today)
        dispatcher.utter_message(
            response="utter_case_status",
            number=case.number,
            status=status_label(case.status),
            agency=case.agency.name if case.agency else "",
            next=upcoming.explain if upcoming else "",
        )


class ActionCheckCase(Action):
    """“我的事办得咋样了”."""

    def name(self) -> Text:
        return "action_check_case"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        tell_case_status(dispatcher, tracker)
        return []
