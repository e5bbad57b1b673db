"""Pure decode/preprocess tests: every bad or unusual input, without Spark."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from spark_app.core import decode
from spark_app.core.decode import DecodeError, decode_image, preprocess
from tests.helpers.images import (
    _save,
    bad_and_unusual_inputs,
    fruit_rgb,
    huge_png,
    real_images,
    rotated_photo,
)

CASES = bad_and_unusual_inputs()


@pytest.mark.parametrize("name", [n for n, (_, stage) in CASES.items() if stage is None])
def test_unusual_but_valid_inputs_decode_to_rgb_224(name: str) -> None:
    image = decode_image(CASES[name][0])
    assert image.pixels.shape == (224, 224, 3)
    assert image.pixels.dtype == np.uint8
    assert image.pixels.std() > 1.0, "decoded to a flat image"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("zero-byte.jpg", "empty file"),
        ("truncated.jpg", "truncated"),
        ("text-named.jpg", "not a supported image"),
        ("huge-400mp.png", "image too large"),
    ],
)
def test_bad_inputs_raise_readable_reason(name: str, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode_image(CASES[name][0])


def test_pixel_guard_rejects_before_decoding_and_names_the_size() -> None:
    with pytest.raises(DecodeError) as err:
        decode_image(huge_png(20_000, 20_000))
    assert "400,000,000 pixels" in str(err.value) or "rejected before decoding" in str(err.value)
    # a custom limit applies to ordinary images too
    with pytest.raises(DecodeError, match="above the limit of 5,000"):
        decode_image(_save(fruit_rgb(), "PNG"), max_pixels=5_000)


def test_exif_rotation_is_applied_not_rejected() -> None:
    data, displayed = rotated_photo()
    image = decode_image(data)
    assert (image.width, image.height) == displayed
    with Image.open(io.BytesIO(data)) as raw:
        stored = raw.convert("RGB").resize((224, 224))
        rotated = raw.convert("RGB").transpose(Image.Transpose.ROTATE_270).resize((224, 224))
    diff_rotated = np.abs(image.pixels.astype(int) - np.asarray(rotated, dtype=int)).mean()
    diff_stored = np.abs(image.pixels.astype(int) - np.asarray(stored, dtype=int)).mean()
    assert diff_rotated < 8 < diff_stored


def test_alpha_is_composited_on_white() -> None:
    transparent = Image.new("RGBA", (50, 50), (255, 0, 0, 0))
    image = decode_image(_save(transparent, "PNG"))
    assert image.pixels.min() >= 250  # fully transparent red -> white


def test_sixteen_bit_png_is_scaled_not_clipped() -> None:
    gray16 = Image.fromarray(np.full((40, 40), 32768, dtype=np.uint16))
    image = decode_image(_save(gray16, "PNG"))
    assert 120 <= int(image.pixels.mean()) <= 135  # mid-grey, not white


def test_cmyk_jpeg_keeps_colours() -> None:
    red = Image.new("RGB", (64, 64), (220, 20, 20))
    image = decode_image(_save(red.convert("CMYK"), "JPEG", quality=95))
    r, g, b = image.pixels.reshape(-1, 3).mean(axis=0)
    assert r > 180 and g < 70 and b < 70


def test_animated_gif_uses_first_frame() -> None:
    first = Image.new("RGB", (64, 64), (0, 0, 255))
    second = Image.new("RGB", (64, 64), (255, 255, 0))
    buf = io.BytesIO()
    first.save(buf, format="GIF", save_all=True, append_images=[second], duration=50)
    image = decode_image(buf.getvalue())
    r, _g, b = image.pixels.reshape(-1, 3).mean(axis=0)
    assert b > 200 and r < 50


def test_jpeg_draft_mode_decodes_large_photos_at_reduced_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    photo = _save(fruit_rgb((4000, 3000)), "JPEG", quality=85)
    seen: list[tuple[int, int]] = []
    original = decode.ImageOps.exif_transpose

    def spy(image, **kwargs):
        seen.append(image.size)
        return original(image, **kwargs)

    monkeypatch.setattr(decode.ImageOps, "exif_transpose", spy)
    image = decode_image(photo)
    assert (image.width, image.height) == (4000, 3000)  # original size is reported
    assert seen == [(500, 375)]  # decoded at 1/8 scale, still >= 224


def test_metadata_never_leaves_the_decoder() -> None:
    image = decode_image(CASES["gps-exif.jpg"][0])
    assert set(vars(image)) == {"pixels", "width", "height"}


def test_preprocess_maps_to_minus_one_one() -> None:
    pixels = np.array([[[0, 127, 255]]], dtype=np.uint8)
    out = preprocess(pixels)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0], [-1.0, 127 / 127.5 - 1, 1.0], rtol=1e-6)


def test_real_fruit_image_decodes() -> None:
    image = decode_image(real_images(1)[0].read_bytes())
    assert (image.width, image.height) == (100, 100)
