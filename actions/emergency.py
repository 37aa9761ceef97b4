"""Danger now (violence, a weapon, self-harm): 110/120 first, then an urgent case.

Checked on every message that starts a route or is not understood, before any
form question: a villager in danger must never get only a form.
"""

from __future__ import annotations

import logging
from typing import List

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import latest_text, place_ids, unit_of_work

logger = logging.getLogger(__name__)


def handle_emergency(
    dispatcher: CollectingDispatcher, tracker: Tracker, route: str, dispute_type: str | None
) -> List[EventType] | None:
    """If the latest message reports danger now: guide, file an urgent case, stop the form.

    Returns the events to send back, or None when there is no emergency.
    """
    from records.routing import detect_emergency
    from records.services import SubmitCase, submit_case

    text = latest_text(tracker)
    if not text or not detect_emergency(text):
        return None
    dispatcher.utter_message(response="utter_emergency")
    township_id, village_id = place_ids(tracker)
    try:
        result = submit_case(unit_of_work(), SubmitCase(
            submission_key=f"{tracker.sender_id}:{tracker.latest_message.get('message_id') or text}",
            route=route if route in ("petition", "mediation", "legal_aid") else "mediation",
            sender_id=tracker.sender_id,
            facts={"facts": text},
            dispute_type=dispute_type or "injury",
            name=tracker.get_slot("name"),
            phone=tracker.get_slot("phone"),
            township_id=township_id,
            village_id=village_id,
        ))
    except Exception:
        logger.exception("emergency case could not be stored")
        dispatcher.utter_message(response="utter_emergency_not_stored")
        return [FollowupAction("action_listen")]
    agency = result.case.agency.name if result.case.agency else ""
    dispatcher.utter_message(response="utter_emergency_filed", agency=agency, number=result.number)
    return [SlotSet("case_id", result.number), FollowupAction("action_listen")]
