"""The Spark image as `cdk deploy` builds and pushes it: one platform, Docker v2 media types, no attestations.

BuildKit's default provenance attestation, or a containerd image store, makes `docker build` push an OCI
image index instead of one image manifest. Lambda refuses such images (aws-cdk issue 31548); EMR Serverless
documents no support for them. The asset manifest is what the CDK CLI turns into the `docker build` command.
"""

from __future__ import annotations

import json

from cdk_app.shared import REPO_ROOT


def test_the_spark_image_is_one_docker_v2_image_of_the_applications_platform(synth) -> None:
    assets = json.loads((synth.outdir / "FruitsPipeline.assets.json").read_text())
    (source,) = [
        image["source"]
        for image in assets["dockerImages"].values()
        if image["source"]["dockerFile"] == "emr-serverless.Dockerfile"
    ]
    assert source["platform"] == "linux/amd64"  # --platform: one platform ...
    (application,) = synth.resources("AWS::EMRServerless::Application").values()
    assert application["Properties"]["Architecture"] == "X86_64"  # ... the application's
    assert source["dockerOutputs"] == ["type=image,oci-mediatypes=false"]  # --output: Docker v2 media types


def test_the_pinned_cdk_cli_builds_as_the_asset_says_without_default_attestations(synth) -> None:
    """The CLI (package-lock.json) runs `docker build --platform ... --output=...` with BuildKit's default
    attestations off; checked in its bundle, so that a CLI upgrade that changes this fails here."""
    bundle = (REPO_ROOT / "node_modules" / "aws-cdk" / "lib" / "index.js").read_text()
    assert 'BUILDX_NO_DEFAULT_ATTESTATIONS: "1"' in bundle
    assert '["--platform", options.platform]' in bundle
    assert "options.outputs.map((output) => [`--output=${output}`])" in bundle
