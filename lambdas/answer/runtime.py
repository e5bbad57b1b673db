"""Building what a container keeps for its lifetime: the pinned model (from the image), the S3 client and
the promoted heads. Called once, at import of the handler (the Lambda init phase)."""

from __future__ import annotations

from pathlib import Path

from lambdas.answer.config import AnswerConfig
from lambdas.answer.promoted import PromotedHeads
from lambdas.answer.service import Runtime
from spark_app.core.model import PINNED_LITERT_NAME, build_extractor, pinned_payload
from spark_app.store import objects

#: The image copies the repository's models/ (the pinned fp32 LiteRT model and its checksum) here.
PACKAGED_MODELS = Path(__file__).resolve().parents[2] / "models"


def build_runtime(config: AnswerConfig, models_dir: Path = PACKAGED_MODELS) -> Runtime:
    """The container's runtime: the checksum-verified pinned LiteRT model built once, the S3 client made."""
    payload = pinned_payload((models_dir / PINNED_LITERT_NAME).read_bytes())
    objects.s3_client()  # created in the init phase, not on the first upload
    return Runtime(
        answers_root=config.answers_root,
        uploads_prefix=config.uploads_prefix,
        max_object_bytes=config.max_object_bytes,
        extractor=build_extractor(payload),
        model_version=payload.model_version,
        feature_store=config.feature_store,
        heads=PromotedHeads(
            config.pca_model_dir,
            config.classifier_dir,
            model_version=payload.model_version,
            threshold=config.confidence_threshold,
            ttl_seconds=config.models_ttl_seconds,
        ),
    )
