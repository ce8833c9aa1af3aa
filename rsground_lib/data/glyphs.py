"""Glyphs of the synthetic scene's objects: per class, the shape, colours and shadow an
object is drawn with.

A glyph is in local coordinates (centred on the origin, long side along x); placement
(:mod:`rsground_lib.data.placement`) rotates and moves it. :data:`GLYPH_BUILDERS` maps each
class of :data:`~rsground_lib.data.scene_model.CLASS_SPECS` to its builder, and
:func:`make_glyph` draws one glyph. Only the outline, shadow and decor are built at once; the
detailed parts are built by ``glyph.parts()`` once the object has found its place (placement
tries many poses). Chimneys and windmills cast long shadows from their height, cast once
placed (:func:`chimney_shadow`, :func:`windmill_shadow`). The looks are our design.

Book chapter: "Data".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from shapely.affinity import affine_transform
from shapely.geometry import LineString, Point, Polygon
from shapely.ops import unary_union

from rsground_lib.data.scene_model import CATEGORIES, PALETTE
from rsground_lib.data.shapes import ellipse, jitter, placed, rect, rgba, shade, stadium, thick_line


@dataclass
class Glyph:
    """The local geometry of one object: ``body`` (its outline; bbox and area come from it),
    ``parts`` (``() -> [(geometry, rgba)]`` in drawing order, built only once placed),
    ``shadow`` (``[(geometry, rgba, offset px along the sun)]``) and ``decor`` (ground marks:
    a ship's wake)."""

    body: object
    parts: object
    shadow: list = field(default_factory=list)
    decor: list = field(default_factory=list)


_WHITE_LINE = (236, 238, 234, 255)
_DARK = (0, 0, 0, 110)

GlyphBuilder = Callable[[float, str, tuple, np.random.Generator], Glyph]
"""``(length px, colour name, base RGB, rng) -> Glyph``; ``base`` is the colour's
:data:`~rsground_lib.data.scene_model.PALETTE` entry already jittered by :func:`make_glyph`."""

# --------------------------------------------------------------------------- builders


def _storagetank(length: float, color: str, base, rng: np.random.Generator) -> Glyph:
    """A round tank seen from above: rim, roof, a lighter central disc and a highlight."""
    r = length / 2
    body = Point(0, 0).buffer(r, quad_segs=16)

    def parts():
        return [
            (body, rgba(shade(base, 0.82))),
            (Point(0, 0).buffer(r * 0.9, quad_segs=16), rgba(base)),
            (Point(0, 0).buffer(r * 0.55, quad_segs=12), rgba(shade(base, 0.95))),
            (Point(0, 0).buffer(r * 0.5, quad_segs=12), rgba(shade(base, 1.04))),
            (
                Point(-r * 0.25, -r * 0.25).buffer(r * 0.12, quad_segs=6),
                rgba(shade(base, 1.1)),
            ),
        ]

    return Glyph(body, parts, [(body, _DARK, r * 0.45)])


def _vehicle(length: float, color: str, base, rng: np.random.Generator) -> Glyph:
    """A car from above: body, windscreen, rear window and roof."""
    w = length * rng.uniform(0.42, 0.5)
    body = rect(length, w)

    def parts():
        return [
            (body, rgba(base)),
            (rect(length * 0.16, w * 0.8, length * 0.2), rgba((40, 46, 58))),
            (rect(length * 0.1, w * 0.76, -length * 0.3), rgba((58, 64, 74))),
            (rect(length * 0.28, w * 0.7, -length * 0.04), rgba(shade(base, 1.08))),
        ]

    return Glyph(body, parts, [(body, _DARK, w * 0.25)])


def _ship(length: float, color: str, base, rng: np.random.Generator) -> Glyph:
    """A hull with a pointed bow, deck and cabin, and a faint wake astern."""
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
            (hull, rgba(shade(base, 0.8))),
            (deck, rgba(base)),
            (rect(length * 0.18, w * 0.6, -h * 0.6), rgba(cabin)),
            (rect(length * 0.05, w * 0.5, -h * 0.42), rgba(shade(cabin, 0.85))),
        ]

    wake = Polygon(
        [
            (-h, -w * 0.3),
            (-h - length * 0.7, -w * 0.9),
            (-h - length * 0.7, w * 0.9),
            (-h, w * 0.3),
        ]
    )
    return Glyph(hull, parts, [(hull, _DARK, w * 0.18)], [(wake, (225, 235, 235, 38))])


def _airplane(length: float, color: str, base, rng: np.random.Generator) -> Glyph:
    """Fuselage, swept wings and tailplane, two engines and the cockpit."""
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
    body = unary_union([ellipse(h, fus_w / 2), wing, tail])

    def parts():
        eng = rgba(shade(base, 0.6))
        x_eng = h * 0.08 - sweep * 0.5
        return [
            (body, rgba(base)),
            (ellipse(L * 0.05, L * 0.025, x_eng, -span * 0.22), eng),
            (ellipse(L * 0.05, L * 0.025, x_eng, span * 0.22), eng),
            (ellipse(L * 0.06, fus_w * 0.3, h * 0.82), rgba(shade(base, 0.75))),
        ]

    return Glyph(body, parts, [(body, _DARK, L * 0.08)])


def _court(length: float, color: str, rng: np.random.Generator, width_frac: float):
    """Width, outline, surface colour and line width shared by the two courts."""
    w = length * width_frac
    body = rect(length, w)
    surface = jitter(PALETTE[color], rng, 6)
    lw = max(length * 0.018, 0.6)
    return w, body, surface, lw


def _tenniscourt(length: float, color: str, base, rng: np.random.Generator) -> Glyph:
    """A tennis court: surround, lined playing area, service lines and the net."""
    w, body, surface, lw = _court(length, color, rng, 0.5)

    def parts():
        white = _WHITE_LINE
        pl, pw = length * 0.68, w * 0.62
        return [
            (body, rgba(shade(surface, 0.78))),
            (rect(pl + lw, pw + lw), white),
            (rect(pl - lw, pw - lw), rgba(surface)),
            (rect(pl, lw * 0.8, 0, pw * 0.37), white),
            (rect(pl, lw * 0.8, 0, -pw * 0.37), white),
            (rect(lw * 0.8, pw * 0.74, pl * 0.27), white),
            (rect(lw * 0.8, pw * 0.74, -pl * 0.27), white),
            (rect(pl * 0.54, lw * 0.8), white),
            (rect(lw * 1.4, pw + lw * 3), rgba((40, 40, 40))),
        ]

    return Glyph(body, parts)


def _basketballcourt(length: float, color: str, base, rng: np.random.Generator) -> Glyph:
    """A basketball court: lined playing area, centre circle and the two keys."""
    w, body, surface, lw = _court(length, color, rng, 0.56)

    def parts():
        white = _WHITE_LINE
        pl, pw = length * 0.86, w * 0.82
        key = rgba(shade(surface, 0.85))
        kl, kw = pl * 0.22, pw * 0.34
        return [
            (body, rgba(shade(surface, 0.85))),
            (rect(pl + lw, pw + lw), white),
            (rect(pl - lw, pw - lw), rgba(surface)),
            (rect(lw, pw), white),
            (Point(0, 0).buffer(pw * 0.2, quad_segs=10), white),
            (Point(0, 0).buffer(pw * 0.2 - lw, quad_segs=10), rgba(surface)),
            (rect(kl, kw, -pl * 0.39), white),
            (rect(kl - 2 * lw, kw - 2 * lw, -pl * 0.39 - lw), key),
            (rect(kl, kw, pl * 0.39), white),
            (rect(kl - 2 * lw, kw - 2 * lw, pl * 0.39 + lw), key),
        ]

    return Glyph(body, parts)


def _baseballfield(length: float, color: str, base, rng: np.random.Generator) -> Glyph:
    """A quarter-circle field: outfield grass, infield dirt, the diamond and foul lines."""
    R = length / math.sqrt(2)
    angles = np.linspace(-math.pi / 4, math.pi / 4, 24)
    home = (-R * 0.5, 0.0)

    def sector(radius: float):
        pts = [home] + [(home[0] + radius * math.cos(a), radius * math.sin(a)) for a in angles]
        return Polygon(pts)

    grass = jitter((74, 138, 62), rng, 8)
    dirt = jitter(PALETTE["brown"], rng, 8)
    body = sector(R)

    def parts():
        d = R * 0.24
        c45 = math.cos(math.pi / 4)
        diamond = affine_transform(rect(d, d), [c45, -c45, c45, c45, home[0] + d * 0.75, 0])
        lw = max(R * 0.012, 0.6)
        tip = (R * math.cos(math.pi / 4), R * math.sin(math.pi / 4))
        return [
            (body, rgba(grass)),
            (sector(R * 0.93), rgba(shade(grass, 1.07))),
            (sector(R * 0.5), rgba(dirt)),
            (diamond, rgba(shade(grass, 0.95))),
            (Point(home).buffer(R * 0.07, quad_segs=8), rgba(dirt)),
            (thick_line([home, (home[0] + tip[0], -tip[1])], lw), _WHITE_LINE),
            (thick_line([home, (home[0] + tip[0], tip[1])], lw), _WHITE_LINE),
        ]

    return Glyph(body, parts)


def _bridge(length: float, color: str, base, rng: np.random.Generator) -> Glyph:
    """A deck across the river: darker edges, the roadway and a light centre line."""
    w = length * rng.uniform(0.16, 0.24)
    body = rect(length, w)

    def parts():
        return [
            (body, rgba(shade(base, 0.75))),
            (rect(length, w * 0.78), rgba(base)),
            (rect(length, max(w * 0.05, 0.5)), rgba(shade(base, 1.1))),
        ]

    return Glyph(body, parts, [(body, _DARK, w * 0.6)])


def _chimney(length: float, color: str, base, rng: np.random.Generator) -> Glyph:
    """A tall stack seen obliquely (tapered), red-white bands or a dark band, its mouth."""
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
        out = [(body, rgba(base))]
        if color == "red":
            for k in (0.1, 0.35):
                out.append((rect(length * 0.1, d * 0.8, length * k), _WHITE_LINE))
        else:
            out.append((rect(length * 0.12, d * 0.72, length * 0.3), rgba(shade(base, 0.8))))
        out.append((Point(length / 2, 0).buffer(d * 0.35, quad_segs=8), rgba(shade(base, 0.9))))
        out.append((Point(length / 2, 0).buffer(d * 0.2, quad_segs=8), rgba((28, 28, 30))))
        return out

    return Glyph(body, parts)


def _windmill(length: float, color: str, base, rng: np.random.Generator) -> Glyph:
    """Three blades on a hub at a random rotor angle, and the nacelle."""
    R = length / 2
    theta0 = rng.uniform(0, 2 * math.pi)
    blade = Polygon([(0, -R * 0.05), (R, -R * 0.012), (R, R * 0.012), (0, R * 0.06)])
    blades = [placed(blade, 0, 0, math.degrees(theta0 + k * 2 * math.pi / 3)) for k in range(3)]
    hub = Point(0, 0).buffer(R * 0.09, quad_segs=8)
    body = unary_union([*blades, hub])

    def parts():
        return [
            (body, rgba(base)),
            (rect(R * 0.3, R * 0.12), rgba(shade(base, 0.85))),
            (hub, rgba(shade(base, 0.95))),
        ]

    return Glyph(body, parts)


def _groundtrackfield(length: float, color: str, base, rng: np.random.Generator) -> Glyph:
    """A stadium-shaped running track with lanes around a grass pitch with its lines."""
    w = length * rng.uniform(0.5, 0.6)
    track = jitter(PALETTE[color], rng, 8)
    grass = jitter((70, 132, 64), rng, 6)
    body = stadium(length, w)

    def parts():
        white = _WHITE_LINE
        tw = w * 0.16
        out = [(body, rgba(track))]
        for k in range(1, 4):
            inset = tw * k / 4
            out.append((stadium(length - 2 * inset + 0.6, w - 2 * inset + 0.6), white))
            out.append((stadium(length - 2 * inset - 0.6, w - 2 * inset - 0.6), rgba(track)))
        inner_l, inner_w = length - 2 * tw, w - 2 * tw
        out.append((stadium(inner_l, inner_w), rgba(grass)))
        fl, fw = (inner_l - inner_w) * 0.95 + inner_w * 0.3, inner_w * 0.7
        lw = max(length * 0.006, 0.5)
        out += [
            (rect(fl + lw, fw + lw), white),
            (rect(fl - lw, fw - lw), rgba(shade(grass, 1.06))),
            (rect(lw, fw), white),
        ]
        return out

    return Glyph(body, parts)


GLYPH_BUILDERS: dict[str, GlyphBuilder] = {
    "storagetank": _storagetank,
    "vehicle": _vehicle,
    "ship": _ship,
    "airplane": _airplane,
    "tenniscourt": _tenniscourt,
    "basketballcourt": _basketballcourt,
    "baseballfield": _baseballfield,
    "bridge": _bridge,
    "chimney": _chimney,
    "windmill": _windmill,
    "groundtrackfield": _groundtrackfield,
}
"""Class name → its glyph builder (one per class of ``CLASS_SPECS``)."""


def make_glyph(category: str, length: float, color: str, rng: np.random.Generator) -> Glyph:
    """The local geometry (centred on the origin, long side along x) of one object of
    ``category``, ``length`` pixels long, in colour ``color`` (a :data:`PALETTE` name).

    Only the outline, shadow and decor are built here; the detailed parts are built by
    ``glyph.parts()`` once the object has found its place (placement tries many poses)."""
    base = jitter(PALETTE[color], rng, 8)
    builder = GLYPH_BUILDERS.get(category)
    if builder is None:
        raise ValueError(f"unknown category {category!r}; expected one of {CATEGORIES}")
    return builder(length, color, base, rng)


# --------------------------------------------------------------------------- long shadows


def chimney_shadow(length: float, shadow_vec, cx: float, cy: float, angle_deg: float, base_local):
    """The long ground shadow of a chimney placed at (cx, cy, ``angle_deg``), cast from its
    base (``base_local``, local coordinates) along the sun direction ``shadow_vec``."""
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


def windmill_shadow(R: float, shadow_vec, cx: float, cy: float, blades_geom):
    """The ground shadows of a windmill (rotor radius ``R``): its tower, cast from the base
    along the sun direction, and its rotor (``blades_geom``, placed) squashed at the tower's
    tip."""
    sx, sy = shadow_vec
    norm = math.hypot(sx, sy) or 1.0
    ux, uy = sx / norm, sy / norm
    L = R * 1.6
    tower = LineString([(cx, cy), (cx + ux * L, cy + uy * L)]).buffer(
        max(R * 0.05, 0.5), cap_style="flat"
    )
    rotor = affine_transform(blades_geom, [1, 0, 0, 0.35, ux * L, uy * L - cy * 0.35 + cy])
    return [(tower, (0, 0, 0, 110)), (rotor, (0, 0, 0, 90))]
