"""Rendering of a synthetic scene: its geometry drawn as an aerial-looking RGB image, and the
image as PNG bytes.

Land cover is composed from seeded value noise through anti-aliased masks; roads, buildings,
markings, object shadows and object bodies are drawn with Pillow at a supersampled resolution
and reduced; a little luminance noise is added last. Deterministic: the same
:class:`~rsground_lib.data.scene_model.Scene` gives the same pixels and, for a given Pillow,
the same PNG bytes. Our design.

Book chapter: "Data".
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter
from shapely.geometry import box
from shapely.ops import substring, unary_union

from rsground_lib.data.scene_model import Scene
from rsground_lib.data.shapes import polygons, rgba, shade

_LAND_COLORS = {
    "soil_dry": (176, 160, 124),
    "soil_green": (128, 134, 92),
    "vegetation": (58, 86, 50),
    "vegetation_light": (92, 118, 66),
    "water_deep": (30, 58, 74),
    "water_shallow": (62, 98, 100),
    "concrete": (168, 166, 158),
    "apron": (184, 183, 176),
    "asphalt": (92, 94, 97),
    "shoulder": (150, 148, 138),
}


def _noise(rng, W: int, H: int, cells: int, lo: int = 0, hi: int = 255) -> Image.Image:
    """Seeded value noise: a (cells+3)² grid of uint8 in [lo, hi], bicubic-upsampled to W×H."""
    grid = rng.integers(lo, hi + 1, size=(cells + 3, cells + 3), dtype=np.uint8)
    big = Image.fromarray(grid, mode="L").resize(
        (W + 2 * W // cells + 2, H + 2 * H // cells + 2), Image.BICUBIC
    )
    ox, oy = W // cells, H // cells
    return big.crop((ox, oy, ox + W, oy + H))


def _mask(geom, W: int, H: int, ss: int) -> Image.Image | None:
    """Anti-aliased coverage of a geometry as an ``L`` image (None when empty)."""
    polys = polygons(geom)
    if not polys:
        return None
    img = Image.new("L", (W * ss, H * ss), 0)
    d = ImageDraw.Draw(img)
    for p in polys:
        d.polygon((np.asarray(p.exterior.coords) * ss).ravel().tolist(), fill=255)
        for ring in p.interiors:
            d.polygon((np.asarray(ring.coords) * ss).ravel().tolist(), fill=0)
    return img.reduce(ss) if ss > 1 else img


def _draw(draw: ImageDraw.ImageDraw, geom, fill, ss: int) -> None:
    for p in polygons(geom):
        coords = np.asarray(p.exterior.coords) * ss
        if len(coords) >= 3:
            draw.polygon(coords.ravel().tolist(), fill=fill)


def _solid(rgb, W: int, H: int) -> Image.Image:
    return Image.new("RGB", (W, H), tuple(int(v) for v in rgb))


def _modulate(img: Image.Image, light: Image.Image) -> Image.Image:
    """Multiply an RGB image by a grey ``L`` image (255 = unchanged)."""
    return ImageChops.multiply(img, Image.merge("RGB", (light, light, light)))


def render_scene(scene: Scene, *, supersample: int | None = None) -> Image.Image:
    """Draw a :class:`Scene` as an RGB ``PIL.Image`` of ``scene.width × scene.height``.

    Land cover is composed from seeded value noise (soil, mottled vegetation, water lighter
    near the shore, concrete for urban blocks and the apron) through anti-aliased masks; then
    roads, buildings, markings, object shadows and object bodies are drawn with Pillow at
    ``supersample``× resolution (default 3 up to 320 px, else 2) and reduced
    (anti-aliasing); a little luminance noise is added last. Deterministic: the same scene
    gives the same pixels. Our design.
    """
    W, H = scene.width, scene.height
    ss = supersample or (3 if max(W, H) <= 320 else 2)
    if not isinstance(ss, int) or ss < 1:
        raise ValueError(f"supersample: expected an integer >= 1; got {supersample!r}")
    s = min(W, H)
    rng = np.random.default_rng(scene.render_seed)
    C = _LAND_COLORS
    mid = _noise(rng, W, H, 14, 205, 255)
    img = Image.composite(
        _solid(C["soil_green"], W, H), _solid(C["soil_dry"], W, H), _noise(rng, W, H, 4, 0, 255)
    )
    img = _modulate(img, mid)
    lc = scene.landcover
    veg = _mask(lc.get("vegetation"), W, H, ss)
    if veg is not None:
        crowns = _noise(rng, W, H, max(8, s // 5), 0, 255)
        tree = Image.composite(
            _solid(C["vegetation_light"], W, H), _solid(C["vegetation"], W, H), crowns
        )
        img = Image.composite(_modulate(tree, mid), img, veg)
    for kind, color in (("urban", C["concrete"]), ("apron", C["apron"])):
        m = _mask(lc.get(kind), W, H, ss)
        if m is not None:
            img = Image.composite(_modulate(_solid(shade(color, 1.1), W, H), mid), img, m)
    wm = _mask(lc.get("water"), W, H, ss)
    if wm is not None:
        depth = wm.filter(ImageFilter.GaussianBlur(max(1.5, 0.03 * s)))
        wtex = Image.composite(
            _solid(C["water_deep"], W, H), _solid(C["water_shallow"], W, H), depth
        )
        img = Image.composite(_modulate(wtex, mid.point(lambda v: 230 + v // 10)), img, wm)
    base = img
    canvas = base.resize((W * ss, H * ss), Image.NEAREST) if ss > 1 else base
    draw = ImageDraw.Draw(canvas, "RGBA")

    roads = lc.get("roads")
    if roads is not None and not roads.is_empty:
        _draw(
            draw,
            roads.buffer(max(0.004 * s, 0.5)).intersection(box(0, 0, W, H)),
            rgba(C["shoulder"]),
            ss,
        )
        _draw(draw, roads, rgba(C["asphalt"]), ss)
        road_w = scene.road_width_px
        if road_w >= 14:
            dash, gap = 0.5 * road_w, 0.7 * road_w
            for line in scene.road_lines:
                pos = 0.0
                pieces = []
                while pos < line.length:
                    pieces.append(substring(line, pos, min(pos + dash, line.length)))
                    pos += dash + gap
                width = max(0.06 * road_w, 0.6)
                marks = unary_union([p.buffer(width, cap_style="flat") for p in pieces])
                _draw(draw, marks.intersection(roads), (225, 225, 215, 210), ss)
    for geom, fill in scene.markings:
        _draw(draw, geom, fill, ss)
    for _b, _roof, shadow in scene.buildings:
        _draw(draw, shadow, (0, 0, 0, 90), ss)
    for b, roof, _shadow in scene.buildings:
        _draw(draw, b, rgba(roof), ss)
        _draw(draw, b.buffer(-max(0.004 * s, 0.4)), rgba(shade(roof, 1.06)), ss)
    for obj in scene.objects:
        for geom, fill in obj.decor:
            _draw(draw, geom, fill, ss)
    for obj in scene.objects:
        for geom, fill in obj.shadow:
            _draw(draw, geom, fill, ss)
    for obj in scene.objects:
        for geom, fill in obj.parts:
            _draw(draw, geom, fill, ss)
    out = canvas.reduce(ss) if ss > 1 else canvas
    noise = np.rint(rng.standard_normal((H, W), dtype=np.float32) * 2.0).astype(np.int16)
    arr = np.asarray(out, dtype=np.int16) + noise[..., None]
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), mode="RGB")


def png_bytes(image: Image.Image) -> bytes:
    """The image as PNG bytes (deterministic for a given Pillow)."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()
