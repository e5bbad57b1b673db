"""Writing the answers (``core/answers.py`` builds them) under an answers root, concurrently."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from spark_app.core.answers import answer_name
from spark_app.core.uris import join_uri
from spark_app.store import objects

WRITE_THREADS = 16


def write_answers(
    root: str,
    answers: Iterable[tuple[str, dict[str, Any]]],
    on_error: Callable[[str, Exception], None] | None = None,
) -> int:
    """Write ``(upload key, answer)`` pairs under ``root``; returns how many were written.

    A write that fails raises, unless ``on_error`` is given: it then gets ``(upload key, error)`` and
    the other answers are still written.
    """
    items = list(answers)

    def write(item: tuple[str, dict[str, Any]]) -> None:
        key, answer = item
        objects.write_text(join_uri(root, answer_name(key)), json.dumps(answer, sort_keys=True))

    def written(item: tuple[str, dict[str, Any]]) -> bool:
        try:
            write(item)
        except Exception as exc:
            if on_error is None:
                raise
            on_error(item[0], exc)
            return False
        return True

    return sum(objects.io_pool("write", WRITE_THREADS).map(written, items))
