# Container image of the answer Lambda (lambdas/answer): built by CDK (aws_ecr_assets.DockerImageAsset) at
# `cdk deploy` time, never at synth. The build context is the repository root, filtered to what is copied
# below (cdk_app/answer.py, IMAGE_CONTEXT).
#
# AWS's OS-only Lambda base image on Amazon Linux 2023 (glibc 2.34: the ai-edge-litert wheel needs
# manylinux_2_27, which the AL2-based python:3.11 image's glibc 2.26 cannot load), with AL2023's own
# Python 3.11 (as the EMR image) and the Lambda runtime interface client. AL2023 images use microdnf as dnf.
FROM public.ecr.aws/lambda/provided:al2023

RUN dnf install -y python3.11 python3.11-pip \
    && dnf clean all \
    && rm -rf /var/cache/dnf

# The same pinned LiteRT, NumPy and Pillow as the batch (requirements.txt), nothing unpinned.
COPY lambdas/answer/image-requirements.txt /tmp/image-requirements.txt
RUN python3.11 -m pip install --no-cache-dir --no-deps -r /tmp/image-requirements.txt \
    && python3.11 -m pip check \
    && rm /tmp/image-requirements.txt

# The code (the whole spark_app package: the handler imports its core, store and model registry, never
# Spark; and the Lambda) and the pinned fp32 LiteRT model with its checksum. Byte-compiled now, as
# /var/task is read-only at run time; the build fails if the model's checksum or an import is wrong.
WORKDIR /var/task
ENV PYTHONPATH=/var/task
COPY spark_app/ spark_app/
COPY lambdas/__init__.py lambdas/__init__.py
COPY lambdas/answer/ lambdas/answer/
COPY models/mobilenet_v2_1.0_224_avg_tfslim2018.litert.tflite models/mobilenet_v2_1.0_224_avg_tfslim2018.litert.tflite.sha256 models/
RUN python3.11 -m compileall -q spark_app lambdas \
    && python3.11 -c "import lambdas.answer.runtime as r, spark_app.core.model as m; \
m.build_extractor(m.pinned_payload((r.PACKAGED_MODELS / m.PINNED_LITERT_NAME).read_bytes()))"

ENTRYPOINT ["/usr/bin/python3.11", "-m", "awslambdaric"]
CMD ["lambdas.answer.handler.handler"]
