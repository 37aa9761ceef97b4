"""What nlu_components.server changes in Rasa 3.6 gives the same answers as Rasa's own code."""

from __future__ import annotations

from pathlib import Path

import pytest
from jsonschema import ValidationError

import rasa
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import ActionExecuted, Event, SlotSet, UserUttered

from nlu_components import server as rasa_server

ROOT = Path(__file__).resolve().parent.parent

VALID = {
    "events": [{"event": "slot", "name": "village", "value": "天台村"}],
    "responses": [{"text": "好的", "buttons": [{"title": "对", "payload": "/affirm"}]}],
}


def test_it_is_pinned_to_the_rasa_it_was_written_for():
    assert rasa.__version__ == "3.6.21"


def test_action_answers_are_validated_as_rasa_does(monkeypatch):
    original = RemoteAction._validate_action_result
    rasa_server.install()
    action = RemoteAction("action_test", None)
    assert action._validate_action_result(VALID) is True
    broken = {"events": [{"name": "village"}], "responses": "不是列表"}
    with pytest.raises(ValidationError) as ours:
        action._validate_action_result(broken)
    monkeypatch.setattr(RemoteAction, "_validate_action_result", original)
    with pytest.raises(ValidationError) as theirs:
        action._validate_action_result(broken)
    assert ours.value.message == theirs.value.message  # the same error, the same words
    assert "Failed to validate Action server response" in ours.value.message


def test_events_read_back_from_a_tracker_resolve_to_the_same_classes():
    rasa_server.install()
    assert Event.resolve_by_type("slot") is SlotSet
    assert Event.resolve_by_type("user") is UserUttered
    assert Event.resolve_by_type("action") is ActionExecuted
    assert Event.resolve_by_type("slot") is SlotSet  # remembered, still right
    assert Event.resolve_by_type("topic") is None  # Rasa's backwards compatibility
    assert Event.resolve_by_type("no_such_event", default=SlotSet) is SlotSet
    with pytest.raises(ValueError):
        Event.resolve_by_type("no_such_event")
