"""Sniff image formats and read pixel dimensions from header bytes.

Providers bill image inputs by pixel size, not by the length of the base64 text that carried
them, so the proxy needs the width and height of an image without decoding it. This module reads
just enough of the header of PNG, JPEG, GIF, WebP and BMP files to get them. It is pure: no I/O,
no third-party imports, no mutable module state.

Every parser treats its input as untrusted. Truncated, corrupt or unknown data yields ``None``
rather than an exception, because a malformed image in a client request must not crash the
token counter; the upstream will reject the image itself if it cares to.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable

__all__ = ["decode_base64_image", "image_dimensions", "media_type_of"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_GIF_SIGNATURES = (b"GIF87a", b"GIF89a")

# PNG limits each dimension to 2**31 - 1 so that decoders can use signed 32-bit integers.
_PNG_MAX_DIMENSION = 0x7FFFFFFF

# SOF0..SOF15 carry the frame size, but C4 (DHT), C8 (JPG extension) and CC (DAC) share the
# range without being frame headers; reading them as SOF would report garbage dimensions.
_JPEG_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Standalone markers have no length field, so the length-based skip must not be applied.
_JPEG_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8), 0xD8})
_JPEG_EOI = 0xD9
_JPEG_SOS = 0xDA

# Only these DIB header sizes are in use (OS/2 1.x/2.x, Windows v1..v5). Checking the size keeps
# arbitrary data that happens to start with the ASCII text "BM" from being taken for a bitmap.
_BMP_CORE_HEADER_SIZE = 12
_BMP_INFO_HEADER_SIZES = frozenset({16, 40, 52, 56, 64, 108, 124})
_BMP_FILE_HEADER_SIZE = 14

_VP8_START_CODE = b"\x9d\x01\x2a"
_VP8L_SIGNATURE = 0x2F

_BASE64_RE = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def _u16le(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 2], "little")


def _u24le(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 3], "little")


def _u32le(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 4], "little")


def _u16be(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 2], "big")


def _u32be(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 4], "big")


def _i32le(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 4], "little", signed=True)


def _positive(width: int, height: int) -> tuple[int, int] | None:
    # A zero-sized image cannot be billed by area and signals a corrupt or placeholder header.
    if width <= 0 or height <= 0:
        return None
    return width, height


def _is_png(data: bytes) -> bool:
    return data.startswith(_PNG_SIGNATURE)


def _is_jpeg(data: bytes) -> bool:
    # SOI alone is only two bytes; requiring the next marker's 0xFF avoids false positives.
    return data.startswith(b"\xff\xd8\xff")


def _is_gif(data: bytes) -> bool:
    return data[:6] in _GIF_SIGNATURES


def _is_webp(data: bytes) -> bool:
    return len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP"


def _is_bmp(data: bytes) -> bool:
    if len(data) < _BMP_FILE_HEADER_SIZE + 4 or data[:2] != b"BM":
        return False
    header_size = _u32le(data, _BMP_FILE_HEADER_SIZE)
    return header_size == _BMP_CORE_HEADER_SIZE or header_size in _BMP_INFO_HEADER_SIZES


def _png_size(data: bytes) -> tuple[int, int] | None:
    # IHDR must be the first chunk, so its fields sit at fixed offsets after the signature.
    if len(data) < 24 or data[12:16] != b"IHDR" or _u32be(data, 8) != 13:
        return None
    width, height = _u32be(data, 16), _u32be(data, 20)
    if width > _PNG_MAX_DIMENSION or height > _PNG_MAX_DIMENSION:
        return None
    return _positive(width, height)


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    n = len(data)
    i = 2  # past SOI
    while i < n:
        if data[i] != 0xFF:
            # Outside entropy-coded data every segment starts with a marker; anything else means
            # a segment length lied, and continuing would read sizes out of unrelated bytes.
            return None
        # Any number of 0xFF fill bytes may precede a marker (ITU T.81 B.1.1.2).
        while i < n and data[i] == 0xFF:
            i += 1
        if i >= n:
            return None
        marker = data[i]
        i += 1
        if marker in _JPEG_STANDALONE_MARKERS:
            continue
        if marker in (0x00, _JPEG_EOI, _JPEG_SOS):
            # A frame header always precedes the first scan, so reaching scan data or the end
            # of the image without one means there is no size to report.
            return None
        if i + 2 > n:
            return None
        segment_length = _u16be(data, i)
        if segment_length < 2:
            # The length counts its own two bytes; a smaller value would stall the scan.
            return None
        if marker in _JPEG_SOF_MARKERS:
            # Lf(2) P(1) Y(2) X(2): the header is usable once these seven bytes are present.
            if segment_length < 8 or i + 7 > n:
                return None
            height, width = _u16be(data, i + 3), _u16be(data, i + 5)
            # Y == 0 defers the height to a DNL marker after the first scan; that is too rare
            # to be worth decoding scan data for, so it is reported as unknown.
            return _positive(width, height)
        i += segment_length
    return None


def _gif_size(data: bytes) -> tuple[int, int] | None:
    # The logical screen is the canvas the viewer shows, which is what a model is given.
    if len(data) < 10:
        return None
    return _positive(_u16le(data, 6), _u16le(data, 8))


def _webp_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 20:
        return None
    fourcc = data[12:16]
    chunk_size = _u32le(data, 16)
    payload = data[20:]
    if fourcc == b"VP8 ":
        # Frame tag (3 bytes), start code (3 bytes), then 14-bit width and height, each with
        # two upscaling bits on top that describe display scaling, not the coded size.
        if chunk_size < 10 or len(payload) < 10:
            return None
        if payload[0] & 0x01:
            # Bit 0 set marks an inter frame, which carries no dimensions.
            return None
        if payload[3:6] != _VP8_START_CODE:
            return None
        return _positive(_u16le(payload, 6) & 0x3FFF, _u16le(payload, 8) & 0x3FFF)
    if fourcc == b"VP8L":
        # Signature byte, then width-1 (14 bits), height-1 (14 bits), alpha (1), version (3).
        if chunk_size < 5 or len(payload) < 5 or payload[0] != _VP8L_SIGNATURE:
            return None
        bits = _u32le(payload, 1)
        if bits >> 29:
            # Only version 0 exists; anything else is not a bitstream this layout describes.
            return None
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if fourcc == b"VP8X":
        # Flags (1), reserved (3), canvas width-1 (24 bits), canvas height-1 (24 bits). The
        # canvas, not any single frame, is the size of an animated or composited image.
        if chunk_size < 10 or len(payload) < 10:
            return None
        return _u24le(payload, 4) + 1, _u24le(payload, 7) + 1
    return None


def _bmp_size(data: bytes) -> tuple[int, int] | None:
    base = _BMP_FILE_HEADER_SIZE
    if len(data) < base + 4:
        return None
    header_size = _u32le(data, base)
    if header_size == _BMP_CORE_HEADER_SIZE:
        # OS/2 1.x BITMAPCOREHEADER stores unsigned 16-bit sizes.
        if len(data) < base + 8:
            return None
        return _positive(_u16le(data, base + 4), _u16le(data, base + 6))
    if header_size in _BMP_INFO_HEADER_SIZES:
        if len(data) < base + 12:
            return None
        width, height = _i32le(data, base + 4), _i32le(data, base + 8)
        # A negative height only means rows are stored top-down; the pixel count is the same.
        return _positive(width, abs(height))
    return None


_SizeReader = Callable[[bytes], tuple[int, int] | None]

# Order matters only for speed; the signatures are mutually exclusive.
_FORMATS: tuple[tuple[str, Callable[[bytes], bool], _SizeReader], ...] = (
    ("image/png", _is_png, _png_size),
    ("image/jpeg", _is_jpeg, _jpeg_size),
    ("image/gif", _is_gif, _gif_size),
    ("image/webp", _is_webp, _webp_size),
    ("image/bmp", _is_bmp, _bmp_size),
)


def _as_bytes(data: object) -> bytes | None:
    # Callers may hold a bytearray or memoryview from a buffer; anything else is not image data.
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    return None


def media_type_of(data: bytes) -> str | None:
    """Return the IANA media type of ``data`` judged by its magic bytes, or ``None``.

    Recognises ``image/png``, ``image/jpeg``, ``image/gif``, ``image/webp`` and ``image/bmp``.
    Only the signature is checked, so a recognised type does not imply a readable image.
    """
    raw = _as_bytes(data)
    if raw is None:
        return None
    for media_type, matches, _ in _FORMATS:
        if matches(raw):
            return media_type
    return None


def image_dimensions(data: bytes) -> tuple[int, int] | None:
    """Return ``(width, height)`` in pixels read from the header of ``data``.

    Supports PNG, JPEG, GIF, WebP (VP8, VP8L, VP8X) and BMP. Returns ``None`` when the format
    is unknown or the header is truncated, corrupt or declares a zero size. Never raises.
    """
    raw = _as_bytes(data)
    if raw is None:
        return None
    for _, matches, read_size in _FORMATS:
        if matches(raw):
            return read_size(raw)
    return None


def standard_base64(data: str) -> str:
    """Base64 text in the standard alphabet with its padding: google-genai sends bytes
    URL-safe and unpadded, which a `data:` URL or another vendor's base64 field rejects."""
    text = "".join(data.split()).replace("-", "+").replace("_", "/").rstrip("=")
    return text + "=" * (-len(text) % 4)


def decode_base64_image(data: str) -> bytes | None:
    """Decode standard or URL-safe base64 text, or return ``None`` if it is not valid.

    Whitespace anywhere (as in MIME line-wrapped text) and missing ``=`` padding are
    tolerated. Empty input yields ``None`` because it cannot be an image.
    """
    if not isinstance(data, str):
        return None
    text = "".join(data.split())
    if not text.isascii():
        return None
    # URL-safe text differs only in two alphabet characters, so mapping them lets one strict
    # decoder handle both forms.
    text = text.replace("-", "+").replace("_", "/")
    if not _BASE64_RE.fullmatch(text):
        return None
    text = text.rstrip("=")
    if len(text) % 4 == 1:
        # One leftover character encodes only six bits, less than a byte: truncated input.
        return None
    if not text:
        return None
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
