"""Classifier metrics in NumPy: top-k accuracy, confusion matrix, recall, macro-F1, the 1-NN baseline."""

from __future__ import annotations

import numpy as np

from spark_app.core.heads import nearest_class_similarities, unit_rows


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
    """1-nearest-neighbour (cosine) labels of ``test_x`` among ``train_x``: the baseline (computed as the
    nearest-neighbour head computes it, by chunks of rows)."""
    classes, index = np.unique(np.asarray(train_y), return_inverse=True)
    order = np.argsort(index, kind="stable")
    prototypes = unit_rows(np.asarray(train_x)[order])
    best = nearest_class_similarities(test_x, prototypes, index[order], len(classes))
    return classes[np.argmax(best, axis=1)]
