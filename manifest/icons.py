"""Generate the app icons, ``color.png`` (192x192) and ``outline.png`` (32x32), with the standard library.

Run ``python -m manifest.icons`` to regenerate them after changing the drawing; the PNGs are committed as
source assets and a test checks they still match this script's output.

The symbol is a person with a "+" badge (someone being added). Teams' rules shape the two files:

* colour icon: a full square (Teams applies its own mask), the symbol inside the central 120x120 safe area;
* outline icon: white on a fully transparent background, nothing else.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from manifest.png import Pixel, encode_png

ICON_DIR = Path(__file__).resolve().parent
COLOR_SIZE = 192
OUTLINE_SIZE = 32
#: Also the manifest's ``accentColor``; the colour icon's background.
ACCENT_COLOR = "#1E5AA8"
_BADGE_COLOR = "#2FA36B"
_WHITE: Pixel = (255, 255, 255, 255)
_CLEAR: Pixel = (255, 255, 255, 0)
#: Sub-samples per pixel side: enough for smooth edges, fast enough to run in a test.
_SUPERSAMPLE = 4

# Geometry in "symbol space": the unit square the symbol is drawn into.
_HEAD = (0.40, 0.27, 0.17)  # centre x, centre y, radius
_BODY = (0.40, 0.92, 0.33, 0.36)  # centre x, centre y, radius x, radius y (upper half drawn)
_BADGE = (0.76, 0.74, 0.23)  # centre x, centre y, radius
_BADGE_GAP = 0.06  # clear ring between the badge and the person, so the badge reads as separate
_PLUS_ARM, _PLUS_HALF_WIDTH = 0.13, 0.035


def _hex(color: str) -> Pixel:
    value = int(color.removeprefix("#"), 16)
    return (value >> 16 & 0xFF, value >> 8 & 0xFF, value & 0xFF, 255)


def _part_at(x: float, y: float) -> str | None:
    """Which part of the symbol covers the point (x, y) of symbol space, if any."""
    bx, by, br = _BADGE
    badge_distance = ((x - bx) ** 2 + (y - by) ** 2) ** 0.5
    if badge_distance <= br:
        dx, dy = abs(x - bx), abs(y - by)
        in_plus = (dx <= _PLUS_ARM and dy <= _PLUS_HALF_WIDTH) or (dy <= _PLUS_ARM and dx <= _PLUS_HALF_WIDTH)
        return "plus" if in_plus else "badge"
    if badge_distance <= br + _BADGE_GAP:
        return None
    hx, hy, hr = _HEAD
    if (x - hx) ** 2 + (y - hy) ** 2 <= hr**2:
        return "person"
    cx, cy, rx, ry = _BODY
    if y <= cy and ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1:
        return "person"
    return None


def _render(size: int, margin: float, paint: Callable[[str | None], Pixel]) -> list[list[Pixel]]:
    """Rasterise the symbol into a ``size`` square, ``margin`` (fraction of the side) left on every edge.

    Each pixel averages ``_SUPERSAMPLE``² samples; colours are averaged weighted by alpha so that
    edges against transparency keep their colour.
    """
    span = 1 - 2 * margin
    samples = _SUPERSAMPLE**2
    rows: list[list[Pixel]] = []
    for py in range(size):
        row: list[Pixel] = []
        for px in range(size):
            red = green = blue = alpha = 0
            for sy in range(_SUPERSAMPLE):
                for sx in range(_SUPERSAMPLE):
                    x = ((px + (sx + 0.5) / _SUPERSAMPLE) / size - margin) / span
                    y = ((py + (sy + 0.5) / _SUPERSAMPLE) / size - margin) / span
                    r, g, b, a = paint(_part_at(x, y))
                    red, green, blue, alpha = red + r * a, green + g * a, blue + b * a, alpha + a
            if alpha == 0:
                row.append(_CLEAR)
            else:
                row.append(
                    (round(red / alpha), round(green / alpha), round(blue / alpha), round(alpha / samples))
                )
        rows.append(row)
    return rows


def color_icon() -> bytes:
    """The 192x192 full-colour icon: accent background, white person, green badge with a white plus."""
    colors = {None: _hex(ACCENT_COLOR), "person": _WHITE, "badge": _hex(_BADGE_COLOR), "plus": _WHITE}
    # 36 px margins keep the symbol inside the 120x120 safe area Teams asks for.
    rows = _render(COLOR_SIZE, 36 / COLOR_SIZE, lambda part: colors[part])
    return encode_png(COLOR_SIZE, COLOR_SIZE, rows, alpha=False)


def outline_icon() -> bytes:
    """The 32x32 outline icon: the same symbol in white on transparency, the plus cut out of the badge."""
    rows = _render(
        OUTLINE_SIZE, 2 / OUTLINE_SIZE, lambda part: _WHITE if part in ("person", "badge") else _CLEAR
    )
    return encode_png(OUTLINE_SIZE, OUTLINE_SIZE, rows, alpha=True)


def write_icons(directory: Path = ICON_DIR) -> list[Path]:
    """Write ``color.png`` and ``outline.png`` into ``directory``; return their paths."""
    written = []
    for name, data in (("color.png", color_icon()), ("outline.png", outline_icon())):
        path = directory / name
        path.write_bytes(data)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m manifest.icons [--out DIR]``."""
    parser = argparse.ArgumentParser(prog="python -m manifest.icons", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=ICON_DIR, help="directory to write into (default: manifest/)"
    )
    args = parser.parse_args(argv)
    for path in write_icons(args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
