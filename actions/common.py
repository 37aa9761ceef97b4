"""Helpers the actions share: the knowledge, the latest message, slot names."""

from __future__ import annotations

import functools
from typing import Any

from rasa_sdk import Tracker

from knowledge.dialogue import DialogueWords, dialogue_words
from knowledge.loader import Knowledge, get_knowledge

ROUTES = ("petition", "mediation", "legal_aid", "service")
#: Routes that end in a case (service questions are answered at once).
CASE_ROUTES = ("petition", "mediation", "legal_aid")
CASE_FORM = "case_form"

# Slots the case form collects; cleared together when it ends.
CASE_SLOTS = (
    "route",
    "dispute_type",
    "facts",
    "petition_request",
    "name",
    "anonymous",
    "phone",
    "village",
    "township",
    "place_hint",
    "other_party",
    "amount",
    "event_date",
    "mediation_consent",
    "time_limit",
    "economic_status",
    "confirmed",
    "pending_route",
    "route_change",
    "route_kept",
    "cancel_pending",
    "cancel_confirm",
    "next_route",
    "editing",
    "edit_field",
    "form_outcome",
    "interruption",
    "asked",
    "emergency_unsure",
    "danger_confirmed",
)


def knowledge() -> Knowledge:
    """The county's knowledge, loaded once per process."""
    return get_knowledge()


def dialogue() -> DialogueWords:
    """The words and answers of knowledge/dialogue.yml, loaded once per process."""
    return dialogue_words()


def latest_text(tracker: Tracker) -> str:
    """Text of the villager's latest message ('' for button payloads)."""
    text = tracker.latest_message.get("text") or ""
    return "" if text.startswith("/") else text


def latest_intent(tracker: Tracker) -> str | None:
    """Name of the latest intent."""
    return (tracker.latest_message.get("intent") or {}).get("name")


def latest_entity(tracker: Tracker, name: str) -> Any:
    """First value of an entity in the latest message, if any."""
    return next(tracker.get_latest_entity_values(name), None)


def place_label(tracker: Tracker) -> str:
    """“共和镇天台村” for read-backs."""
    return f"{tracker.get_slot('township') or ''}{tracker.get_slot('village') or ''}" or "（未填）"


@functools.lru_cache(maxsize=1)
def case_engine():
    """The case store's engine; the schema is brought to head by Alembic once.

    Set XIANGYIN_AUTO_MIGRATE=0 when a deployment runs `xiangyin cases migrate`
    itself before starting several action servers.
    """
    from records.store import open_engine
    from xiangyin.settings import settings

    config = settings()
    return open_engine(config.database_url, migrate_schema=config.auto_migrate)


def unit_of_work():
    """A new unit of work on the case store."""
    from records.store import UnitOfWork

    return UnitOfWork(case_engine())


def latest_user_timestamp(tracker: Tracker) -> float | None:
    """When the villager sent the latest message (identifies one submission)."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return event.get("timestamp")
    return None


def place_ids(tracker: Tracker) -> tuple[str | None, str | None]:
    """(township id, village id) of the place in the slots, when knowledge knows it."""
    place = knowledge().find_place(f"{tracker.get_slot('township') or ''}{tracker.get_slot('village') or ''}")
    if not place:
        return None, None
    return (place.township.id if place.township else None, place.village.id if place.village else None)
