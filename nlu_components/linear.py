"""A character n-gram linear text classifier, saved as plain data.

The route, dispute-type and emergency components all use it.  On real citizens' messages a
TF-IDF character n-gram logistic regression generalised better than DIET trained on the same
data (shared/notes/PITFALLS.md, and the comparison in results/nlu-model-choice.json), and it
trains in seconds.

Saved as a JSON vocabulary plus ``.npz`` weights: nothing executable is read back, and loading
takes a fraction of a second.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from knowledge.text import compact


@dataclass(frozen=True)
class LinearSettings:
    """How texts become features and how strongly the regression is regularised."""

    ngram_min: int = 1
    ngram_max: int = 3
    #: n-grams found in more than this share of texts are dropped ("我", "了", "的").
    max_df: float = 0.5
    #: inverse regularisation strength (larger = fits the training data more closely)
    C: float = 30.0
    #: "balanced" weighs each class by the inverse of its size
    class_weight: str | None = "balanced"

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "LinearSettings":
        known = {k: config[k] for k in cls.__dataclass_fields__ if k in config}
        return cls(**known)


def vectorizer(settings: LinearSettings) -> Any:
    """The TF-IDF character n-gram vectorizer, built the same way for training and loading."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        analyzer="char",
        ngram_range=(settings.ngram_min, settings.ngram_max),
        sublinear_tf=True,
        max_df=settings.max_df,
    )


class LinearTextClassifier:
    """TF-IDF character n-grams of the normalised text → multinomial logistic regression."""

    def __init__(self, settings: LinearSettings, vectorizer_: Any = None, model: Any = None) -> None:
        self.settings = settings
        self.vectorizer = vectorizer_
        self.model = model

    @property
    def trained(self) -> bool:
        return self.model is not None

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.model.classes_] if self.model is not None else []

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> "LinearTextClassifier":
        """Fit on `texts` (normalised here) and their labels; needs two labels or more."""
        from sklearn.linear_model import LogisticRegression

        if len(set(labels)) < 2:
            raise ValueError("a classifier needs examples of two labels or more")
        self.vectorizer = vectorizer(self.settings)
        features = self.vectorizer.fit_transform([compact(t) for t in texts])
        # saga: the same solution as lbfgs on these sparse TF-IDF rows (checked on the dev sets),
        # in a fifth of the time.
        self.model = LogisticRegression(
            C=self.settings.C, solver="saga", max_iter=300, tol=1e-3,
            class_weight=self.settings.class_weight,
        )
        self.model.fit(features, list(labels))
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """One row of class probabilities per text, columns in `classes` order."""
        if not self.trained:
            raise RuntimeError("the classifier is not trained")
        return self.model.predict_proba(self.vectorizer.transform([compact(t) for t in texts]))

    def save(self, folder: Path, name: str) -> None:
        """Write <name>.json (vocabulary, settings) and <name>.npz (weights) into `folder`."""
        if not self.trained:
            return
        meta = {
            "settings": self.settings.__dict__,
            "vocabulary": {term: int(i) for term, i in self.vectorizer.vocabulary_.items()},
        }
        (folder / f"{name}.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        np.savez(
            folder / f"{name}.npz",
            idf=self.vectorizer.idf_,
            coef=self.model.coef_,
            intercept=self.model.intercept_,
            classes=np.asarray(self.model.classes_, dtype=str),
        )

    @classmethod
    def load(cls, folder: Path, name: str) -> "LinearTextClassifier | None":
        """The classifier saved by :meth:`save`, or None when there is none."""
        from sklearn.linear_model import LogisticRegression

        meta_path, weights_path = folder / f"{name}.json", folder / f"{name}.npz"
        if not (meta_path.exists() and weights_path.exists()):
            return None
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        settings = LinearSettings(**meta["settings"])
        with np.load(weights_path, allow_pickle=False) as weights:
            idf, coef = weights["idf"], weights["coef"]
            intercept, classes = weights["intercept"], weights["classes"]
        vec = vectorizer(settings)
        vec.vocabulary_ = meta["vocabulary"]
        vec.idf_ = idf
        model = LogisticRegression()
        model.coef_, model.intercept_ = coef, intercept
        model.classes_ = classes.astype(object)
        model.n_features_in_ = coef.shape[1]
        return cls(settings, vec, model)


def files_fingerprint(*paths: str) -> str:
    """A hash of files a component reads besides the training data, for Rasa's cache: a
    component trained on an older copy of them must not be reused."""
    import hashlib

    digest = hashlib.sha256()
    for path in paths:
        try:
            digest.update(Path(path).read_bytes())
        except FileNotFoundError:
            digest.update(b"missing:" + path.encode())
    return digest.hexdigest()
