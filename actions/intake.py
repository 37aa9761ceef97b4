"""Starting a route: remember what the villager already said, explain, then ask."""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import FORM_OF_ROUTE, knowledge, latest_entity, latest_intent, latest_text
from actions.emergency import handle_emergency
from xiangyin.text import compact

# A first message this long is the story itself, not just "我要调解".
FACTS_MIN_CHARS = 10
FACTS_MIN_CHARS_WITH_KEYWORD = 5


def first_message_is_facts(text: str) -> bool:
    """Whether the message that chose the route already tells what happened."""
    value = compact(text)
    if len(value) >= FACTS_MIN_CHARS:
        return True
    return len(value) >= FACTS_MIN_CHARS_WITH_KEYWORD and bool(
        knowledge().classify_dispute_keywords(value)
    )


class ActionStartRoute(Action):
    """Sets the route from the intent, keeps the story told so far, says what comes next.

    Slots already collected on another route (a mediation that became a legal
    question) are kept, so nobody has to repeat themselves.
    """

    def name(self) -> Text:
        return "action_start_route"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        route = latest_intent(tracker)
        if route not in FORM_OF_ROUTE:
            return []
        dispute_type = latest_entity(tracker, "dispute_type")
        emergency = handle_emergency(dispatcher, tracker, route, dispute_type)
        if emergency is not None:
            return [ActiveLoop(None), *emergency]
        events: List[EventType] = [SlotSet("route", route), SlotSet("confirmed", None)]
        if tracker.active_loop.get("name") and tracker.active_loop.get("name") != FORM_OF_ROUTE[route]:
            events.insert(0, ActiveLoop(None))

        if dispute_type and (route != "mediation" or not tracker.get_slot("dispute_type")):
            events.append(SlotSet("dispute_type", dispute_type))

        text = latest_text(tracker)
        if text and first_message_is_facts(text) and not tracker.get_slot("facts"):
            events.append(SlotSet("facts", text.strip()))

        if route == "legal_aid" and (dispute_type or tracker.get_slot("dispute_type")) == "labour":
            dispatcher.utter_message(response="utter_start_legal_aid_labour")
        else:
            dispatcher.utter_message(response=f"utter_start_{route}")
        return events
