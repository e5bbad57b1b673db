"""Test images: real Fruits-360 samples and every kind of bad or unusual input."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
BUNDLED_SAMPLE = REPO / "data" / "sample"
SECRET = "FRUITS-SECRET-EXIF-MARKER"
EXIF_ORIENTATION, EXIF_DESCRIPTION, EXIF_GPS_IFD = 0x0112, 0x010E, 0x8825


def real_images(limit: int | None = None) -> list[Path]:
    """Real JPEGs, sorted, from the bundled sample (always present)."""
    files = sorted(BUNDLED_SAMPLE.rglob("*.jpg"))
    return files[:limit] if limit else files


def fruit_rgb(size: tuple[int, int] = (100, 100)) -> Image.Image:
    """A real fruit photo resized to ``size`` (RGB)."""
    with Image.open(real_images(1)[0]) as im:
        return im.convert("RGB").resize(size)


def _save(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def exif_bytes(orientation: int | None = None, gps: bool = False) -> bytes:
    exif = Image.Exif()
    exif[EXIF_DESCRIPTION] = SECRET
    if orientation:
        exif[EXIF_ORIENTATION] = orientation
    if gps:
        exif[EXIF_GPS_IFD] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)}
    return exif.tobytes()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def huge_png(width: int, height: int) -> bytes:
    """A valid, highly compressed grayscale PNG of width x height (streamed, little memory)."""
    compressor = zlib.compressobj(9)
    row = b"\x00" + b"\x80" * width
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", body)
        + _png_chunk(b"IEND", b"")
    )


def png_bomb_header(width: int, height: int) -> bytes:
    """A PNG that announces width x height pixels but holds one row of data: a decompression bomb's
    header, cheap to make (Pillow opens it with that size; decoding it would fail)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = zlib.compress(b"\x00" + b"\x80" * min(width, 64))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", body)
        + _png_chunk(b"IEND", b"")
    )


def rotated_photo() -> tuple[bytes, tuple[int, int]]:
    """A 120x80 JPEG whose EXIF says 'rotate 90 degrees' (displayed 80x120)."""
    return _save(fruit_rgb((120, 80)), "JPEG", exif=exif_bytes(orientation=6)), (80, 120)


def truncated_jpeg() -> bytes:
    """The first half of a real JPEG."""
    data = _save(fruit_rgb(), "JPEG", quality=90)
    return data[: len(data) // 2]


def bad_and_unusual_inputs() -> dict[str, tuple[bytes, str | None]]:
    """file name -> (content, expected error stage or None when it must decode)."""
    rgb = fruit_rgb()
    good_jpeg = _save(rgb, "JPEG", quality=90)
    rgba = rgb.convert("RGBA")
    rgba.putalpha(128)
    gray16 = Image.fromarray((np.linspace(0, 65535, 100 * 100).reshape(100, 100)).astype(np.uint16))
    frames = [rgb, rgb.rotate(90), rgb.rotate(180)]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return {
        "zero-byte.jpg": (b"", "decode"),
        "truncated.jpg": (good_jpeg[: len(good_jpeg) // 2], "decode"),
        "text-named.jpg": (b"this is not an image, just text\n" * 10, "decode"),
        "alpha.png": (_save(rgba, "PNG"), None),
        "grayscale.jpg": (_save(rgb.convert("L"), "JPEG"), None),
        "cmyk.jpg": (_save(rgb.convert("CMYK"), "JPEG"), None),
        "gray16.png": (_save(gray16, "PNG"), None),
        "animated.gif": (gif.getvalue(), None),
        "photo.webp": (_save(rgb, "WEBP", quality=90), None),
        "jpeg-named.png": (good_jpeg, None),
        "huge-400mp.png": (huge_png(20_000, 20_000), "decode"),
        "rotated-exif.jpg": (rotated_photo()[0], None),
        "gps-exif.jpg": (_save(rgb, "JPEG", exif=exif_bytes(gps=True)), None),
        "name with spaces é ü.jpg": (good_jpeg, None),
        "UPPER.JPG": (good_jpeg, None),
        "notes.txt": (b"not an image", "format"),
    }


def write_inputs(folder: Path, files: dict[str, tuple[bytes, str | None]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, (content, _stage) in files.items():
        (folder / name).write_bytes(content)
