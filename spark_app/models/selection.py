"""Choosing the classifier by k-fold cross-validation on curated training rows (NumPy; no Spark here).

The candidates are a multinomial logistic regression for each ``regParam`` of a small grid and a
1-nearest-neighbour head on the same features. Folds are stratified: within each class the images are
ordered by a hash of their id and dealt in turn, so every class is spread over the folds and the folds
never change between runs. Each candidate predicts every held-out image once; the best pooled top-1
wins; a tie goes to the logistic regression (a compact model with calibrated probabilities), and among
those to the strongest regularisation (the least moved by a few odd training images). The logistic
fits themselves are passed in (``fit``: pyspark.ml in :mod:`spark_app.models.classifier`) and may run
concurrently.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from spark_app.core.heads import (
    LOGISTIC,
    NEAREST,
    nearest_class_similarities,
    softmax_probabilities,
    unit_rows,
)

#: Temperatures tried for the nearest-neighbour head's probabilities (cosine similarities are in [-1, 1]).
TEMPERATURES = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2)

#: ``fit(fold, reg_param)`` -> (weights, intercepts) of a logistic regression trained without that fold.
LogisticFit = Callable[[int, float], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Candidate:
    """A head and, for a logistic regression, its ``regParam``."""

    head: str
    reg_param: float | None = None

    @property
    def name(self) -> str:
        return f"{LOGISTIC}(regParam={self.reg_param:g})" if self.head == LOGISTIC else "1-NN"


@dataclass(frozen=True)
class Selection:
    """The cross-validation's outcome: every candidate's pooled top-1, the choice, and why."""

    scores: dict[str, float]
    chosen: Candidate
    folds: int
    held_out: int
    temperature: float  # for a nearest-neighbour head
    note: str = ""


def stratified_folds(labels: Sequence[str], keys: Sequence[str], k: int) -> np.ndarray:
    """The fold (0..k-1) of each row: per class, rows in the order of sha256(key), dealt in turn."""
    folds = np.zeros(len(labels), dtype=np.int64)
    by_class: dict[str, list[int]] = {}
    for row, label in enumerate(labels):
        by_class.setdefault(label, []).append(row)
    offset = 0
    for label in sorted(by_class):
        rows = sorted(by_class[label], key=lambda r: hashlib.sha256(keys[r].encode()).hexdigest())
        for position, row in enumerate(rows):
            folds[row] = (offset + position) % k
        offset += len(rows)  # the next class starts where this one stopped: folds stay balanced
    return folds


def choose(scores: dict[Candidate, float]) -> Candidate:
    """The best pooled top-1; ties: logistic regression first, then the strongest regularisation."""
    return max(scores, key=lambda c: (round(scores[c], 9), c.head == LOGISTIC, c.reg_param or 0.0))


def fit_temperature(similarities: np.ndarray, truth: np.ndarray) -> float:
    """The temperature of :data:`TEMPERATURES` with the lowest log-loss on held-out similarities."""
    if len(truth) == 0:
        return TEMPERATURES[2]

    def log_loss(t: float) -> float:
        logits = similarities.astype(np.float64) / t
        logits -= logits.max(axis=1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return float(-np.mean(np.maximum(log_p[np.arange(len(truth)), truth], -50.0)))

    return min(TEMPERATURES, key=log_loss)


def cross_validate(
    x: np.ndarray,
    y: np.ndarray,
    folds: np.ndarray,
    *,
    n_classes: int,
    reg_params: Sequence[float],
    nearest: bool,
    fit: LogisticFit,
    parallelism: int = 3,
) -> Selection:
    """Score every candidate on every non-empty fold held out; choose (see :func:`choose`)."""
    used = [f for f in sorted(set(folds.tolist())) if np.sum(folds != f) > 0]
    held_out = int(sum(np.sum(folds == f) for f in used))
    candidates = [Candidate(LOGISTIC, r) for r in reg_params] + ([Candidate(NEAREST)] if nearest else [])
    if len(candidates) == 1 or len(used) < 2:
        note = "one candidate" if len(candidates) == 1 else "too few images per class to cross-validate"
        chosen = candidates[0] if len(candidates) == 1 else Candidate(LOGISTIC, max(reg_params))
        return Selection({}, chosen, len(used), 0, TEMPERATURES[2], note)
    correct = dict.fromkeys(candidates, 0)
    jobs = [(f, r) for f in used for r in reg_params]
    with ThreadPoolExecutor(max(1, min(parallelism, len(jobs)))) as pool:
        fitted = dict(zip(jobs, pool.map(lambda job: fit(*job), jobs), strict=True))
    similarities, truths = [], []
    for f in used:
        held = folds == f
        for r in reg_params:
            weights, intercepts = fitted[(f, r)]
            predicted = softmax_probabilities(x[held], weights, intercepts).argmax(axis=1)
            correct[Candidate(LOGISTIC, r)] += int(np.sum(predicted == y[held]))
        if nearest:
            order = np.argsort(y[~held], kind="stable")
            prototypes = unit_rows(x[~held][order])
            best = nearest_class_similarities(x[held], prototypes, y[~held][order], n_classes)
            correct[Candidate(NEAREST)] += int(np.sum(best.argmax(axis=1) == y[held]))
            similarities.append(best)
            truths.append(y[held])
    scores = {c: correct[c] / held_out for c in candidates}
    temperature = (
        fit_temperature(np.concatenate(similarities), np.concatenate(truths)) if nearest else TEMPERATURES[2]
    )
    return Selection(
        {c.name: round(s, 6) for c, s in scores.items()}, choose(scores), len(used), held_out, temperature
    )
