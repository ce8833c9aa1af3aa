"""The resolver: what a referring expression means in a scene, read from its TEXT.

:func:`resolve` parses the expression with the grammar of :mod:`rsground_lib.data.grammar`
and evaluates the parsed :class:`~rsground_lib.data.grammar.Query` against the scene's
objects (:func:`evaluate`). An expression is *unambiguous* when exactly one object may match
and that object matches clearly (see :class:`Resolution`); the synthetic generator
(:mod:`rsground_lib.data.expressions`) keeps only such expressions. The evaluation is traced
step by step (``Resolution.steps``, one dict per filter), which the CoT module turns into
reasoning text. The purpose is the paper's "explicit position awareness"; the geometry rules
below are our design.

Geometry rules (:class:`GeometryRules`; all in the pixels of the original image, boxes in the
continuous convention, centre = box centre, area = the object's ``area_px`` when present, else
its box area). Each rule says when an object *possibly* matches a phrase and when it *clearly*
matches; possible ⊇ clear, and the margins make "clear for one" imply "possible for no other":

* **absolute** — the image is cut into a 3×3 grid of equal cells; an object is clearly in the
  cell that contains its centre when the centre is at least ``cell_margin_frac`` × the image
  side away from the cell's inner borders; it is possibly in every cell that the centre ± that
  margin touches. "the tank in the upper left" is unambiguous when one tank is clearly there
  and no other tank possibly is.
* **ordinal / extreme by position** — objects are ranked by centre x ("from the left"/"right")
  or centre y ("from the top"/"bottom"). Object i is *clearly before* j when their centres
  differ by at least ``max(order_margin_frac × mean extent of the pair along the axis,
  order_margin_min_frac × image side)``. An object's possible ranks run from 1 + (number
  clearly before it) to 1 + (number not clearly after it); it clearly has rank r when that
  range is [r, r]. This relation is transitive, so a clear rank is never shared.
  "leftmost"/"topmost"… are rank 1.
* **size and extreme by size** — "the largest X" ranks by area with *clearly larger* meaning
  ``area ≥ extreme_area_ratio × other area``; "the large X" / "the small X" demand the stronger
  ``size_area_ratio`` against every other instance.
* **colour** — exact match of the colour name (``grey`` = ``gray``).
* **relative direction** ("left of", "right of", "above", "below" the anchor) — clearly: the
  boxes overlap along the axis by at most ``direction_overlap_frac`` × the smaller extent and
  the centre-to-centre direction is within ``direction_clear_deg`` of the axis; possibly: the
  centre is on that side and within ``direction_possible_deg`` of the axis.
* **near** ("next to", "near", "beside", "close to") — box-to-box gap g. Clearly near: g ≤
  ``near_clear_frac`` × image side and every other candidate's gap ≥ ``near_ratio`` × g +
  ``near_margin_frac`` × side; possibly near: g ≤ ``near_possible_frac`` × side and no other
  candidate is clearly nearer in that sense.
* **between** two anchors A and B — project the centre on segment AB (t in [0, 1]) and measure
  the perpendicular offset p: clearly between when ``between_clear_t`` ≤ t ≤ 1 − that and p ≤
  ``between_clear_offset`` × |AB|; possibly when 0 < t < 1 and p ≤ ``between_possible_offset``
  × |AB|.
* **anchors** must themselves be unambiguous (unique by class, or by their own colour, size or
  absolute cue); with an ambiguous anchor nothing is clear.

Several cues in one noun phrase are applied in this order, each on the survivors of the
previous: class → colour → absolute cell → size → extreme/ordinal → relation. Ranking on a set
that is only *possibly* right gives no clear match (conservative).
Book chapter: "Data".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from rsground_lib.data.grammar import (
    CELL_NAMES,
    RELATIONS,
    NounPhrase,
    Query,
    normalize_expression,
    parse_expression,
)


@dataclass(frozen=True)
class GeometryRules:
    """The thresholds of the resolver's geometry (module docstring; our design).

    Fractions of "the image side" use the width for x and the height for y (for "near",
    the shorter side).
    """

    cell_margin_frac: float = 0.04
    order_margin_frac: float = 0.5
    order_margin_min_frac: float = 0.02
    size_area_ratio: float = 1.6
    extreme_area_ratio: float = 1.3
    direction_clear_deg: float = 35.0
    direction_possible_deg: float = 60.0
    direction_overlap_frac: float = 0.25
    near_clear_frac: float = 0.15
    near_possible_frac: float = 0.2
    near_ratio: float = 2.0
    near_margin_frac: float = 0.05
    between_clear_t: float = 0.2
    between_clear_offset: float = 0.3
    between_possible_offset: float = 0.5


DEFAULT_RULES = GeometryRules()

# --------------------------------------------------------------------------- evaluation


@dataclass
class Resolution:
    """What an expression means in a scene.

    ``possible``: indices of the objects the expression may refer to (what :func:`resolve`
    returns); ``clear``: those that match every rule with its margin. The expression is
    *unambiguous* when both are the same single object. ``steps`` is the JSON-able trace of
    the evaluation (one dict per filter, see :func:`resolve_detailed`), which the CoT module
    turns into reasoning text.
    """

    query: Query
    possible: list[int]
    clear: list[int]
    steps: list[dict] = field(default_factory=list)

    @property
    def unambiguous(self) -> bool:
        """Exactly one object possibly matches, and it matches clearly."""
        return len(self.possible) == 1 and self.possible == self.clear


class SceneView:
    """The scene's objects as arrays (category, colour, box, centre, size, area), checked
    once and shared by every evaluation in the scene (the generator evaluates many candidate
    sentences per scene)."""

    def __init__(self, objects: Sequence, image_size):
        self.width, self.height = _image_size(image_size)
        cats, colors, boxes, areas = [], [], [], []
        for k, obj in enumerate(objects):
            if not isinstance(obj, Mapping):
                raise ValueError(
                    f"objects[{k}]: expected a mapping with 'category', 'bbox' (and 'color', "
                    f"'area_px'); got {type(obj).__name__}"
                )
            try:
                box = [float(v) for v in obj["bbox"]]
                cat = str(obj["category"])
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(
                    f"objects[{k}]: expected 'category' (str) and 'bbox' [x1, y1, x2, y2]; got "
                    f"{dict(obj)!r}"
                ) from exc
            if len(box) != 4 or not all(math.isfinite(v) for v in box):
                raise ValueError(f"objects[{k}]: bbox must be 4 finite numbers; got {box!r}")
            cats.append(cat)
            color = obj.get("color")
            colors.append(normalize_expression(color) if isinstance(color, str) else None)
            area = obj.get("area_px")
            boxes.append(box)
            areas.append(
                float(area)
                if area is not None and float(area) > 0
                else max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0)
            )
        self.n = len(cats)
        self.cat = cats
        self.color = colors
        self.box = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        self.cx = (self.box[:, 0] + self.box[:, 2]) / 2
        self.cy = (self.box[:, 1] + self.box[:, 3]) / 2
        self.w = self.box[:, 2] - self.box[:, 0]
        self.h = self.box[:, 3] - self.box[:, 1]
        self.area = np.asarray(areas, dtype=np.float64)


def _image_size(image_size) -> tuple[float, float]:
    if isinstance(image_size, (int, float, np.integer, np.floating)) and not isinstance(
        image_size, bool
    ):
        w = h = float(image_size)
    else:
        try:
            w, h = (float(v) for v in image_size)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"image_size: expected a side in pixels or (width, height); got {image_size!r}"
            ) from exc
    if not (w > 0 and h > 0 and math.isfinite(w) and math.isfinite(h)):
        raise ValueError(f"image_size: expected positive finite sizes; got {image_size!r}")
    return w, h


def cell_of(cx: float, cy: float, image_size) -> tuple[int, int]:
    """The (row, column) of the 3×3 grid cell that contains the point (cx, cy). Our design."""
    w, h = _image_size(image_size)
    return (min(2, max(0, int(3 * cy // h))), min(2, max(0, int(3 * cx // w))))


def possible_cells(cx: float, cy: float, image_size, rules: GeometryRules = DEFAULT_RULES):
    """The grid cells that the point (cx, cy) ± the cell margin touches (one cell = clearly
    inside it). Our design."""
    w, h = _image_size(image_size)
    mx, my = rules.cell_margin_frac * w, rules.cell_margin_frac * h
    rows = sorted({cell_of(cx, y, (w, h))[0] for y in (cy - my, cy, cy + my)})
    cols = sorted({cell_of(x, cy, (w, h))[1] for x in (cx - mx, cx, cx + mx)})
    return [(r, c) for r in rows for c in cols]


def rank_axis(view: SceneView, side: str):
    """(coordinate, extent, image side, descending) for ranking from ``side`` (``left``,
    ``right``, ``top`` or ``bottom``): the centres and extents along that axis."""
    if side in ("left", "right"):
        return view.cx, view.w, view.width, side == "right"
    return view.cy, view.h, view.height, side == "bottom"


def _rank_filter(members: list[int], all_clear: bool, rank: int, before) -> tuple[list, list]:
    possible, clear = [], []
    for j in members:
        lo = sum(1 for i in members if i != j and before(i, j))
        hi = sum(1 for i in members if i != j and not before(j, i))
        if lo + 1 <= rank <= hi + 1:
            possible.append(j)
        if all_clear and lo == hi == rank - 1:
            clear.append(j)
    return possible, clear


def _position_before(view: SceneView, side: str, rules: GeometryRules):
    coord, extent, side_px, descending = rank_axis(view, side)
    sign = -1.0 if descending else 1.0

    def before(i: int, j: int) -> bool:
        margin = max(
            rules.order_margin_frac * (extent[i] + extent[j]) / 2,
            rules.order_margin_min_frac * side_px,
        )
        return sign * (coord[j] - coord[i]) >= margin

    return before


def _area_before(view: SceneView, largest: bool, ratio: float):
    def before(i: int, j: int) -> bool:
        if largest:
            return view.area[i] >= ratio * view.area[j]
        return view.area[j] >= ratio * view.area[i]

    return before


def evaluate_noun_phrase(
    np_: NounPhrase, view: SceneView, rules: GeometryRules, exclude: Iterable[int] = ()
) -> tuple[list[int], list[int], list[dict]]:
    """(possible, clear, steps) of one noun phrase: its class (minus ``exclude``), then its
    cues in the order of the module docstring, each on the survivors of the previous."""
    excluded = set(exclude)
    members = [i for i in range(view.n) if view.cat[i] == np_.category and i not in excluded]
    possible, clear = list(members), list(members)
    steps: list[dict] = [
        {"op": "category", "category": np_.category, "noun": np_.noun, "candidates": members}
    ]
    phrase = dict(np_.phrases)
    if np_.color is not None:
        possible = [i for i in possible if view.color[i] == np_.color]
        clear = [i for i in clear if view.color[i] == np_.color]
        steps.append(
            {
                "op": "color",
                "color": np_.color,
                "phrase": phrase.get("color", np_.color),
                "colors": [[i, view.color[i]] for i in members],
                "possible": possible,
                "clear": clear,
            }
        )
    if np_.cell is not None:
        cells = {
            i: possible_cells(view.cx[i], view.cy[i], (view.width, view.height), rules)
            for i in possible
        }
        before_step = list(possible)
        possible = [i for i in possible if np_.cell in cells[i]]
        clear = [i for i in clear if i in cells and cells[i] == [np_.cell]]
        steps.append(
            {
                "op": "cell",
                "cell": list(np_.cell),
                "phrase": phrase.get("absolute", CELL_NAMES[np_.cell]),
                "cells": [
                    [i, *cell_of(view.cx[i], view.cy[i], (view.width, view.height))]
                    for i in before_step
                ],
                "possible": possible,
                "clear": clear,
            }
        )
    if np_.size is not None:
        before_fn = _area_before(view, np_.size == "large", rules.size_area_ratio)
        members_now = list(possible)
        possible, clear = _rank_filter(members_now, possible == clear, 1, before_fn)
        steps.append(
            {
                "op": "size",
                "size": np_.size,
                "phrase": phrase.get("size", np_.size),
                "areas": [[i, round(float(view.area[i]), 2)] for i in members_now],
                "ratio": rules.size_area_ratio,
                "possible": possible,
                "clear": clear,
            }
        )
    if np_.extreme is not None or np_.order is not None:
        if np_.order is not None:
            side, rank = np_.order
            cue = "ordinal"
        else:
            side, rank = np_.extreme, 1
            cue = "extreme"
        members_now = list(possible)
        if side in ("largest", "smallest"):
            before_fn = _area_before(view, side == "largest", rules.extreme_area_ratio)
            key = [float(view.area[i]) for i in members_now]
            order = [
                i for _, i in sorted(zip(key, members_now, strict=True), reverse=side == "largest")
            ]
            by = "area"
        else:
            before_fn = _position_before(view, side, rules)
            coord, _, _, descending = rank_axis(view, side)
            order = sorted(members_now, key=lambda i: coord[i], reverse=descending)
            by = "cx" if side in ("left", "right") else "cy"
        possible, clear = _rank_filter(members_now, possible == clear, rank, before_fn)
        steps.append(
            {
                "op": cue,
                "side": side,
                "rank": rank,
                "by": by,
                "phrase": phrase.get(cue, side),
                "sorted": order,
                "possible": possible,
                "clear": clear,
            }
        )
    return possible, clear, steps


def box_gap(view: SceneView, i: int, j: int) -> float:
    """The gap between the boxes of objects ``i`` and ``j`` (0 when they touch or overlap)."""
    a, b = view.box[i], view.box[j]
    dx = max(0.0, b[0] - a[2], a[0] - b[2])
    dy = max(0.0, b[1] - a[3], a[1] - b[3])
    return math.hypot(dx, dy)


def _direction(view: SceneView, j: int, a: int, relation: str, rules: GeometryRules):
    """(possible, clear) for "object j is <relation> anchor a"."""
    dx, dy = view.cx[j] - view.cx[a], view.cy[j] - view.cy[a]
    if relation in ("left", "right"):
        along, across = (-dx if relation == "left" else dx), abs(dy)
        bj, ba = view.box[j], view.box[a]
        overlap = (bj[2] - ba[0]) if relation == "left" else (ba[2] - bj[0])
        extent = min(view.w[j], view.w[a])
    else:
        along, across = (-dy if relation == "above" else dy), abs(dx)
        bj, ba = view.box[j], view.box[a]
        overlap = (bj[3] - ba[1]) if relation == "above" else (ba[3] - bj[1])
        extent = min(view.h[j], view.h[a])
    if along <= 0:
        return False, False
    possible = across <= along * math.tan(math.radians(rules.direction_possible_deg))
    clear = (
        across <= along * math.tan(math.radians(rules.direction_clear_deg))
        and overlap <= rules.direction_overlap_frac * extent
    )
    return possible, clear and possible


def _relation_filter(
    view: SceneView,
    relation: str,
    anchors: list[int],
    members: list[int],
    members_clear: bool,
    rules: GeometryRules,
) -> tuple[list[int], list[int], dict]:
    info: dict = {}
    if relation in ("left", "right", "above", "below"):
        a = anchors[0]
        res = {j: _direction(view, j, a, relation, rules) for j in members}
        possible = [j for j in members if res[j][0]]
        clear = [j for j in members if res[j][1]] if members_clear else []
        info["offsets"] = [
            [j, round(float(view.cx[j] - view.cx[a]), 2), round(float(view.cy[j] - view.cy[a]), 2)]
            for j in members
        ]
    elif relation == "near":
        a = anchors[0]
        side = min(view.width, view.height)
        gaps = {j: box_gap(view, j, a) for j in members}
        margin = rules.near_margin_frac * side
        possible = [
            j
            for j in members
            if gaps[j] <= rules.near_possible_frac * side
            and not any(gaps[j] >= rules.near_ratio * gaps[i] + margin for i in members if i != j)
        ]
        clear = [
            j
            for j in members
            if members_clear
            and gaps[j] <= rules.near_clear_frac * side
            and all(gaps[i] >= rules.near_ratio * gaps[j] + margin for i in members if i != j)
        ]
        info["gaps"] = [[j, round(gaps[j], 2)] for j in members]
    elif relation == "between":
        a, b = anchors
        ax, ay, bx, by = view.cx[a], view.cy[a], view.cx[b], view.cy[b]
        vx, vy = bx - ax, by - ay
        length2 = vx * vx + vy * vy
        possible, clear, params = [], [], []
        for j in members:
            if length2 <= 0:
                continue
            px, py = view.cx[j] - ax, view.cy[j] - ay
            t = (px * vx + py * vy) / length2
            offset = abs(px * vy - py * vx) / math.sqrt(length2)
            rel_off = offset / math.sqrt(length2)
            params.append([j, round(float(t), 3), round(float(rel_off), 3)])
            if 0 < t < 1 and rel_off <= rules.between_possible_offset:
                possible.append(j)
                if (
                    members_clear
                    and rules.between_clear_t <= t <= 1 - rules.between_clear_t
                    and rel_off <= rules.between_clear_offset
                ):
                    clear.append(j)
        info["projections"] = params
    else:
        raise ValueError(f"unknown relation {relation!r}; expected one of {RELATIONS}")
    return possible, clear, info


def evaluate(
    query: Query, objects: Sequence[Mapping], image_size, rules: GeometryRules = DEFAULT_RULES
) -> Resolution:
    """Evaluate a parsed :class:`~rsground_lib.data.grammar.Query` against a scene's objects
    (the geometry rules of the module docstring). ``objects`` are mappings with ``category``,
    ``bbox`` (original pixels) and optionally ``color`` and ``area_px``; ``image_size`` is a
    side or (width, height). Our design."""
    view = SceneView(objects, image_size)
    return evaluate_in_view(query, view, rules)


def evaluate_in_view(query: Query, view: SceneView, rules: GeometryRules) -> Resolution:
    """:func:`evaluate` on a scene already held as a :class:`SceneView`."""
    if query.relation is None:
        possible, clear, steps = evaluate_noun_phrase(query.head, view, rules)
    else:
        anchor_ids: list[int] = []
        anchor_steps: list[list[dict]] = []
        anchors_unique = True
        anchor_possible: list[list[int]] = []
        if len(query.anchors) == 1 and query.anchors[0].count == 2:
            ap, ac, st = evaluate_noun_phrase(replace(query.anchors[0], count=None), view, rules)
            anchor_steps.append(st)
            anchor_possible.append(ap)
            anchors_unique = len(ap) == 2 and ap == ac
            anchor_ids = ap if anchors_unique else []
        else:
            for anchor in query.anchors:
                ap, ac, st = evaluate_noun_phrase(anchor, view, rules)
                anchor_steps.append(st)
                anchor_possible.append(ap)
                if len(ap) == 1 and ap == ac:
                    anchor_ids.append(ap[0])
                else:
                    anchors_unique = False
        expected = 2 if query.relation == "between" else 1
        if anchors_unique and len(set(anchor_ids)) != expected:
            anchors_unique = False
        excluded = {i for ap in anchor_possible for i in ap}
        possible, clear, steps = evaluate_noun_phrase(query.head, view, rules, exclude=excluded)
        members = list(possible)
        if anchors_unique:
            possible, clear, info = _relation_filter(
                view, query.relation, anchor_ids, members, possible == clear, rules
            )
        else:
            # every combination of possible anchors; nothing is clear
            combos: list[list[int]] = []
            if query.relation == "between":
                pool = sorted(excluded)
                combos = [[a, b] for k, a in enumerate(pool) for b in pool[k + 1 :]]
            else:
                combos = [[a] for a in (anchor_possible[0] if anchor_possible else [])]
            union: set[int] = set()
            for combo in combos:
                p, _, _ = _relation_filter(view, query.relation, combo, members, False, rules)
                union.update(p)
            possible, clear, info = sorted(union), [], {}
        steps.append(
            {
                "op": "relation",
                "relation": query.relation,
                "phrase": query.relation_phrase,
                "anchors": anchor_ids,
                "anchors_unique": anchors_unique,
                "anchor_steps": anchor_steps,
                "candidates": members,
                **info,
                "possible": possible,
                "clear": clear,
            }
        )
    steps.append({"op": "result", "possible": possible, "clear": clear})
    return Resolution(query, sorted(possible), sorted(clear), steps)


def resolve_detailed(
    expression: str, objects: Sequence[Mapping], image_size, rules: GeometryRules = DEFAULT_RULES
) -> Resolution:
    """Parse the expression TEXT (:func:`~rsground_lib.data.grammar.parse_expression`) and
    evaluate it against the scene (:func:`evaluate`): the possible and clear matches and the
    step-by-step trace.

    ``steps`` holds one dict per filter with ``op`` in ``category``, ``color``, ``cell``,
    ``size``, ``extreme``, ``ordinal``, ``relation`` (with the anchors' own steps) and a final
    ``result``; each lists object indices (``possible``/``clear``) and what was compared
    (colours, cells, areas, the sorted order, offsets, gaps, projections). Our design.
    """
    return evaluate(parse_expression(expression), objects, image_size, rules)


def resolve(
    expression: str, objects: Sequence[Mapping], image_size, rules: GeometryRules = DEFAULT_RULES
) -> list[int]:
    """Indices of the objects that ``expression`` may refer to in a scene, read from its text.

    The check behind every synthetic expression: a kept expression resolves to exactly its
    target (and matches it clearly, see :class:`Resolution`). ``objects`` are mappings with
    ``category``, ``bbox`` and optionally ``color``/``area_px`` (the record's ``objects``
    column); ``image_size`` is a side or ``(width, height)`` in pixels. Raises
    :class:`~rsground_lib.data.grammar.ExpressionParseError` for text outside the grammar.
    The rules are our design (module docstring), the purpose is the
    paper's "explicit position awareness".
    """
    return resolve_detailed(expression, objects, image_size, rules).possible
