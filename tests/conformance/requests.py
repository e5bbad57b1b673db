"""IAM requests: what AWS authorizes for each API call (action, resource ARN, condition context).

The mapping follows the Service Authorization Reference (S3, Step Functions) and the S3 User Guide's
"Amazon S3 actions" page: e.g. HeadObject is authorized as s3:GetObject, HeadBucket as s3:ListBucket
with no ``s3:prefix`` in the context, ListObjectsV2 as s3:ListBucket with ``s3:prefix``/``s3:delimiter``/
``s3:max-keys`` exactly as sent, DeleteObjects as one s3:DeleteObject per key, multipart parts as
s3:PutObject. A call this module does not know fails the suite (``UnknownOperation``) so that a new
kind of request cannot slip through unevaluated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class UnknownOperation(ValueError):
    """A recorded API call with no IAM mapping here: add one (with its source) before it ships."""


@dataclass(frozen=True)
class IamRequest:
    """One authorization AWS performs: who, what, on which ARN, with which context keys."""

    principal: str  # a principal key of the PolicySet ("job", "ingest", "state_machine") or a service
    action: str
    resource: str
    context: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # where the request comes from (recorded call, documented platform behaviour)


def s3_object_arn(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def s3_bucket_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def glue_table_arns(region: str, account: str, database: str, table: str) -> list[str]:
    """Glue authorizes a table request on the catalog, the database and the table (Glue User Guide,
    "Specifying AWS Glue resource ARNs")."""
    prefix = f"arn:aws:glue:{region}:{account}"
    return [f"{prefix}:catalog", f"{prefix}:database/{database}", f"{prefix}:table/{database}/{table}"]


def ecr_repository_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:ecr:{region}:{account}:repository/{name}"


#: S3 object operations -> IAM action (on the object ARN).
_S3_OBJECT_ACTIONS = {
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "ListParts": "s3:ListMultipartUploadParts",
    "DeleteObject": "s3:DeleteObject",
}
#: S3 bucket operations -> IAM action (on the bucket ARN).
_S3_BUCKET_ACTIONS = {
    "HeadBucket": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "ListObjectsV2": "s3:ListBucket",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "GetBucketLocation": "s3:GetBucketLocation",
    "ListObjectVersions": "s3:ListBucketVersions",
}
#: ListObjects(V2) parameters -> S3 condition keys (only when sent).
_LIST_CONDITION_KEYS = {"Prefix": "s3:prefix", "Delimiter": "s3:delimiter", "MaxKeys": "s3:max-keys"}
#: Glue catalog operations on a table's partitions: authorized on the catalog, database and table ARNs.
_GLUE_TABLE_ACTIONS = {
    "GetTable": "glue:GetTable",
    "BatchCreatePartition": "glue:BatchCreatePartition",
    "CreatePartition": "glue:CreatePartition",
    "GetPartition": "glue:GetPartition",
    "GetPartitions": "glue:GetPartitions",
    "BatchGetPartition": "glue:BatchGetPartition",
    "BatchDeletePartition": "glue:BatchDeletePartition",
}
#: Step Functions operations -> (IAM action, parameter holding the resource ARN).
_STATES_ACTIONS = {
    "StartExecution": ("states:StartExecution", "stateMachineArn"),
    "DescribeExecution": ("states:DescribeExecution", "executionArn"),
    "ListExecutions": ("states:ListExecutions", "stateMachineArn"),
    "StopExecution": ("states:StopExecution", "executionArn"),
}


#: DynamoDB item operations: authorized on the table ARN (Service Authorization Reference, DynamoDB).
_DYNAMODB_ACTIONS = ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query")
#: Cognito identity operations an app calls without credentials (public APIs, authorized by the identity
#: pool's own settings: guest identities on). The role assumption they lead to is evaluated on the role's
#: trust policy (tests/conformance/app_requests.json).
_PUBLIC_COGNITO = ("GetId", "GetCredentialsForIdentity")


def requests_from_call(call: dict[str, Any], account: str = "123456789012") -> list[IamRequest]:
    """The IAM requests one recorded API call needs (see :mod:`tests.conformance.recorder`)."""
    service, operation, params = call["service"], call["operation"], call["params"]
    principal = call["principal"]
    where = f"recorded {principal} {service}:{operation} {_describe(params)}"
    if service == "cognito-identity" and operation in _PUBLIC_COGNITO:
        return []
    if service == "dynamodb" and operation in _DYNAMODB_ACTIONS:
        arn = f"arn:aws:dynamodb:{call['region']}:{account}:table/{params['TableName']}"
        return [IamRequest(principal, f"dynamodb:{operation}", arn, {}, where)]
    if service == "s3":
        bucket = params["Bucket"]
        if operation in _S3_OBJECT_ACTIONS:
            return [
                IamRequest(
                    principal, _S3_OBJECT_ACTIONS[operation], s3_object_arn(bucket, params["Key"]), {}, where
                )
            ]
        if operation == "DeleteObjects":  # with version ids: s3:DeleteObjectVersion per key
            action = "s3:DeleteObjectVersion" if params.get("DeleteVersions") else "s3:DeleteObject"
            return [
                IamRequest(principal, action, s3_object_arn(bucket, key), {}, where)
                for key in params.get("DeleteKeys", [])
            ]
        if operation == "CopyObject":
            source_bucket, _, source_key = params["CopySource"].partition("/")
            return [
                IamRequest(principal, "s3:PutObject", s3_object_arn(bucket, params["Key"]), {}, where),
                IamRequest(principal, "s3:GetObject", s3_object_arn(source_bucket, source_key), {}, where),
            ]
        if operation in _S3_BUCKET_ACTIONS:
            context = {
                condition: str(params[name])
                for name, condition in _LIST_CONDITION_KEYS.items()
                if name in params
            }
            if operation == "HeadBucket":
                context = {}
            return [
                IamRequest(principal, _S3_BUCKET_ACTIONS[operation], s3_bucket_arn(bucket), context, where)
            ]
    if service == "glue" and operation in _GLUE_TABLE_ACTIONS:
        region = call["region"]
        database, table = params["DatabaseName"], params.get("TableName", params.get("Name"))
        return [
            IamRequest(principal, _GLUE_TABLE_ACTIONS[operation], arn, {}, where)
            for arn in glue_table_arns(region, account, database, table)
        ]
    if service == "states" and operation in _STATES_ACTIONS:
        action, arn_param = _STATES_ACTIONS[operation]
        return [IamRequest(principal, action, params[arn_param], {}, where)]
    raise UnknownOperation(f"no IAM mapping for {service}:{operation} (recorded from {principal})")


def _describe(params: dict[str, Any]) -> str:
    if "Bucket" in params:
        text = f"s3://{params['Bucket']}/{params.get('Key', params.get('Prefix', ''))}"
        return text + (f" (+{len(params['DeleteKeys'])} keys)" if "DeleteKeys" in params else "")
    return params.get("stateMachineArn") or params.get("executionArn") or ""
