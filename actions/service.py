"""Government-service questions, answered at once from knowledge/services.yml."""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.common import knowledge, latest_text
from xiangyin.text import compact

# Below this many characters, a service question with no match is a bare
# "我想问办事" and gets "您想办什么事？" rather than "我还没学会".
BARE_QUESTION_CHARS = 6


class ActionAnswerService(Action):
    """Finds the catalogue entry the villager asks about and answers from it."""

    def name(self) -> Text:
        return "action_answer_service"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        text = latest_text(tracker)
        match = knowledge().match_service(text) if text else None
        if match is None:
            if len(compact(text)) < BARE_QUESTION_CHARS:
                dispatcher.utter_message(response="utter_service_ask_which")
            else:
                dispatcher.utter_message(response="utter_service_unknown")
            return []
        service, _score = match
        dispatcher.utter_message(response="utter_service_answer", answer=service.answer)
        dispatcher.utter_message(
            response="utter_service_details",
            where=service.where,
            materials="、".join(service.materials) or "身份证",
            online=service.online_text(),
            time_limit=service.time_limit,
            fee=service.fee,
        )
        if not tracker.active_loop.get("name"):
            dispatcher.utter_message(response="utter_anything_else")
        return []
