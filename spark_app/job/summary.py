"""What a job did: printed at the end and written to ``<output>/runs/<batch_id>.json``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass
class RunSummary:
    """A job's counts, versions and outputs."""

    batch_id: str
    inputs: int
    images: int
    errors: int
    seconds: float
    files_per_second: float  # inputs (images and failed files) per second, start to end
    model_version: str
    model_builds: int
    features_path: str | None  # None when the batch has no image
    errors_path: str | None  # None when the batch has no failed file
    errors_by_stage: dict[str, int] = field(default_factory=dict)
    pca_version: str | None = None
    pca_k: int | None = None
    #: Why the rows have no ``pca`` (no promoted basis yet), when they have none.
    pca_note: str | None = None
    classifier_version: str | None = None
    #: Why the rows have no prediction (no classifier promoted yet, or one of another basis).
    classifier_note: str | None = None
    #: Images whose answer is ``unknown`` (below the confidence threshold).
    unknown_predictions: int = 0
    answers_written: int = 0
    #: Uploads that had an answer already (the answer Lambda's, or an earlier run's): left as they were.
    answers_kept: int = 0
    #: Partition locations registered in the Glue catalog.
    catalog_partitions: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def format_summary(summary: RunSummary) -> str:
    """The human-readable end-of-job summary."""
    stages = ", ".join(f"{k}: {v}" for k, v in summary.errors_by_stage.items())
    lines = [
        f"batch          {summary.batch_id}",
        f"inputs         {summary.inputs}",
        f"images         {summary.images}",
        f"errors         {summary.errors}" + (f"  ({stages})" if summary.errors else ""),
        f"throughput     {summary.files_per_second:.1f} files/s ({summary.seconds:.1f} s in all)",
        f"model          {summary.model_version} (built {summary.model_builds}x on workers)",
    ]
    if summary.pca_version:
        lines.append(f"PCA            {summary.pca_version} (k={summary.pca_k}, promoted)")
    else:
        lines.append(f"PCA            none ({summary.pca_note})")
    if summary.classifier_version:
        lines.append(
            f"classifier     {summary.classifier_version}: {summary.images} predicted, "
            f"{summary.unknown_predictions} unknown"
        )
    else:
        lines.append(f"classifier     none ({summary.classifier_note})")
    if summary.answers_written or summary.answers_kept:
        kept = f", {summary.answers_kept} already answered (kept)" if summary.answers_kept else ""
        lines.append(f"answers        {summary.answers_written} written{kept}")
    lines.append(f"features at    {summary.features_path or 'nothing written (no image in this batch)'}")
    lines.append(f"errors at      {summary.errors_path or 'nothing written (no failed file in this batch)'}")
    return "\n".join(lines)
