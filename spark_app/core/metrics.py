"""Classifier metrics in NumPy: top-k accuracy, confusion matrix, recall, macro-F1, the 1-NN baseline."""

from __future__ import annotations

import numpy as np


def top_k_accuracy(probabilities: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Share of rows whose true class index is among the ``k`` most probable."""
    if len(truth) == 0:
        return 0.0
    top = np.argsort(-probabilities, axis=1)[:, :k]
    return float(np.mean([t in row for t, row in zip(truth, top, strict=True)]))


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """``cm[i, j]``: rows of class i predicted as j."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (truth, predicted), 1)
    return cm


def per_class_recall(cm: np.ndarray) -> np.ndarray:
    """Recall of each class (nan for a class absent from the truth)."""
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(cm) / support, np.nan)


def macro_f1(cm: np.ndarray) -> float:
    """Unweighted mean of per-class F1 over the classes present in the truth."""
    tp = np.diag(cm).astype(np.float64)
    predicted, support = cm.sum(axis=0), cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    present = support > 0
    return float(f1[present].mean()) if present.any() else 0.0


def nearest_neighbour_predictions(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray) -> np.ndarray:
    """1-nearest-neighbour (cosine) labels of ``test_x`` among ``train_x``: the baseline."""

    def unit(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    return np.asarray(train_y)[np.argmax(unit(test_x) @ unit(train_x).T, axis=1)]
