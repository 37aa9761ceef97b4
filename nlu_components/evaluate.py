"""NLU evaluation on labelled messages the model was not trained on.

Used by the held-out test (tests/test_nlu_heldout.py) and by `make bench`. Labels
come from the same YAML block format as the training data: intent per block,
`metadata.dispute_type` for route messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import yaml

ROUTES = ("petition", "mediation", "legal_aid", "service")
_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]+\)|\{[^}]+\})")


@dataclass(frozen=True)
class Labelled:
    """One evaluation message with its expected route and dispute type."""

    text: str
    intent: str
    dispute_type: str | None


def load_labelled(paths: Iterable[Path]) -> list[Labelled]:
    """Read Rasa NLU YAML files into labelled examples (entity brackets removed)."""
    examples: list[Labelled] = []
    for path in paths:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        for block in data.get("nlu") or []:
            if "intent" not in block:
                continue
            dispute_type = (block.get("metadata") or {}).get("dispute_type")
            for line in str(block.get("examples") or "").splitlines():
                line = line.strip()
                if line.startswith("- "):
                    text = _ANNOTATION.sub(r"\1", line[2:].strip())
                    examples.append(Labelled(text, block["intent"], dispute_type))
    return examples


def predicted_dispute_type(parse: dict) -> str | None:
    """The `dispute_type` entity of a parse result, if any."""
    return next(
        (e.get("value") for e in parse.get("entities") or [] if e.get("entity") == "dispute_type"),
        None,
    )


def score(examples: Sequence[Labelled], parses: Sequence[dict]) -> dict:
    """Route macro-F1 / accuracy and dispute-type accuracy, with the misses listed.

    The route decision is the intent the assistant acts on: a message that falls
    back (nlu_fallback) counts as a wrong route. `route_accuracy_top` also gives
    the best route in the ranking, i.e. what the fallback buttons would suggest.
    """
    from sklearn.metrics import f1_score

    routed = [(e, p) for e, p in zip(examples, parses) if e.intent in ROUTES]
    gold = [e.intent for e, _ in routed]
    predicted = [(p.get("intent") or {}).get("name") for _, p in routed]
    top = [
        next((r["name"] for r in p.get("intent_ranking") or [] if r["name"] != "nlu_fallback"), None)
        for _, p in routed
    ]
    typed = [(e, p) for e, p in routed if e.dispute_type]
    dispute_hits = [predicted_dispute_type(p) == e.dispute_type for e, p in typed]
    misses = [
        {"text": e.text[:80], "expected": e.intent, "got": g}
        for (e, _), g in zip(routed, predicted)
        if g != e.intent
    ]
    dispute_misses = [
        {"text": e.text[:80], "expected": e.dispute_type, "got": predicted_dispute_type(p)}
        for (e, p), hit in zip(typed, dispute_hits)
        if not hit
    ]
    per_route = f1_score(gold, predicted, labels=list(ROUTES), average=None, zero_division=0)
    return {
        "examples": len(routed),
        "route_macro_f1": round(float(f1_score(gold, predicted, labels=list(ROUTES), average="macro", zero_division=0)), 4),
        "route_f1": {r: round(float(f), 4) for r, f in zip(ROUTES, per_route)},
        "route_accuracy": round(sum(g == p for g, p in zip(gold, predicted)) / max(len(gold), 1), 4),
        "route_accuracy_top": round(sum(g == t for g, t in zip(gold, top)) / max(len(gold), 1), 4),
        "fallback_rate": round(predicted.count("nlu_fallback") / max(len(predicted), 1), 4),
        "dispute_examples": len(typed),
        "dispute_type_accuracy": round(sum(dispute_hits) / max(len(typed), 1), 4),
        "route_misses": misses,
        "dispute_misses": dispute_misses,
    }


async def parse_all(agent, texts: Sequence[str]) -> list[dict]:
    """Parse each text with a loaded Rasa Agent."""
    return [await agent.parse_message(text) for text in texts]
