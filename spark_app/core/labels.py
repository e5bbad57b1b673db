"""The label rule shared by every input kind (the parent folder's name), and the ``unknown`` answer."""

from __future__ import annotations

from pathlib import PurePosixPath

#: The answer below the confidence threshold (never a class).
UNKNOWN = "unknown"


def label_from_relative_path(relative_path: str) -> str | None:
    """Label of a file given its path relative to the input root (POSIX separators).

    ``"Apple Braeburn/1_100.jpg"`` -> ``"Apple Braeburn"``; ``"Training/Kiwi/a.jpg"`` -> ``"Kiwi"``;
    a file directly under the root (``"a.jpg"``) has no label (``None``).
    """
    parts = PurePosixPath(relative_path.strip("/")).parts
    return parts[-2] if len(parts) >= 2 else None
