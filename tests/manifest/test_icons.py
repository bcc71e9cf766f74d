"""The committed icons are what the generator script draws."""

from __future__ import annotations

from pathlib import Path

from manifest.icons import ICON_DIR, color_icon, outline_icon, write_icons
from manifest.png import decode_png


def test_committed_colour_icon_matches_the_generator() -> None:
    assert (ICON_DIR / "color.png").read_bytes() == color_icon()


def test_committed_outline_icon_matches_the_generator() -> None:
    assert (ICON_DIR / "outline.png").read_bytes() == outline_icon()


def test_colour_icon_symbol_stays_in_the_safe_area() -> None:
    # Teams asks for the logo inside the central 120x120 of the 192x192 icon.
    image = decode_png(color_icon())
    background = image.pixel(0, 0)
    outside = [
        (x, y)
        for y in range(192)
        for x in range(192)
        if not (36 <= x < 156 and 36 <= y < 156) and image.pixel(x, y) != background
    ]
    assert outside == []


def test_write_icons_writes_both_files(tmp_path: Path) -> None:
    assert sorted(p.name for p in write_icons(tmp_path)) == ["color.png", "outline.png"]
