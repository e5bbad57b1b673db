# Fruits! image-feature pipeline. `make demo` and `make test` do all the set-up themselves.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help setup demo test test-fast lint synth bench local-e2e litert-model litert-int8-model clean

help:  ## list the targets
	@grep -E '^[a-z0-9-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.installed node_modules/.installed  ## create .venv and install the CDK CLI (once)

DEMO := out/demo
demo: $(VENV)/.installed  ## bundled sample: features, PCA fit + promote + back-fill, classifier, answers, in out/demo
	rm -rf $(DEMO)
	$(PY) -m spark_app --input data/sample --output $(DEMO) --batch-id sample
	$(PY) -m spark_app pca fit --store $(DEMO) --pca-model-dir $(DEMO)/pca_models --min-images 64 --pca-k 16 --promote --report $(DEMO)/report
	$(PY) -m spark_app pca backfill --store $(DEMO) --pca-model-dir $(DEMO)/pca_models
	$(PY) -m spark_app classifier train --store $(DEMO) --classifier-dir $(DEMO)/classifiers --train-from-path Training --validation-from-path Test --min-per-class 3 --promote
	$(PY) -m spark_app --input data/sample/Test --output $(DEMO) --batch-id predict-test --answers $(DEMO)/answers

test: setup  ## run the whole test suite (what CI runs), on two workers
	$(PY) -m pytest -q -n 2 --dist loadfile

test-fast: $(VENV)/.installed  ## the fast tests only: no Spark, no CDK synth, no moto server (about a minute)
	$(PY) -m pytest -q -m fast

lint: $(VENV)/.installed  ## ruff
	$(VENV)/bin/ruff check .

synth: setup  ## synthesize the CloudFormation template offline (cdk.out/)
	npx cdk synth --quiet

bench: $(VENV)/.installed  ## performance benchmark; writes bench/results/<date>.json and .md
	$(PY) -m bench

local-e2e: setup  ## whole flow on one machine with moto in server mode
	$(PY) -m tests.e2e.local_flow

LITERT_MODEL := models/mobilenet_v2_1.0_224_avg_tfslim2018.litert.tflite
litert-model: $(VENV)/.installed  ## rebuild the committed LiteRT model from the pinned weights (reproducible)
	$(PY) -m spark_app.models.convert models/mobilenet_v2_1.0_224_no_top_tfslim2018.weights.h5 $(LITERT_MODEL) > /dev/null
	cd models && sha256sum $(notdir $(LITERT_MODEL)) > $(notdir $(LITERT_MODEL)).sha256
	git diff --stat -- models/  # no change expected: the conversion is byte-for-byte reproducible

LITERT_INT8_MODEL := models/mobilenet_v2_1.0_224_avg_tfslim2018.int8.litert.tflite
litert-int8-model: $(VENV)/.installed  ## rebuild the committed int8 LiteRT model, calibrated on data/sample/Training (reproducible)
	$(PY) -m spark_app.models.convert --int8 --calibration data/sample/Training models/mobilenet_v2_1.0_224_no_top_tfslim2018.weights.h5 $(LITERT_INT8_MODEL) > /dev/null
	cd models && sha256sum $(notdir $(LITERT_INT8_MODEL)) > $(notdir $(LITERT_INT8_MODEL)).sha256
	git diff --stat -- models/  # no change expected: calibration and conversion are byte-for-byte reproducible

clean:  ## remove generated outputs (keeps .venv)
	rm -rf out cdk.out .pytest_cache spark-warehouse
