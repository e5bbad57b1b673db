"""The single pass's bookkeeping: what each partition produced, gathered on the driver exactly once.

When a batch needs no fit, its extraction pass is the only pass: each Arrow batch's failed files are
taken out of the stream (their rows go to the driver, which writes the small ``errors`` partition),
its answers are written right there on the executor, and the images flow on to the Parquet writer.
Per partition, the counts and error rows travel back in an accumulator keyed by partition index, so
a task that Spark runs twice (retry, speculation) is counted once: the accounting stays exact
without a cache or a count job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from spark_app.core.answers import frame_answers, is_missing
from spark_app.core.extract import STAGE_ANSWER
from spark_app.core.heads import UNKNOWN
from spark_app.store.answers import write_answers

#: Columns of a failed file's row that reach the driver.
ERROR_FIELDS = ("path", "label", "error_stage", "error")


@dataclass(frozen=True)
class PartitionOutcome:
    """What one partition of the extraction pass produced."""

    images: int = 0
    errors: tuple[tuple[str | None, ...], ...] = ()  # rows of ERROR_FIELDS
    answers: int = 0
    unknown: int = 0
    #: Uploads answered already (by the answer Lambda or an earlier run): their answers were left alone.
    answers_kept: int = 0


class OutcomesParam:
    """Spark ``AccumulatorParam`` of ``{partition index: PartitionOutcome}``; a re-run replaces."""

    def zero(self, value: dict[int, PartitionOutcome]) -> dict[int, PartitionOutcome]:
        return {}

    def addInPlace(
        self, total: dict[int, PartitionOutcome], update: dict[int, PartitionOutcome]
    ) -> dict[int, PartitionOutcome]:
        total.update(update)
        return total


@dataclass(frozen=True)
class BatchOutcome:
    """A batch's totals on the driver; images and errors always add up to its inputs."""

    images: int
    errors: int
    by_stage: dict[str, int]
    answers: int = 0
    unknown: int = 0
    answers_kept: int = 0
    #: The failed files' rows (ERROR_FIELDS), when they came back with the outcomes.
    error_rows: list[dict[str, Any]] = field(default_factory=list)


def check_accounting(images: int, errors: int, inputs: int) -> None:
    """Refuse a batch whose images and failed files do not add up to its inputs."""
    if images + errors != inputs:
        raise RuntimeError(f"accounting mismatch: {images} rows + {errors} errors != {inputs} inputs")


def total(outcomes: dict[int, PartitionOutcome], inputs: int) -> BatchOutcome:
    """Add the partitions up; refuses a batch whose outcomes do not add up to its inputs."""
    images = sum(o.images for o in outcomes.values())
    rows = [dict(zip(ERROR_FIELDS, e, strict=True)) for _, o in sorted(outcomes.items()) for e in o.errors]
    check_accounting(images, len(rows), inputs)
    by_stage: dict[str, int] = {}
    for row in rows:
        by_stage[row["error_stage"]] = by_stage.get(row["error_stage"], 0) + 1
    return BatchOutcome(
        images=images,
        errors=len(rows),
        by_stage=dict(sorted(by_stage.items())),
        answers=sum(o.answers for o in outcomes.values()),
        unknown=sum(o.unknown for o in outcomes.values()),
        answers_kept=sum(o.answers_kept for o in outcomes.values()),
        error_rows=rows,
    )


@dataclass(frozen=True)
class AnswerTarget:
    """Where and how a batch's answers are written."""

    root: str
    input_root: str | None
    batch_id: str
    model_version: str

    def answers(self, frame: pd.DataFrame) -> list[tuple[str, dict[str, Any]]]:
        """``(upload key, answer)`` of every row of an extracted batch."""
        return frame_answers(
            frame, batch_id=self.batch_id, model_version=self.model_version, input_root=self.input_root
        )

    def write(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, int, int]:
        """Write every row's answer that does not exist yet; returns the batch as accounted for, how many
        answers this call wrote and how many it kept (they existed already: the instant answer, a retry).

        An answer that cannot be written (a key over S3's 1,024 bytes, a refused or failed request)
        makes its image that upload's error (stage ``answer``), whose error answer is then tried once;
        a failed file whose error answer cannot be written keeps its error and says so. Nothing of it
        fails the batch.
        """
        pairs = self.answers(frame)
        lost: dict[str, str] = {}
        written = write_answers(self.root, pairs, on_error=lambda key, exc: lost.setdefault(key, _line(exc)))
        kept = len(pairs) - written - len(lost)
        if not lost:
            return frame, written, kept
        missing = np.array([key in lost for key, _ in pairs])
        failed = frame["error"].notna().to_numpy()
        frame = frame.copy()
        images, files = missing & ~failed, missing & failed
        reasons = [f"answer not written: {lost[key]}" for (key, _), m in zip(pairs, images, strict=True) if m]
        frame.loc[images, "error_stage"] = STAGE_ANSWER
        frame.loc[images, "error"] = reasons
        frame.loc[files, "error"] = [
            f"{e} (error answer not written either)" for e in frame.loc[files, "error"]
        ]
        written += write_answers(self.root, self.answers(frame.loc[images]), on_error=lambda _key, _exc: None)
        return frame, written, kept


@dataclass
class OutcomeRecorder:
    """Executor side of the single pass: ``mapInPandas`` post-processing of the extracted batches.

    Yields only the images (with their head columns), writes every row's answer that does not exist yet
    when a ``target`` is given, and reports one :class:`PartitionOutcome` per partition through ``report``.
    """

    report: Callable[[dict[int, PartitionOutcome]], None]
    partition_index: Callable[[], int]
    target: AnswerTarget | None = None

    def __call__(self, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        images = answers = unknown = kept = 0
        errors: list[tuple[str | None, ...]] = []
        for batch in batches:
            if self.target is not None:
                batch, written, existing = self.target.write(batch)
                answers, kept = answers + written, kept + existing
            failed = batch["error"].notna()
            errors += [tuple(_none(v) for v in row) for row in batch.loc[failed, list(ERROR_FIELDS)].values]
            ok = batch.loc[~failed].reset_index(drop=True)
            images += len(ok)
            if self.target is not None:
                unknown += int((ok["predicted_label"] == UNKNOWN).sum())
            if len(ok):
                yield ok
        outcome = PartitionOutcome(images, tuple(errors), answers, unknown, kept)
        self.report({self.partition_index(): outcome})


def _none(value: Any) -> Any:
    return None if is_missing(value) else value


def _line(exc: Exception) -> str:
    """An error's first line (or its type)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def task_partition_index() -> int:
    """The running Spark task's partition (0 outside a task, e.g. in unit tests)."""
    from pyspark import TaskContext

    context = TaskContext.get()
    return context.partitionId() if context is not None else 0
