"""The case form: one form for every route, which takes the answer to the question it asked.

``case_form`` asks what the law needs for the route in the ``route`` slot (petition: 信访工作条例
Art 19; mediation: consent first, 人民调解法 Art 3, 17; legal aid: the matter, a time limit, the
family's situation) and ends with a read-back and "对吗？".  Because there is one form, a change
of mind changes the route and keeps the story, the place and the phone.

``ValidateCaseForm.run`` reads each message once, in this order:

1. a button the bot offered (a route, 算了, a field to change);
2. 算了 (after a story: "真的不要了吗？" first), 找人工, 拜拜 / 莫得事了 — the form ends;
3. emoji, English or gibberish — "请用中文打字，或者发语音", the question again;
4. "刚才说了嘛" — what was said earlier in the conversation answers the question;
5. a real change of mind ("我想找个律师") — "要换成…吗？";
6. a question — answered from knowledge/ where it can be, else "这个问题办理的人会答复您";
7. anything else is the answer to the question asked.

Then it names the next question (``requested_slot``), or None when the form is done; the rule
"the case form is done" runs action_finish_case_form, which files the case or says goodbye.
An emergency never reaches the form: the EmergencyPolicy answers it first.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import dialogue, knowledge, latest_entity, latest_intent, latest_text, well_typed
from actions.facts import find_name, find_other_party, find_phone, read_facts
from actions.conversation import lookup_cases
from actions.service import answer_question
from knowledge.text import cjk_count
from knowledge.frontend import yes_or_no
from knowledge.text import compact
from actions.validation import clean_name, informative

#: What each route asks, in order ("name" asks for the name and the phone together; the village
#: question also asks for the phone while it is missing).
ROUTE_SLOTS: Dict[str, List[str]] = {
    "petition": ["facts", "petition_request", "name", "village", "phone", "confirmed"],
    "mediation": ["mediation_consent", "facts", "other_party", "village", "phone", "confirmed"],
    "legal_aid": ["facts", "time_limit", "economic_status", "village", "phone", "confirmed"],
}
#: A question is asked at most this many times in a row without anything new being said (then
#: give_up decides).
MAX_ASKS = 3
BOOKKEEPING = {"interruption", "asked", "requested_slot"}
WH_QUESTION = re.compile(r"哪个|哪家|哪里|哪点|谁|什么|啥子|为什么|为啥|咋个|怎么")
#: Intents the model must be this sure of before they end or interrupt the form.
SURE = 0.6
YES, NO = "affirm", "deny"
FREE_TEXT_SLOTS = {"facts", "petition_request", "other_party", "time_limit", "economic_status", "name"}
_UNLISTED_VILLAGE = re.compile(r"([\u4e00-\u9fff]{1,6}?(?:村委会|村|社区|社|组))")
_PLACE_FILLER = re.compile(r"^(?:我们家|我家|我们|我|家)?(?:住在|是|在|住)?")


def intent_if_sure(tracker: Tracker) -> Optional[str]:
    intent = tracker.latest_message.get("intent") or {}
    return intent.get("name") if float(intent.get("confidence") or 0) >= SURE else None


def payload_of(tracker: Tracker) -> Optional[str]:
    """The intent of a button the villager tapped ("/legal_aid" → legal_aid), else None."""
    text = (tracker.latest_message.get("text") or "").strip()
    return latest_intent(tracker) if text.startswith("/") else None


def yes_no(tracker: Tracker) -> Optional[bool]:
    """True / False for a yes or no (a button, a word from the form's list, or the model)."""
    payload = payload_of(tracker)
    if payload in (YES, NO):
        return payload == YES
    known = yes_or_no(latest_text(tracker))
    if known is not None:
        return known
    intent = intent_if_sure(tracker)
    if intent in (YES, NO):
        return intent == YES
    return None


def answers_a_question(tracker: Tracker, form: str) -> bool:
    """Whether the form runs because the villager just said something (not because it starts,
    or comes back after the case could not be stored).  Rasa hands the validation action a
    tracker that ends in the form's own ActionExecuted; before it, skipping slot events, is
    the villager's message or another action."""
    seen_form = False
    for event in reversed(tracker.events):
        kind, name = event.get("event"), event.get("name")
        if kind == "action" and name == form and not seen_form:
            seen_form = True
        elif kind in ("slot", "user_featurization", "active_loop") or (
            kind == "action" and name == "action_extract_slots"
        ):
            continue
        else:
            return kind == "user"
    return False


def overlaps(text: str, first: str, second: str) -> bool:
    """Whether `second` starts inside `first` in `text` ("邻居老马家": 马家 inside 邻居老马…)."""
    a, b = text.find(first), text.find(second)
    return a >= 0 and b >= 0 and a <= b < a + len(first)


def is_nonsense(text: str) -> bool:
    """Emoji, English or gibberish: nothing a form can use (phone numbers and yes-words are)."""
    if not text.strip() or cjk_count(text):
        return False
    if find_phone(text) or yes_or_no(text) is not None:
        return False
    return not re.fullmatch(r"[\d\s+\-()]+", text.strip())


class ValidateCaseForm(FormValidationAction):
    """Reads every message said inside case_form (see the module docstring)."""

    def name(self) -> Text:
        return "validate_case_form"

    # --- which question comes next -------------------------------------------------
    @staticmethod
    def questions(slots: Dict[str, Any]) -> List[str]:
        """The questions still to ask, in order, from the slots as they are now."""
        if slots.get("form_outcome"):
            return []
        if slots.get("pending_route"):
            return ["route_change"]
        if slots.get("cancel_pending"):
            return ["cancel_confirm"]
        route = slots.get("route") or "mediation"
        if route == "mediation" and slots.get("mediation_consent") is False:
            return ["next_route"]
        if slots.get("editing"):
            return ["edit_field"]
        return ROUTE_SLOTS.get(route, ROUTE_SLOTS["mediation"])

    async def required_slots(self, domain_slots: List[Text], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> List[Text]:
        return self.questions(tracker.slots)

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        tracker = well_typed(tracker, domain)
        requested = tracker.get_slot("requested_slot")
        changes: Dict[str, Any] = {}
        # A new message to read: the form asked something and the villager answered (not the
        # form starting, or coming back after the case could not be stored).
        if requested and answers_a_question(tracker, "case_form"):
            # "我上次那个事咋样了" in the middle of a form: the cases are read here, where
            # waiting for the database does not hold up the action server.
            lookup = await lookup_cases(tracker) if latest_intent(tracker) == "check_case" else None
            kind, changes = self.read(dispatcher, tracker, requested, lookup)
            changes.setdefault("interruption", kind)
        slots = {**tracker.slots, **changes}
        following = next((s for s in self.questions(slots) if slots.get(s) is None), None)
        asked = tracker.get_slot("asked") or {}
        progress = any(k not in BOOKKEEPING and v != tracker.get_slot(k) for k, v in changes.items())
        times = int(asked.get("times", 0)) + 1 if following and asked.get("slot") == following and not progress else 1
        if following and following == requested and times >= MAX_ASKS:
            # Asked twice and still no answer: never a third time (a dead end).
            changes.update(self.give_up(dispatcher, tracker, following))
            slots = {**tracker.slots, **changes}
            following = next((s for s in self.questions(slots) if slots.get(s) is None), None)
            times = 1
        changes["asked"] = {"slot": following, "times": times} if following else None
        return [*(SlotSet(k, v) for k, v in changes.items()), SlotSet("requested_slot", following)]

    def give_up(self, dispatcher: CollectingDispatcher, tracker: Tracker, slot: str) -> Dict[str, Any]:
        """What to do instead of asking `slot` a third time: take what was said, or let the
        villager carry on in their own words (everything said is kept)."""
        text = latest_text(tracker).strip()
        if slot in ("facts", "petition_request", "other_party", "time_limit", "economic_status"):
            return {slot: text if informative(text, minimum=2) else "（没说清楚）"}
        if slot == "route_change":
            return {"pending_route": None, "route_change": None}
        if slot == "cancel_confirm":
            return {"cancel_pending": None, "cancel_confirm": None}
        if slot == "edit_field":
            return {"editing": None, "edit_field": None}
        if slot == "name":
            return {"name": "", "anonymous": True}
        dispatcher.utter_message(response="utter_form_paused")
        return {"form_outcome": "handoff", "interruption": "paused"}

    # --- reading one message -------------------------------------------------------
    def read(self, dispatcher: CollectingDispatcher, tracker: Tracker,
             requested: str, lookup: Any = None) -> tuple[str, Dict[str, Any]]:
        """(what the message was, the slots it changes)."""
        self.requested = requested
        text = latest_text(tracker)
        route = tracker.get_slot("route") or "mediation"
        words = dialogue()
        payload = payload_of(tracker)

        # 1. the bot's own buttons
        if payload in ("petition", "mediation", "legal_aid") and requested not in ("route_change", "cancel_confirm"):
            return "button", self.switch_to(payload, dispatcher, tracker)
        if payload == "cancel":
            return "cancel", self.cancel(tracker, requested)

        # "刚才说了嘛"
        if text and words.says_already_said(text):
            found = self.said_before(tracker, requested)
            if found:
                return "already_said", found
            dispatcher.utter_message(response="utter_already_said_missing")
            return "already_said", {}

        # the form's questions about itself, and yes/no questions, take their answers first
        if requested in ("route_change", "cancel_confirm", "next_route", "edit_field", "confirmed",
                         "mediation_consent"):
            return "answer", getattr(self, f"answer_{requested}")(dispatcher, tracker)

        # 2. ending the form
        ending = self.ending(tracker, text)
        if ending:
            return ending, self.end(tracker, requested, ending)

        # 3. nothing usable
        if is_nonsense(text):
            dispatcher.utter_message(response="utter_please_chinese")
            return "nonsense", {}

        # 4. a real change of mind
        wanted = self.wanted_route(tracker, requested, text)
        if wanted:
            return "change_route", {"pending_route": wanted}

        # 5. a question
        intent = intent_if_sure(tracker)
        if requested == "petition_request" and WH_QUESTION.search(text) and not self.is_question(tracker, requested, text):
            # "这个厕所是哪个老板修的": what they want is that answer — the staff will give it.
            dispatcher.utter_message(response="utter_question_for_staff")
            return "question", {"petition_request": text.strip()}
        if self.is_question(tracker, requested, text):
            answered = answer_question(dispatcher, tracker, text, route)
            if not answered:
                dispatcher.utter_message(response="utter_question_for_staff")
            return "question", {}
        if intent in ("help", "bot_challenge", "greet", "thank", "check_case") and cjk_count(text) <= 12:
            answer_question(dispatcher, tracker, text, route, intent=intent, lookup=lookup)
            return "question", {}

        # 6. the answer
        return "answer", self.answer(dispatcher, tracker, requested)

    def wanted_route(self, tracker: Tracker, requested: str, text: str) -> Optional[str]:
        """Another route the villager asks for instead of answering: in so many words ("我想找个
        律师"), or a message the model is sure is about another route that does not answer the
        question ("我想问下能不能告他", asked for the village)."""
        route = tracker.get_slot("route") or "mediation"
        words = dialogue()
        wanted = words.wants_route(text)
        if wanted and wanted != route and (requested != "facts" or cjk_count(text) <= 20):
            return wanted
        intent = intent_if_sure(tracker)
        if intent not in ("petition", "mediation", "legal_aid") or intent == route or requested == "facts":
            return None
        if tracker.get_slot("route_kept"):
            return None  # asked once and the villager kept the route: only their words count now
        if requested in FREE_TEXT_SLOTS:
            answers = not words.is_question(text)
        elif requested == "village":
            answers = bool(knowledge().find_place(text))
        elif requested == "phone":
            answers = bool(find_phone(text))
        else:
            answers = False
        return None if answers else intent

    def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, requested: str) -> Dict[str, Any]:
        """The message as the answer to `requested`."""
        self.requested = requested
        return getattr(self, f"answer_{requested}", self.answer_text)(dispatcher, tracker)

    @staticmethod
    def ending(tracker: Tracker, text: str) -> Optional[str]:
        """"cancel", "handoff" or "goodbye" when the message clearly asks to stop: the model
        says so and the words say so too (a lone "电话" is not a request for a person)."""
        intent = intent_if_sure(tracker)
        words = dialogue()
        if intent == "cancel" and words.says_cancel(text) and cjk_count(text) <= 12:
            return "cancel"
        if words.says_handoff(text) and (intent == "human_handoff" or cjk_count(text) <= 8):
            return "handoff"
        if words.says_goodbye(text) and cjk_count(text) <= 8:
            return "goodbye"
        return None

    def end(self, tracker: Tracker, requested: str, ending: str) -> Dict[str, Any]:
        if ending == "cancel":
            return self.cancel(tracker, requested)
        return {"form_outcome": ending}

    def is_question(self, tracker: Tracker, requested: str, text: str) -> bool:
        """A question rather than the answer: it asks, and it is not what the slot wants."""
        if not dialogue().is_question(text):
            return False
        faq = bool(dialogue().answer_to(text, tracker.get_slot("route")))
        if requested == "facts":
            # A story may end in "咋个整": only a short question is a question here.
            return cjk_count(text) <= 20 and faq
        if requested in FREE_TEXT_SLOTS:
            # "公开卖了多少钱，钱用在哪里" is a demand, not a question to us: a question here
            # ends like one, or is a short one we have an answer to.
            ends_asking = text.strip().rstrip("。.!！~～").endswith(("？", "?", "吗", "嘛", "呢", "不", "么"))
            return ends_asking or (faq and cjk_count(text) <= 15)
        if requested == "phone" and find_phone(text):
            return False
        if requested == "village" and knowledge().find_place(text):
            return False
        return True

    # --- the answers, one method per question ---------------------------------------
    def answer_text(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> Dict[str, Any]:
        requested = self.requested
        text = latest_text(tracker).strip()
        changes: Dict[str, Any] = {}
        if not text or (yes_or_no(text) is not None and cjk_count(text) <= 3):
            return changes  # a button or a bare "对": not an answer to this question; ask again
        phone = find_phone(text)
        if phone and requested != "phone":
            changes["phone"] = phone  # a number given at any point is kept
        place = knowledge().find_place(text)
        if place and place.township and requested != "facts":
            rest = compact(text).replace(place.matched_text, "")
            rest = re.sub(r"[\d\-+]+|电话|手机|号码|我家|我是|住在|的", "", rest)
            if cjk_count(rest) < 2:
                # Only a place (and a phone): the answer to another question, said early.
                if not tracker.get_slot("township"):
                    changes.update(self.place(dispatcher, tracker, text, quiet=True))
                return changes
        if phone and cjk_count(re.sub(r"电话|手机|号码|是|打这个", "", text)) == 0:
            return changes  # only a phone number: not the answer to this question
        minimum = {"facts": 5, "petition_request": 2, "other_party": 1, "economic_status": 2,
                   "time_limit": 1}.get(requested, 1)
        if requested in FREE_TEXT_SLOTS and informative(text, minimum=minimum):
            changes[requested] = text
        elif requested in FREE_TEXT_SLOTS:
            dispatcher.utter_message(response="utter_too_short")
        return changes

    def answer_facts(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> Dict[str, Any]:
        changes = self.answer_text(dispatcher, tracker)
        if changes.get("facts"):
            changes.update(self.facts_from(tracker, changes["facts"]))
        return changes

    def answer_time_limit(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> Dict[str, Any]:
        if yes_no(tracker) is False:
            return {"time_limit": "没有或不清楚"}
        return self.answer_text(dispatcher, tracker)

    def answer_name(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> Dict[str, Any]:
        text = latest_text(tracker)
        changes: Dict[str, Any] = {}
        phone = find_phone(text)
        if phone:
            changes["phone"] = phone
        if dialogue().withholds_name(text):
            route = tracker.get_slot("route")
            dispatcher.utter_message(
                response="utter_name_withheld_petition" if route == "petition" else "utter_name_withheld"
            )
            return {**changes, "name": "", "anonymous": True}
        rest = re.sub(r"[\d\s\-+]{7,}", " ", text)  # the phone number is not part of the name
        rest = re.sub(r"(?:电话|手机|号码)(?:是|号)?", " ", rest)
        first = clean_name(re.split(r"[\s，,。]+", rest.strip())[0]) if rest.strip() else None
        name = find_name(rest) or (first if first and dialogue().looks_like_name(first) else None)
        if name:
            changes["name"] = name
        return changes

    def answer_phone(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> Dict[str, Any]:
        phone = find_phone(latest_text(tracker))
        if phone:
            return {"phone": phone}
        dispatcher.utter_message(response="utter_invalid_phone")
        return {}

    def answer_other_party(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> Dict[str, Any]:
        text = latest_text(tracker).strip()
        if informative(text, minimum=1):
            return {"other_party": text[:30]}
        dispatcher.utter_message(response="utter_too_short")
        return {}

    def answer_village(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> Dict[str, Any]:
        text = latest_text(tracker)
        township = latest_entity(tracker, "township") or ""
        village = latest_entity(tracker, "village") or ""
        changes: Dict[str, Any] = {}
        phone = find_phone(text)
        if phone:
            changes["phone"] = phone
        if payload_of(tracker) and not (township or village):
            return changes  # a button of another question: ask again
        party = find_other_party(text, dialogue()) if text else None
        match = knowledge().find_place(text) if text else None
        if party and match and tracker.get_slot("route") == "mediation" and overlaps(compact(text), party, match.matched_text):
            return {**changes, "other_party": text.strip()}  # "邻居老马家" is a person, not 马家村
        place = self.place(dispatcher, tracker, text or f"{township}{village}", quiet=bool(phone))
        changes.update(place)
        if not place and tracker.get_slot("route") == "mediation" and cjk_count(text) <= 8:
            party = find_other_party(text, dialogue())
            if party:  # "我大哥": the answer to the question before, said late
                changes["other_party"] = text.strip()
        return changes

    def place(self, dispatcher: CollectingDispatcher, tracker: Tracker, text: str,
              quiet: bool = False) -> Dict[str, Any]:
        """Village and township from an answer; a village in two townships asks which."""
        known_township = tracker.get_slot("township") or ""
        hint = tracker.get_slot("place_hint") or ""  # a village said before its township
        value = compact(re.sub(r"[\d\s\-+]{7,}", " ", text))
        match = (
            (knowledge().find_place(value + hint) if hint else None)
            or knowledge().find_place(value)
            or (knowledge().find_place(known_township + value) if known_township else None)
        )
        if match and match.village and match.township:
            return {"village": match.village.name, "township": match.township.name, "place_hint": None}
        if match and match.ambiguous and not match.township:
            # "庄科" is in two townships: ask which, with just those as buttons.
            dispatcher.utter_message(
                response="utter_which_township",
                village=match.matched_text,
                buttons=[{"title": c.label,
                          "payload": f'/inform{{"township":"{c.township.name}","village":"{c.village.name}"}}'}
                         for c in match.ambiguous],
            )
            return {"place_hint": match.matched_text, "interruption": "which_township"}
        if match and match.township:
            # A village the shipped (sample) list does not know: accept what the villager
            # calls it; routing then uses the township's agencies.
            rest = _PLACE_FILLER.sub("", value.replace(match.township.name, "").replace(match.matched_text, ""))
            unlisted = _UNLISTED_VILLAGE.search(rest)
            if unlisted:
                return {"village": unlisted.group(1), "township": match.township.name}
            return {"township": match.township.name}  # "是哪个村？" next
        if not quiet and not (text and find_other_party(text, dialogue())):
            dispatcher.utter_message(response="utter_unknown_village")
        return {}

    def answer_mediation_consent(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> Dict[str, Any]:
        text = latest_text(tracker)
        if text and dialogue().says_goodbye(text) and cjk_count(text) <= 8:
            return {"form_outcome": "goodbye"}
        answer = yes_no(tracker)
        if answer is not None:
            return {"mediation_consent": answer}
        if text and dialogue().declines(text) and not dialogue().is_question(text):
            return {"mediation_consent": False}
        if dialogue().consents_to_mediation(text) and not dialogue().is_question(text):
            return {"mediation_consent": True}
        # Not a yes or a no: a story, a question, a change of mind.
        return self.read_again(dispatcher, tracker, "mediation_consent")

    def answer_confirmed(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> Dict[str, Any]:
        text = latest_text(tracker)
        corrected = self.correction(dispatcher, tracker, text)
        if corrected:
            return corrected
        if latest_entity(tracker, "field"):  # a field button after all
            return {"editing": True, **self.answer_edit_field(dispatcher, tracker)}
        answer = yes_no(tracker)
        if answer is True:
            return {"confirmed": True, "form_outcome": "file"}
        if answer is False or dialogue().says_edit(text):
            return {"editing": True}
        return self.read_again(dispatcher, tracker, "confirmed")

    def read_again(self, dispatcher: CollectingDispatcher, tracker: Tracker, slot: str) -> Dict[str, Any]:
        """Not an answer to a yes/no question: read the message as an interruption instead
        (算了, a question, a change of mind); else ask again (the question has its buttons)."""
        text = latest_text(tracker)
        ending = self.ending(tracker, text)
        if ending:
            return self.end(tracker, slot, ending)
        if is_nonsense(text):
            dispatcher.utter_message(response="utter_please_chinese")
            return {}
        route = tracker.get_slot("route") or "mediation"
        wanted = self.wanted_route(tracker, slot, text)
        if wanted:
            return {"pending_route": wanted}
        if dialogue().is_question(text):
            if not answer_question(dispatcher, tracker, text, route):
                dispatcher.utter_message(response="utter_question_for_staff")
            return {}
        if slot == "mediation_consent" and cjk_count(text) >= 10 and not tracker.get_slot("facts"):
            return {"facts": text.strip(), **self.facts_from(tracker, text)}
        return {}

    def correction(self, dispatcher: CollectingDispatcher, tracker: Tracker, text: str) -> Dict[str, Any]:
        """"电话错了 是138…", "不是天台村 是腊湾村": change that one thing and read back again."""
        if not text or payload_of(tracker):
            return {}
        route = tracker.get_slot("route") or "mediation"
        phone = find_phone(text)
        if phone and phone != tracker.get_slot("phone"):
            return {"phone": phone, "confirmed": None}
        field = dialogue().field_named(text, route)
        if field == "village" or (field is None and knowledge().find_place(text)):
            place = self.place(dispatcher, tracker, re.sub(r"^.*?(?:是|在|住)", "", text) or text)
            if place.get("village") and place.get("village") != tracker.get_slot("village"):
                return {**place, "confirmed": None}
        if field and field not in ("village", "phone"):
            value = re.sub(r"^.*?(?:错了|不对|改成|应该是|是)", "", text).strip(" ，,。")
            if field == "other_party" and value and informative(value, minimum=1) and value != text:
                return {"other_party": value[:30], "confirmed": None}
            dispatcher.utter_message(response="utter_edit_which", field_label=dialogue().fields[field].label)
            return {field: None, "confirmed": None}
        return {}

    def answer_edit_field(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> Dict[str, Any]:
        route = tracker.get_slot("route") or "mediation"
        text = latest_text(tracker)
        corrected = self.correction(dispatcher, tracker, text)
        if corrected:
            return {**corrected, "editing": None, "edit_field": None}
        field = latest_entity(tracker, "field") or dialogue().field_named(text, route)
        if field in dialogue().editable[route]:
            dispatcher.utter_message(response="utter_edit_which", field_label=dialogue().fields[field].label)
            changes: Dict[str, Any] = {field: None, "editing": None, "edit_field": None, "confirmed": None}
            if field == "village":
                changes["township"] = None
            if field == "name":
                changes["anonymous"] = None
            return changes
        if yes_no(tracker) is True:  # "对的" after all
            return {"editing": None, "confirmed": True, "form_outcome": "file"}
        return {}

    def answer_route_change(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> Dict[str, Any]:
        answer = yes_no(tracker)
        wanted = tracker.get_slot("pending_route")
        if answer is True and wanted:
            return {**self.switch_to(wanted, dispatcher, tracker), "pending_route": None, "route_change": None}
        carry_on = {"pending_route": None, "route_change": None, "route_kept": True}
        if answer is False:
            dispatcher.utter_message(response="utter_continue_form")
            return carry_on
        return {**carry_on, **self.answer_instead(dispatcher, tracker, carry_on)}

    def answer_cancel_confirm(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> Dict[str, Any]:
        answer = yes_no(tracker)
        if answer is True or intent_if_sure(tracker) == "cancel":
            return {"form_outcome": "cancelled", "cancel_pending": None}
        carry_on = {"cancel_pending": None, "cancel_confirm": None}
        if answer is False:
            dispatcher.utter_message(response="utter_continue_form")
            return carry_on
        return {**carry_on, **self.answer_instead(dispatcher, tracker, carry_on)}

    def answer_next_route(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> Dict[str, Any]:
        text = latest_text(tracker)
        wanted = dialogue().wants_route(text) or (
            intent_if_sure(tracker) if intent_if_sure(tracker) in ("petition", "legal_aid") else None
        )
        if wanted in ("petition", "legal_aid"):
            return self.switch_to(wanted, dispatcher, tracker)
        if yes_no(tracker) is False or intent_if_sure(tracker) == "cancel":
            return {"form_outcome": "cancelled"}
        return {}

    def answer_instead(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                       carry_on: Dict[str, Any]) -> Dict[str, Any]:
        """Not a yes or a no to "要换成…吗？" / "真的不要了吗？": the villager carries on, so the
        message answers the question the form was really asking."""
        slots = {**tracker.slots, **carry_on}
        underlying = next((q for q in self.questions(slots) if slots.get(q) is None), None)
        if underlying is None or underlying in ("route_change", "cancel_confirm") or not latest_text(tracker):
            return {}
        kind, changes = self.read(dispatcher, tracker, underlying)
        return changes

    # --- helpers ----------------------------------------------------------------------
    def switch_to(self, route: str, dispatcher: CollectingDispatcher, tracker: Tracker) -> Dict[str, Any]:
        """The villager chose another route: keep the story, the place and the phone."""
        changes: Dict[str, Any] = {"route": route, "confirmed": None, "editing": None,
                                   "next_route": None, "pending_route": None, "route_change": None}
        if route == "mediation":
            changes["mediation_consent"] = True  # asking for mediation is consenting to it
        elif tracker.get_slot("mediation_consent") is False:
            changes["mediation_consent"] = None
        dispatcher.utter_message(response="utter_route_changed", route_label=dialogue().routes[route].label)
        return changes

    def cancel(self, tracker: Tracker, requested: str) -> Dict[str, Any]:
        """算了: after a story, ask first; before one, there is nothing to lose."""
        if tracker.get_slot("facts") and requested != "cancel_confirm":
            return {"cancel_pending": True}
        return {"form_outcome": "cancelled"}

    def facts_from(self, tracker: Tracker, text: str) -> Dict[str, Any]:
        """Slots a story fills that are still empty (the place, the other party, …)."""
        facts = read_facts(text, knowledge(), dialogue())
        found: Dict[str, Any] = {}
        if facts.village and not tracker.get_slot("village"):
            found.update(village=facts.village, township=facts.township)
        elif facts.township and not tracker.get_slot("township"):
            found["township"] = facts.township
        route = tracker.get_slot("route")
        for slot, value in (("other_party", facts.other_party if route == "mediation" else None),
                            ("petition_request", facts.demand if route == "petition" else None),
                            ("amount", facts.amount), ("event_date", facts.event_date),
                            ("phone", facts.phone)):
            if value and not tracker.get_slot(slot):
                found[slot] = value
        return found

    def said_before(self, tracker: Tracker, slot: str) -> Dict[str, Any]:
        """"刚才说了嘛": look for the answer in what the villager said earlier."""
        texts = [e.get("text") or "" for e in tracker.events if e.get("event") == "user"][:-1]
        for text in reversed(texts):
            if not text or text.startswith("/"):
                continue
            if slot == "village":
                facts = read_facts(text, knowledge(), dialogue())
                if facts.village:
                    return {"village": facts.village, "township": facts.township}
            elif slot == "phone" and find_phone(text):
                return {"phone": find_phone(text)}
            elif slot == "other_party" and find_other_party(text, dialogue()):
                return {"other_party": find_other_party(text, dialogue())}
            elif slot == "name" and find_name(text):
                return {"name": find_name(text)}
            elif slot == "facts" and cjk_count(text) >= 10:
                return {"facts": text.strip()}
        return {}


class ValidateEmergencyForm(FormValidationAction):
    """Where the villager in danger is, and a phone: each asked once; not saying is an answer."""

    def name(self) -> Text:
        return "validate_emergency_form"

    @staticmethod
    def questions(slots: Dict[str, Any]) -> List[str]:
        if slots.get("danger_confirmed") is False:
            return []  # no danger after all: nothing more to ask here
        asks = ["danger_confirmed"] if slots.get("emergency_unsure") else []
        return [*asks, *(["phone"] if slots.get("township") else ["village", "phone"])]

    async def required_slots(self, domain_slots: List[Text], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> List[Text]:
        return self.questions(tracker.slots)

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[EventType]:
        tracker = well_typed(tracker, domain)
        requested = tracker.get_slot("requested_slot")
        text = latest_text(tracker) if answers_a_question(tracker, "emergency_form") else ""
        changes: Dict[str, Any] = {"interruption": "emergency"}
        if requested == "danger_confirmed":
            # Anything but a clear "no" counts as danger: a false alarm costs less than a miss.
            changes["danger_confirmed"] = yes_no(tracker) is not False
            place = knowledge().find_place(text) if text else None
            if place and place.township:  # said where, or the phone, instead of yes: keep them
                changes.update(township=place.township.name, village=place.village.name if place.village else "")
        elif requested == "village":
            place = knowledge().find_place(text) if text else None
            if place and place.township:
                changes.update(township=place.township.name,
                               village=place.village.name if place.village else "")
            else:
                changes["village"] = ""  # would not say, or we do not know it: ask nothing more
        phone = find_phone(text) if text else None
        if phone:
            changes["phone"] = phone
        elif requested == "phone":
            changes["phone"] = ""
        slots = {**tracker.slots, **changes}
        following = next((q for q in self.questions(slots) if slots.get(q) is None), None)
        return [*(SlotSet(k, v) for k, v in changes.items()), SlotSet("requested_slot", following)]
