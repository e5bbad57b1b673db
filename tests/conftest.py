"""Shared fixtures: one local Spark session for the whole run (started on first use), a moto S3 server."""

from __future__ import annotations

import os
import sys
import urllib.request

import boto3
import pytest
from moto.server import ThreadedMotoServer

from spark_app.store import objects as storage

REGION = "eu-west-3"


@pytest.fixture(scope="session")
def spark():
    os.environ["PYSPARK_PYTHON"] = sys.executable
    from spark_app.job.session import build_session

    session = build_session("fruits-tests", master="local[2]", arrow_batch_rows=16, local_memory="2g")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def sample_store(spark, tmp_path_factory: pytest.TempPathFactory):
    """A store holding the bundled sample (``data/sample``, 80 photos) as batch ``seed``, no basis yet:
    ``make demo``'s first job. Shared by the whole run: copy it before writing to it.
    Returns ``(store path, run summary)``."""
    from spark_app.job.config import RunConfig
    from spark_app.job.run import run
    from tests.helpers.images import BUNDLED_SAMPLE

    store = tmp_path_factory.mktemp("sample-store")
    summary = run(RunConfig(input=str(BUNDLED_SAMPLE), output=str(store), batch_id="seed"), spark)
    return store, summary


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch):
    """A moto server with buckets ``ingest`` and ``results``; storage uses it (yields a client)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # Every moto server of this process shares its backends: start from nothing.
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=30).read()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": REGION,
        storage.ENDPOINT_ENV: url,
    }.items():
        monkeypatch.setenv(name, value)
    storage._clients.clear()
    client = boto3.client("s3", endpoint_url=url, region_name=REGION)
    for bucket in ("ingest", "results"):
        client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    yield client
    storage._clients.clear()
    server.stop()


#: What makes a test slow, by the fixtures it uses: a Spark session, a moto server, a synthesized app.
_MARKERS_BY_FIXTURE = {
    "spark": "spark",
    "s3_endpoint": "moto_server",
    "synth": "synth",
    "custom": "synth",
    "definition": "synth",
}
#: Calls in a test's own source that synthesize the CDK app (start jsii and Node).
_SYNTH_CALLS = ("synthesize(", "App(", "build_app(", "npx", "Stack(")


#: The test files that take longest (their module fixtures run whole flows), started first so that
#: ``make test``'s two workers (``-n 2 --dist loadfile``) do not end on one of them.
LONGEST_FIRST = (
    "tests/e2e/test_pca_lifecycle_e2e.py",
    "tests/conformance/test_conformance.py",
    "tests/job/test_run.py",
    "tests/e2e/test_local_e2e.py",
    "tests/job/test_task_retries.py",
    "tests/e2e/test_replay_e2e.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test by what it starts, so that ``make test-fast`` (``-m fast``) runs only the rest;
    put the longest files first (a stable sort: the order inside each file is kept)."""
    import inspect

    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)

    for item in items:
        markers = {m for f, m in _MARKERS_BY_FIXTURE.items() if f in getattr(item, "fixturenames", ())}
        function = getattr(item, "function", None)
        if function is not None and "tests/cdk/" in item.nodeid:
            source = inspect.getsource(function)
            if any(call in source for call in _SYNTH_CALLS):
                markers.add("synth")
        for marker in markers:
            item.add_marker(marker)
        if not markers and not item.get_closest_marker("spark") and not item.get_closest_marker("slow"):
            item.add_marker("fast")
