"""Boxes: conventions, vectorised overlap measures, clipping, and the rescale between the
original image and the image as Qwen2.5-VL sees it.

Every box is ``[x1, y1, x2, y2]`` in absolute pixels. Functions take anything array-like
whose last axis has length 4 — a single box ``(4,)``, a batch ``(N, 4)``, or any
``(..., 4)`` — and broadcast the leading axes against each other with numpy's rules, so a
batch ``(N, 4)`` can be compared with one box ``(4,)``. Results have the broadcast leading
shape; when both inputs are single boxes the result is a Python ``float``.

Two pixel conventions exist in the remote-sensing grounding benchmarks
(see :data:`CONVENTIONS`):

``"continuous"``
    A box is a region of the plane; width is ``x2 - x1``. DIOR-RSVG's evaluation
    (RSVG-pytorch), OPT-RSVG/LPVA and RSVG-HR use it; it is the project's record convention.
``"inclusive"``
    A box is a set of integer grid cells from ``x1`` to ``x2`` *inclusive*; width is
    ``x2 - x1 + 1``. VRSBench's evaluation (on its 0–100 grid) uses it.

Degenerate boxes never divide by zero: a box with ``x2 < x1`` (or ``y2 < y1``) has zero
width (height) and so zero area; an overlap ratio whose denominator is zero is defined as
0.0. In the continuous convention a zero-area box therefore has IoU 0 with everything —
itself included: it covers no area, so it cannot match a target (our reading of the usual
``inter / union`` definition; the RSVG-pytorch code would divide by zero there). In the
inclusive convention ``x1 == x2`` is a one-pixel-wide box and behaves normally. Non-finite
coordinates propagate as NaN (callers that meet unparsable answers mask them first, see
:mod:`rsground_lib.metrics` and :mod:`rsground_lib.rewards`).

This module imports nothing from the rest of the package.

Book chapter: "Rewards and spatial consistency" (``book/01_rewards.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

CONVENTIONS: tuple[str, ...] = ("continuous", "inclusive")
"""Known box conventions: ``"continuous"`` (no +1) and ``"inclusive"`` (+1 on widths)."""

QWEN_PATCH_FACTOR = 28
"""Side multiple of a Qwen2-VL / Qwen2.5-VL model input: patch size 14 × spatial merge 2."""

QWEN2VL_MIN_PIXELS = 56 * 56
"""``min_pixels`` default of transformers' Qwen2-VL image processor (3136)."""

QWEN2VL_MAX_PIXELS = 28 * 28 * 1280
"""``max_pixels`` default of transformers' Qwen2-VL image processor class (1 003 520)."""

QWEN25VL_MAX_PIXELS = 12845056
"""``max_pixels`` of the ``preprocessor_config.json`` shipped with the Qwen2.5-VL
checkpoints (= 28·28·16384); its ``min_pixels`` is 3136. Which one applies depends on how
the processor is built — pass the value you use to :func:`smart_resize`."""

MAX_ASPECT_RATIO = 200
"""The Qwen2-VL processor refuses images whose long/short side ratio exceeds this."""


# ----------------------------------------------------------------------------- helpers


def _check_convention(convention: str) -> int:
    """The +1 offset of a convention (0 or 1); ValueError for an unknown name."""
    if convention == "continuous":
        return 0
    if convention == "inclusive":
        return 1
    raise ValueError(
        f"unknown box convention {convention!r}; expected one of {', '.join(map(repr, CONVENTIONS))}"
    )


def as_boxes(boxes, name: str = "boxes") -> np.ndarray:
    """``boxes`` as a float64 array whose last axis has length 4 (``(4,)``, ``(N, 4)``, …).

    The input check shared by every function here: lists, tuples and arrays are accepted;
    anything whose last axis is not 4 is a ValueError naming ``name`` and the shape.
    Book chapter: "Rewards and spatial consistency".
    """
    try:
        arr = np.asarray(boxes, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name}: expected numbers shaped (4,) or (N, 4) as [x1, y1, x2, y2]; got {type(boxes).__name__}"
        ) from exc
    if arr.ndim == 0 or arr.shape[-1] != 4:
        raise ValueError(
            f"{name}: expected shape (4,) or (N, 4) as [x1, y1, x2, y2]; got shape {arr.shape}"
        )
    return arr


def _pair(pred, target) -> tuple[np.ndarray, np.ndarray]:
    a = as_boxes(pred, "pred")
    b = as_boxes(target, "target")
    try:
        a, b = np.broadcast_arrays(a, b)
    except ValueError as exc:
        raise ValueError(
            f"pred {a.shape} and target {b.shape} do not broadcast: expected (N, 4) vs (N, 4) or (4,)"
        ) from exc
    return a, b


def _out(x: np.ndarray):
    """A 0-d result as a Python float, else the array."""
    return float(x) if x.ndim == 0 else x


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with 0.0 where ``den <= 0`` (no warnings, no inf)."""
    num, den = np.broadcast_arrays(np.asarray(num, dtype=np.float64), np.asarray(den, np.float64))
    out = np.zeros(num.shape, dtype=np.float64)
    ok = den > 0
    np.divide(num, den, out=out, where=ok)
    # propagate NaN inputs instead of hiding them behind the 0.0 default
    out[np.isnan(num) | np.isnan(den)] = np.nan
    return out


def _extent(lo: np.ndarray, hi: np.ndarray, plus: int) -> np.ndarray:
    """Side length ``hi - lo (+1)``, clipped at 0 (NaN stays NaN)."""
    return np.maximum(hi - lo + plus, 0.0)


def _inter_union(a: np.ndarray, b: np.ndarray, plus: int) -> tuple[np.ndarray, np.ndarray]:
    iw = _extent(np.maximum(a[..., 0], b[..., 0]), np.minimum(a[..., 2], b[..., 2]), plus)
    ih = _extent(np.maximum(a[..., 1], b[..., 1]), np.minimum(a[..., 3], b[..., 3]), plus)
    inter = iw * ih
    area_a = _extent(a[..., 0], a[..., 2], plus) * _extent(a[..., 1], a[..., 3], plus)
    area_b = _extent(b[..., 0], b[..., 2], plus) * _extent(b[..., 1], b[..., 3], plus)
    return inter, area_a + area_b - inter


def _enclosing(a: np.ndarray, b: np.ndarray, plus: int) -> tuple[np.ndarray, np.ndarray]:
    """Width and height of the smallest box enclosing both."""
    cw = _extent(np.minimum(a[..., 0], b[..., 0]), np.maximum(a[..., 2], b[..., 2]), plus)
    ch = _extent(np.minimum(a[..., 1], b[..., 1]), np.maximum(a[..., 3], b[..., 3]), plus)
    return cw, ch


# ----------------------------------------------------------------------------- measures


def area(boxes, convention: str = "continuous"):
    """Area of each box: ``(x2 - x1) * (y2 - y1)`` (continuous) or with ``+1`` on both sides
    (inclusive); a box with ``x2 < x1`` or ``y2 < y1`` has area 0.

    Standard definition (RSVG-pytorch / VRSBench evaluation code).
    Book chapter: "Rewards and spatial consistency".
    """
    plus = _check_convention(convention)
    b = as_boxes(boxes)
    return _out(_extent(b[..., 0], b[..., 2], plus) * _extent(b[..., 1], b[..., 3], plus))


def intersection_union(pred, target, convention: str = "continuous"):
    """``(intersection, union)`` areas of each pair — the two sums of cumIoU.

    Standard definition; see :func:`iou` for shapes and conventions.
    Book chapter: "Rewards and spatial consistency".
    """
    plus = _check_convention(convention)
    a, b = _pair(pred, target)
    inter, union = _inter_union(a, b, plus)
    return _out(inter), _out(union)


def iou(pred, target, convention: str = "continuous"):
    """Intersection over union of each pair of boxes, in [0, 1].

    ``pred`` and ``target`` are ``(4,)``, ``(N, 4)`` or broadcastable ``(..., 4)``; the result
    has the broadcast leading shape, or is a ``float`` for two single boxes. ``convention``
    is ``"continuous"`` (DIOR-RSVG, OPT-RSVG, RSVG-HR) or ``"inclusive"`` (+1 on widths and
    heights, VRSBench). A zero union gives 0.0 (see the module notes on degenerate boxes).
    This is the accuracy measure of every RSVG benchmark and the paper's IoU reward.
    Book chapter: "Rewards and spatial consistency".
    """
    plus = _check_convention(convention)
    a, b = _pair(pred, target)
    inter, union = _inter_union(a, b, plus)
    return _out(np.clip(_safe_div(inter, union), 0.0, 1.0))


def centers(boxes):
    """Centre ``(cx, cy)`` of each box, shape ``(..., 2)``; the same in both conventions.

    Book chapter: "Rewards and spatial consistency".
    """
    b = as_boxes(boxes)
    return np.stack([(b[..., 0] + b[..., 2]) / 2.0, (b[..., 1] + b[..., 3]) / 2.0], axis=-1)


def center_distance(pred, target):
    """Euclidean distance ``ρ`` between the centres of each pair of boxes, in pixels.

    The same in both conventions (the +1 shifts both centres alike). Used by DIoU and by the
    centre-distance rewards. Book chapter: "Rewards and spatial consistency".
    """
    a, b = _pair(pred, target)
    dx = (a[..., 0] + a[..., 2] - b[..., 0] - b[..., 2]) / 2.0
    dy = (a[..., 1] + a[..., 3] - b[..., 1] - b[..., 3]) / 2.0
    return _out(np.hypot(dx, dy))


def enclosing_diagonal(pred, target, convention: str = "continuous"):
    """Diagonal ``c`` of the smallest box enclosing each pair (with ``+1`` on its sides in the
    inclusive convention) — the normaliser of DIoU (Zheng et al., 2020).

    Book chapter: "Rewards and spatial consistency".
    """
    plus = _check_convention(convention)
    a, b = _pair(pred, target)
    cw, ch = _enclosing(a, b, plus)
    return _out(np.hypot(cw, ch))


def giou(pred, target, convention: str = "continuous"):
    """Generalised IoU (Rezatofighi et al., 2019): ``IoU − (C − U) / C``, in [−1, 1].

    ``C`` is the area of the smallest enclosing box and ``U`` the union; ``C == 0`` (two
    coinciding zero-area boxes) gives the penalty 0. Shapes as :func:`iou`. Kept for the
    rewards ablation. Book chapter: "Rewards and spatial consistency".
    """
    plus = _check_convention(convention)
    a, b = _pair(pred, target)
    inter, union = _inter_union(a, b, plus)
    cw, ch = _enclosing(a, b, plus)
    c_area = cw * ch
    iou_ = np.clip(_safe_div(inter, union), 0.0, 1.0)
    return _out(np.clip(iou_ - _safe_div(c_area - union, c_area), -1.0, 1.0))


def diou(pred, target, convention: str = "continuous"):
    """Distance IoU (Zheng et al., 2020): ``IoU − ρ² / c²``, in [−1, 1].

    ``ρ`` is the centre distance and ``c`` the enclosing-box diagonal; ``c == 0`` (two
    coinciding points) gives the penalty 0. Unlike IoU it keeps decreasing as a box that
    misses moves further away, which is why the positional reward is built on it (our
    reading of the paper). Book chapter: "Rewards and spatial consistency".
    """
    plus = _check_convention(convention)
    a, b = _pair(pred, target)
    inter, union = _inter_union(a, b, plus)
    cw, ch = _enclosing(a, b, plus)
    dx = (a[..., 0] + a[..., 2] - b[..., 0] - b[..., 2]) / 2.0
    dy = (a[..., 1] + a[..., 3] - b[..., 1] - b[..., 3]) / 2.0
    iou_ = np.clip(_safe_div(inter, union), 0.0, 1.0)
    penalty = np.clip(_safe_div(dx * dx + dy * dy, cw * cw + ch * ch), 0.0, 1.0)
    return _out(iou_ - penalty)


# ----------------------------------------------------------------------------- validity


def _as_sizes(image_size, name: str = "image_size") -> np.ndarray:
    try:
        s = np.asarray(image_size, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected (width, height) numbers; got {image_size!r}") from exc
    if s.ndim == 0 or s.shape[-1] != 2:
        raise ValueError(f"{name}: expected (width, height) or (N, 2); got shape {s.shape}")
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ValueError(f"{name}: expected finite positive (width, height); got {image_size!r}")
    return s


def is_finite(boxes):
    """True for each box whose four coordinates are finite. Book chapter:
    "Rewards and spatial consistency"."""
    b = as_boxes(boxes)
    return _out_bool(np.all(np.isfinite(b), axis=-1))


def is_ordered(boxes):
    """True for each finite box with ``x2 >= x1`` and ``y2 >= y1`` (corners not swapped).

    Book chapter: "Rewards and spatial consistency".
    """
    b = as_boxes(boxes)
    ok = np.all(np.isfinite(b), axis=-1) & (b[..., 2] >= b[..., 0]) & (b[..., 3] >= b[..., 1])
    return _out_bool(ok)


def is_inside(boxes, image_size, convention: str = "continuous"):
    """True for each ordered box lying inside an image of ``image_size = (width, height)``:
    ``0 <= x1`` and ``x2 <= width`` (continuous) or ``x2 <= width - 1`` (inclusive), same for
    y. ``image_size`` may be ``(2,)`` or one size per box ``(N, 2)``.

    Book chapter: "Rewards and spatial consistency".
    """
    plus = _check_convention(convention)
    b = as_boxes(boxes)
    s = _as_sizes(image_size)
    w, h = s[..., 0] - plus, s[..., 1] - plus
    ok = np.asarray(is_ordered(b)) & (b[..., 0] >= 0) & (b[..., 1] >= 0)
    ok = ok & (b[..., 2] <= w) & (b[..., 3] <= h)
    return _out_bool(ok)


def is_valid(boxes, image_size=None, convention: str = "continuous"):
    """True for each box that is finite, ordered (``x2 >= x1``, ``y2 >= y1``) and, when
    ``image_size = (width, height)`` is given, inside the image (see :func:`is_inside`).

    Book chapter: "Rewards and spatial consistency".
    """
    _check_convention(convention)
    if image_size is None:
        return is_ordered(boxes)
    return is_inside(boxes, image_size, convention)


def _out_bool(x: np.ndarray):
    return bool(x) if x.ndim == 0 else x


def clip_to_image(boxes, image_size, convention: str = "continuous"):
    """Each box clipped to the image ``(width, height)``: x into ``[0, width]`` (continuous)
    or ``[0, width - 1]`` (inclusive), likewise y. Swapped corners stay swapped (normalise
    them first if needed); NaN stays NaN. Returns an array shaped like ``boxes``.

    Book chapter: "Rewards and spatial consistency".
    """
    plus = _check_convention(convention)
    b = as_boxes(boxes)
    s = _as_sizes(image_size)
    w, h = s[..., 0] - plus, s[..., 1] - plus
    out = np.empty(np.broadcast_shapes(b.shape, s.shape[:-1] + (4,)), dtype=np.float64)
    out[..., 0] = np.clip(b[..., 0], 0, w)
    out[..., 1] = np.clip(b[..., 1], 0, h)
    out[..., 2] = np.clip(b[..., 2], 0, w)
    out[..., 3] = np.clip(b[..., 3], 0, h)
    return out


def normalize_corners(boxes):
    """Each box with its corners put in order: ``[min(x1,x2), min(y1,y2), max(x1,x2),
    max(y1,y2)]``. Book chapter: "Rewards and spatial consistency"."""
    b = as_boxes(boxes)
    return np.stack(
        [
            np.minimum(b[..., 0], b[..., 2]),
            np.minimum(b[..., 1], b[..., 3]),
            np.maximum(b[..., 0], b[..., 2]),
            np.maximum(b[..., 1], b[..., 3]),
        ],
        axis=-1,
    )


# ----------------------------------------------------------------------------- model pixels


def smart_resize(
    height: int,
    width: int,
    factor: int = QWEN_PATCH_FACTOR,
    min_pixels: int = QWEN2VL_MIN_PIXELS,
    max_pixels: int = QWEN2VL_MAX_PIXELS,
) -> tuple[int, int]:
    """The ``(height, width)`` the Qwen2-VL / Qwen2.5-VL image processor resizes an image to.

    The rule of transformers' ``qwen2_vl`` image processors (``smart_resize``), re-implemented
    so that coordinates can be converted without loading transformers:

    1. round each side to the nearest multiple of ``factor`` (Python's ``round``, so a tie
       goes to the even multiple: 70 px → 56, not 84);
    2. if that has more than ``max_pixels`` pixels, scale both sides by
       ``β = sqrt(h·w / max_pixels)`` and *floor* each to a multiple of ``factor`` (at least
       ``factor``);
    3. else if fewer than ``min_pixels``, scale by ``β = sqrt(min_pixels / (h·w))`` and
       *ceil* each to a multiple of ``factor``.

    Defaults are the processor class's (``min_pixels = 3136``, ``max_pixels = 1003520``);
    Qwen2.5-VL checkpoints ship ``max_pixels = 12845056`` (:data:`QWEN25VL_MAX_PIXELS`).
    An aspect ratio above 200, or a non-positive side, is a ValueError (as in transformers).
    Note the argument order (height, width), as in transformers; see :func:`model_size` for
    a ``(width, height)`` front end. Book chapter: "Rewards and spatial consistency".
    """
    for name, v in (("height", height), ("width", width), ("factor", factor)):
        if not isinstance(v, (int, np.integer)) or v <= 0:
            raise ValueError(f"smart_resize: {name} must be a positive integer; got {v!r}")
    if not (0 < min_pixels <= max_pixels):
        raise ValueError(
            f"smart_resize: expected 0 < min_pixels <= max_pixels; got {min_pixels}, {max_pixels}"
        )
    height, width, factor = int(height), int(width), int(factor)
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise ValueError(
            f"smart_resize: absolute aspect ratio must be at most {MAX_ASPECT_RATIO}; "
            f"got {max(height, width) / min(height, width):.1f} for {width}x{height}"
        )
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def model_size(
    orig_size: Sequence[int],
    *,
    min_pixels: int = QWEN2VL_MIN_PIXELS,
    max_pixels: int = QWEN2VL_MAX_PIXELS,
    factor: int = QWEN_PATCH_FACTOR,
) -> tuple[int, int]:
    """The model-input size ``(width, height)`` of an original image ``(width, height)``:
    :func:`smart_resize` with the project's ``(w, h)`` order. Book chapter:
    "Rewards and spatial consistency"."""
    try:
        w, h = (int(v) for v in orig_size)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"orig_size: expected (width, height) integers; got {orig_size!r}") from exc
    h_bar, w_bar = smart_resize(h, w, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels)
    return w_bar, h_bar


def _rescale(bbox, from_size, to_size) -> np.ndarray:
    b = as_boxes(bbox, "bbox")
    src = _as_sizes(from_size, "from size")
    dst = _as_sizes(to_size, "to size")
    sx = dst[..., 0] / src[..., 0]
    sy = dst[..., 1] / src[..., 1]
    scale = np.stack([sx, sy, sx, sy], axis=-1)
    return b * scale


def to_model_pixels(bbox, orig_size, model_size):
    """``bbox`` from original-image pixels to model-input pixels: x scaled by
    ``model_w / orig_w``, y by ``model_h / orig_h`` (continuous convention, no rounding).

    ``orig_size`` and ``model_size`` are ``(width, height)``, or one per box ``(N, 2)``; get
    the model size from :func:`model_size`. Qwen2.5-VL reads and writes boxes in model-input
    pixels (DESIGN, "Coordinates"); prompts and SFT targets use them.
    Book chapter: "Rewards and spatial consistency".
    """
    return _rescale(bbox, orig_size, model_size)


def to_original_pixels(bbox_model, orig_size, model_size):
    """The inverse of :func:`to_model_pixels`: a box in model-input pixels back to the
    original image's pixels, where every metric and export is computed.

    Book chapter: "Rewards and spatial consistency".
    """
    return _rescale(bbox_model, model_size, orig_size)
