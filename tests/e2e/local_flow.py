"""The whole AWS flow on one machine: moto server, real ingest Lambda handler, real spark_app.

``python -m tests.e2e.local_flow [--images N] [--keep-running]`` (``make local-e2e``):

1. synthesize the CDK app and read the resources from its template (names, queue settings, S3
   notification, state machine definition, the Lambda's environment);
2. start a moto server (S3, SQS, Step Functions over HTTP) and create those resources in it;
3. upload the pinned weights (as the stack's deployment does) and sample photos to the uploads prefix;
4. S3 notifies SQS; hand the SQS batches to ``lambdas.ingest.handler.handler`` (event source mapping
   emulated), which writes manifests and starts executions;
5. for each execution started, run spark_app with the arguments the state machine passes to EMR
   Serverless (moto cannot run the ``.sync`` EMR task), plus the emulator's endpoint;
6. read features and errors back from the results bucket, copy them locally, print a summary;
7. stop the emulator (also on failure) and restore the environment.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3

# jsii (imported with the CDK app) warns loudly about the Node.js version; the CLI pins what it supports.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from cdk_app.artifacts import model_files
from spark_app.core.arguments import OneLineParser, non_negative_int, positive_int
from tests.e2e import answer_flow
from tests.e2e.app_flow import AppFlow, AppFlowResult, AppPhoto, app_photos, app_problems, app_summary
from tests.e2e.cdk_stack import StackSpec, evaluate_states_array, load_stack_spec
from tests.e2e.erasure_flow import ErasureResult, erase_identity, erasure_problems, erasure_summary
from tests.e2e.sqs_lambda import EventSourceMapping, FakeLambdaContext, Invocation

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DIR = REPO_ROOT / "data" / "sample" / "Training"
MODELS_DIR = REPO_ROOT / "models"
DEFAULT_OUT = REPO_ROOT / "out" / "local-e2e"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
#: Variables that would send boto3 elsewhere than the emulator (removed while the flow runs).
FOREIGN_AWS_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")
MESSAGE_WAIT_SECONDS = 30.0


# ------------------------------------------------------------------------------- uploads


@dataclass(frozen=True)
class Upload:
    """An object to upload: key relative to the prefix it goes under (curated: ``<Class>/<file>``)."""

    key: str
    body: bytes


def sample_uploads(count: int, *, classes: int | None = None, sample_dir: Path = SAMPLE_DIR) -> list[Upload]:
    """``count`` photos of the sample, taken in turn from its first ``classes`` class folders."""
    folders = sorted(p for p in sample_dir.iterdir() if p.is_dir())[:classes]
    per_class = [sorted(folder.glob("*.jpg")) for folder in folders]
    chosen: list[Path] = []
    for rank in range(max((len(files) for files in per_class), default=0)):
        chosen += [files[rank] for files in per_class if rank < len(files)]
    return [Upload(f"{p.parent.name}/{p.name}", p.read_bytes()) for p in chosen[:count]]


def unlabelled_photos(classes: Sequence[str], test_dir: Path = SAMPLE_DIR.parent / "Test") -> list[Upload]:
    """One unseen (Test) photo of each class, uploaded without a class folder (the production case)."""
    photos = [sorted((test_dir / c).glob("*.jpg"))[0] for c in classes]
    return [Upload(f"new-{p.parent.name.replace(' ', '-')}-{p.name}", p.read_bytes()) for p in photos]


def bad_uploads(label: str = "Kiwi", sample_dir: Path = SAMPLE_DIR) -> list[Upload]:
    """A truncated JPEG and a text file, both named ``.jpg`` (so the Lambda passes them to Spark)."""
    photo = sorted(sample_dir.rglob("*.jpg"))[0].read_bytes()
    return [
        Upload(f"{label}/corrupt-truncated.jpg", photo[: len(photo) // 2]),
        Upload(f"{label}/not-an-image.jpg", b"This is a shopping list, not a photo.\n"),
    ]


# ------------------------------------------------------------------------------- emulator


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server on a free local port; yields its URL and always stops it."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per HTTP request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    try:
        reset_emulator(url)  # the server serves this process's moto backends: start empty
        yield url
    finally:
        try:
            reset_emulator(url)
        finally:
            server.stop()


def reset_emulator(url: str) -> None:
    """Drop every resource of the moto server (its ``/moto-api/reset`` endpoint)."""
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


patched_environ = answer_flow.patched_environ


def emulator_environment(endpoint: str, region: str) -> dict[str, str]:
    """boto3's standard variables pointing every client (Lambda handler, spark_app) at the emulator."""
    return {
        **FAKE_CREDENTIALS,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_ENDPOINT_URL_SQS": endpoint,
        "AWS_ENDPOINT_URL_SFN": endpoint,
    }


@dataclass(frozen=True)
class Clients:
    """boto3 clients of the emulator."""

    s3: Any
    sqs: Any
    sfn: Any
    glue: Any


def clients_for(endpoint: str, region: str) -> Clients:
    """Clients for ``endpoint`` with fake credentials."""
    session = boto3.session.Session(region_name=region, **_boto_credentials())
    return Clients(
        s3=session.client("s3", endpoint_url=endpoint),
        sqs=session.client("sqs", endpoint_url=endpoint),
        sfn=session.client("stepfunctions", endpoint_url=endpoint),
        glue=session.client("glue", endpoint_url=endpoint),
    )


def _boto_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "aws_session_token": FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
    }


# ------------------------------------------------------------------------------- resources


@dataclass(frozen=True)
class Provisioned:
    """What was created in the emulator."""

    queue_url: str
    dlq_url: str
    state_machine_arn: str


def provision(clients: Clients, spec: StackSpec) -> Provisioned:
    """Create the stack's buckets, queues, notification and state machine as the template defines them."""
    for bucket in spec.buckets:
        clients.s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": spec.region})
    dlq_url = clients.sqs.create_queue(
        QueueName=spec.dead_letter_queue.name, Attributes=spec.dead_letter_queue.attributes
    )["QueueUrl"]
    queue_url = clients.sqs.create_queue(
        QueueName=spec.upload_queue.name, Attributes=spec.upload_queue.attributes
    )["QueueUrl"]
    clients.s3.put_bucket_notification_configuration(
        Bucket=spec.names.ingestion_bucket, NotificationConfiguration=spec.notification
    )
    arn = clients.sfn.create_state_machine(
        name=spec.names.state_machine,
        definition=spec.state_machine_definition,
        roleArn=spec.state_machine_role_arn,
        type="STANDARD",
    )["stateMachineArn"]
    if arn != spec.state_machine_arn:
        raise RuntimeError(f"state machine ARN {arn} differs from the template's {spec.state_machine_arn}")
    # The Glue catalog the jobs register their partitions in (same inputs as the template's).
    clients.glue.create_database(DatabaseInput=spec.glue_database)
    for table in spec.glue_tables:
        clients.glue.create_table(DatabaseName=spec.glue_database["Name"], TableInput=table)
    return Provisioned(queue_url=queue_url, dlq_url=dlq_url, state_machine_arn=arn)


def upload_weights(s3: Any, spec: StackSpec) -> str:
    """Put the pinned weights (and checksum, licence) under the models prefix, as the stack deploys them.

    One PUT per file: moto's checksum of a multipart upload does not match what boto3 validates on read.
    """
    bucket, models = spec.names.artifacts_bucket, spec.config.models_prefix
    for name in model_files(spec.config):
        if (MODELS_DIR / name).is_file():
            s3.put_object(Bucket=bucket, Key=f"{models}{name}", Body=(MODELS_DIR / name).read_bytes())
    return f"s3://{bucket}/{spec.config.weights_key}"


def upload_all(
    s3: Any,
    spec: StackSpec,
    uploads: Sequence[Upload],
    prefix: str | None = None,
    on_uploaded: Callable[[str], None] | None = None,
) -> list[str]:
    """Upload under ``prefix`` of the ingestion bucket (default: the uploads prefix); returns the URIs.

    ``on_uploaded`` is called with each object's key as soon as its PUT returned.
    """
    bucket, prefix = spec.names.ingestion_bucket, prefix or spec.config.uploads_prefix
    for upload in uploads:
        s3.put_object(Bucket=bucket, Key=f"{prefix}{upload.key}", Body=upload.body)
        if on_uploaded is not None:
            on_uploaded(f"{prefix}{upload.key}")
    return [f"s3://{bucket}/{prefix}{upload.key}" for upload in uploads]


def queue_depth(sqs: Any, queue_url: str) -> int:
    """Messages in the queue, visible or in flight."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def wait_for_messages(sqs: Any, queue_url: str, at_least: int, timeout: float = MESSAGE_WAIT_SECONDS) -> int:
    """Wait until S3 has put at least ``at_least`` notifications in the queue; returns the depth."""
    deadline = time.monotonic() + timeout
    while (depth := queue_depth(sqs, queue_url)) < at_least:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {depth} of {at_least} S3 notifications reached the queue")
        time.sleep(0.2)
    return depth


def duplicate_notification(sqs: Any, queue_url: str, key: str) -> None:
    """Send the S3 notification of ``key`` a second time (S3 delivers events at least once)."""
    received: list[dict[str, Any]] = []
    try:
        while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
            received += batch
            for message in batch:
                records = json.loads(message["Body"]).get("Records", [])
                if any(unquote_plus(r["s3"]["object"]["key"]) == key for r in records):
                    sqs.send_message(QueueUrl=queue_url, MessageBody=message["Body"])
                    return
        raise LookupError(f"no notification for {key} in the queue")
    finally:
        for message in received:
            sqs.change_message_visibility(
                QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )


# ------------------------------------------------------------------------------- ingest


def ingest(
    clients: Clients, spec: StackSpec, provisioned: Provisioned, *, redeliver_first_batch: bool
) -> list[Invocation]:
    """Hand the queue's batches to the real ingest handler, with the environment the stack gives it."""
    from lambdas.ingest.aws import default_clients
    from lambdas.ingest.handler import handler

    names = spec.names
    environment = {**spec.lambda_environment, "AWS_LAMBDA_FUNCTION_NAME": names.ingest_function}
    mapping = EventSourceMapping(
        sqs=clients.sqs,
        queue_url=provisioned.queue_url,
        queue_arn=spec.upload_queue.arn,
        region=spec.region,
        batch_size=spec.config.batch_size,
        handler=handler,
        context=lambda: FakeLambdaContext(
            function_name=names.ingest_function,
            invoked_function_arn=f"arn:aws:lambda:{spec.region}:{spec.account}:function:{names.ingest_function}",
            memory_limit_in_mb=spec.lambda_memory_mb,
            log_group_name=f"/aws/lambda/{names.ingest_function}",
        ),
    )
    default_clients.cache_clear()  # the handler's clients are created from this environment
    try:
        with patched_environ(environment):
            return mapping.drain(drop_first_acknowledgements=redeliver_first_batch)
    finally:
        default_clients.cache_clear()


# ------------------------------------------------------------------------------- Spark runs


@dataclass
class ExecutionRun:
    """One execution the handler started, and the local spark_app run standing in for its EMR job."""

    name: str
    arn: str
    input: dict[str, Any]
    arguments: list[str] = field(default_factory=list)
    exit_code: int | None = None
    seconds: float = 0.0
    status: str = "RUNNING"
    log_file: Path | None = None


def started_executions(sfn: Any, state_machine_arn: str) -> list[ExecutionRun]:
    """The state machine's executions with their inputs, oldest first."""
    paginator = sfn.get_paginator("list_executions")
    executions = [
        e for page in paginator.paginate(stateMachineArn=state_machine_arn) for e in page["executions"]
    ]
    return [
        ExecutionRun(
            name=e["name"],
            arn=e["executionArn"],
            input=json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"]),
        )
        for e in sorted(executions, key=lambda e: e["startDate"])
    ]


def spark_arguments(spec: StackSpec, execution_input: dict[str, Any], endpoint: str) -> list[str]:
    """The job's arguments exactly as the state machine builds them for EMR, plus the emulator endpoint."""
    return [
        *evaluate_states_array(spec.entry_point_arguments(), execution_input),
        "--s3-endpoint-url",
        endpoint,
    ]


def run_spark_app(arguments: Sequence[str], *, log_file: Path | None) -> int:
    """``python -m spark_app <arguments>`` (what EMR's spark-submit entry point runs); returns its exit code.

    Output goes to ``log_file`` when given, else to this terminal.
    """
    command = [sys.executable, "-m", "spark_app", *arguments]
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    if log_file is None:
        return subprocess.run(command, cwd=REPO_ROOT, env=env, check=False).returncode
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("w") as log:
        return subprocess.run(
            command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, check=False
        ).returncode


def record_outcome(spec: StackSpec, run: ExecutionRun) -> bool:
    """Mark the execution SUCCEEDED/FAILED in moto (in-process backend: no API does it); False if impossible.

    On AWS the ``.sync`` task would end the execution when the job run ends. Without this the
    execution stays RUNNING in moto, which is all that is lost if moto's internals change.
    """
    status = "SUCCEEDED" if run.exit_code == 0 else "FAILED"
    try:
        from moto.stepfunctions.models import stepfunctions_backends

        execution = stepfunctions_backends[spec.account][spec.region].describe_execution(run.arn)
        execution.status = status
        execution.stop_date = datetime.now()
        if status == "SUCCEEDED":
            execution.output = json.dumps({**run.input, "job": {"local": True, "exit_code": run.exit_code}})
        else:
            execution.error, execution.cause = "FeatureJobFailed", f"spark_app exited with {run.exit_code}"
    except (ImportError, KeyError, AttributeError):
        return False
    return True


#: Appended to a run's arguments to make it fail the way a bad deployment does (wrong model checksum).
FAILING_ARGUMENTS = ("--weights-sha256", "0" * 64)


def run_executions(
    clients: Clients,
    spec: StackSpec,
    provisioned: Provisioned,
    endpoint: str,
    *,
    logs_dir: Path | None,
    done: Sequence[ExecutionRun] = (),
    failing: bool = False,
) -> list[ExecutionRun]:
    """Run spark_app once per started execution not in ``done``, oldest first (``failing``: they fail)."""
    already = {run.arn for run in done}
    runs = [r for r in started_executions(clients.sfn, provisioned.state_machine_arn) if r.arn not in already]
    for run in runs:
        run.arguments = spark_arguments(spec, run.input, endpoint) + (
            list(FAILING_ARGUMENTS) if failing else []
        )
        run.log_file = logs_dir / f"spark-{run.name}.log" if logs_dir else None
        print(f"\n== execution {run.name}: spark_app {' '.join(run.arguments)}", flush=True)
        started = time.monotonic()
        run.exit_code = run_spark_app(run.arguments, log_file=run.log_file)
        run.seconds = time.monotonic() - started
        record_outcome(spec, run)
        run.status = clients.sfn.describe_execution(executionArn=run.arn)["status"]
    return runs


def replay_failed(
    clients: Clients,
    spec: StackSpec,
    provisioned: Provisioned,
    endpoint: str,
    *,
    logs_dir: Path | None,
    done: Sequence[ExecutionRun],
) -> list[ExecutionRun]:
    """Replay every failed batch as an operator would (``python -m lambdas.replay``), then run the replays."""
    from lambdas.replay.__main__ import failed_batches, replay

    machine = provisioned.state_machine_arn
    for batch in failed_batches(clients.sfn, machine):
        started, why = replay(clients.sfn, machine, batch["batch_id"])
        print(f"\n== replay of {batch['batch_id']}: {started or 'nothing'} ({why})", flush=True)
    return run_executions(clients, spec, provisioned, endpoint, logs_dir=logs_dir, done=done)


# ------------------------------------------------------------------------------- PCA refit


@dataclass
class RefitStep:
    """One job run of the refit workflow (``python -m spark_app pca <command> ...``)."""

    command: str
    arguments: list[str]
    exit_code: int | None = None
    report: dict[str, Any] = field(default_factory=dict)


#: The one regularisation the flow's trainings cross-validate (see :func:`refit_steps`).
FLOW_REG_PARAM = "0.1"


def refit_steps(spec: StackSpec, endpoint: str, *, min_images: int) -> list[RefitStep]:
    """The refit workflow's job runs, with the arguments its state machine passes (from the template).

    ``min_images`` stands in for the production minimum (1,000) so that the flow's few photos can
    bootstrap a first basis, as a labelled corpus upload does before go-live; the basis then has
    ``min_images // 4`` components (the size rule: at least 4 images per component), and the
    classifier accepts classes of a single photo. Training cross-validates one regularisation,
    ``FLOW_REG_PARAM``, against the 1-NN head: on the flow's handful of curated images every candidate
    of the grid ties and the tie rule picks the strongest, this one, anyway; the grid's cost (~15 s per
    training here) buys nothing (the choice is tested in tests/models and benchmarked in bench/).
    """
    definition = json.loads(spec.refit_definition)
    steps, state = [], definition["StartAt"]
    while (
        definition["States"][state]["Type"] == "Task"
        and "emr-serverless" in definition["States"][state]["Resource"]
    ):
        task = definition["States"][state]
        arguments = list(task["Parameters"]["JobDriver"]["SparkSubmit"]["EntryPointArguments"])
        overrides = {"--min-images": str(min_images), "--min-per-class": "1"}
        previous = ["", *arguments[:-1]]
        arguments = [overrides.get(flag, arg) for flag, arg in zip(previous, arguments, strict=True)]
        if arguments[:2] == ["pca", "fit"]:
            arguments += ["--pca-k", str(max(1, min_images // 4))]
        if arguments[:2] == ["classifier", "train"]:
            arguments += ["--reg-params", FLOW_REG_PARAM]
        steps.append(RefitStep(state, [*arguments, "--s3-endpoint-url", endpoint]))
        state = task["Next"]
    return steps


#: The refit workflow's classifier steps: what a training run with people's corrections is.
CLASSIFIER_STEPS = ("TrainClassifier", "PromoteClassifier")


def classifier_steps(spec: StackSpec, endpoint: str, *, min_images: int) -> list[RefitStep]:
    """The refit workflow's classifier steps alone (train on curated data + corrections, promote with
    the gate), with the arguments its state machine passes."""
    return [s for s in refit_steps(spec, endpoint, min_images=min_images) if s.command in CLASSIFIER_STEPS]


def run_refit(steps: list[RefitStep], *, logs_dir: Path | None, name: str = "refit") -> list[RefitStep]:
    """Run the steps in order, stopping at the first failure (as the state machine would)."""
    for step in steps:
        log_file = (logs_dir or Path(tempfile.mkdtemp(prefix="fruits-refit-"))) / f"{name}-{step.command}.log"
        print(f"\n== {name} {step.command}: spark_app {' '.join(step.arguments)}", flush=True)
        step.exit_code = run_spark_app(step.arguments, log_file=log_file)
        lines = [line for line in log_file.read_text().splitlines() if line.startswith("{")]
        step.report = json.loads(lines[-1]) if lines else {}
        if step.exit_code:
            print(log_file.read_text()[-2000:], flush=True)
            break
    return steps


# ------------------------------------------------------------------------------- results


def features_root(spec: StackSpec) -> str:
    """The ``--output`` of the job: the feature store in the results bucket."""
    return f"s3://{spec.names.results_bucket}/{spec.config.features_prefix.rstrip('/')}"


def download_prefix(s3: Any, bucket: str, prefix: str, destination: Path) -> list[Path]:
    """Copy every object under ``prefix`` to ``destination/<key>``."""
    files: list[Path] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            target = destination / obj["Key"]
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, obj["Key"], str(target))
            files.append(target)
    return files


def download_results(s3: Any, spec: StackSpec, out_dir: Path) -> Path:
    """Copy results, manifests and PCA models from the emulator to ``out_dir/<bucket>/<key>``."""
    names, config = spec.names, spec.config
    for prefix in (config.features_prefix, config.answers_prefix):
        download_prefix(s3, names.results_bucket, prefix, out_dir / names.results_bucket)
    for prefix in (config.manifests_prefix, config.pca_models_prefix, config.classifiers_prefix):
        download_prefix(s3, names.artifacts_bucket, prefix, out_dir / names.artifacts_bucket)
    return out_dir / names.results_bucket / config.features_prefix


def read_table(folder: Path) -> Any:
    """A partitioned Parquet folder as a pandas DataFrame (empty when absent)."""
    import pandas as pd

    return pd.read_parquet(folder) if folder.is_dir() else pd.DataFrame()


# ------------------------------------------------------------------------------- the flow


@dataclass
class FlowResult:
    """What one local end-to-end run did and produced."""

    endpoint: str
    spec: StackSpec
    uploads: list[str]
    notifications: int
    invocations: list[Invocation]
    executions: list[ExecutionRun]
    features: Any  # pandas DataFrame
    errors: Any  # pandas DataFrame
    left_in_queue: int
    in_dead_letter_queue: int
    out_dir: Path
    local_copy: Path
    refit: list[RefitStep] = field(default_factory=list)
    #: Upload key -> the JSON answer the app would fetch.
    answers: dict[str, Any] = field(default_factory=dict)
    #: The instant path (S3 -> EventBridge -> answer Lambda): latencies, answers, failures.
    instant: answer_flow.InstantAnswers | None = None
    #: The app's side (two identities through the app API), when the flow sent app photos.
    app: AppFlowResult | None = None
    #: The refit's classifier steps run again after the app's correction (``app_corrections``).
    retrain: list[RefitStep] = field(default_factory=list)
    #: Identity A erased at the end, and the scan for what is left (tests/e2e/erasure_flow.py).
    erasure: ErasureResult | None = None

    @property
    def messages_received(self) -> int:
        return sum(len(i.message_ids) for i in self.invocations)


def run_flow(
    uploads: Sequence[Upload],
    *,
    out_dir: Path = DEFAULT_OUT,
    duplicate_delivery: bool = True,
    keep_running: bool = False,
    spark_logs_to_files: bool = False,
    refit_min_images: int | None = None,
    fail_then_replay: bool = False,
    after_refit: Sequence[Upload] = (),
    app_uploads: Sequence[AppPhoto] = (),
    app_abuse: bool = False,
    app_corrections: bool = False,
    erase_app_identity: bool = False,
) -> FlowResult:
    """Run the whole flow against a fresh moto server; the server is stopped on return or failure.

    ``duplicate_delivery`` re-sends the S3 notification of the first upload and redelivers the
    first SQS batch (acknowledgements dropped once): neither may produce a second run or row.
    ``refit_min_images``: after the batches, run the PCA refit (fit, promote, back-fill) with this minimum.
    ``fail_then_replay``: the batches' first runs fail; each is then replayed with the replay command's
    functions (``lambdas.replay``) and run again.
    ``after_refit``: uploaded once the refit promoted a basis and a classifier, as a second round of
    batches: their rows are projected and predicted directly, and each gets its answer.
    ``uploads`` are the data team's labelled (curated) data; ``after_refit`` are app-less uploads.
    ``app_uploads``: sent by two app identities through the app API (:mod:`tests.e2e.app_flow`) with the
    last round of uploads; each identity then reads its own answers. ``app_abuse``: also send what the app
    API must refuse. ``app_corrections``: identity A then corrects (or confirms) its photo's label through
    the API, and, after a refit, the refit's classifier steps run again: training counts the correction
    and the promotion gate judges the new classifier. ``erase_app_identity``: at the end, identity B
    erases itself through the app API, and everything is searched for what is left of it
    (:mod:`tests.e2e.erasure_flow`).
    """
    spec = load_stack_spec(out_dir / "cdk.out")
    clear_local_copy(spec, out_dir)
    with (
        moto_server() as endpoint,
        patched_environ(emulator_environment(endpoint, spec.region), FOREIGN_AWS_ENV),
    ):
        print(f"moto server at {endpoint} (account {spec.account}, region {spec.region})", flush=True)
        clients = clients_for(endpoint, spec.region)
        provisioned = provision(clients, spec)
        upload_weights(clients.s3, spec)
        relay = answer_flow.Relay(clients, spec, endpoint)  # the instant answers, as each upload lands
        app = AppFlow(spec) if app_uploads else None
        uris = upload_all(
            clients.s3, spec, uploads, spec.config.curated_prefix
        )  # labelled: no instant answer
        app_now = app_uploads if app and not after_refit else ()
        sent = app.send(app_now, on_uploaded=relay.uploaded) if app_now else []
        relay.wait([uri.split("/", 3)[3] for uri in sent])  # before the batch window closes
        uris += sent
        notifications = wait_for_messages(
            clients.sqs, provisioned.queue_url, at_least=len(uploads) + len(app_now)
        )
        if duplicate_delivery and uploads:
            key = spec.config.curated_prefix + uploads[0].key
            duplicate_notification(clients.sqs, provisioned.queue_url, key)
        invocations = ingest(clients, spec, provisioned, redeliver_first_batch=duplicate_delivery)
        logs_dir = out_dir / "logs" if spark_logs_to_files else None
        runs = run_executions(
            clients, spec, provisioned, endpoint, logs_dir=logs_dir, failing=fail_then_replay
        )
        if fail_then_replay:
            runs += replay_failed(clients, spec, provisioned, endpoint, logs_dir=logs_dir, done=runs)
        refit = (
            run_refit(refit_steps(spec, endpoint, min_images=refit_min_images), logs_dir=logs_dir)
            if refit_min_images is not None
            else []
        )
        if after_refit:
            relay.models_ttl_elapsed()
            fresh = upload_all(clients.s3, spec, after_refit, on_uploaded=relay.uploaded)
            fresh += app.send(app_uploads, on_uploaded=relay.uploaded) if app else []
            relay.wait([uri.split("/", 3)[3] for uri in fresh])
            uris += fresh
            expected = len(after_refit) + (len(app_uploads) if app else 0)
            notifications += wait_for_messages(clients.sqs, provisioned.queue_url, at_least=expected)
            invocations += ingest(clients, spec, provisioned, redeliver_first_batch=False)
            runs += run_executions(clients, spec, provisioned, endpoint, logs_dir=logs_dir, done=runs)
        if app and app_abuse:
            app.refuse_abuse(app_uploads[0])
        retrain: list[RefitStep] = []
        if app and app_corrections:
            app.correct()
            if refit_min_images is not None:
                steps = classifier_steps(spec, endpoint, min_images=refit_min_images)
                retrain = run_refit(steps, logs_dir=logs_dir, name="retrain")
        result = FlowResult(
            endpoint=endpoint,
            spec=spec,
            uploads=uris,
            notifications=notifications,
            invocations=invocations,
            executions=runs,
            left_in_queue=queue_depth(clients.sqs, provisioned.queue_url),
            in_dead_letter_queue=queue_depth(clients.sqs, provisioned.dlq_url),
            out_dir=out_dir,
            **collect_outputs(clients.s3, spec, out_dir),
            refit=refit,
            instant=relay.report,
            app=app.finish() if app else None,
            retrain=retrain,
        )
        print(format_summary(result), flush=True)
        if app and erase_app_identity:
            result.erasure = erase_identity(
                clients=clients,
                spec=spec,
                endpoint=endpoint,
                app=app,
                relay=relay,
                features=result.features,
                out_dir=out_dir,
                logs_dir=logs_dir,
            )
            print("\n".join(erasure_summary(result.erasure)), flush=True)
        relay.stop()
        if keep_running:
            wait_for_interrupt(result)
    return result


def clear_local_copy(spec: StackSpec, out_dir: Path) -> None:
    """Remove what a previous run copied to ``out_dir`` (only the folders this flow writes)."""
    for name in (spec.names.results_bucket, spec.names.artifacts_bucket, "logs"):
        shutil.rmtree(out_dir / name, ignore_errors=True)


def collect_outputs(s3: Any, spec: StackSpec, out_dir: Path) -> dict[str, Any]:
    """Download the outputs and read features and errors (the FlowResult fields they fill)."""
    from spark_app.core.defaults import ERRORS_DIR, FEATURES_DIR

    local = download_results(s3, spec, out_dir)
    answers_root = out_dir / spec.names.results_bucket / spec.config.answers_prefix
    answers = {
        path.relative_to(answers_root).as_posix().removesuffix(".json"): json.loads(path.read_text())
        for path in sorted(answers_root.rglob("*.json"))
    }
    return {
        "features": read_table(local / FEATURES_DIR),
        "errors": read_table(local / ERRORS_DIR),
        "local_copy": local,
        "answers": answers,
    }


def wait_for_interrupt(result: FlowResult) -> None:
    """Keep the emulator up for inspection until Ctrl-C (or SIGTERM)."""
    print(
        f"\nThe emulator keeps running at {result.endpoint} (Ctrl-C to stop). For example:\n"
        f"  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing aws --endpoint-url {result.endpoint} "
        f"--region {result.spec.region} s3 ls --recursive {features_root(result.spec)}/",
        flush=True,
    )
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(timeout=0.5):  # a timed wait lets Ctrl-C through
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    print("stopping the emulator", flush=True)


def format_summary(result: FlowResult) -> str:
    """Human-readable summary of a run."""
    spec, features, errors = result.spec, result.features, result.errors
    root = features_root(spec)
    failed = sum(len(i.failed_ids) for i in result.invocations)
    redelivered = sum(1 for i in result.invocations if i.acknowledgements_dropped)
    labels = Counter(features["label"].fillna("(no label)")) if len(features) else Counter()
    lines = [
        "",
        "== local end-to-end summary",
        f"emulator       {result.endpoint} (moto; account {spec.account}, region {spec.region})",
        f"uploads        {len(result.uploads)} to s3://{spec.names.ingestion_bucket}/"
        f"{{{spec.config.curated_prefix},{spec.config.uploads_prefix}}} (curated, uploads)",
        f"notifications  {result.notifications} S3 -> SQS (including the s3:TestEvent)",
        f"batches        {len(result.invocations)} Lambda invocations, {result.messages_received} messages"
        f" ({failed} failed, {redelivered} batch(es) redelivered on purpose)",
        f"queue          {result.left_in_queue} left, {result.in_dead_letter_queue} in the DLQ",
        f"executions     {len(result.executions)}",
    ]
    lines += [
        f"  {run.name}  {run.status}  spark_app exit {run.exit_code} in {run.seconds:.0f} s"
        f"  ({run.input.get('image_count')} objects)"
        for run in result.executions
    ]
    lines.append(
        f"images         {len(features)}  ({', '.join(f'{k}: {v}' for k, v in sorted(labels.items()))})"
    )
    bases = Counter(features["pca_version"].fillna("none")) if len(features) else Counter()
    lines.append(f"PCA bases      {', '.join(f'{k}: {v} rows' for k, v in sorted(bases.items())) or '-'}")
    lines += [
        f"  refit {step.command:<9} exit {step.exit_code}  {json.dumps(step.report, sort_keys=True)[:160]}"
        for step in result.refit
    ]
    lines += result.instant.summary_lines() if result.instant else []
    lines.append(f"errors         {len(errors)}")
    lines += [
        f"answer         {key}: {_answer_text(answer)}" for key, answer in sorted(result.answers.items())
    ]
    lines += (
        [f"  {row.path}  [{row.error_stage}] {row.error}" for row in errors.itertuples()]
        if len(errors)
        else []
    )
    lines += app_summary(result.app)
    lines += retrain_summary(result)
    lines += [
        f"results        {root}/features/ and {root}/errors/ (on the emulator)",
        f"local copy     {_display(result.local_copy)}",
        f"template       {_display(spec.template_path)}",
    ]
    return "\n".join(lines)


def trained_version(result: FlowResult) -> dict[str, Any]:
    """The ``version.json`` of the classifier trained after the correction (the local copy's)."""
    train = next((s for s in result.retrain if s.command == "TrainClassifier"), None)
    if train is None or "version" not in train.report:
        return {}
    names, config = result.spec.names, result.spec.config
    path = result.out_dir / names.artifacts_bucket / config.classifiers_prefix / train.report["version"]
    return json.loads((path / "version.json").read_text())


def retrain_summary(result: FlowResult) -> list[str]:
    """What the training run after the correction counted, what the gate said, what was promoted."""
    from spark_app.cli.classifier import correction_line, gate_line

    if not result.retrain:
        return []
    info, steps = trained_version(result), {s.command: s for s in result.retrain}
    lines = ["retrain        the refit's classifier steps, after the app's correction"]
    if info:
        gate = info["gate"]
        lines += [
            f"  TrainClassifier   exit {steps['TrainClassifier'].exit_code}: {info['name']}",
            f"    corrections     {correction_line(info['corrections'])}",
            f"    gate            {gate_line(gate)}: top-1 {gate['top1']:.4f} on {gate['validation_images']} "
            "curated validation images",
        ]
    if "PromoteClassifier" in steps:
        promote = steps["PromoteClassifier"]
        lines.append(
            f"  PromoteClassifier exit {promote.exit_code}: LATEST {promote.report.get('previous')} "
            f"-> {promote.report.get('promoted')}"
        )
    return lines


def retrain_problems(result: FlowResult) -> list[str]:
    """What is wrong with the training run after the correction (empty when it counted the correction,
    the gate passed and the new classifier was promoted)."""
    if not result.retrain:
        return []
    problems = [f"retrain {s.command} exited with {s.exit_code}" for s in result.retrain if s.exit_code]
    info = trained_version(result)
    if info and not info["corrections"]["images"]:
        problems.append(f"the training run used no correction: {info['corrections']}")
    if info and not info["gate"]["passed"]:
        problems.append(
            f"the gate refused the classifier trained with the correction: {info['gate']['reasons']}"
        )
    return problems


def _answer_text(answer: dict[str, Any]) -> str:
    if answer.get("status") == "ok":
        return f"{answer['predicted_label']} ({answer['confidence']:.2f})"
    if answer.get("status") == "error":
        return f"error [{answer.get('error_stage')}] {answer.get('error')}"
    return "no classifier yet"


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def build_parser() -> argparse.ArgumentParser:
    """The command's arguments."""
    parser = OneLineParser(prog="python -m tests.e2e.local_flow", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--images", type=positive_int, default=12, help="sample photos to upload (default 12)"
    )
    parser.add_argument(
        "--classes", type=positive_int, help="take them from this many class folders (default all)"
    )
    parser.add_argument(
        "--bad-uploads",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also upload a truncated JPEG and a text file named .jpg (default on)",
    )
    parser.add_argument(
        "--duplicate-delivery",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="duplicate one S3 notification and redeliver the first SQS batch (default on)",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"local copy folder (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--keep-running", action="store_true", help="keep the emulator up until Ctrl-C (default off)"
    )
    parser.add_argument(
        "--new-uploads",
        type=non_negative_int,
        default=3,
        help="after the refit, upload this many unlabelled photos, which get predictions (default 3)",
    )
    parser.add_argument(
        "--refit-min-images",
        type=non_negative_int,
        default=8,
        help="after the batches, bootstrap one PCA basis (fit over the store with this minimum, promote, "
        "back-fill); 0 to skip (default 8)",
    )
    parser.add_argument(
        "--app-photos",
        type=non_negative_int,
        default=2,
        help="photos sent through the app API by two identities, A and B in turn (default 2); 0 to skip",
    )
    parser.add_argument(
        "--app-corrections",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="identity A corrects its photo's label through the app API, then the refit's classifier steps "
        "run again: the correction is counted and the promotion gate judges the result (default on)",
    )
    parser.add_argument(
        "--app-abuse",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also send what the app API must refuse (HEIC, oversize, not an image, bomb, reused grant) "
        "(default on)",
    )
    parser.add_argument(
        "--erase",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="at the end, identity B erases itself (DELETE /me); everything is scanned for it (default on)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the flow; exit 1 when a job failed or an upload is not accounted for exactly once."""
    parser = build_parser()
    args = parser.parse_args(argv)
    photos = sample_uploads(args.images, classes=args.classes)
    problem = argument_problem(args, len(photos))
    if problem:
        parser.error(problem)
    uploads = photos + (bad_uploads() if args.bad_uploads else [])
    classes = sorted({u.key.split("/")[0] for u in photos})[: args.new_uploads]
    result = run_flow(
        uploads,
        out_dir=args.out,
        duplicate_delivery=args.duplicate_delivery,
        keep_running=args.keep_running,
        refit_min_images=args.refit_min_images or None,
        after_refit=unlabelled_photos(classes) if args.refit_min_images else [],
        app_uploads=app_photos(args.app_photos),
        app_abuse=args.app_abuse,
        app_corrections=args.app_corrections and args.app_photos > 0,
        erase_app_identity=args.erase and args.app_photos > 0,
    )
    problems = check(result)
    for problem in problems:
        print(f"local-e2e: {problem}", file=sys.stderr)
    return 1 if problems else 0


def argument_problem(args: argparse.Namespace, photos: int) -> str | None:
    """What makes the arguments unusable, found before the emulator starts (``None``: nothing)."""
    folders = sum(1 for p in SAMPLE_DIR.iterdir() if p.is_dir())
    if args.classes and args.classes > folders:
        return f"--classes {args.classes}: the sample has {folders} class folders"
    if photos < args.images:
        return f"--images {args.images}: the sample has {photos} photos in the class folders taken"
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"--out {args.out}: cannot create it ({exc.strerror})"
    if not os.access(args.out, os.W_OK):
        return f"--out {args.out}: not writable"
    return None


def check(result: FlowResult) -> list[str]:
    """What is wrong with a run (empty when every upload is accounted for exactly once)."""
    # A failed run is a problem unless a later run (a replay) of the same batch succeeded.
    succeeded = {r.input.get("batch_id") for r in result.executions if r.exit_code == 0}
    problems = [
        f"execution {r.name}: spark_app exited with {r.exit_code}"
        for r in result.executions
        if r.exit_code and r.input.get("batch_id") not in succeeded
    ]
    seen = Counter(list(result.features.get("path", [])) + list(result.errors.get("path", [])))
    problems += [
        f"{uri} is in the outputs {seen[uri]} times, expected once"
        for uri in result.uploads
        if seen[uri] != 1
    ]
    problems += [f"{uri} is in the outputs but was not uploaded" for uri in seen if uri not in result.uploads]
    problems += [f"refit {s.command} exited with {s.exit_code}" for s in result.refit if s.exit_code]
    if result.refit and len(result.features):
        bases = set(result.features["pca_version"].fillna("none"))
        if len(bases) != 1 or "none" in bases:
            problems.append(f"after the refit the rows are on {len(bases)} bases: {sorted(bases)}")
    instant_uploads = [
        u for u in result.uploads if u.split("/", 3)[3].startswith(result.spec.config.uploads_prefix)
    ]
    problems += answer_flow.problems(result.instant, instant_uploads, result.answers)
    problems += app_problems(result.app)
    problems += retrain_problems(result)
    problems += erasure_problems(result.erasure)
    if result.left_in_queue or result.in_dead_letter_queue:
        problems.append(
            f"{result.left_in_queue} message(s) left in the queue, {result.in_dead_letter_queue} in the DLQ"
        )
    return problems


if __name__ == "__main__":
    sys.exit(main())
