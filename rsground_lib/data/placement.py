"""Placement of a synthetic scene's objects, and the scene itself (:func:`make_scene`).

:func:`make_scene` draws the classes and instance counts of one scene, its land cover
(:mod:`rsground_lib.data.landcover`) and its sun, and places every object without overlaps on
plausible ground (our design):

* **Several instances of the target class** (``min_instances``–``max_instances``, default
  2–5, capped per class by :attr:`~rsground_lib.data.scene_model.ClassSpec.max_per_scene`)
  plus 1–3 distractor classes, so that the class alone rarely identifies the target and
  position is needed; ``single_instance=True`` makes every class unique.
* **Plausible ground**: ships on water only (along the river on a river), bridges across the
  river with their road, vehicles on roads (in a lane, along the road), airplanes on the
  apron, everything else on open land (not water, road, urban block or apron). Footprints
  (body, shadow, wake, plus a small margin) never overlap (shapely), and every object lies
  fully inside the image.
* **One sun per scene**: all shadows fall in the same direction.
* **Contrast**: on request one target instance is clearly larger or smaller than the others,
  or has a colour no other instance has, so that size and colour cues are possible.

Book chapter: "Data".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry import LineString, Polygon, box
from shapely.ops import unary_union

from rsground_lib.data.glyphs import chimney_shadow, make_glyph, windmill_shadow
from rsground_lib.data.landcover import Layout, make_layout
from rsground_lib.data.scene_model import (
    CATEGORIES,
    CLASS_SPECS,
    SMOKE_IMAGE_SIZE,
    ClassSpec,
    Scene,
    SceneObject,
    check_classes,
    image_wh,
)
from rsground_lib.data.shapes import placed


def _pick_color(spec: ClassSpec, rng: np.random.Generator) -> str:
    """A colour name of the class, drawn by the weights of :attr:`ClassSpec.colors`."""
    total = sum(w for _, w in spec.colors)
    u = rng.random() * total
    for name, w in spec.colors:
        u -= w
        if u < 0:
            return name
    return spec.colors[-1][0]


def _placed_parts(parts, cx: float, cy: float, ang: float):
    """A function building a glyph's parts at their place (deterministic, no randomness)."""

    def build():
        return [(placed(g, cx, cy, ang), c) for g, c in parts()]

    return build


class _Placer:
    """Places objects without overlaps on the ground each class needs."""

    def __init__(self, rng, W, H, layout: Layout, shadow_vec):
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
            glyph = make_glyph(category, length, color_now, rng)
            body = placed(glyph.body, cx, cy, ang)
            x1, y1, x2, y2 = body.bounds
            if x1 < 0.5 or y1 < 0.5 or x2 > self.W - 0.5 or y2 > self.H - 0.5:
                continue
            sx, sy = self.shadow_vec
            if category == "chimney":
                base = (-length / 2, 0)
                shadow = [
                    (chimney_shadow(length, self.shadow_vec, cx, cy, ang, base), (0, 0, 0, 120))
                ]
            elif category == "windmill":
                shadow = windmill_shadow(length / 2, self.shadow_vec, cx, cy, body)
            else:
                shadow = [(placed(g, cx + sx * k, cy + sy * k, ang), c) for g, c, k in glyph.shadow]
            if category == "bridge":
                shadow = [(g.intersection(self.layout.water), c) for g, c in shadow]
            decor = [(placed(g, cx, cy, ang), c) for g, c in glyph.decor]
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


class PlacementError(RuntimeError):
    """The scene could not hold the requested number of target instances."""


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
    The paper's synthetic position-aware data, the scene model is our
    design.
    """
    W, H = image_wh(image_size)
    classes = check_classes(classes)
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
        layout = make_layout(rng, W, H, needs, sv)
        placer = _Placer(rng, W, H, layout, sv)
        order = sorted(counts, key=lambda c: -CLASS_SPECS[c].length_frac[1])
        ok = True
        dropped = 0
        for c in order:
            if c == target_category and contrast is not None and counts[c] >= 2:
                lengths, colors = _contrast_plan(rng, CLASS_SPECS[c], counts[c], contrast, W, H)
                n_placed = sum(
                    placer.place(c, length=ln, color=co)
                    for ln, co in zip(lengths, colors, strict=True)
                )
            else:
                n_placed = sum(placer.place(c) for _ in range(counts[c]))
            if c == target_category and n_placed < counts[c]:
                ok = False
                break
            dropped += counts[c] - n_placed
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
