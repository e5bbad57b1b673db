"""One real job under failure, as on EMR Serverless: a Python worker killed in the middle of a task, no AWS
region in the environment, one upload whose answer cannot be written, one upload gone.

The job runs as ``python -m spark_app`` under ``local[2,4]`` (Spark retries a failed task up to 4 times)
against a moto server (S3 and Glue), with ``AWS_DEFAULT_REGION``/``AWS_REGION`` removed and no AWS config
file: only ``--region`` gives its clients a region. One input is a named pipe served by this test: the
first Python worker that opens it is killed by pid, the retry gets a real photo. Afterwards rows + errors
= inputs, no row is duplicated, and every upload's answer exists exactly once.
"""

from __future__ import annotations

import errno
import glob
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pandas as pd
import pytest

from spark_app.core.manifest import ManifestEntry, dumps_manifest
from spark_app.core.schema import DATASETS
from tests.helpers.images import REPO, real_images

pytestmark = [pytest.mark.spark, pytest.mark.moto_server, pytest.mark.slow]

REGION = "eu-west-3"
DATABASE = "fruits_features"
BATCH = "retried"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
#: A photo whose answer file name (name + ".json") is over the file system's 255 bytes: a poison upload.
POISON_NAME = "p" * 247 + ".jpg"


@dataclass
class PipeServer:
    """Serves ``data`` through the named pipe ``path``: kills its first reader by pid, feeds later ones."""

    path: Path
    data: bytes
    killed: list[str] = field(default_factory=list)  # command lines of the readers killed
    served: int = 0
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        """Until :attr:`done` (on any failure here: serve anyway, so that the job ends; the test fails)."""
        while not self.done.is_set():
            fd = self._open_when_read()
            if fd is None:
                continue
            reader = None
            try:
                # A reader whose open() we just woke shows its descriptor at once. None: the pipe was
                # still counted open by a killed reader being torn down; open it again.
                reader = self._reader(deadline=time.monotonic() + 1)
                if reader is not None and not self.killed and self.error is None:
                    self._kill(reader)
                elif reader is not None:
                    os.set_blocking(fd, True)
                    os.write(fd, self.data)
                    self.served += 1
            except Exception as exc:
                self.error = self.error or repr(exc)
            finally:
                os.close(fd)
            if reader is not None:
                self._wait_closed(reader)  # one reader, one copy of the photo

    def _open_when_read(self) -> int | None:
        try:
            return os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # ENXIO: no reader yet
                raise
            time.sleep(0.05)
            return None

    def _readers(self) -> list[int]:
        pids = set()
        for fd in glob.glob("/proc/[0-9]*/fd/*"):
            try:
                if os.readlink(fd) == str(self.path):
                    pids.add(int(fd.split("/")[2]))
            except OSError:
                pass
        return sorted(pids - {os.getpid()})

    def _reader(self, deadline: float) -> int | None:
        """The process that opened the pipe, once its descriptor shows (None by ``deadline``)."""
        while not (readers := self._readers()):
            if time.monotonic() > deadline:
                return None
            time.sleep(0.02)
        (pid,) = readers
        return pid

    def _kill(self, pid: int) -> None:
        self.killed.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        os.kill(pid, signal.SIGKILL)

    def _wait_closed(self, pid: int) -> None:
        deadline = time.monotonic() + 30
        while pid in self._readers():
            if time.monotonic() > deadline:
                self.error = self.error or f"reader {pid} kept the pipe open"
                return
            time.sleep(0.05)


@dataclass(frozen=True)
class RetriedJob:
    """What the job left behind."""

    proc: subprocess.CompletedProcess[str]
    pipe: PipeServer
    inputs: list[str]
    rows: pd.DataFrame
    errors: pd.DataFrame
    answers: list[Path]
    partitions: dict[str, list[str]]


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=30)
    yield url
    server.stop()


def _clients(url: str) -> tuple:
    session = boto3.session.Session(region_name=REGION, **{k.lower(): v for k, v in CREDENTIALS.items()})
    return session.client("s3", endpoint_url=url), session.client("glue", endpoint_url=url)


def _provision(url: str) -> None:
    """Buckets and the Glue database with its two tables (partitioned by batch_id)."""
    s3, glue = _clients(url)
    for bucket in ("ingest", "results"):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    glue.create_database(DatabaseInput={"Name": DATABASE})
    for table in DATASETS:
        glue.create_table(
            DatabaseName=DATABASE,
            TableInput={
                "Name": table,
                "PartitionKeys": [{"Name": "batch_id", "Type": "string"}],
                "StorageDescriptor": {"Columns": [], "Location": f"s3://results/store/{table}/"},
            },
        )


def _inputs(root: Path, url: str) -> tuple[list[str], PipeServer]:
    """The inputs and the pipe's server: local photos, a poison, the pipe (late: the task has done work
    when it blocks on it), S3 uploads and a gone one."""
    s3, _ = _clients(url)
    photos = real_images(8)
    local = root / "in"
    local.mkdir()
    uris = []
    for path in photos[:5]:
        (local / path.name).write_bytes(path.read_bytes())
        uris.append(str(local / path.name))
    (local / POISON_NAME).write_bytes(photos[5].read_bytes())
    uris.append(str(local / POISON_NAME))
    pipe = local / "zz-pipe.jpg"
    os.mkfifo(pipe)
    uris.append(str(pipe))
    for path in photos[6:8]:
        s3.put_object(Bucket="ingest", Key=f"uploads/{path.name}", Body=path.read_bytes())
        uris.append(f"s3://ingest/uploads/{path.name}")
    uris.append("s3://ingest/uploads/gone.jpg")  # expired: S3 answers 404 here
    return uris, PipeServer(pipe, photos[0].read_bytes())


def _environment(root: Path, url: str) -> dict[str, str]:
    """This process's environment without any AWS region (nor a config file that could hold one)."""
    removed = ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")
    env = {k: v for k, v in os.environ.items() if k not in removed}
    return {
        **env,
        **CREDENTIALS,
        "AWS_CONFIG_FILE": str(root / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(root / "no-aws-credentials"),
        "AWS_ENDPOINT_URL_GLUE": url,  # the emulator's Glue (S3: --s3-endpoint-url)
        "PYSPARK_PYTHON": sys.executable,
        "FRUITS_SPARK_LOG_LEVEL": "WARN",  # Spark's "Lost task" warning shows the retry
    }


def _read_dataset(url: str, dataset: str, destination: Path) -> pd.DataFrame:
    s3, _ = _clients(url)
    prefix = f"store/{dataset}/batch_id={BATCH}/"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="results", Prefix=prefix).get("Contents", [])]
    parts = [k for k in keys if k.endswith(".parquet")]
    for key in parts:
        (destination / dataset).mkdir(parents=True, exist_ok=True)
        s3.download_file("results", key, str(destination / dataset / Path(key).name))
    return pd.read_parquet(destination / dataset) if parts else pd.DataFrame({"path": []})


@pytest.fixture(scope="module")
def retried(moto_url: str, tmp_path_factory: pytest.TempPathFactory) -> RetriedJob:
    root = tmp_path_factory.mktemp("retried")
    _provision(moto_url)
    uris, pipe = _inputs(root, moto_url)
    manifest = root / f"{BATCH}.jsonl"
    manifest.write_text(dumps_manifest(ManifestEntry(uri) for uri in uris))
    server = threading.Thread(target=pipe.run, daemon=True)
    server.start()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "spark_app",
            "--manifest",
            str(manifest),
            "--output",
            "s3://results/store",
            "--batch-id",
            BATCH,
            "--answers",
            str(root / "answers"),
            "--glue-database",
            DATABASE,
            "--region",
            REGION,
            "--s3-endpoint-url",
            moto_url,
            "--master",
            "local[2,4]",
            "--batch-size",
            "2",
        ],
        cwd=REPO,
        env=_environment(root, moto_url),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    pipe.done.set()
    server.join(timeout=5)
    _, glue = _clients(moto_url)
    partitions = {
        table: [
            p["Values"][0] for p in glue.get_partitions(DatabaseName=DATABASE, TableName=table)["Partitions"]
        ]
        for table in DATASETS
    }
    return RetriedJob(
        proc=proc,
        pipe=pipe,
        inputs=sorted(uris),
        rows=_read_dataset(moto_url, "features", root),
        errors=_read_dataset(moto_url, "errors", root),
        answers=sorted(p for p in (root / "answers").rglob("*") if p.is_file()),
        partitions=partitions,
    )


def test_the_job_passes_with_no_region_in_its_environment(retried: RetriedJob) -> None:
    assert retried.proc.returncode == 0, retried.proc.stderr[-3000:]
    # The Glue client (the driver's last step) had a region: --region, not the environment.
    assert retried.partitions == {table: [BATCH] for table in DATASETS}


def test_a_python_worker_killed_mid_task_is_retried(retried: RetriedJob) -> None:
    assert retried.pipe.error is None
    assert len(retried.pipe.killed) == 1 and "pyspark" in retried.pipe.killed[0]  # a Python worker
    assert retried.pipe.served == 1  # the retried task read the pipe again, and got the photo
    assert "Lost task" in retried.proc.stderr  # Spark's task retry, not the job's


def test_after_the_retry_the_output_is_exact(retried: RetriedJob) -> None:
    rows, errors = retried.rows, retried.errors
    assert len(rows) + len(errors) == len(retried.inputs)
    assert not rows["path"].duplicated().any() and not errors["path"].duplicated().any()
    assert sorted([*rows["path"], *errors["path"]]) == retried.inputs
    (pipe_id,) = rows.loc[rows["path"].str.endswith("zz-pipe.jpg"), "image_id"]  # read on the retry
    assert pipe_id == hashlib.sha256(retried.pipe.data).hexdigest()  # exactly one copy of the photo
    assert "errors         2" in retried.proc.stdout


def test_one_upload_failing_stays_that_uploads_error(retried: RetriedJob) -> None:
    reasons = {Path(p).name: (s, e) for p, s, e in retried.errors[["path", "error_stage", "error"]].values}
    stage, reason = reasons[POISON_NAME]  # its answer's file name is too long: the batch goes on
    assert stage == "answer" and reason.startswith("answer not written") and "too long" in reason
    stage, reason = reasons["gone.jpg"]
    assert stage == "read" and "object not found" in reason and "expired" in reason


def test_every_answer_exists_exactly_once(retried: RetriedJob) -> None:
    names = [path.name for path in retried.answers]
    expected = sorted(Path(uri).name + ".json" for uri in retried.inputs if Path(uri).name != POISON_NAME)
    assert sorted(names) == expected  # one file per upload, no leftover of the killed attempt
    gone = json.loads(next(p for p in retried.answers if p.name == "gone.jpg.json").read_text())
    assert gone["status"] == "error" and gone["error_stage"] == "read"
