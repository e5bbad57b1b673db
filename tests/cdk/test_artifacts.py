"""The Spark code bundle, the custom-image Dockerfile, and ArtifactsProps (keys and deployments)."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
from cdk_helpers import probe

from cdk_app.artifacts import Artifacts, build_spark_code_bundle, spark_code_files
from cdk_app.artifacts_props import CODE_ARCHIVE_NAME, ENTRY_POINT_NAME, ArtifactsProps
from cdk_app.config import ConfigError, PipelineConfig
from cdk_app.processing import DOCKERFILE, DOCKERFILE_DIR
from cdk_app.shared import REPO_ROOT

#: What the executors and the driver import (requirements.txt pins them).
IMAGE_PACKAGES = (
    "numpy",
    "pandas",
    "pyarrow",
    "pillow",
    "tensorflow-cpu",
    "keras",
    "h5py",
    "ai-edge-litert",
    "boto3",
)


def _pins(text: str) -> dict[str, str]:
    return {m[0].lower(): m[1] for m in re.findall(r"^\s*([A-Za-z0-9_.-]+)==([^\s\\#]+)", text, re.M)}


def test_code_bundle_is_the_package_zip_and_the_entry_script(tmp_path: Path) -> None:
    out = build_spark_code_bundle(tmp_path / "bundle")
    assert sorted(p.name for p in out.iterdir()) == sorted([CODE_ARCHIVE_NAME, ENTRY_POINT_NAME])
    names = zipfile.ZipFile(out / CODE_ARCHIVE_NAME).namelist()
    assert "spark_app/__init__.py" in names and "spark_app/core/manifest.py" in names
    assert all(n.startswith("spark_app/") and n.endswith(".py") for n in names)
    assert not [n for n in names if "__pycache__" in n or "/tests/" in n]
    assert names == [p.relative_to(REPO_ROOT).as_posix() for p in spark_code_files()]
    assert (out / ENTRY_POINT_NAME).read_bytes() == (REPO_ROOT / "spark_app" / "__main__.py").read_bytes()


def test_code_bundle_is_reproducible(tmp_path: Path) -> None:
    first = (build_spark_code_bundle(tmp_path / "a") / CODE_ARCHIVE_NAME).read_bytes()
    second = (build_spark_code_bundle(tmp_path / "b") / CODE_ARCHIVE_NAME).read_bytes()
    assert first == second


def test_dockerfile_extends_the_emr_serverless_image_and_pins_like_requirements() -> None:
    dockerfile = (DOCKERFILE_DIR / DOCKERFILE).read_text()
    assert re.search(r"^FROM public\.ecr\.aws/emr-serverless/spark/emr-7\.12\.0:latest$", dockerfile, re.M)
    lines = [line.strip() for line in dockerfile.splitlines() if line.strip().startswith("USER")]
    assert lines[0] == "USER root" and lines[-1] == "USER hadoop:hadoop"
    assert "python3.11" in dockerfile and "PYSPARK_PYTHON=/usr/bin/python3.11" in dockerfile
    image = _pins(dockerfile.replace("\\\n", "\n"))
    requirements = _pins((REPO_ROOT / "requirements.txt").read_text())
    assert set(image) == set(IMAGE_PACKAGES)
    for package in IMAGE_PACKAGES:
        assert image[package] == requirements[package], package


def test_docker_folder_holds_only_the_images_dockerfiles() -> None:
    # The EMR image's build context is its Dockerfile alone (tests/cdk/test_stack.py checks the asset).
    assert sorted(p.name for p in DOCKERFILE_DIR.iterdir()) == ["answer-lambda.Dockerfile", DOCKERFILE]


def test_the_models_deployment_ships_the_litert_model_next_to_the_weights(synth) -> None:
    from cdk_app.artifacts import model_files
    from spark_app.core.model import PINNED_LITERT_NAME
    from spark_app.models.weights import beside_weights

    files = model_files(synth.config)
    assert PINNED_LITERT_NAME in files and f"{PINNED_LITERT_NAME}.sha256" in files
    assert all((REPO_ROOT / "models" / name).is_file() for name in files)
    # The job looks for the LiteRT model beside the weights URI the state machine passes.
    weights_uri = f"s3://artifacts/{synth.config.weights_key}"
    expected = f"s3://artifacts/{synth.config.models_prefix}{PINNED_LITERT_NAME}"
    assert beside_weights(weights_uri, PINNED_LITERT_NAME) == expected
    shipped = [p for p in synth.outdir.glob("asset.*") if (p / synth.config.weights_file).is_file()]
    assert shipped and all(sorted(f.name for f in p.iterdir()) == sorted(files) for p in shipped)


# -- props -----------------------------------------------------------------------------------------


def test_artifacts_props_defaults_are_the_configuration_defaults() -> None:
    props = ArtifactsProps()
    assert props == PipelineConfig().artifacts_props()
    assert (props.code_archive_key, props.entry_point_key) == ("code/spark_app.zip", "code/main.py")
    assert props.weights_key == "models/mobilenet_v2_1.0_224_no_top_tfslim2018.weights.h5"


def test_keys_follow_the_prefixes() -> None:
    props = ArtifactsProps(code_prefix="spark/", models_prefix="cnn/", weights_file="w.h5")
    assert (props.code_archive_key, props.entry_point_key, props.weights_key) == (
        "spark/spark_app.zip",
        "spark/main.py",
        "cnn/w.h5",
    )
    assert PipelineConfig(models_prefix="cnn/", weights_file="w.h5").weights_key == "cnn/w.h5"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("code_prefix", "code", "code_prefix 'code' must be a key prefix"),
        ("models_prefix", "/models/", "models_prefix '/models/' must be a key prefix"),
        ("weights_file", "", "weights_file '' must be a file name"),
        ("weights_file", "sub/w.h5", "weights_file 'sub/w.h5' must be a file name"),
    ],
)
def test_invalid_artifacts_props_are_refused(field: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ArtifactsProps(**{field: value})


def test_deployments_go_to_the_props_prefixes() -> None:
    from aws_cdk import aws_s3 as s3

    def build(stack):
        return Artifacts(
            stack,
            "Artifacts",
            ArtifactsProps(code_prefix="spark/", models_prefix="cnn/"),
            bucket=s3.Bucket(stack, "Bucket"),
        )

    deployments = probe(build).resources("Custom::CDKBucketDeployment").values()
    assert sorted(d["Properties"]["DestinationBucketKeyPrefix"] for d in deployments) == ["cnn/", "spark/"]
