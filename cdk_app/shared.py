"""Values several constructs share, each defined once: key prefixes, physical names, common defaults.

The props classes take these as their defaults and the configuration (:mod:`cdk_app.config`) passes the
configured values explicitly into each props object. No aws_cdk import here (tools read it offline).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lambdas.app_api import config as app_api_config
from lambdas.ingest import config as ingest_config

#: Repository root (the CDK app packages files from it).
REPO_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_REGION = "eu-west-3"
DEFAULT_NAME_PREFIX = "fruits"
STACK_NAME = "FruitsPipeline"

# Key prefixes (all end with "/"). Uploads and manifests are shared with the ingest Lambda.
UPLOADS_PREFIX = ingest_config.DEFAULT_UPLOADS_PREFIX
MANIFESTS_PREFIX = ingest_config.DEFAULT_MANIFEST_PREFIX
#: Labelled datasets the data team loads (ingestion bucket): ``curated/<Class>/<file>``.
CURATED_PREFIX = ingest_config.DEFAULT_CURATED_PREFIX
#: The app's photos before their commit (ingestion bucket; never ingested, expire after a day).
STAGING_PREFIX = app_api_config.DEFAULT_STAGING_PREFIX
MODELS_PREFIX = "models/"
PCA_MODELS_PREFIX = "pca-models/"
CODE_PREFIX = "code/"
EMR_LOGS_PREFIX = "emr-logs/"
#: Root of the feature store in the results bucket (Spark writes features/ and errors/ under it).
FEATURES_PREFIX = "features-store/"
#: Classifier versions (artifacts bucket).
CLASSIFIERS_PREFIX = "classifiers/"
#: One JSON answer per upload (results bucket).
ANSWERS_PREFIX = "answers/"

#: Days EMR job logs (S3) and CloudWatch logs (state machines, ingest Lambda) are kept.
LOG_RETENTION_DAYS = 30
#: Largest upload the ingest Lambda accepts and the Spark job reads (bytes).
MAX_OBJECT_BYTES = ingest_config.DEFAULT_MAX_OBJECT_BYTES
#: ``ExecutionTimeoutMinutes`` of a Spark job run.
JOB_TIMEOUT_MINUTES = 120
#: EMR Serverless' limits of the application's queue timeout (SchedulerConfiguration, minutes).
QUEUE_TIMEOUT_RANGE = (15, 720)


def queue_timeout_minutes(job_timeout_minutes: int) -> int:
    """How long a job run may wait in the application's queue: its execution timeout, within EMR's limits.

    The application's scheduler (ProcessingProps) and the job states' timeouts (SparkJobProps) both
    derive it here, from the same job timeout.
    """
    low, high = QUEUE_TIMEOUT_RANGE
    return max(low, min(high, job_timeout_minutes))


#: The EMR Serverless application's capacity cap (vCPU, GB): also bounds the jobs' executors.
EMR_MAX_VCPU = 32
EMR_MAX_MEMORY_GB = 128
#: E-mail subscribed to the alert topic and the budget ('' = none).
ALERT_EMAIL = ""


@dataclass(frozen=True)
class ResourceNames:
    """Physical names of the stack's resources for one account and region.

    Buckets are not named here: CloudFormation generates their names, so that a bucket retained by
    ``cdk destroy`` never blocks the next ``cdk deploy`` (read them from the stack outputs).
    Everything named here is deleted with the stack.
    """

    upload_queue: str
    upload_dlq: str
    state_machine: str
    ingest_function: str
    alerts_topic: str
    emr_application: str
    budget: str
    image_repository: str
    image_stack: str
    refit_state_machine: str
    refit_schedule: str
    glue_database: str
    answer_function: str
    answer_rule: str
    answer_dlq: str
    identity_pool: str
    app_api: str
    app_api_function: str
    identity_table: str
    erasure_state_machine: str


def resource_names(name_prefix: str, region: str) -> ResourceNames:
    """The physical names derived from the name prefix and the region."""
    p = name_prefix
    return ResourceNames(
        upload_queue=f"{p}-uploads",
        upload_dlq=f"{p}-uploads-dlq",
        state_machine=f"{p}-feature-pipeline",
        ingest_function=f"{p}-ingest",
        alerts_topic=f"{p}-alerts",
        emr_application=f"{p}-features",
        budget=f"{p}-monthly-{region}",
        image_repository=f"{p}-spark-image",
        refit_state_machine=f"{p}-pca-refit",
        refit_schedule=f"{p}-weekly-refit",
        glue_database=f"{p.replace('-', '_')}_features",
        image_stack=f"{STACK_NAME}Images",
        answer_function=f"{p}-answer",
        answer_rule=f"{p}-answer-uploads",
        answer_dlq=f"{p}-answer-dlq",
        identity_pool=f"{p}-app",
        app_api=f"{p}-app-api",
        app_api_function=f"{p}-app-api",
        identity_table=f"{p}-app-identities",
        erasure_state_machine=f"{p}-erasure",
    )


#: The names of the default configuration (the props' defaults).
DEFAULT_NAMES = resource_names(DEFAULT_NAME_PREFIX, DEFAULT_REGION)
