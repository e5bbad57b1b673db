"""``python -m tests.helpers.extract_features BACKEND OUT.npy IMAGE...``

Features of images with one backend, in its own process (TensorFlow and LiteRT must not
share a process). Builds the extractor exactly as executors do: from the payload.
``litert-converted``: LiteRT from a fresh conversion of the weights instead of the committed model.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from spark_app.core.decode import decode_image, preprocess
from spark_app.core.model import LITERT, PINNED_WEIGHTS_SHA256, ModelPayload, build_extractor, model_version
from spark_app.models.weights import DEFAULT_WEIGHTS, litert_flatbuffer, load_weights, prepare_payload

FRESH_CONVERSION = "litert-converted"


def main(argv: list[str]) -> int:
    backend, out, *images = argv
    if backend == FRESH_CONVERSION:
        weights, sha = load_weights(DEFAULT_WEIGHTS, PINNED_WEIGHTS_SHA256)
        payload = ModelPayload(LITERT, model_version(sha), litert_flatbuffer(weights, sha))
    else:
        payload = prepare_payload(DEFAULT_WEIGHTS, PINNED_WEIGHTS_SHA256, backend)
    batch = np.stack([preprocess(decode_image(Path(p).read_bytes()).pixels) for p in images])
    np.save(out, build_extractor(payload).extract(batch))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
