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
itself included: it covers no area, so it cannot match a target (our choice; the
benchmarks' code does not document this case). In the inclusive convention ``x1 == x2`` is
a one-pixel-wide box and behaves normally. A NaN coordinate gives NaN (never a warning);
infinite coordinates are computed arithmetically. Callers that meet unparsable answers
mask them with :func:`finite_rows` (see :mod:`rsground_lib.metrics` and
:mod:`rsground_lib.rewards`).

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
    (Plumbing; no formula of the paper.)
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


MAX_ABS_COORD = 1e6
"""The largest coordinate magnitude, in pixels, that a box may have: a parsed answer beyond it
is garbage (unparsable), and scoring treats a predicted box beyond it the same way — so that
areas never overflow (a box of 1e308 would make IoU NaN)."""

CHUNK_ROWS = 8192
"""Rows per chunk of the pairwise kernels: temporaries of this size stay in the CPU cache,
which makes a million-row IoU about twice as fast as whole-array numpy (see the benchmark
``rsground_lib.bench.scoring``)."""


def _pairwise(kernel, pred, target, plus: int, n_out: int = 1) -> tuple[np.ndarray, ...]:
    """Run ``kernel(a, b, plus) -> tuple of n_out 1-D arrays`` on the broadcast rows of
    ``pred`` and ``target`` in chunks of :data:`CHUNK_ROWS`; results get the broadcast
    leading shape."""
    a, b = _pair(pred, target)
    lead = a.shape[:-1]
    m = math.prod(lead)
    a2, b2 = a.reshape(m, 4), b.reshape(m, 4)
    with np.errstate(invalid="ignore", over="ignore"):
        if m <= CHUNK_ROWS:
            outs = kernel(a2, b2, plus)
        else:
            outs = tuple(np.empty(m) for _ in range(n_out))
            for s in range(0, m, CHUNK_ROWS):
                for o, r in zip(
                    outs, kernel(a2[s : s + CHUNK_ROWS], b2[s : s + CHUNK_ROWS], plus), strict=True
                ):
                    o[s : s + CHUNK_ROWS] = r
    return tuple(o.reshape(lead) for o in outs)


_TINY = np.finfo(np.float64).tiny


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / max(den, tiny)``: for the ratios here (intersection/union, (C−U)/C, ρ²/c²)
    ``den == 0`` comes with ``num == 0`` for well-formed boxes, so the result is 0.0 there
    and nothing divides by zero; NaN stays NaN. (For swapped-corner boxes ρ²/c² may blow up;
    the caller clips it.)"""
    out = np.maximum(den, _TINY)
    np.divide(num, out, out=out)
    return out


def _side(hi: np.ndarray, lo: np.ndarray, plus: int) -> np.ndarray:
    """``max(hi - lo (+1), 0)`` as a new array (NaN stays NaN)."""
    w = np.subtract(hi, lo)
    if plus:
        w += plus
    return np.maximum(w, 0.0, out=w)


def _axis(a_lo, a_hi, b_lo, b_hi, plus: int, enclosing: bool):
    """Along one axis: the overlap, both extents and (optionally) the enclosing extent
    ``max(a_hi, b_hi) − min(a_lo, b_lo)``, each ``(+1)`` and clipped at 0."""
    inter = _side(np.minimum(a_hi, b_hi), np.maximum(a_lo, b_lo), plus)
    encl = None
    if enclosing:
        encl = _side(np.maximum(a_hi, b_hi), np.minimum(a_lo, b_lo), plus)
    return inter, _side(a_hi, a_lo, plus), _side(b_hi, b_lo, plus), encl


def _geometry(a: np.ndarray, b: np.ndarray, plus: int, enclosing: bool):
    """``(intersection, union, enclosing width, enclosing height)`` of rows ``(m, 4)``."""
    iw, aw, bw, cw = _axis(a[:, 0], a[:, 2], b[:, 0], b[:, 2], plus, enclosing)
    ih, ah, bh, ch = _axis(a[:, 1], a[:, 3], b[:, 1], b[:, 3], plus, enclosing)
    iw *= ih
    aw *= ah
    bw *= bh
    aw += bw
    aw -= iw
    return iw, aw, cw, ch


def _k_inter_union(a: np.ndarray, b: np.ndarray, plus: int) -> tuple[np.ndarray, np.ndarray]:
    inter, union, _, _ = _geometry(a, b, plus, enclosing=False)
    return inter, union


def _k_iou(a: np.ndarray, b: np.ndarray, plus: int) -> tuple[np.ndarray]:
    inter, union, _, _ = _geometry(a, b, plus, enclosing=False)
    r = _ratio(inter, union)
    return (np.clip(r, 0.0, 1.0, out=r),)


def _k_giou(a: np.ndarray, b: np.ndarray, plus: int) -> tuple[np.ndarray]:
    inter, union, cw, ch = _geometry(a, b, plus, enclosing=True)
    r = _ratio(inter, union)
    np.clip(r, 0.0, 1.0, out=r)
    cw *= ch
    union -= cw
    np.negative(union, out=union)
    penalty = _ratio(union, cw)
    r -= np.clip(penalty, 0.0, 1.0, out=penalty)
    return (r,)


def _center_d2_times4(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(2·Δcx)² + (2·Δcy)²`` — four times the squared centre distance."""
    dx = a[:, 0] + a[:, 2]
    dx -= b[:, 0]
    dx -= b[:, 2]
    dy = a[:, 1] + a[:, 3]
    dy -= b[:, 1]
    dy -= b[:, 3]
    dx *= dx
    dy *= dy
    dx += dy
    return dx


def _k_diou(a: np.ndarray, b: np.ndarray, plus: int) -> tuple[np.ndarray]:
    inter, union, cw, ch = _geometry(a, b, plus, enclosing=True)
    r = _ratio(inter, union)
    np.clip(r, 0.0, 1.0, out=r)
    cw *= cw
    ch *= ch
    cw += ch
    cw *= 4.0
    penalty = _ratio(_center_d2_times4(a, b), cw)
    r -= np.clip(penalty, 0.0, 1.0, out=penalty)
    return (r,)


def _k_center_distance(a: np.ndarray, b: np.ndarray, plus: int) -> tuple[np.ndarray]:
    d = _center_d2_times4(a, b)
    np.sqrt(d, out=d)
    d *= 0.5
    return (d,)


def _k_enclosing_diagonal(a: np.ndarray, b: np.ndarray, plus: int) -> tuple[np.ndarray]:
    cw = _side(np.maximum(a[:, 2], b[:, 2]), np.minimum(a[:, 0], b[:, 0]), plus)
    ch = _side(np.maximum(a[:, 3], b[:, 3]), np.minimum(a[:, 1], b[:, 1]), plus)
    return (np.hypot(cw, ch),)


# ----------------------------------------------------------------------------- measures


def area(boxes, convention: str = "continuous"):
    """Area of each box: ``(x2 - x1) * (y2 - y1)`` (continuous) or with ``+1`` on both sides
    (inclusive); a box with ``x2 < x1`` or ``y2 < y1`` has area 0.

    Standard definition (RSVG-pytorch / VRSBench evaluation code).
    """
    plus = _check_convention(convention)
    b = as_boxes(boxes)
    flat = b.reshape(-1, 4)
    with np.errstate(invalid="ignore", over="ignore"):
        w = _side(flat[:, 2], flat[:, 0], plus)
        w *= _side(flat[:, 3], flat[:, 1], plus)
    return _out(w.reshape(b.shape[:-1]))


def intersection_union(pred, target, convention: str = "continuous"):
    """``(intersection, union)`` areas of each pair — the two sums of cumIoU.

    Standard definition; see :func:`iou` for shapes and conventions.
    """
    plus = _check_convention(convention)
    inter, union = _pairwise(_k_inter_union, pred, target, plus, n_out=2)
    return _out(inter), _out(union)


def iou(pred, target, convention: str = "continuous"):
    """Intersection over union of each pair of boxes, in [0, 1].

    ``pred`` and ``target`` are ``(4,)``, ``(N, 4)`` or broadcastable ``(..., 4)``; the result
    has the broadcast leading shape, or is a ``float`` for two single boxes. ``convention``
    is ``"continuous"`` (DIOR-RSVG, OPT-RSVG, RSVG-HR) or ``"inclusive"`` (+1 on widths and
    heights, VRSBench). A zero union gives 0.0 (see the module notes on degenerate boxes).
    This is the accuracy measure of every RSVG benchmark and the paper's IoU reward.
    """
    plus = _check_convention(convention)
    return _out(_pairwise(_k_iou, pred, target, plus)[0])


def centers(boxes):
    """Centre ``(cx, cy)`` of each box, shape ``(..., 2)``; the same in both conventions.
    Standard definition; the centres feed DIoU's ``ρ`` and the consistency score.
    """
    b = as_boxes(boxes)
    return np.stack([(b[..., 0] + b[..., 2]) / 2.0, (b[..., 1] + b[..., 3]) / 2.0], axis=-1)


def center_distance(pred, target):
    """Euclidean distance ``ρ`` between the centres of each pair of boxes, in pixels.

    The same in both conventions (the +1 shifts both centres alike). DIoU's ``ρ`` (Zheng et
    al., 2020); used by the centre-distance rewards.
    """
    return _out(_pairwise(_k_center_distance, pred, target, 0)[0])


def enclosing_diagonal(pred, target, convention: str = "continuous"):
    """Diagonal ``c`` of the smallest box enclosing each pair (with ``+1`` on its sides in the
    inclusive convention) — the normaliser of DIoU (Zheng et al., 2020).
    """
    plus = _check_convention(convention)
    return _out(_pairwise(_k_enclosing_diagonal, pred, target, plus)[0])


def giou(pred, target, convention: str = "continuous"):
    """Generalised IoU (Rezatofighi et al., 2019): ``IoU − (C − U) / C``, in [−1, 1].

    ``C`` is the area of the smallest enclosing box and ``U`` the union; ``C == 0`` (two
    coinciding zero-area boxes) gives the penalty 0. Shapes as :func:`iou`. Not a reward of
    the registry; kept as a box measure (the design page says why DIoU is the positional
    reward).
    """
    plus = _check_convention(convention)
    return _out(_pairwise(_k_giou, pred, target, plus)[0])


def diou(pred, target, convention: str = "continuous"):
    """Distance IoU (Zheng et al., 2020): ``IoU − ρ² / c²``, in [−1, 1].

    ``ρ`` is the centre distance and ``c`` the enclosing-box diagonal; ``c == 0`` (two
    coinciding points) gives the penalty 0. Unlike IoU it keeps decreasing as a box that
    misses moves further away, which is why the positional reward is built on it (our
    reading of the paper).
    """
    plus = _check_convention(convention)
    return _out(_pairwise(_k_diou, pred, target, plus)[0])


# ----------------------------------------------------------------------------- validity


def as_size(value, name: str = "image_size", *, max_side: int | None = None) -> tuple[int, int]:
    """An image size ``(width, height)`` as two ints: each a positive whole number of pixels
    (an int, or a float or numpy number with no fraction — 224.9 is never truncated), at most
    ``max_side`` when given; a bool, a fraction, a non-finite or non-positive side, or
    anything but a pair is a ValueError naming ``name``. The one check of an image size in
    whole pixels (readers, scene generators, the model-input size)."""
    expected = f"{name}: expected (width, height), two positive whole numbers of pixels"
    if max_side is not None:
        expected += f" at most {max_side:,}"
    try:
        sides = list(value)
    except TypeError:
        raise ValueError(f"{expected}; got {value!r}") from None
    ok = len(sides) == 2 and all(
        isinstance(v, (int, float, np.number))
        and not isinstance(v, (bool, np.bool_))
        and math.isfinite(float(v))
        and float(v).is_integer()
        and 0 < v
        and (max_side is None or v <= max_side)
        for v in sides
    )
    if not ok:
        raise ValueError(f"{expected}; got {value!r}")
    return int(sides[0]), int(sides[1])


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


def finite_rows(boxes) -> np.ndarray:
    """Boolean array ``(...)``: True where all four coordinates of a box are finite.

    The mask every caller uses to tell parsed boxes from NaN (unparsable) rows (design page,
    "Coordinates": an unparsable answer scores 0); a fast path reads the four finiteness
    bytes of a row as one 32-bit word.
    """
    b = as_boxes(boxes)
    f = np.isfinite(b)
    if f.flags.c_contiguous and f.ndim >= 1:
        return f.view(np.uint32)[..., 0] == 0x01010101
    return f.all(axis=-1)


def is_finite(boxes):
    """True for each box whose four coordinates are finite (a ``bool`` for one box).
    A data check (the record's ``bbox``; design page, "The record").
    """
    return _out_bool(finite_rows(boxes))


def is_ordered(boxes):
    """True for each finite box with ``x2 >= x1`` and ``y2 >= y1`` (corners not swapped).
    A data check (design page, "The record").
    """
    b = as_boxes(boxes)
    ok = finite_rows(b) & (b[..., 2] >= b[..., 0]) & (b[..., 3] >= b[..., 1])
    return _out_bool(ok)


def is_inside(boxes, image_size, convention: str = "continuous"):
    """True for each ordered box lying inside an image of ``image_size = (width, height)``:
    ``0 <= x1`` and ``x2 <= width`` (continuous) or ``x2 <= width - 1`` (inclusive), same for
    y. ``image_size`` may be ``(2,)`` or one size per box ``(N, 2)``. The pixel convention
    decides the last valid coordinate (design page, "Coordinates").
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
    The data check of the benchmark readers (design page, "The record").
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
    them first if needed); NaN stays NaN. Returns an array shaped like ``boxes``. Standard
    clipping (design page, "Coordinates").
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
    max(y1,y2)]`` — what the answer parser does to swapped corners (our choice)."""
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
    a ``(width, height)`` front end.
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
    :func:`smart_resize` with the project's ``(w, h)`` order — the frame of ``bbox_model``
    (design page, "Coordinates"; transformers' Qwen2-VL processor rule)."""
    w, h = as_size(orig_size, "orig_size")
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
    pixels (design page, "Coordinates"); prompts and SFT targets use them.
    """
    return _rescale(bbox, orig_size, model_size)


def to_original_pixels(bbox_model, orig_size, model_size):
    """The inverse of :func:`to_model_pixels`: a box in model-input pixels back to the
    original image's pixels, where every metric and export is computed (design page,
    "Coordinates").
    """
    return _rescale(bbox_model, model_size, orig_size)


def quantize_box(bbox_model: Sequence[float], step: int, size: Sequence[int]) -> list[int]:
    """``bbox_model`` rounded to multiples of ``step`` model pixels, clipped to ``[0, W] × [0,
    H]``, with at least one step of width and height: the coordinate grid of the tiny model's
    targets (every multiple of 4 in 0–64 is one token). ``step=1`` is plain rounding. Our
    design."""
    w, h = int(size[0]), int(size[1])
    q = [int(round(float(v) / step)) * step for v in bbox_model]
    q[0] = min(max(q[0], 0), w - step)
    q[1] = min(max(q[1], 0), h - step)
    q[2] = min(max(q[2], q[0] + step), w)
    q[3] = min(max(q[3], q[1] + step), h)
    return q
