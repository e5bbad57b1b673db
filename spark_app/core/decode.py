"""Image bytes -> MobileNetV2 input tensor. Pure functions (Pillow + NumPy), no Spark.

Every failure raises :class:`DecodeError` with a readable reason; nothing of the image's
metadata (EXIF, GPS, ICC, comments) is ever returned: only pixels and the size.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from spark_app.core.defaults import INPUT_SIZE, MAX_PIXELS
from spark_app.core.formats import SUPPORTED_PIL_FORMATS

# Truncated files must fail, not decode half-grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False
Image.init()  # register every format plugin (MPO, WEBP, ...) before restricting formats

_EXIF_ORIENTATION = 0x0112
_TRANSPOSED_ORIENTATIONS = {5, 6, 7, 8}  # rotated by 90 or 270 degrees


class DecodeError(ValueError):
    """An input that cannot become a model input; ``str(err)`` is the readable reason."""


@dataclass(frozen=True)
class DecodedImage:
    """An RGB image resized for the model, and its original size as displayed."""

    pixels: np.ndarray  # (INPUT_SIZE, INPUT_SIZE, 3) uint8, RGB
    width: int
    height: int


def decode_image(data: bytes, *, size: int = INPUT_SIZE, max_pixels: int = MAX_PIXELS) -> DecodedImage:
    """Decode image bytes to an RGB ``size`` x ``size`` uint8 array.

    The format is sniffed from the content (a JPEG named .png is fine). EXIF orientation is
    applied; any mode (L, LA, P, RGBA, CMYK, I;16, F, ...) becomes RGB, alpha composited on
    white; animations use their first frame; JPEGs are decoded in draft mode at the smallest
    DCT scale that is still at least ``size`` pixels, so 12 MP photos decode fast.
    """
    if not data:
        raise DecodeError("empty file (0 bytes)")
    image = _open(data, max_pixels)
    try:
        width, height = _displayed_size(image)
        if image.format in ("JPEG", "MPO"):
            image.draft("RGB", (size, size))
        try:
            image.load()
            image = ImageOps.exif_transpose(image)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise DecodeError(f"corrupt or truncated image data ({exc})") from None
        rgb = to_rgb(image)
        resized = rgb.resize((size, size), Image.Resampling.BILINEAR)
        return DecodedImage(pixels=np.asarray(resized, dtype=np.uint8), width=width, height=height)
    finally:
        image.close()


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """Open (header only) with content sniffing and the pixel-count guard."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=SUPPORTED_PIL_FORMATS)
    except Image.DecompressionBombError as exc:
        raise DecodeError(f"image too large, rejected before decoding ({exc})") from None
    except UnidentifiedImageError:
        raise DecodeError(
            "not a supported image: content is not " + "/".join(SUPPORTED_PIL_FORMATS)
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DecodeError(f"unreadable image header ({exc})") from None
    pixels = image.size[0] * image.size[1]
    if pixels > max_pixels:
        image.close()
        raise DecodeError(
            f"image too large: {image.size[0]}x{image.size[1]} = {pixels:,} pixels, "
            f"above the limit of {max_pixels:,}"
        )
    if pixels == 0:
        image.close()
        raise DecodeError("image has no pixels (0 width or height)")
    return image


def _displayed_size(image: Image.Image) -> tuple[int, int]:
    """Width and height as displayed, i.e. after the EXIF orientation is applied."""
    width, height = image.size
    try:
        orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # malformed EXIF must not reject an otherwise good photo
        orientation = 1
    return (height, width) if orientation in _TRANSPOSED_ORIENTATIONS else (width, height)


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB (alpha composited on white, 16-bit scaled)."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        gray = _to_uint8(np.asarray(image), sixteen_bit=image.mode.startswith("I;16"))
        return Image.fromarray(gray, mode="L").convert("RGB")
    if image.mode == "P" and "transparency" not in image.info:
        return image.convert("RGB")
    if image.mode in ("RGBA", "LA", "PA", "P", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    try:
        return image.convert("RGB")
    except ValueError as exc:
        raise DecodeError(f"unsupported colour mode {image.mode} ({exc})") from None


def _to_uint8(values: np.ndarray, *, sixteen_bit: bool) -> np.ndarray:
    """Scale a single-channel 16-bit, 32-bit integer or float image to uint8."""
    is_float = values.dtype.kind == "f"
    scaled = values.astype(np.float64)
    top = float(scaled.max()) if scaled.size else 0.0
    if sixteen_bit or top > 255.0:
        scaled = scaled / 257.0  # 0..65535 -> 0..255
    elif is_float and 0.0 < top <= 1.0:
        scaled = scaled * 255.0
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def preprocess(pixels: np.ndarray) -> np.ndarray:
    """MobileNetV2 preprocessing: uint8 RGB -> float32 in [-1, 1] (``x / 127.5 - 1``).

    Works on one image or a stacked batch; one float32 allocation, the arithmetic in place.
    """
    x = pixels.astype(np.float32)
    np.divide(x, np.float32(127.5), out=x)
    np.subtract(x, np.float32(1.0), out=x)
    return x
