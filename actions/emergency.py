"""Danger now (violence, a weapon, self-harm, fire …): 110/120/119 first, then an urgent case.

The EmergencyPolicy runs ``action_handle_emergency`` right after any message the NLU marks
with the ``emergency`` entity, whatever its intent and inside a form too.  It gives the advice
first, stops any form, and files an urgent case for the township police station once it knows
where the villager is and a phone; what is missing is asked in ``emergency_form`` (one
question each; a villager who will not say is not asked again), then ``action_finish_emergency``
files.  The conversation stays open afterwards.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import dialogue, knowledge, latest_entity, latest_text, place_ids, records
from actions.facts import read_facts

logger = logging.getLogger(__name__)

EMERGENCY_FORM = "emergency_form"
#: Below this confidence, with no emergency word said, the villager is asked "现在有危险吗？"
#: after the advice and before the police are called (a false alarm sends the police to a
#: villager who only wanted a bridge mended).
SURE = 0.8


def is_sure(tracker: Tracker) -> bool:
    found = [e for e in tracker.latest_message.get("entities") or [] if e.get("entity") == "emergency"]
    return any(e.get("role") == "words" or float(e.get("confidence") or 0) >= SURE for e in found)


async def file_emergency(dispatcher: CollectingDispatcher, tracker: Tracker, text: str,
                         key: str) -> Optional[str]:
    """The urgent case for the township police station; its number, or None if not stored."""
    from records.services.cases import SubmitCase

    township_id, village_id = place_ids(tracker)
    route = tracker.get_slot("route")
    try:
        result = await records().submit_case(SubmitCase(
            submission_key=key,
            route=route if route in ("petition", "mediation", "legal_aid") else "mediation",
            sender_id=tracker.sender_id,
            facts={"facts": text},
            dispute_type=tracker.get_slot("dispute_type") or latest_entity(tracker, "dispute_type") or "injury",
            name=tracker.get_slot("name") or None,
            phone=tracker.get_slot("phone") or None,
            township_id=township_id,
            village_id=village_id,
            emergency=True,
        ))
    except Exception:
        logger.exception("emergency case could not be stored")
        dispatcher.utter_message(response="utter_emergency_not_stored")
        return None
    agency = result.case.agency.name if result.case.agency else ""
    dispatcher.utter_message(response="utter_emergency_filed", agency=agency, number=result.number)
    return result.number


class ActionHandleEmergency(Action):
    """Advice first; the urgent case once place and phone are known (or asked for)."""

    def name(self) -> Text:
        return "action_handle_emergency"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        dispatcher.utter_message(response="utter_emergency")
        text = latest_text(tracker)
        events: List[EventType] = []
        if tracker.active_loop.get("name"):
            events.append(ActiveLoop(None))
        filed = tracker.get_slot("emergency_case")
        if filed:  # already with the police: the advice again is what helps now
            dispatcher.utter_message(response="utter_emergency_filed", agency="派出所", number=filed)
            return [*events, FollowupAction("action_listen")]

        facts = read_facts(text, knowledge(), dialogue())
        if facts.township and not tracker.get_slot("township"):
            events.append(SlotSet("township", facts.township))
            if facts.village:
                events.append(SlotSet("village", facts.village))
        if facts.phone and not tracker.get_slot("phone"):
            events.append(SlotSet("phone", facts.phone))
        story = "\n".join(t for t in (tracker.get_slot("facts"), text) if t)
        events += [SlotSet("facts", story), SlotSet("requested_slot", None), SlotSet("danger_confirmed", None)]
        unsure = not is_sure(tracker)
        if unsure:  # ask before calling the police; remember the route the message had
            intent = (tracker.latest_message.get("intent") or {}).get("name") or ""
            events.append(SlotSet("emergency_unsure", intent))
        known = {**tracker.slots, **{e["name"]: e["value"] for e in events if e.get("event") == "slot"}}
        if known.get("township") and known.get("phone") and not unsure:
            tracker.slots.update(known)
            number = await file_emergency(dispatcher, tracker, story, f"{tracker.sender_id}:emergency:{_moment(tracker)}")
            if number:
                events.append(SlotSet("emergency_case", number))
            return [*events, FollowupAction("action_listen")]
        # Not knowing where: ask (emergency_form), then file.
        for slot in ("village", "phone"):
            if known.get(slot) == "":
                events.append(SlotSet(slot, None))
        return [*events, FollowupAction(EMERGENCY_FORM)]


class ActionFinishEmergency(Action):
    """The place and the phone are in (or the villager would not say): file the urgent case."""

    def name(self) -> Text:
        return "action_finish_emergency"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        if tracker.get_slot("danger_confirmed") is False:
            return self.no_danger(dispatcher, tracker)
        story = tracker.get_slot("facts") or latest_text(tracker)
        number = await file_emergency(dispatcher, tracker, story, f"{tracker.sender_id}:emergency:{_moment(tracker)}")
        events: List[EventType] = [SlotSet("emergency_unsure", None)]
        if number:
            events.append(SlotSet("emergency_case", number))
            dispatcher.utter_message(response="utter_emergency_contact_added")
        return events

    @staticmethod
    def no_danger(dispatcher: CollectingDispatcher, tracker: Tracker) -> List[EventType]:
        """"没有危险": the message goes on its own route, the story kept."""
        from actions.intake import start_route

        route = tracker.get_slot("emergency_unsure")
        events: List[EventType] = [SlotSet("emergency_unsure", None), SlotSet("danger_confirmed", None)]
        dispatcher.utter_message(response="utter_no_danger")
        if route in ("petition", "mediation", "legal_aid"):
            return [*events, *start_route(dispatcher, tracker, route, by_button=False)]
        dispatcher.utter_message(response="utter_ask_what_happened")
        return events


def _moment(tracker: Tracker) -> str:
    """The moment of the message that reported the danger (one case per report, retries too)."""
    for event in reversed(tracker.events):
        if event.get("event") == "user" and any(
            e.get("entity") == "emergency" for e in (event.get("parse_data") or {}).get("entities") or []
        ):
            # The front end's key for the message survives a resend after a timeout; the
            # timestamp of a resent message is new.
            key = (event.get("metadata") or {}).get("message_key")
            return str(key or event.get("timestamp"))
    return str(tracker.latest_message.get("message_id") or "")
