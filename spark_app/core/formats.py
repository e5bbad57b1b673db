"""Which files the pipeline accepts, shared by spark_app and the ingest Lambda."""

from __future__ import annotations

from pathlib import PurePosixPath

#: File extensions (lower case, with the dot) the pipeline decodes.
SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"}
)

#: Pillow format names accepted after content sniffing (the extension is not trusted;
#: multi-picture JPEGs from phones open as MPO through the JPEG plugin).
SUPPORTED_PIL_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")


def extension_of(name: str) -> str:
    """Lower-case extension of a file name or key, with the dot ('' when none)."""
    return PurePosixPath(name).suffix.lower()


def is_supported_name(name: str) -> bool:
    """True when the file name has an extension the pipeline decodes (case-insensitive)."""
    return extension_of(name) in SUPPORTED_EXTENSIONS


def unsupported_reason(name: str) -> str:
    """Readable reason for rejecting a file by its extension."""
    ext = extension_of(name) or "(none)"
    return f"unsupported file extension {ext}; supported: {', '.join(sorted(SUPPORTED_EXTENSIONS))}"
