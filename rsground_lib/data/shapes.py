"""Shapely shapes and RGB colour helpers shared by the synthetic scene's glyphs, land cover,
placement and rendering.

Local shapes are centred on the origin with their long side along x; :func:`placed` rotates
one and moves it to its place in the image (pixels, y down). Colours are RGB tuples of ints;
:func:`rgba` adds the alpha channel Pillow draws with.

Book chapter: "Data".
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.affinity import affine_transform
from shapely.geometry import LineString, Point, Polygon, box

# --------------------------------------------------------------------------- shapes


def placed(geom, cx: float, cy: float, angle_deg: float):
    """Rotate a local geometry (origin at the object's centre) by ``angle_deg`` and move it
    to (cx, cy)."""
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    m = np.array([[c, s], [-s, c]])
    t = np.array([cx, cy])
    return shapely.transform(geom, lambda xy: xy @ m + t)


def rect(length: float, width: float, x0: float = 0.0, y0: float = 0.0) -> Polygon:
    """Axis-aligned rectangle centred on (x0, y0), long side along x."""
    return box(x0 - length / 2, y0 - width / 2, x0 + length / 2, y0 + width / 2)


def stadium(length: float, width: float) -> Polygon:
    """A stadium (a rectangle with half-disc ends) centred on the origin, long side along x."""
    r = width / 2
    half = max(length / 2 - r, 1e-6)
    return LineString([(-half, 0), (half, 0)]).buffer(r, quad_segs=12)


def ellipse(rx: float, ry: float, x0: float = 0.0, y0: float = 0.0) -> Polygon:
    """Axis-aligned ellipse of semi-axes ``rx`` and ``ry`` centred on (x0, y0)."""
    circle = Point(0, 0).buffer(1.0, quad_segs=10)
    return affine_transform(circle, [rx, 0, 0, ry, x0, y0])


def thick_line(points, width: float):
    """The polyline through ``points`` as a polygon ``width`` wide (flat ends)."""
    return LineString(points).buffer(width / 2, cap_style="flat")


def polygons(geom):
    """The non-empty polygons of a geometry (a polygon, a collection, or None)."""
    if geom is None or geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    return [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon) and not g.is_empty]


# --------------------------------------------------------------------------- colours


def shade(rgb, k: float) -> tuple[int, int, int]:
    """``rgb`` scaled by ``k`` (darker below 1, lighter above), clipped to 0..255."""
    return tuple(int(max(0, min(255, round(v * k)))) for v in rgb)


def jitter(rgb, rng: np.random.Generator, amount: float = 10.0) -> tuple[int, int, int]:
    """``rgb`` with seeded noise: one shift of all channels plus a smaller one per channel."""
    d = rng.normal(0.0, amount / 2)
    return tuple(int(max(0, min(255, round(v + d + rng.normal(0, amount / 4))))) for v in rgb)


def rgba(rgb, alpha: int = 255) -> tuple[int, int, int, int]:
    """``rgb`` as ints with an alpha channel, as Pillow's RGBA drawing takes it."""
    return (int(rgb[0]), int(rgb[1]), int(rgb[2]), int(alpha))
