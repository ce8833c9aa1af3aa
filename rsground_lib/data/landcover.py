"""Land cover of a synthetic scene: water (a river, a lake or a coast), bridge sites on the
river, an airport apron, urban blocks with buildings, roads and vegetation.

:func:`make_layout` draws one scene's ground as shapely geometries in image pixels, chosen to
hold what the scene's classes need (``needs``: instances per ground kind of
:class:`~rsground_lib.data.scene_model.ClassSpec`): a river when bridges are wanted, water for
ships, roads for vehicles, an apron for airplanes. Buildings cast their shadows with the
scene's one sun (``shadow_vec``). Our design.

Book chapter: "Data".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import LineString, Polygon, box
from shapely.ops import unary_union

from rsground_lib.data.shapes import jitter, thick_line

_ROOFS = ((196, 194, 188), (156, 86, 66), (120, 124, 130), (214, 208, 192), (100, 104, 96))


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
class Layout:
    """One scene's ground, in image pixels (see :func:`make_layout`)."""

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


def make_layout(rng, W: int, H: int, needs: dict[str, int], shadow_vec) -> Layout:
    """Draw the ground of a ``W``×``H`` scene from ``rng``: water (always when ``needs`` has
    ``water`` or ``river``, else with probability 0.3), bridge sites across a river (up to
    one per ``needs["river"]``), an apron (when ``needs["apron"]``), urban blocks with
    buildings (probability 0.35), 2–3 roads when ``needs["road"]`` (else 0–2) plus the roads
    of the bridges, and 2–6 vegetation patches."""
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
                    ln = thick_line([(minx, y), (maxx, y)], lw)
                else:
                    x = minx + (maxx - minx) * rng.uniform(0.15, 0.85)
                    ln = thick_line([(x, miny), (x, maxy)], lw)
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
                        roofs.append(jitter(_ROOFS[int(rng.integers(len(_ROOFS)))], rng, 10))
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

    return Layout(
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
