# Custom EMR Serverless image for the Fruits! Spark job (driver and executors).
# Built by CDK (aws_ecr_assets.DockerImageAsset) at `cdk deploy` time, never at synth.
# The base image ships Python 3.9; spark_app runs on Python 3.11 with the same pinned
# runtime packages as requirements.txt (tests/cdk checks that the pins agree).
FROM public.ecr.aws/emr-serverless/spark/emr-7.12.0:latest

USER root

RUN dnf install -y python3.11 python3.11-pip \
    && dnf clean all \
    && rm -rf /var/cache/dnf

RUN python3.11 -m pip install --no-cache-dir \
        numpy==1.26.4 \
        pandas==2.2.3 \
        pyarrow==17.0.0 \
        pillow==11.3.0 \
        tensorflow-cpu==2.20.0 \
        keras==3.11.3 \
        h5py==3.14.0 \
        ai-edge-litert==2.0.3 \
        boto3==1.40.61 \
    && python3.11 -c "import numpy, pandas, pyarrow, PIL, h5py, keras, ai_edge_litert, boto3"

# PySpark on the driver and the executors uses this interpreter (the state machine also passes
# spark.emr-serverless.driverEnv.PYSPARK_PYTHON and spark.executorEnv.PYSPARK_PYTHON).
ENV PYSPARK_PYTHON=/usr/bin/python3.11 \
    PYSPARK_DRIVER_PYTHON=/usr/bin/python3.11

# EMR Serverless runs jobs as hadoop: the image must end with this user.
USER hadoop:hadoop
