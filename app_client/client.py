"""The app's side of the contract (docs/app-api.md): identity, credentials, upload, commit, answer,
correction."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.credentials import Credentials

from app_client.http import HttpResponse, Transport, Urllib3Transport, form_post, s3_error, signed_api_request

#: Credentials are renewed this long before they expire.
RENEW_BEFORE = timedelta(minutes=5)


class AppApiError(RuntimeError):
    """A refusal of the API or of S3: HTTP status, error code and message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class AppSettings:
    """What an app build is configured with (the stack outputs IdentityPoolId and AppApiUrl)."""

    identity_pool_id: str
    api_url: str

    @property
    def region(self) -> str:
        """The pool's region (an identity pool id is ``<region>:<uuid>``)."""
        return self.identity_pool_id.split(":", 1)[0]


@dataclass(frozen=True)
class Grant:
    """One upload grant: the photo id, the form to POST, where to commit, where the answer appears."""

    photo_id: str
    url: str
    fields: dict[str, str]
    commit_path: str
    answer_bucket: str
    answer_key: str
    max_bytes: int

    @classmethod
    def from_reply(cls, reply: Mapping[str, Any]) -> Grant:
        return cls(
            photo_id=reply["photo_id"],
            url=reply["upload"]["url"],
            fields=dict(reply["upload"]["fields"]),
            commit_path=reply["commit"]["path"],
            answer_bucket=reply["answer"]["bucket"],
            answer_key=reply["answer"]["key"],
            max_bytes=int(reply["upload"]["max_bytes"]),
        )


class AppClient:
    """One app install: one identity (kept across runs by passing ``identity_id``)."""

    def __init__(
        self,
        settings: AppSettings,
        *,
        identity_id: str | None = None,
        api_transport: Transport | None = None,
        http: Transport | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.settings = settings
        self.identity_id = identity_id
        self._api = api_transport or Urllib3Transport()
        self._http = http or Urllib3Transport()
        self._clock = clock
        # GetId and GetCredentialsForIdentity are public calls: the app has no AWS keys to sign with.
        self._cognito = boto3.client(
            "cognito-identity", region_name=settings.region, config=Config(signature_version=UNSIGNED)
        )
        self._credentials: Credentials | None = None
        self._expires: datetime = datetime.min.replace(tzinfo=UTC)
        self._s3: Any = None

    # -- identity and credentials ---------------------------------------------------------------

    def identity(self) -> str:
        """This install's identity id, asked once from the identity pool (a guest identity)."""
        if self.identity_id is None:
            self.identity_id = self._cognito.get_id(IdentityPoolId=self.settings.identity_pool_id)[
                "IdentityId"
            ]
        return self.identity_id

    def credentials(self) -> Credentials:
        """Temporary credentials of the identity's role, renewed shortly before they expire."""
        if self._credentials is None or self._clock() >= self._expires - RENEW_BEFORE:
            issued = self._cognito.get_credentials_for_identity(IdentityId=self.identity())["Credentials"]
            self._credentials = Credentials(
                issued["AccessKeyId"], issued["SecretKey"], issued["SessionToken"]
            )
            self._expires = issued["Expiration"]
            self._s3 = boto3.client(
                "s3",
                region_name=self.settings.region,
                aws_access_key_id=issued["AccessKeyId"],
                aws_secret_access_key=issued["SecretKey"],
                aws_session_token=issued["SessionToken"],
            )
        return self._credentials

    # -- the API --------------------------------------------------------------------------------

    def call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One signed API call; raises AppApiError on a refusal."""
        url = self.settings.api_url.rstrip("/") + path
        response = self._api.send(
            signed_api_request(method, url, body, self.credentials(), self.settings.region)
        )
        return _api_reply(response)

    def request_upload(self, content_type: str, size: int) -> Grant:
        """``POST /photos``: a grant for one photo of this type and size."""
        return Grant.from_reply(self.call("POST", "/photos", {"content_type": content_type, "size": size}))

    def upload(self, grant: Grant, data: bytes) -> None:
        """POST the photo to S3 with the grant's form; raises AppApiError when S3 refuses it."""
        request = form_post(grant.url, grant.fields, data=data, content_type=grant.fields["Content-Type"])
        response = self._http.send(request)
        if response.status >= 300:
            code, message = s3_error(response.body)
            raise AppApiError(response.status, code or "s3_refused", message)

    def commit(self, grant: Grant) -> dict[str, Any]:
        """``POST /photos/{photo_id}/commit``: the photo enters the pipeline."""
        return self.call("POST", grant.commit_path)

    def send_photo(self, data: bytes, content_type: str) -> Grant:
        """Grant, upload, commit: the whole sending of one photo."""
        grant = self.request_upload(content_type, len(data))
        self.upload(grant, data)
        self.commit(grant)
        return grant

    def correct(self, photo_id: str, label: str, *, new_class: bool = False) -> dict[str, Any]:
        """``POST /photos/{photo_id}/correction``: confirm the answer's label, correct it to another known
        class, or (``new_class``) propose a class nobody has yet; the stored correction."""
        body: dict[str, Any] = {"label": label}
        if new_class:
            body["new_class"] = True
        return self.call("POST", f"/photos/{photo_id}/correction", body)

    def erase_me(self) -> dict[str, Any]:
        """``DELETE /me``: erase everything of this identity (``{"erasure_id", "status"}``); afterwards,
        forget the identity id (the next install asks for a new one)."""
        return self.call("DELETE", "/me")

    # -- the answer -----------------------------------------------------------------------------

    def answer(self, grant: Grant) -> dict[str, Any] | None:
        """The photo's answer, or None while it is pending.

        Existence is checked by listing the answer's own key as a prefix (allowed by the role's prefix
        condition): S3's 404-or-403 choice for a missing key is not relied on.
        """
        self.credentials()
        listing = self._s3.list_objects_v2(Bucket=grant.answer_bucket, Prefix=grant.answer_key, MaxKeys=1)
        if not any(obj["Key"] == grant.answer_key for obj in listing.get("Contents", [])):
            return None
        body = self._s3.get_object(Bucket=grant.answer_bucket, Key=grant.answer_key)["Body"].read()
        return json.loads(body)

    def wait_for_answer(
        self, grant: Grant, *, timeout: float = 300.0, interval: float = 2.0
    ) -> dict[str, Any]:
        """Poll :meth:`answer` until it is there; TimeoutError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while (answer := self.answer(grant)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no answer for photo {grant.photo_id} after {timeout:.0f} s")
            time.sleep(interval)
        return answer


def _api_reply(response: HttpResponse) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status >= 300:
        body = body if isinstance(body, dict) else {}
        raise AppApiError(
            response.status,
            str(body.get("error") or "http_error"),
            str(body.get("message") or response.body[:200].decode("utf-8", "replace")),
        )
    return body if isinstance(body, dict) else {}
