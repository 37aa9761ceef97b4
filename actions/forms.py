"""Form validation: what each form asks, how answers are read and checked.

All slots use `custom` mappings, so extraction happens here and nowhere else:
an answer fills the slot the form asked for, unless the villager clearly asked
something else (help, cancel, a person, a service question) — then nothing is
filled, the form is rejected, and the interruption rules in nlu_data/rules.yml
answer before the form asks again.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import knowledge, latest_entity, latest_intent, latest_text
from xiangyin.messages import yes_or_no
from xiangyin.text import compact
from xiangyin.validation import clean_name, informative, normalize_phone

# Intents that interrupt a form instead of answering it, when the model is sure.
INTERRUPTIONS = {
    "cancel",
    "human_handoff",
    "help",
    "bot_challenge",
    "check_case",
    "service",
    "greet",
    "goodbye",
}
INTERRUPTION_CONFIDENCE = 0.6
YES, NO = "affirm", "deny"
_UNLISTED_VILLAGE = re.compile(r"([\u4e00-\u9fff]{1,6}?(?:村委会|村|社区|社|组))")
# "我是…" / "我家住在…" before a place name is not part of it.
_PLACE_FILLER = re.compile(r"^(?:我们家|我家|我们|我|家)?(?:住在|是|在|住)?")


def is_interruption(tracker: Tracker) -> bool:
    """True when the latest message is a confident interruption, not an answer."""
    intent = tracker.latest_message.get("intent") or {}
    return (
        intent.get("name") in INTERRUPTIONS
        and float(intent.get("confidence") or 0) >= INTERRUPTION_CONFIDENCE
    )


class CaseFormValidation(FormValidationAction):
    """Extraction and validation shared by the three case forms."""

    @abstractmethod
    def name(self) -> Text:
        """The validation action's name: validate_<form>."""

    # --- reading answers ---------------------------------------------------
    def _answer(self, tracker: Tracker, slot: str) -> Optional[str]:
        """The latest text if it answers the question for `slot`."""
        if tracker.get_slot("requested_slot") != slot or is_interruption(tracker):
            return None
        return latest_text(tracker) or None

    def _yes_no(self, tracker: Tracker, slot: str) -> Dict[Text, Any]:
        if tracker.get_slot("requested_slot") != slot:
            return {}
        known = yes_or_no(latest_text(tracker))
        if known is not None:  # "对的", "错了": too short for the model, plain to us
            return {slot: known}
        intent = latest_intent(tracker)
        if intent == YES:
            return {slot: True}
        if intent == NO:
            return {slot: False}
        if is_interruption(tracker) or intent in {"petition", "mediation", "legal_aid"}:
            return {}  # let the rules handle it (e.g. "先问问法律上咋个说")
        return {slot: "unclear"}

    def _text_slot(self, tracker: Tracker, slot: str) -> Dict[Text, Any]:
        answer = self._answer(tracker, slot)
        return {slot: answer} if answer is not None else {}

    # --- extraction (one method per slot, called by rasa_sdk) --------------
    async def extract_facts(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return self._text_slot(tracker, "facts")

    async def extract_name(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return self._text_slot(tracker, "name")

    async def extract_phone(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        # A number given at any point of the form is kept (it was typed for us).
        entity = latest_entity(tracker, "phone")
        if entity and normalize_phone(entity):
            return {"phone": entity}
        return self._text_slot(tracker, "phone")

    async def extract_village(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        if tracker.get_slot("requested_slot") == "village" and not is_interruption(tracker):
            township = latest_entity(tracker, "township") or ""
            village = latest_entity(tracker, "village") or ""
            text = latest_text(tracker) or f"{township}{village}"
            return {"village": text} if text else {}
        return {}

    async def extract_confirmed(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return self._yes_no(tracker, "confirmed")

    # --- validation --------------------------------------------------------
    def validate_facts(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        if informative(value, minimum=5):
            return {"facts": value.strip()}
        dispatcher.utter_message(response="utter_too_short")
        return {"facts": None}

    def validate_name(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        name = clean_name(value)
        if name:
            return {"name": name}
        dispatcher.utter_message(response="utter_ask_name")
        return {"name": None}

    def validate_phone(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        phone = normalize_phone(value)
        if phone:
            return {"phone": phone}
        dispatcher.utter_message(response="utter_invalid_phone")
        return {"phone": None}

    def validate_village(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        """Known village → village and township; a township alone → ask the village."""
        known_township = tracker.get_slot("township") or ""
        text = compact(value)
        match = knowledge().find_place(text) or (
            knowledge().find_place(known_township + text) if known_township else None
        )
        if match and match.village and match.township:
            return {"village": match.village.name, "township": match.township.name}
        if match and match.ambiguous and not match.township:
            dispatcher.utter_message(response="utter_which_township", village=text)
            return {"village": None}
        if match and match.township:
            # A village the shipped (sample) list does not know: accept what the
            # villager calls it; routing then uses the township's agencies.
            rest = _PLACE_FILLER.sub("", text.replace(match.township.name, ""))
            unlisted = _UNLISTED_VILLAGE.search(rest)
            if unlisted:
                return {"village": unlisted.group(1), "township": match.township.name}
            # action_ask_village asks "是哪个村？" next.
            return {"village": None, "township": match.township.name}
        dispatcher.utter_message(response="utter_unknown_village")
        return {"village": None}

    def validate_confirmed(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        if value is True:
            return {"confirmed": True}
        if value is False:
            dispatcher.utter_message(response="utter_restart_form")
            return {slot: None for slot in self.restart_slots()}
        dispatcher.utter_message(response="utter_please_choose")
        return {"confirmed": None}

    @abstractmethod
    def restart_slots(self) -> List[str]:
        """Slots asked again when the villager says the read-back is wrong."""


class ValidatePetitionForm(CaseFormValidation):
    """信访事项: 诉求、事实和理由、姓名、电话、住址 (信访工作条例 Art 19)."""

    def name(self) -> Text:
        return "validate_petition_form"

    def restart_slots(self) -> List[str]:
        return ["facts", "petition_request", "name", "phone", "village", "confirmed"]

    async def extract_petition_request(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return self._text_slot(tracker, "petition_request")

    def validate_petition_request(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        if informative(value, minimum=2):
            return {"petition_request": value.strip()}
        dispatcher.utter_message(response="utter_too_short")
        return {"petition_request": None}


class ValidateMediationForm(CaseFormValidation):
    """人民调解: type, consent (voluntary, free), what happened, the other party, where, phone."""

    def name(self) -> Text:
        return "validate_mediation_form"

    def restart_slots(self) -> List[str]:
        return ["facts", "other_party", "village", "phone", "confirmed"]

    async def required_slots(
        self,
        domain_slots: List[Text],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> List[Text]:
        # 人民调解法 Art 17: no mediation when a party refuses; stop asking.
        # (The consent slot stays in the list, or rasa_sdk would drop its value.)
        if tracker.get_slot("mediation_consent") is False:
            return ["mediation_consent"]
        return domain_slots

    async def extract_dispute_type(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        if tracker.get_slot("requested_slot") != "dispute_type":
            return {}
        entity = latest_entity(tracker, "dispute_type")
        if entity:
            return {"dispute_type": entity}
        answer = self._answer(tracker, "dispute_type")
        if answer is None:
            return {}
        return {"dispute_type": knowledge().classify_dispute_keywords(answer) or "other"}

    def validate_dispute_type(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return {"dispute_type": value if value in knowledge().dispute_types else "other"}

    async def extract_mediation_consent(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return self._yes_no(tracker, "mediation_consent")

    def validate_mediation_consent(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        if isinstance(value, bool):
            return {"mediation_consent": value}
        dispatcher.utter_message(response="utter_please_choose")
        return {"mediation_consent": None}

    async def extract_other_party(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return self._text_slot(tracker, "other_party")

    def validate_other_party(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        if informative(value, minimum=1):
            return {"other_party": value.strip()}
        dispatcher.utter_message(response="utter_ask_other_party")
        return {"other_party": None}


class ValidateLegalAidForm(CaseFormValidation):
    """法律援助: the matter, a time limit ending soon, economic situation, village, phone."""

    def name(self) -> Text:
        return "validate_legal_aid_form"

    def restart_slots(self) -> List[str]:
        return ["facts", "time_limit", "economic_status", "village", "phone", "confirmed"]

    async def extract_time_limit(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        if tracker.get_slot("requested_slot") != "time_limit" or is_interruption(tracker):
            return {}
        if latest_intent(tracker) == NO or yes_or_no(latest_text(tracker)) is False:
            return {"time_limit": "没有或不清楚"}
        return self._text_slot(tracker, "time_limit")

    def validate_time_limit(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        if informative(value, minimum=1):
            return {"time_limit": value.strip()}
        dispatcher.utter_message(response="utter_ask_time_limit")
        return {"time_limit": None}

    async def extract_economic_status(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return self._text_slot(tracker, "economic_status")

    def validate_economic_status(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        if informative(value, minimum=2):
            return {"economic_status": value.strip()}
        dispatcher.utter_message(response="utter_too_short")
        return {"economic_status": None}
