"""Dispute-type classifier: adds a `dispute_type` entity to every route message.

Why a separate classifier and not DIET entities: a dispute type is a property of the whole
message ("隔壁的牛吃了我家苞谷" is `neighbour` with no single word saying so), not a span, and
spans that cut through jieba tokens are dropped at training (RasaHQ/rasa#7689).  The labels
come from the training data's block metadata:

    - intent: mediation
      metadata:
        dispute_type: neighbour
      examples: |
        - ...

The model is the character n-gram linear classifier of nlu_components.linear.  Every message
whose intent is a route gets a type, petitions and service questions included (a public matter
with no private dispute is ``other``), and so does any message long enough to be a story
whatever its intent, so that a story the dialogue later routes still carries its type.
Knowledge keyword columns were tried and lowered accuracy in cross-validation (README), so the
keywords of knowledge/dispute_types.yml feed the jieba dictionary and the forms, not this model.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Sequence, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu_components.linear import LinearSettings, LinearTextClassifier
from knowledge.text import cjk_count

logger = logging.getLogger(__name__)

ENTITY_NAME = "dispute_type"
METADATA_KEY = "dispute_type"


def labelled_examples(messages: Sequence[Message]) -> tuple[list[str], list[str]]:
    """Texts and dispute-type labels of the messages whose block carries one."""
    texts, labels = [], []
    for message in messages:
        metadata = message.get("metadata") or {}
        label = (metadata.get("intent") or {}).get(METADATA_KEY)
        if label and message.get(TEXT):
            texts.append(message.get(TEXT))
            labels.append(label)
    return texts, labels


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True)
class DisputeTypeClassifier(GraphComponent):
    """Classifies the dispute type of route messages and of stories."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Defaults; each can be overridden in config.yml."""
        return {
            **LinearSettings(C=20.0).__dict__,
            # intents whose messages get a dispute type
            "route_intents": ["petition", "mediation", "legal_aid", "service"],
            # a message with at least this many Chinese characters gets one whatever its intent
            "story_min_chars": 12,
            "fallback_type": "other",
        }

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 classifier: Optional[LinearTextClassifier] = None) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.classifier = classifier

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "DisputeTypeClassifier":
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        """Fits the classifier on the examples whose block names a dispute type."""
        texts, labels = labelled_examples(training_data.intent_examples)
        if len(set(labels)) < 2:
            logger.warning("Fewer than two dispute types in the training data; not training.")
            return self._resource
        self.classifier = LinearTextClassifier(LinearSettings.from_config(self._config)).fit(texts, labels)
        self.persist()
        return self._resource

    def predict(self, texts: Sequence[str]) -> List[tuple[str, float]]:
        """(dispute type, probability) for each text."""
        if self.classifier is None or not self.classifier.trained or not texts:
            return [(self._config["fallback_type"], 0.0) for _ in texts]
        classes = self.classifier.classes
        results = []
        for row in self.classifier.predict_proba(texts):
            best = int(row.argmax())
            results.append((classes[best], float(row[best])))
        return results

    def _wants_dispute_type(self, message: Message) -> bool:
        routes = set(self._config["route_intents"])
        intent = (message.get(INTENT) or {}).get("name")
        if intent in routes or cjk_count(message.get(TEXT) or "") >= int(self._config["story_min_chars"]):
            return True
        # A low-confidence route message still gets a type, for the follow-up question.
        ranking = message.get(INTENT_RANKING_KEY) or []
        top = next((r.get("name") for r in ranking if r.get("name") != "nlu_fallback"), None)
        return intent == "nlu_fallback" and top in routes

    def process(self, messages: List[Message]) -> List[Message]:
        """Adds the `dispute_type` entity to route messages and stories."""
        chosen = [m for m in messages
                  if m.get(TEXT) and not m.get(TEXT).startswith("/") and self._wants_dispute_type(m)]
        for message, (label, confidence) in zip(chosen, self.predict([m.get(TEXT) for m in chosen])):
            entities = [e for e in message.get(ENTITIES, []) if e.get("entity") != ENTITY_NAME]
            entities.append({
                "entity": ENTITY_NAME,
                "value": label,
                "start": 0,
                "end": len(message.get(TEXT)),
                "confidence": confidence,
                "extractor": self.__class__.__name__,
            })
            message.set(ENTITIES, entities, add_to_output=True)
        return messages

    def persist(self) -> None:
        """Saves the model as plain data (nlu_components.linear): a JSON vocabulary and .npz."""
        with self._model_storage.write_to(self._resource) as folder:
            if self.classifier is not None:
                self.classifier.save(folder, "dispute_type")

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "DisputeTypeClassifier":
        """Rebuilds the fitted vectorizer and regression from the saved data."""
        try:
            with model_storage.read_from(resource) as folder:
                classifier = LinearTextClassifier.load(folder, "dispute_type")
        except (ValueError, KeyError, FileNotFoundError) as error:
            logger.warning("Dispute-type model not loaded (%s); every message gets 'other'.", error)
            classifier = None
        return cls(config, model_storage, resource, classifier)
