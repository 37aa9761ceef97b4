"""The end of a form: hand the matter to the agency that handles it."""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import CASE_SLOTS, knowledge


def reset_case_slots() -> List[EventType]:
    """Forget the finished (or cancelled) matter, ready for the next one."""
    return [SlotSet(slot, None) for slot in CASE_SLOTS]


class ActionSubmitCase(Action):
    """Routes the completed form and tells the villager who will handle it."""

    def name(self) -> Text:
        return "action_submit_case"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        route = tracker.get_slot("route")
        if route == "mediation" and tracker.get_slot("mediation_consent") is False:
            dispatcher.utter_message(response="utter_mediation_declined")
            return reset_case_slots()

        place = knowledge().find_place(
            f"{tracker.get_slot('township') or ''}{tracker.get_slot('village') or ''}"
        )
        decision = knowledge().route_case(
            route,
            tracker.get_slot("dispute_type") or "other",
            place.township.id if place and place.township else None,
            place.village.id if place and place.village else None,
        )
        dispatcher.utter_message(response=f"utter_submitted_{route}", agency=decision.agency.name)
        dispatcher.utter_message(response="utter_next_step_unfiled")
        return reset_case_slots()
