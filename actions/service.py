"""Questions: government services from knowledge/services.yml, the process questions of
knowledge/dialogue.yml ("调解要钱不"), and follow-ups in the same topic.

A follow-up is read in the context of what was just answered: after 身份证补办, "户口本要带不"
asks about 身份证, not about moving a 户口; "调解要跑镇上去不 我腿脚不方便" asks about mediation,
not about a service centre.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import dialogue, knowledge, latest_text
from knowledge.text import compact

# Below this many characters, a service question with no match is a bare
# "我想问办事" and gets "您想办什么事？" rather than "我还没学会".
BARE_QUESTION_CHARS = 6
#: A follow-up about the service just answered is short ("户口本要带不", "要好久").
FOLLOW_UP_CHARS = 14


def service_by_id(service_id: Optional[str]) -> Any:
    return knowledge().services.get(service_id) if service_id else None


def aspect_answer(service: Any, aspect: str) -> str:
    """One line about one side of a service (what to bring, where, the fee, how long, online)."""
    if aspect == "materials":
        return f"{service.name}要带：{'、'.join(service.materials) or '身份证'}。"
    if aspect == "where":
        return f"{service.name}在这些地方办：{service.where}。"
    if aspect == "fee":
        return f"{service.name}：{service.fee}。"
    if aspect == "time":
        return f"{service.name}：{service.time_limit}。"
    return f"{service.name}：{service.online_text()}。"


def tell_service(dispatcher: CollectingDispatcher, service: Any, brief: bool = False) -> None:
    dispatcher.utter_message(response="utter_service_answer", answer=service.answer)
    if brief:
        return
    dispatcher.utter_message(
        response="utter_service_details",
        where=service.where,
        materials="、".join(service.materials) or "身份证",
        online=service.online_text(),
        time_limit=service.time_limit,
        fee=service.fee,
    )


def follow_up(text: str, last_service: Optional[str]) -> Optional[str]:
    """The answer to a short follow-up about the service just answered, or None."""
    service = service_by_id(last_service)
    aspect = dialogue().service_aspect(text)
    if service is None or aspect is None or len(compact(text)) > FOLLOW_UP_CHARS:
        return None
    other = knowledge().match_service(text)
    if other and other[0].id != service.id and compact(other[0].name) in compact(text):
        return None  # it names another service outright
    return aspect_answer(service, aspect)


def answer_question(dispatcher: CollectingDispatcher, tracker: Tracker, text: str,
                    route: Optional[str], intent: Optional[str] = None,
                    lookup: Any = None) -> bool:
    """Answer a question asked in the middle of something else; False when there is no answer
    here (the caller then says the people handling the case will answer it).  ``lookup`` is
    the villager's cases, read beforehand when the question is about them."""
    answer = dialogue().answer_to(text, route)
    if answer:  # a question about how things work is answered before any canned reply
        dispatcher.utter_message(response="utter_answer", answer=answer)
        return True
    if intent == "help":
        dispatcher.utter_message(response="utter_help")
        return True
    if intent == "bot_challenge":
        dispatcher.utter_message(response="utter_iamabot")
        return True
    if intent in ("greet", "thank"):
        dispatcher.utter_message(response="utter_continue_form")
        return True
    if intent == "check_case":
        from actions.conversation import tell_case_status

        if lookup is None:  # asked where the cases were not read: carry on with the form
            dispatcher.utter_message(response="utter_continue_form")
        else:
            tell_case_status(dispatcher, lookup)
        return True
    answer = follow_up(text, tracker.get_slot("last_service"))
    if answer:
        dispatcher.utter_message(response="utter_answer", answer=answer)
        return True
    match = knowledge().match_service(text)
    if match and match[1] >= 3:
        tell_service(dispatcher, match[0], brief=True)
        return True
    return False


class ActionAnswerService(Action):
    """Finds what the villager asks about and answers it; remembers the service for follow-ups."""

    def name(self) -> Text:
        return "action_answer_service"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        text = latest_text(tracker)
        last = tracker.get_slot("last_service")
        answer = follow_up(text, last) if text else None
        if answer is None and text and dialogue().names_topic(text):
            answer = dialogue().answer_to(text, None)
        if answer:
            dispatcher.utter_message(response="utter_answer", answer=answer)
            dispatcher.utter_message(response="utter_anything_else")
            return []
        match = knowledge().match_service(text) if text else None
        if match is None:
            if len(compact(text)) < BARE_QUESTION_CHARS:
                dispatcher.utter_message(response="utter_service_ask_which")
            else:
                dispatcher.utter_message(response="utter_service_unknown")
            return []
        service, _score = match
        tell_service(dispatcher, service)
        dispatcher.utter_message(response="utter_anything_else")
        return [SlotSet("last_service", service.id)]
