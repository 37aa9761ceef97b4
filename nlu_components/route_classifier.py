"""The intent classifier: which route (or which short answer) one message is.

A Rasa parse sees one message, so the decision is made from the message alone:

1. **A linear model** (``nlu_components.linear``: TF-IDF character n-grams, logistic regression)
   gives every intent a probability.  Optionally it is averaged with the ranking of a
   classifier earlier in the pipeline (DIET), with weight ``prior_weight``; the choice between
   DIET, this model and their mixture was made on the dev sets (README "Understanding a
   message", results/nlu-model-choice.json).
2. **Text with no Chinese in it** is never a route: a case number asks about a case, digits
   are an answer (a phone number), "ok"/"👍" is yes, and anything else (English, emoji,
   gibberish) is ``out_of_scope``.
3. **Stories beat dialogue acts.**  A short answer ("对的", "算了", "天台村") is shorter than
   nearly every training example of its intent; a message much longer than the examples of
   a dialogue act (``affirm``, ``deny``, ``inform``, ``cancel`` …) cannot be that act, so
   those intents drop out of its ranking.  The limits are learned from the training data
   (the ``length_quantile`` of each intent's example lengths, times ``length_factor``).
4. **Unsure, and short:** ``nlu_fallback`` on top when the best probability is below
   ``fallback_threshold`` and the message is not a story (a story always keeps its route:
   the dialogue asks a clarifying question instead, see actions/intake.py).

The output is Rasa's usual ``intent`` and ``intent_ranking``.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Text

import numpy as np
import yaml
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu_components.linear import LinearSettings, LinearTextClassifier, files_fingerprint
from knowledge.text import compact
from knowledge.text import cjk_count

logger = logging.getLogger(__name__)

FALLBACK = "nlu_fallback"
_CASE_NUMBER = re.compile(r"^(?:MD|XF|FY|BS)-?\d{4}-?[0-9A-Z]{4}$", re.IGNORECASE)
_DIGITS = re.compile(r"^[\d\s+\-()]{5,}$")


DEFAULTS: Dict[str, Any] = {
    **LinearSettings().__dict__,
    # weight of an earlier classifier's ranking (DIET) in the mixture; 0 = linear only
    "prior_weight": 0.0,
    # intents that are short answers and drop out of a long message's ranking
    "dialogue_acts": [
        "affirm", "deny", "inform", "cancel", "greet", "goodbye", "thank",
        "bot_challenge", "out_of_scope",
    ],
    # a message of at least `substance_min_chars` Chinese characters whose probability mass on
    # intents of substance (routes, check_case) is at least `substance_share` is a story or a
    # question: the dialogue acts drop out of its ranking
    "substance_share": 1.1,
    "substance_min_chars": 6,
    "length_quantile": 0.95,
    "length_factor": 1.5,
    "length_margin": 4,
    # below this best probability a short message falls back
    "fallback_threshold": 0.3,
    # a message with at least this many Chinese characters is a story: never falls back
    "story_min_chars": 12,
    "ranking_length": 10,
    # where the yes/no words a form accepts live (read at training, kept in the model)
    "answers_file": "knowledge/frontend.yml",
}


class IntentModel:
    """The decision described in the module docstring, without Rasa (the component wraps it;
    benchmarks/nlu_choice.py compares settings with it)."""

    def __init__(self, config: Dict[str, Any], classifier: Optional[LinearTextClassifier] = None,
                 length_limits: Optional[Dict[str, float]] = None,
                 yes_words: Sequence[str] = (), no_words: Sequence[str] = ()) -> None:
        self.config = {**DEFAULTS, **config}
        self.classifier = classifier
        self.length_limits = dict(length_limits or {})
        self.yes_words = {compact(w) for w in yes_words}
        self.no_words = {compact(w) for w in no_words}

    @property
    def trained(self) -> bool:
        return self.classifier is not None and self.classifier.trained

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> "IntentModel":
        self.classifier = LinearTextClassifier(LinearSettings.from_config(self.config)).fit(texts, labels)
        self.length_limits = self._learn_length_limits(texts, labels)
        return self

    def _learn_length_limits(self, texts: Sequence[str], labels: Sequence[str]) -> Dict[str, float]:
        """Per dialogue act: the longest message (in Chinese characters) it may still be."""
        limits = {}
        for intent in self.config["dialogue_acts"]:
            lengths = [cjk_count(t) for t, label in zip(texts, labels) if label == intent]
            if lengths:
                typical = float(np.quantile(lengths, float(self.config["length_quantile"])))
                limits[intent] = max(typical * float(self.config["length_factor"]),
                                     typical + float(self.config["length_margin"]))
        return limits

    def probabilities(self, texts: Sequence[str]) -> List[Dict[str, float]]:
        """The linear model's probabilities, one dict per text."""
        classes = self.classifier.classes
        return [dict(zip(classes, row.tolist())) for row in self.classifier.predict_proba(texts)]

    def rank(self, text: str, probabilities: Optional[Dict[str, float]] = None,
             prior: Sequence[Dict[str, Any]] = ()) -> List[Dict[str, Any]]:
        """Every intent with its probability, best first, after the rules in the module doc,
        with ``nlu_fallback`` on top when a short message is unclear."""
        probabilities = dict(probabilities or self.probabilities([text])[0])
        weight = float(self.config["prior_weight"])
        if weight > 0 and prior:
            earlier = {r["name"]: float(r.get("confidence") or 0) for r in prior if r.get("name") in probabilities}
            probabilities = {k: (1 - weight) * p + weight * earlier.get(k, 0.0) for k, p in probabilities.items()}

        forced = self._without_chinese(text)
        if forced:
            probabilities = {k: (1.0 if k == forced else 0.0) for k in probabilities}
            probabilities.setdefault(forced, 1.0)
        else:
            length = cjk_count(text)
            acts = set(self.config["dialogue_acts"])
            substance = sum(p for k, p in probabilities.items() if k not in acts and k not in ("help", "human_handoff"))
            story = length >= int(self.config["substance_min_chars"]) and substance >= float(self.config["substance_share"])
            for intent, limit in self.length_limits.items():
                if (story or length > limit) and intent in probabilities:
                    probabilities[intent] = 0.0
        total = sum(probabilities.values()) or 1.0
        ranking = sorted(
            ({"name": k, "confidence": v / total} for k, v in probabilities.items()),
            key=lambda r: r["confidence"],
            reverse=True,
        )
        story = cjk_count(text) >= int(self.config["story_min_chars"])
        if not forced and ranking[0]["confidence"] < float(self.config["fallback_threshold"]) and not story:
            ranking = [{"name": FALLBACK, "confidence": 1.0 - ranking[0]["confidence"]}, *ranking]
        return ranking[: int(self.config["ranking_length"]) or None]

    def _without_chinese(self, text: str) -> Optional[str]:
        """The intent of a message with no Chinese characters, or None if it has some."""
        if cjk_count(text):
            return None
        value = compact(text)
        if _CASE_NUMBER.match(value.upper()):
            return "check_case"
        if value in self.yes_words:
            return "affirm"
        if value in self.no_words:
            return "deny"
        if _DIGITS.match(text.strip()):
            return "inform"
        return "out_of_scope"

    def save(self, folder: Path) -> None:
        if self.classifier is not None:
            self.classifier.save(folder, "intent")
        (folder / "rules.json").write_text(json.dumps({
            "length_limits": self.length_limits,
            "yes_words": sorted(self.yes_words),
            "no_words": sorted(self.no_words),
        }, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, config: Dict[str, Any]) -> "IntentModel":
        classifier = LinearTextClassifier.load(folder, "intent")
        rules = json.loads((folder / "rules.json").read_text(encoding="utf-8"))
        return cls(config, classifier, rules["length_limits"], rules["yes_words"], rules["no_words"])


def answer_words(path: str) -> tuple[list[str], list[str]]:
    """The yes and no words of knowledge/frontend.yml (``answers``)."""
    try:
        with open(path, encoding="utf-8") as handle:
            answers = (yaml.safe_load(handle) or {}).get("answers") or {}
    except FileNotFoundError:
        logger.warning("No answer words at %s", path)
        return [], []
    return [str(w) for w in answers.get("yes_words") or []], [str(w) for w in answers.get("no_words") or []]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class RouteIntentClassifier(IntentClassifier, GraphComponent):
    """Intent from a character n-gram linear model, with the rules above."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return dict(DEFAULTS)

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        """The answer words are read from knowledge/: a change there retrains this component."""
        return files_fingerprint(str({**DEFAULTS, **config}["answers_file"]))

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 model: Optional[IntentModel] = None) -> None:
        self.config = {**DEFAULTS, **config}
        self._model_storage = model_storage
        self._resource = resource
        self.model = model or IntentModel(self.config)

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "RouteIntentClassifier":
        config = {**DEFAULTS, **config}
        yes, no = answer_words(config["answers_file"])
        return cls(config, model_storage, resource, IntentModel(config, yes_words=yes, no_words=no))

    def train(self, training_data: TrainingData) -> Resource:
        examples = [m for m in training_data.intent_examples if m.get(TEXT) and m.get(INTENT)]
        self.model.fit([m.get(TEXT) for m in examples], [m.get(INTENT) for m in examples])
        self.persist()
        return self._resource

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            if not text.strip():  # nothing typed: the fallback says "好像没收到文字"
                nothing = {"name": FALLBACK, "confidence": 1.0}
                message.set(INTENT, nothing, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [nothing], add_to_output=True)
                continue
            if not self.model.trained:
                continue
            ranking = self.model.rank(text, prior=message.get(INTENT_RANKING_KEY) or [])
            message.set(INTENT, dict(ranking[0]), add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def persist(self) -> None:
        with self._model_storage.write_to(self._resource) as folder:
            self.model.save(folder)

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "RouteIntentClassifier":
        try:
            with model_storage.read_from(resource) as folder:
                model = IntentModel.load(folder, {**DEFAULTS, **config})
        except (ValueError, FileNotFoundError, KeyError) as error:
            logger.warning("Intent model not loaded (%s).", error)
            return cls(config, model_storage, resource)
        return cls(config, model_storage, resource, model)
