"""Tracker stores that forget a villager's personal data once their matter is over.

While a form is being filled the conversation must hold what the villager said — the read-back
and the filing need it.  Once the case is filed (the ``case_id`` or ``emergency_case`` slot is
set) or the form is given up (the case slots are reset), the tracker is saved with every earlier
message, read-back and form answer scrubbed: the words the villager typed, the entities found
in them, the metadata the front end sent (an agent's filing names the villager there), the
bot's read-backs, and the values of the form's slots.  What stays is the shape of the
conversation: intents, actions, the case number.

``ScrubbingTrackerStore`` is the in-memory store (the embedded default, endpoints.yml);
``ScrubbingSQLTrackerStore`` the SQL one for several Rasa replicas (README "PostgreSQL and
Redis"): it rewrites the conversation's stored events.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.core.tracker_store import InMemoryTrackerStore, SQLTrackerStore
from rasa.shared.core.trackers import DialogueStateTracker

__all__ = ["SCRUBBED", "ScrubbingSQLTrackerStore", "ScrubbingTrackerStore", "scrub"]

SCRUBBED = "（已删除）"
#: The form's answers: personal data, or the villager's own words.
PERSONAL_SLOTS = frozenset(
    {
        "name",
        "phone",
        "facts",
        "petition_request",
        "other_party",
        "village",
        "township",
        "place_hint",
        "amount",
        "event_date",
        "time_limit",
        "economic_status",
    }
)
#: A slot set to a value by these means a matter was just filed.
FILED = ("case_id", "emergency_case")
#: Cleared together only when the whole form is given up (actions.submit.reset_case_slots).
RESET = frozenset({"route", "facts", "phone", "name", "village"})


def _since_last_user(events: List[Dict[Text, Any]]) -> List[Dict[Text, Any]]:
    for i in range(len(events) - 1, -1, -1):
        if events[i].get("event") == "user":
            return events[i + 1 :]
    return events


def matter_ended(events: List[Dict[Text, Any]]) -> bool:
    """Did the last turn file a case, or give the form up (its answers reset)?"""
    latest = [e for e in _since_last_user(events) if e.get("event") == "slot"]
    if any(e.get("name") in FILED and e.get("value") for e in latest):
        return True
    cleared = {e.get("name") for e in latest if e.get("value") is None}
    if not RESET <= cleared:
        return False  # one answer cleared to be asked again (要改) is not the end
    # Reset, and there was something to reset.
    earlier = events[: len(events) - len(_since_last_user(events))]
    return any(
        e.get("event") == "slot" and e.get("name") in ("facts", "phone") and e.get("value")
        for e in earlier
    )


def scrub(events: List[Dict[Text, Any]]) -> List[Dict[Text, Any]]:
    """The events with the villager's words, the form's answers and the bot's read-backs
    removed.  The bot's last replies (the case number and the next step) stay."""
    last_turn = len(events) - len(_since_last_user(events))
    out: List[Dict[Text, Any]] = []
    for i, event in enumerate(events):
        event = dict(event)
        kind = event.get("event")
        if kind in ("user", "slot") or i < last_turn:
            if kind == "user":
                parse = dict(event.get("parse_data") or {})
                event["text"] = SCRUBBED
                event["metadata"] = {}
                event["parse_data"] = {
                    "intent": parse.get("intent"),
                    "intent_ranking": parse.get("intent_ranking", []),
                    "entities": [],
                    "text": SCRUBBED,
                }
            elif kind == "bot":
                event["text"] = SCRUBBED
                event["data"] = {}
                event["metadata"] = {}
            elif kind == "slot" and event.get("name") in PERSONAL_SLOTS and event.get("value"):
                event["value"] = SCRUBBED if isinstance(event.get("value"), str) else None
        out.append(event)
    return out


class _Scrubbing:
    """Saves a conversation scrubbed when its matter has just ended."""

    domain: Any

    def _scrubbed(self, tracker: DialogueStateTracker) -> Optional[DialogueStateTracker]:
        events = [e.as_dict() for e in tracker.events]
        if not matter_ended(events):
            return None
        return DialogueStateTracker.from_dict(
            tracker.sender_id, scrub(events), self.domain.slots if self.domain else None
        )


class ScrubbingTrackerStore(_Scrubbing, InMemoryTrackerStore):
    """The in-memory tracker store, forgetting personal data once a matter is over."""

    async def save(self, tracker: DialogueStateTracker) -> None:
        await InMemoryTrackerStore.save(self, self._scrubbed(tracker) or tracker)


class ScrubbingSQLTrackerStore(_Scrubbing, SQLTrackerStore):
    """The SQL tracker store, rewriting a conversation's events once its matter is over."""

    async def save(self, tracker: DialogueStateTracker) -> None:
        scrubbed = self._scrubbed(tracker)
        if scrubbed is None:
            await SQLTrackerStore.save(self, tracker)
            return
        with self.session_scope() as session:
            session.query(self.SQLEvent).filter(
                self.SQLEvent.sender_id == tracker.sender_id
            ).delete()
            session.commit()
        await SQLTrackerStore.save(self, scrubbed)
