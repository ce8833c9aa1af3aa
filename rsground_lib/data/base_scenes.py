"""The base-grounding scenes of the tiny base checkpoint (its training data generator).

Deliberately simpler and ~100x faster than :mod:`rsground_lib.data.synthetic` (which renders
land cover and verifies rich expressions at ~0.1 s per scene): a noisy uniform background and
1-k solid shapes of six classes, each with its own colour and shape, at 64 px. Expressions:

* ``mode="single"``: one instance per class; the expression is the class ("the ship");
* ``mode="multi"``: 2-3 instances of the target class plus distractors; the expression is an
  extreme cue ("the leftmost ship", "the topmost ...");
* ``mode="mixed"``: half each.

Records carry ``image`` (PIL), ``width``, ``height``, ``expression``, ``bbox`` (original
pixels, continuous), ``category``, ``cues``, ``n_objects``, ``n_same`` (instances of the
target's class, for the chance level of picking one at random) and ``objects`` (every drawn
object's ``category`` and ``bbox``, for the class-conditional warm start), ``target_index``
(the target's position in ``objects``) and ``resolver_steps`` (JSON text in the format of
:mod:`rsground_lib.data.resolver`: a ``category`` step, then an ``extreme`` step for the
extreme cues), so that :func:`rsground_lib.data.cot.template_trace` writes their reasoning
traces exactly as for the rich synthetic scenes. Deterministic in ``seed``.
The default data factory of ``rsground tiny-base pretrain`` (``make tiny-base``; see ``checkpoints/tiny-base/README.md``). Our design. Book chapter: "CoT-SFT"
(the tiny base checkpoint).
"""

import json

import numpy as np
from PIL import Image, ImageDraw

from rsground_lib import vocabulary

_LOOKS = {  # class id: (colour, shape, size range px at 64)
    "airplane": ((235, 235, 235), "cross", (10, 16)),
    "ship": ((200, 60, 60), "rect_h", (8, 14)),
    "storagetank": ((240, 200, 40), "circle", (8, 13)),
    "vehicle": ((60, 90, 220), "rect", (6, 9)),
    "tenniscourt": ((40, 200, 120), "rect_v", (10, 16)),
    "building": ((150, 100, 200), "rect", (10, 16)),
}
CLASSES = {vocabulary.CLASSES[cid].name: look for cid, look in _LOOKS.items()}
"""Class name (:attr:`rsground_lib.vocabulary.ObjectClass.name`: the records' ``category`` and
the noun of their expressions, e.g. "storage tank") → (colour, shape, size range px at 64)."""
NAMES = list(CLASSES)
POS = {"upper left": (0, 0), "upper right": (1, 0), "lower left": (0, 1), "lower right": (1, 1)}


def _draw(d, cls, box):
    col, shape, _ = CLASSES[cls]
    x1, y1, x2, y2 = box
    if shape == "circle":
        d.ellipse(box, fill=col)
    elif shape == "cross":
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        w = (x2 - x1) / 5
        d.rectangle([x1, cy - w, x2, cy + w], fill=col)
        d.rectangle([cx - w, y1, cx + w, y2], fill=col)
    else:
        d.rectangle(box, fill=col)


def _box(rng, cls, S, boxes):
    lo, hi = CLASSES[cls][2]
    k = S / 64
    for _ in range(100):
        w = rng.integers(lo, hi + 1) * k
        h = w
        if CLASSES[cls][1] == "rect_h":
            h = max(3 * k, w * 0.5)
        if CLASSES[cls][1] == "rect_v":
            w, h = max(4 * k, w * 0.6), w
        x1 = rng.uniform(1, S - w - 1)
        y1 = rng.uniform(1, S - h - 1)
        b = [x1, y1, x1 + w, y1 + h]
        if all(
            b[2] + 2 < o[0] or o[2] + 2 < b[0] or b[3] + 2 < o[1] or o[3] + 2 < b[1] for o in boxes
        ):
            return b
    return None


def _multi(rng, S, n_objects):
    """One draw of a multi scene: 2-3 instances of a class plus distractors, the target named
    by an extreme cue; ``(objs, target, expression, cue, gap)`` with ``gap`` how far the
    named instance's centre lies beyond the runner-up's along the cue's axis (``inf``
    without a cue)."""
    objs = []
    tc = NAMES[rng.integers(len(NAMES))]
    k = int(rng.integers(2, 4))
    for _ in range(k):
        b = _box(rng, tc, S, [o[1] for o in objs])
        if b:
            objs.append((tc, b))
    others = [c for c in NAMES if c != tc]
    for c in (
        rng.choice(others, size=int(rng.integers(0, n_objects)), replace=False)
        if n_objects > 0
        else []
    ):
        b = _box(rng, c, S, [o[1] for o in objs])
        if b:
            objs.append((c, b))
    same = [o for o in objs if o[0] == tc]
    cx = np.array([(o[1][0] + o[1][2]) / 2 for o in same])
    cy = np.array([(o[1][1] + o[1][3]) / 2 for o in same])
    choice = rng.integers(4)
    sx, sy = np.sort(cx), np.sort(cy)
    if len(same) == 1:
        target, expr, cue, gap = same[0], f"the {tc}", "none", float("inf")
    elif choice == 0:
        target, expr, cue, gap = (
            same[int(cx.argmin())],
            f"the leftmost {tc}",
            "extreme",
            sx[1] - sx[0],
        )
    elif choice == 1:
        target, expr, cue, gap = (
            same[int(cx.argmax())],
            f"the rightmost {tc}",
            "extreme",
            sx[-1] - sx[-2],
        )
    elif choice == 2:
        target, expr, cue, gap = (
            same[int(cy.argmin())],
            f"the topmost {tc}",
            "extreme",
            sy[1] - sy[0],
        )
    else:
        target, expr, cue, gap = (
            same[int(cy.argmax())],
            f"the bottommost {tc}",
            "extreme",
            sy[-1] - sy[-2],
        )
    return objs, target, expr, cue, float(gap)


def scene(rng, S=64, n_objects=1, mode="single", min_gap=0.0):
    """mode single: one instance per class (expression = class); mode multi: 2-3 of the target
    class + distractors, named by an extreme cue. ``min_gap`` (pixels at 64, scaled with
    ``S``; multi only): the named instance's centre lies at least this far beyond the
    runner-up's along the cue's axis (the scene is redrawn until it does, at most 100 times,
    else a ValueError); 0 draws every scene as it comes — a curriculum knob, the benchmark
    splits use 0."""
    bg = np.array(
        [rng.integers(70, 120), rng.integers(80, 130), rng.integers(60, 100)], dtype=np.float32
    )
    arr = np.clip(bg + rng.normal(0, 8, (S, S, 3)), 0, 255).astype(np.uint8)
    img = Image.fromarray(arr)
    d = ImageDraw.Draw(img)
    objs = []
    if mode == "single":
        classes = list(rng.choice(NAMES, size=n_objects, replace=False))
        for c in classes:
            b = _box(rng, c, S, [o[1] for o in objs])
            if b:
                objs.append((c, b))
        ti = int(rng.integers(len(objs)))
        target = objs[ti]
        expr = f"the {target[0]}"
        cue = "none"
    else:
        for _attempt in range(100):
            objs, target, expr, cue, gap = _multi(rng, S, n_objects)
            if min_gap <= 0 or gap >= min_gap * S / 64:
                break
        else:
            raise ValueError(f"base_scenes.scene: no scene with min_gap={min_gap} in 100 draws")
    for c, b in objs:
        _draw(d, c, b)
    target_index = next(i for i, o in enumerate(objs) if o is target)
    return {
        "image": img,
        "width": S,
        "height": S,
        "expression": expr,
        "bbox": [float(v) for v in target[1]],
        "category": target[0],
        "cues": [cue],
        "n_objects": len(objs),
        "n_same": sum(o[0] == target[0] for o in objs),
        "objects": [{"category": str(c), "bbox": [float(v) for v in b]} for c, b in objs],
        "target_index": target_index,
        "resolver_steps": json.dumps(resolver_steps(objs, target_index, expr)),
    }


_EXTREME = {"leftmost": ("cx", "left"), "rightmost": ("cx", "right"),
            "topmost": ("cy", "top"), "bottommost": ("cy", "bottom")}  # fmt: skip


def resolver_steps(objs, target_index: int, expression: str) -> list[dict]:
    """How the expression picks ``objs[target_index]``, as the resolver steps of
    :mod:`rsground_lib.data.resolver` (``category``, then ``extreme`` for "the leftmost …"):
    the input of :func:`rsground_lib.data.cot.template_trace`. ``objs``: ``(category, box)``."""
    cat = objs[target_index][0]
    # Candidates in reading order (by centre x), so a trace lists them in an order the model
    # can see; the drawing order is random.
    members = sorted(
        (i for i, (c, _) in enumerate(objs) if c == cat),
        key=lambda i: (objs[i][1][0] + objs[i][1][2], objs[i][1][1] + objs[i][1][3]),
    )
    steps: list[dict] = [{"op": "category", "category": cat, "noun": cat, "candidates": members}]
    words = expression.split()
    word = words[1] if len(words) > 2 else ""
    if word in _EXTREME:
        by, side = _EXTREME[word]
        axis = 0 if by == "cx" else 1
        centre = {i: (objs[i][1][axis] + objs[i][1][axis + 2]) / 2 for i in members}
        order = sorted(members, key=lambda i: centre[i], reverse=side in ("right", "bottom"))
        if order[0] != target_index:  # pragma: no cover - scene() picks the extreme itself
            raise AssertionError(f"{expression!r}: the target is not the {side}most")
        steps.append(
            {
                "op": "extreme",
                "by": by,
                "side": side,
                "rank": 1,
                "phrase": word,
                "sorted": order,
                "possible": [target_index],
            }  # fmt: skip
        )
    return steps


def make_records(n, *, seed, image_size=64, max_objects=1, mode="single", min_gap=0.0):
    """``n`` scenes (:func:`scene`) of 1..``max_objects`` objects; ``mode`` 'single', 'multi'
    or 'mixed' (each scene single or multi with probability 1/2); ``min_gap`` as in
    :func:`scene`. Deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = int(rng.integers(1, max_objects + 1))
        md = mode if mode != "mixed" else ("single" if rng.random() < 0.5 else "multi")
        out.append(scene(rng, image_size, k, md, min_gap=min_gap))
    return out
