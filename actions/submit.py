"""The end of a form: the matter becomes a case, routed, with its statutory dates.

The case, its deadlines and the agency's outbox message are written in one
transaction (records.services.submit_case). The submission key is the
conversation plus the moment the villager confirmed, so a retried submission
(an action server that died after committing) finds the case instead of
writing a second one.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    CASE_SLOTS,
    FORM_OF_ROUTE,
    latest_user_timestamp,
    place_ids,
    unit_of_work,
)

logger = logging.getLogger(__name__)

FACT_SLOTS = ("facts", "petition_request", "other_party", "time_limit", "economic_status")


def reset_case_slots() -> List[EventType]:
    """Forget the finished (or cancelled) matter, ready for the next one."""
    return [SlotSet(slot, None) for slot in CASE_SLOTS]


def submission_key(tracker: Tracker) -> str:
    """One key per confirmed submission of one conversation.

    The confirming message's timestamp (or message id) identifies it; with
    neither, a fresh id (no retry protection, but never a merge of two matters).
    """
    moment = latest_user_timestamp(tracker) or tracker.latest_message.get("message_id")
    return f"{tracker.sender_id}:{moment or uuid.uuid4().hex}"


def tell_case(dispatcher: CollectingDispatcher, case: Any) -> None:
    """What the villager hears about a new case: where it went, its number, the dates."""
    if case.redirected and case.redirect:
        dispatcher.utter_message(response="utter_case_redirected", route_name=case.redirect.name,
                                 explain=case.redirect.explain, number=case.number)
        dispatcher.utter_message(response="utter_offer_legal_aid")
        return
    agency = case.agency.name if case.agency else ""
    dispatcher.utter_message(response="utter_case_filed", agency=agency, number=case.number)
    for deadline in case.deadlines:
        if deadline.due and not deadline.information:
            dispatcher.utter_message(response="utter_case_deadline", explain=deadline.explain)
    if case.route == "mediation":
        dispatcher.utter_message(response="utter_mediation_next_step")
    if case.screening:
        screening = case.screening
        if screening.urgent:
            dispatcher.utter_message(response="utter_legal_aid_urgent")
        if screening.hardship_test_needed:
            dispatcher.utter_message(response="utter_legal_aid_hardship")
        else:
            dispatcher.utter_message(response="utter_legal_aid_no_hardship_test")
        if screening.materials:
            dispatcher.utter_message(response="utter_legal_aid_materials",
                                     materials="、".join(screening.materials))
    if "legal_aid" in (case.also_offer or ()) and case.route != "legal_aid":
        dispatcher.utter_message(response="utter_offer_legal_aid")


class ActionSubmitCase(Action):
    """Stores the completed form as a case and tells the villager what happens next."""

    def name(self) -> Text:
        return "action_submit_case"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        from records.services import SubmitCase, submit_case

        route = tracker.get_slot("route")
        if route == "mediation" and tracker.get_slot("mediation_consent") is False:
            dispatcher.utter_message(response="utter_mediation_declined")
            return reset_case_slots()

        township_id, village_id = place_ids(tracker)
        command = SubmitCase(
            submission_key=submission_key(tracker),
            route=route,
            sender_id=tracker.sender_id,
            facts={slot: tracker.get_slot(slot) for slot in FACT_SLOTS if tracker.get_slot(slot)},
            dispute_type=tracker.get_slot("dispute_type") or "other",
            name=tracker.get_slot("name"),
            phone=tracker.get_slot("phone"),
            township_id=township_id,
            village_id=village_id,
            # A proxy agent (信访代办员) filing through the Telegram bot: the bot puts
            # "filed_by": "tg:<agent id>" into every message's metadata.
            filed_by=(tracker.latest_message.get("metadata") or {}).get("filed_by"),
        )
        try:
            result = submit_case(unit_of_work(), command)
        except Exception:  # the store is down: keep everything, ask to confirm again
            logger.exception("case submission failed (route=%s)", route)
            dispatcher.utter_message(response="utter_case_save_failed")
            form = FORM_OF_ROUTE.get(route)
            if not form:
                return []
            # Back into the form: it reads the facts back and asks "对吗？" again.
            return [SlotSet("confirmed", None), ActiveLoop(form), FollowupAction(form)]

        logger.info("case %s submitted (route=%s, created=%s)", result.number, route, result.created)
        tell_case(dispatcher, result.case)
        return [*reset_case_slots(), SlotSet("case_id", result.number)]
