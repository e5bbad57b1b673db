"""MobileNetV2 feature extractor in Keras, and its conversion to LiteRT.

Imports TensorFlow, so it runs on the driver in a child process (conversion) or on
executors only when the Keras backend is selected. TensorFlow and LiteRT must not be
loaded in the same process (their native interpreter wrappers clash).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import Any

INPUT_SHAPE = (224, 224, 3)
FEATURE_DIM = 1280

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def build_keras_model(weights_h5: bytes) -> Any:
    """MobileNetV2 (alpha 1.0, no top, global average pooling) with the given weights."""
    import keras

    model = keras.applications.MobileNetV2(
        weights=None, include_top=False, pooling="avg", input_shape=INPUT_SHAPE
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.weights.h5")
        with open(path, "wb") as fh:
            fh.write(weights_h5)
        model.load_weights(path)
    return model


def convert_to_litert(weights_h5: bytes) -> bytes:
    """LiteRT (TF-Lite) flatbuffer of the model, float32, dynamic batch dimension."""
    import tensorflow as tf

    model = build_keras_model(weights_h5)
    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def main(argv: list[str] | None = None) -> int:
    """``python -m spark_app.keras_model WEIGHTS.h5 OUT.tflite``: convert in a child process."""
    parser = argparse.ArgumentParser(description="Convert MobileNetV2 weights to a LiteRT model")
    parser.add_argument("weights")
    parser.add_argument("output")
    args = parser.parse_args(argv)
    with open(args.weights, "rb") as fh:
        flatbuffer = convert_to_litert(fh.read())
    with open(args.output, "wb") as fh:
        fh.write(flatbuffer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
