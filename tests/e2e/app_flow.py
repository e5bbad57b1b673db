"""The app's side of the local flow: two identities send photos and each reads its own answers.

Hooked into :func:`tests.e2e.local_flow.run_flow` (``app_photos``): the identity pool and the identity
table are created in moto as the template defines them; two app installs (the reference client,
:mod:`app_client`) each get an identity and credentials from moto's cognito-identity, ask the API for
upload grants, POST their photos to moto's S3 with the presigned form and commit them. The API is the
real handler behind :mod:`tests.e2e.api_gateway`. The committed photos are ordinary uploads for the rest
of the flow (S3 -> SQS -> ingest Lambda -> Spark); once the batches ran, each client polls its answers.

With ``corrections`` identity A then confirms or corrects the label of its first photo through the API
(the photo's true class; a new-class proposal while no classifier is promoted), and what the
correction route must refuse is sent too (B correcting A's photo, an unknown label).

With ``abuse`` the flow also sends what must be refused (HEIC, an oversize declaration, text named
.jpg, a decompression bomb, a reused grant, a commit with nothing uploaded) and checks each got its 4xx
and left nothing in the bucket. What moto cannot show: it does not enforce POST policies (size, type,
expiry, key) nor IAM (one identity reading another's answers); tests/conformance proves both offline.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from app_client.client import AppApiError, AppClient, AppSettings, Grant
from app_client.http import HttpResponse
from tests.e2e.api_gateway import ApiCall, ApiGatewayEmulator, Caller
from tests.e2e.cdk_stack import StackSpec, TemplateResolver
from tests.e2e.sqs_lambda import FakeLambdaContext
from tests.helpers.images import png_bomb_header

TEST_DIR = Path(__file__).resolve().parents[2] / "data" / "sample" / "Test"
IDENTITY_NAMES = ("A", "B")


# ------------------------------------------------------------------------------- photos


@dataclass(frozen=True)
class AppPhoto:
    """A photo on a phone: a file name (gives the content type), its bytes and what it truly shows."""

    name: str
    body: bytes
    truth: str | None = None

    @property
    def content_type(self) -> str:
        return mimetypes.guess_type(self.name)[0] or "application/octet-stream"


def app_photos(count: int, test_dir: Path = TEST_DIR) -> list[AppPhoto]:
    """``count`` unseen photos: the second Test photo of each class in turn (the first ones are the
    flow's own unlabelled uploads)."""
    folders = sorted(p for p in test_dir.iterdir() if p.is_dir())
    picked = [sorted(folder.glob("*.jpg"))[1] for folder in folders][:count]
    return [AppPhoto(f"{p.parent.name}-{p.name}", p.read_bytes(), p.parent.name) for p in picked]


# ------------------------------------------------------------------------------- the stack's app side


@dataclass(frozen=True)
class AppSpec:
    """The app's resources as the template defines them (resolved for moto's account)."""

    identity_pool: dict[str, Any]
    identity_table: dict[str, Any]
    function_environment: dict[str, str]
    function_name: str
    route_keys: tuple[str, ...]
    api_url: str
    guest_role_name: str


def app_spec(spec: StackSpec) -> AppSpec:
    """Read the identity pool, table, API Lambda, routes and API URL from the synthesized template."""
    template = json.loads(spec.template_path.read_text())
    resolver = TemplateResolver(template, account=spec.account, region=spec.region)
    (pool,) = resolver.of_type("AWS::Cognito::IdentityPool").values()
    (table,) = resolver.of_type("AWS::DynamoDB::Table").values()
    _, function = resolver.find("AWS::Lambda::Function", "FunctionName", spec.names.app_api_function)
    (attachment,) = resolver.of_type("AWS::Cognito::IdentityPoolRoleAttachment").values()
    guest_role = str(attachment["Roles"]["unauthenticated"]).rsplit("/", 1)[1]
    routes = tuple(sorted(r["RouteKey"] for r in resolver.of_type("AWS::ApiGatewayV2::Route").values()))
    return AppSpec(
        identity_pool=pool,
        identity_table=table,
        function_environment={k: str(v) for k, v in function["Environment"]["Variables"].items()},
        function_name=spec.names.app_api_function,
        route_keys=routes,
        api_url=str(resolver.output("AppApiUrl")),
        guest_role_name=guest_role,
    )


# ------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class PostedForm:
    """One form POST of a photo: who, the form, the file's size and type, when (for tests/conformance)."""

    identity_id: str
    url: str
    fields: dict[str, str]
    size: int
    content_type: str
    at: datetime


@dataclass(frozen=True)
class AbuseCase:
    """One thing the app API must refuse: the status and code it got, and what it left in the bucket."""

    case: str
    expected: int
    status: int | None
    code: str
    left_behind: tuple[str, ...]


@dataclass(frozen=True)
class CorrectionCase:
    """One request of the correction route: who sent it for whose photo, what it got back."""

    case: str
    sender: str  # the identity's name (A, B)
    owner: str  # the photo's identity's name
    photo_id: str
    label: str
    expected: int
    status: int
    reply: dict[str, Any]  # the stored correction (201) or {"error", "message"}

    @property
    def code(self) -> str:
        return str(self.reply.get("kind") or self.reply.get("error"))


@dataclass
class AppIdentity:
    """One app install: its identity, its grants (and the photos sent with them), the answers it read."""

    name: str
    client: AppClient
    grants: list[Grant] = field(default_factory=list)
    photos: list[AppPhoto] = field(default_factory=list)
    answers: dict[str, Any] = field(default_factory=dict)

    @property
    def identity_id(self) -> str:
        return self.client.identity()


@dataclass
class AppFlowResult:
    """What the app side did: identities with their answers, abuse cases, API calls and form POSTs."""

    identity_pool_id: str
    identities: list[AppIdentity]
    abuse: list[AbuseCase]
    api_calls: list[ApiCall]
    forms: list[PostedForm]
    uploads_prefix: str
    #: Objects left under the staging prefix at the end (every commit, accepted or not, deletes its own).
    staged_left: list[str] = field(default_factory=list)
    #: Requests of the correction route (the first is identity A's own correction).
    corrections: list[CorrectionCase] = field(default_factory=list)


# ------------------------------------------------------------------------------- the flow


class AppFlow:
    """The identity pool, table, API emulator and two app installs in one moto server."""

    def __init__(self, spec: StackSpec):
        from lambdas.app_api.aws import default_clients

        default_clients.cache_clear()  # the API Lambda's clients of an earlier flow name its emulator
        self.spec, self.app = spec, app_spec(spec)
        self.bucket = spec.names.ingestion_bucket
        self.s3 = boto3.client("s3", region_name=spec.region)
        cognito = boto3.client("cognito-identity", region_name=spec.region)
        self.pool_id = self._create_pool(cognito)
        self._create_table(boto3.client("dynamodb", region_name=spec.region))
        function_arn = f"arn:aws:lambda:{spec.region}:{spec.account}:function:{self.app.function_name}"
        self.gateway = ApiGatewayEmulator(
            api_url=self.app.api_url,
            route_keys=self.app.route_keys,
            region=spec.region,
            account=spec.account,
            handler=self._invoke,
            context=lambda: FakeLambdaContext(
                function_name=self.app.function_name,
                invoked_function_arn=function_arn,
                log_group_name=f"/aws/lambda/{self.app.function_name}",
            ),
        )
        self.forms: list[PostedForm] = []
        self.abuse: list[AbuseCase] = []
        self.corrections: list[CorrectionCase] = []
        self.identities = [self._install(name) for name in IDENTITY_NAMES]

    def _create_pool(self, cognito: Any) -> str:
        pool = self.app.identity_pool
        return cognito.create_identity_pool(
            IdentityPoolName=pool["IdentityPoolName"],
            AllowUnauthenticatedIdentities=pool["AllowUnauthenticatedIdentities"],
            AllowClassicFlow=pool["AllowClassicFlow"],
        )["IdentityPoolId"]

    def _create_table(self, dynamodb: Any) -> None:
        table = self.app.identity_table
        dynamodb.create_table(
            TableName=table["TableName"],
            KeySchema=table["KeySchema"],
            AttributeDefinitions=table["AttributeDefinitions"],
            BillingMode=table["BillingMode"],
        )
        dynamodb.update_time_to_live(
            TableName=table["TableName"], TimeToLiveSpecification=table["TimeToLiveSpecification"]
        )

    def _install(self, name: str) -> AppIdentity:
        """A new app install: the reference client, its API calls served by the emulated gateway."""
        settings = AppSettings(identity_pool_id=self.pool_id, api_url=self.app.api_url)
        transport = _GatewayTransport(self.gateway, self.pool_id, self.app.guest_role_name)
        transport.client = AppClient(settings, api_transport=transport)
        transport.client.identity()
        return AppIdentity(name=name, client=transport.client)

    def _invoke(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """The API Lambda with the environment the stack gives it (set and restored under the lock the
        answer relay's thread takes too: restoring the whole environment here could undo its settings)."""
        from lambdas.app_api.handler import handler
        from tests.e2e.answer_flow import environ_set

        with environ_set(self.app.function_environment):
            return handler(event, context)

    # -- sending -----------------------------------------------------------------------------

    def send(self, photos: Sequence[AppPhoto], on_uploaded: Callable[[str], None] | None = None) -> list[str]:
        """Each photo sent by identity A, B, A, ... (grant, form POST, commit); their upload URIs.

        ``on_uploaded`` is called with each upload's key as soon as its commit returned.
        """
        uris = []
        for index, photo in enumerate(photos):
            identity = self.identities[index % len(self.identities)]
            grant = self._post(identity, photo.body, photo.content_type)
            identity.client.commit(grant)
            identity.grants.append(grant)
            identity.photos.append(photo)
            if on_uploaded is not None:
                on_uploaded(_upload_key(grant))
            uris.append(f"s3://{self.bucket}/{_upload_key(grant)}")
        return uris

    def _post(self, identity: AppIdentity, body: bytes, content_type: str) -> Grant:
        grant = identity.client.request_upload(content_type, len(body))
        posted_at = datetime.now(UTC)
        identity.client.upload(grant, body)
        self.forms.append(
            PostedForm(identity.identity_id, grant.url, grant.fields, len(body), content_type, posted_at)
        )
        return grant

    def refuse_abuse(self, photo: AppPhoto) -> None:
        """Send what must be refused as identity A; record each status and what it left behind."""
        identity = self.identities[0]
        client = identity.client
        before = set(self._keys())

        def attempt(case: str, expected: int, action: Any) -> None:
            try:
                action()
                status, code = None, "accepted"
            except AppApiError as error:
                status, code = error.status, error.code
            left = tuple(sorted(set(self._keys()) - before))
            self.abuse.append(AbuseCase(case, expected, status, code, left))

        def staged_then_commit(body: bytes, content_type: str) -> None:
            client.commit(self._post(identity, body, content_type))

        attempt("HEIC photo", 415, lambda: client.request_upload("image/heic", 2_000_000))
        attempt("oversize declaration", 413, lambda: client.request_upload("image/jpeg", 60 * 1024 * 1024))
        attempt("text named .jpg", 415, lambda: staged_then_commit(b"a shopping list\n" * 10, "image/jpeg"))
        attempt(
            "decompression bomb",
            422,
            lambda: staged_then_commit(png_bomb_header(20_000, 20_000), "image/png"),
        )
        attempt("commit without upload", 404, lambda: client.commit(client.request_upload("image/jpeg", 10)))
        reused = identity.grants[0]
        attempt("reused grant", 409, lambda: (client.upload(reused, photo.body), client.commit(reused)))

    def _keys(self) -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    # -- corrections -------------------------------------------------------------------------

    def correct(self) -> None:
        """A confirms or corrects its first photo's label (its true class), then what must be refused.

        While no classifier is promoted (its answer has no prediction), no class is known yet: the true
        class is sent as a new-class proposal instead.
        """
        a, b = self.identities[:2]
        grant, photo = a.grants[0], a.photos[0]
        answered = a.client.answer(grant) or {}
        label = photo.truth or "Apple"
        proposal = answered.get("classifier_version") is None
        self._correction("A corrects its own photo", a, a, grant.photo_id, label, 201, new_class=proposal)
        self._correction("B corrects A's photo", b, a, grant.photo_id, label, 404)
        self._correction("an unknown label", a, a, grant.photo_id, f"{label}x", 422)

    def _correction(
        self,
        case: str,
        sender: AppIdentity,
        owner: AppIdentity,
        photo_id: str,
        label: str,
        expected: int,
        *,
        new_class: bool = False,
    ) -> None:
        try:
            status, reply = 201, sender.client.correct(photo_id, label, new_class=new_class)
        except AppApiError as error:
            status, reply = error.status, {"error": error.code, "message": error.message}
        self.corrections.append(
            CorrectionCase(case, sender.name, owner.name, photo_id, label, expected, status, reply)
        )

    # -- answers -----------------------------------------------------------------------------

    def finish(self) -> AppFlowResult:
        """Each identity polls the answer of each of its photos (written by the batches by now)."""
        for identity in self.identities:
            for grant in identity.grants:
                identity.answers[grant.answer_key] = identity.client.answer(grant)
        return AppFlowResult(
            identity_pool_id=self.pool_id,
            identities=self.identities,
            abuse=self.abuse,
            api_calls=list(self.gateway.calls),
            forms=list(self.forms),
            uploads_prefix=self.spec.config.uploads_prefix,
            staged_left=[k for k in self._keys() if k.startswith(self.spec.config.staging_prefix)],
            corrections=list(self.corrections),
        )


def _upload_key(grant: Grant) -> str:
    """The committed photo's key: the answer key without the answers prefix and ``.json``."""
    return grant.answer_key.split("/", 1)[1].removesuffix(".json")


class _GatewayTransport:
    """The API transport of one client: its requests go to the emulated gateway as its identity."""

    def __init__(self, gateway: ApiGatewayEmulator, pool_id: str, role_name: str):
        self.gateway, self.pool_id, self.role_name = gateway, pool_id, role_name
        self.client: AppClient | None = None

    def send(self, request: Any) -> HttpResponse:
        assert self.client is not None
        caller = Caller(self.client.identity(), self.pool_id, self.role_name, self.client.credentials)
        return self.gateway.serve(request, caller)


# ------------------------------------------------------------------------------- checks and summary


def app_problems(result: AppFlowResult | None) -> list[str]:
    """What is wrong with the app side (empty when each identity read an answer for each of its photos,
    under its own identity only, and every abuse case was refused and left nothing behind)."""
    if result is None:
        return []
    problems = []
    for identity in result.identities:
        own = f"/{result.uploads_prefix}{identity.identity_id}/"
        for key, answer in identity.answers.items():
            if answer is None:
                problems.append(f"identity {identity.name}: no answer at {key}")
            if own not in f"/{key}":
                problems.append(f"identity {identity.name} read {key}, outside its own prefix")
        if not identity.grants:
            problems.append(f"identity {identity.name} sent no photo")
    problems += [f"staged photo left behind: {key}" for key in result.staged_left]
    problems += [
        f"abuse case {case.case!r}: got {case.status} {case.code}, expected {case.expected}"
        for case in result.abuse
        if case.status != case.expected
    ]
    problems += [
        f"abuse case {case.case!r} left {list(case.left_behind)} in the bucket"
        for case in result.abuse
        if case.left_behind
    ]
    problems += [
        f"correction {case.case!r}: got {case.status} {case.code}, expected {case.expected}"
        for case in result.corrections
        if case.status != case.expected
    ]
    return problems


def app_summary(result: AppFlowResult | None) -> list[str]:
    """Summary lines of the app side."""
    if result is None:
        return []
    lines = [f"app            identity pool {result.identity_pool_id}, {len(result.api_calls)} API calls"]
    for identity in result.identities:
        answers = ", ".join(_answer_text(a) for a in identity.answers.values())
        lines.append(
            f"  identity {identity.name} {identity.identity_id}: {len(identity.grants)} photo(s) -> {answers}"
        )
    for case in result.abuse:
        left = f" (left {len(case.left_behind)} object(s))" if case.left_behind else ""
        lines.append(f"  refused {case.case:<24} {case.status} {case.code}{left}")
    for case in result.corrections:
        answered = case.reply.get("answer", {}).get("predicted_label") if case.status == 201 else None
        what = f"{case.code} {case.label!r}" + (f" (answered {answered!r})" if case.status == 201 else "")
        lines.append(f"  correction {case.case:<24} {case.status} {what}")
    return lines


def _answer_text(answer: dict[str, Any] | None) -> str:
    if answer is None:
        return "pending"
    if answer.get("status") == "ok":
        return f"{answer['predicted_label']} ({answer['confidence']:.2f})"
    return str(answer.get("status"))
