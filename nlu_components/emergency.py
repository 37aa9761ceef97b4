"""Danger now: an ``emergency`` entity on every parse, beside the route, never instead of it.

Someone being beaten, threatened with a knife, about to take poison, a house on fire: the
dialogue must give 110/120/119 advice first, whatever the message's route (actions/emergency.py,
and the EmergencyPolicy in nlu_components/emergency_policy.py that puts it before every other
action).  Two signals, either is enough (recall matters more than precision here):

* **words**: the emergency keywords of knowledge/case_rules.yml (``emergency.keywords``), which
  a villager's "救命" or "拿刀要砍" trips at once;
* **a classifier**: the character n-gram linear model (nlu_components.linear) trained on the
  examples in ``examples_file`` (labelled danger now / not now, many of them hard negatives such
  as past harm and legal questions about violence) plus every intent example in the training
  data as a negative, unless its block says ``emergency: true``.

A keyword hit alone is not enough when the classifier is confident the danger is not now
("他以前拿刀砍过我，现在想离婚"): ``keyword_veto`` is that confidence.  The threshold and the
veto were chosen on the dev set (README "Emergencies").

Output: ``{"entity": "emergency", "value": "danger_now", "confidence": p}`` over the whole text,
with ``"role": "words"`` when an emergency word was said.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Text

import yaml
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu_components.linear import LinearSettings, LinearTextClassifier, files_fingerprint
from knowledge.text import compact

logger = logging.getLogger(__name__)

ENTITY = "emergency"
VALUE = "danger_now"


def read_examples(path: Path) -> tuple[list[str], list[bool]]:
    """Texts and labels of an emergency examples file (``emergency_examples: [{text, emergency}]``)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    rows = data.get("emergency_examples") or []
    return [str(r["text"]) for r in rows], [bool(r["emergency"]) for r in rows]


class EmergencyModel:
    """Keywords or the classifier, as described in the module docstring (usable outside Rasa)."""

    def __init__(self, keywords: Sequence[str], classifier: Optional[LinearTextClassifier],
                 threshold: float, keyword_veto: float) -> None:
        self.keywords = sorted({compact(k) for k in keywords if k}, key=len, reverse=True)
        self.classifier = classifier
        self.threshold = threshold
        self.keyword_veto = keyword_veto

    def probability(self, text: str) -> float:
        if self.classifier is None or not self.classifier.trained:
            return 0.0
        classes = self.classifier.classes
        return float(self.classifier.predict_proba([text])[0][classes.index("danger_now")])

    def keyword(self, text: str) -> Optional[str]:
        value = compact(text)
        return next((k for k in self.keywords if k in value), None)

    def score(self, text: str) -> tuple[bool, float]:
        """(danger now?, confidence)."""
        danger, p, _ = self.assess(text)
        return danger, p

    def assess(self, text: str) -> tuple[bool, float, bool]:
        """(danger now?, the classifier's probability, whether an emergency word was said)."""
        p = self.probability(text)
        said = bool(self.keyword(text))
        if p >= self.threshold:
            return True, p, said
        if said and p >= 1.0 - self.keyword_veto:
            return True, p, True
        return False, p, said


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True)
class EmergencyDetector(GraphComponent):
    """Adds the ``emergency`` entity to messages that report danger now."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            **LinearSettings(C=10.0).__dict__,
            "examples_file": "nlu_data/emergency/examples.yml",
            "rules_file": "knowledge/case_rules.yml",
            "threshold": 0.5,
            # a keyword counts unless the classifier is at least this sure it is not danger now
            "keyword_veto": 0.9,
        }

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 model: Optional[EmergencyModel] = None) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.model = model or EmergencyModel(
            self._keywords(), None, float(self.config["threshold"]), float(self.config["keyword_veto"])
        )

    def _keywords(self) -> List[str]:
        try:
            with open(self.config["rules_file"], encoding="utf-8") as handle:
                rules = yaml.safe_load(handle) or {}
        except FileNotFoundError:
            return []
        return [str(k) for k in (rules.get("emergency") or {}).get("keywords") or []]

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        """The examples and the keywords are files of their own: a change retrains this."""
        config = {**cls.get_default_config(), **config}
        return files_fingerprint(str(config["examples_file"]), str(config["rules_file"]))

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "EmergencyDetector":
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        texts, labels = read_examples(Path(self.config["examples_file"]))
        for message in training_data.intent_examples:
            if message.get(TEXT):
                block = (message.get("metadata") or {}).get("intent") or {}
                texts.append(message.get(TEXT))
                labels.append(bool(block.get("emergency")))
        classifier = LinearTextClassifier(LinearSettings.from_config(self.config))
        classifier.fit(texts, ["danger_now" if label else "not_now" for label in labels])
        self.model.classifier = classifier
        self.persist()
        return self._resource

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT)
            if not text or text.startswith("/"):
                continue
            danger, confidence, said = self.model.assess(text)
            entities = [e for e in message.get(ENTITIES, []) if e.get("entity") != ENTITY]
            if danger:
                entity = {"entity": ENTITY, "value": VALUE, "start": 0, "end": len(text),
                          "confidence": round(confidence, 4), "extractor": type(self).__name__}
                if said:
                    entity["role"] = "words"  # an emergency word was said ("救命", "拿刀")
                entities.append(entity)
            message.set(ENTITIES, entities, add_to_output=True)
        return messages

    def persist(self) -> None:
        with self._model_storage.write_to(self._resource) as folder:
            if self.model.classifier is not None:
                self.model.classifier.save(folder, "emergency")
            (folder / "keywords.json").write_text(json.dumps(self.model.keywords, ensure_ascii=False),
                                                  encoding="utf-8")

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "EmergencyDetector":
        config = {**cls.get_default_config(), **config}
        try:
            with model_storage.read_from(resource) as folder:
                classifier = LinearTextClassifier.load(folder, "emergency")
                keywords = json.loads((folder / "keywords.json").read_text(encoding="utf-8"))
        except (ValueError, FileNotFoundError) as error:
            logger.warning("Emergency model not loaded (%s): keywords only.", error)
            return cls(config, model_storage, resource)
        model = EmergencyModel(keywords, classifier, float(config["threshold"]), float(config["keyword_veto"]))
        return cls(config, model_storage, resource, model)
