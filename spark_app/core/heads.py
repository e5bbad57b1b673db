"""What runs after the CNN, in NumPy: the projection on a PCA basis and the classifier's prediction.

A promoted basis and classifier are arrays (a few hundred KB; a nearest-neighbour head up to 25 MB). The
batch job ships them with its extraction function and each Arrow batch gets its ``pca`` (``x ·
components``, the semantics of pyspark.ml's ``PCAModel.transform``) and its prediction (the class
probabilities and the top 3) where the features already are; the answer Lambda applies the very same
functions to one photo. A classifier's head is a multinomial logistic regression (``softmax(x · Wᵀ +
b)``) or a 1-nearest-neighbour over unit-normalized training features (``softmax(s / T)`` of each
class's best cosine similarity ``s``: its top 1 is exactly the 1-NN's answer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from spark_app.core.defaults import CONFIDENCE_THRESHOLD
from spark_app.core.labels import UNKNOWN

if TYPE_CHECKING:  # pandas only for the batch's frames: the answer Lambda ships without it
    import pandas as pd

#: What a classifier takes: the raw 1280-d features or their projection on a PCA basis.
RAW, PCA = "raw", "pca"
FEATURE_KINDS = (RAW, PCA)
#: A classifier's head: a multinomial logistic regression, or the nearest training image (cosine).
LOGISTIC, NEAREST = "logistic", "nearest"
HEAD_KINDS = (LOGISTIC, NEAREST)
#: Rows of features compared with a nearest-neighbour head's training images at once (bounds memory).
NEAREST_CHUNK_ROWS = 256


class ModelMismatch(ValueError):
    """A basis or classifier made from another CNN's features than the batch's (the message says which)."""


@dataclass(frozen=True)
class Basis:
    """A PCA basis: the first k principal components of the features of one CNN."""

    version: str
    components: np.ndarray  # (1280, k)
    model_version: str  # the CNN whose features it was fitted on
    explained_variance: tuple[float, ...] = ()

    @property
    def k(self) -> int:
        return int(self.components.shape[1])


@dataclass(frozen=True)
class Classifier:
    """A classifier over raw features or over one basis's projection: a multinomial logistic regression
    (``weights``, ``intercepts``) or a nearest-neighbour head (``prototypes``, ``prototype_labels``)."""

    version: str
    weights: np.ndarray | None  # (classes, inputs); None for a nearest-neighbour head
    intercepts: np.ndarray | None  # (classes,); None for a nearest-neighbour head
    labels: tuple[str, ...]
    features: str  # RAW or PCA
    model_version: str  # the CNN whose features it was trained on
    pca_version: str | None = None  # the basis of its inputs, for PCA features
    head: str = LOGISTIC
    prototypes: np.ndarray | None = None  # (images, inputs) float32, unit rows, sorted by label index
    prototype_labels: np.ndarray | None = None  # (images,) label indices, ascending
    temperature: float = 1.0  # of the nearest-neighbour head's softmax


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1 (float32; a zero row stays zero)."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def nearest_class_similarities(
    x: np.ndarray, prototypes: np.ndarray, prototype_labels: np.ndarray, n_classes: int
) -> np.ndarray:
    """``(rows, classes)``: the best cosine similarity of each row with each class's training images
    (``-inf`` for a class without any). ``prototypes`` are unit rows sorted by ``prototype_labels``."""
    labels = np.asarray(prototype_labels)
    if labels.size == 0 or np.any(np.diff(labels) < 0):
        raise ValueError("prototype labels must be non-empty and in ascending order")
    present, starts = np.unique(labels, return_index=True)
    units = unit_rows(x)
    best = np.full((len(units), n_classes), -np.inf, dtype=np.float32)
    for start in range(0, len(units), NEAREST_CHUNK_ROWS):
        similarities = units[start : start + NEAREST_CHUNK_ROWS] @ prototypes.T
        best[start : start + NEAREST_CHUNK_ROWS, present] = np.maximum.reduceat(similarities, starts, axis=1)
    return best


def scaled_softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(scores / temperature)`` per row (``-inf`` scores get probability 0)."""
    logits = np.asarray(scores, dtype=np.float64) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def class_probabilities(classifier: Classifier, inputs: np.ndarray) -> np.ndarray:
    """``(rows, classes)`` probabilities of ``classifier`` for its inputs (raw features or projections)."""
    if classifier.head == NEAREST:
        similarities = nearest_class_similarities(
            inputs, classifier.prototypes, classifier.prototype_labels, len(classifier.labels)
        )
        return scaled_softmax(similarities, classifier.temperature)
    return softmax_probabilities(inputs, classifier.weights, classifier.intercepts)


def softmax_probabilities(x: np.ndarray, weights: np.ndarray, intercepts: np.ndarray) -> np.ndarray:
    """Multinomial logistic regression: ``softmax(x · Wᵀ + b)`` per row (numerically stable)."""
    logits = np.asarray(x, dtype=np.float64) @ np.asarray(weights, dtype=np.float64).T + intercepts
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def top3_answer(
    probabilities: np.ndarray, labels: list[str], threshold: float
) -> tuple[str, float, list[str], list[float]]:
    """(answer, its confidence, the 3 most probable labels, their probabilities); the answer is
    ``unknown`` when the most probable label is below ``threshold``."""
    order = np.argsort(-probabilities)[:3]
    top_labels = [labels[i] for i in order]
    top_p = [float(probabilities[i]) for i in order]
    answer = top_labels[0] if top_p[0] >= threshold else UNKNOWN
    return answer, top_p[0], top_labels, top_p


@dataclass(frozen=True)
class Heads:
    """The basis and/or classifier applied to features of one CNN (either may be absent)."""

    basis: Basis | None = None
    classifier: Classifier | None = None
    threshold: float = CONFIDENCE_THRESHOLD

    @classmethod
    def for_model(
        cls,
        model_version: str,
        basis: Basis | None,
        classifier: Classifier | None,
        threshold: float = CONFIDENCE_THRESHOLD,
    ) -> Heads:
        """The heads for features of ``model_version``'s CNN.

        Raises :class:`ModelMismatch` for a basis or classifier of another CNN (e.g. fp32 ones for an
        int8 batch). A PCA classifier trained on another basis than ``basis`` is left out (no prediction
        until a classifier is trained on the promoted basis).
        """
        for kind, model in (("PCA basis", basis), ("classifier", classifier)):
            if model is not None and model.model_version != model_version:
                raise ModelMismatch(
                    f"{kind} {model.version} was made from {model.model_version} features, not "
                    f"{model_version}: fit and promote one for this model "
                    "(or run with the model it was made for)"
                )
        return cls(basis, classifier if predicts_on(classifier, basis) else None, threshold)

    @property
    def empty(self) -> bool:
        return self.basis is None and self.classifier is None


def predicts_on(classifier: Classifier | None, basis: Basis | None) -> bool:
    """True when ``classifier`` can run next to ``basis``: on raw features, or on that very basis."""
    if classifier is None:
        return False
    return classifier.features == RAW or (basis is not None and basis.version == classifier.pca_version)


HEAD_COLUMNS = (
    "pca",
    "pca_version",
    "predicted_label",
    "confidence",
    "top3_labels",
    "top3_confidences",
    "classifier_version",
)


def apply_heads(features: list, heads: Heads | None) -> dict[str, list]:
    """The head columns for a batch's ``features`` (None for rows without features)."""
    n = len(features)
    out: dict[str, list] = {name: [None] * n for name in HEAD_COLUMNS}
    present = [i for i, f in enumerate(features) if f is not None]
    if heads is None or heads.empty or not present:
        return out
    x = np.stack([features[i] for i in present]).astype(np.float32)
    projected = None
    if heads.basis is not None:
        projected = x @ heads.basis.components.astype(np.float32)
        for row, i in enumerate(present):
            out["pca"][i] = projected[row]
            out["pca_version"][i] = heads.basis.version
    clf = heads.classifier
    if clf is not None:
        inputs = x if clf.features == RAW else projected
        probabilities = class_probabilities(clf, inputs)
        labels = list(clf.labels)
        for row, i in enumerate(present):
            label, confidence, top_labels, top_p = top3_answer(probabilities[row], labels, heads.threshold)
            out["predicted_label"][i] = label
            out["confidence"][i] = confidence
            out["top3_labels"][i] = top_labels
            out["top3_confidences"][i] = top_p
            out["classifier_version"][i] = clf.version
    return out


def with_heads(frame: pd.DataFrame, heads: Heads | None) -> pd.DataFrame:
    """``frame`` (one extracted batch) with the head columns added."""
    for name, values in apply_heads(list(frame["features"]), heads).items():
        frame[name] = values
    return frame
