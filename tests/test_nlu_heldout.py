"""NLU on the held-out messages (tests/nlu_heldout/), which training never sees.

The figures are written to results/nlu-heldout.json; targets are benchmark
figures (README), not assertions. The floors below only catch a broken model.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.servers import MODEL, ROOT
from nlu_components.evaluate import load_labelled, parse_all, score

pytestmark = pytest.mark.skipif(not MODEL.exists(), reason="no trained model: run `make test`")
HELDOUT = sorted((ROOT / "tests" / "nlu_heldout").glob("*.yml"))
TRAINING = sorted((ROOT / "nlu_data").glob("**/*.yml"))


@pytest.fixture(scope="module")
def agent():
    from rasa.core.agent import Agent

    return Agent.load(str(MODEL))


def parse(agent, texts):
    return asyncio.run(parse_all(agent, texts))


def test_heldout_messages_are_not_in_the_training_data():
    from knowledge.text import compact

    trained = {compact(e.text) for e in load_labelled(TRAINING)}
    assert [e.text for e in load_labelled(HELDOUT) if compact(e.text) in trained] == []


def test_heldout_routes_and_dispute_types_are_mostly_right(agent):
    examples = load_labelled(HELDOUT)
    report = score(examples, parse(agent, [e.text for e in examples]))
    out = ROOT / "results" / "nlu-heldout.json"
    out.parent.mkdir(exist_ok=True)
    summary = {k: v for k, v in report.items() if not k.endswith("misses")}
    out.write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    assert report["examples"] == len([e for e in examples if e.intent in ("petition", "mediation", "legal_aid", "service")])
    assert report["route_accuracy"] >= 0.80, summary
    assert report["dispute_type_accuracy"] >= 0.70, summary


@pytest.mark.parametrize(
    "text, route, dispute_type",
    [
        ("隔壁家的牛又跑到我地头，把苞谷吃了一大片，找他赔他不认账", "mediation", "neighbour"),
        ("村主任把低保名额给了他亲戚，我们真正困难的莫得", "petition", "other"),
        ("老板欠我三个月工资不给，想找律师又莫得钱", "legal_aid", "labour"),
        ("异地就医咋个备案", "service", None),
        ("鄰居佔了我家的地界，還把界樁拔了", "mediation", "land"),
    ],
)
def test_the_conversations_in_the_design_card_are_understood(agent, text, route, dispute_type):
    result = parse(agent, [text])[0]
    assert result["intent"]["name"] == route
    types = [e["value"] for e in result["entities"] if e["entity"] == "dispute_type"]
    assert len(types) == 1  # every route message carries one dispute type
    if dispute_type:
        assert types == [dispute_type]


@pytest.mark.parametrize("text", ["", "😂😂😂", "？？？", "a" * 3000, "邻" * 5000])
def test_odd_messages_parse_without_error(agent, text):
    result = parse(agent, [text])[0]
    assert result["intent"]["name"]
