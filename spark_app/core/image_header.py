"""An image's format and size from its header bytes alone: JPEG, PNG and WebP, without Pillow.

The app API checks an uploaded photo before it enters the pipeline (type by content, pixel count against
:data:`~spark_app.core.defaults.MAX_PIXELS`, the decompression-bomb limit the decoder applies), but its
Lambda does not ship Pillow. These functions read only what they need through ``read(offset, length)``
(a ranged GET on S3, a slice of bytes in tests): a JPEG's segments are skipped by their lengths, so a
large EXIF or XMP block costs no download. The format names are Pillow's (``JPEG``, ``PNG``, ``WEBP``)
and the sizes are those Pillow reports (tests compare both on Pillow-made images).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from spark_app.core.defaults import MAX_PIXELS

#: ``read(offset, length)`` -> at most ``length`` bytes from ``offset`` (fewer at the end of the data).
ReadAt = Callable[[int, int], bytes]

#: Bytes fetched per read: covers a PNG or WebP header and most JPEG headers in one read.
CHUNK_BYTES = 64 * 1024
#: Reads allowed before giving up (a JPEG header spread over more segments than this is refused).
MAX_READS = 16

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8\xff"
#: JPEG start-of-frame markers (they carry the size): SOF0-3, 5-7, 9-11, 13-15.
_SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
#: JPEG markers without a length field (TEM, RST0-7).
_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})
_SOS, _EOI = 0xDA, 0xD9
#: Formats recognised only to name them in a refusal (the app API does not accept them).
_OTHER_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"GIF87a", "GIF"),
    (0, b"GIF89a", "GIF"),
    (0, b"BM", "BMP"),
    (0, b"II*\x00", "TIFF"),
    (0, b"MM\x00*", "TIFF"),
    (0, b"%PDF", "PDF"),
)
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1")
_AVIF_BRANDS = (b"avif", b"avis")


class HeaderError(ValueError):
    """The data is not a readable JPEG, PNG or WebP header; ``str(err)`` is the reason."""


class NotAnImageError(HeaderError):
    """The content is not one of the formats read here (``found`` names what it is, when known)."""

    def __init__(self, message: str, found: str | None = None):
        super().__init__(message)
        self.found = found


class TooManyPixelsError(HeaderError):
    """The header announces more pixels than the decoder accepts (a decompression bomb), or none."""


@dataclass(frozen=True)
class ImageHeader:
    """What a header says: the format (Pillow's name) and the stored size in pixels."""

    format: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def check_pixels(header: ImageHeader, max_pixels: int = MAX_PIXELS) -> None:
    """Refuse an image with no pixels or more than ``max_pixels`` (the decoder's bomb guard)."""
    if header.width <= 0 or header.height <= 0:
        raise TooManyPixelsError(f"image has no pixels ({header.width}x{header.height})")
    if header.pixels > max_pixels:
        raise TooManyPixelsError(
            f"image too large: {header.width}x{header.height} = {header.pixels:,} pixels, "
            f"above the limit of {max_pixels:,} (decompression-bomb guard)"
        )


def read_header(read: ReadAt, *, chunk: int = CHUNK_BYTES, max_reads: int = MAX_READS) -> ImageHeader:
    """The format and size of the image ``read`` gives access to.

    Raises :class:`NotAnImageError` when the content is not JPEG, PNG or WebP, and :class:`HeaderError`
    when it starts like one but its header is truncated or corrupt.
    """
    source = _Source(read, chunk, max_reads)
    head = source.peek(0, 32)
    if head.startswith(JPEG_SOI):
        return _jpeg(source)
    if head.startswith(PNG_SIGNATURE):
        return _png(source)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp(source)
    found = sniff_other(head)
    if not head:
        raise NotAnImageError("empty file (0 bytes)")
    raise NotAnImageError(
        f"content is {found}, not JPEG, PNG or WebP"
        if found
        else "content is not an image (JPEG, PNG, WebP)",
        found,
    )


def header_of(data: bytes) -> ImageHeader:
    """:func:`read_header` over bytes in memory."""
    return read_header(lambda offset, length: data[offset : offset + length])


def sniff_other(head: bytes) -> str | None:
    """Name of a well-known format that is not read here (GIF, BMP, TIFF, HEIF, AVIF, PDF), or None."""
    for offset, signature, name in _OTHER_SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            return name
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _HEIF_BRANDS:
            return "HEIF"
        if brand in _AVIF_BRANDS:
            return "AVIF"
    return None


class _Source:
    """Reads through ``read`` in chunks, keeping the last chunk; counts reads against a budget."""

    def __init__(self, read: ReadAt, chunk: int, max_reads: int):
        self._read, self._chunk, self._max_reads = read, chunk, max_reads
        self._start, self._data, self.reads = 0, b"", 0

    def peek(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes at ``offset`` (fewer at the end of the data)."""
        end = offset + length
        if not (self._start <= offset and end <= self._start + len(self._data)):
            if self.reads >= self._max_reads:
                raise HeaderError(f"image header not found within {self._max_reads} reads")
            self.reads += 1
            self._start, self._data = offset, self._read(offset, max(length, self._chunk))
        return self._data[offset - self._start : end - self._start]

    def take(self, offset: int, length: int, what: str) -> bytes:
        """Exactly ``length`` bytes at ``offset``, or a truncated-header error naming ``what``."""
        data = self.peek(offset, length)
        if len(data) < length:
            raise HeaderError(f"truncated image header ({what} cut off at byte {offset + len(data)})")
        return data


def _jpeg(source: _Source) -> ImageHeader:
    position = 2
    while True:
        if source.take(position, 1, "JPEG marker") != b"\xff":
            raise HeaderError(f"corrupt JPEG header (no marker at byte {position})")
        while (marker := source.take(position + 1, 1, "JPEG marker")[0]) == 0xFF:
            position += 1  # fill bytes before a marker
        if marker in _STANDALONE_MARKERS:
            position += 2
            continue
        if marker in (_SOS, _EOI):
            raise HeaderError("corrupt JPEG header (image data before any frame header)")
        (length,) = struct.unpack(">H", source.take(position + 2, 2, "JPEG segment length"))
        if length < 2:
            raise HeaderError(f"corrupt JPEG header (segment length {length} at byte {position})")
        if marker in _SOF_MARKERS:
            _, height, width = struct.unpack(">BHH", source.take(position + 4, 5, "JPEG frame header"))
            return ImageHeader("JPEG", width, height)
        position += 2 + length


def _png(source: _Source) -> ImageHeader:
    length, kind, width, height = struct.unpack(">I4sII", source.take(8, 16, "PNG IHDR chunk"))
    if kind != b"IHDR" or length != 13:
        raise HeaderError("corrupt PNG header (the first chunk is not IHDR)")
    if width >= 2**31 or height >= 2**31:
        raise HeaderError(f"corrupt PNG header (size {width}x{height})")
    return ImageHeader("PNG", width, height)


def _webp(source: _Source) -> ImageHeader:
    kind = source.take(12, 4, "WebP chunk")
    if kind == b"VP8X":
        data = source.take(24, 6, "WebP canvas size")
        width = int.from_bytes(data[0:3], "little") + 1
        height = int.from_bytes(data[3:6], "little") + 1
        return ImageHeader("WEBP", width, height)
    if kind == b"VP8 ":
        data = source.take(20, 10, "WebP VP8 frame header")
        if data[3:6] != b"\x9d\x01\x2a":
            raise HeaderError("corrupt WebP header (no VP8 start code)")
        width, height = struct.unpack("<HH", data[6:10])
        return ImageHeader("WEBP", width & 0x3FFF, height & 0x3FFF)
    if kind == b"VP8L":
        data = source.take(20, 5, "WebP VP8L header")
        if data[0] != 0x2F:
            raise HeaderError("corrupt WebP header (no VP8L signature)")
        bits = int.from_bytes(data[1:5], "little")
        return ImageHeader("WEBP", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    raise HeaderError(f"corrupt WebP header (unknown first chunk {kind!r})")
