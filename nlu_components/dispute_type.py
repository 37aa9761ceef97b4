"""Dispute-type classifier: adds a `dispute_type` entity to every route message.

Why a separate classifier and not DIET entities: a dispute type is a property of
the whole message ("隔壁的牛吃了我家苞谷" is `neighbour` with no single word saying
so), not a span, and spans that cut through jieba tokens are dropped at training
(RasaHQ/rasa#7689). The labels come from the training data's block metadata:

    - intent: mediation
      metadata:
        dispute_type: neighbour
      examples: |
        - ...

Features are character 1–3-grams of the normalised text plus keyword hits per
type from knowledge/dispute_types.yml; a logistic regression decides. Both the
fitted model and the keywords are persisted in the Rasa model, so a trained model
does not read knowledge/ at run time. Follows the shape of Rasa's own components
(`rasa/nlu/classifiers/logistic_regression_classifier.py`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Text

import numpy as np
import scipy.sparse
import yaml
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from xiangyin.text import compact

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


class KeywordFeatures:
    """Counts, per dispute type, the knowledge keywords found in a text."""

    def __init__(self, keywords: Dict[str, List[str]]) -> None:
        self.types = sorted(keywords)
        self.keywords = {t: sorted({compact(k) for k in keywords[t] if k}) for t in self.types}

    def transform(self, texts: Sequence[str]) -> scipy.sparse.csr_matrix:
        """One row per text, one column per type: sum of matched keyword lengths (log-scaled)."""
        rows = np.zeros((len(texts), len(self.types)), dtype=np.float64)
        for i, text in enumerate(texts):
            norm = compact(text)
            for j, dispute_type in enumerate(self.types):
                hits = sum(len(k) for k in self.keywords[dispute_type] if k in norm)
                rows[i, j] = np.log1p(hits)
        return scipy.sparse.csr_matrix(rows)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True)
class DisputeTypeClassifier(GraphComponent):
    """Classifies the dispute type of petition / mediation / legal-aid messages."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Defaults; each can be overridden in config.yml."""
        return {
            # knowledge file with the keywords of each dispute type
            "keywords_file": "knowledge/dispute_types.yml",
            # intents whose messages get a dispute type
            "route_intents": ["petition", "mediation", "legal_aid"],
            # weight of the keyword columns against the n-gram columns; 0 = n-grams
            # only (5-fold cross-validation on the training data: keywords lowered
            # accuracy, 0.86 → 0.77–0.84, see README "Benchmarks")
            "keyword_weight": 0.0,
            # regularisation of the logistic regression (larger = less)
            "C": 20.0,
            "ngram_max": 3,
            # ignore n-grams in more than this share of messages (e.g. "我家", "了")
            "max_df": 0.5,
            # below this probability, fall back to `fallback_type`
            "min_confidence": 0.0,
            "fallback_type": "other",
        }

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        vectorizer: Any = None,
        classifier: Any = None,
        keywords: Optional[Dict[str, List[str]]] = None,
    ) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.vectorizer = vectorizer
        self.classifier = classifier
        self.keywords = keywords or {}
        self._keyword_features = KeywordFeatures(self.keywords)

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "DisputeTypeClassifier":
        """Creates an untrained component; reads the keywords from knowledge/."""
        path = Path(config.get("keywords_file") or cls.get_default_config()["keywords_file"])
        keywords: Dict[str, List[str]] = {}
        if path.exists():
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            entries = data.get("dispute_types", data)
            if isinstance(entries, dict):
                keywords = {k: list(v.get("keywords") or []) for k, v in entries.items()}
            else:
                keywords = {e["id"]: list(e.get("keywords") or []) for e in entries}
        else:
            logger.warning("No dispute-type keywords at %s; using n-grams only.", path)
        return cls(config, model_storage, resource, keywords=keywords)

    def _features(self, texts: Sequence[str]) -> scipy.sparse.csr_matrix:
        ngrams = self.vectorizer.transform([compact(t) for t in texts])
        weight = float(self._config["keyword_weight"])
        if not self.keywords or weight == 0:
            return ngrams
        return scipy.sparse.hstack([ngrams, self._keyword_features.transform(texts) * weight]).tocsr()

    def train(self, training_data: TrainingData) -> Resource:
        """Fits the classifier on the examples whose block names a dispute type."""
        from sklearn.linear_model import LogisticRegression

        texts, labels = labelled_examples(training_data.intent_examples)
        if len(set(labels)) < 2:
            logger.warning("Fewer than two dispute types in the training data; not training.")
            return self._resource
        self.vectorizer = _vectorizer(int(self._config["ngram_max"]), float(self._config["max_df"]))
        self.vectorizer.fit([compact(t) for t in texts])
        self.classifier = LogisticRegression(
            C=float(self._config["C"]), max_iter=2000, class_weight="balanced"
        )
        self.classifier.fit(self._features(texts), labels)
        self.persist()
        return self._resource

    def predict(self, texts: Sequence[str]) -> List[tuple[str, float]]:
        """(dispute type, probability) for each text."""
        if self.classifier is None or not texts:
            return [(self._config["fallback_type"], 0.0) for _ in texts]
        probabilities = self.classifier.predict_proba(self._features(texts))
        results = []
        for row in probabilities:
            best = int(np.argmax(row))
            label, confidence = str(self.classifier.classes_[best]), float(row[best])
            if confidence < float(self._config["min_confidence"]):
                label = self._config["fallback_type"]
            results.append((label, confidence))
        return results

    def _wants_dispute_type(self, message: Message) -> bool:
        routes = set(self._config["route_intents"])
        intent = (message.get(INTENT) or {}).get("name")
        if intent in routes:
            return True
        # A low-confidence route message still gets a type, for the follow-up question.
        ranking = message.get(INTENT_RANKING_KEY) or []
        top = next((r.get("name") for r in ranking if r.get("name") != "nlu_fallback"), None)
        return intent == "nlu_fallback" and top in routes

    def process(self, messages: List[Message]) -> List[Message]:
        """Adds the `dispute_type` entity to route messages."""
        chosen = [m for m in messages if m.get(TEXT) and self._wants_dispute_type(m)]
        for message, (label, confidence) in zip(chosen, self.predict([m.get(TEXT) for m in chosen])):
            entities = [e for e in message.get(ENTITIES, []) if e.get("entity") != ENTITY_NAME]
            entities.append(
                {
                    "entity": ENTITY_NAME,
                    "value": label,
                    "start": 0,
                    "end": len(message.get(TEXT)),
                    "confidence": confidence,
                    "extractor": self.__class__.__name__,
                }
            )
            message.set(ENTITIES, entities, add_to_output=True)
        return messages

    def persist(self) -> None:
        """Saves what prediction needs as plain data: the n-gram vocabulary and idf weights,
        the regression's coefficients, and the feature settings.

        Not pickles or skops archives: JSON and ``.npz`` cannot run code when read, and they
        load in a fraction of a second (skops took 9 s of the Rasa server's start).
        """
        with self._model_storage.write_to(self._resource) as model_dir:
            if self.classifier is not None and self.vectorizer is not None:
                vocabulary = {term: int(i) for term, i in self.vectorizer.vocabulary_.items()}
                (model_dir / "vocabulary.json").write_text(
                    json.dumps(vocabulary, ensure_ascii=False), encoding="utf-8"
                )
                np.savez(
                    model_dir / "weights.npz",
                    idf=self.vectorizer.idf_,
                    coef=self.classifier.coef_,
                    intercept=self.classifier.intercept_,
                    classes=np.asarray(self.classifier.classes_, dtype=str),
                )
            # The feature settings travel with the model: a later change of a
            # default must not change the columns a trained classifier expects.
            saved = {
                "keywords": self.keywords,
                "keyword_weight": self._config["keyword_weight"],
                "ngram_max": int(self._config["ngram_max"]),
                "max_df": float(self._config["max_df"]),
            }
            (model_dir / "keywords.json").write_text(
                json.dumps(saved, ensure_ascii=False), encoding="utf-8"
            )

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "DisputeTypeClassifier":
        """Rebuilds the fitted vectorizer and regression from the saved data."""
        from sklearn.linear_model import LogisticRegression

        try:
            with model_storage.read_from(resource) as model_dir:
                saved = json.loads((model_dir / "keywords.json").read_text(encoding="utf-8"))
                keywords = saved["keywords"]
                config = {**config, "keyword_weight": saved["keyword_weight"]}
                if not (model_dir / "weights.npz").exists():  # fewer than two types seen
                    return cls(config, model_storage, resource, None, None, keywords)
                vocabulary = json.loads(
                    (model_dir / "vocabulary.json").read_text(encoding="utf-8")
                )
                with np.load(model_dir / "weights.npz", allow_pickle=False) as weights:
                    idf, coef = weights["idf"], weights["coef"]
                    intercept, classes = weights["intercept"], weights["classes"]
            vectorizer = _vectorizer(int(saved["ngram_max"]), float(saved["max_df"]))
            vectorizer.vocabulary_ = vocabulary
            vectorizer.idf_ = idf
            classifier = LogisticRegression()
            classifier.coef_, classifier.intercept_ = coef, intercept
            classifier.classes_ = classes.astype(object)
            classifier.n_features_in_ = coef.shape[1]
            return cls(config, model_storage, resource, vectorizer, classifier, keywords)
        except (ValueError, KeyError, FileNotFoundError) as error:
            logger.warning("Dispute-type model not loaded (%s); every message gets 'other'.", error)
            return cls(config, model_storage, resource)


def _vectorizer(ngram_max: int, max_df: float) -> Any:
    """The character n-gram TF-IDF vectorizer, built the same way for training and loading."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        analyzer="char", ngram_range=(1, ngram_max), sublinear_tf=True, max_df=max_df
    )
