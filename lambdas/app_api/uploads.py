"""The upload rules, pure: what a grant allows, where each object goes, what the commit accepts.

An identity's photo lives at ``<staging>/<identity>/<photo id>.<ext>`` while staged (written by the
app with the presigned POST), then at ``<uploads>/<identity>/<photo id>.<ext>`` once committed (what the
pipeline ingests), and its answer at ``<answers><uploads>/<identity>/<photo id>.<ext>.json``. The photo
id is a server-made UUID; the extension follows the declared content type.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lambdas.app_api.config import AppApiConfig
from lambdas.app_api.http import ApiError
from spark_app.core.answers import answer_name
from spark_app.core.formats import APP_UPLOAD_TYPES, app_type_refusal
from spark_app.core.image_header import (
    HeaderError,
    ImageHeader,
    NotAnImageError,
    TooManyPixelsError,
    check_pixels,
)

#: A grant request's body is a tiny JSON object.
MAX_REQUEST_BYTES = 4096
#: The smallest object the POST policy admits (an empty upload is refused by S3).
MIN_OBJECT_BYTES = 1


@dataclass(frozen=True)
class GrantRequest:
    """What the app declares before uploading: the content type and the size in bytes."""

    content_type: str
    size: int


@dataclass(frozen=True)
class PhotoKeys:
    """The keys of one photo: staged, committed, and its answer (results bucket)."""

    photo_id: str
    extension: str
    staged: str
    upload: str
    answer: str


def parse_grant_request(body: dict[str, Any], *, max_bytes: int) -> GrantRequest:
    """``{"content_type": ..., "size": ...}`` validated: 400 malformed, 413 too large, 415 refused type."""
    content_type, size = body.get("content_type"), body.get("size")
    if not isinstance(content_type, str) or not content_type.strip():
        raise ApiError(400, "bad_request", "content_type must be a non-empty string, e.g. 'image/jpeg'")
    if isinstance(size, bool) or not isinstance(size, int) or size < MIN_OBJECT_BYTES:
        raise ApiError(400, "bad_request", "size must be the photo's size in bytes (a positive integer)")
    if size > max_bytes:
        raise ApiError(413, "too_large", f"the photo is {size} bytes; the limit is {max_bytes} bytes")
    normalised = content_type.strip().lower()
    refusal = app_type_refusal(normalised)
    if refusal:
        raise ApiError(415, "unsupported_type", refusal)
    return GrantRequest(content_type=normalised, size=size)


def new_photo_id() -> str:
    """A server-made photo id (random UUID, canonical form)."""
    return str(uuid.uuid4())


def checked_photo_id(value: str | None) -> str:
    """The photo id of a commit path; 400 unless it is a canonical UUID (as the grant made it)."""
    try:
        if value and str(uuid.UUID(value)) == value:
            return value
    except ValueError:
        pass
    raise ApiError(400, "bad_request", "photo_id must be the id returned by POST /photos")


def photo_keys(config: AppApiConfig, identity_id: str, photo_id: str, extension: str) -> PhotoKeys:
    """Every key of one photo of one identity."""
    name = f"{identity_id}/{photo_id}{extension}"
    upload = f"{config.uploads_prefix}{name}"
    return PhotoKeys(
        photo_id=photo_id,
        extension=extension,
        staged=f"{config.staging_prefix}{name}",
        upload=upload,
        answer=config.answers_prefix + answer_name(upload),
    )


def staged_prefix(config: AppApiConfig, identity_id: str, photo_id: str) -> str:
    """The listing prefix of a photo's staged object (any extension)."""
    return f"{config.staging_prefix}{identity_id}/{photo_id}."


def post_conditions(content_type: str, max_bytes: int) -> list[Any]:
    """The POST policy's conditions besides bucket and key (which boto3 adds as exact matches)."""
    return [{"Content-Type": content_type}, ["content-length-range", MIN_OBJECT_BYTES, max_bytes]]


def extension_for(content_type: str) -> str:
    """The key extension of an accepted content type."""
    return APP_UPLOAD_TYPES[content_type][0]


def staged_object(
    config: AppApiConfig, identity_id: str, photo_id: str, listed: Sequence[tuple[str, int]]
) -> tuple[PhotoKeys, int]:
    """The photo's keys and staged size from a listing of ``(key, size)``; 404 when nothing was staged."""
    by_key = dict(listed)
    for _, (extension, _) in APP_UPLOAD_TYPES.items():
        keys = photo_keys(config, identity_id, photo_id, extension)
        if keys.staged in by_key:
            return keys, by_key[keys.staged]
    raise ApiError(
        404,
        "not_uploaded",
        "nothing was uploaded for this photo id: upload it with the form from POST /photos before it expires",
    )


def check_staged(keys: PhotoKeys, size: int, header: ImageHeader | HeaderError, *, max_bytes: int) -> None:
    """Refuse what must not enter the pipeline: oversize, not an image, wrong type, bomb, corrupt."""
    if size > max_bytes:
        raise ApiError(413, "too_large", f"the photo is {size} bytes; the limit is {max_bytes} bytes")
    expected = next(fmt for ext, fmt in APP_UPLOAD_TYPES.values() if ext == keys.extension)
    if isinstance(header, NotAnImageError):
        raise ApiError(415, "not_an_image", f"{header}; it was declared {_declared(keys)}")
    if isinstance(header, TooManyPixelsError):
        raise ApiError(422, "too_many_pixels", str(header))
    if isinstance(header, HeaderError):
        raise ApiError(422, "unreadable_image", str(header))
    if header.format != expected:
        raise ApiError(
            415, "type_mismatch", f"content is {header.format}, but the upload was declared {_declared(keys)}"
        )
    try:
        check_pixels(header)
    except TooManyPixelsError as error:
        raise ApiError(422, "too_many_pixels", str(error)) from None


def _declared(keys: PhotoKeys) -> str:
    return next(t for t, (ext, _) in APP_UPLOAD_TYPES.items() if ext == keys.extension)


def retry_after(now: float, window_seconds: int) -> int:
    """Seconds until the current quota window ends (at least 1)."""
    return max(1, math.ceil((math.floor(now / window_seconds) + 1) * window_seconds - now))
