"""Tests for chatmock_lab.images: header sniffing on images built byte by byte."""

from __future__ import annotations

import base64
import io
import random
import struct
import zlib

import pytest

from chatmock_lab.images import decode_base64_image, image_dimensions, media_type_of

# ---------------------------------------------------------------------------------------------
# Builders. Each produces a complete, spec-conformant file (not just a header) so the tests
# exercise the parsers on the bytes a real encoder would emit.
# ---------------------------------------------------------------------------------------------


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def make_png(width: int, height: int) -> bytes:
    # 8-bit greyscale, filter type 0 on every row.
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    raw = b"".join(b"\x00" + bytes((x * 7 + y) & 0xFF for x in range(width)) for y in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(raw))
        + _png_chunk(b"IEND", b"")
    )


def _gif_lzw_all_zero(pixel_count: int) -> bytes:
    # Minimum code size 2: clear = 4, end = 5, codes are 3 bits wide. Emitting a clear code
    # every two pixels keeps the table below 8 entries, so the width never grows.
    codes: list[int] = []
    for start in range(0, pixel_count, 2):
        codes.append(4)
        codes.extend([0] * min(2, pixel_count - start))
    codes.append(5)
    acc = nbits = 0
    out = bytearray()
    for code in codes:
        acc |= code << nbits
        nbits += 3
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
    if nbits:
        out.append(acc & 0xFF)
    blocks = b"".join(
        bytes([len(out[i : i + 255])]) + bytes(out[i : i + 255]) for i in range(0, len(out), 255)
    )
    return b"\x02" + blocks + b"\x00"


def make_gif(width: int, height: int, version: bytes = b"89a") -> bytes:
    screen = struct.pack("<HHBBB", width, height, 0x80, 0, 0)  # 2-colour global table
    palette = b"\x00\x00\x00\xff\xff\xff"
    descriptor = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0)
    return (
        b"GIF"
        + version
        + screen
        + palette
        + descriptor
        + _gif_lzw_all_zero(width * height)
        + b"\x3b"
    )


def _jpeg_segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def _jpeg_app0() -> bytes:
    return _jpeg_segment(0xE0, b"JFIF\x00\x01\x01\x00" + struct.pack(">HH", 1, 1) + b"\x00\x00")


def _jpeg_dqt() -> bytes:
    return _jpeg_segment(0xDB, b"\x00" + bytes(range(1, 65)))


def _jpeg_sof(width: int, height: int, marker: int = 0xC0) -> bytes:
    return _jpeg_segment(marker, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00")


def make_jpeg(width: int, height: int, marker: int = 0xC0, before_sof: bytes = b"") -> bytes:
    return (
        b"\xff\xd8"
        + _jpeg_app0()
        + _jpeg_dqt()
        + before_sof
        + _jpeg_sof(width, height, marker)
        + b"\xff\xd9"
    )


def _riff_webp(fourcc: bytes, payload: bytes, extra: bytes = b"") -> bytes:
    chunk = fourcc + struct.pack("<I", len(payload)) + payload + b"\x00" * (len(payload) & 1)
    body = b"WEBP" + chunk + extra
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _vp8_payload(width: int, height: int, hscale: int = 0, vscale: int = 0) -> bytes:
    # Frame tag: bit 0 key frame (0 = key), bits 1-3 version, bit 4 show_frame,
    # bits 5-23 size of the first partition.
    first_partition = 10
    tag = 0 | (0 << 1) | (1 << 4) | (first_partition << 5)
    header = tag.to_bytes(3, "little") + b"\x9d\x01\x2a"
    header += struct.pack("<HH", width | (hscale << 14), height | (vscale << 14))
    return header + b"\x00" * first_partition


def make_webp_vp8(width: int, height: int, hscale: int = 0, vscale: int = 0) -> bytes:
    return _riff_webp(b"VP8 ", _vp8_payload(width, height, hscale, vscale))


def _vp8l_payload(width: int, height: int, alpha: bool = False, version: int = 0) -> bytes:
    bits = (width - 1) | ((height - 1) << 14) | (int(alpha) << 28) | (version << 29)
    return b"\x2f" + struct.pack("<I", bits) + b"\x00\x00\x00"


def make_webp_vp8l(width: int, height: int, alpha: bool = False, version: int = 0) -> bytes:
    return _riff_webp(b"VP8L", _vp8l_payload(width, height, alpha, version))


def make_webp_vp8x(width: int, height: int) -> bytes:
    flags = 0x10  # alpha present
    payload = bytes([flags, 0, 0, 0]) + (width - 1).to_bytes(3, "little")
    payload += (height - 1).to_bytes(3, "little")
    # The image chunk deliberately disagrees with the canvas: the canvas must win.
    image = _vp8l_payload(3, 4)
    extra = b"VP8L" + struct.pack("<I", len(image)) + image + b"\x00" * (len(image) & 1)
    return _riff_webp(b"VP8X", payload, extra)


def make_bmp(width: int, height: int) -> bytes:
    """24-bit BITMAPINFOHEADER bitmap; a negative height makes it top-down."""
    row = (width * 3 + 3) & ~3
    pixels = b"\x10\x20\x30" * width + b"\x00" * (row - width * 3)
    pixel_data = pixels * abs(height)
    offset = 14 + 40
    info = struct.pack(
        "<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(pixel_data), 2835, 2835, 0, 0
    )
    header = b"BM" + struct.pack("<IHHI", offset + len(pixel_data), 0, 0, offset)
    return header + info + pixel_data


def make_bmp_core(width: int, height: int) -> bytes:
    """OS/2 1.x bitmap with a 12-byte BITMAPCOREHEADER and 16-bit sizes."""
    row = (width * 3 + 3) & ~3
    pixel_data = (b"\x01\x02\x03" * width + b"\x00" * (row - width * 3)) * height
    offset = 14 + 12
    core = struct.pack("<IHHHH", 12, width, height, 1, 24)
    header = b"BM" + struct.pack("<IHHI", offset + len(pixel_data), 0, 0, offset)
    return header + core + pixel_data


SAMPLES: dict[str, tuple[bytes, str, tuple[int, int]]] = {
    "png": (make_png(37, 21), "image/png", (37, 21)),
    "gif89a": (make_gif(13, 7), "image/gif", (13, 7)),
    "gif87a": (make_gif(5, 300, b"87a"), "image/gif", (5, 300)),
    "jpeg": (make_jpeg(640, 480), "image/jpeg", (640, 480)),
    "jpeg_progressive": (make_jpeg(1025, 3, marker=0xC2), "image/jpeg", (1025, 3)),
    "webp_vp8": (make_webp_vp8(320, 240), "image/webp", (320, 240)),
    "webp_vp8l": (make_webp_vp8l(1000, 16384, alpha=True), "image/webp", (1000, 16384)),
    "webp_vp8x": (make_webp_vp8x(4000, 3000), "image/webp", (4000, 3000)),
    "bmp": (make_bmp(9, 6), "image/bmp", (9, 6)),
    "bmp_top_down": (make_bmp(4, -11), "image/bmp", (4, 11)),
    "bmp_core": (make_bmp_core(3, 5), "image/bmp", (3, 5)),
}


# ---------------------------------------------------------------------------------------------
# Dimensions and media types of well-formed images
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_dimensions_of_samples(name: str) -> None:
    data, _, expected = SAMPLES[name]
    assert image_dimensions(data) == expected


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_media_type_of_samples(name: str) -> None:
    data, media_type, _ = SAMPLES[name]
    assert media_type_of(data) == media_type


def test_png_is_really_valid() -> None:
    # Guards the builder itself: the CRCs and the zlib stream must check out.
    data = make_png(37, 21)
    assert data[12:16] == b"IHDR"
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind_and_body = data[pos + 4 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind_and_body) == crc
        if kind_and_body[:4] == b"IDAT":
            assert len(zlib.decompress(kind_and_body[4:])) == 21 * (37 + 1)
        pos += 12 + length
    assert pos == len(data)


def test_png_other_sizes() -> None:
    assert image_dimensions(make_png(1, 1)) == (1, 1)
    assert image_dimensions(make_png(300, 2)) == (300, 2)


def test_png_header_rejects_bad_ihdr() -> None:
    data = bytearray(make_png(37, 21))
    data[12:16] = b"IDAT"
    assert image_dimensions(bytes(data)) is None
    zero_width = make_png(37, 21)[:16] + struct.pack(">II", 0, 21) + make_png(37, 21)[24:]
    assert image_dimensions(zero_width) is None
    huge = make_png(37, 21)[:16] + struct.pack(">II", 2**31, 21) + make_png(37, 21)[24:]
    assert image_dimensions(huge) is None


def test_png_max_dimensions() -> None:
    header = b"\x89PNG\r\n\x1a\n" + _png_chunk(
        b"IHDR", struct.pack(">IIBBBBB", 2**31 - 1, 65536, 8, 0, 0, 0, 0)
    )
    assert image_dimensions(header) == (2**31 - 1, 65536)


def test_gif_zero_size_is_none() -> None:
    assert image_dimensions(b"GIF89a" + struct.pack("<HH", 0, 10) + b"\x00\x00\x00") is None


def test_gif_large_dimensions() -> None:
    header = b"GIF89a" + struct.pack("<HHBBB", 65535, 40000, 0, 0, 0)
    assert image_dimensions(header) == (65535, 40000)


def test_jpeg_large_dimensions() -> None:
    assert image_dimensions(make_jpeg(65535, 65534)) == (65535, 65534)


@pytest.mark.parametrize("marker", [m for m in range(0xC0, 0xD0) if m not in (0xC4, 0xC8, 0xCC)])
def test_jpeg_every_sof_marker(marker: int) -> None:
    assert image_dimensions(make_jpeg(123, 45, marker=marker)) == (123, 45)


@pytest.mark.parametrize("marker", [0xC4, 0xC8, 0xCC])
def test_jpeg_non_sof_markers_in_sof_range_are_skipped(marker: int) -> None:
    # A body laid out like a frame header; reading it as one would report 999x777.
    decoy = _jpeg_segment(marker, struct.pack(">BHHB", 8, 777, 999, 1) + b"\x01\x11\x00")
    assert image_dimensions(make_jpeg(64, 32, before_sof=decoy)) == (64, 32)


def test_jpeg_dht_before_sof() -> None:
    counts = bytes([0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
    dht = _jpeg_segment(0xC4, b"\x00" + counts + bytes(range(12)))
    assert image_dimensions(make_jpeg(800, 600, before_sof=dht)) == (800, 600)


def test_jpeg_fill_bytes_before_markers() -> None:
    data = (
        b"\xff\xd8"
        + b"\xff\xff\xff"
        + _jpeg_app0()
        + b"\xff" * 5
        + _jpeg_dqt()
        + b"\xff\xff"
        + _jpeg_sof(17, 19)
        + b"\xff\xd9"
    )
    assert image_dimensions(data) == (17, 19)


def test_jpeg_standalone_markers_without_length() -> None:
    # RSTn, TEM and a repeated SOI have no length field; treating them as having one would
    # swallow the following bytes and miss the frame header.
    standalone = b"\xff\xd0\xff\xd7\xff\x01\xff\xd8"
    assert image_dimensions(make_jpeg(21, 37, before_sof=standalone)) == (21, 37)


def test_jpeg_exif_thumbnail_is_not_mistaken_for_frame() -> None:
    thumbnail = make_jpeg(160, 120)
    app1 = _jpeg_segment(0xE1, b"Exif\x00\x00" + thumbnail)
    data = b"\xff\xd8" + app1 + make_jpeg(4032, 3024)[2:]
    assert image_dimensions(data) == (4032, 3024)


def test_jpeg_without_frame_header_is_none() -> None:
    assert image_dimensions(b"\xff\xd8" + _jpeg_app0() + _jpeg_dqt() + b"\xff\xd9") is None
    sos_first = b"\xff\xd8" + _jpeg_app0() + _jpeg_segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
    assert image_dimensions(sos_first + _jpeg_sof(10, 10)) is None


def test_jpeg_zero_height_dnl_is_none() -> None:
    assert image_dimensions(make_jpeg(10, 0)) is None


def test_jpeg_corrupt_segment_lengths() -> None:
    # Length smaller than its own two bytes would loop forever if trusted.
    bad_length = b"\xff\xd8\xff\xe0\x00\x01" + _jpeg_sof(10, 10)
    assert image_dimensions(bad_length) is None
    # Length overshoots into the middle of the next segment.
    overshoot = b"\xff\xd8\xff\xe0\x00\x05JF" + _jpeg_sof(10, 10)
    assert image_dimensions(overshoot) is None
    # SOF too short to hold the dimensions.
    short_sof = b"\xff\xd8\xff\xc0\x00\x05\x08\x00\x10"
    assert image_dimensions(short_sof) is None


def test_webp_vp8_ignores_scale_bits() -> None:
    assert image_dimensions(make_webp_vp8(16383, 2, hscale=3, vscale=1)) == (16383, 2)


def test_webp_vp8_inter_frame_or_bad_start_code_is_none() -> None:
    data = bytearray(make_webp_vp8(320, 240))
    data[20] |= 0x01  # not a key frame
    assert image_dimensions(bytes(data)) is None
    data = bytearray(make_webp_vp8(320, 240))
    data[23:26] = b"\x9d\x01\x2b"
    assert image_dimensions(bytes(data)) is None


def test_webp_vp8l_bit_layout() -> None:
    assert image_dimensions(make_webp_vp8l(1, 1)) == (1, 1)
    assert image_dimensions(make_webp_vp8l(16384, 1)) == (16384, 1)
    assert image_dimensions(make_webp_vp8l(12345, 6789, alpha=True)) == (12345, 6789)
    # The same 14-bit fields read by hand, to pin the layout independently of the builder.
    payload = b"\x2f" + bytes([0x3F, 0x80, 0x12, 0x00])
    data = _riff_webp(b"VP8L", payload)
    bits = 0x0012803F
    assert image_dimensions(data) == ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    assert image_dimensions(data) == (64, 75)


def test_webp_vp8l_bad_signature_or_version_is_none() -> None:
    data = bytearray(make_webp_vp8l(10, 10))
    data[20] = 0x2E
    assert image_dimensions(bytes(data)) is None
    assert image_dimensions(make_webp_vp8l(10, 10, version=1)) is None


def test_webp_vp8x_canvas_limits() -> None:
    assert image_dimensions(make_webp_vp8x(1, 1)) == (1, 1)
    assert image_dimensions(make_webp_vp8x(2**24, 2**24)) == (2**24, 2**24)


def test_webp_unknown_chunk_is_none() -> None:
    data = _riff_webp(b"ALPH", b"\x00" * 16)
    assert media_type_of(data) == "image/webp"
    assert image_dimensions(data) is None


def test_webp_chunk_size_too_small_is_none() -> None:
    data = bytearray(make_webp_vp8x(100, 100))
    data[16:20] = struct.pack("<I", 4)
    assert image_dimensions(bytes(data)) is None


def test_bmp_zero_or_negative_width_is_none() -> None:
    assert image_dimensions(make_bmp(9, 6)[:18] + struct.pack("<ii", 0, 6)) is None
    assert image_dimensions(make_bmp(9, 6)[:18] + struct.pack("<ii", -9, 6)) is None


def test_bmp_v5_header() -> None:
    header = b"BM" + struct.pack("<IHHI", 0, 0, 0, 138)
    v5 = struct.pack("<Iii", 124, 1920, -1080) + b"\x00" * (124 - 12)
    assert image_dimensions(header + v5) == (1920, 1080)


def test_bmp_unknown_header_size() -> None:
    # Plain text starting with "BM" must not be taken for a bitmap.
    text = b"BMW is a car manufacturer based in Munich."
    assert media_type_of(text) is None
    assert image_dimensions(text) is None


def test_accepts_bytearray_and_memoryview() -> None:
    data = make_png(37, 21)
    assert image_dimensions(bytearray(data)) == (37, 21)
    assert image_dimensions(memoryview(data)) == (37, 21)
    assert media_type_of(memoryview(data)) == "image/png"


def test_non_bytes_input_is_none() -> None:
    assert image_dimensions("not bytes") is None  # type: ignore[arg-type]
    assert image_dimensions(None) is None  # type: ignore[arg-type]
    assert media_type_of(12) is None  # type: ignore[arg-type]


def test_unknown_formats() -> None:
    assert image_dimensions(b"") is None
    assert media_type_of(b"") is None
    tiff = b"II*\x00\x08\x00\x00\x00"
    assert image_dimensions(tiff) is None
    assert media_type_of(tiff) is None
    assert media_type_of(b"RIFF\x00\x00\x00\x00WAVEfmt ") is None
    assert media_type_of(b"\xff\xd8") is None  # SOI alone is too little to call it JPEG


# ---------------------------------------------------------------------------------------------
# Robustness: truncation, garbage, mutation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_prefix_is_none_or_correct(name: str) -> None:
    data, _, expected = SAMPLES[name]
    results = {image_dimensions(data[:n]) for n in range(len(data) + 1)}
    assert results <= {None, expected}
    assert expected in results
    # Too short to even hold the signature: never a size.
    assert image_dimensions(data[:2]) is None


def test_random_garbage_is_none() -> None:
    rng = random.Random(20240611)
    for _ in range(3000):
        blob = rng.randbytes(rng.randrange(0, 200))
        assert image_dimensions(blob) is None
        assert media_type_of(blob) is None


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_mutated_headers_never_raise(name: str) -> None:
    data, _, _ = SAMPLES[name]
    rng = random.Random(name)
    head = min(len(data), 120)
    for _ in range(1500):
        mutated = bytearray(data)
        for _ in range(rng.randrange(1, 4)):
            mutated[rng.randrange(head)] = rng.randrange(256)
        cut = rng.randrange(len(mutated) + 1)
        result = image_dimensions(bytes(mutated[:cut]))
        assert result is None or (
            isinstance(result, tuple)
            and len(result) == 2
            and all(isinstance(v, int) and v > 0 for v in result)
        )


def test_jpeg_scan_of_many_ff_bytes_terminates() -> None:
    assert image_dimensions(b"\xff\xd8" + b"\xff" * 100_000) is None


# ---------------------------------------------------------------------------------------------
# Base64
# ---------------------------------------------------------------------------------------------


def test_base64_standard_with_padding() -> None:
    png = make_png(37, 21)
    decoded = decode_base64_image(base64.b64encode(png).decode())
    assert decoded == png
    assert decoded is not None
    assert image_dimensions(decoded) == (37, 21)


@pytest.mark.parametrize("raw", [b"a", b"ab", b"abc", b"abcd", bytes(range(256))])
def test_base64_without_padding(raw: bytes) -> None:
    text = base64.b64encode(raw).decode().rstrip("=")
    assert decode_base64_image(text) == raw


def test_base64_url_safe() -> None:
    raw = b"\xfb\xff\xbf\xfe" * 8
    url = base64.urlsafe_b64encode(raw).decode()
    assert "-" in url
    assert "_" in url
    assert decode_base64_image(url) == raw
    assert decode_base64_image(url.rstrip("=")) == raw


def test_base64_tolerates_whitespace() -> None:
    gif = make_gif(13, 7)
    text = base64.encodebytes(gif).decode()  # MIME: wrapped at 76 chars with newlines
    assert "\n" in text
    assert decode_base64_image(text) == gif
    assert decode_base64_image("  " + text.replace("\n", "\r\n\t ") + "  ") == gif


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n",
        "====",
        "a",  # 6 bits cannot make a byte
        "abcde",
        "ab=c",  # padding in the middle
        "ab===",
        "abc$",
        "data:image/png;base64,iVBORw0KGgo=",
        "héllo==",
        "abc\x00",
    ],
)
def test_base64_invalid_is_none(text: str) -> None:
    assert decode_base64_image(text) is None


def test_base64_non_str_is_none() -> None:
    assert decode_base64_image(b"aGVsbG8=") is None  # type: ignore[arg-type]
    assert decode_base64_image(None) is None  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Cross-check against Pillow-encoded files when Pillow is available
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "options"),
    [
        ("PNG", {}),
        ("JPEG", {}),
        ("JPEG", {"progressive": True}),
        ("GIF", {}),
        ("BMP", {}),
        ("WEBP", {"lossless": False}),
        ("WEBP", {"lossless": True}),
    ],
)
@pytest.mark.parametrize("size", [(1, 1), (37, 21), (513, 300)])
def test_matches_pillow(fmt: str, options: dict[str, bool], size: tuple[int, int]) -> None:
    image_module = pytest.importorskip("PIL.Image")
    features = pytest.importorskip("PIL.features")
    if fmt == "WEBP" and not features.check("webp"):
        pytest.skip("Pillow built without WebP")
    mode = "RGB" if fmt in ("JPEG", "BMP") else "RGBA"
    buffer = io.BytesIO()
    image_module.new(mode, size, (10, 200, 30, 128)).save(buffer, fmt, **options)
    data = buffer.getvalue()
    assert image_dimensions(data) == size
    assert media_type_of(data) == f"image/{fmt.lower()}"


def test_hand_built_images_open_in_pillow() -> None:
    image_module = pytest.importorskip("PIL.Image")
    for builder, size in [
        (make_png, (37, 21)),
        (make_gif, (13, 7)),
        (make_bmp, (9, 6)),
        (make_bmp_core, (3, 5)),
    ]:
        with image_module.open(io.BytesIO(builder(*size))) as img:
            img.load()
            assert img.size == size
