"""A minimal PNG encoder and decoder, standard library only (``zlib`` + ``struct``).

The encoder writes what the icon generator needs (8-bit RGB or RGBA, no interlace). The decoder reads
the common 8-bit, non-interlaced formats (grey, grey+alpha, RGB, RGBA, palette) so the package checks can
look at the real pixels of an icon, including one a designer replaced by hand.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: PNG colour types and how many samples each pixel has.
_GREY, _RGB, _PALETTE, _GREY_ALPHA, _RGBA = 0, 2, 3, 4, 6
_CHANNELS = {_GREY: 1, _RGB: 3, _PALETTE: 1, _GREY_ALPHA: 2, _RGBA: 4}

Pixel = tuple[int, int, int, int]


class PngError(ValueError):
    """The bytes are not a PNG this module can read; the message says why."""


@dataclass(frozen=True)
class PngImage:
    """A decoded image: ``pixels`` holds one RGBA tuple per pixel, row by row."""

    width: int
    height: int
    color_type: int
    bit_depth: int
    pixels: tuple[Pixel, ...]

    @property
    def has_alpha(self) -> bool:
        """Whether the file can express transparency (an alpha channel, or a palette with transparency)."""
        return self.color_type in (_GREY_ALPHA, _RGBA) or any(p[3] != 255 for p in self.pixels)

    def pixel(self, x: int, y: int) -> Pixel:
        """The RGBA value at column ``x``, row ``y``."""
        return self.pixels[y * self.width + x]


def encode_png(width: int, height: int, rows: Sequence[Sequence[Pixel]], *, alpha: bool) -> bytes:
    """Encode ``rows`` (``height`` rows of ``width`` RGBA tuples) as an 8-bit RGB or RGBA PNG.

    With ``alpha=False`` the alpha value of every pixel is dropped, so pass opaque pixels.
    """
    if len(rows) != height or any(len(row) != width for row in rows):
        raise ValueError(f"expected {height} rows of {width} pixels")
    channels = 4 if alpha else 3
    raw = bytearray()
    for row in rows:
        raw.append(0)  # filter type "None": the image is small, compression ratio does not matter
        for pixel in row:
            raw.extend(pixel[:channels])
    header = struct.pack(">IIBBBBB", width, height, 8, _RGBA if alpha else _RGB, 0, 0, 0)
    return (
        SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(bytes(raw), 9))
        + _chunk(b"IEND", b"")
    )


def read_png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, without decoding the pixels."""
    if not data.startswith(SIGNATURE) or data[12:16] != b"IHDR" or len(data) < 24:
        raise PngError("not a PNG file (bad signature or no IHDR chunk first)")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def decode_png(data: bytes) -> PngImage:
    """Decode an 8-bit, non-interlaced PNG into RGBA pixels; raise :class:`PngError` otherwise."""
    chunks = _read_chunks(data)
    if not chunks or chunks[0][0] != b"IHDR":
        raise PngError("not a PNG file (IHDR chunk missing)")
    width, height, bit_depth, color_type, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    if color_type not in _CHANNELS:
        raise PngError(f"unknown PNG colour type {color_type}")
    if bit_depth != 8 or interlace != 0:
        raise PngError(
            f"unsupported PNG format (bit depth {bit_depth}, interlace {interlace}); "
            "export it as 8-bit, non-interlaced"
        )
    palette: list[Pixel] = []
    for kind, body in chunks:
        if kind == b"PLTE":
            palette = [(body[i], body[i + 1], body[i + 2], 255) for i in range(0, len(body) - 2, 3)]
        elif kind == b"tRNS" and color_type == _PALETTE:
            palette = [(*p[:3], body[i]) if i < len(body) else p for i, p in enumerate(palette)]
    try:
        raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    except zlib.error as err:
        raise PngError(f"corrupt image data: {err}") from None
    channels = _CHANNELS[color_type]
    samples = _unfilter(raw, width, height, channels)
    return PngImage(width, height, color_type, bit_depth, _to_rgba(samples, color_type, palette))


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _read_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    if not data.startswith(SIGNATURE):
        raise PngError("not a PNG file (bad signature)")
    chunks: list[tuple[bytes, bytes]] = []
    offset = len(SIGNATURE)
    while offset < len(data):
        if offset + 8 > len(data):
            raise PngError("truncated PNG chunk header")
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        crc_bytes = data[offset + 8 + length : offset + 12 + length]
        if len(body) != length or len(crc_bytes) != 4:
            raise PngError(f"truncated {kind!r} chunk")
        if struct.unpack(">I", crc_bytes)[0] != zlib.crc32(kind + body):
            raise PngError(f"bad CRC in {kind!r} chunk")
        chunks.append((kind, body))
        offset += 12 + length
        if kind == b"IEND":
            break
    return chunks


def _unfilter(raw: bytes, width: int, height: int, channels: int) -> bytes:
    stride = width * channels
    if len(raw) != height * (stride + 1):
        raise PngError("image data length does not match the header")
    out = bytearray()
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        filter_type = raw[start]
        line = bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            upper_left = previous[i - channels] if i >= channels else 0
            if filter_type == 1:
                line[i] = (line[i] + left) & 0xFF
            elif filter_type == 2:
                line[i] = (line[i] + up) & 0xFF
            elif filter_type == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif filter_type == 4:
                line[i] = (line[i] + _paeth(left, up, upper_left)) & 0xFF
            elif filter_type != 0:
                raise PngError(f"unknown PNG filter type {filter_type} in row {y}")
        out.extend(line)
        previous = line
    return bytes(out)


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _to_rgba(samples: bytes, color_type: int, palette: list[Pixel]) -> tuple[Pixel, ...]:
    if color_type == _RGBA:
        return tuple(
            (samples[i], samples[i + 1], samples[i + 2], samples[i + 3]) for i in range(0, len(samples), 4)
        )
    if color_type == _RGB:
        return tuple((samples[i], samples[i + 1], samples[i + 2], 255) for i in range(0, len(samples), 3))
    if color_type == _GREY_ALPHA:
        return tuple((samples[i], samples[i], samples[i], samples[i + 1]) for i in range(0, len(samples), 2))
    if color_type == _GREY:
        return tuple((s, s, s, 255) for s in samples)
    try:
        return tuple(palette[s] for s in samples)
    except IndexError:
        raise PngError("palette index out of range") from None
