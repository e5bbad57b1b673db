"""Writing the answers (``core/answers.py`` builds them) under an answers root: first writer wins.

An upload's answer is written once. The answer Lambda answers a photo as soon as it lands; the batch
writes the answers that do not exist yet (the instant path failed, or never ran) and leaves the others
as they are, so a re-run or replay of a batch never fails, or changes an answer, because answers exist.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from spark_app.core.answers import answer_name
from spark_app.core.uris import join_uri
from spark_app.store import objects

WRITE_THREADS = 16


def write_answer(root: str, key: str, answer: dict[str, Any]) -> bool:
    """Write one upload's answer unless it has one already; True when this call wrote it."""
    return objects.create_text(join_uri(root, answer_name(key)), json.dumps(answer, sort_keys=True))


def write_answers(
    root: str,
    answers: Iterable[tuple[str, dict[str, Any]]],
    on_error: Callable[[str, Exception], None] | None = None,
) -> int:
    """Write ``(upload key, answer)`` pairs under ``root`` where none exists; returns how many it wrote.

    An answer that exists already (the instant answer, a retried task) is kept, not an error. A write that
    fails raises, unless ``on_error`` is given: it then gets ``(upload key, error)`` and the other answers
    are still written.
    """
    items = list(answers)

    def written(item: tuple[str, dict[str, Any]]) -> bool:
        try:
            return write_answer(root, *item)
        except Exception as exc:
            if on_error is None:
                raise
            on_error(item[0], exc)
            return False

    return sum(objects.io_pool("write", WRITE_THREADS).map(written, items))
