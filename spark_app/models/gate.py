"""The classifier's promotion gate: never promote a classifier that does worse on curated data.

Training records a verdict in the new version's metadata (``gate``), computed on its curated
validation images (never built from corrections):

- its top-1 must at least match the 1-nearest-neighbour baseline on the same features and images;
- its top-1 must not fall more than ``tolerance`` (half a point) below the promoted classifier's top-1
  on the very same images, the promoted version's arrays applied with the NumPy heads (as batches and
  the answer Lambda apply them).

A promoted classifier that cannot be applied to those images (another CNN, or a PCA basis the store
has left: it no longer predicts at all) is not a reference; the verdict says so. ``promote --gate``
(:func:`promote_if_passed`) promotes a version only if its verdict passed *and* LATEST still names the
version it was compared with (a conditional write: a promotion in between makes it refuse).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from spark_app.core.heads import PCA, Classifier, class_probabilities
from spark_app.core.uris import join_uri
from spark_app.models import registry

GATE_KEY = "gate"


class GateRefused(registry.PromotionError):
    """The gate refused a version: nothing was promoted (the message says why)."""


@dataclass(frozen=True)
class Verdict:
    """Whether a new classifier may be promoted, and the numbers that decided it."""

    passed: bool
    against: str | None  # the version LATEST named when judged (None: nothing was promoted)
    top1: float
    baseline_top1: float
    promoted_top1: float | None
    validation_images: int
    tolerance: float
    reasons: tuple[str, ...]
    note: str = ""

    def to_info(self) -> dict[str, Any]:
        return {**asdict(self), "reasons": list(self.reasons)}


@dataclass(frozen=True)
class ValidationSet:
    """The curated validation images as the gate needs them: raw features, their PCA rows, labels."""

    raw: np.ndarray  # (images, 1280)
    pca: list[np.ndarray | None]
    pca_versions: list[str | None]
    labels: np.ndarray  # true label of each image
    model_version: str


def top1_of(classifier: Classifier, inputs: np.ndarray, truth: np.ndarray) -> float:
    """Share of images whose most probable class (no threshold) is the true label."""
    predicted = np.asarray(classifier.labels)[class_probabilities(classifier, inputs).argmax(axis=1)]
    return float(np.mean(predicted == truth)) if len(truth) else 0.0


def promoted_top1(promoted: Classifier, valid: ValidationSet) -> tuple[float | None, str]:
    """The promoted classifier's top-1 on ``valid``, or None and why it cannot be applied."""
    if promoted.model_version != valid.model_version:
        return None, f"{promoted.version} is of another CNN ({promoted.model_version}): nothing to compare"
    if promoted.features != PCA:
        return top1_of(promoted, valid.raw, valid.labels), ""
    if any(v != promoted.pca_version for v in valid.pca_versions):
        return None, (
            f"{promoted.version} takes the projection on {promoted.pca_version}, which the store has left "
            "(it no longer predicts): nothing to compare"
        )
    return top1_of(promoted, np.stack(valid.pca), valid.labels), ""


def judge(
    *, top1: float, baseline_top1: float, promoted: Classifier | None, valid: ValidationSet, tolerance: float
) -> Verdict:
    """The verdict for a new classifier of validation top-1 ``top1`` (see the module's rules)."""
    reasons = []
    if top1 < baseline_top1 - 1e-12:
        reasons.append(f"top-1 {top1:.4f} is below the 1-NN baseline {baseline_top1:.4f}")
    reference, note = (None, "nothing promoted yet") if promoted is None else promoted_top1(promoted, valid)
    if reference is not None and top1 < reference - tolerance - 1e-12:
        reasons.append(
            f"top-1 {top1:.4f} is more than {100 * tolerance:g} point below the promoted "
            f"{promoted.version}'s {reference:.4f} on the same {len(valid.labels)} curated images"
        )
    return Verdict(
        passed=not reasons,
        against=promoted.version if promoted is not None else None,
        top1=round(top1, 6),
        baseline_top1=round(baseline_top1, 6),
        promoted_top1=None if reference is None else round(reference, 6),
        validation_images=len(valid.labels),
        tolerance=tolerance,
        reasons=tuple(reasons),
        note=note,
    )


def promote_if_passed(classifier_dir: str, version: str = registry.NEWEST) -> registry.Promotion:
    """Promote ``version`` (or the newest) if its gate verdict passed against what LATEST names now."""
    if version == registry.NEWEST:
        complete = registry.complete_versions(classifier_dir)
        if not complete:
            raise registry.PromotionError(f"no complete version in {classifier_dir} to promote")
        version = complete[-1].name
    verdict = registry.read_version(join_uri(classifier_dir, version)).info.get(GATE_KEY)
    if not verdict:
        raise GateRefused(f"{version} has no gate verdict (trained before the gate)")
    if not verdict["passed"]:
        raise GateRefused(f"the gate refused {version}: {'; '.join(verdict['reasons'])}; nothing promoted")
    return registry.promote(classifier_dir, version, expect_previous=verdict["against"])
