"""Questions built from what was collected: the read-back and the village; a place said
outside a form."""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import ROUTE_OF_FORM, knowledge, latest_entity, latest_text, place_label
from xiangyin.validation import mask_phone, shorten


def read_back_values(tracker: Tracker) -> Dict[str, str]:
    """Values for the utter_confirm_* templates; the phone is masked."""
    return {
        "facts": shorten(tracker.get_slot("facts") or "", 80),
        "petition_request": shorten(tracker.get_slot("petition_request") or "", 40),
        "name": tracker.get_slot("name") or "",
        "other_party": shorten(tracker.get_slot("other_party") or "", 20),
        "time_limit": shorten(tracker.get_slot("time_limit") or "", 30),
        "economic_status": shorten(tracker.get_slot("economic_status") or "", 30),
        "place": place_label(tracker),
        "phone_masked": mask_phone(tracker.get_slot("phone")),
    }


class ActionAskConfirmed(Action):
    """Reads back what was collected and asks whether it is right."""

    def name(self) -> Text:
        return "action_ask_confirmed"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        route = ROUTE_OF_FORM.get(tracker.active_loop.get("name") or "") or tracker.get_slot("route")
        dispatcher.utter_message(response=f"utter_confirm_{route}", **read_back_values(tracker))
        return []


class ActionAskVillage(Action):
    """Asks for the village, with the county's townships as buttons."""

    def name(self) -> Text:
        return "action_ask_village"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        township = tracker.get_slot("township")
        if township:
            dispatcher.utter_message(response="utter_which_village", township=township)
            return []
        buttons = [
            {"title": t.name, "payload": f'/inform{{"township":"{t.name}"}}'}
            for t in knowledge().county.townships
        ]
        dispatcher.utter_message(response="utter_ask_village", buttons=buttons)
        return []


class ActionNotePlace(Action):
    """A place said (or a shared location confirmed) while no form is running: remember it,
    so the next form does not ask again, and ask what happened."""

    def name(self) -> Text:
        return "action_note_place"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        township = latest_entity(tracker, "township") or ""
        village = latest_entity(tracker, "village") or ""
        match = knowledge().find_place(f"{township}{village}" or latest_text(tracker))
        if match is None or match.township is None:
            # A name or a detail without a form to put it in: ask what the matter is.
            dispatcher.utter_message(response="utter_ask_what_happened")
            return []
        events: List[EventType] = [SlotSet("township", match.township.name)]
        place = match.township.name
        if match.village is not None:
            events.append(SlotSet("village", match.village.name))
            place += match.village.name
        dispatcher.utter_message(response="utter_place_noted", place=place)
        return events
