"""Drawing a scene with PIL: a 5x7 bitmap font scaled 2x, thick bars, solid shapes, triangles.

`render_scene(scene)` is a pure function of the scene dict (its noise seed included), so an
image can be redrawn from its record alone. PNGs are written without metadata, so the same
scene gives the same bytes.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from mmpo.synth.families import BACKGROUND, CELL, COLORS

# 5 columns x 7 rows per glyph, "1" = ink. Drawn by hand for this project.
FONT_5X7: dict[str, tuple[str, ...]] = {
    "0": ("01110", "10001", "10011", "10101", "11001", "10001", "01110"),
    "1": ("00100", "01100", "00100", "00100", "00100", "00100", "01110"),
    "2": ("01110", "10001", "00001", "00010", "00100", "01000", "11111"),
    "3": ("11110", "00001", "00001", "01110", "00001", "00001", "11110"),
    "4": ("00010", "00110", "01010", "10010", "11111", "00010", "00010"),
    "5": ("11111", "10000", "11110", "00001", "00001", "10001", "01110"),
    "6": ("00110", "01000", "10000", "11110", "10001", "10001", "01110"),
    "7": ("11111", "00001", "00010", "00100", "01000", "01000", "01000"),
    "8": ("01110", "10001", "10001", "01110", "10001", "10001", "01110"),
    "9": ("01110", "10001", "10001", "01111", "00001", "00010", "01100"),
    "+": ("00000", "00100", "00100", "11111", "00100", "00100", "00000"),
    "-": ("00000", "00000", "00000", "11111", "00000", "00000", "00000"),
    "*": ("00000", "10001", "01010", "00100", "01010", "10001", "00000"),
}
GLYPH_SCALE = 2  # 10 x 14 px inside a 16 x 16 cell
INK = {"black": (0, 0, 0), "white": (255, 255, 255)}
TRIANGLE_FILL = (70, 70, 70)


def glyph_mask(char: str) -> np.ndarray:
    """Boolean (14, 10) array of the scaled glyph."""
    rows = np.array([[c == "1" for c in row] for row in FONT_5X7[char]], dtype=bool)
    return rows.repeat(GLYPH_SCALE, axis=0).repeat(GLYPH_SCALE, axis=1)


def _draw_glyphs(pix: np.ndarray, glyphs: list[dict]) -> None:
    for gl in glyphs:
        r, c = gl["cell"]
        dx, dy = gl["offset"]
        mask = glyph_mask(gl["char"])
        y0, x0 = r * CELL + dy, c * CELL + dx
        region = pix[y0:y0 + mask.shape[0], x0:x0 + mask.shape[1]]
        region[mask] = INK[gl["ink"]]


def _draw_bars(draw: ImageDraw.ImageDraw, scene: dict) -> None:
    size, unit = scene["size"], scene["unit_px"]
    base = size - 2  # a 2 px black axis at the bottom edge
    draw.rectangle([0, base, size - 1, size - 1], fill=(0, 0, 0))
    for bar in scene["bars"]:
        x0 = bar["column"] * CELL + 3
        draw.rectangle([x0, base - bar["height"] * unit, x0 + 9, base - 1], fill=COLORS[bar["color"]])


def _draw_shapes(draw: ImageDraw.ImageDraw, scene: dict) -> None:
    for s in scene["shapes"]:
        r, c = s["cell"]
        x, y = c * CELL, r * CELL
        fill = COLORS[s["color"]]
        if s["kind"] == "circle":
            draw.ellipse([x + 2, y + 2, x + 13, y + 13], fill=fill)
        elif s["kind"] == "square":
            draw.rectangle([x + 3, y + 3, x + 12, y + 12], fill=fill)
        else:
            draw.polygon([(x + 8, y + 2), (x + 14, y + 13), (x + 1, y + 13)], fill=fill)


def _draw_triangle(draw: ImageDraw.ImageDraw, scene: dict) -> None:
    pts = [tuple(c["xy"]) for c in scene["corners"]]
    draw.polygon(pts, fill=TRIANGLE_FILL)
    rad = max(2, scene["size"] // 20)
    for corner in scene["corners"]:
        x, y = corner["xy"]
        draw.ellipse([x - rad, y - rad, x + rad, y + rad], fill=COLORS[corner["color"]])


def render_scene(scene: dict) -> Image.Image:
    """The RGB image of a scene: mid-gray background, the family's drawing, light Gaussian noise."""
    size = scene["size"]
    img = Image.new("RGB", (size, size), (BACKGROUND,) * 3)
    family = scene["family"]
    if family in ("digits", "arith"):
        pix = np.array(img)
        _draw_glyphs(pix, scene["glyphs"])
        img = Image.fromarray(pix)
    elif family == "bars":
        _draw_bars(ImageDraw.Draw(img), scene)
    elif family == "shapes":
        _draw_shapes(ImageDraw.Draw(img), scene)
    elif family == "triangle":
        _draw_triangle(ImageDraw.Draw(img), scene)
    else:
        raise ValueError(f"no renderer for scene family {family!r}")
    sigma = scene.get("noise_sigma", 0.0)
    if sigma:
        rng = np.random.default_rng(scene["noise_seed"])
        noisy = np.asarray(img, dtype=np.float32) + rng.normal(0.0, sigma, (size, size, 1)).astype(np.float32)
        img = Image.fromarray(np.clip(np.rint(noisy), 0, 255).astype(np.uint8))
    return img


def save_png(img: Image.Image, path: str | os.PathLike) -> None:
    """PNG with no text chunks or timestamps, fixed compression: same pixels, same bytes."""
    img.save(Path(path), format="PNG", optimize=False, compress_level=6)
