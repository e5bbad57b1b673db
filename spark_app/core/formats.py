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


#: What the app may upload: MIME type -> (extension of the stored key, Pillow format name of the content).
#: Each extension is in SUPPORTED_EXTENSIONS and each format in SUPPORTED_PIL_FORMATS.
APP_UPLOAD_TYPES: dict[str, tuple[str, str]] = {
    "image/jpeg": (".jpg", "JPEG"),
    "image/png": (".png", "PNG"),
    "image/webp": (".webp", "WEBP"),
}

#: Types a phone may offer that the app may not upload, with the reason (HEIC/HEIF: the decoder, Pillow
#: without a HEIF plugin, cannot read them; tests/core checks that Pillow here still cannot).
REFUSED_APP_TYPES: dict[str, str] = {
    "image/heic": "HEIC photos cannot be decoded by the pipeline; send JPEG (the phone converts on export)",
    "image/heif": "HEIF photos cannot be decoded by the pipeline; send JPEG (the phone converts on export)",
}


def app_type_refusal(content_type: str) -> str | None:
    """Why the app may not upload ``content_type`` (None when it may)."""
    if content_type in APP_UPLOAD_TYPES:
        return None
    return REFUSED_APP_TYPES.get(
        content_type,
        f"content type {content_type!r} is not accepted; use one of {', '.join(APP_UPLOAD_TYPES)}",
    )
