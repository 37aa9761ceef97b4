"""Questions built from what was collected: the read-back, the village, "要换成…吗？", "要改哪一项？";
a place or a short yes/no said outside a form."""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import dialogue, knowledge, latest_entity, latest_intent, latest_text, place_label
from actions.facts import find_name, find_phone
from knowledge.text import shorten
from records.domain.redaction import mask_phone


def read_back_values(tracker: Tracker) -> Dict[str, str]:
    """Values for the utter_confirm_* templates; the phone is masked."""
    name = tracker.get_slot("name") or ""
    return {
        "facts": shorten(tracker.get_slot("facts") or "", 80),
        "petition_request": shorten(tracker.get_slot("petition_request") or "", 40),
        "name": "（不留名）" if tracker.get_slot("anonymous") else name,
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
        route = tracker.get_slot("route") or "mediation"
        dispatcher.utter_message(response=f"utter_confirm_{route}", **read_back_values(tracker))
        return []


class ActionAskVillage(Action):
    """Asks for the village (and the phone with it while that is missing), with the county's
    townships as buttons."""

    def name(self) -> Text:
        return "action_ask_village"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        if tracker.get_slot("interruption") == "which_township":
            return []  # "您是哪个乡镇的？" was just asked, with the townships as buttons
        township = tracker.get_slot("township")
        if township:
            dispatcher.utter_message(response="utter_which_village", township=township)
            return []
        buttons = [
            {"title": t.name, "payload": f'/inform{{"township":"{t.name}"}}'}
            for t in knowledge().county.townships
        ]
        response = "utter_ask_village" if tracker.get_slot("phone") else "utter_ask_village_and_phone"
        dispatcher.utter_message(response=response, buttons=buttons)
        return []


class ActionAskRouteChange(Action):
    """"您是想换成…吗？" with the two answers as buttons."""

    def name(self) -> Text:
        return "action_ask_route_change"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        route = dialogue().routes.get(tracker.get_slot("pending_route") or "")
        label = route.label if route else ""
        dispatcher.utter_message(
            response="utter_ask_route_change",
            route_label=label,
            buttons=[
                {"title": f"换成{route.short if route else ''}", "payload": "/affirm"},
                {"title": "不换，接着说", "payload": "/deny"},
            ],
        )
        return []


class ActionAskEditField(Action):
    """"要改哪一项？" with the fields of this route as buttons."""

    def name(self) -> Text:
        return "action_ask_edit_field"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        words = dialogue()
        route = tracker.get_slot("route") or "mediation"
        buttons = [
            {"title": words.fields[f].label, "payload": f'/inform{{"field":"{f}"}}'}
            for f in words.editable[route]
        ]
        buttons.append({"title": "都对，不改了", "payload": "/affirm"})
        dispatcher.utter_message(response="utter_ask_edit_field", buttons=buttons)
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
        text = latest_text(tracker)
        match = knowledge().find_place(f"{township}{village}" or text)
        # A phone number or a name said now is kept for the form that comes next.
        kept: List[EventType] = []
        phone = find_phone(text)
        if phone:
            kept.append(SlotSet("phone", phone))
        name = find_name(text)
        if name:
            kept.append(SlotSet("name", name))
        if match is None or match.township is None:
            # A detail without a form to put it in: ask what the matter is.
            dispatcher.utter_message(response="utter_ask_what_happened")
            return kept
        events: List[EventType] = [*kept, SlotSet("township", match.township.name)]
        place = match.township.name
        if match.village is not None:
            events.append(SlotSet("village", match.village.name))
            place += match.village.name
        dispatcher.utter_message(response="utter_place_noted", place=place)
        return events


class ActionShortAnswer(Action):
    """A yes or a no outside any question of a form: "还有别的问题吗？" — "没有了" ends kindly,
    "有" invites the next matter."""

    def name(self) -> Text:
        return "action_short_answer"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        close = tracker.get_slot("clarify_routes")
        if close:
            # "您是想A，还是想B？" — "是的" is A, "不是" is B.
            from actions.intake import start_route

            chosen = close[0] if latest_intent(tracker) == "affirm" else close[-1]
            return start_route(dispatcher, tracker, chosen)
        if latest_intent(tracker) == "deny":
            dispatcher.utter_message(response="utter_goodbye")
        else:
            dispatcher.utter_message(response="utter_go_ahead")
        return []
