"""Helpers the actions share: the knowledge, the latest message, slot names."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker

from xiangyin.knowledge import Knowledge, get_knowledge

ROUTES = ("petition", "mediation", "legal_aid", "service")
FORM_OF_ROUTE = {
    "petition": "petition_form",
    "mediation": "mediation_form",
    "legal_aid": "legal_aid_form",
}
ROUTE_OF_FORM = {form: route for route, form in FORM_OF_ROUTE.items()}

# Slots a form collects; cleared together on cancel.
CASE_SLOTS = (
    "route",
    "dispute_type",
    "facts",
    "petition_request",
    "name",
    "phone",
    "village",
    "township",
    "other_party",
    "mediation_consent",
    "time_limit",
    "economic_status",
    "confirmed",
)


def knowledge() -> Knowledge:
    """The county's knowledge, loaded once per process."""
    return get_knowledge()


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
