"""Label rule shared by every input kind: the parent folder's name, when there is one."""

from __future__ import annotations

from pathlib import PurePosixPath


def label_from_relative_path(relative_path: str) -> str | None:
    """Label of a file given its path relative to the input root (POSIX separators).

    ``"Apple Braeburn/1_100.jpg"`` -> ``"Apple Braeburn"``; ``"Training/Kiwi/a.jpg"`` -> ``"Kiwi"``;
    a file directly under the root (``"a.jpg"``) has no label (``None``).
    """
    parts = PurePosixPath(relative_path.strip("/")).parts
    return parts[-2] if len(parts) >= 2 else None
