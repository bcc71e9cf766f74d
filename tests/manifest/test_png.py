"""The stdlib PNG codec that writes the icons and lets the package checks read real pixels."""

from __future__ import annotations

import struct
import zlib

import pytest

from manifest.png import SIGNATURE, Pixel, PngError, decode_png, encode_png, read_png_size

ROWS: list[list[Pixel]] = [
    [(255, 0, 0, 255), (0, 255, 0, 128), (0, 0, 255, 0)],
    [(10, 20, 30, 40), (50, 60, 70, 80), (90, 100, 110, 120)],
]


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def _filtered_png(rows: list[list[Pixel]], filter_type: int) -> bytes:
    """An RGBA PNG whose rows all use ``filter_type``: written independently of the module under test."""
    width, bpp = len(rows[0]), 4
    raw = bytearray()
    previous = bytes(width * bpp)
    for row in rows:
        line = bytes(v for pixel in row for v in pixel)
        out = bytearray()
        for i, value in enumerate(line):
            left = line[i - bpp] if i >= bpp else 0
            up = previous[i]
            upper_left = previous[i - bpp] if i >= bpp else 0
            predictor = [0, left, up, (left + up) // 2, _paeth(left, up, upper_left)][filter_type]
            out.append((value - predictor) & 0xFF)
        raw += bytes([filter_type]) + out
        previous = line
    header = struct.pack(">IIBBBBB", width, len(rows), 8, 6, 0, 0, 0)
    return (
        SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(bytes(raw)))
        + _chunk(b"IEND", b"")
    )


def test_rgba_round_trip() -> None:
    image = decode_png(encode_png(3, 2, ROWS, alpha=True))
    assert (image.width, image.height) == (3, 2)
    assert list(image.pixels) == [p for row in ROWS for p in row]


def test_rgb_drops_alpha_and_reads_opaque() -> None:
    image = decode_png(encode_png(3, 2, ROWS, alpha=False))
    assert image.pixel(2, 0) == (0, 0, 255, 255)
    assert not image.has_alpha


@pytest.mark.parametrize("filter_type", [0, 1, 2, 3, 4], ids=["none", "sub", "up", "average", "paeth"])
def test_every_row_filter_decodes(filter_type: int) -> None:
    image = decode_png(_filtered_png(ROWS, filter_type))
    assert list(image.pixels) == [p for row in ROWS for p in row]


def test_size_is_read_from_the_header() -> None:
    assert read_png_size(encode_png(3, 2, ROWS, alpha=True)) == (3, 2)


def test_corrupt_chunk_is_detected() -> None:
    data = bytearray(encode_png(3, 2, ROWS, alpha=True))
    data[-20] ^= 0xFF  # inside the IDAT chunk
    with pytest.raises(PngError, match="bad CRC"):
        decode_png(bytes(data))


def test_non_png_is_refused() -> None:
    with pytest.raises(PngError, match="not a PNG"):
        read_png_size(b"GIF89a" + bytes(30))


def test_sixteen_bit_images_are_refused_with_advice() -> None:
    header = struct.pack(">IIBBBBB", 1, 1, 16, 6, 0, 0, 0)
    data = (
        SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(bytes(9))) + _chunk(b"IEND", b"")
    )
    with pytest.raises(PngError, match="export it as 8-bit"):
        decode_png(data)
