"""The routes and the dispatch: each route validates with pure functions, then calls the edges.

``POST /photos`` grants one upload: a server-made photo id and a presigned POST for exactly its staged
key, content type and size range, after the identity's quota. ``POST /photos/{photo_id}/commit`` checks
the staged object by content (type, header, pixel count) and copies it where the pipeline ingests it,
once; the staged object is deleted whether the commit is accepted or refused.
``POST /photos/{photo_id}/correction`` is in ``corrections.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from lambdas.app_api import aws, store
from lambdas.app_api.aws import AwsClients
from lambdas.app_api.config import (
    ROUTE_COMMIT_UPLOAD,
    ROUTE_CORRECT_PHOTO,
    ROUTE_ERASE_ME,
    ROUTE_REQUEST_UPLOAD,
    AppApiConfig,
)
from lambdas.app_api.corrections import correct_photo
from lambdas.app_api.erasure import erase_me
from lambdas.app_api.http import (
    ApiError,
    ApiRequest,
    Reply,
    error_response,
    json_object,
    parse_event,
    reply_response,
)
from lambdas.app_api.log import logger
from lambdas.app_api.uploads import (
    MAX_REQUEST_BYTES,
    PhotoKeys,
    check_staged,
    checked_photo_id,
    extension_for,
    new_photo_id,
    parse_grant_request,
    photo_keys,
    post_conditions,
    retry_after,
    staged_object,
    staged_prefix,
)
from spark_app.core.image_header import HeaderError, ImageHeader, read_header

Route = Callable[[ApiRequest, AppApiConfig, AwsClients, float], Reply]


def request_upload(request: ApiRequest, config: AppApiConfig, clients: AwsClients, now: float) -> Reply:
    """``POST /photos``: 201 with the photo id, the upload form, the commit path and the answer's place."""
    grant = parse_grant_request(
        json_object(request.body, max_bytes=MAX_REQUEST_BYTES), max_bytes=config.max_object_bytes
    )
    if not store.take_upload(
        clients.dynamodb,
        config.identity_table,
        request.identity_id,
        now=now,
        limit=config.uploads_per_window,
        window_seconds=config.quota_window_seconds,
    ):
        wait = retry_after(now, config.quota_window_seconds)
        raise ApiError(
            429,
            "quota_exceeded",
            f"at most {config.uploads_per_window} uploads per {config.quota_window_seconds} s per identity; "
            f"retry in {wait} s",
            {"retry-after": str(wait)},
        )
    keys = photo_keys(config, request.identity_id, new_photo_id(), extension_for(grant.content_type))
    form = aws.presign_post(
        clients.s3,
        bucket=config.ingestion_bucket,
        key=keys.staged,
        content_type=grant.content_type,
        conditions=post_conditions(grant.content_type, config.max_object_bytes),
        expires_in=config.grant_seconds,
    )
    expires = datetime.fromtimestamp(now + config.grant_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Reply(
        201,
        {
            "photo_id": keys.photo_id,
            "upload": {**form, "expires_at": expires, "max_bytes": config.max_object_bytes},
            "commit": {"method": "POST", "path": f"/photos/{keys.photo_id}/commit"},
            "answer": _answer_place(config, keys),
        },
    )


def commit_upload(request: ApiRequest, config: AppApiConfig, clients: AwsClients, now: float) -> Reply:
    """``POST /photos/{photo_id}/commit``: 202 when the photo entered the pipeline."""
    photo_id = checked_photo_id(request.path_parameters.get("photo_id"))
    bucket = config.ingestion_bucket
    listed = aws.list_keys(
        clients.s3, bucket=bucket, prefix=staged_prefix(config, request.identity_id, photo_id)
    )
    keys, size = staged_object(config, request.identity_id, photo_id, listed)
    try:
        check_staged(
            keys, size, _header(clients.s3, bucket, keys.staged, size), max_bytes=config.max_object_bytes
        )
        _copy_once(request.identity_id, keys, config, clients, now)
    except ApiError:
        aws.delete_object(clients.s3, bucket=bucket, key=keys.staged)
        raise
    aws.delete_object(clients.s3, bucket=bucket, key=keys.staged)
    return Reply(
        202,
        {"photo_id": photo_id, "status": "accepted", "answer": _answer_place(config, keys)},
    )


def _header(s3: Any, bucket: str, key: str, size: int) -> ImageHeader | HeaderError:
    try:
        return read_header(aws.range_reader(s3, bucket=bucket, key=key, size=size))
    except HeaderError as error:
        return error


def _copy_once(
    identity_id: str, keys: PhotoKeys, config: AppApiConfig, clients: AwsClients, now: float
) -> None:
    """Record the commit (refused when recorded already), then copy; a failed copy forgets the record."""
    reused = ApiError(
        409, "already_committed", "this photo id was committed already: ask POST /photos for a new one"
    )
    table = config.identity_table
    if not store.record_commit(
        clients.dynamodb,
        table,
        identity_id,
        keys.photo_id,
        upload_key=keys.upload,
        now=now,
        keep_seconds=config.commit_record_seconds,
    ):
        raise reused
    try:
        copied = aws.copy_if_absent(
            clients.s3, bucket=config.ingestion_bucket, source=keys.staged, target=keys.upload
        )
    except Exception:
        store.forget_commit(clients.dynamodb, table, identity_id, keys.photo_id)
        raise
    if not copied:
        raise reused


def _answer_place(config: AppApiConfig, keys: PhotoKeys) -> dict[str, str]:
    return {"bucket": config.results_bucket, "key": keys.answer}


ROUTES: Mapping[str, Route] = {
    ROUTE_REQUEST_UPLOAD: request_upload,
    ROUTE_COMMIT_UPLOAD: commit_upload,
    ROUTE_CORRECT_PHOTO: correct_photo,  # lambdas/app_api/corrections.py
    ROUTE_ERASE_ME: erase_me,  # lambdas/app_api/erasure.py
}


def dispatch(
    event: Mapping[str, Any], config: AppApiConfig, clients: AwsClients, now: float
) -> dict[str, Any]:
    """One API Gateway event -> its payload-v2 response (refusals are 4xx replies, never exceptions)."""
    try:
        request = parse_event(event)
        route = ROUTES.get(request.route)
        if route is None:
            raise ApiError(404, "not_found", f"no route {request.route!r}")
        reply = route(request, config, clients, now)
    except ApiError as error:
        logger.info(
            "Refused", extra={"route": event.get("routeKey"), "status": error.status, "error": error.code}
        )
        return error_response(error)
    logger.info("Served", extra={"route": request.route, "status": reply.status})
    return reply_response(reply)
