"""``DELETE /me``: erase everything of the calling identity (GDPR Art. 17).

The identity is the request's signer (``requestContext``), never a path, body or header value: a caller
can start only its own erasure. The route starts the erasure state machine (cdk_app/erasure.py) with a
new erasure id and answers 202 with it; the receipt (counts and times only) is kept under that id.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from lambdas.app_api.aws import AwsClients
from lambdas.app_api.config import AppApiConfig
from lambdas.app_api.http import ApiError, ApiRequest, Reply


def erase_me(request: ApiRequest, config: AppApiConfig, clients: AwsClients, now: float) -> Reply:
    """202 with the erasure id once the erasure of the caller's identity has started."""
    if request.body.strip():
        raise ApiError(400, "body_not_allowed", "DELETE /me takes no body: it erases the signing identity")
    if not config.erasure_state_machine_arn:
        raise ApiError(503, "erasure_unavailable", "erasure is not configured on this deployment")
    erasure_id = uuid.uuid4().hex
    start_erasure(clients.stepfunctions, config.erasure_state_machine_arn, request.identity_id, erasure_id)
    return Reply(202, {"erasure_id": erasure_id, "status": "started"})


def start_erasure(stepfunctions: Any, state_machine_arn: str, identity_id: str, erasure_id: str) -> None:
    """One execution named by the erasure id (unique), with the identity in its input."""
    stepfunctions.start_execution(
        stateMachineArn=state_machine_arn,
        name=erasure_id,
        input=json.dumps({"identity_id": identity_id, "erasure_id": erasure_id}),
    )
