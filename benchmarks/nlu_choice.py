"""Which intent model: DIET, the linear character n-gram model, or a mixture — on the DEV sets.

    python -m benchmarks.nlu_choice            # linear variants (seconds each)
    python -m benchmarks.nlu_choice --diet     # also trains DIET as config.yml had it (~10 min)

Every choice in config.yml about the intent model was made from this script's output
(results/nlu-model-choice.json), never from the test sets.  Measured per register:

* route accuracy: the parse's top intent is the labelled route (a fallback counts as wrong);
* short answers (tests/nlu_eval/dev/acts.yml): the top intent is the labelled dialogue act;
* training time of the intent model alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import yaml

from nlu_components.route_classifier import DEFAULTS, IntentModel
from xiangyin.settings import PROJECT_ROOT
from nlu_components.evaluate import Labelled, load_labelled

DEV = PROJECT_ROOT / "tests" / "nlu_eval" / "dev"
RESULTS = PROJECT_ROOT / "results"

#: The linear settings compared (each on top of DEFAULTS).
LINEAR_VARIANTS: list[dict[str, Any]] = [
    {"ngram_max": 3, "C": 30},
    {"ngram_max": 3, "C": 100},
    {"ngram_max": 4, "C": 100},
    {"ngram_max": 3, "C": 100, "class_weight": None},
    # "stories beat dialogue acts": without the length rule, and with the substance rule
    {"ngram_max": 3, "C": 100, "length_factor": 1e9},
    {"ngram_max": 3, "C": 100, "substance_share": 0.5},
    {"ngram_max": 3, "C": 100, "substance_share": 0.4},
    {"ngram_max": 3, "C": 100, "substance_share": 0.3},
]
MIXTURE_WEIGHTS = (0.25, 0.5, 0.75)


def training_examples() -> list[Labelled]:
    return load_labelled(sorted((PROJECT_ROOT / "nlu_data").glob("**/*.yml")))


def dev_sets() -> dict[str, list[Labelled]]:
    return {p.stem: load_labelled([p]) for p in sorted(DEV.glob("*.yml")) if p.stem != "emergency"}


def accuracy(model: IntentModel, sets: dict[str, list[Labelled]],
             priors: dict[str, list[list[dict]]] | None = None) -> dict[str, float]:
    scores = {}
    for name, examples in sets.items():
        probabilities = model.probabilities([e.text for e in examples])
        hits = 0
        for i, (example, probs) in enumerate(zip(examples, probabilities)):
            prior = priors[name][i] if priors else ()
            hits += model.rank(example.text, probs, prior=prior)[0]["name"] == example.intent
        scores[name] = round(hits / max(len(examples), 1), 4)
    return scores


def summary(scores: dict[str, float]) -> dict[str, float]:
    routes = [v for k, v in scores.items() if k != "acts"]
    return {**scores, "routes_mean": round(sum(routes) / max(len(routes), 1), 4)}


def linear_variants(train: Sequence[Labelled], sets: dict[str, list[Labelled]]) -> list[dict]:
    rows = []
    for variant in LINEAR_VARIANTS:
        started = time.monotonic()
        model = IntentModel({**DEFAULTS, **variant}).fit([e.text for e in train], [e.intent for e in train])
        seconds = round(time.monotonic() - started, 1)
        rows.append({"model": "linear", "settings": variant, "train_seconds": seconds,
                     "dev": summary(accuracy(model, sets))})
        print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
    return rows


def diet_rankings(sets: dict[str, list[Labelled]]) -> tuple[dict[str, list[list[dict]]], float]:
    """Train DIET alone (config.yml's DIET as it was) and parse every dev message with it."""
    from rasa.core.agent import Agent

    workdir = Path(tempfile.mkdtemp(prefix="xiangyin-diet-"))
    config = {
        "recipe": "default.v1", "language": "zh", "assistant_id": "diet-choice",
        "pipeline": [
            {"name": "nlu_components.tokenizer.ChineseTokenizer", "dictionary_path": "build/jieba_dict"},
            {"name": "RegexFeaturizer", "use_word_boundaries": False, "case_sensitive": False},
            {"name": "CountVectorsFeaturizer"},
            {"name": "CountVectorsFeaturizer", "analyzer": "char_wb", "min_ngram": 1, "max_ngram": 3},
            {"name": "DIETClassifier", "entity_recognition": False, "epochs": 45,
             "number_of_transformer_layers": 1, "transformer_size": 128,
             "hidden_layers_sizes": {"text": [256, 128]}, "embedding_dimension": 32,
             "drop_rate": 0.3, "constrain_similarities": True, "random_seed": 7, "ranking_length": 0},
        ],
        "policies": [],
    }
    (workdir / "config.yml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "rasa", "train", "nlu", "--nlu", "nlu_data", "--config",
         str(workdir / "config.yml"), "--out", str(workdir), "--fixed-model-name", "diet", "--quiet"],
        cwd=PROJECT_ROOT, check=True,
    )
    seconds = round(time.monotonic() - started, 1)
    agent = Agent.load(str(workdir / "diet.tar.gz"))

    async def parse_all() -> dict[str, list[list[dict]]]:
        out = {}
        for name, examples in sets.items():
            out[name] = [(await agent.parse_message(e.text)).get("intent_ranking") or [] for e in examples]
        return out

    rankings = asyncio.run(parse_all())
    shutil.rmtree(workdir, ignore_errors=True)
    return rankings, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--diet", action="store_true", help="also train and compare DIET (~10 min)")
    parser.add_argument("--out", type=Path, default=RESULTS / "nlu-model-choice.json")
    args = parser.parse_args(argv)
    train, sets = training_examples(), dev_sets()
    rows = linear_variants(train, sets)
    best = max(rows, key=lambda r: (r["dev"]["routes_mean"] + r["dev"].get("acts", 0)) / 2)
    if args.diet:
        rankings, diet_seconds = diet_rankings(sets)
        base = IntentModel({**DEFAULTS, **best["settings"]}).fit([e.text for e in train], [e.intent for e in train])
        only_diet = IntentModel({**DEFAULTS, **best["settings"], "prior_weight": 1.0}, base.classifier,
                                base.length_limits, sorted(base.yes_words), sorted(base.no_words))
        rows.append({"model": "diet", "settings": "config.yml before this change (45 epochs, 1 transformer layer)",
                     "train_seconds": diet_seconds, "dev": summary(accuracy(only_diet, sets, rankings))})
        print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
        for weight in MIXTURE_WEIGHTS:
            mixed = IntentModel({**DEFAULTS, **best["settings"], "prior_weight": weight}, base.classifier,
                                base.length_limits, sorted(base.yes_words), sorted(base.no_words))
            rows.append({"model": f"linear + DIET (DIET weight {weight})", "settings": best["settings"],
                         "train_seconds": round(best["train_seconds"] + diet_seconds, 1),
                         "dev": summary(accuracy(mixed, sets, rankings))})
            print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
    report = {
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "training_examples": len(train),
        "dev_sets": {k: len(v) for k, v in sets.items()},
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
