"""Converting the MobileNetV2 weights to LiteRT (fp32, and int8 calibrated on sample images).

Imports TensorFlow, so it runs in a child process of the driver (a conversion) or from
``make litert-model``: TensorFlow and LiteRT must not be loaded in the same process (their native
interpreter wrappers clash).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from spark_app.core.model import build_keras_model

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def convert_to_litert(weights_h5: bytes) -> bytes:
    """LiteRT (TF-Lite) flatbuffer of the model, float32, dynamic batch dimension."""
    import tensorflow as tf

    model = build_keras_model(weights_h5)
    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def calibration_images(directory: str | Path) -> np.ndarray:
    """Every ``.jpg`` under ``directory`` (sorted by path), decoded and preprocessed like the job does."""
    from spark_app.core.decode import decode_image, preprocess

    paths = sorted(p for p in Path(directory).rglob("*") if p.is_file() and p.suffix.lower() == ".jpg")
    if not paths:
        raise FileNotFoundError(f"no .jpg calibration images under {directory}")
    return np.stack([preprocess(decode_image(p.read_bytes()).pixels) for p in paths])


def convert_to_litert_int8(weights_h5: bytes, calibration: np.ndarray) -> bytes:
    """LiteRT flatbuffer with int8 weights and activations (full-integer quantization calibrated on
    ``calibration``, one image per step, in order); float32 input and output, like the fp32 model."""
    import tensorflow as tf

    def representative() -> Iterator[list[np.ndarray]]:
        for image in calibration:
            yield [image[np.newaxis]]

    converter = tf.lite.TFLiteConverter.from_keras_model(build_keras_model(weights_h5))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.float32
    converter.inference_output_type = tf.float32
    return converter.convert()


def main(argv: list[str] | None = None) -> int:
    """``python -m spark_app.models.convert [--int8 --calibration DIR] WEIGHTS.h5 OUT.tflite``: convert
    in a child process (TensorFlow stays out of the processes that run LiteRT)."""
    parser = argparse.ArgumentParser(description="Convert MobileNetV2 weights to a LiteRT model")
    parser.add_argument("--int8", action="store_true", help="full-integer int8 model (needs --calibration)")
    parser.add_argument("--calibration", help="folder of .jpg images to calibrate the int8 model on")
    parser.add_argument("weights")
    parser.add_argument("output")
    args = parser.parse_args(argv)
    if args.int8 != bool(args.calibration):
        parser.error("--int8 and --calibration go together")
    with open(args.weights, "rb") as fh:
        weights = fh.read()
    if args.int8:
        flatbuffer = convert_to_litert_int8(weights, calibration_images(args.calibration))
    else:
        flatbuffer = convert_to_litert(weights)
    with open(args.output, "wb") as fh:
        fh.write(flatbuffer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
