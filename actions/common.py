"""What the actions share: the process's dependencies, the latest message, slot names.

rasa_sdk makes the action objects itself, so the action server's entry point
(``xiangyin actions``) hands them their dependencies once, with :func:`configure`, before the
server starts: the case records (:class:`records.api.AsyncRecords`), the county's data and
the dialogue's words.  Nothing here loads or opens anything on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rasa_sdk import Tracker

from knowledge.base import Knowledge
from knowledge.dialogue import DialogueWords
from records.api import AsyncRecords

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class ActionContext:
    """The action server's dependencies, made where it starts."""

    records: AsyncRecords
    knowledge: Knowledge
    dialogue: DialogueWords


_context: ActionContext | None = None


def configure(context: ActionContext) -> None:
    """Give the actions their dependencies (the entry point calls this once)."""
    global _context
    _context = context


def context() -> ActionContext:
    """The dependencies :func:`configure` gave, or a clear error."""
    if _context is None:
        raise RuntimeError("the actions are not configured: start them with `xiangyin actions`")
    return _context


def records() -> AsyncRecords:
    """The case records."""
    return context().records


def knowledge() -> Knowledge:
    """The county's knowledge."""
    return context().knowledge


def dialogue() -> DialogueWords:
    """The words and answers of knowledge/dialogue.yml."""
    return context().dialogue


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


#: Slots of type ``any`` that the actions read as a mapping.
MAPPING_SLOTS = ("asked",)


def _fits(value: Any, spec: Mapping[str, Any]) -> bool:
    kind = spec.get("type")
    if kind in ("text", "categorical"):
        if not isinstance(value, str):
            return False
        values = spec.get("values")
        return kind == "text" or not values or value.lower() in (str(v).lower() for v in values)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "list":
        return isinstance(value, list)
    return True


def well_typed(tracker: Tracker, domain: Mapping[str, Any]) -> Tracker:
    """``tracker`` with every slot whose value does not fit its type in domain.yml read as
    unset (a number for a text, a list for a yes/no, an unknown route …).

    Rasa does not check what a slot holds when it is set (an action's event, a button's
    ``/inform{...}``, an old tracker store): the form and the filing read only values of the
    types they were written for, so a wrong one is a question asked again, never a crash or
    a case with a list for its facts.
    """
    specs = domain.get("slots") or {}
    wrong = [
        name
        for name, value in tracker.slots.items()
        if value is not None
        and (
            (name in specs and not _fits(value, specs[name]))
            or (name in MAPPING_SLOTS and not isinstance(value, Mapping))
        )
    ]
    if not wrong:
        return tracker
    log.warning("slots of the wrong type read as unset: %s", ", ".join(sorted(wrong)))
    checked = tracker.copy()
    checked.slots = {**tracker.slots, **{name: None for name in wrong}}
    return checked
