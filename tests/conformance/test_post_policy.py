"""The offline POST-policy checker on a form made exactly as the app API makes it (no network, no moto)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest

from lambdas.app_api.aws import presign_post
from lambdas.app_api.uploads import post_conditions
from tests.conformance.post_policy import FormUpload, check_form, policy_of, sign_policy, with_policy

SECRET = "signing-secret"
KEY = "incoming/eu-west-3:3f291106-8703-466b-8f2b-3ecee1ca56ce/0b6e2c1e-6d55-4d8e-9a59-2f7ad3c0d1b4.jpg"
LIMIT = 1000


@pytest.fixture(scope="module")
def form() -> FormUpload:
    s3 = boto3.client(
        "s3",
        region_name="eu-west-3",
        endpoint_url="https://s3.eu-west-3.amazonaws.com",
        aws_access_key_id="ASIAEXAMPLE",
        aws_secret_access_key=SECRET,
        aws_session_token="token",
    )
    grant = presign_post(
        s3,
        bucket="fruits-ingest",
        key=KEY,
        content_type="image/jpeg",
        conditions=post_conditions("image/jpeg", LIMIT),
        expires_in=300,
    )
    return FormUpload(grant["url"], grant["fields"], 500, datetime.now(UTC))


def test_the_apis_form_is_accepted_as_signed(form: FormUpload) -> None:
    assert form.bucket == "fruits-ingest"
    assert check_form(form, secret=SECRET) == []
    assert (
        sign_policy(form.fields["policy"], SECRET, form.fields["x-amz-credential"])
        == form.fields["x-amz-signature"]
    )


def test_size_limits_are_inclusive(form: FormUpload) -> None:
    for size in (1, LIMIT):
        assert check_form(FormUpload(form.url, form.fields, size, form.at), secret=SECRET) == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            lambda f: FormUpload(f.url, f.fields, LIMIT + 1, f.at),
            "1001 bytes, outside content-length-range [1, 1000]",
        ),
        (lambda f: FormUpload(f.url, f.fields, 0, f.at), "outside content-length-range"),
        (lambda f: f.with_fields(**{"Content-Type": "image/png"}), "content-type is 'image/png'"),
        (lambda f: FormUpload(f.url, f.fields, 500, f.at + timedelta(seconds=301)), "policy expired"),
        (
            lambda f: f.with_fields(key=KEY.replace("3f291106", "9d4c3b2a")),
            "key is 'incoming/eu-west-3:9d4c3b2a",
        ),
        (lambda f: f.with_fields(key=KEY.replace("incoming/", "uploads/")), "key is 'uploads/"),
        (lambda f: f.with_fields(acl="public-read"), "form field 'acl' is not named"),
        (lambda f: f.with_fields(**{"x-amz-signature": "0" * 64}), "signature does not match"),
        (
            lambda f: with_policy(f, {**policy_of(f), "expiration": "2999-01-01T00:00:00Z"}),
            "signature does not match",
        ),
        (
            lambda f: FormUpload(f.url.replace("fruits-ingest", "other"), f.fields, 500, f.at),
            "bucket is 'other'",
        ),
        (lambda f: f.with_fields(**{"x-amz-algorithm": "AWS4-HMAC-SHA1"}), "x-amz-algorithm"),
    ],
    ids=[
        "oversize",
        "empty",
        "wrong-type",
        "expired",
        "other-identity",
        "upload-prefix",
        "extra-field",
        "bad-signature",
        "tampered-policy",
        "other-bucket",
        "algorithm",
    ],
)
def test_what_s3_refuses_is_refused(form: FormUpload, change, reason: str) -> None:
    problems = check_form(change(form), secret=SECRET)
    assert any(reason in p for p in problems), problems


def test_a_form_without_its_policy_or_signature_is_refused(form: FormUpload) -> None:
    fields = {k: v for k, v in form.fields.items() if k != "policy"}
    assert check_form(FormUpload(form.url, fields, 500, form.at), secret=SECRET) == [
        "missing form field(s): policy"
    ]
    assert check_form(form, secret="another-secret")[0].startswith("signature does not match")
