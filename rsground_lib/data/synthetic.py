"""Synthetic aerial scenes for stage 1 (CoT-SFT): geometry, rendering and the dataset.

RSGround-R1's first stage fine-tunes on "synthetic RSVG reasoning data that establishes
explicit position awareness". This module draws that data: aerial-looking scenes built from
shapely geometry — land cover (bare soil, vegetation, water as a lake, a river or a coast,
urban blocks, an airport apron, roads as buffered lines) and objects of eleven DIOR-RSVG
classes (:data:`CLASS_SPECS`) placed on plausible ground without overlaps — rendered with
Pillow and a little seeded noise, and a referring expression for one target object
(:mod:`rsground_lib.data.expressions`), verified by the resolver. Book chapter: "Data"
(``book/02_data.py``).

Decisions (our design; the paper's generator is not public):

* **Several instances of the target class** (``min_instances``–``max_instances``, default
  2–5, capped per class by :attr:`ClassSpec.max_per_scene`) plus 1–3 distractor classes, so
  that the class alone rarely identifies the target and position is needed. The ``none`` cue
  uses a scene with a single target instance; ``single_instance=True`` makes every class
  unique (for the model's pre-training, where position words are not needed).
* **Sizes are compressed**: real ground track fields are ~35× longer than cars; here every
  class has a typical length as a fraction of the image side (:attr:`ClassSpec.length_frac`)
  so that all classes stay legible in one 112–800 px image, with a floor in pixels.
* **Plausible ground**: ships on water only (along the river on a river), bridges across the
  river with their road, vehicles on roads (in a lane, along the road), airplanes on the
  apron, everything else on open land (not water, road, urban block or apron). Footprints
  (body, shadow, wake, plus a small margin) never overlap (shapely), and every object lies
  fully inside the image.
* **One sun per scene**: all shadows fall in the same direction.
* **Determinism**: scene ``index`` of seed ``seed`` is drawn from
  ``numpy.random.default_rng(numpy.random.SeedSequence([seed, index]))`` only, so the same
  (seed, index) gives a byte-identical PNG and record whatever ``n`` or the other scenes.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from PIL import Image, ImageChops, ImageDraw, ImageFilter
from shapely.affinity import affine_transform
from shapely.geometry import LineString, Point, Polygon, box
from shapely.ops import substring, unary_union

from rsground_lib.data import expressions as ex

# --------------------------------------------------------------------------- vocabulary

PALETTE: dict[str, tuple[int, int, int]] = {
    "white": (230, 231, 226),
    "gray": (142, 144, 146),
    "black": (38, 39, 43),
    "red": (176, 44, 38),
    "blue": (46, 86, 170),
    "green": (56, 128, 66),
    "yellow": (224, 196, 58),
    "orange": (224, 126, 48),
    "brown": (150, 102, 62),
}
"""Colour name → base RGB of object colours (names from :data:`expressions.COLOR_NAMES`)."""


@dataclass(frozen=True)
class ClassSpec:
    """How one object class looks and where it may stand (our design).

    ``ground``: ``water``, ``river`` (across it), ``road``, ``apron`` or ``land``;
    ``length_frac``: the range of the object's long side as a fraction of the image side;
    ``min_length_px``: floor in pixels; ``colors``: (name, weight) pairs;
    ``max_per_scene``: cap on instances. Book chapter: "Data".
    """

    category: str
    ground: str
    length_frac: tuple[float, float]
    min_length_px: float
    colors: tuple[tuple[str, float], ...]
    max_per_scene: int


CLASS_SPECS: dict[str, ClassSpec] = {
    s.category: s
    for s in (
        ClassSpec("storagetank", "land", (0.05, 0.11), 7, (("white", 0.6), ("gray", 0.4)), 6),
        ClassSpec(
            "vehicle",
            "road",
            (0.032, 0.056),
            6,
            (
                ("white", 0.25),
                ("gray", 0.15),
                ("black", 0.15),
                ("red", 0.15),
                ("blue", 0.15),
                ("yellow", 0.08),
                ("green", 0.07),
            ),
            6,
        ),
        ClassSpec(
            "ship",
            "water",
            (0.08, 0.17),
            10,
            (("white", 0.35), ("gray", 0.25), ("black", 0.15), ("red", 0.15), ("blue", 0.1)),
            5,
        ),
        ClassSpec("airplane", "apron", (0.1, 0.18), 12, (("white", 0.65), ("gray", 0.35)), 5),
        ClassSpec(
            "tenniscourt",
            "land",
            (0.09, 0.13),
            10,
            (("green", 0.45), ("blue", 0.35), ("red", 0.2)),
            5,
        ),
        ClassSpec(
            "basketballcourt",
            "land",
            (0.08, 0.11),
            9,
            (("orange", 0.4), ("blue", 0.35), ("green", 0.25)),
            4,
        ),
        ClassSpec("baseballfield", "land", (0.17, 0.26), 16, (("brown", 1.0),), 3),
        ClassSpec("bridge", "river", (0.12, 0.24), 14, (("gray", 0.6), ("white", 0.4)), 3),
        ClassSpec(
            "chimney", "land", (0.05, 0.08), 6, (("gray", 0.45), ("white", 0.3), ("red", 0.25)), 4
        ),
        ClassSpec("windmill", "land", (0.08, 0.12), 10, (("white", 1.0),), 5),
        ClassSpec("groundtrackfield", "land", (0.24, 0.33), 24, (("red", 0.7), ("blue", 0.3)), 2),
    )
}
"""The object classes (DIOR-RSVG category names) and their look. Book chapter: "Data"."""

CATEGORIES: tuple[str, ...] = tuple(CLASS_SPECS)

SMOKE_IMAGE_SIZE = 224
FULL_IMAGE_SIZE = 800
"""Image sides of the smoke profile and of DIOR-RSVG (the full profile)."""

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
_ROOFS = ((196, 194, 188), (156, 86, 66), (120, 124, 130), (214, 208, 192), (100, 104, 96))


# --------------------------------------------------------------------------- the scene


@dataclass
class SceneObject:
    """One object of a scene: what the record keeps (``category``, ``bbox`` in pixels of the
    image, continuous convention, ``color``, ``size`` label, ``area_px``, ``angle_deg``,
    ``ground``) and how it is drawn (``parts``, ``shadow``, ``decor``, ``footprint``).

    ``size`` is ``small``/``medium``/``large`` by where the object's length falls in its
    class's range (a property of the object, not a cue). Book chapter: "Data"."""

    category: str
    bbox: tuple[float, float, float, float]
    color: str
    size: str
    area_px: float
    angle_deg: float
    ground: str
    parts_fn: object = field(default=None, repr=False)  # () -> [(geometry, rgba)], built lazily
    shadow: list = field(default_factory=list, repr=False)
    decor: list = field(default_factory=list, repr=False)
    footprint: object = field(default=None, repr=False)
    _parts: list | None = field(default=None, repr=False)

    @property
    def parts(self) -> list:
        """The drawing parts ``[(geometry, rgba)]`` in image pixels (built on first use:
        scenes made only for their geometry never pay for them). Book chapter: "Data"."""
        if self._parts is None:
            self._parts = list(self.parts_fn()) if self.parts_fn is not None else []
        return self._parts

    def to_record(self) -> dict:
        """The ``objects`` entry of the record (JSON-able). Book chapter: "Data"."""
        return {
            "category": self.category,
            "bbox": [float(v) for v in self.bbox],
            "color": self.color,
            "size": self.size,
            "area_px": float(self.area_px),
            "angle_deg": float(self.angle_deg),
            "ground": self.ground,
        }


@dataclass
class Scene:
    """A synthetic scene: its size, land cover (shapely geometries by kind), buildings,
    markings, objects, sun direction and the seed of its textures. Book chapter: "Data"."""

    width: int
    height: int
    objects: list[SceneObject]
    landcover: dict
    buildings: list = field(default_factory=list, repr=False)
    markings: list = field(default_factory=list, repr=False)
    shadow_deg: float = 0.0
    render_seed: int = 0
    water_kind: str | None = None
    target_category: str | None = None
    dropped: int = 0
    road_lines: list = field(default_factory=list, repr=False)
    road_width_px: float = 0.0

    def object_records(self) -> list[dict]:
        """Every object as its record dict (the ``objects`` column). Book chapter: "Data"."""
        return [o.to_record() for o in self.objects]


OBJECTS_FEATURE_FIELDS = ("category", "bbox", "color", "size", "area_px", "angle_deg", "ground")


def objects_feature():
    """The ``datasets`` feature of the ``objects`` column: a list of dicts with the fields
    :data:`OBJECTS_FEATURE_FIELDS`. Book chapter: "Data"."""
    import datasets

    return datasets.List(
        {
            "category": datasets.Value("string"),
            "bbox": datasets.List(datasets.Value("float64"), length=4),
            "color": datasets.Value("string"),
            "size": datasets.Value("string"),
            "area_px": datasets.Value("float64"),
            "angle_deg": datasets.Value("float64"),
            "ground": datasets.Value("string"),
        }
    )


# --------------------------------------------------------------------------- geometry helpers


def _image_wh(image_size) -> tuple[int, int]:
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        w = h = int(image_size)
    else:
        try:
            w, h = (int(v) for v in image_size)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"image_size: expected a side in pixels or (width, height); got {image_size!r}"
            ) from exc
    if w < 64 or h < 64 or max(w, h) > 4096:
        raise ValueError(f"image_size: expected sides between 64 and 4096 pixels; got {w}x{h}")
    return w, h


def _place(geom, cx: float, cy: float, angle_deg: float):
    """Rotate a local geometry (origin at the object's centre) and move it to (cx, cy)."""
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    m = np.array([[c, s], [-s, c]])
    t = np.array([cx, cy])
    return shapely.transform(geom, lambda xy: xy @ m + t)


def _rect(length: float, width: float, x0: float = 0.0, y0: float = 0.0) -> Polygon:
    """Axis-aligned rectangle centred on (x0, y0), long side along x."""
    return box(x0 - length / 2, y0 - width / 2, x0 + length / 2, y0 + width / 2)


def _stadium(length: float, width: float) -> Polygon:
    r = width / 2
    half = max(length / 2 - r, 1e-6)
    return LineString([(-half, 0), (half, 0)]).buffer(r, quad_segs=12)


def _ellipse(rx: float, ry: float, x0: float = 0.0, y0: float = 0.0) -> Polygon:
    circle = Point(0, 0).buffer(1.0, quad_segs=10)
    return affine_transform(circle, [rx, 0, 0, ry, x0, y0])


def _line(points, width: float):
    return LineString(points).buffer(width / 2, cap_style="flat")


def _shade(rgb, k: float) -> tuple[int, int, int]:
    return tuple(int(max(0, min(255, round(v * k)))) for v in rgb)


def _jitter(rgb, rng: np.random.Generator, amount: float = 10.0) -> tuple[int, int, int]:
    d = rng.normal(0.0, amount / 2)
    return tuple(int(max(0, min(255, round(v + d + rng.normal(0, amount / 4))))) for v in rgb)


def _rgba(rgb, alpha: int = 255) -> tuple[int, int, int, int]:
    return (int(rgb[0]), int(rgb[1]), int(rgb[2]), int(alpha))


def _polygons(geom):
    if geom is None or geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    return [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon) and not g.is_empty]


def _pick_color(spec: ClassSpec, rng: np.random.Generator) -> str:
    total = sum(w for _, w in spec.colors)
    u = rng.random() * total
    for name, w in spec.colors:
        u -= w
        if u < 0:
            return name
    return spec.colors[-1][0]


# --------------------------------------------------------------------------- glyphs


@dataclass
class _Glyph:
    body: object  # the object's outline, local coordinates (bbox and area come from it)
    parts: object  # () -> [(geometry, rgba)] in drawing order; built only once placed
    shadow: list = field(default_factory=list)  # [(geometry, rgba, offset px along the sun)]
    decor: list = field(default_factory=list)  # ground marks: wake, ...


_WHITE_LINE = (236, 238, 234, 255)
_DARK = (0, 0, 0, 110)


def _glyph(category: str, length: float, color: str, rng: np.random.Generator) -> _Glyph:
    """The local geometry (centred on the origin, long side along x) of one object.

    Only the outline, shadow and decor are built here; the detailed parts are built by
    ``glyph.parts()`` once the object has found its place (placement tries many poses)."""
    base = _jitter(PALETTE[color], rng, 8)

    if category == "storagetank":
        r = length / 2
        body = Point(0, 0).buffer(r, quad_segs=16)

        def parts():
            return [
                (body, _rgba(_shade(base, 0.82))),
                (Point(0, 0).buffer(r * 0.9, quad_segs=16), _rgba(base)),
                (Point(0, 0).buffer(r * 0.55, quad_segs=12), _rgba(_shade(base, 0.95))),
                (Point(0, 0).buffer(r * 0.5, quad_segs=12), _rgba(_shade(base, 1.04))),
                (
                    Point(-r * 0.25, -r * 0.25).buffer(r * 0.12, quad_segs=6),
                    _rgba(_shade(base, 1.1)),
                ),
            ]

        return _Glyph(body, parts, [(body, _DARK, r * 0.45)])
    if category == "vehicle":
        w = length * rng.uniform(0.42, 0.5)
        body = _rect(length, w)

        def parts():
            return [
                (body, _rgba(base)),
                (_rect(length * 0.16, w * 0.8, length * 0.2), _rgba((40, 46, 58))),
                (_rect(length * 0.1, w * 0.76, -length * 0.3), _rgba((58, 64, 74))),
                (_rect(length * 0.28, w * 0.7, -length * 0.04), _rgba(_shade(base, 1.08))),
            ]

        return _Glyph(body, parts, [(body, _DARK, w * 0.25)])
    if category == "ship":
        w = length * rng.uniform(0.22, 0.3)
        h = length / 2
        hull = Polygon(
            [
                (-h, -w * 0.42),
                (-h * 0.92, -w / 2),
                (h * 0.45, -w / 2),
                (h, 0),
                (h * 0.45, w / 2),
                (-h * 0.92, w / 2),
                (-h, w * 0.42),
            ]
        )
        cabin = (236, 236, 232) if color != "white" else (168, 172, 176)

        def parts():
            deck = affine_transform(hull, [0.86, 0, 0, 0.72, -h * 0.04, 0])
            return [
                (hull, _rgba(_shade(base, 0.8))),
                (deck, _rgba(base)),
                (_rect(length * 0.18, w * 0.6, -h * 0.6), _rgba(cabin)),
                (_rect(length * 0.05, w * 0.5, -h * 0.42), _rgba(_shade(cabin, 0.85))),
            ]

        wake = Polygon(
            [
                (-h, -w * 0.3),
                (-h - length * 0.7, -w * 0.9),
                (-h - length * 0.7, w * 0.9),
                (-h, w * 0.3),
            ]
        )
        return _Glyph(hull, parts, [(hull, _DARK, w * 0.18)], [(wake, (225, 235, 235, 38))])
    if category == "airplane":
        L = length
        h = L / 2
        span = L * rng.uniform(0.9, 1.05)
        fus_w = L * 0.1
        sweep = L * 0.12
        wing = Polygon(
            [
                (h * 0.25, -fus_w * 0.3),
                (h * 0.25 - sweep, -span / 2),
                (h * 0.25 - sweep - L * 0.09, -span / 2),
                (-h * 0.15, -fus_w * 0.3),
                (-h * 0.15, fus_w * 0.3),
                (h * 0.25 - sweep - L * 0.09, span / 2),
                (h * 0.25 - sweep, span / 2),
                (h * 0.25, fus_w * 0.3),
            ]
        )
        tail = Polygon(
            [
                (-h * 0.72, -fus_w * 0.3),
                (-h * 0.88, -span * 0.18),
                (-h * 0.98, -span * 0.18),
                (-h * 0.95, 0),
                (-h * 0.98, span * 0.18),
                (-h * 0.88, span * 0.18),
                (-h * 0.72, fus_w * 0.3),
            ]
        )
        body = unary_union([_ellipse(h, fus_w / 2), wing, tail])

        def parts():
            eng = _rgba(_shade(base, 0.6))
            x_eng = h * 0.08 - sweep * 0.5
            return [
                (body, _rgba(base)),
                (_ellipse(L * 0.05, L * 0.025, x_eng, -span * 0.22), eng),
                (_ellipse(L * 0.05, L * 0.025, x_eng, span * 0.22), eng),
                (_ellipse(L * 0.06, fus_w * 0.3, h * 0.82), _rgba(_shade(base, 0.75))),
            ]

        return _Glyph(body, parts, [(body, _DARK, L * 0.08)])
    if category in ("tenniscourt", "basketballcourt"):
        w = length * (0.5 if category == "tenniscourt" else 0.56)
        body = _rect(length, w)
        surface = _jitter(PALETTE[color], rng, 6)
        lw = max(length * 0.018, 0.6)

        def parts():
            white = _WHITE_LINE
            if category == "tenniscourt":
                pl, pw = length * 0.68, w * 0.62
                return [
                    (body, _rgba(_shade(surface, 0.78))),
                    (_rect(pl + lw, pw + lw), white),
                    (_rect(pl - lw, pw - lw), _rgba(surface)),
                    (_rect(pl, lw * 0.8, 0, pw * 0.37), white),
                    (_rect(pl, lw * 0.8, 0, -pw * 0.37), white),
                    (_rect(lw * 0.8, pw * 0.74, pl * 0.27), white),
                    (_rect(lw * 0.8, pw * 0.74, -pl * 0.27), white),
                    (_rect(pl * 0.54, lw * 0.8), white),
                    (_rect(lw * 1.4, pw + lw * 3), _rgba((40, 40, 40))),
                ]
            pl, pw = length * 0.86, w * 0.82
            key = _rgba(_shade(surface, 0.85))
            kl, kw = pl * 0.22, pw * 0.34
            return [
                (body, _rgba(_shade(surface, 0.85))),
                (_rect(pl + lw, pw + lw), white),
                (_rect(pl - lw, pw - lw), _rgba(surface)),
                (_rect(lw, pw), white),
                (Point(0, 0).buffer(pw * 0.2, quad_segs=10), white),
                (Point(0, 0).buffer(pw * 0.2 - lw, quad_segs=10), _rgba(surface)),
                (_rect(kl, kw, -pl * 0.39), white),
                (_rect(kl - 2 * lw, kw - 2 * lw, -pl * 0.39 - lw), key),
                (_rect(kl, kw, pl * 0.39), white),
                (_rect(kl - 2 * lw, kw - 2 * lw, pl * 0.39 + lw), key),
            ]

        return _Glyph(body, parts)
    if category == "baseballfield":
        R = length / math.sqrt(2)
        angles = np.linspace(-math.pi / 4, math.pi / 4, 24)
        home = (-R * 0.5, 0.0)

        def sector(radius: float):
            pts = [home] + [(home[0] + radius * math.cos(a), radius * math.sin(a)) for a in angles]
            return Polygon(pts)

        grass = _jitter((74, 138, 62), rng, 8)
        dirt = _jitter(PALETTE["brown"], rng, 8)
        body = sector(R)

        def parts():
            d = R * 0.24
            c45 = math.cos(math.pi / 4)
            diamond = affine_transform(_rect(d, d), [c45, -c45, c45, c45, home[0] + d * 0.75, 0])
            lw = max(R * 0.012, 0.6)
            tip = (R * math.cos(math.pi / 4), R * math.sin(math.pi / 4))
            return [
                (body, _rgba(grass)),
                (sector(R * 0.93), _rgba(_shade(grass, 1.07))),
                (sector(R * 0.5), _rgba(dirt)),
                (diamond, _rgba(_shade(grass, 0.95))),
                (Point(home).buffer(R * 0.07, quad_segs=8), _rgba(dirt)),
                (_line([home, (home[0] + tip[0], -tip[1])], lw), _WHITE_LINE),
                (_line([home, (home[0] + tip[0], tip[1])], lw), _WHITE_LINE),
            ]

        return _Glyph(body, parts)
    if category == "bridge":
        w = length * rng.uniform(0.16, 0.24)
        body = _rect(length, w)

        def parts():
            return [
                (body, _rgba(_shade(base, 0.75))),
                (_rect(length, w * 0.78), _rgba(base)),
                (_rect(length, max(w * 0.05, 0.5)), _rgba(_shade(base, 1.1))),
            ]

        return _Glyph(body, parts, [(body, _DARK, w * 0.6)])
    if category == "chimney":
        d = length * 0.32
        body = Polygon(
            [
                (-length / 2, -d / 2),
                (length / 2, -d * 0.35),
                (length / 2, d * 0.35),
                (-length / 2, d / 2),
            ]
        )

        def parts():
            out = [(body, _rgba(base))]
            if color == "red":
                for k in (0.1, 0.35):
                    out.append((_rect(length * 0.1, d * 0.8, length * k), _WHITE_LINE))
            else:
                out.append((_rect(length * 0.12, d * 0.72, length * 0.3), _rgba(_shade(base, 0.8))))
            out.append(
                (Point(length / 2, 0).buffer(d * 0.35, quad_segs=8), _rgba(_shade(base, 0.9)))
            )
            out.append((Point(length / 2, 0).buffer(d * 0.2, quad_segs=8), _rgba((28, 28, 30))))
            return out

        return _Glyph(body, parts)
    if category == "windmill":
        R = length / 2
        theta0 = rng.uniform(0, 2 * math.pi)
        blade = Polygon([(0, -R * 0.05), (R, -R * 0.012), (R, R * 0.012), (0, R * 0.06)])
        blades = [_place(blade, 0, 0, math.degrees(theta0 + k * 2 * math.pi / 3)) for k in range(3)]
        hub = Point(0, 0).buffer(R * 0.09, quad_segs=8)
        body = unary_union([*blades, hub])

        def parts():
            return [
                (body, _rgba(base)),
                (_rect(R * 0.3, R * 0.12), _rgba(_shade(base, 0.85))),
                (hub, _rgba(_shade(base, 0.95))),
            ]

        return _Glyph(body, parts)
    if category == "groundtrackfield":
        w = length * rng.uniform(0.5, 0.6)
        track = _jitter(PALETTE[color], rng, 8)
        grass = _jitter((70, 132, 64), rng, 6)
        body = _stadium(length, w)

        def parts():
            white = _WHITE_LINE
            tw = w * 0.16
            out = [(body, _rgba(track))]
            for k in range(1, 4):
                inset = tw * k / 4
                out.append((_stadium(length - 2 * inset + 0.6, w - 2 * inset + 0.6), white))
                out.append((_stadium(length - 2 * inset - 0.6, w - 2 * inset - 0.6), _rgba(track)))
            inner_l, inner_w = length - 2 * tw, w - 2 * tw
            out.append((_stadium(inner_l, inner_w), _rgba(grass)))
            fl, fw = (inner_l - inner_w) * 0.95 + inner_w * 0.3, inner_w * 0.7
            lw = max(length * 0.006, 0.5)
            out += [
                (_rect(fl + lw, fw + lw), white),
                (_rect(fl - lw, fw - lw), _rgba(_shade(grass, 1.06))),
                (_rect(lw, fw), white),
            ]
            return out

        return _Glyph(body, parts)
    raise ValueError(f"unknown category {category!r}; expected one of {CATEGORIES}")


def _chimney_shadow(length: float, shadow_vec, cx: float, cy: float, angle_deg: float, base_local):
    """The long ground shadow of a chimney, cast from its base along the sun direction."""
    bx, by = base_local
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    px, py = cx + c * bx - s * by, cy + s * bx + c * by
    sx, sy = shadow_vec
    norm = math.hypot(sx, sy) or 1.0
    ux, uy = sx / norm, sy / norm
    d = length * 0.3
    L = length * 2.6
    poly = Polygon(
        [
            (px - uy * d / 2, py + ux * d / 2),
            (px + ux * L - uy * d * 0.3, py + uy * L + ux * d * 0.3),
            (px + ux * L + uy * d * 0.3, py + uy * L - ux * d * 0.3),
            (px + uy * d / 2, py - ux * d / 2),
        ]
    )
    return poly


def _windmill_shadow(R: float, shadow_vec, cx: float, cy: float, blades_geom):
    sx, sy = shadow_vec
    norm = math.hypot(sx, sy) or 1.0
    ux, uy = sx / norm, sy / norm
    L = R * 1.6
    tower = LineString([(cx, cy), (cx + ux * L, cy + uy * L)]).buffer(
        max(R * 0.05, 0.5), cap_style="flat"
    )
    rotor = affine_transform(blades_geom, [1, 0, 0, 0.35, ux * L, uy * L - cy * 0.35 + cy])
    return [(tower, (0, 0, 0, 110)), (rotor, (0, 0, 0, 90))]


# --------------------------------------------------------------------------- land cover


def _wavy_polyline(rng, p0, p1, amplitude, wavelength, n=40):
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    d = p1 - p0
    length = float(np.hypot(*d)) or 1.0
    normal = np.array([-d[1], d[0]]) / length
    t = np.linspace(0, 1, n)
    phase = rng.uniform(0, 2 * math.pi, size=2)
    off = amplitude * (
        np.sin(2 * math.pi * t * length / wavelength + phase[0])
        + 0.35 * np.sin(2 * math.pi * t * length / (wavelength * 0.45) + phase[1])
    )
    pts = p0[None, :] + t[:, None] * d[None, :] + off[:, None] * normal[None, :]
    return LineString(pts)


def _blob(rng, cx, cy, radius, n=48, roughness=0.12):
    theta = np.linspace(0, 2 * math.pi, n, endpoint=False)
    r = np.ones(n)
    for k in (2, 3, 4, 6):
        r += (
            rng.uniform(0.3, 1.0)
            * roughness
            * np.sin(k * theta + rng.uniform(0, 2 * math.pi))
            / (k / 2)
        )
    pts = np.stack([cx + radius * r * np.cos(theta), cy + radius * r * np.sin(theta)], axis=1)
    poly = Polygon(pts)
    return poly if poly.is_valid else poly.buffer(0)


def _edge_point(rng, W, H, side: int, lo=0.1, hi=0.9):
    u = rng.uniform(lo, hi)
    return [(u * W, -5.0), (W + 5.0, u * H), (u * W, H + 5.0), (-5.0, u * H)][side]


@dataclass
class _Layout:
    frame: Polygon
    water: object
    water_kind: str | None
    river_line: object
    river_width: float
    apron: object
    urban: object
    roads: object
    road_lines: list
    vegetation: object
    bridge_sites: list
    buildings: list
    markings: list
    road_width: float


def _layout(rng, W: int, H: int, needs: dict[str, int], shadow_vec) -> _Layout:
    s = float(min(W, H))
    frame = box(0, 0, W, H)
    empty = Polygon()
    water, water_kind, river_line, river_width = empty, None, None, 0.0
    want_water = needs.get("water", 0) > 0 or needs.get("river", 0) > 0 or rng.random() < 0.3
    if want_water:
        if needs.get("river", 0) > 0:
            water_kind = "river"
        else:
            water_kind = ["river", "lake", "coast"][int(rng.choice(3, p=[0.35, 0.3, 0.35]))]
        if water_kind == "river":
            ang = rng.uniform(0, math.pi)
            cx, cy = W / 2 + rng.uniform(-0.2, 0.2) * W, H / 2 + rng.uniform(-0.2, 0.2) * H
            L = 1.5 * math.hypot(W, H)
            p0 = (cx - math.cos(ang) * L / 2, cy - math.sin(ang) * L / 2)
            p1 = (cx + math.cos(ang) * L / 2, cy + math.sin(ang) * L / 2)
            river_line = _wavy_polyline(
                rng, p0, p1, rng.uniform(0.03, 0.09) * s, rng.uniform(0.9, 1.6) * s, n=60
            )
            river_width = rng.uniform(0.1, 0.17) * s
            water = river_line.buffer(river_width / 2, quad_segs=6)
        elif water_kind == "lake":
            water = _blob(
                rng, rng.uniform(0.3, 0.7) * W, rng.uniform(0.3, 0.7) * H, rng.uniform(0.2, 0.3) * s
            )
        else:
            side = int(rng.integers(4))
            depth = rng.uniform(0.28, 0.42)
            n = 40
            t = np.linspace(-0.05, 1.05, n)
            wave = rng.uniform(0.02, 0.06) * np.sin(
                2 * math.pi * t * rng.uniform(1, 2.5) + rng.uniform(0, 6.3)
            )
            wave += rng.normal(0, 0.004, n).cumsum() * 0.5
            d = depth + wave
            if side == 0:
                pts = [(u * W, d_ * H) for u, d_ in zip(t, d, strict=True)] + [
                    (1.05 * W, -0.05 * H),
                    (-0.05 * W, -0.05 * H),
                ]
            elif side == 1:
                pts = [((1 - d_) * W, u * H) for u, d_ in zip(t, d, strict=True)] + [
                    (1.05 * W, 1.05 * H),
                    (1.05 * W, -0.05 * H),
                ]
            elif side == 2:
                pts = [(u * W, (1 - d_) * H) for u, d_ in zip(t, d, strict=True)] + [
                    (1.05 * W, 1.05 * H),
                    (-0.05 * W, 1.05 * H),
                ]
            else:
                pts = [(d_ * W, u * H) for u, d_ in zip(t, d, strict=True)] + [
                    (-0.05 * W, 1.05 * H),
                    (-0.05 * W, -0.05 * H),
                ]
            water = Polygon(pts)
            if not water.is_valid:
                water = water.buffer(0)
        water = water.intersection(frame.buffer(0.05 * s))

    # bridge sites along the river
    bridge_sites = []
    if river_line is not None and needs.get("river", 0) > 0:
        inside = river_line.intersection(frame.buffer(-0.12 * s))
        lines = [
            g
            for g in getattr(inside, "geoms", [inside])
            if isinstance(g, LineString) and not g.is_empty
        ]
        lines.sort(key=lambda g: -g.length)
        if lines:
            line = lines[0]
            k = needs["river"]
            slots = np.sort(rng.uniform(0.08, 0.92, size=4 * k))
            chosen: list[float] = []
            for u in slots:
                if all(abs(u - v) * line.length > 0.22 * s for v in chosen):
                    chosen.append(float(u))
                if len(chosen) == k:
                    break
            for u in chosen:
                p = line.interpolate(u, normalized=True)
                q = line.interpolate(min(u + 0.01, 1.0), normalized=True)
                r_ = line.interpolate(max(u - 0.01, 0.0), normalized=True)
                tang = math.atan2(q.y - r_.y, q.x - r_.x)
                bridge_sites.append((p.x, p.y, math.degrees(tang) + 90.0))

    # airport apron
    apron = empty
    markings: list = []
    if needs.get("apron", 0) > 0:
        for _ in range(30):
            aw, ah = rng.uniform(0.5, 0.8) * W, rng.uniform(0.45, 0.75) * H
            x0, y0 = (
                rng.uniform(-0.05 * W, W - aw + 0.05 * W),
                rng.uniform(-0.05 * H, H - ah + 0.05 * H),
            )
            rect = box(x0, y0, x0 + aw, y0 + ah)
            cand = rect.difference(water.buffer(0.05 * s)).intersection(frame)
            if cand.area >= 0.3 * W * H and cand.area >= 0.9 * rect.intersection(frame).area:
                apron = cand
                break
        if not apron.is_empty:
            minx, miny, maxx, maxy = apron.bounds
            horizontal = (maxx - minx) >= (maxy - miny)
            lw = max(0.006 * s, 0.7)
            for _k in range(int(rng.integers(1, 3))):
                if horizontal:
                    y = miny + (maxy - miny) * rng.uniform(0.15, 0.85)
                    ln = _line([(minx, y), (maxx, y)], lw)
                else:
                    x = minx + (maxx - minx) * rng.uniform(0.15, 0.85)
                    ln = _line([(x, miny), (x, maxy)], lw)
                markings.append((ln.intersection(apron), (214, 184, 60, 200)))

    # urban blocks
    urban = empty
    buildings: list = []
    if rng.random() < 0.35:
        for _ in range(10):
            uw, uh = rng.uniform(0.25, 0.45) * W, rng.uniform(0.25, 0.45) * H
            x0, y0 = (
                rng.uniform(-0.1 * W, W - uw + 0.1 * W),
                rng.uniform(-0.1 * H, H - uh + 0.1 * H),
            )
            cand = box(x0, y0, x0 + uw, y0 + uh).difference(
                unary_union([water, apron]).buffer(0.03 * s)
            )
            cand = cand.intersection(frame)
            if cand.area >= 0.04 * W * H:
                urban = cand
                break
        if not urban.is_empty:
            minx, miny, maxx, maxy = urban.bounds
            block = rng.uniform(0.07, 0.1) * s
            street = max(0.012 * s, 1.5)
            sx, sy = shadow_vec
            y = miny + street
            cand_boxes, heights, roofs = [], [], []
            while y + block <= maxy:
                x = minx + street
                while x + block <= maxx:
                    nb = int(rng.integers(1, 4))
                    bw = block / nb
                    for k in range(nb):
                        u = rng.uniform(0.05, 0.2, size=4)
                        cand_boxes.append(
                            (
                                x + k * bw + u[0] * bw,
                                y + u[1] * block,
                                x + (k + 1) * bw - u[2] * bw,
                                y + block - u[3] * block,
                            )
                        )
                        heights.append(rng.uniform(0.1, 0.35) * block)
                        roofs.append(_jitter(_ROOFS[int(rng.integers(len(_ROOFS)))], rng, 10))
                    x += block + street
                y += block + street
            if cand_boxes:
                arr = np.asarray(cand_boxes)
                geoms = shapely.box(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3])
                shapely.prepare(urban)
                inside = shapely.contains(urban, geoms)
                for k in np.flatnonzero(inside):
                    b, hgt = geoms[k], heights[k]
                    shadow = shapely.box(*(arr[k] + [sx * hgt, sy * hgt, sx * hgt, sy * hgt]))
                    buildings.append((b, roofs[k], shadow))

    # roads (and the roads of the bridges)
    road_lines: list = []
    n_roads = int(rng.integers(2, 4)) if needs.get("road", 0) > 0 else int(rng.integers(0, 3))
    for _ in range(n_roads):
        for _try in range(10):
            a, b = rng.choice(4, size=2, replace=False)
            p0, p1 = _edge_point(rng, W, H, int(a)), _edge_point(rng, W, H, int(b))
            mid = (
                (p0[0] + p1[0]) / 2 + rng.normal(0, 0.06) * s,
                (p0[1] + p1[1]) / 2 + rng.normal(0, 0.06) * s,
            )
            line = LineString([p0, mid, p1])
            if line.length > 0.6 * s:
                road_lines.append(line)
                break
    for bx, by, ang in bridge_sites:
        L = 2 * math.hypot(W, H)
        c, s_ = math.cos(math.radians(ang)), math.sin(math.radians(ang))
        road_lines.append(
            LineString([(bx - c * L / 2, by - s_ * L / 2), (bx + c * L / 2, by + s_ * L / 2)])
        )
    road_width = rng.uniform(0.036, 0.05) * s
    roads = empty
    if road_lines:
        roads = unary_union(
            [ln.buffer(road_width / 2, cap_style="flat", quad_segs=4) for ln in road_lines]
        )
        roads = roads.difference(unary_union([water, apron])).intersection(frame)

    # vegetation patches (texture only; objects may stand on them)
    patches = [
        _blob(rng, rng.uniform(0, W), rng.uniform(0, H), rng.uniform(0.06, 0.2) * s, roughness=0.25)
        for _ in range(int(rng.integers(2, 7)))
    ]
    vegetation = unary_union(patches).intersection(frame) if patches else empty

    return _Layout(
        frame,
        water,
        water_kind,
        river_line,
        river_width,
        apron,
        urban,
        roads,
        road_lines,
        vegetation,
        bridge_sites,
        buildings,
        markings,
        road_width,
    )


# --------------------------------------------------------------------------- placement


def _placed_parts(parts, cx: float, cy: float, ang: float):
    """A function building a glyph's parts at their place (deterministic, no randomness)."""

    def build():
        return [(_place(g, cx, cy, ang), c) for g, c in parts()]

    return build


class _Placer:
    """Places objects without overlaps on the ground each class needs."""

    def __init__(self, rng, W, H, layout: _Layout, shadow_vec):
        self.rng, self.W, self.H, self.layout = rng, W, H, layout
        self.s = float(min(W, H))
        self.shadow_vec = shadow_vec
        self.footprints: list = []
        self.bounds = np.zeros((0, 4))
        self.objects: list[SceneObject] = []
        inner = box(1, 1, W - 1, H - 1)
        self.inner = inner
        blocked = unary_union([layout.water, layout.roads, layout.urban, layout.apron])
        self.land = (
            inner.difference(blocked.buffer(0.012 * self.s)) if not blocked.is_empty else inner
        )
        shapely.prepare(self.land)
        self.water_in = (
            layout.water.buffer(-0.012 * self.s) if not layout.water.is_empty else Polygon()
        )
        shapely.prepare(self.water_in)
        self.apron_in = (
            layout.apron.buffer(-0.01 * self.s) if not layout.apron.is_empty else Polygon()
        )
        shapely.prepare(self.apron_in)
        self.roads = layout.roads
        shapely.prepare(self.roads)
        self.river_in = None
        if layout.river_line is not None:
            inside = layout.river_line.intersection(inner)
            lines = [g for g in getattr(inside, "geoms", [inside]) if isinstance(g, LineString)]
            lines = [g for g in lines if not g.is_empty]
            if lines:
                self.river_in = max(lines, key=lambda g: g.length)
        self.used_bridge_sites: set[int] = set()
        self.common_heading = rng.uniform(0, 360) if rng.random() < 0.5 else None

    def _length(self, spec: ClassSpec) -> tuple[float, str]:
        lo, hi = spec.length_frac
        length = max((lo + self.rng.uniform(0, 1) * (hi - lo)) * self.s, spec.min_length_px)
        return length, self._label(spec, length)

    def _label(self, spec: ClassSpec, length: float) -> str:
        lo, hi = spec.length_frac
        u = (length / self.s - lo) / (hi - lo)
        return "small" if u < 1 / 3 else ("medium" if u < 2 / 3 else "large")

    def _pose(self, spec: ClassSpec, length: float):
        """A candidate (cx, cy, angle) on the class's ground, or None."""
        rng, W, H = self.rng, self.W, self.H
        if spec.ground == "road":
            if not self.layout.road_lines:
                return None
            line = self.layout.road_lines[int(rng.integers(len(self.layout.road_lines)))]
            u = rng.uniform(0, 1)
            p = line.interpolate(u, normalized=True)
            q = line.interpolate(min(u + 0.005, 1.0), normalized=True)
            r = line.interpolate(max(u - 0.005, 0.0), normalized=True)
            ang = math.atan2(q.y - r.y, q.x - r.x)
            lane = (1 if rng.random() < 0.5 else -1) * rng.uniform(0.18, 0.28) * 0.043 * self.s
            cx, cy = p.x - math.sin(ang) * lane, p.y + math.cos(ang) * lane
            heading = math.degrees(ang) + (180.0 if lane > 0 else 0.0)
            return cx, cy, heading
        if spec.ground == "water":
            if self.water_in.is_empty:
                return None
            if self.layout.water_kind == "river" and self.river_in is not None:
                line = self.river_in
                u = rng.uniform(0, 1)
                p = line.interpolate(u, normalized=True)
                q = line.interpolate(min(u + 0.003, 1.0), normalized=True)
                r = line.interpolate(max(u - 0.003, 0.0), normalized=True)
                ang = math.atan2(q.y - r.y, q.x - r.x)
                off = rng.uniform(-0.25, 0.25) * self.layout.river_width
                return (
                    p.x - math.sin(ang) * off,
                    p.y + math.cos(ang) * off,
                    math.degrees(ang) + 180.0 * (rng.random() < 0.5),
                )
            minx, miny, maxx, maxy = self.water_in.bounds
            return (
                rng.uniform(max(minx, 0), min(maxx, W)),
                rng.uniform(max(miny, 0), min(maxy, H)),
                rng.uniform(0, 360),
            )
        if spec.ground == "apron":
            if self.apron_in.is_empty:
                return None
            minx, miny, maxx, maxy = self.apron_in.bounds
            heading = (
                self.common_heading if self.common_heading is not None else rng.uniform(0, 360)
            )
            return rng.uniform(minx, maxx), rng.uniform(miny, maxy), heading + rng.normal(0, 4)
        if spec.ground == "river":
            free = [
                k for k in range(len(self.layout.bridge_sites)) if k not in self.used_bridge_sites
            ]
            if not free:
                return None
            k = free[0]
            self.used_bridge_sites.add(k)
            bx, by, ang = self.layout.bridge_sites[k]
            return bx, by, ang
        # land
        # a point whose surrounding square (half side 0.4 × length) has its corners on land
        margin = length * 0.4
        pts = rng.uniform((margin, margin), (W - margin, H - margin), size=(8, 2))
        x, y = pts[:, 0], pts[:, 1]
        ok = shapely.contains_xy(self.land, x, y)
        if len(self.bounds):  # not next to a placed object (coarse, by boxes)
            b = self.bounds
            r = 0.55 * length
            hit = (b[None, :, 0] <= x[:, None] + r) & (b[None, :, 2] >= x[:, None] - r)
            hit &= (b[None, :, 1] <= y[:, None] + r) & (b[None, :, 3] >= y[:, None] - r)
            ok &= ~hit.any(axis=1)
        for dx, dy in ((-1, -1), (-1, 1), (1, -1), (1, 1)):
            ok &= shapely.contains_xy(self.land, x + dx * margin, y + dy * margin)
        good = np.flatnonzero(ok)
        if good.size == 0:
            return None
        cx, cy = float(x[good[0]]), float(y[good[0]])
        if (
            spec.category in ("tenniscourt", "basketballcourt", "groundtrackfield")
            and rng.random() < 0.6
        ):
            ang = float(rng.choice([0.0, 90.0])) + rng.normal(0, 6)
        else:
            ang = rng.uniform(0, 360)
        return cx, cy, ang

    def _near_any(self, x1: float, y1: float, x2: float, y2: float) -> bool:
        b = self.bounds
        return bool(np.any((b[:, 0] <= x2) & (b[:, 2] >= x1) & (b[:, 1] <= y2) & (b[:, 3] >= y1)))

    def _overlaps(self, footprint, margin: float) -> bool:
        """Whether ``footprint`` comes within ``margin`` pixels of a placed footprint."""
        if not self.footprints:
            return False
        x1, y1, x2, y2 = footprint.bounds
        b = self.bounds
        near = (b[:, 0] <= x2 + margin) & (b[:, 2] >= x1 - margin)
        near &= (b[:, 1] <= y2 + margin) & (b[:, 3] >= y1 - margin)
        if not near.any():
            return False
        candidates = np.asarray(self.footprints, dtype=object)[near]
        return bool(np.any(shapely.dwithin(candidates, footprint, margin)))

    def place(
        self, category: str, tries: int = 40, length: float | None = None, color: str | None = None
    ) -> bool:
        """Place one object of ``category`` (with a planned ``length``/``color`` if given);
        False when no pose on its ground was free after ``tries``."""
        spec = CLASS_SPECS[category]
        rng = self.rng
        margin = 0.008 * self.s
        planned_length = length
        for _ in range(tries):
            if planned_length is None:
                length, label = self._length(spec)
            else:
                length, label = planned_length, self._label(spec, planned_length)
            if spec.ground == "river":
                length = max(self.layout.river_width + 0.06 * self.s, spec.min_length_px)
                label = "medium"
            pose = self._pose(spec, length)
            if pose is None:
                if spec.ground == "river":
                    return False
                continue
            cx, cy, ang = pose
            r = 0.55 * length
            if spec.ground != "river" and self._near_any(cx - r, cy - r, cx + r, cy + r):
                continue  # coarse test before building the glyph
            color_now = color if color is not None else _pick_color(spec, rng)
            glyph = _glyph(category, length, color_now, rng)
            body = _place(glyph.body, cx, cy, ang)
            x1, y1, x2, y2 = body.bounds
            if x1 < 0.5 or y1 < 0.5 or x2 > self.W - 0.5 or y2 > self.H - 0.5:
                continue
            sx, sy = self.shadow_vec
            if category == "chimney":
                base = (-length / 2, 0)
                shadow = [
                    (_chimney_shadow(length, self.shadow_vec, cx, cy, ang, base), (0, 0, 0, 120))
                ]
            elif category == "windmill":
                shadow = _windmill_shadow(length / 2, self.shadow_vec, cx, cy, body)
            else:
                shadow = [(_place(g, cx + sx * k, cy + sy * k, ang), c) for g, c, k in glyph.shadow]
            if category == "bridge":
                shadow = [(g.intersection(self.layout.water), c) for g, c in shadow]
            decor = [(_place(g, cx, cy, ang), c) for g, c in glyph.decor]
            pieces = [body] + [g for g, _ in shadow] + [g for g, _ in decor]
            hull = shapely.convex_hull(shapely.GeometryCollection(pieces))
            footprint = hull
            if self._overlaps(footprint, margin):
                if spec.ground == "river":
                    return False
                continue
            if spec.ground == "water":
                wet = shapely.convex_hull(
                    shapely.GeometryCollection([body] + [g for g, _ in decor])
                )
                if not self.water_in.contains(wet):
                    continue
            elif spec.ground == "road":
                if not self.roads.contains(body):
                    continue
            elif spec.ground == "apron":
                if not self.apron_in.contains(hull):
                    continue
            elif spec.ground == "land":
                if not self.land.contains(hull):
                    continue
            parts_fn = _placed_parts(glyph.parts, cx, cy, ang)
            self.footprints.append(footprint)
            self.bounds = np.vstack([self.bounds, np.asarray(footprint.bounds)[None, :]])
            self.objects.append(
                SceneObject(
                    category=category,
                    bbox=tuple(round(float(v), 2) for v in (x1, y1, x2, y2)),
                    color=color_now,
                    size=label,
                    area_px=round(float(body.area), 2),
                    angle_deg=round(float(ang % 360.0), 2),
                    ground=spec.ground,
                    parts_fn=parts_fn,
                    shadow=shadow,
                    decor=decor,
                    footprint=footprint,
                )
            )
            return True
        return False


def _contrast_plan(rng, spec: ClassSpec, n: int, contrast: str, W: int, H: int):
    """Lengths and colours of ``n`` instances with one odd instance (first in the lists).

    ``size``: the others share a reference length ±8 %, the odd one is 1.45–1.6× longer or
    shorter (area ratio ≥ ~1.7, above the resolver's 1.6). ``color``: the odd one has a
    colour that no other instance has. Our design."""
    s = float(min(W, H))
    lo, hi = spec.length_frac
    if contrast == "size":
        larger = rng.random() < 0.5
        u = rng.uniform(0.0, 0.45) if larger else rng.uniform(0.55, 1.0)
        ref = (lo + u * (hi - lo)) * s
        factor = 1.45 * rng.uniform(1.0, 1.1)
        odd = ref * factor if larger else ref / factor
        lengths = [odd] + [ref * rng.uniform(0.92, 1.08) for _ in range(n - 1)]
        lengths = [max(x, spec.min_length_px) for x in lengths]
        return lengths, [None] * n
    names = [c for c, _ in spec.colors]
    odd = names[int(rng.integers(len(names)))]
    rest = [c for c in names if c != odd] or names
    return [None] * n, [odd] + [rest[int(rng.integers(len(rest)))] for _ in range(n - 1)]


def _check_classes(classes) -> tuple[str, ...]:
    if classes is None:
        return CATEGORIES
    if isinstance(classes, str):
        classes = [classes]
    out = tuple(dict.fromkeys(classes))
    unknown = [c for c in out if c not in CLASS_SPECS]
    if unknown or not out:
        raise ValueError(
            f"classes: unknown or empty {unknown or list(out)}; expected a subset of {CATEGORIES}"
        )
    return out


class PlacementError(RuntimeError):
    """The scene could not hold the requested number of target instances. Book chapter: "Data"."""


def make_scene(
    rng: np.random.Generator,
    image_size=SMOKE_IMAGE_SIZE,
    *,
    target_category: str | None = None,
    n_target: int | None = None,
    classes: Sequence[str] | None = None,
    min_instances: int = 2,
    max_instances: int = 5,
    n_distractor_classes: tuple[int, int] = (1, 3),
    single_instance: bool = False,
    contrast: str | None = None,
    max_attempts: int = 12,
) -> Scene:
    """Draw one scene's geometry: land cover and objects, nothing rendered yet.

    The target class (``target_category``, else drawn from ``classes``) gets ``n_target``
    instances (else drawn in [``min_instances``, ``max_instances``], capped by the class's
    ``max_per_scene``); 1–3 other classes (``n_distractor_classes``) get 1–3 instances each
    (1 with ``single_instance=True``, which also forces one target instance). Land cover is
    chosen to hold what the classes need (water for ships, a river for bridges, roads for
    vehicles, an apron for airplanes). Distractor instances that cannot be placed are dropped
    (counted in ``Scene.dropped``); if the target class cannot reach its count the whole
    layout is redrawn, up to ``max_attempts`` times (then :class:`PlacementError`).
    ``contrast="size"`` makes one target instance clearly larger or smaller than the others
    (length × 1.45–1.6), ``contrast="color"`` gives one target instance a colour no other
    instance has — so that size and colour cues are possible (see :func:`_contrast_plan`).
    Book chapter: "Data"; the paper's synthetic position-aware data, the scene model is our
    design.
    """
    W, H = _image_wh(image_size)
    classes = _check_classes(classes)
    if contrast not in (None, "size", "color"):
        raise ValueError(f"contrast: expected None, 'size' or 'color'; got {contrast!r}")
    if target_category is None:
        target_category = classes[int(rng.integers(len(classes)))]
    if target_category not in CLASS_SPECS:
        raise ValueError(f"target_category: expected one of {CATEGORIES}; got {target_category!r}")
    if min_instances < 1 or max_instances < min_instances:
        raise ValueError(
            f"expected 1 <= min_instances <= max_instances; got {min_instances}, {max_instances}"
        )
    spec = CLASS_SPECS[target_category]
    if single_instance:
        n_target = 1
    if n_target is None:
        hi = min(max_instances, spec.max_per_scene)
        lo = min(min_instances, hi)
        n_target = int(rng.integers(lo, hi + 1))
    if not 1 <= n_target <= spec.max_per_scene:
        raise ValueError(
            f"n_target: expected 1..{spec.max_per_scene} for {target_category}; got {n_target}"
        )
    others = [c for c in classes if c != target_category]
    lo_d, hi_d = n_distractor_classes
    k = min(len(others), int(rng.integers(lo_d, hi_d + 1))) if others else 0
    distractors = [others[i] for i in rng.choice(len(others), size=k, replace=False)] if k else []
    counts = {target_category: n_target}
    for c in distractors:
        counts[c] = (
            1 if single_instance else int(rng.integers(1, min(3, CLASS_SPECS[c].max_per_scene) + 1))
        )
    needs: dict[str, int] = {}
    for c, n in counts.items():
        g = CLASS_SPECS[c].ground
        needs[g] = needs.get(g, 0) + n
    for _attempt in range(max_attempts):
        shadow_deg = rng.uniform(0, 360)
        sv = (math.cos(math.radians(shadow_deg)), math.sin(math.radians(shadow_deg)))
        layout = _layout(rng, W, H, needs, sv)
        placer = _Placer(rng, W, H, layout, sv)
        order = sorted(counts, key=lambda c: -CLASS_SPECS[c].length_frac[1])
        ok = True
        dropped = 0
        for c in order:
            if c == target_category and contrast is not None and counts[c] >= 2:
                lengths, colors = _contrast_plan(rng, CLASS_SPECS[c], counts[c], contrast, W, H)
                placed = sum(
                    placer.place(c, length=ln, color=co)
                    for ln, co in zip(lengths, colors, strict=True)
                )
            else:
                placed = sum(placer.place(c) for _ in range(counts[c]))
            if c == target_category and placed < counts[c]:
                ok = False
                break
            dropped += counts[c] - placed
        if not ok:
            continue
        return Scene(
            width=W,
            height=H,
            objects=placer.objects,
            landcover={
                "water": layout.water,
                "vegetation": layout.vegetation,
                "urban": layout.urban,
                "apron": layout.apron,
                "roads": layout.roads,
            },
            buildings=layout.buildings,
            markings=layout.markings,
            shadow_deg=float(shadow_deg),
            render_seed=int(rng.integers(2**31)),
            water_kind=layout.water_kind,
            target_category=target_category,
            dropped=dropped,
            road_lines=layout.road_lines,
            road_width_px=layout.road_width,
        )
    raise PlacementError(
        f"could not place {n_target} x {target_category} in a {W}x{H} scene after "
        f"{max_attempts} layouts; lower the instance count or enlarge the image"
    )


# --------------------------------------------------------------------------- rendering


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
    polys = _polygons(geom)
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
    for p in _polygons(geom):
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
    gives the same pixels. Book chapter: "Data"; our design.
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
            img = Image.composite(_modulate(_solid(_shade(color, 1.1), W, H), mid), img, m)
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
            _rgba(C["shoulder"]),
            ss,
        )
        _draw(draw, roads, _rgba(C["asphalt"]), ss)
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
    for geom, rgba in scene.markings:
        _draw(draw, geom, rgba, ss)
    for _b, _roof, shadow in scene.buildings:
        _draw(draw, shadow, (0, 0, 0, 90), ss)
    for b, roof, _shadow in scene.buildings:
        _draw(draw, b, _rgba(roof), ss)
        _draw(draw, b.buffer(-max(0.004 * s, 0.4)), _rgba(_shade(roof, 1.06)), ss)
    for obj in scene.objects:
        for geom, rgba in obj.decor:
            _draw(draw, geom, rgba, ss)
    for obj in scene.objects:
        for geom, rgba in obj.shadow:
            _draw(draw, geom, rgba, ss)
    for obj in scene.objects:
        for geom, rgba in obj.parts:
            _draw(draw, geom, rgba, ss)
    out = canvas.reduce(ss) if ss > 1 else canvas
    noise = np.rint(rng.standard_normal((H, W), dtype=np.float32) * 2.0).astype(np.int16)
    arr = np.asarray(out, dtype=np.int16) + noise[..., None]
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), mode="RGB")


def png_bytes(image: Image.Image) -> bytes:
    """The image as PNG bytes (deterministic for a given Pillow). Book chapter: "Data"."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


# --------------------------------------------------------------------------- records


@dataclass
class GenerationStats:
    """Counts of the generator, summed over records (JSON-able via :meth:`as_dict`):
    the cue intended per record and kept per record, sentences tried and rejected per cue,
    scene layouts redrawn, records whose cue fell back to ``none``, distractors dropped.
    Book chapter: "Data"."""

    intended: dict = field(default_factory=lambda: dict.fromkeys(ex.CUES, 0))
    kept: dict = field(default_factory=lambda: dict.fromkeys(ex.CUES, 0))
    tried: dict = field(default_factory=lambda: dict.fromkeys(ex.CUES, 0))
    rejected: dict = field(default_factory=lambda: dict.fromkeys(ex.CUES, 0))
    scenes: int = 0
    scenes_without_expression: int = 0
    placement_failures: int = 0
    fallbacks: int = 0
    dropped_objects: int = 0

    def add(self, other: GenerationStats) -> None:
        """Accumulate another stats object into this one. Book chapter: "Data"."""
        for name in ("intended", "kept", "tried", "rejected"):
            mine, theirs = getattr(self, name), getattr(other, name)
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0) + v
        for name in (
            "scenes",
            "scenes_without_expression",
            "placement_failures",
            "fallbacks",
            "dropped_objects",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict:
        """Plain dict, with the per-cue rejection rate (rejected / tried). Book chapter: "Data"."""
        out = {
            "intended": dict(self.intended),
            "kept": dict(self.kept),
            "tried": dict(self.tried),
            "rejected": dict(self.rejected),
            "rejection_rate": {
                k: (self.rejected[k] / self.tried[k] if self.tried.get(k) else 0.0) for k in ex.CUES
            },
            "scenes": self.scenes,
            "scenes_without_expression": self.scenes_without_expression,
            "placement_failures": self.placement_failures,
            "fallbacks": self.fallbacks,
            "dropped_objects": self.dropped_objects,
        }
        return out


_NEEDS_SEVERAL = ("ordinal", "extreme", "size")


def _eligible_targets(cue: str, classes: Sequence[str], single_instance: bool, max_instances: int):
    out = []
    for c in classes:
        spec = CLASS_SPECS[c]
        if cue == "color" and len(spec.colors) < 2 and not single_instance:
            continue
        if cue in _NEEDS_SEVERAL and (min(max_instances, spec.max_per_scene) < 2):
            continue
        out.append(c)
    return out


def make_example(
    seed: int,
    index: int,
    *,
    image_size=SMOKE_IMAGE_SIZE,
    cue_mix: Mapping[str, float] | None = None,
    classes: Sequence[str] | None = None,
    min_instances: int = 2,
    max_instances: int = 5,
    single_instance: bool = False,
    split: str = "train",
    render: bool = True,
    max_scenes: int = 12,
    rules: ex.GeometryRules = ex.DEFAULT_RULES,
) -> tuple[dict, GenerationStats, Scene]:
    """One synthetic record, drawn from ``SeedSequence([seed, index])`` alone.

    Samples the intended cue from ``cue_mix``, a target class that can carry it, a scene
    (:func:`make_scene`) and an expression for one of the target instances
    (:func:`expressions.generate_expression`, verified by the resolver). A scene where no
    instance can be described with that cue is replaced by a new one (up to ``max_scenes``);
    after that the record falls back to the ``none`` cue with a single-instance scene
    (counted in ``fallbacks``). With ``render=False`` the ``image`` field is ``None``
    (geometry and text only, for fast tests). Returns ``(record, stats, scene)``.
    Book chapter: "Data"; the paper's position-aware synthetic data, our design.
    """
    from rsground_lib.data.cues import tag_cues

    for name, v in (("seed", seed), ("index", index)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
            raise ValueError(f"{name}: expected a non-negative integer; got {v!r}")
    W, H = _image_wh(image_size)
    classes = _check_classes(classes)
    mix = ex.check_cue_mix(
        cue_mix if cue_mix is not None else ({"none": 1.0} if single_instance else None)
    )
    if single_instance:
        bad = [c for c in mix if c in _NEEDS_SEVERAL]
        if bad:
            raise ValueError(
                f"cue_mix: {bad} need several instances of a class; single_instance=True "
                "allows only 'none', 'absolute', 'relative' and 'color'"
            )
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(index)]))
    cues = list(mix)
    cue = cues[int(rng.choice(len(cues), p=np.array([mix[c] for c in cues])))]
    stats = GenerationStats()
    stats.intended[cue] += 1
    chosen = None
    attempt_cue = cue
    for attempt in range(max_scenes + 1):
        if attempt == max_scenes:
            attempt_cue = "none"
            stats.fallbacks += 1
        eligible = _eligible_targets(attempt_cue, classes, single_instance, max_instances)
        if not eligible:
            attempt_cue = "none"
            stats.fallbacks += 1
            eligible = list(classes)
        target_category = eligible[int(rng.integers(len(eligible)))]
        n_target = 1 if (attempt_cue == "none" or single_instance) else None
        try:
            scene = make_scene(
                rng,
                (W, H),
                target_category=target_category,
                n_target=n_target,
                classes=classes,
                min_instances=min_instances,
                max_instances=max_instances,
                single_instance=single_instance,
                contrast=attempt_cue if attempt_cue in ("size", "color") else None,
            )
        except PlacementError:
            stats.placement_failures += 1
            continue
        stats.scenes += 1
        stats.dropped_objects += scene.dropped
        objects = scene.object_records()
        targets = [i for i, o in enumerate(objects) if o["category"] == target_category]
        for t in (targets[k] for k in rng.permutation(len(targets))):
            g = ex.generate_expression(objects, t, attempt_cue, (W, H), rng, rules=rules)
            stats.tried[attempt_cue] += g.tried
            stats.rejected[attempt_cue] += g.rejected
            if g.expression is not None:
                chosen = (scene, objects, t, g)
                break
        if chosen is not None:
            break
        stats.scenes_without_expression += 1
    if chosen is None:
        raise RuntimeError(
            f"synthetic record (seed {seed}, index {index}): no expression after {max_scenes + 1} "
            "scenes, fallback included; check classes / instance counts"
        )
    scene, objects, t, g = chosen
    stats.kept[attempt_cue] += 1
    image = None
    if render:
        image = {"bytes": png_bytes(render_scene(scene)), "path": None}
    record = {
        "id": f"synthetic/{split}/{int(seed)}-{int(index)}",
        "dataset": "synthetic",
        "split": split,
        "image": image,
        "width": W,
        "height": H,
        "expression": g.expression,
        "bbox": [float(v) for v in objects[t]["bbox"]],
        "category": objects[t]["category"],
        "cues": tag_cues(g.expression),
        "objects": objects,
        "cue_type": attempt_cue,
        "target_index": int(t),
        "resolver_steps": json.dumps(g.resolution.steps, separators=(",", ":")),
    }
    return record, stats, scene


def make_records(
    n: int,
    *,
    seed: int,
    start: int = 0,
    **kwargs,
) -> tuple[list[dict], GenerationStats]:
    """Records for indices ``start … start + n − 1`` of seed ``seed`` (see
    :func:`make_example` for the keyword arguments) and the summed generation statistics.
    Book chapter: "Data"."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise ValueError(f"n: expected a non-negative integer; got {n!r}")
    if not isinstance(start, (int, np.integer)) or start < 0:
        raise ValueError(f"start: expected a non-negative integer; got {start!r}")
    total = GenerationStats()
    records = []
    for index in range(int(start), int(start) + int(n)):
        rec, stats, _ = make_example(seed, index, **kwargs)
        records.append(rec)
        total.add(stats)
    return records, total


EXTRA_COLUMNS = ("cue_type", "target_index", "resolver_steps")
"""Columns of the synthetic record beyond the common record and ``objects``."""


def make_dataset(
    n: int,
    *,
    seed: int,
    image_size=SMOKE_IMAGE_SIZE,
    cue_mix: Mapping[str, float] | None = None,
    min_instances: int = 2,
    max_instances: int = 5,
    classes: Sequence[str] | None = None,
    single_instance: bool = False,
    split: str = "train",
    start: int = 0,
    rules: ex.GeometryRules = ex.DEFAULT_RULES,
):
    """The synthetic RSVG reasoning dataset: ``n`` rendered scenes with one verified
    referring expression each, as a ``datasets.Dataset`` with the common record's columns.

    Columns: ``id`` (``synthetic/{split}/{seed}-{index}``), ``dataset`` (``"synthetic"``),
    ``split``, ``image`` (``datasets.Image``, PNG bytes), ``width``, ``height``,
    ``expression``, ``bbox`` (target, original pixels, continuous), ``category`` (DIOR-RSVG
    class name), ``cues`` (:func:`rsground_lib.data.cues.tag_cues` of the expression),
    ``objects`` (every object: category, bbox, color, size, area_px, angle_deg, ground),
    ``cue_type`` (the cue the generator intended), ``target_index`` (the target's position in
    ``objects``) and ``resolver_steps`` (JSON of the resolver's trace, for the CoT module).
    Record ``i`` is drawn from ``SeedSequence([seed, start + i])`` alone: the same
    (seed, index) gives the same bytes whatever ``n``. The generation statistics
    (:class:`GenerationStats`) are in ``dataset.info.description`` as JSON.
    ``single_instance=True`` puts one instance per class (default cue ``none``).
    Book chapter: "Data"; the paper's "synthetic RSVG reasoning data that establishes
    explicit position awareness" (stage 1), our design of the generator.
    """
    import datasets

    from rsground_lib.data.schema import records_to_dataset

    records, stats = make_records(
        n,
        seed=seed,
        start=start,
        image_size=image_size,
        cue_mix=cue_mix,
        classes=classes,
        min_instances=min_instances,
        max_instances=max_instances,
        single_instance=single_instance,
        split=split,
        render=True,
        rules=rules,
    )
    dataset = records_to_dataset(
        records,
        image="image",
        objects_feature=objects_feature(),
        extra_features={
            "cue_type": datasets.Value("string"),
            "target_index": datasets.Value("int32"),
            "resolver_steps": datasets.Value("string"),
        },
    )
    # (set here rather than through records_to_dataset's info_description, which builds a
    # DatasetInfo without features that datasets rejects)
    dataset.info.description = json.dumps(
        {"generator": "rsground_lib.data.synthetic", "stats": stats.as_dict()}
    )
    return dataset
