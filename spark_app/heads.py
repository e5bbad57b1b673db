"""What the extraction pass computes after the CNN, in NumPy: the PCA projection and the prediction.

When a promoted basis and classifier exist before a batch starts, they travel with the extraction
function (a few hundred KB) and each Arrow batch gets its ``pca`` (``x · components``, the
``PCAModel.transform`` semantics) and its prediction (``softmax(x · Wᵀ + b)`` and the top 3) where the
features already are: no second pass over the 1280-d vectors, no vector conversions, no JVM round trip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from spark_app.classifier_math import softmax_probabilities, top3_answer

RAW, PCA = "raw", "pca"


@dataclass(frozen=True)
class Heads:
    """A PCA basis and/or a classifier to apply to a batch's features (either may be absent)."""

    pca_components: np.ndarray | None = None  # (1280, k)
    pca_version: str | None = None
    classifier_weights: np.ndarray | None = None  # (classes, inputs)
    classifier_intercepts: np.ndarray | None = None
    classifier_labels: tuple[str, ...] = ()
    classifier_features: str = RAW
    classifier_version: str | None = None
    threshold: float = 0.5

    @property
    def predicts(self) -> bool:
        """True when the classifier can run here (its input is the raw features or this basis)."""
        return self.classifier_weights is not None and (
            self.classifier_features == RAW or self.pca_components is not None
        )


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
    if heads is None or not present:
        return out
    x = np.stack([features[i] for i in present]).astype(np.float32)
    projected = None
    if heads.pca_components is not None:
        projected = x @ heads.pca_components.astype(np.float32)
        for row, i in enumerate(present):
            out["pca"][i] = projected[row]
            out["pca_version"][i] = heads.pca_version
    if heads.predicts:
        inputs = x if heads.classifier_features == RAW else projected
        probabilities = softmax_probabilities(inputs, heads.classifier_weights, heads.classifier_intercepts)
        labels = list(heads.classifier_labels)
        for row, i in enumerate(present):
            label, confidence, top_labels, top_p = top3_answer(probabilities[row], labels, heads.threshold)
            out["predicted_label"][i] = label
            out["confidence"][i] = confidence
            out["top3_labels"][i] = top_labels
            out["top3_confidences"][i] = top_p
            out["classifier_version"][i] = heads.classifier_version
    return out


def with_heads(frame: pd.DataFrame, heads: Heads | None) -> pd.DataFrame:
    """``frame`` (one extracted Arrow batch) with the head columns added."""
    for name, values in apply_heads(list(frame["features"]), heads).items():
        frame[name] = values
    return frame
