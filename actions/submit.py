"""The end of case_form: the matter becomes a case (routed, with its statutory dates), or the
villager is told kindly that nothing was filed.

A case is filed only after the read-back was answered "对" (``form_outcome`` = file, with
``confirmed``), and never without a phone and a place.  The case, its deadlines and the
agency's outbox message are written in one transaction (records.services.cases.submit_case).  The
submission key is the conversation plus the confirming message, so a retried submission
finds the case instead of writing a second one.

What the villager hears is one or two replies and at most 150 characters: where it went, the
number, and the one date that matters, said plainly.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    CASE_FORM,
    CASE_ROUTES,
    CASE_SLOTS,
    context,
    latest_user_timestamp,
    place_ids,
    records,
    well_typed,
)
from actions.validation import normalize_phone
from records.domain.deadlines import plain_date
from records.services.cases import SubmitCase

logger = logging.getLogger(__name__)

FACT_SLOTS = ("facts", "petition_request", "other_party", "time_limit", "economic_status",
              "amount", "event_date")
#: The deadline whose date the villager hears when a case is filed, per route.
FIRST_DATE = {"petition": "petition_intake_notice", "legal_aid": "legal_aid_decision"}


def reset_case_slots() -> List[EventType]:
    """Forget the finished (or cancelled) matter, ready for the next one."""
    return [SlotSet(slot, None) for slot in CASE_SLOTS]


def submission_key(tracker: Tracker) -> str:
    """One key per confirmed submission of one conversation.

    The front end names the confirming message in its metadata (``message_key``: the chat
    and the message id, or the button tap's id), which stays the same when it sends the same
    message again after a timeout; without it the message's timestamp in this conversation;
    with neither, a fresh id (no retry protection, but never a merge of two matters).
    """
    metadata = tracker.latest_message.get("metadata") or {}
    if metadata.get("message_key"):
        return f"{tracker.sender_id}:{metadata['message_key']}"
    moment = latest_user_timestamp(tracker) or tracker.latest_message.get("message_id")
    return f"{tracker.sender_id}:{moment or uuid.uuid4().hex}"


def unfit_for_filing(tracker: Tracker) -> List[str]:
    """The slots a case needs that are empty or unusable: the route, the story, a phone that
    is a phone, a township or village."""
    missing = []
    if tracker.get_slot("route") not in CASE_ROUTES:
        missing.append("route")
    if not str(tracker.get_slot("facts") or "").strip():
        missing.append("facts")
    if not normalize_phone(str(tracker.get_slot("phone") or "")):
        missing.append("phone")
    if not str(tracker.get_slot("village") or tracker.get_slot("township") or "").strip():
        missing.append("village")
    return missing


def first_date(case: Any) -> str:
    """The plain date of the route's first promise ("12月7日"), or ''."""
    wanted = FIRST_DATE.get(case.route)
    deadline = next((d for d in case.deadlines if d.deadline_id == wanted and d.due), None)
    if deadline is None:
        return ""
    return plain_date(deadline.due, deadline.due, context().knowledge.rules)


def tell_case(dispatcher: CollectingDispatcher, case: Any, anonymous: bool = False) -> None:
    """What the villager hears about a new case (at most two replies)."""
    if case.redirected and case.redirect:
        dispatcher.utter_message(response="utter_filed_redirected", route_name=case.redirect.name,
                                 number=case.number)
        return
    agency = case.agency.name if case.agency else ""
    if case.emergency:  # the story spoke of danger now: it went to the police station
        dispatcher.utter_message(response="utter_emergency_filed", agency=agency, number=case.number)
        return
    if case.route == "petition":
        response = "utter_filed_petition_anonymous" if anonymous else "utter_filed_petition"
        dispatcher.utter_message(response=response, agency=agency, number=case.number, when=first_date(case))
    elif case.route == "mediation":
        dispatcher.utter_message(response="utter_filed_mediation", agency=agency, number=case.number)
    else:
        screening = case.screening
        urgent = bool(screening and screening.urgent)
        dispatcher.utter_message(
            response="utter_filed_legal_aid_urgent" if urgent else "utter_filed_legal_aid",
            number=case.number, when=first_date(case),
        )
        if screening and screening.materials:
            dispatcher.utter_message(response="utter_legal_aid_bring", materials="、".join(screening.materials))


class ActionFinishCaseForm(Action):
    """Files the confirmed case, or ends the form as the villager asked (算了, 拜拜, 找人工)."""

    def name(self) -> Text:
        return "action_finish_case_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        tracker = well_typed(tracker, domain)
        outcome = tracker.get_slot("form_outcome")
        if outcome == "handoff":
            if tracker.get_slot("interruption") != "paused":
                dispatcher.utter_message(response="utter_handoff")
            keep = ("form_outcome", "interruption", "confirmed", "asked", "requested_slot")
            return [SlotSet(slot, None) for slot in keep]
        if outcome == "goodbye":
            dispatcher.utter_message(response="utter_form_goodbye")
            return reset_case_slots()
        if outcome != "file" or tracker.get_slot("confirmed") is not True:
            dispatcher.utter_message(response="utter_cancelled")
            return reset_case_slots()
        missing = unfit_for_filing(tracker)
        if missing:
            # Never a case without its story, a phone and a place (the form asks for them;
            # a tracker that skipped them goes back into the form, which asks again).
            logger.warning("not filed: %s missing or unusable", ", ".join(missing))
            return [*(SlotSet(slot, None) for slot in missing), SlotSet("confirmed", None),
                    SlotSet("form_outcome", None), ActiveLoop(CASE_FORM), FollowupAction(CASE_FORM)]
        return await self.file(dispatcher, tracker)

    async def file(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> List[EventType]:
        route = tracker.get_slot("route")
        township_id, village_id = place_ids(tracker)
        command = SubmitCase(
            submission_key=submission_key(tracker),
            route=route,
            sender_id=tracker.sender_id,
            facts={slot: tracker.get_slot(slot) for slot in FACT_SLOTS if tracker.get_slot(slot)},
            dispute_type=tracker.get_slot("dispute_type") or "other",
            name=tracker.get_slot("name") or None,
            phone=tracker.get_slot("phone"),
            township_id=township_id,
            village_id=village_id,
            # A proxy agent (信访代办员) filing through the Telegram bot: the bot puts
            # "filed_by": "tg:<agent id>" into every message's metadata.
            filed_by=(tracker.latest_message.get("metadata") or {}).get("filed_by"),
        )
        try:
            result = await records().submit_case(command)
        except Exception:  # the store is down: keep everything, ask to confirm again
            logger.exception("case submission failed (route=%s)", route)
            dispatcher.utter_message(response="utter_case_save_failed")
            # Back into the form: it reads the facts back and asks "对吗？" again.
            return [SlotSet("confirmed", None), SlotSet("form_outcome", None),
                    ActiveLoop(CASE_FORM), FollowupAction(CASE_FORM)]

        logger.info("case %s submitted (route=%s, created=%s)", result.number, route, result.created)
        tell_case(dispatcher, result.case, anonymous=bool(tracker.get_slot("anonymous")))
        return [*reset_case_slots(), SlotSet("case_id", result.number)]
