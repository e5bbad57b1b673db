"""Writing the answers (``core/answers.py`` builds them) under an answers root, concurrently."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from spark_app.core.answers import answer_name
from spark_app.core.uris import join_uri
from spark_app.store import objects

WRITE_THREADS = 16


def write_answers(root: str, answers: Iterable[tuple[str, dict[str, Any]]]) -> int:
    """Write ``(upload key, answer)`` pairs under ``root``; returns how many."""
    items = list(answers)

    def write(item: tuple[str, dict[str, Any]]) -> None:
        key, answer = item
        objects.write_text(join_uri(root, answer_name(key)), json.dumps(answer, sort_keys=True))

    list(objects.io_pool("write", WRITE_THREADS).map(write, items))
    return len(items)
