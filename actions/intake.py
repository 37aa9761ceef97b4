"""Starting a route: remember everything the first message says, explain, then ask.

When the parse is unsure between two routes (knowledge/dialogue.yml ``clarify_margin`` over
``intent_ranking``), the villager is asked which one, with the two as buttons in plain words;
the story is kept and the chosen route starts with it.  The parse's own ``intent.name`` stays
the top route: the question is asked here, in the dialogue.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import CASE_FORM, CASE_ROUTES, dialogue, knowledge, latest_entity, latest_intent, latest_text
from actions.facts import read_facts
from knowledge.text import cjk_count

# A first message this long is the story itself, not just "我要调解".
FACTS_MIN_CHARS = 10
FACTS_MIN_CHARS_WITH_KEYWORD = 5


def first_message_is_facts(text: str) -> bool:
    """Whether the message that chose the route already tells what happened."""
    length = cjk_count(text)
    if length >= FACTS_MIN_CHARS:
        return True
    # "邻居占地" says what happened; "我想反映个事" (a word of the "other" type) does not.
    kind = knowledge().classify_dispute_keywords(text)
    return length >= FACTS_MIN_CHARS_WITH_KEYWORD and kind not in (None, "other")


def story_slots(tracker: Tracker, text: str) -> Dict[str, Any]:
    """The facts slot and everything else the story already says (place, other party …)."""
    facts = read_facts(text, knowledge(), dialogue())
    slots: Dict[str, Any] = {"facts": text.strip()}
    if facts.village:
        slots.update(village=facts.village, township=facts.township)
    elif facts.township:
        slots["township"] = facts.township
    for slot, value in (("other_party", facts.other_party), ("petition_request", facts.demand),
                        ("amount", facts.amount), ("event_date", facts.event_date),
                        ("phone", facts.phone), ("name", facts.name)):
        if value:
            slots[slot] = value
    if facts.consents_to_mediation:
        slots["mediation_consent"] = True
    return {k: v for k, v in slots.items() if v is not None and tracker.get_slot(k) in (None, "")}


def answers_process_question(dispatcher: CollectingDispatcher, tracker: Tracker) -> bool:
    """"调解要跑镇上去不" or "法律援助要钱不": a question about how a route works, asked before
    any case — answered from knowledge/dialogue.yml, without starting anything."""
    text = latest_text(tracker)
    words = dialogue()
    if not text or not words.is_question(text) or not words.names_topic(text) or cjk_count(text) > 30:
        return False
    answer = words.answer_to(text, None)
    if not answer:
        return False
    dispatcher.utter_message(response="utter_answer", answer=answer)
    dispatcher.utter_message(response="utter_anything_else")
    return True


def clarify(dispatcher: CollectingDispatcher, tracker: Tracker) -> Optional[List[EventType]]:
    """Ask which of two close routes the villager means; None when the parse is sure."""
    text = latest_text(tracker)
    if not text or tracker.active_loop.get("name"):
        return None
    close = dialogue().close_routes(tracker.latest_message.get("intent_ranking") or [])
    if close is None or dialogue().wants_route(text) in close:
        return None  # sure enough, or the villager says outright which one
    routes = dialogue().routes
    first, second = close
    dispatcher.utter_message(
        response="utter_clarify_route",
        first_label=routes[first].label,
        second_label=routes[second].label,
        buttons=[{"title": routes[r].label, "payload": f"/{r}"} for r in close],
    )
    events: List[EventType] = [SlotSet("facts", None), SlotSet("clarify_routes", list(close))]
    if first_message_is_facts(text):
        events = [SlotSet("clarify_routes", list(close)),
                  *(SlotSet(k, v) for k, v in story_slots(tracker, text).items())]
    dispute_type = latest_entity(tracker, "dispute_type")
    if dispute_type:
        events.append(SlotSet("dispute_type", dispute_type))
    return events


#: Below this confidence, words that ask for a route outright ("想找律师") decide between the
#: parse's best routes.
EXPLICIT_WORDS_BELOW = 0.8


def explicit_route(tracker: Tracker, route: str) -> str:
    """The route the villager asks for in so many words, when the parse ranks it close behind
    ("老板欠我工钱不给 想找律师": mediation first, legal aid second, and a lawyer asked for)."""
    text = latest_text(tracker)
    wanted = dialogue().wants_route(text) if text else None
    ranking = tracker.latest_message.get("intent_ranking") or []
    top = float((tracker.latest_message.get("intent") or {}).get("confidence") or 0)
    runners_up = [r.get("name") for r in ranking[1:3]]
    if wanted in CASE_ROUTES and wanted != route and wanted in runners_up and top < EXPLICIT_WORDS_BELOW:
        return wanted
    return route


class ActionStartRoute(Action):
    """Sets the route, keeps the story told so far, says what comes next, starts case_form."""

    def name(self) -> Text:
        return "action_start_route"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        route = latest_intent(tracker)
        if route not in CASE_ROUTES:
            return []
        if answers_process_question(dispatcher, tracker):
            return []
        if tracker.get_slot("emergency_case") and not dialogue().wants_route(latest_text(tracker)):
            # Right after an emergency the villager is still telling it: no form now.
            dispatcher.utter_message(response="utter_emergency_follow_up",
                                     number=tracker.get_slot("emergency_case"))
            return []
        asked = clarify(dispatcher, tracker)
        if asked is not None:
            return asked
        return start_route(dispatcher, tracker, explicit_route(tracker, route))


def start_route(dispatcher: CollectingDispatcher, tracker: Tracker, route: str,
                by_button: Optional[bool] = None) -> List[EventType]:
    """Say what comes next and start case_form on `route`, keeping the story told so far.
    `by_button`: the route was chosen on one of our buttons (default: the latest message was
    a button)."""
    text = latest_text(tracker)
    if by_button is None:
        by_button = (tracker.latest_message.get("text") or "").startswith("/")
    events: List[EventType] = [SlotSet("route", route), SlotSet("confirmed", None),
                               SlotSet("form_outcome", None), SlotSet("clarify_routes", None)]
    dispute_type = latest_entity(tracker, "dispute_type")
    if dispute_type:
        events.append(SlotSet("dispute_type", dispute_type))
    found: Dict[str, Any] = {}
    if text and first_message_is_facts(text) and not tracker.get_slot("facts"):
        found = story_slots(tracker, text)
    # What a story says of the other party matters to mediation only, a demand to a petition.
    if route != "mediation":
        found["other_party"] = None
    if route != "petition":
        found["petition_request"] = None
    events += [SlotSet(k, v) for k, v in found.items()]
    if route == "mediation" and by_button:
        # The villager chose "调解纠纷" on a button: that is asking for mediation.
        events.append(SlotSet("mediation_consent", True))

    if route == "legal_aid" and (dispute_type or tracker.get_slot("dispute_type")) == "labour":
        dispatcher.utter_message(response="utter_start_legal_aid_labour")
    else:
        dispatcher.utter_message(response=f"utter_start_{route}")
    return [*events, FollowupAction(CASE_FORM)]
