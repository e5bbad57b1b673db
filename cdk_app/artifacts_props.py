"""Props of the Artifacts construct: where the Spark code and the model files go in the artifacts bucket."""

from __future__ import annotations

from dataclasses import dataclass

from cdk_app import shared
from cdk_app.validation import require_match, require_prefix

#: The spark_app zip given to ``--py-files`` and the spark-submit entry script, under the code prefix.
CODE_ARCHIVE_NAME = "spark_app.zip"
ENTRY_POINT_NAME = "main.py"


@dataclass(frozen=True)
class ArtifactsProps:
    """The code and model prefixes of the artifacts bucket, and which weights ship."""

    #: Key prefix of the Spark code (zip and entry script). Pattern ``name/``. Default ``code/``.
    code_prefix: str = shared.CODE_PREFIX
    #: Key prefix of the model files (weights, LiteRT models, checksums, licence). Pattern ``name/``.
    #: Default ``models/``.
    models_prefix: str = shared.MODELS_PREFIX
    #: File name in ``models/`` of the pinned MobileNetV2 weights (no '/').
    #: Default ``mobilenet_v2_1.0_224_no_top_tfslim2018.weights.h5``.
    weights_file: str = "mobilenet_v2_1.0_224_no_top_tfslim2018.weights.h5"

    def __post_init__(self) -> None:
        require_prefix(self, "code_prefix", "models_prefix")
        require_match(self, "weights_file", r"[^/]+", "a file name in models/ (no '/')")

    @property
    def weights_key(self) -> str:
        """Artifacts-bucket key of the pinned MobileNetV2 weights."""
        return f"{self.models_prefix}{self.weights_file}"

    @property
    def code_archive_key(self) -> str:
        """Artifacts-bucket key of the spark_app zip given to ``--py-files``."""
        return f"{self.code_prefix}{CODE_ARCHIVE_NAME}"

    @property
    def entry_point_key(self) -> str:
        """Artifacts-bucket key of the spark-submit entry script."""
        return f"{self.code_prefix}{ENTRY_POINT_NAME}"
