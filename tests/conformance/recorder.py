"""Record every AWS API call the pipeline makes: the driver, its Python workers and the two Lambdas.

Calls are recorded at botocore's single choke point (``BaseClient._make_api_call``), as JSON lines:
``{"principal", "service", "operation", "region", "params"}`` (the parameters that decide IAM: bucket,
key, prefix, ARNs...; never bodies). In this process, a call is the ingest Lambda's when the Lambda's
code is on the stack, the answer Lambda's when its code is (the test harness's own calls are not the
pipeline's and are left out). Child
processes (``python -m spark_app`` and the Spark Python workers it starts) load ``site/sitecustomize.py``
through ``PYTHONPATH`` and record as the principal named by ``FRUITS_AUDIT_PRINCIPAL``.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
SITE_DIR = Path(__file__).resolve().parent / "site"
LOG_ENV = "FRUITS_AUDIT_LOG"
PRINCIPAL_ENV = "FRUITS_AUDIT_PRINCIPAL"
#: Principal of the Spark job's processes (driver and workers) in the recording.
JOB = "job"
#: Principal of the ingest Lambda's calls.
INGEST = "ingest"
#: Principal of the answer Lambda's calls.
ANSWER = "answer"
ANSWER_CODE = str(REPO_ROOT / "lambdas" / "answer") + os.sep
#: Principal of the app API Lambda's calls; ``app:<identity id>`` for the app client's own calls.
APP_API = "app_api"
APP = "app:"
LAMBDA_CODE = str(REPO_ROOT / "lambdas") + os.sep
APP_API_CODE = str(REPO_ROOT / "lambdas" / "app_api") + os.sep
APP_CLIENT_CODE = str(REPO_ROOT / "app_client") + os.sep
#: Request parameters that decide an IAM evaluation (bodies and the like are never kept).
KEPT_PARAMS = (
    "Bucket",
    "Key",
    "Prefix",
    "Delimiter",
    "MaxKeys",
    "CopySource",
    "UploadId",
    "stateMachineArn",
    "executionArn",
    "name",
    "QueueUrl",
    "TopicArn",
    "DatabaseName",
    "TableName",
    "Name",
)

_lock = threading.Lock()


def call_record(client: Any, operation: str, params: dict[str, Any], principal: str) -> dict[str, Any]:
    """One recorded call (JSON-serialisable)."""
    kept = {k: params[k] for k in KEPT_PARAMS if k in params}
    if "Delete" in params:
        kept["DeleteKeys"] = [o["Key"] for o in params["Delete"].get("Objects", [])]
        kept["DeleteVersions"] = any("VersionId" in o for o in params["Delete"].get("Objects", []))
    if not isinstance(kept.get("Key", ""), str):
        del kept["Key"]  # a DynamoDB item key (the identity id): IAM authorizes on the table alone
    if isinstance(kept.get("CopySource"), dict):
        kept["CopySource"] = f"{kept['CopySource']['Bucket']}/{kept['CopySource']['Key']}"
    meta = client.meta
    return {
        "principal": principal,
        "service": meta.service_model.signing_name,
        "operation": operation,
        "region": meta.region_name,
        "params": kept,
    }


def install(log_path: str, principal_of: Callable[[], str | None]) -> Callable[[], None]:
    """Patch botocore to append each call to ``log_path``; returns the function that undoes it."""
    from botocore.client import BaseClient

    original = BaseClient._make_api_call

    def recording(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        principal = principal_of()
        if principal is not None:
            line = json.dumps(call_record(self, operation_name, api_params, principal), sort_keys=True)
            with _lock, open(log_path, "a", encoding="utf-8") as log:
                log.write(line + "\n")
        return original(self, operation_name, api_params)

    BaseClient._make_api_call = recording

    def uninstall() -> None:
        BaseClient._make_api_call = original

    return uninstall


def lambda_on_stack() -> str | None:
    """Who is calling, by the innermost project code on the stack: the app API Lambda (``APP_API``), the
    answer Lambda (``ANSWER``), the ingest Lambda (``INGEST``), the app client (``app:<its identity id>``),
    else None (the harness)."""
    frame = sys._getframe(2)
    while frame is not None:
        file = frame.f_code.co_filename
        if file.startswith(APP_API_CODE):
            return APP_API
        if file.startswith(ANSWER_CODE):
            return ANSWER
        if file.startswith(LAMBDA_CODE):
            return INGEST
        if file.startswith(APP_CLIENT_CODE):
            return f"{APP}{getattr(frame.f_locals.get('self'), 'identity_id', None)}"
        frame = frame.f_back
    return None


def read_calls(log_path: Path) -> list[dict[str, Any]]:
    """The recorded calls, in order."""
    if not log_path.exists():
        return []
    return [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines() if line]


@contextmanager
def recording(log_path: Path) -> Iterator[Path]:
    """Record the Lambda's calls here and the job's in every child process started meanwhile."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text("")
    saved = {name: os.environ.get(name) for name in (LOG_ENV, PRINCIPAL_ENV, "PYTHONPATH")}
    os.environ[LOG_ENV] = str(log_path)
    os.environ[PRINCIPAL_ENV] = JOB
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SITE_DIR), saved["PYTHONPATH"]]))
    uninstall = install(str(log_path), lambda_on_stack)
    try:
        yield log_path
    finally:
        uninstall()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
