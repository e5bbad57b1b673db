"""Props of the Erasure construct: the state machine that erases one app identity (GDPR Art. 17)."""

from __future__ import annotations

from dataclasses import dataclass, field

from cdk_app import shared
from cdk_app.orchestration_props import SparkJobProps
from cdk_app.validation import require_between, require_glue_name, require_match, require_prefix
from spark_app.core.defaults import ERASURE_HOLD_SECONDS

_STATE_MACHINE_NAME = (r"[A-Za-z0-9_-]{1,80}", "1-80 characters of A-Z a-z 0-9 _ -")


@dataclass(frozen=True)
class ErasureProps:
    """Erase one identity: ``spark_app erase`` passes on EMR Serverless until its receipt says done."""

    #: Name of the erasure state machine (the app API starts it). Pattern ``[A-Za-z0-9_-]{1,80}``.
    #: Default ``fruits-erasure``.
    state_machine_name: str = shared.DEFAULT_NAMES.erasure_state_machine
    #: How each pass runs on EMR Serverless (its driver is the batch driver). Default ``SparkJobProps()``.
    spark: SparkJobProps = field(default_factory=SparkJobProps)
    #: Feature store root in the results bucket (``--store``). Pattern ``name/``. Default ``features-store/``.
    features_prefix: str = shared.FEATURES_PREFIX
    #: Answers in the results bucket (``--answers``). Pattern ``name/``. Default ``answers/``.
    answers_prefix: str = shared.ANSWERS_PREFIX
    #: Manifests in the artifacts bucket (``--manifests``). Pattern ``name/``. Default ``manifests/``.
    manifests_prefix: str = shared.MANIFESTS_PREFIX
    #: The app's committed uploads in the ingestion bucket. Pattern ``name/``. Default ``uploads/``.
    uploads_prefix: str = shared.UPLOADS_PREFIX
    #: The app's staged photos in the ingestion bucket. Pattern ``name/``. Default ``incoming/``.
    staging_prefix: str = shared.STAGING_PREFIX
    #: The job logs' prefix in the artifacts bucket (the pass's role writes there). Pattern ``name/``.
    #: Default ``emr-logs/``.
    emr_logs_prefix: str = shared.EMR_LOGS_PREFIX
    #: Glue database whose emptied partitions are dropped. Pattern ``[a-z0-9_]{1,255}``.
    #: Default ``fruits_features``.
    glue_database: str = shared.DEFAULT_NAMES.glue_database
    #: Seconds the tombstone is kept (and the identity erased again) after the first pass: at least a
    #: guest's credentials' life (3600). In [3600, 86400]. Default 3600.
    hold_seconds: int = ERASURE_HOLD_SECONDS
    #: Seconds between two passes while the erasure waits (running batches, the hold). In [60, 3600].
    #: Default 600.
    poll_seconds: int = 600

    def __post_init__(self) -> None:
        require_match(self, "state_machine_name", *_STATE_MACHINE_NAME)
        require_prefix(
            self,
            "features_prefix",
            "answers_prefix",
            "manifests_prefix",
            "uploads_prefix",
            "staging_prefix",
            "emr_logs_prefix",
        )
        require_glue_name(self, "glue_database")
        require_between(self, "hold_seconds", 3600, 86400, "a guest's credentials live an hour")
        require_between(self, "poll_seconds", 60, 3600)
