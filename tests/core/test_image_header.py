"""The header parser agrees with Pillow on format and size, reads little, and refuses what it must."""

from __future__ import annotations

import io
import struct
import warnings

import pytest
from PIL import Image

from spark_app.core import formats
from spark_app.core.defaults import MAX_PIXELS
from spark_app.core.image_header import (
    HeaderError,
    ImageHeader,
    NotAnImageError,
    TooManyPixelsError,
    check_pixels,
    header_of,
    read_header,
    sniff_other,
)
from tests.helpers.images import _save, exif_bytes, fruit_rgb, png_bomb_header, real_images


def _pillow(data: bytes) -> tuple[str, tuple[int, int]]:
    with Image.open(io.BytesIO(data)) as image:
        return image.format, image.size


def _made_by_pillow() -> dict[str, bytes]:
    rgb = fruit_rgb((123, 77))
    rgba = rgb.convert("RGBA")
    rgba.putalpha(100)
    frames = [rgb, rgb.rotate(90)]
    animated = io.BytesIO()
    frames[0].save(animated, format="WEBP", save_all=True, append_images=frames[1:], duration=50)
    big_icc = b"\x00" * 200_000  # a 200 KB ICC profile: several APP2 segments before the frame header
    return {
        "baseline.jpg": _save(rgb, "JPEG", quality=90),
        "progressive.jpg": _save(rgb, "JPEG", progressive=True),
        "exif-rotated.jpg": _save(rgb, "JPEG", exif=exif_bytes(orientation=6, gps=True)),
        "big-icc.jpg": _save(rgb, "JPEG", icc_profile=big_icc),
        "grey.jpg": _save(rgb.convert("L"), "JPEG"),
        "cmyk.jpg": _save(rgb.convert("CMYK"), "JPEG"),
        "rgb.png": _save(rgb, "PNG"),
        "rgba.png": _save(rgba, "PNG"),
        "palette.png": _save(rgb.convert("P"), "PNG"),
        "lossy.webp": _save(rgb, "WEBP", quality=80),
        "lossless.webp": _save(rgb, "WEBP", lossless=True),
        "alpha.webp": _save(rgba, "WEBP"),
        "animated.webp": animated.getvalue(),
        "sample-photo.jpg": real_images(1)[0].read_bytes(),
    }


MADE = _made_by_pillow()


@pytest.mark.parametrize("name", sorted(MADE))
def test_format_and_size_are_pillows(name: str) -> None:
    header = header_of(MADE[name])
    assert (header.format, (header.width, header.height)) == _pillow(MADE[name])


def test_a_12_megapixel_phone_photo_passes_and_only_its_header_is_read() -> None:
    photo = _save(Image.new("RGB", (4000, 3000), (200, 120, 40)), "JPEG", exif=exif_bytes(gps=True))
    reads: list[tuple[int, int]] = []

    def read(offset: int, length: int) -> bytes:
        reads.append((offset, length))
        return photo[offset : offset + length]

    header = read_header(read)
    assert header == ImageHeader("JPEG", 4000, 3000)
    check_pixels(header)
    assert len(reads) == 1 and reads[0][1] < len(photo)


def test_large_segments_are_skipped_not_downloaded() -> None:
    data = MADE["big-icc.jpg"]
    fetched: list[int] = []

    def read(offset: int, length: int) -> bytes:
        chunk = data[offset : offset + length]
        fetched.append(len(chunk))
        return chunk

    assert read_header(read, chunk=4096).format == "JPEG"
    assert sum(fetched) < 40_000 < len(data)  # the 200 KB profile was jumped over


def test_a_header_beyond_the_read_budget_is_refused() -> None:
    with pytest.raises(HeaderError, match="not found within 2 reads"):
        read_header(lambda o, n: MADE["big-icc.jpg"][o : o + n], chunk=4096, max_reads=2)


def test_decompression_bombs_are_refused_from_the_header() -> None:
    bomb = png_bomb_header(20_000, 20_000)  # announces 400 MP in a few bytes
    header = header_of(bomb)
    assert (header.width, header.height) == (20_000, 20_000)
    above_ours = png_bomb_header(12_000, 9_000)  # 108 MP: under Pillow's own error threshold
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        assert _pillow(above_ours) == ("PNG", (12_000, 9_000))
    with pytest.raises(TooManyPixelsError, match="108,000,000 pixels"):
        check_pixels(header_of(above_ours))
    with pytest.raises(TooManyPixelsError, match="400,000,000 pixels, above the limit of 100,000,000"):
        check_pixels(header)
    check_pixels(ImageHeader("PNG", 10_000, MAX_PIXELS // 10_000))  # exactly the limit passes


def _jpeg_with_frame(width: int, height: int) -> bytes:
    frame = struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + b"\xff\xc0" + struct.pack(">H", len(frame) + 2) + frame + b"\xff\xd9"


def test_a_jpeg_bomb_and_a_jpeg_without_pixels_are_refused() -> None:
    with pytest.raises(TooManyPixelsError, match="65535x65535 = 4,294,836,225 pixels"):
        check_pixels(header_of(_jpeg_with_frame(65_535, 65_535)))
    with pytest.raises(TooManyPixelsError, match="no pixels"):
        check_pixels(header_of(_jpeg_with_frame(640, 0)))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (MADE["baseline.jpg"][:20], "truncated image header"),
        (MADE["rgb.png"][:20], "truncated image header"),
        (MADE["lossy.webp"][:22], "truncated image header"),
        (b"\xff\xd8\xff\xda\x00\x02", "image data before any frame header"),
        (b"\xff\xd8\xff\xe0\x00\x01", "segment length 1"),
        (b"\x89PNG\r\n\x1a\n" + struct.pack(">I4s", 13, b"IDAT") + b"\x00" * 13, "first chunk is not IHDR"),
        (b"RIFF\x00\x00\x00\x00WEBPXXXX" + b"\x00" * 20, "unknown first chunk"),
    ],
    ids=["jpeg-cut", "png-cut", "webp-cut", "jpeg-sos", "jpeg-length", "png-idat", "webp-chunk"],
)
def test_corrupt_headers_are_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(HeaderError, match=reason) as caught:
        header_of(data)
    assert not isinstance(caught.value, NotAnImageError)


@pytest.mark.parametrize(
    ("data", "found"),
    [
        (_save(fruit_rgb(), "GIF"), "GIF"),
        (_save(fruit_rgb(), "BMP"), "BMP"),
        (_save(fruit_rgb(), "TIFF"), "TIFF"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "HEIF"),
        (b"%PDF-1.7\n", "PDF"),
        (b"This is a shopping list, not a photo.\n", None),
        (b"", None),
    ],
    ids=["gif", "bmp", "tiff", "heif", "pdf", "text", "empty"],
)
def test_other_content_is_not_an_image_and_named_when_known(data: bytes, found: str | None) -> None:
    with pytest.raises(NotAnImageError) as caught:
        header_of(data)
    assert caught.value.found == found
    assert sniff_other(data[:32]) == found


def test_app_types_are_decodable_by_the_pipeline_and_heic_is_not() -> None:
    for content_type, (extension, pil_format) in formats.APP_UPLOAD_TYPES.items():
        assert extension in formats.SUPPORTED_EXTENSIONS and pil_format in formats.SUPPORTED_PIL_FORMATS
        assert formats.app_type_refusal(content_type) is None
    # HEIC is refused because Pillow here cannot open it: if a HEIF plugin is ever installed, this fails
    # and HEIC should move to APP_UPLOAD_TYPES (with a header parser for it).
    Image.init()
    assert not {"HEIF", "HEIC"} & set(Image.OPEN)
    assert "cannot be decoded" in formats.app_type_refusal("image/heic")
    assert "image/jpeg" in formats.app_type_refusal("application/pdf")
