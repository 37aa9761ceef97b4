"""The evaluation sets per register (tests/nlu_eval/): apart from the training data, big
enough, and the model on the test sets above floors that only catch a broken model (the
figures themselves are benchmarks: `make bench`, README)."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
import yaml

from tests.servers import MODEL, ROOT
from nlu_components.evaluate import load_labelled, score
from knowledge.text import compact

EVAL = ROOT / "tests" / "nlu_eval"
REGISTERS = ("board", "legal", "voice", "dialect")
ROUTES = ("petition", "mediation", "legal_aid", "service")


def training_texts() -> set[str]:
    texts = {compact(e.text) for e in load_labelled(sorted((ROOT / "nlu_data").glob("**/*.yml")))}
    rows = yaml.safe_load((ROOT / "nlu_data" / "emergency" / "examples.yml").read_text(encoding="utf-8"))
    return texts | {compact(r["text"]) for r in rows["emergency_examples"]}


def emergency_rows(split: str) -> list[dict]:
    return yaml.safe_load((EVAL / split / "emergency.yml").read_text(encoding="utf-8"))["emergency_examples"]


@pytest.mark.parametrize("split", ["dev", "test"])
def test_evaluation_sets_are_not_in_the_training_data(split):
    trained = training_texts()
    texts = [e.text for e in load_labelled(sorted((EVAL / split).glob("*.yml")))]
    texts += [r["text"] for r in emergency_rows(split)]
    assert [t for t in texts if compact(t) in trained] == []


def test_dev_and_test_do_not_share_messages():
    dev = {compact(e.text) for e in load_labelled(sorted((EVAL / "dev").glob("*.yml")))}
    test = {compact(e.text) for e in load_labelled(sorted((EVAL / "test").glob("*.yml")))}
    assert dev & test == set()


@pytest.mark.parametrize("register", REGISTERS)
def test_each_test_register_has_at_least_100_messages_per_route(register):
    counts = Counter(e.intent for e in load_labelled([EVAL / "test" / f"{register}.yml"]))
    assert all(counts[route] >= 100 for route in ROUTES), counts


def test_the_emergency_test_set_has_100_emergencies_and_300_look_alikes():
    rows = emergency_rows("test")
    assert sum(r["emergency"] for r in rows) >= 100
    assert sum(not r["emergency"] and r.get("kind") != "ordinary" for r in rows) >= 300


@pytest.fixture(scope="module")
def parse():
    if not MODEL.exists():
        pytest.skip("no trained model: run `make test`")
    from rasa.core.agent import Agent

    agent = Agent.load(str(MODEL))

    def run(texts: list[str]) -> list[dict]:
        async def go() -> list[dict]:
            return [await agent.parse_message(t) for t in texts]
        return asyncio.run(go())

    return run


@pytest.mark.parametrize("register", REGISTERS)
def test_routes_on_each_test_register_are_far_above_chance(parse, register):
    examples = load_labelled([EVAL / "test" / f"{register}.yml"])
    report = score(examples, parse([e.text for e in examples]))
    assert report["route_accuracy"] >= 0.85, report["route_misses"][:5]
    assert report["dispute_type_accuracy"] >= 0.75, report["dispute_misses"][:5]


def test_most_emergencies_are_flagged_and_the_route_is_kept(parse):
    rows = emergency_rows("test")
    parses = parse([r["text"] for r in rows])
    flagged = [any(e["entity"] == "emergency" for e in p["entities"]) for p in parses]
    recall = sum(f for r, f in zip(rows, flagged) if r["emergency"]) / sum(r["emergency"] for r in rows)
    alarms = sum(f for r, f in zip(rows, flagged) if not r["emergency"]) / sum(not r["emergency"] for r in rows)
    assert recall >= 0.95 and alarms <= 0.08, (recall, alarms)
    assert all(p["intent"]["name"] != "emergency" for p in parses)  # a signal, never an intent
