"""What xiangyin.rasa_server changes in Rasa 3.6 gives the same answers as Rasa's own code."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from jsonschema import ValidationError

import rasa
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import ActionExecuted, Event, SlotSet, UserUttered

from tests.servers import MODEL
from xiangyin import rasa_server

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


PARSE_BOTH_WAYS = """
import asyncio, json, sys
if sys.argv[1] == "patched":
    from xiangyin import rasa_server
    rasa_server.install()
from rasa.core.agent import load_agent
agent = asyncio.run(load_agent(model_path=sys.argv[2]))
texts = json.loads(sys.argv[3])
out = [asyncio.run(agent.parse_message(t)) for t in texts]
print(json.dumps([[o["intent"]["name"], o["intent"]["confidence"],
                   [e["value"] for e in o["entities"]]] for o in out], ensure_ascii=False))
"""


@pytest.mark.skipif(not MODEL.exists(), reason="no trained model: run `make test`")
def test_a_model_loaded_the_faster_way_parses_exactly_as_rasas_own_load():
    import json
    import subprocess
    import sys

    texts = [
        "你好",
        "隔壁家的牛又跑到我地头，把苞谷吃了一大片",
        "老板拖欠工资三个月了",
        "异地就医咋个备案",
        "我是共和镇天台村的",
        "算了",
        "13987654321",
    ]

    def parse(mode: str) -> list:
        done = subprocess.run(
            [sys.executable, "-c", PARSE_BOTH_WAYS, mode, str(MODEL), json.dumps(texts)],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    assert parse("patched") == parse("original")
