"""Outside a form: not understood, English or emoji, 算了, a person, and case status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import latest_entity, records
from actions.submit import reset_case_slots
from knowledge.text import cjk_count
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


@dataclass(frozen=True)
class CaseLookup:
    """The villager's own cases for a "我的事办得咋样了" (``number``: the one they asked about,
    None when it is not theirs or does not exist — never said which)."""

    asked: str | None
    cases: list[Any]
    today: date


async def lookup_cases(tracker: Tracker) -> CaseLookup:
    """Read the villager's cases (only theirs) for :func:`tell_case_status`."""
    number = latest_entity(tracker, "case_id")
    store = records()
    today = store.clock.today()  # the county's date, not the server's
    if number:
        case = await store.find_case_for_villager(tracker.sender_id, number)
        return CaseLookup(number, [case] if case else [], today)
    found = await store.cases_for_villager(tracker.sender_id)
    return CaseLookup(None, found[:MAX_CASES_LISTED], today)


def tell_case_status(dispatcher: CollectingDispatcher, lookup: CaseLookup) -> None:
    """The villager's own cases only, with status and the next date (a number narrows it)."""
    if lookup.asked and not lookup.cases:  # wrong, or someone else's: never say which
        dispatcher.utter_message(response="utter_case_not_found", number=lookup.asked)
        return
    if not lookup.cases:
        dispatcher.utter_message(response="utter_no_cases")
        return
    for case in lookup.cases:
        upcoming = case.next_deadline(lookup.today)
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
        tell_case_status(dispatcher, await lookup_cases(tracker))
        return []
